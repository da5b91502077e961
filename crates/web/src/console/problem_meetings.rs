//! Console page of the PRB-13 monthly problem meetings: `/problems/meetings` lists the meetings, latest month
//! first, with their actions (overdue ones marked, open ones closable in place with a note) and the form to
//! record this month's meeting; refused fields are shown next to the field.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tianshu_core::Permission;
use tianshu_services::problems::meetings::{self, MeetingInput};
use tianshu_services::problems::ActionInput;
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, local, service_error_page};
use super::problems::local_input;
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// Action lines the form offers; more can be recorded through the API.
const LINES: usize = 3;

type Errors = HashMap<String, String>;

struct ActionLine {
    id: i64,
    version: i64,
    text: String,
    owner: String,
    due: String,
    open: bool,
    overdue: bool,
    closed: String,
    closed_by: String,
    note: String,
    error: Option<String>,
}

struct MeetingBlock {
    id: i64,
    month: String,
    held: String,
    attendees: String,
    minutes: String,
    open: i64,
    overdue: i64,
    actions: Vec<ActionLine>,
}

/// One action line of the form as typed, with its errors.
#[derive(Default, Clone)]
struct LineForm {
    text: String,
    owner: String,
    due: String,
    err_text: Option<String>,
    err_owner: Option<String>,
    err_due: Option<String>,
}

/// The meeting form as typed.
#[derive(Default, Clone)]
struct MeetingForm {
    held_at: String,
    attendees: String,
    minutes: String,
    lines: Vec<LineForm>,
}

#[derive(Template)]
#[template(path = "problem_meetings.html")]
struct MeetingsPage {
    l: Layout,
    meetings: Vec<MeetingBlock>,
    manage: bool,
    form: MeetingForm,
    errors: Errors,
}

fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Stale(_) => StatusCode::PRECONDITION_FAILED,
        ServiceError::Conflict { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn message(u: &ConsoleUser, e: &ServiceError) -> String {
    match e {
        ServiceError::Stale(_) => u.t.t("conflict"),
        other => other.localized(u.t.lang()),
    }
}

async fn page(
    st: &AppState,
    u: &ConsoleUser,
    mut form: MeetingForm,
    errors: Errors,
    status: StatusCode,
) -> Response {
    let list = match meetings::list(&st.platform, &u.p, 24).await {
        Ok(l) => l,
        Err(e) => return service_error_page(u, st, e),
    };
    form.lines.resize(LINES, LineForm::default());
    let blocks = list
        .into_iter()
        .map(|m| MeetingBlock {
            id: m.id,
            month: m.month,
            held: local(st, m.held_at),
            attendees: m.attendees.join("、"),
            minutes: m.minutes,
            open: m.open_actions,
            overdue: m.overdue_actions,
            actions: m
                .actions
                .into_iter()
                .map(|a| ActionLine {
                    error: errors.get(&format!("note-{}", a.id)).cloned(),
                    id: a.id,
                    version: a.version,
                    text: a.text,
                    owner: a.owner,
                    due: local(st, a.due_at),
                    open: a.state == "open",
                    overdue: a.overdue,
                    closed: a.closed_at.map(|t| local(st, t)).unwrap_or_default(),
                    closed_by: a.closed_by.unwrap_or_default(),
                    note: a.note.unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    render(
        status,
        &MeetingsPage {
            l: u.layout(st, "problems", "prb-meeting-title"),
            meetings: blocks,
            manage: u.p.can(Permission::ProblemManage),
            form,
            errors,
        },
    )
}

/// The monthly meetings with the record form.
pub async fn list(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if !u.p.can(Permission::ProblemRead) {
        return super::pages::forbidden(&u, &st, Permission::ProblemRead);
    }
    page(
        &st,
        &u,
        MeetingForm::default(),
        Errors::new(),
        StatusCode::OK,
    )
    .await
}

/// Records a meeting from the form; a refused field is shown next to it and nothing is saved.
pub async fn create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let mut form = MeetingForm {
        held_at: field(&pairs, "held_at"),
        attendees: field(&pairs, "attendees"),
        minutes: field(&pairs, "minutes"),
        lines: (0..LINES)
            .map(|i| LineForm {
                text: field(&pairs, &format!("action_text_{i}")),
                owner: field(&pairs, &format!("action_owner_{i}")),
                due: field(&pairs, &format!("action_due_{i}")),
                ..LineForm::default()
            })
            .collect(),
    };
    // Blank lines are skipped; `used[k]` is the form line of the service's `actions[k]`.
    let used: Vec<usize> = (0..LINES)
        .filter(|&i| {
            let l = &form.lines[i];
            !(l.text.trim().is_empty() && l.owner.trim().is_empty() && l.due.trim().is_empty())
        })
        .collect();
    let input = MeetingInput {
        held_at: local_input(&st, &form.held_at),
        // One name per line or separated by commas (either width), as people type them.
        attendees: form
            .attendees
            .split(['\n', ',', '，', '、'])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        minutes: form.minutes.clone(),
        actions: used
            .iter()
            .map(|&i| ActionInput {
                text: form.lines[i].text.clone(),
                owner: form.lines[i].owner.clone(),
                due_at: local_input(&st, &form.lines[i].due),
            })
            .collect(),
    };
    match meetings::record(&st.platform, &u.p, input).await {
        Ok(_) => Redirect::to("/problems/meetings").into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e) => {
            let f = e.field().unwrap_or("").to_string();
            let m = message(&u, &e);
            let mut errors = Errors::new();
            // `actions[k].text` → the text input of form line used[k].
            let line = f
                .strip_prefix("actions[")
                .and_then(|r| r.split_once("]."))
                .and_then(|(k, part)| Some((used.get(k.parse::<usize>().ok()?)?, part)));
            match line {
                Some((&i, "text")) => form.lines[i].err_text = Some(m),
                Some((&i, "owner")) => form.lines[i].err_owner = Some(m),
                Some((&i, _)) => form.lines[i].err_due = Some(m),
                None => {
                    let key = match f.as_str() {
                        "held_at" | "attendees" | "minutes" => f,
                        _ => "form".to_string(),
                    };
                    errors.insert(key, m);
                }
            }
            page(&st, &u, form, errors, status_of(&e)).await
        }
    }
}

/// Closes an action in place with a note; a refusal is shown next to that action.
pub async fn close(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((id, action_id)): Path<(i64, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let version = field(&pairs, "version").parse().unwrap_or(-1);
    let note = field(&pairs, "note");
    match meetings::close_action(&st.platform, &u.p, id, action_id, version, &note).await {
        Ok(_) => Redirect::to(&format!("/problems/meetings#meeting-{id}")).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e @ ServiceError::NotFound(_)) => service_error_page(&u, &st, e),
        Err(e) => {
            let mut errors = Errors::new();
            errors.insert(format!("note-{action_id}"), message(&u, &e));
            page(&st, &u, MeetingForm::default(), errors, status_of(&e)).await
        }
    }
}
