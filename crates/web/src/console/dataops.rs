//! Console pages for back-end data operations (issue 7; DATA-*): the list, and one request with its steps, its
//! DATA-13 approval chain, the chain actions the user may take, and every execution with its before-image.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tianshu_core::Permission;
use tianshu_services::dataops::{self, RequestView};
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

struct Row {
    id: i64,
    kind: String,
    state: String,
    title: String,
    submitter: String,
    rows: i64,
    flags: String,
    created: String,
}

#[derive(Template)]
#[template(path = "dataops.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
}

fn label(u: &ConsoleUser, prefix: &str, v: &str) -> String {
    let key = format!("{prefix}-{v}");
    let t = u.t.t(&key);
    if t == key {
        v.to_string()
    } else {
        t
    }
}

fn can_read(u: &ConsoleUser) -> bool {
    [
        Permission::DataopRequest,
        Permission::DataopApprove,
        Permission::DataopExecute,
        Permission::ReportRead,
    ]
    .iter()
    .any(|p| u.p.can(*p))
}

/// The newest data operations.
pub async fn list(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if !can_read(&u) {
        return super::pages::forbidden(&u, &st, Permission::DataopRequest);
    }
    let items = match dataops::list(&st.platform, &u.p, Default::default(), None, 100).await {
        Ok(i) => i,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let rows = items
        .iter()
        .map(|r| Row {
            id: r.id,
            kind: label(&u, "dataop-kind", &r.kind),
            state: label(&u, "dataop-state", &r.state),
            title: r.title.clone(),
            submitter: r.submitter.clone(),
            rows: r.declared_rows,
            flags: [
                (r.batch, u.t.t("dataop-batch")),
                (r.important, u.t.t("dataop-important")),
                (!r.sensitive_classes.is_empty(), u.t.t("dataop-sensitive")),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" · "),
            created: local(&st, r.created_at),
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            l: u.layout(&st, "dataops", "dataop-title-list"),
            rows,
        },
    )
}

struct Step {
    sql: String,
    expected: String,
}

struct Event {
    at: String,
    kind: String,
    actor: String,
    note: String,
}

struct BeforeTable {
    step: String,
    table: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

struct Execution {
    id: i64,
    at: String,
    actor: String,
    outcome: String,
    outcome_key: String,
    message: String,
    affected: String,
    before: Vec<BeforeTable>,
    result_rows: String,
}

#[derive(Template)]
#[template(path = "dataop.html")]
struct DetailPage {
    l: Layout,
    id: i64,
    title: String,
    kind: String,
    state: String,
    state_key: String,
    target: String,
    ticket: String,
    impact: String,
    submitter: String,
    processor: String,
    reviewer: String,
    classification: String,
    steps: Vec<Step>,
    events: Vec<Event>,
    executions: Vec<Execution>,
    actions: Vec<(String, String)>,
    can_execute: bool,
    version: i64,
    error: Option<String>,
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "NULL".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn before_tables(v: &serde_json::Value) -> Vec<BeforeTable> {
    let mut out = Vec::new();
    for s in v.as_array().into_iter().flatten() {
        let rows = s["rows"].as_array().cloned().unwrap_or_default();
        let columns: Vec<String> = rows
            .first()
            .and_then(|r| r.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        out.push(BeforeTable {
            step: cell(&s["step"]),
            table: cell(&s["table"]),
            rows: rows
                .iter()
                .map(|r| columns.iter().map(|c| cell(&r[c])).collect())
                .collect(),
            columns,
        });
    }
    out
}

fn page(st: &AppState, u: &ConsoleUser, v: RequestView, error: Option<String>) -> DetailPage {
    let r = &v.request;
    let steps = r
        .steps
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Step {
            sql: cell(&s["sql"]),
            expected: s.get("expected_rows").map(cell).unwrap_or_default(),
        })
        .collect();
    DetailPage {
        l: u.layout(st, "dataops", "dataop-title-detail"),
        id: r.id,
        title: r.title.clone(),
        kind: label(u, "dataop-kind", &r.kind),
        state: label(u, "dataop-state", &r.state),
        state_key: r.state.clone(),
        target: v
            .target
            .as_ref()
            .map(|t| {
                format!(
                    "{} ({} {}:{}/{})",
                    t.name, t.kind, t.host, t.port, t.database_name
                )
            })
            .unwrap_or_default(),
        ticket: format!("{} {}", r.ticket_type, r.ticket_ref),
        impact: if r.impact.is_empty() {
            r.purpose.clone()
        } else {
            r.impact.clone()
        },
        submitter: r.submitter.clone(),
        processor: r.processor.clone(),
        reviewer: r.reviewer.clone(),
        classification: {
            let mut parts = Vec::new();
            for k in ["batch_reasons", "important_reasons"] {
                for x in r.classification[k].as_array().into_iter().flatten() {
                    parts.push(cell(x));
                }
            }
            parts.join("; ")
        },
        steps,
        events: v
            .events
            .iter()
            .map(|e| Event {
                at: local(st, e.at),
                kind: label(u, "dataop-event", &e.kind),
                actor: e.actor.clone(),
                note: e.note.clone(),
            })
            .collect(),
        executions: v
            .executions
            .iter()
            .map(|x| Execution {
                id: x.id,
                at: local(st, x.started_at),
                actor: x.actor.clone(),
                outcome: label(u, "dataop-outcome", &x.outcome),
                outcome_key: x.outcome.clone(),
                message: x.message.clone(),
                affected: x
                    .affected
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        format!(
                            "#{} {}/{}",
                            cell(&a["step"]),
                            cell(&a["affected"]),
                            cell(&a["declared"])
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                before: before_tables(&x.before_image),
                result_rows: x.result_rows.map(|n| n.to_string()).unwrap_or_default(),
            })
            .collect(),
        actions: v
            .allowed
            .iter()
            .filter(|a| a.as_str() != "execute")
            .map(|a| (a.clone(), label(u, "dataop-action", a)))
            .collect(),
        can_execute: v.allowed.iter().any(|a| a == "execute"),
        version: r.version,
        error,
    }
}

/// One data operation.
pub async fn detail(State(st): State<AppState>, u: ConsoleUser, Path(id): Path<i64>) -> Response {
    match dataops::get(&st.platform, &u.p, id).await {
        Ok(v) => render(StatusCode::OK, &page(&st, &u, v, None)),
        Err(e) => service_error_page(&u, &st, e),
    }
}

/// A chain action or the execution, from the page (version-checked).
pub async fn act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let version = field(&pairs, "version").parse().unwrap_or(-1);
    let note = Some(field(&pairs, "note")).filter(|s| !s.trim().is_empty());
    let action = field(&pairs, "action");
    let r = if action == "execute" {
        dataops::execute(&st.platform, &u.p, id, version)
            .await
            .map(|_| ())
    } else {
        dataops::act(&st.platform, &u.p, id, &action, version, note)
            .await
            .map(|_| ())
    };
    match r {
        Ok(()) => Redirect::to(&format!("/data-ops/{id}")).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e @ ServiceError::NotFound(_)) => service_error_page(&u, &st, e),
        Err(e) => {
            let status = match &e {
                ServiceError::Stale(_) => StatusCode::PRECONDITION_FAILED,
                ServiceError::Conflict { .. } | ServiceError::Transition { .. } => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let msg = match &e {
                ServiceError::Stale(_) => u.t.t("conflict"),
                other => other.localized(u.t.lang()),
            };
            match dataops::get(&st.platform, &u.p, id).await {
                Ok(v) => render(status, &page(&st, &u, v, Some(msg))),
                Err(e) => service_error_page(&u, &st, e),
            }
        }
    }
}
