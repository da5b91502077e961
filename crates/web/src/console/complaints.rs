//! Complaints on the customer page (issue 8, KPI-08): the customer's complaints with their deadline and whether
//! they were closed in time, a form to record one (the deadline is set by customer service: the seed gives no
//! complaint-handling limit) and a form to close each open one. Refusals are shown next to the field they name.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use tianshu_core::Permission;
use tianshu_services::complaints::{self, CloseComplaintInput, ComplaintView, NewComplaintInput};
use tianshu_services::ServiceError;

use super::customers::{detail_page, local_input};
use super::pages::{field, form_pairs, local, service_error_page};
use super::refusal::{place, triage, Answer, FormFields, Refusal};
use super::{render, ConsoleUser};
use crate::state::AppState;

/// Refusals next to their field, or the values a refused form held.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) received_at: String,
    pub(super) due_at: String,
    pub(super) cs_level: String,
    pub(super) incident: String,
    pub(super) summary: String,
    pub(super) closed_at: String,
    pub(super) resolution: String,
    /// Refusals naming no field of the form (closed already, stale version), shown by the button.
    pub(super) submit: String,
}

const NEW_FIELDS: &[&str] = &["received_at", "due_at", "cs_level", "incident", "summary"];
const CLOSE_FIELDS: &[&str] = &["closed_at", "resolution"];

impl FormFields for Fields {
    fn set(&mut self, name: &str, v: String) -> bool {
        let slot = match name {
            "received_at" => &mut self.received_at,
            "due_at" => &mut self.due_at,
            "cs_level" => &mut self.cs_level,
            "incident" => &mut self.incident,
            "summary" => &mut self.summary,
            "closed_at" => &mut self.closed_at,
            "resolution" => &mut self.resolution,
            _ => return false,
        };
        *slot = v;
        true
    }

    fn set_submit(&mut self, msg: String) {
        self.submit = msg;
    }
}

/// One complaint row with its close form.
pub(super) struct Row {
    pub(super) id: i64,
    pub(super) version: i64,
    pub(super) received: String,
    pub(super) due: String,
    pub(super) cs_level: String,
    pub(super) incident: String,
    pub(super) incident_href: String,
    pub(super) summary: String,
    pub(super) open: bool,
    pub(super) overdue_now: bool,
    /// `on_time`, `late` or empty while open.
    pub(super) outcome: String,
    pub(super) closed: String,
    pub(super) closed_by: String,
    pub(super) resolution: String,
    pub(super) err: Fields,
    pub(super) kept: Fields,
}

/// The complaints block of the customer page.
#[derive(Default)]
pub(super) struct Panel {
    pub(super) rows: Vec<Row>,
    /// May record and close complaints (`org.manage`).
    pub(super) manage: bool,
    pub(super) new_err: Fields,
    pub(super) new_kept: Fields,
    /// Closed in time / closed, over all this customer's complaints (KPI-08 is counted per month on the KPI page).
    pub(super) on_time: usize,
    pub(super) closed: usize,
    /// SEV-08 levels offered, with the one a refused form held.
    pub(super) levels: Vec<(String, bool)>,
}

/// The refusal of form `id` (0: the new-complaint form, else the complaint's) at its field, and the values it held.
fn refusal_fields(err: Option<&Refusal>, form: &[(String, String)], id: i64) -> (Fields, Fields) {
    let Some((_, name, msg)) = err.filter(|e| e.0 == id) else {
        return Default::default();
    };
    let fields = if id == 0 { NEW_FIELDS } else { CLOSE_FIELDS };
    place(fields, name, msg, form)
}

fn row(st: &AppState, v: &ComplaintView, err: Option<&Refusal>, form: &[(String, String)]) -> Row {
    let c = &v.complaint;
    let (err, kept) = refusal_fields(err, form, c.id);
    Row {
        id: c.id,
        version: c.version,
        received: local(st, c.received_at),
        due: local(st, c.due_at),
        cs_level: v.cs_level.clone().unwrap_or_default(),
        incident: c.incident_number.clone().unwrap_or_default(),
        incident_href: c
            .incident_id
            .map(|i| format!("/incidents/{i}"))
            .unwrap_or_default(),
        summary: c.summary.clone(),
        open: c.state == "open",
        overdue_now: v.overdue_now,
        outcome: match v.on_time {
            Some(true) => "on_time".into(),
            Some(false) => "late".into(),
            None => String::new(),
        },
        closed: c.closed_at.map(|t| local(st, t)).unwrap_or_default(),
        closed_by: c.closed_by.clone().unwrap_or_default(),
        resolution: c.resolution.clone(),
        err,
        kept,
    }
}

/// The complaints block for customer `key`, with a refusal placed at its form.
pub(super) async fn panel(
    st: &AppState,
    u: &ConsoleUser,
    key: &str,
    err: Option<&Refusal>,
    form: &[(String, String)],
) -> Result<Panel, ServiceError> {
    let list = complaints::list(&st.platform, &u.p, key).await?;
    let (new_err, new_kept) = refusal_fields(err, form, 0);
    Ok(Panel {
        on_time: list.iter().filter(|v| v.on_time == Some(true)).count(),
        closed: list.iter().filter(|v| v.on_time.is_some()).count(),
        rows: list.iter().map(|v| row(st, v, err, form)).collect(),
        manage: u.p.can(Permission::OrgManage),
        levels: (1..=tianshu_core::kpi::complaint::CS_LEVEL_MAX)
            .map(|n| {
                let lv = format!("CS{n}");
                let kept = new_kept.cs_level.trim().eq_ignore_ascii_case(&lv);
                (lv, kept)
            })
            .collect(),
        new_err,
        new_kept,
    })
}

async fn refused(
    st: &AppState,
    u: &ConsoleUser,
    key: &str,
    form_id: i64,
    e: ServiceError,
    pairs: Vec<(String, String)>,
) -> Response {
    let (status, refusal) = match triage(u, st, form_id, e) {
        Answer::Form(status, refusal) => (status, refusal),
        Answer::Page(page) => return page,
    };
    let mut page = match detail_page(st, u, key, None, Vec::new()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match panel(st, u, key, Some(&refusal), &pairs).await {
        Ok(p) => page.complaints = p,
        Err(e) => return service_error_page(u, st, e),
    }
    render(status, &page)
}

fn optional_time(st: &AppState, s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| local_input(st, s))
}

/// Records a complaint from the customer page.
pub async fn create(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let input = NewComplaintInput {
        customer: key.clone(),
        received_at: optional_time(&st, &field(&pairs, "received_at")),
        due_at: local_input(&st, &field(&pairs, "due_at")),
        cs_level: Some(field(&pairs, "cs_level")),
        incident: Some(field(&pairs, "incident")),
        summary: field(&pairs, "summary"),
    };
    match complaints::create(&st.platform, &u.p, input).await {
        Ok(v) => {
            Redirect::to(&format!("/customers/{key}#complaint-{}", v.complaint.id)).into_response()
        }
        Err(e) => refused(&st, &u, &key, 0, e, pairs).await,
    }
}

/// Closes a complaint from its row's form.
pub async fn close(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((key, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    // The form posts under the customer's path: a complaint of another customer is not found here.
    match complaints::get(&st.platform, &u.p, id).await {
        Ok(v) if v.complaint.customer_key == key => {}
        Ok(_) => {
            return service_error_page(
                &u,
                &st,
                ServiceError::NotFound(format!("complaint {id} of {key}")),
            )
        }
        Err(e) => return service_error_page(&u, &st, e),
    }
    let input = CloseComplaintInput {
        version: field(&pairs, "version").parse().unwrap_or(-1),
        closed_at: optional_time(&st, &field(&pairs, "closed_at")),
        resolution: field(&pairs, "resolution"),
    };
    match complaints::close(&st.platform, &u.p, id, input).await {
        Ok(_) => Redirect::to(&format!("/customers/{key}#complaint-{id}")).into_response(),
        Err(e) => refused(&st, &u, &key, id, e, pairs).await,
    }
}
