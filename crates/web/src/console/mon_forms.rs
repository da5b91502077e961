//! Console forms to create and edit dial-test probes (their steps), SQL monitoring points and the external
//! databases they read (issue 5). Validation is the services' own: a refused field is shown next to that
//! field (422), nothing is saved; a stale edit (someone saved in between) says so above the form.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use tianshu_core::Permission;
use tianshu_services::monitoring::{points, probes};
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// One field of a form.
pub struct MonField {
    /// Form name (and the service's field name).
    pub name: String,
    pub label: String,
    /// text, textarea, select, checkbox, number, password, url.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub help: String,
    pub required: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "mon_form.html")]
struct FormPage {
    l: Layout,
    form_id: &'static str,
    action: String,
    cancel: String,
    version: i64,
    error: Option<String>,
    /// Some field shows an error.
    invalid: bool,
    fields: Vec<MonField>,
}

fn f(name: &str, label: String, kind: &'static str, value: String) -> MonField {
    MonField {
        name: name.into(),
        label,
        kind,
        value,
        options: Vec::new(),
        help: String::new(),
        required: false,
        error: None,
    }
}

fn req(mut x: MonField) -> MonField {
    x.required = true;
    x
}

fn help(mut x: MonField, h: String) -> MonField {
    x.help = h;
    x
}

fn opts(mut x: MonField, o: Vec<(String, String)>) -> MonField {
    x.kind = "select";
    x.options = o;
    x
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

fn severities() -> Vec<(String, String)> {
    SEVERITIES
        .iter()
        .map(|s| (s.to_string(), s.to_string()))
        .collect()
}

/// Puts a service error next to its field: the form field whose name is the error's field or its first
/// segment (`scenario.steps[1].url` → `scenario`); otherwise above the form.
fn place(fields: &mut [MonField], e: &ServiceError, lang: &str) -> Option<String> {
    let msg = e.localized(lang);
    let Some(path) = e.field() else {
        return Some(msg);
    };
    let head = path.split(['.', '[']).next().unwrap_or(path);
    let at = fields
        .iter()
        .position(|x| x.name == path)
        .or_else(|| fields.iter().position(|x| x.name == head));
    match at {
        Some(i) => {
            fields[i].error = Some(if fields[i].name == path {
                msg
            } else {
                format!("{path}: {msg}")
            });
            None
        }
        None => Some(format!("{path}: {msg}")),
    }
}

fn form_error(
    st: &AppState,
    u: &ConsoleUser,
    e: ServiceError,
    mut fields: Vec<MonField>,
    page: FormPageArgs,
) -> Response {
    if let ServiceError::Forbidden(p) = &e {
        return super::pages::forbidden(u, st, *p);
    }
    if matches!(e, ServiceError::NotFound(_)) {
        return service_error_page(u, st, e);
    }
    let error = place(&mut fields, &e, u.t.lang());
    let error = if matches!(e, ServiceError::Stale(_)) {
        Some(u.t.t("mon-form-stale"))
    } else {
        error
    };
    let status = if matches!(e, ServiceError::Stale(_)) {
        StatusCode::PRECONDITION_FAILED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page.build(st, u, fields, error))
}

struct FormPageArgs {
    title: &'static str,
    active: &'static str,
    form_id: &'static str,
    action: String,
    cancel: String,
    version: i64,
}

impl FormPageArgs {
    fn build(
        self,
        st: &AppState,
        u: &ConsoleUser,
        fields: Vec<MonField>,
        error: Option<String>,
    ) -> FormPage {
        FormPage {
            l: u.layout(st, self.active, self.title),
            form_id: self.form_id,
            action: self.action,
            cancel: self.cancel,
            version: self.version,
            error,
            invalid: fields.iter().any(|f| f.error.is_some()),
            fields,
        }
    }
}

fn manage_guard(
    st: &AppState,
    u: &ConsoleUser,
    pairs: Option<&[(String, String)]>,
) -> Option<Response> {
    if let Some(r) = u.require(st, Permission::ProbeManage) {
        return Some(r);
    }
    pairs.and_then(|p| u.check_csrf(st, &field(p, "csrf")))
}

// ---------------------------------------------------------------- probes

/// The scenario as the form shows it: pretty JSON of `{"variables": …, "steps": […]}`.
fn scenario_text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

const SCENARIO_EXAMPLE: &str = r#"{
  "variables": {"user": "probe01"},
  "steps": [
    {"name": "登录页", "url": "http://portal.example.invalid/login",
     "assert": {"status": 200, "body_contains": "登录"}},
    {"name": "登录", "method": "POST", "url": "http://portal.example.invalid/login",
     "form": {"user": "{{user}}", "password": "{{password}}"},
     "assert": {"body_regex": "欢迎"}}
  ]
}"#;

fn probe_fields(
    u: &ConsoleUser,
    o: Option<&probes::ProbeOut>,
    pairs: Option<&[(String, String)]>,
) -> Vec<MonField> {
    let get = |name: &str, from: String| match pairs {
        Some(p) => field(p, name),
        None => from,
    };
    let t = |k: &str| u.t.t(k);
    let enabled = match pairs {
        Some(p) => field(p, "enabled") == "on",
        None => o.is_none_or(|o| o.enabled),
    };
    let secrets_help = match o {
        Some(o) if !o.secret_names.is_empty() => format!(
            "{} {} {}",
            t("probe-form-secrets-help"),
            t("probe-form-secrets-kept"),
            o.secret_names.join(", ")
        ),
        _ => t("probe-form-secrets-help"),
    };
    vec![
        req(f(
            "name",
            t("probe-name"),
            "text",
            get("name", o.map(|o| o.name.clone()).unwrap_or_default()),
        )),
        f(
            "system",
            t("alert-system"),
            "text",
            get("system", o.map(|o| o.system.clone()).unwrap_or_default()),
        ),
        f(
            "region",
            t("alert-region"),
            "text",
            get("region", o.map(|o| o.region.clone()).unwrap_or_default()),
        ),
        opts(
            f(
                "severity",
                t("alert-severity"),
                "select",
                get(
                    "severity",
                    o.map_or_else(|| "warning".into(), |o| o.severity.clone()),
                ),
            ),
            severities(),
        ),
        f(
            "enabled",
            t("mon-form-enabled"),
            "checkbox",
            if enabled { "on".into() } else { String::new() },
        ),
        help(
            req(f(
                "scenario",
                t("probe-steps"),
                "textarea",
                get(
                    "scenario",
                    o.map_or_else(
                        || SCENARIO_EXAMPLE.to_string(),
                        |o| scenario_text(&o.scenario),
                    ),
                ),
            )),
            t("probe-form-steps-help"),
        ),
        help(
            f(
                "secrets",
                t("probe-form-secrets"),
                "textarea",
                String::new(),
            ),
            secrets_help,
        ),
    ]
}

fn probe_input(
    pairs: &[(String, String)],
    keep_secrets: bool,
) -> Result<probes::ProbeInput, ServiceError> {
    let scenario: Value = serde_json::from_str(&field(pairs, "scenario")).map_err(|e| {
        ServiceError::invalid_zh(
            "scenario",
            format!("not JSON: {e}"),
            format!("不是有效的 JSON:{e}"),
        )
    })?;
    let raw = field(pairs, "secrets");
    let mut secrets = std::collections::BTreeMap::new();
    for (i, line) in raw.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(ServiceError::invalid_zh(
                "secrets",
                format!("line {}: expected name=value", i + 1),
                format!("第 {} 行:应为 名称=值", i + 1),
            ));
        };
        secrets.insert(k.trim().to_string(), v.to_string());
    }
    let opt = |n: &str| Some(field(pairs, n).trim().to_string());
    Ok(probes::ProbeInput {
        name: field(pairs, "name"),
        system: opt("system"),
        region: opt("region"),
        severity: opt("severity").filter(|s| !s.is_empty()),
        enabled: Some(field(pairs, "enabled") == "on"),
        scenario,
        secrets: if secrets.is_empty() && keep_secrets {
            None
        } else {
            Some(secrets)
        },
        version: field(pairs, "version").parse().ok(),
    })
}

fn probe_page_args(id: Option<i64>, version: i64) -> FormPageArgs {
    FormPageArgs {
        title: if id.is_some() {
            "probe-form-edit"
        } else {
            "probe-form-new"
        },
        active: "probes",
        form_id: "probe-form",
        action: id.map_or_else(|| "/probes/new".into(), |i| format!("/probes/{i}/edit")),
        cancel: id.map_or_else(|| "/probes".into(), |i| format!("/probes/{i}")),
        version,
    }
}

/// The form for a new probe.
pub async fn probe_new(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = manage_guard(&st, &u, None) {
        return r;
    }
    let fields = probe_fields(&u, None, None);
    render(
        StatusCode::OK,
        &probe_page_args(None, 0).build(&st, &u, fields, None),
    )
}

/// Creates a probe from the form.
pub async fn probe_create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    let fields = probe_fields(&u, None, Some(&pairs));
    let res = match probe_input(&pairs, false) {
        Ok(i) => probes::create(&st.platform, &u.p, i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(o) => Redirect::to(&format!("/probes/{}", o.id)).into_response(),
        Err(e) => form_error(&st, &u, e, fields, probe_page_args(None, 0)),
    }
}

/// The form to edit a probe.
pub async fn probe_edit(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = manage_guard(&st, &u, None) {
        return r;
    }
    let o = match probes::get(&st.platform, &u.p, id, 1).await {
        Ok(v) => v.probe,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let fields = probe_fields(&u, Some(&o), None);
    render(
        StatusCode::OK,
        &probe_page_args(Some(id), o.version).build(&st, &u, fields, None),
    )
}

/// Saves an edited probe (version-checked).
pub async fn probe_save(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    let o = match probes::get(&st.platform, &u.p, id, 1).await {
        Ok(v) => v.probe,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let version = field(&pairs, "version").parse().unwrap_or(o.version);
    let fields = probe_fields(&u, Some(&o), Some(&pairs));
    let res = match probe_input(&pairs, true) {
        Ok(i) => probes::update(&st.platform, &u.p, id, i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(o) => Redirect::to(&format!("/probes/{}", o.id)).into_response(),
        Err(e) => form_error(&st, &u, e, fields, probe_page_args(Some(id), version)),
    }
}

/// Runs a probe now from its page.
pub async fn probe_run(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    match probes::run_now(&st.platform, &u.p, id).await {
        Ok(_) => Redirect::to(&format!("/probes/{id}")).into_response(),
        Err(e) => service_error_page(&u, &st, e),
    }
}

// ---------------------------------------------------------------- points

const COMPARISONS: [&str; 5] = ["lt", "le", "gt", "ge", "stale"];

async fn database_options(st: &AppState, u: &ConsoleUser) -> Vec<(String, String)> {
    points::databases(&st.platform, &u.p)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            (
                d.id.to_string(),
                format!(
                    "{} ({}, {}:{}/{})",
                    d.name, d.kind, d.host, d.port, d.database
                ),
            )
        })
        .collect()
}

fn point_fields(
    u: &ConsoleUser,
    o: Option<&points::PointOut>,
    pairs: Option<&[(String, String)]>,
    dbs: Vec<(String, String)>,
) -> Vec<MonField> {
    let get = |name: &str, from: String| match pairs {
        Some(p) => field(p, name),
        None => from,
    };
    let t = |k: &str| u.t.t(k);
    let enabled = match pairs {
        Some(p) => field(p, "enabled") == "on",
        None => o.is_none_or(|o| o.enabled),
    };
    let s = |v: Option<String>| v.unwrap_or_default();
    vec![
        req(f(
            "name",
            t("point-name"),
            "text",
            get("name", s(o.map(|o| o.name.clone()))),
        )),
        req(f(
            "owner",
            t("point-owner"),
            "text",
            get("owner", s(o.map(|o| o.owner.clone()))),
        )),
        f(
            "runbook_url",
            t("point-runbook"),
            "url",
            get("runbook_url", s(o.map(|o| o.runbook_url.clone()))),
        ),
        req(opts(
            f(
                "database_id",
                t("point-database"),
                "select",
                get("database_id", s(o.map(|o| o.database_id.to_string()))),
            ),
            dbs,
        )),
        help(
            req(f(
                "query",
                t("point-form-query"),
                "textarea",
                get("query", s(o.map(|o| o.query.clone()))),
            )),
            t("point-form-query-help"),
        ),
        req(opts(
            f(
                "comparison",
                t("point-rule"),
                "select",
                get(
                    "comparison",
                    o.map_or_else(|| "gt".into(), |o| o.comparison.clone()),
                ),
            ),
            COMPARISONS
                .iter()
                .map(|c| (c.to_string(), t(&format!("point-cmp-{c}"))))
                .collect(),
        )),
        f(
            "threshold",
            t("point-form-threshold"),
            "number",
            get("threshold", s(o.map(|o| o.threshold.to_string()))),
        ),
        help(
            f(
                "stale_after_s",
                t("point-form-stale"),
                "number",
                get("stale_after_s", s(o.map(|o| o.stale_after_s.to_string()))),
            ),
            t("point-form-stale-help"),
        ),
        help(
            f(
                "interval_s",
                t("point-form-interval"),
                "number",
                get("interval_s", s(o.map(|o| o.interval_s.to_string()))),
            ),
            t("point-form-interval-help"),
        ),
        f(
            "system",
            t("alert-system"),
            "text",
            get("system", s(o.map(|o| o.system.clone()))),
        ),
        f(
            "region",
            t("alert-region"),
            "text",
            get("region", s(o.map(|o| o.region.clone()))),
        ),
        opts(
            f(
                "severity",
                t("alert-severity"),
                "select",
                get(
                    "severity",
                    o.map_or_else(|| "warning".into(), |o| o.severity.clone()),
                ),
            ),
            severities(),
        ),
        f(
            "enabled",
            t("mon-form-enabled"),
            "checkbox",
            if enabled { "on".into() } else { String::new() },
        ),
    ]
}

fn num<T: std::str::FromStr>(
    pairs: &[(String, String)],
    name: &str,
) -> Result<Option<T>, ServiceError> {
    let v = field(pairs, name);
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        ServiceError::invalid_zh(
            name,
            format!("'{v}' is not a number"),
            format!("“{v}”不是数字"),
        )
    })
}

fn point_input(pairs: &[(String, String)]) -> Result<points::PointInput, ServiceError> {
    let database_id = num::<i64>(pairs, "database_id")?.ok_or_else(|| {
        ServiceError::invalid_zh("database_id", "choose a database", "请选择数据库")
    })?;
    let opt = |n: &str| Some(field(pairs, n).trim().to_string());
    Ok(points::PointInput {
        name: field(pairs, "name"),
        owner: field(pairs, "owner"),
        runbook_url: opt("runbook_url"),
        database_id,
        query: field(pairs, "query"),
        comparison: field(pairs, "comparison"),
        threshold: num(pairs, "threshold")?,
        stale_after_s: num(pairs, "stale_after_s")?,
        interval_s: num(pairs, "interval_s")?,
        system: opt("system"),
        region: opt("region"),
        severity: opt("severity").filter(|s| !s.is_empty()),
        enabled: Some(field(pairs, "enabled") == "on"),
        version: field(pairs, "version").parse().ok(),
    })
}

fn point_page_args(id: Option<i64>, version: i64) -> FormPageArgs {
    FormPageArgs {
        title: if id.is_some() {
            "point-form-edit"
        } else {
            "point-form-new"
        },
        active: "monitoring-points",
        form_id: "point-form",
        action: id.map_or_else(
            || "/monitoring-points/new".into(),
            |i| format!("/monitoring-points/{i}/edit"),
        ),
        cancel: "/monitoring-points".into(),
        version,
    }
}

/// The form for a new monitoring point.
pub async fn point_new(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = manage_guard(&st, &u, None) {
        return r;
    }
    let fields = point_fields(&u, None, None, database_options(&st, &u).await);
    render(
        StatusCode::OK,
        &point_page_args(None, 0).build(&st, &u, fields, None),
    )
}

/// Creates a monitoring point from the form.
pub async fn point_create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    let fields = point_fields(&u, None, Some(&pairs), database_options(&st, &u).await);
    let res = match point_input(&pairs) {
        Ok(i) => points::create(&st.platform, &u.p, i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Redirect::to("/monitoring-points").into_response(),
        Err(e) => form_error(&st, &u, e, fields, point_page_args(None, 0)),
    }
}

/// The form to edit a monitoring point.
pub async fn point_edit(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = manage_guard(&st, &u, None) {
        return r;
    }
    let o = match points::get(&st.platform, &u.p, id).await {
        Ok(v) => v.point,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let fields = point_fields(&u, Some(&o), None, database_options(&st, &u).await);
    render(
        StatusCode::OK,
        &point_page_args(Some(id), o.version).build(&st, &u, fields, None),
    )
}

/// Saves an edited monitoring point (version-checked).
pub async fn point_save(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    let o = match points::get(&st.platform, &u.p, id).await {
        Ok(v) => v.point,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let version = field(&pairs, "version").parse().unwrap_or(o.version);
    let fields = point_fields(&u, Some(&o), Some(&pairs), database_options(&st, &u).await);
    let res = match point_input(&pairs) {
        Ok(i) => points::update(&st.platform, &u.p, id, i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Redirect::to("/monitoring-points").into_response(),
        Err(e) => form_error(&st, &u, e, fields, point_page_args(Some(id), version)),
    }
}

// ---------------------------------------------------------------- databases

fn db_fields(
    u: &ConsoleUser,
    o: Option<&tianshu_store::monitoring::DatabaseRow>,
    pairs: Option<&[(String, String)]>,
) -> Vec<MonField> {
    let get = |name: &str, from: String| match pairs {
        Some(p) => field(p, name),
        None => from,
    };
    let t = |k: &str| u.t.t(k);
    let s = |v: Option<String>| v.unwrap_or_default();
    let pw_help = if o.is_some_and(|d| d.has_password) {
        t("db-form-password-kept")
    } else {
        String::new()
    };
    vec![
        req(f(
            "name",
            t("db-form-name"),
            "text",
            get("name", s(o.map(|d| d.name.clone()))),
        )),
        req(opts(
            f(
                "kind",
                t("db-form-kind"),
                "select",
                get(
                    "kind",
                    o.map_or_else(|| "postgres".into(), |d| d.kind.clone()),
                ),
            ),
            vec![
                ("postgres".into(), "PostgreSQL".into()),
                ("mysql".into(), "MySQL / MariaDB".into()),
            ],
        )),
        req(f(
            "host",
            t("db-form-host"),
            "text",
            get("host", s(o.map(|d| d.host.clone()))),
        )),
        help(
            f(
                "port",
                t("db-form-port"),
                "number",
                get("port", s(o.map(|d| d.port.to_string()))),
            ),
            t("db-form-port-help"),
        ),
        req(f(
            "database",
            t("db-form-database"),
            "text",
            get("database", s(o.map(|d| d.database.clone()))),
        )),
        help(
            req(f(
                "username",
                t("db-form-username"),
                "text",
                get("username", s(o.map(|d| d.username.clone()))),
            )),
            t("db-form-username-help"),
        ),
        help(
            f("password", t("db-form-password"), "password", String::new()),
            pw_help,
        ),
    ]
}

fn db_input(
    pairs: &[(String, String)],
    editing: bool,
) -> Result<points::DatabaseInput, ServiceError> {
    let password = field(pairs, "password");
    Ok(points::DatabaseInput {
        name: field(pairs, "name"),
        kind: field(pairs, "kind"),
        host: field(pairs, "host"),
        port: num(pairs, "port")?,
        database: field(pairs, "database"),
        username: field(pairs, "username"),
        password: if password.is_empty() && editing {
            None
        } else {
            Some(password)
        },
        version: field(pairs, "version").parse().ok(),
    })
}

fn db_page_args(id: Option<i64>, version: i64) -> FormPageArgs {
    FormPageArgs {
        title: if id.is_some() {
            "db-form-edit"
        } else {
            "db-form-new"
        },
        active: "monitoring-points",
        form_id: "database-form",
        action: id.map_or_else(
            || "/monitoring-databases/new".into(),
            |i| format!("/monitoring-databases/{i}/edit"),
        ),
        cancel: "/monitoring-points#databases".into(),
        version,
    }
}

/// The form to register an external database.
pub async fn database_new(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = manage_guard(&st, &u, None) {
        return r;
    }
    let fields = db_fields(&u, None, None);
    render(
        StatusCode::OK,
        &db_page_args(None, 0).build(&st, &u, fields, None),
    )
}

/// Registers an external database from the form.
pub async fn database_create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    let fields = db_fields(&u, None, Some(&pairs));
    let res = match db_input(&pairs, false) {
        Ok(i) => points::create_database(&st.platform, &u.p, i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Redirect::to("/monitoring-points#databases").into_response(),
        Err(e) => form_error(&st, &u, e, fields, db_page_args(None, 0)),
    }
}

async fn database(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
) -> Result<tianshu_store::monitoring::DatabaseRow, ServiceError> {
    points::databases(&st.platform, &u.p)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ServiceError::NotFound(format!("database {id}")))
}

/// The form to edit an external database.
pub async fn database_edit(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = manage_guard(&st, &u, None) {
        return r;
    }
    let d = match database(&st, &u, id).await {
        Ok(d) => d,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let fields = db_fields(&u, Some(&d), None);
    render(
        StatusCode::OK,
        &db_page_args(Some(id), d.version).build(&st, &u, fields, None),
    )
}

/// Saves an edited external database (version-checked; a blank password keeps the stored one).
pub async fn database_save(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = manage_guard(&st, &u, Some(&pairs)) {
        return r;
    }
    let d = match database(&st, &u, id).await {
        Ok(d) => d,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let version = field(&pairs, "version").parse().unwrap_or(d.version);
    let fields = db_fields(&u, Some(&d), Some(&pairs));
    let res = match db_input(&pairs, true) {
        Ok(i) => points::update_database(&st.platform, &u.p, id, i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Redirect::to("/monitoring-points#databases").into_response(),
        Err(e) => form_error(&st, &u, e, fields, db_page_args(Some(id), version)),
    }
}
