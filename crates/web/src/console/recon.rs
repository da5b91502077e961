//! Console pages for reconciliation (issue 6): `/recon` (the pack's jobs with their latest consistency, today's
//! REC-08 upload state and a trend chart, the run-now form, recent runs and the REC-07 work items) and
//! `/recon/runs/{id}` (counts, per-column bars, the sampled differences with paging, downloads and the work item
//! with its reply / fix / close forms).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::recon::{self, ItemAction, RunNowInput};
use tianshu_services::ServiceError;

use super::charts::{percent_line, stacked_bars, Series};
use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

fn pct(c: Option<f64>) -> String {
    c.map_or("—".into(), |c| format!("{:.3}%", c * 100.0))
}

struct JobRow {
    key: String,
    rule: String,
    name: String,
    mode: String,
    days: String,
    inputs: String,
    consistency: String,
    below_target: bool,
    latest_run: Option<i64>,
    today: String,
    upload_late: bool,
    chart: String,
}

struct RunRow {
    id: i64,
    job: String,
    mode: String,
    status: String,
    status_key: String,
    started: String,
    consistency: String,
    differences: i64,
    by: String,
}

struct ItemRow {
    id: i64,
    run_id: i64,
    job: String,
    state: String,
    state_key: String,
    differences: i64,
    reply_due: String,
    fix_due: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "recon.html")]
struct ReconPage {
    l: Layout,
    jobs: Vec<JobRow>,
    runs: Vec<RunRow>,
    items: Vec<ItemRow>,
    target: String,
    can_run: bool,
    /// Job keys and names for the run-now form.
    job_options: Vec<(String, String)>,
    form_job: String,
    form_left: String,
    form_right: String,
    form_key: String,
    error_field: String,
    error: Option<String>,
}

pub(super) fn job_name(u: &ConsoleUser, zh: &str, en: &str) -> String {
    if u.t.lang() == "en" {
        en.to_string()
    } else {
        zh.to_string()
    }
}

/// A declared side as the jobs table shows it: the file pattern, or `PG:<name>/<table>` / `MariaDB:<name>/(<query>)`
/// for a registered database (the name alone when nothing is registered under it: the run would fail).
fn input_label(u: &ConsoleUser, i: &recon::InputView) -> String {
    if i.kind != "db" {
        return i.path.clone().unwrap_or_default();
    }
    let kind = match i.db_kind.as_deref() {
        Some("postgres") => "PG".to_string(),
        Some("mysql") => "MariaDB".to_string(),
        _ => u.t.t("recon-db-unregistered"),
    };
    let what = match (&i.table, &i.query) {
        (Some(t), _) => t.clone(),
        (None, Some(q)) => {
            let q = q.split_whitespace().collect::<Vec<_>>().join(" ");
            if q.chars().count() > 60 {
                format!("({}…)", q.chars().take(60).collect::<String>())
            } else {
                format!("({q})")
            }
        }
        _ => String::new(),
    };
    format!("{kind}:{}/{what}", i.db.as_deref().unwrap_or(""))
}

fn label(u: &ConsoleUser, prefix: &str, s: &str) -> String {
    let key = format!("{prefix}{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

async fn recon_page(
    st: &AppState,
    u: &ConsoleUser,
    form: (String, String, String, String),
    error: Option<(String, String)>,
) -> Result<ReconPage, Response> {
    let p = &st.platform;
    let jobs = recon::jobs(p, &u.p)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let pol = p.policy.current();
    let target = pol.pack.reconciliation.follow_up.consistency_target_percent;
    let mut rows = Vec::with_capacity(jobs.len());
    for j in &jobs {
        let trend = recon::trend(p, &u.p, &j.key, 14)
            .await
            .map_err(|e| service_error_page(u, st, e))?;
        let labels: Vec<String> = trend
            .points
            .iter()
            .map(|t| {
                t.as_of
                    .clone()
                    .unwrap_or_else(|| local(st, t.finished_at).chars().take(10).collect())
            })
            .collect();
        let values: Vec<Option<f64>> = trend
            .points
            .iter()
            .map(|t| Some(t.consistency * 100.0))
            .collect();
        let chart = if values.is_empty() {
            String::new()
        } else {
            percent_line(
                &format!("trend-{}", j.key),
                &u.t.t("recon-trend"),
                &labels,
                &values,
            )
        };
        rows.push(JobRow {
            key: j.key.clone(),
            rule: j.rule.clone(),
            name: job_name(u, &j.name_zh, &j.name_en),
            mode: label(u, "recon-mode-", &j.mode),
            days: if j.daily {
                u.t.t("recon-daily")
            } else {
                j.days
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            inputs: match (&j.inputs, &j.left_input, &j.right_input) {
                (Some(i), Some(l), Some(r)) => format!(
                    "{} ⇄ {} ({})",
                    input_label(u, l),
                    input_label(u, r),
                    i.key.join(", ")
                ),
                _ => String::new(),
            },
            consistency: pct(j.latest_run.as_ref().and_then(|r| r.consistency)),
            below_target: j.meets_target == Some(false),
            latest_run: j.latest_run.as_ref().map(|r| r.id),
            today: match (&j.today_state, &j.today_upload) {
                // A job reading only databases uploads nothing: it runs at its time.
                _ if j.due_today
                    && j.run_at.is_some()
                    && matches!(j.today_state.as_deref(), None | Some("waiting")) =>
                {
                    u.t.t1("recon-db-at", "at", j.run_at.as_deref().unwrap_or(""))
                }
                (_, Some(up)) => label(u, "recon-upload-", up),
                (Some(s), None) => label(u, "recon-day-", s),
                _ if j.due_today => u.t.t("recon-due-today"),
                _ => String::new(),
            },
            upload_late: matches!(j.today_upload.as_deref(), Some("late" | "missing")),
            chart,
        });
    }
    let runs = recon::runs(p, &u.p, None, None, 20)
        .await
        .map_err(|e| service_error_page(u, st, e))?
        .into_iter()
        .map(|r| RunRow {
            id: r.id,
            job: if r.job_key.is_empty() {
                u.t.t("recon-adhoc")
            } else {
                r.job_key.clone()
            },
            mode: label(u, "recon-mode-", &r.mode),
            status: label(u, "recon-status-", &r.status),
            status_key: r.status.clone(),
            started: local(st, r.started_at),
            consistency: pct(r.consistency),
            differences: r.differences,
            by: r.started_by,
        })
        .collect();
    let items = recon::items(p, &u.p, None, 20)
        .await
        .map_err(|e| service_error_page(u, st, e))?
        .into_iter()
        .map(|v| ItemRow {
            id: v.item.id,
            run_id: v.item.run_id,
            job: v.item.job_key.clone(),
            state: label(u, "recon-item-", &v.item.state),
            state_key: v.item.state.clone(),
            differences: v.item.differences,
            reply_due: local(st, v.item.reply_due),
            fix_due: local(st, v.item.fix_due),
            overdue: (v.reply_overdue && v.item.replied_at.is_none())
                || (v.fix_overdue && v.item.fixed_at.is_none()),
        })
        .collect();
    let (error_field, error) = match error {
        Some((f, m)) => (f, Some(m)),
        None => (String::new(), None),
    };
    Ok(ReconPage {
        l: u.layout(st, "recon", "recon-title"),
        job_options: jobs
            .iter()
            .map(|j| (j.key.clone(), job_name(u, &j.name_zh, &j.name_en)))
            .collect(),
        jobs: rows,
        runs,
        items,
        target: format!("{target}%"),
        can_run: u.p.can(Permission::ReconRun),
        form_job: form.0,
        form_left: form.1,
        form_right: form.2,
        form_key: form.3,
        error_field,
        error,
    })
}

/// `/recon`: jobs, trend, run-now form, recent runs, work items.
pub async fn page(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = u.require(&st, Permission::ReconRead) {
        return r;
    }
    match recon_page(&st, &u, Default::default(), None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// Starts a run from the form; errors are shown next to their field.
pub async fn run_now(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let opt = |k: &str| Some(field(&pairs, k).trim().to_string()).filter(|s| !s.is_empty());
    let key = opt("key").map(|k| {
        k.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    });
    let input = RunNowInput {
        job: opt("job"),
        left: opt("left"),
        right: opt("right"),
        key,
        ..Default::default()
    };
    match recon::run_now(&st.platform, &u.p, input).await {
        Ok(r) => Redirect::to(&format!("/recon/runs/{}", r.id)).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e) => {
            let f = e.field().unwrap_or("").to_string();
            let m = e.localized(u.t.lang());
            let form = (
                field(&pairs, "job"),
                field(&pairs, "left"),
                field(&pairs, "right"),
                field(&pairs, "key"),
            );
            match recon_page(&st, &u, form, Some((f, m))).await {
                Ok(p) => render(StatusCode::UNPROCESSABLE_ENTITY, &p),
                Err(r) => r,
            }
        }
    }
}

/// Paging of the differences.
#[derive(Debug, Deserialize)]
pub struct RunQuery {
    pub kind: Option<String>,
    pub offset: Option<i64>,
}

const PAGE: i64 = 25;

struct DiffRow {
    kind: String,
    key: String,
    column: String,
    left: String,
    right: String,
}

#[derive(Template)]
#[template(path = "recon_run.html")]
struct RunPage {
    l: Layout,
    id: i64,
    job: String,
    mode: String,
    status: String,
    status_key: String,
    error: String,
    trigger: String,
    by: String,
    started: String,
    finished: String,
    as_of: String,
    key: String,
    inputs: Vec<(String, String, i64, String)>,
    counts: Vec<(String, String, String)>,
    consistency: String,
    below_target: bool,
    target: String,
    per_column: Vec<(String, i64)>,
    chart: String,
    kinds: Vec<(String, String)>,
    kind: String,
    diffs: Vec<DiffRow>,
    total: i64,
    prev: Option<i64>,
    next: Option<i64>,
    has_details: bool,
    item: Option<RunItem>,
    can_act: bool,
    act_error: Option<String>,
}

struct RunItem {
    id: i64,
    version: i64,
    state: String,
    state_key: String,
    reply_due: String,
    fix_due: String,
    reply_overdue: bool,
    fix_overdue: bool,
    reply: String,
    replied: String,
    fix_note: String,
    fixed: String,
    closed: String,
}

fn opt_n(v: Option<i64>) -> String {
    v.map_or("—".into(), |n| n.to_string())
}

async fn run_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    q: RunQuery,
    act_error: Option<String>,
) -> Result<RunPage, Response> {
    let p = &st.platform;
    let v = recon::run(p, &u.p, id)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let kind = q.kind.filter(|k| recon::KINDS.contains(&k.as_str()));
    let offset = q.offset.unwrap_or(0).max(0);
    let page = recon::sample(p, &u.p, id, kind.as_deref(), offset, PAGE)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let r = &v.run;
    let pol = p.policy.current();
    let mut per_column: Vec<(String, i64)> = v
        .per_column
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (c.clone(), *n))
        .collect();
    per_column.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let chart = if per_column.is_empty() {
        String::new()
    } else {
        let labels: Vec<String> = per_column.iter().map(|c| c.0.clone()).collect();
        stacked_bars(
            "per-column",
            &u.t.t("recon-per-column"),
            &labels,
            &[Series {
                label: u.t.t("recon-changed"),
                class: "c-changed".into(),
                values: per_column.iter().map(|c| c.1 as f64).collect(),
            }],
        )
    };
    let counts = vec![
        (u.t.t("recon-rows"), opt_n(r.rows_left), opt_n(r.rows_right)),
        (u.t.t("recon-only"), opt_n(r.only_left), opt_n(r.only_right)),
        (
            u.t.t("recon-duplicates"),
            opt_n(r.duplicate_keys_left),
            opt_n(r.duplicate_keys_right),
        ),
        (
            u.t.t("recon-rejected"),
            opt_n(r.rejected_left),
            opt_n(r.rejected_right),
        ),
        (u.t.t("recon-identical"), opt_n(r.identical), String::new()),
        (u.t.t("recon-changed"), opt_n(r.changed), String::new()),
    ];
    let item = v.item.as_ref().map(|i| {
        let now = p.now_us();
        RunItem {
            id: i.id,
            version: i.version,
            state: label(u, "recon-item-", &i.state),
            state_key: i.state.clone(),
            reply_due: local(st, i.reply_due),
            fix_due: local(st, i.fix_due),
            reply_overdue: i.replied_at.map_or(now > i.reply_due, |t| t > i.reply_due),
            fix_overdue: i.fixed_at.map_or(now > i.fix_due, |t| t > i.fix_due),
            reply: i.reply.clone().unwrap_or_default(),
            replied: i
                .replied_at
                .map(|t| {
                    format!(
                        "{} · {}",
                        local(st, t),
                        i.replied_by.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            fix_note: i.fix_note.clone().unwrap_or_default(),
            fixed: i
                .fixed_at
                .map(|t| {
                    format!(
                        "{} · {}",
                        local(st, t),
                        i.fixed_by.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            closed: i
                .closed_at
                .map(|t| {
                    format!(
                        "{} · {}",
                        local(st, t),
                        i.closed_by.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
        }
    });
    let kinds = recon::KINDS
        .iter()
        .map(|k| (k.to_string(), label(u, "recon-kind-", k)))
        .collect();
    Ok(RunPage {
        l: u.layout(st, "recon", "recon-run-title"),
        id,
        job: if r.job_key.is_empty() {
            u.t.t("recon-adhoc")
        } else {
            r.job_key.clone()
        },
        mode: label(u, "recon-mode-", &r.mode),
        status: label(u, "recon-status-", &r.status),
        status_key: r.status.clone(),
        error: r.error.clone().unwrap_or_default(),
        trigger: r.trigger.clone(),
        by: r.started_by.clone(),
        started: local(st, r.started_at),
        finished: r.finished_at.map(|t| local(st, t)).unwrap_or_default(),
        as_of: r.as_of.clone().unwrap_or_default(),
        key: v.key_columns.join(", "),
        inputs: vec![
            (
                u.t.t("recon-left"),
                r.left_path.clone(),
                r.left_size,
                r.left_sha256.clone(),
            ),
            (
                u.t.t("recon-right"),
                r.right_path.clone(),
                r.right_size,
                r.right_sha256.clone(),
            ),
        ],
        counts,
        consistency: pct(r.consistency),
        below_target: v.meets_target == Some(false),
        target: format!(
            "{}%",
            pol.pack.reconciliation.follow_up.consistency_target_percent
        ),
        per_column,
        chart,
        kinds,
        kind: kind.unwrap_or_default(),
        diffs: page
            .items
            .into_iter()
            .map(|d| DiffRow {
                kind: label(u, "recon-kind-", &d.kind),
                key: d.key,
                column: d.column.unwrap_or_default(),
                left: d.left.unwrap_or_else(|| "NULL".into()),
                right: d.right.unwrap_or_else(|| "NULL".into()),
            })
            .collect(),
        total: page.total,
        prev: (offset > 0).then(|| (offset - PAGE).max(0)),
        next: (offset + PAGE < page.total).then_some(offset + PAGE),
        has_details: r.details_path.is_some(),
        item,
        can_act: u.p.can(Permission::ReconRun),
        act_error,
    })
}

/// `/recon/runs/{id}`.
pub async fn run_detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    Query(q): Query<RunQuery>,
) -> Response {
    match run_page(&st, &u, id, q, None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// A move on a work item from the run page.
pub async fn item_act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let version = field(&pairs, "version").parse::<i64>().unwrap_or(-1);
    let text = field(&pairs, "text");
    let action = match field(&pairs, "action").as_str() {
        "reply" => ItemAction::Reply { version, text },
        "fix" => ItemAction::Fix { version, text },
        _ => ItemAction::Close { version },
    };
    let run_id = match st.platform.store.recon_item(id).await {
        Ok(Some(i)) => i.run_id,
        Ok(None) => {
            return service_error_page(&u, &st, ServiceError::NotFound(format!("work item {id}")))
        }
        Err(e) => return service_error_page(&u, &st, e.into()),
    };
    match recon::act(&st.platform, &u.p, id, action).await {
        Ok(_) => Redirect::to(&format!("/recon/runs/{run_id}#item")).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e) => {
            let m = e.localized(u.t.lang());
            let q = RunQuery {
                kind: None,
                offset: None,
            };
            match run_page(&st, &u, run_id, q, Some(m)).await {
                Ok(p) => render(StatusCode::UNPROCESSABLE_ENTITY, &p),
                Err(r) => r,
            }
        }
    }
}

/// The dashboard card: latest consistency per job that has run (job name, consistency, below target, run id).
pub async fn dashboard_card(
    st: &AppState,
    u: &ConsoleUser,
) -> Option<Vec<(String, String, bool, i64)>> {
    if !u.p.can(Permission::ReconRead) {
        return None;
    }
    let jobs = recon::jobs(&st.platform, &u.p).await.ok()?;
    Some(
        jobs.into_iter()
            .filter_map(|j| {
                let r = j.latest_run?;
                Some((
                    job_name(u, &j.name_zh, &j.name_en),
                    pct(r.consistency),
                    j.meets_target == Some(false),
                    r.id,
                ))
            })
            .collect(),
    )
}
