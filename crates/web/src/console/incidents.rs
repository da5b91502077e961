//! Console pages for incidents: list, new-ticket form, detail with the caller's actions.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::incidents::{self, ActionInput, DispatchTarget, FactsInput, NewIncident};
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

struct Row {
    id: i64,
    number: String,
    title: String,
    level: String,
    state: String,
    source: String,
    created: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    l: Layout,
    f: ListQuery,
    /// The current filters as a query string (for paging and "save this view").
    query: String,
    levels: Vec<String>,
    states: Vec<(String, String)>,
    sources: Vec<(String, String)>,
    regions: Vec<(String, String)>,
    systems: Vec<(String, String)>,
    views: Vec<(i64, String, String)>,
    errors: HashMap<String, String>,
    view_name: String,
    flash: Option<String>,
    rows: Vec<Row>,
    next_cursor: Option<String>,
    can_create: bool,
}

/// Query of the incident list: the filters (also what a saved view stores) and the page cursor.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    system: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    overdue: String,
    cursor: Option<String>,
    saved: Option<String>,
}

impl ListQuery {
    fn overdue(&self) -> bool {
        matches!(self.overdue.as_str(), "1" | "true" | "on")
    }

    /// The non-empty filters as a query string, cursor excluded.
    fn filters(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("q", self.q.as_str()),
            ("level", self.level.as_str()),
            ("state", self.state.as_str()),
            ("region", self.region.as_str()),
            ("system", self.system.as_str()),
            ("source", self.source.as_str()),
            ("overdue", if self.overdue() { "1" } else { "" }),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    fn input(&self) -> incidents::ListFilterInput {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        incidents::ListFilterInput {
            q: opt(&self.q),
            level: opt(&self.level),
            state: opt(&self.state),
            region: opt(&self.region),
            system: opt(&self.system),
            source: opt(&self.source),
            overdue: self.overdue(),
            all: false,
        }
    }
}

fn state_label(u: &ConsoleUser, s: &str) -> String {
    let key = format!("inc-state-{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

fn source_label(u: &ConsoleUser, s: &str) -> String {
    let key = format!("inc-ch-{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

/// The incident list.
pub async fn list(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&st, &u, q, HashMap::new(), String::new(), StatusCode::OK).await
}

async fn list_page(
    st: &AppState,
    u: &ConsoleUser,
    q: ListQuery,
    mut errors: HashMap<String, String>,
    view_name: String,
    status: StatusCode,
) -> Response {
    if let Some(r) = u.require(st, Permission::IncidentRead) {
        return r;
    }
    let (after, limit) = crate::api::PageParams {
        cursor: q.cursor.clone(),
        limit: Some(50),
    }
    .resolve()
    .unwrap_or((0, 50));
    let before = if after == 0 { i64::MAX } else { after };
    let mut status = status;
    let rows = match incidents::resolve_filter(&st.platform, &q.input()).await {
        Ok(f) => match incidents::list(&st.platform, &u.p, before, limit, f).await {
            Ok(r) => r,
            Err(e) => return service_error_page(u, st, e),
        },
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::UnknownReference { .. })) => {
            errors.insert(
                e.field().unwrap_or("q").to_string(),
                e.localized(u.t.lang()),
            );
            status = StatusCode::UNPROCESSABLE_ENTITY;
            Vec::new()
        }
        Err(e) => return service_error_page(u, st, e),
    };
    let next_cursor = crate::api::next_cursor(rows.len(), limit, rows.last().map(|i| i.id));
    let rows = rows
        .into_iter()
        .map(|i| Row {
            id: i.id,
            number: i.number,
            title: i.title,
            level: i.fault_level,
            state: state_label(u, &i.state),
            source: source_label(u, &i.source_channel),
            created: local(st, i.created_at),
        })
        .collect();
    let orgs = st.platform.store.orgs().await.unwrap_or_default();
    let regions = orgs
        .iter()
        .filter(|o| o.region_id == Some(o.id))
        .map(|o| (o.key.clone(), o.name.clone()))
        .collect();
    let systems = st
        .platform
        .store
        .systems()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.key, s.name))
        .collect();
    let views = tianshu_services::views::list(&st.platform, &u.p, "incidents")
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.id, v.name, v.query))
        .collect();
    let flash = q.saved.as_ref().map(|_| u.t.t("view-saved"));
    render(
        status,
        &ListPage {
            l: u.layout(st, "incidents", "inc-title-list"),
            query: q.filters(),
            f: q,
            levels: ["FL2", "FL1", "general"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            states: tianshu_core::incident::IncidentState::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), state_label(u, s.as_str())))
                .collect(),
            sources: tianshu_core::incident::SourceChannel::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), source_label(u, s.as_str())))
                .collect(),
            regions,
            systems,
            views,
            errors,
            view_name,
            flash,
            rows,
            next_cursor,
            can_create: u.p.can(Permission::IncidentCreate),
        },
    )
}

/// Saves the list's current filters as a named view of the caller.
pub async fn save_view(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let query = field(&pairs, "query");
    let name = field(&pairs, "name");
    let req = tianshu_services::views::NewView {
        page: "incidents".into(),
        name: name.clone(),
        query: query.clone(),
    };
    match tianshu_services::views::create(&st.platform, &u.p, req).await {
        Ok(v) => Redirect::to(&format!("/incidents?{}&saved={}", v.query, v.id)).into_response(),
        Err(
            e @ (ServiceError::Invalid { .. }
            | ServiceError::UnknownReference { .. }
            | ServiceError::Conflict { .. }),
        ) => {
            let q: ListQuery = serde_urlencoded::from_str(&query).unwrap_or_default();
            let mut errors = HashMap::new();
            errors.insert("view_name".to_string(), e.localized(u.t.lang()));
            list_page(&st, &u, q, errors, name, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}

/// Deletes one of the caller's saved views.
pub async fn delete_view(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    match tianshu_services::views::delete(&st.platform, &u.p, id).await {
        Ok(()) => Redirect::to("/incidents").into_response(),
        Err(e) => service_error_page(&u, &st, e),
    }
}

struct TextField {
    name: &'static str,
    label: String,
    value: String,
    multiline: bool,
    numeric: bool,
    error: Option<String>,
}

struct SelectField {
    name: &'static str,
    label: String,
    value: String,
    options: Vec<(String, String)>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "incident_new.html")]
struct NewPage {
    l: Layout,
    errors: HashMap<String, String>,
    text_fields: Vec<TextField>,
    selects: Vec<SelectField>,
}

const TEXT: &[(&str, bool, bool)] = &[
    ("title", false, false),
    ("symptom", true, false),
    ("reporter", false, false),
    ("affected_users", false, true),
    ("complaints", false, true),
    ("gold_diamond_complaints", false, true),
    ("hot_outage_minutes", false, true),
    ("non_hot_outage_minutes", false, true),
    ("customer", false, false),
    ("line", false, false),
];

async fn new_page(
    st: &AppState,
    u: &ConsoleUser,
    values: &[(String, String)],
    errors: HashMap<String, String>,
) -> NewPage {
    let text_fields = TEXT
        .iter()
        .map(|(name, multiline, numeric)| TextField {
            name,
            label: u.t.t(&format!("inc-f-{name}")),
            value: field(values, name),
            multiline: *multiline,
            numeric: *numeric,
            error: errors.get(*name).cloned(),
        })
        .collect();
    let orgs: Vec<(String, String)> = st
        .platform
        .store
        .orgs()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.kind != "vendor" && u.p.require_visible(o.region_id, o.id).is_ok())
        .map(|o| (o.key, o.name))
        .collect();
    let mut systems: Vec<(String, String)> = vec![(String::new(), "—".into())];
    systems.extend(
        st.platform
            .store
            .systems()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.key, s.name)),
    );
    let channels = [
        "hotline",
        "im_group",
        "monitoring_alert",
        "email",
        "api",
        "found_by_staff",
    ]
    .iter()
    .map(|c| (c.to_string(), u.t.t(&format!("inc-ch-{c}"))))
    .collect();
    let cs = vec![
        (String::new(), "—".into()),
        ("1".into(), "CS1".into()),
        ("2".into(), "CS2".into()),
        ("3".into(), "CS3".into()),
        ("4".into(), "CS4".into()),
    ];
    let mut service_types: Vec<(String, String)> = vec![(String::new(), "—".into())];
    service_types.extend(
        st.platform
            .policy
            .current()
            .pack
            .sla
            .service_types
            .iter()
            .map(|t| (t.key.clone(), t.name_zh.clone())),
    );
    let sel = |name: &'static str, options: Vec<(String, String)>| SelectField {
        name,
        label: u.t.t(&format!("inc-f-{name}")),
        value: field(values, name),
        options,
        error: errors.get(name).cloned(),
    };
    let selects = vec![
        sel("source_channel", channels),
        sel("org_key", orgs),
        sel("system_key", systems),
        sel("cs_level", cs),
        sel("service_type", service_types),
    ];
    NewPage {
        l: u.layout(st, "incidents", "inc-new"),
        errors,
        text_fields,
        selects,
    }
}

/// The new-ticket form.
pub async fn new_form(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = u.require(&st, Permission::IncidentCreate) {
        return r;
    }
    render(
        StatusCode::OK,
        &new_page(&st, &u, &[], HashMap::new()).await,
    )
}

fn number(
    pairs: &[(String, String)],
    name: &str,
    errors: &mut HashMap<String, String>,
    zh: bool,
) -> Option<u64> {
    let v = field(pairs, name);
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.insert(
                name.to_string(),
                if zh {
                    "请输入非负整数".into()
                } else {
                    "enter a whole number ≥ 0".into()
                },
            );
            None
        }
    }
}

/// Creates a ticket from the form; field errors are shown next to the fields.
pub async fn create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = u.require(&st, Permission::IncidentCreate) {
        return r;
    }
    let zh = u.t.lang() == "zh-CN";
    let mut errors = HashMap::new();
    let facts = FactsInput {
        affected_users: number(&pairs, "affected_users", &mut errors, zh),
        complaints: number(&pairs, "complaints", &mut errors, zh),
        gold_diamond_complaints: number(&pairs, "gold_diamond_complaints", &mut errors, zh),
        hot_outage_minutes: number(&pairs, "hot_outage_minutes", &mut errors, zh),
        non_hot_outage_minutes: number(&pairs, "non_hot_outage_minutes", &mut errors, zh),
        cs_level: field(&pairs, "cs_level").parse().ok(),
        ..Default::default()
    };
    if field(&pairs, "line").trim().is_empty() && !field(&pairs, "service_type").is_empty() {
        errors.insert(
            "line".into(),
            if zh {
                "选择了专线业务类型，请填写专线电路编号".into()
            } else {
                "a service type was chosen: give the leased line's circuit id".into()
            },
        );
    }
    if errors.is_empty() {
        let input = NewIncident {
            title: field(&pairs, "title"),
            symptom: field(&pairs, "symptom"),
            symptom_category: None,
            source_channel: field(&pairs, "source_channel"),
            reporter: field(&pairs, "reporter"),
            reporter_contact: None,
            org_key: field(&pairs, "org_key"),
            system_key: Some(field(&pairs, "system_key")).filter(|s| !s.is_empty()),
            business: None,
            customer: Some(field(&pairs, "customer")).filter(|s| !s.is_empty()),
            owning_org_key: None,
            facts,
            leased_line: Some(field(&pairs, "line"))
                .filter(|s| !s.is_empty())
                .map(|line| incidents::LeasedLineInput {
                    line,
                    service_type: Some(field(&pairs, "service_type")).filter(|s| !s.is_empty()),
                }),
        };
        match incidents::create(&st.platform, &u.p, input, None).await {
            Ok(v) => {
                return Redirect::to(&format!("/incidents/{}?created=1", v.incident.id))
                    .into_response()
            }
            Err(e @ (ServiceError::Invalid { .. } | ServiceError::UnknownReference { .. })) => {
                let field = e.field().unwrap_or_default();
                let key = field
                    .split(['[', '.'])
                    .next_back()
                    .unwrap_or(field)
                    .to_string();
                errors.insert(key, e.localized(u.t.lang()));
            }
            Err(e) => return service_error_page(&u, &st, e),
        }
    }
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &new_page(&st, &u, &pairs, errors).await,
    )
}

#[derive(Template)]
#[template(path = "incident.html")]
struct DetailPage {
    l: Layout,
    flash: Option<String>,
    error: Option<String>,
    id: i64,
    version: i64,
    number: String,
    title: String,
    symptom: String,
    /// KPI-09: "circuit id · service type" when the fault is on a group customer's leased line.
    leased_line: Option<String>,
    level: String,
    state_label: String,
    reasons: Vec<String>,
    /// (action, label, needs a reason)
    actions: Vec<(String, String, bool)>,
    can_dispatch: bool,
    dispatch_orgs: Vec<(String, String)>,
    can_progress: bool,
    /// Reports can be recorded here (top-level ticket, IncidentEscalate).
    can_report: bool,
    /// The facts form is offered (top-level open ticket, IncidentTriage).
    can_edit_facts: bool,
    /// (field, label, current value) of the numeric facts.
    fact_fields: Vec<(String, String, String)>,
    cs_level: String,
    affects_customers: bool,
    recurrence: String,
    is_child: bool,
    progress: i64,
    children: Vec<(i64, String, String, String, i64)>,
    children_progress: i64,
    /// (rule, key, due local, state, due RFC 3339)
    clocks: Vec<(String, String, String, String, String)>,
    timeline: Vec<(String, String, String, String)>,
    /// The notify draft form and the ticket's delivery log.
    notify: Option<super::notifications::IncidentNotify>,
}

/// Query of the detail page.
#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    created: Option<String>,
    /// The template chosen in the notify form.
    notify_template: Option<String>,
}

async fn detail_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    flash: Option<String>,
    error: Option<String>,
    notify_template: Option<&str>,
    notify_input: Option<super::notifications::NotifyInput>,
) -> Result<DetailPage, Response> {
    let v = incidents::get(&st.platform, &u.p, id)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let timeline = incidents::timeline(&st.platform, &u.p, id)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let i = &v.incident;
    let facts_now: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&i.facts).unwrap_or_default();
    let needs_reason = ["cancel", "reopen", "return_for_rework"];
    let actions = v
        .allowed_actions
        .iter()
        .filter(|a| a.as_str() != "hand_off" && a.as_str() != "lower_severity")
        .map(|a| {
            (
                a.clone(),
                u.t.t(&format!("inc-act-{a}")),
                needs_reason.contains(&a.as_str()),
            )
        })
        .collect();
    let can_dispatch =
        v.allowed_actions.iter().any(|a| a == "hand_off") && u.p.can(Permission::IncidentDispatch);
    let dispatch_orgs = if can_dispatch {
        st.platform
            .store
            .orgs()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o.kind == "branch" || o.kind == "vendor")
            .map(|o| {
                (
                    format!(
                        "{}:{}",
                        if o.kind == "vendor" {
                            "vendor"
                        } else {
                            "branch"
                        },
                        o.key
                    ),
                    o.name,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let orgs: HashMap<i64, String> = st
        .platform
        .store
        .orgs()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let children = v
        .children
        .iter()
        .map(|c| {
            (
                c.id,
                c.number.clone(),
                c.assignee_org_id
                    .and_then(|o| orgs.get(&o).cloned())
                    .unwrap_or_default(),
                state_label(u, &c.state),
                c.progress,
            )
        })
        .collect();
    let clocks = v
        .clocks
        .iter()
        .map(|c| {
            (
                c.rule.clone(),
                c.clock_key.clone(),
                local(st, c.due_at),
                c.state.clone(),
                tianshu_store::time::canonical(c.due_at),
            )
        })
        .collect();
    let timeline = timeline
        .into_iter()
        .map(|e| {
            (
                local(st, e.at),
                event_label(u, &e.kind),
                e.actor,
                event_summary(st, &e.data, u.t.lang() == "zh-CN"),
            )
        })
        .collect();
    let notify =
        super::notifications::incident_section(st, u, i, notify_template, notify_input).await;
    Ok(DetailPage {
        notify,
        l: u.layout(st, "incidents", "inc-title-detail"),
        flash,
        error,
        id: i.id,
        version: i.version,
        number: i.number.clone(),
        title: i.title.clone(),
        symptom: i.symptom.clone(),
        leased_line: v.leased_line.as_ref().map(|l| {
            let types = &st.platform.policy.current().pack.sla.service_types;
            let kind = l
                .service_type
                .as_deref()
                .map(|k| {
                    types
                        .iter()
                        .find(|t| t.key == k)
                        .map_or(k, |t| t.name_zh.as_str())
                })
                .map(|k| format!(" · {k}"))
                .unwrap_or_default();
            format!(
                "{}{kind}（{}）",
                l.leased_line,
                i.customer.clone().unwrap_or_default()
            )
        }),
        level: i.fault_level.clone(),
        state_label: state_label(u, &i.state),
        reasons: v
            .reasons
            .iter()
            .map(|r| {
                if u.t.lang() == "en" {
                    r.text_en.clone()
                } else {
                    r.text_zh.clone()
                }
            })
            .collect(),
        actions,
        can_dispatch,
        dispatch_orgs,
        can_progress: !incidents::rules_is_finished(&i.state)
            && (u.p.can(Permission::IncidentTriage)
                || u.p.can(Permission::IncidentDispatch)
                || i.assignee_org_id == Some(u.p.org_id)),
        can_edit_facts: u.p.can(Permission::IncidentTriage)
            && i.parent_id.is_none()
            && i.master_id.is_none()
            && !incidents::rules_is_finished(&i.state),
        fact_fields: FACT_FIELDS
            .iter()
            .map(|f| {
                let v = facts_now
                    .get(*f)
                    .and_then(|v| v.as_u64())
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                (f.to_string(), u.t.t(&format!("inc-f-{f}")), v)
            })
            .collect(),
        cs_level: facts_now
            .get("cs_level")
            .and_then(|v| v.as_u64())
            .map(|n| n.to_string())
            .unwrap_or_default(),
        affects_customers: facts_now
            .get("affects_customers")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        recurrence: facts_now
            .get("recurrence")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        can_report: u.p.can(Permission::IncidentEscalate)
            && i.parent_id.is_none()
            && i.master_id.is_none(),
        is_child: i.parent_id.is_some(),
        progress: i.progress,
        children,
        children_progress: v.children_progress,
        clocks,
        timeline,
    })
}

/// One incident.
pub async fn detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let flash = q.created.map(|_| u.t.t("inc-created-flash"));
    match detail_page(&st, &u, id, flash, None, q.notify_template.as_deref(), None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// The ticket page with what the user typed in its notify form (after a preview or a refused draft).
pub(super) async fn render_detail(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    status: StatusCode,
    input: Option<super::notifications::NotifyInput>,
) -> Response {
    match detail_page(st, u, id, None, None, None, input).await {
        Ok(p) => render(status, &p),
        Err(r) => r,
    }
}

async fn after_change(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    r: Result<(), ServiceError>,
) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(u, st, p),
        Err(e) => {
            let status = match &e {
                ServiceError::Stale(_) => StatusCode::PRECONDITION_FAILED,
                ServiceError::Conflict { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let msg = match &e {
                ServiceError::Stale(_) => u.t.t("conflict"),
                other => other.localized(u.t.lang()),
            };
            match detail_page(st, u, id, None, Some(msg), None, None).await {
                Ok(p) => render(status, &p),
                Err(r) => r,
            }
        }
    }
}

/// Applies a workflow action from the detail page.
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
    let action = field(&pairs, "action");
    let input = ActionInput {
        reason: Some(field(&pairs, "reason")).filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let r = incidents::act(&st.platform, &u.p, id, version, &action, input, None)
        .await
        .map(|_| ());
    after_change(&st, &u, id, r).await
}

/// Dispatches to the ticked branches and vendors.
pub async fn dispatch(
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
    let targets = pairs
        .iter()
        .filter(|(k, _)| k == "target")
        .filter_map(|(_, v)| v.split_once(':'))
        .map(|(kind, org)| DispatchTarget {
            kind: kind.to_string(),
            org_key: org.to_string(),
            note: None,
        })
        .collect();
    let r = incidents::dispatch(&st.platform, &u.p, id, version, targets, None)
        .await
        .map(|_| ());
    after_change(&st, &u, id, r).await
}

/// The translated name of a timeline event (the raw kind when there is no translation).
fn event_label(u: &ConsoleUser, kind: &str) -> String {
    // Fluent ids cannot hold '.', so `incident.created` is looked up as `ev-incident-created`.
    let key = format!("ev-{}", kind.replace('.', "-"));
    let t = u.t.t(&key);
    if t == key {
        kind.to_string()
    } else {
        t
    }
}

/// A short `key: value` line of an event's data for people; nested values stay compact JSON.
fn event_summary(st: &AppState, data: &str, zh: bool) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(data) else {
        return data.chars().take(200).collect();
    };
    // Deadlines (a clock's `due_at`, a moved clock's `due_before`) are what a reader looks for, in the centre's
    // time like the rest of the page; other instants repeat the entry's own time.
    let due = |k: &str| k.starts_with("due_");
    m.iter()
        .filter(|(k, v)| !v.is_null() && (due(k) || !k.ends_with("_at")) && k.as_str() != "lag_us")
        .map(|(k, v)| match v {
            serde_json::Value::Number(n) if due(k) => match n.as_i64() {
                Some(us) => format!("{k}: {}", local(st, us)),
                None => format!("{k}: {n}"),
            },
            // Rule criteria and level reasons carry their own text in both languages: show that.
            serde_json::Value::Array(items)
                if items
                    .first()
                    .is_some_and(|i| i.get("text_zh").is_some() && i.get("text_en").is_some()) =>
            {
                let field = if zh { "text_zh" } else { "text_en" };
                items
                    .iter()
                    .filter_map(|i| i.get(field).and_then(|t| t.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!(
                "{k}: {}",
                other.to_string().chars().take(120).collect::<String>()
            ),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Records progress (and, for a dispatched task, its completion) from the detail page.
pub async fn progress(
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
    let percent = field(&pairs, "percent").trim().parse::<i64>().ok();
    let input = incidents::ProgressInput {
        version,
        note: field(&pairs, "note"),
        percent,
        done: field(&pairs, "done") == "1",
        new_symptom: field(&pairs, "new_symptom") == "1",
    };
    let r = incidents::progress(&st.platform, &u.p, id, input, None)
        .await
        .map(|_| ());
    after_change(&st, &u, id, r).await
}

/// Records a report made by phone, ITSM or bulletin (ESC-01/02/07/09/12) from the detail page.
pub async fn report(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let input = incidents::ReportInput {
        version: field(&pairs, "version").parse().unwrap_or(-1),
        kind: field(&pairs, "kind"),
        note: field(&pairs, "note"),
    };
    let r = incidents::report(&st.platform, &u.p, id, input, None)
        .await
        .map(|_| ());
    after_change(&st, &u, id, r).await
}

/// The numeric facts the detail page edits: SEV (SEV-01..06), ESC-01 and ESC-07 inputs.
const FACT_FIELDS: &[&str] = &[
    "affected_users",
    "complaints",
    "gold_diamond_complaints",
    "hot_outage_minutes",
    "non_hot_outage_minutes",
    "interface_outage_minutes",
    "possibly_affected_users",
    "possible_complaints",
    "system_outage_minutes",
    "function_outage_minutes",
    "comm_failure_complaints",
    "possibly_comm_failure_users",
    "wrong_suspension_complaints",
    "possibly_wrong_suspension_users",
    "billing_anomaly_complaints",
    "possibly_billing_anomaly_users",
    "self_service_detail_outage_minutes",
    "core_login_outage_minutes",
    "data_loss_unfixed_minutes",
    "red_list_customers",
    "core_interface_outage_minutes",
];

/// Saves the facts form: the level is reassessed (never lowered silently) and the ESC rules run.
pub async fn facts(
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
    let r = async {
        let current = incidents::get(&st.platform, &u.p, id).await?;
        // Ticked potential-impact criteria are edited elsewhere; keep them.
        let mut obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&current.incident.facts).unwrap_or_default();
        obj.retain(|k, _| k == "potential");
        for f in FACT_FIELDS {
            let v = field(&pairs, f);
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let n: u64 = v.parse().map_err(|_| {
                ServiceError::invalid_zh(
                    format!("facts.{f}"),
                    format!("{f}: must be a whole number"),
                    format!("{f}：须为非负整数"),
                )
            })?;
            obj.insert(f.to_string(), n.into());
        }
        let cs = field(&pairs, "cs_level");
        if !cs.trim().is_empty() {
            let n: u8 = cs.trim().parse().map_err(|_| {
                ServiceError::invalid_zh(
                    "facts.cs_level",
                    "cs_level: must be 1–4",
                    "cs_level：客服投诉等级须为 1–4",
                )
            })?;
            obj.insert("cs_level".into(), n.into());
        }
        obj.insert(
            "affects_customers".into(),
            (field(&pairs, "affects_customers") == "1").into(),
        );
        let rec = field(&pairs, "recurrence");
        if !rec.is_empty() {
            obj.insert("recurrence".into(), rec.into());
        }
        let input: incidents::FactsInput =
            serde_json::from_value(serde_json::Value::Object(obj))
                .map_err(|e| ServiceError::invalid("facts", e.to_string()))?;
        incidents::update_facts(&st.platform, &u.p, id, version, input, None).await
    }
    .await
    .map(|_| ());
    after_change(&st, &u, id, r).await
}
