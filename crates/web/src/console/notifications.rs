//! Console pages for notifications: the review queue and recent messages (NTF-09), one message with its
//! review actions and delivery log, the templates with placeholder-checked editing (NTF-08), and the
//! "notify" draft form and delivery log on a ticket's page.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use tianshu_core::notify::{route, FaultKind, NoticeFacts};
use tianshu_core::policy::TemplateDef;
use tianshu_core::{ComplaintLevel, Permission};
use tianshu_services::notify::{self, recipients, Draft, RecipientSpec, TemplateTexts};
use tianshu_services::ServiceError;
use tianshu_store::incidents::Incident;
use tianshu_store::notify::Message;

use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// Message states, in the order the filter offers them.
const STATES: &[&str] = &[
    "pending_review",
    "queued",
    "sending",
    "sent",
    "failed",
    "cancelled",
];

/// Whether the user may see the notification pages at all.
pub fn can_see(u: &ConsoleUser) -> bool {
    u.p.can(Permission::NotificationDraft) || u.p.can(Permission::NotificationApprove)
}

fn require_any(u: &ConsoleUser, st: &AppState) -> Option<Response> {
    (!can_see(u)).then(|| super::pages::forbidden(u, st, Permission::NotificationDraft))
}

fn translated(u: &ConsoleUser, prefix: &str, s: &str) -> String {
    let key = format!("{prefix}-{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

/// A message state for people.
pub fn state_label(u: &ConsoleUser, s: &str) -> String {
    translated(u, "ntf-state", s)
}

fn template_name(u: &ConsoleUser, st: &AppState, id: &str) -> String {
    let pol = st.platform.policy.current();
    match pol.pack.notifications.template(id) {
        Some(t) if u.t.lang() == "en" => t.name_en.clone(),
        Some(t) => t.name_zh.clone(),
        None => id.to_string(),
    }
}

/// The person part of an actor string (`user:esc-a/token:3` → `esc-a`).
fn person(actor: &str) -> String {
    let head = actor.split('/').next().unwrap_or(actor);
    head.strip_prefix("user:").unwrap_or(head).to_string()
}

/// A waiting time for people: `1 小时 5 分` / `1 h 5 min`.
fn waited(u: &ConsoleUser, secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    let zh = u.t.lang() == "zh-CN";
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(if zh {
            format!("{d} 天")
        } else {
            format!("{d} d")
        });
    }
    if h > 0 {
        parts.push(if zh {
            format!("{h} 小时")
        } else {
            format!("{h} h")
        });
    }
    if d == 0 {
        parts.push(if zh {
            format!("{m} 分")
        } else {
            format!("{m} min")
        });
    }
    parts.join(" ")
}

/// Ticket number and link of a message's subject, when it is a ticket the user can see.
async fn ticket_of(st: &AppState, u: &ConsoleUser, m: &Message) -> Option<(i64, String)> {
    if m.subject_kind != "incident" {
        return None;
    }
    let id: i64 = m.subject_id.parse().ok()?;
    match tianshu_services::incidents::get(&st.platform, &u.p, id).await {
        Ok(v) => Some((id, v.incident.number)),
        Err(_) => Some((id, format!("#{id}"))),
    }
}

struct QueueRow {
    id: i64,
    template: String,
    ticket: Option<(i64, String)>,
    drafter: String,
    created: String,
    waiting: String,
}

struct MessageRow {
    id: i64,
    template: String,
    ticket: Option<(i64, String)>,
    state: String,
    state_key: String,
    drafter: String,
    created: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct ListPage {
    l: Layout,
    queue: Vec<QueueRow>,
    rows: Vec<MessageRow>,
    state: String,
    /// (state, label)
    states: Vec<(String, String)>,
    next_before: Option<i64>,
}

/// Query of the notification list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    before: Option<i64>,
}

/// The review queue (NTF-09) and recent messages with a state filter.
pub async fn list(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Some(r) = require_any(&u, &st) {
        return r;
    }
    let state = q.state.clone().filter(|s| !s.is_empty());
    let now = st.platform.now_us();
    let pending = match notify::list(&st.platform, &u.p, None, 200, Some("pending_review")).await {
        Ok(v) => v,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let mut queue = Vec::new();
    // Oldest first: the message that has waited longest is reviewed first.
    for m in pending.into_iter().rev() {
        queue.push(QueueRow {
            id: m.id,
            template: template_name(&u, &st, &m.template),
            ticket: ticket_of(&st, &u, &m).await,
            drafter: m.drafted_by.as_deref().map(person).unwrap_or_default(),
            created: local(&st, m.created_at),
            waiting: waited(&u, (now - m.created_at) / 1_000_000),
        });
    }
    let limit = 50;
    let recent = match notify::list(&st.platform, &u.p, q.before, limit, state.as_deref()).await {
        Ok(v) => v,
        Err(ServiceError::Invalid { .. }) => {
            // An unknown state in the URL: show everything rather than an error page.
            notify::list(&st.platform, &u.p, q.before, limit, None)
                .await
                .unwrap_or_default()
        }
        Err(e) => return service_error_page(&u, &st, e),
    };
    let next_before = (recent.len() as i64 == limit)
        .then(|| recent.last().map(|m| m.id))
        .flatten();
    let mut rows = Vec::new();
    for m in recent {
        rows.push(MessageRow {
            id: m.id,
            template: template_name(&u, &st, &m.template),
            ticket: ticket_of(&st, &u, &m).await,
            state: state_label(&u, &m.state),
            state_key: m.state.clone(),
            drafter: m
                .drafted_by
                .as_deref()
                .map(person)
                .unwrap_or_else(|| m.cause.clone()),
            created: local(&st, m.created_at),
        });
    }
    render(
        StatusCode::OK,
        &ListPage {
            l: u.layout(&st, "notifications", "ntf-title-list"),
            queue,
            rows,
            state: state.unwrap_or_default(),
            states: STATES
                .iter()
                .map(|s| (s.to_string(), state_label(&u, s)))
                .collect(),
            next_before,
        },
    )
}

/// One delivery-log row for a page.
pub struct DeliveryRow {
    pub recipient: String,
    pub channel: String,
    pub address: String,
    pub state: String,
    pub state_key: String,
    pub attempts: i64,
    pub last_error: String,
    pub next_attempt: String,
    pub sent: String,
}

fn delivery_rows(st: &AppState, u: &ConsoleUser, ds: &[notify::DeliveryView]) -> Vec<DeliveryRow> {
    ds.iter()
        .map(|d| DeliveryRow {
            recipient: d.recipient_name.clone(),
            channel: d.channel.clone(),
            address: d.address.clone(),
            state: translated(u, "ntf-dstate", &d.state),
            state_key: d.state.clone(),
            attempts: d.attempts,
            last_error: d.last_error.clone().unwrap_or_default(),
            next_attempt: if matches!(d.state.as_str(), "pending" | "held") {
                local(st, d.next_attempt_at)
            } else {
                String::new()
            },
            sent: d.sent_at.map(|t| local(st, t)).unwrap_or_default(),
        })
        .collect()
}

/// One distinct text the message's deliveries carry: what its recipients were (or will be) sent.
pub struct SentText {
    /// `zh-CN` or `en` when the deliveries carry more than one text (one per language), else empty.
    pub lang: String,
    pub lang_label: String,
    pub subject: String,
    pub body: String,
    /// "sent to N people: names".
    pub to: String,
}

fn han_chars(s: &str) -> usize {
    s.chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count()
}

/// The texts stored on the deliveries, one per distinct subject and body, in the order first delivered.
/// Expansion renders a message once per language (worker: one rendering per `zh`/`en`), so distinct texts
/// are its languages; the text with the most Han characters is the Chinese one (both share the context
/// values, only the template's own words differ), any other the English one.
fn sent_texts(u: &ConsoleUser, ds: &[notify::DeliveryView]) -> Vec<SentText> {
    let mut groups: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = Vec::new();
    for d in ds
        .iter()
        .filter(|d| !d.subject.is_empty() || !d.body.is_empty())
    {
        let i = match groups
            .iter()
            .position(|g| g.0 == d.subject && g.1 == d.body)
        {
            Some(i) => i,
            None => {
                groups.push((&d.subject, &d.body, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        if !g.2.contains(&d.recipient.as_str()) {
            g.2.push(&d.recipient);
            g.3.push(&d.recipient_name);
        }
    }
    let most_han = groups
        .iter()
        .map(|g| han_chars(g.0) + han_chars(g.1))
        .max()
        .unwrap_or(0);
    let several = groups.len() > 1;
    let zh = u.t.lang() == "zh-CN";
    const SHOWN: usize = 8;
    groups
        .iter()
        .map(|(subject, body, _, names)| {
            let lang = match (several, han_chars(subject) + han_chars(body) == most_han) {
                (false, _) => "",
                (true, true) => "zh-CN",
                (true, false) => "en",
            };
            let mut list = names
                .iter()
                .take(SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(if zh { "、" } else { ", " });
            if names.len() > SHOWN {
                list.push('…');
            }
            SentText {
                lang: lang.to_string(),
                lang_label: match lang {
                    "zh-CN" => u.t.t("ntf-text-lang-zh"),
                    "en" => u.t.t("ntf-text-lang-en"),
                    _ => String::new(),
                },
                subject: subject.to_string(),
                body: body.to_string(),
                to: u.t.t2(
                    "ntf-text-sent-to",
                    &[("count", names.len().to_string()), ("names", list)],
                ),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "notification.html")]
struct DetailPage {
    l: Layout,
    flash: Option<String>,
    error: Option<String>,
    /// The field the error names, if any (`reason`, `note` …).
    error_field: String,
    id: i64,
    version: i64,
    template: String,
    template_id: String,
    state: String,
    state_key: String,
    ticket: Option<(i64, String)>,
    drafter: String,
    created: String,
    /// (reviewer, outcome label, note, review time)
    review: Option<(String, String, String, String)>,
    last_error: String,
    /// The current template's rendering in the viewer's language: shown only before expansion.
    subject: String,
    body: String,
    render_error: String,
    /// The texts the deliveries carry (once expanded): what was actually sent.
    sent: Vec<SentText>,
    /// Classes, lists, roles, users, addresses named on the message.
    spec: Vec<(String, String)>,
    /// (name, masked mobile, masked e-mail)
    people: Vec<(String, String, String)>,
    /// (what, why) of names that resolve to nobody.
    unresolved: Vec<(String, String)>,
    channels: String,
    can_approve: bool,
    is_drafter: bool,
    can_reject: bool,
    can_cancel: bool,
    can_retry: bool,
    deliveries: Vec<DeliveryRow>,
}

/// Query of the message page.
#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    drafted: Option<String>,
    done: Option<String>,
}

async fn detail_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    flash: Option<String>,
    error: Option<(String, String)>,
) -> Result<DetailPage, Response> {
    let v = notify::get(&st.platform, &u.p, id)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let m = &v.message;
    let pol = st.platform.policy.current();
    let ntf = &pol.pack.notifications;
    let (subject, body, render_error, channels) =
        match notify::template(&st.platform, &m.template).await {
            Ok(t) => {
                let ctx: Value = serde_json::from_str(&m.context).unwrap_or(Value::Null);
                let channels = m
                    .channels
                    .as_deref()
                    .and_then(|c| serde_json::from_str::<Vec<String>>(c).ok())
                    .unwrap_or_else(|| {
                        t.def
                            .channels
                            .iter()
                            .map(|c| c.as_str().to_string())
                            .collect()
                    });
                match notify::render_template(&t.def, u.t.lang(), &ctx) {
                    Ok(r) => (r.subject, r.body, String::new(), channels.join(", ")),
                    Err(e) => (
                        String::new(),
                        String::new(),
                        e.localized(u.t.lang()),
                        channels.join(", "),
                    ),
                }
            }
            Err(e) => (
                String::new(),
                String::new(),
                e.localized(u.t.lang()),
                String::new(),
            ),
        };
    let spec: RecipientSpec = serde_json::from_str(&m.recipients).unwrap_or_default();
    let mut spec_rows = Vec::new();
    for c in &spec.classes {
        let name = ntf
            .class(c)
            .map(|k| {
                if u.t.lang() == "en" {
                    k.name_en.clone()
                } else {
                    k.name_zh.clone()
                }
            })
            .unwrap_or_else(|| c.clone());
        spec_rows.push((u.t.t("ntf-r-class"), name));
    }
    for (label, items) in [
        ("ntf-r-list", &spec.lists),
        ("ntf-r-role", &spec.roles),
        ("ntf-r-user", &spec.users),
        ("ntf-r-address", &spec.addresses),
    ] {
        for i in items {
            let shown = match label {
                "ntf-r-role" => pol
                    .pack
                    .role(i)
                    .map(|r| {
                        if u.t.lang() == "en" {
                            r.name_en.clone()
                        } else {
                            r.name_zh.clone()
                        }
                    })
                    .unwrap_or_else(|| i.clone()),
                "ntf-r-address" => match i.split_once(':') {
                    Some((c, a)) => format!("{c}:{}", notify::mask_address(c, a)),
                    None => i.clone(),
                },
                _ => i.clone(),
            };
            spec_rows.push((u.t.t(label), shown));
        }
    }
    let (people, unresolved) = match recipients::resolve(&st.platform, ntf, &spec).await {
        Ok((targets, missing)) => (
            targets
                .into_iter()
                .map(|t| match t.fixed {
                    Some((c, a)) => (
                        format!("{c}:{}", notify::mask_address(&c, &a)),
                        String::new(),
                        String::new(),
                    ),
                    None => (
                        t.name,
                        t.mobile
                            .map(|a| notify::mask_address("sms", &a))
                            .unwrap_or_default(),
                        t.email
                            .map(|a| notify::mask_address("email", &a))
                            .unwrap_or_default(),
                    ),
                })
                .collect(),
            missing.into_iter().map(|x| (x.what, x.why)).collect(),
        ),
        Err(e) => (Vec::new(), vec![("-".into(), e.localized(u.t.lang()))]),
    };
    let drafter = m.drafted_by.as_deref().map(person).unwrap_or_default();
    let is_drafter = !drafter.is_empty() && drafter == u.p.username;
    let approver = u.p.can(Permission::NotificationApprove)
        && u.p.roles.iter().any(|r| r == &ntf.review.approver_role);
    let pending = m.state == "pending_review";
    let review = m.reviewed_by.as_ref().map(|r| {
        (
            person(r),
            translated(
                u,
                "ntf-outcome",
                m.review_outcome.as_deref().unwrap_or_default(),
            ),
            m.review_note.clone().unwrap_or_default(),
            format!(
                "{} ({})",
                m.reviewed_at.map(|t| local(st, t)).unwrap_or_default(),
                v.review_seconds.map(|s| waited(u, s)).unwrap_or_default()
            ),
        )
    });
    let (error, error_field) = match error {
        Some((msg, f)) => (Some(msg), f),
        None => (None, String::new()),
    };
    Ok(DetailPage {
        l: u.layout(st, "notifications", "ntf-title-detail"),
        flash,
        error,
        error_field,
        id: m.id,
        version: m.version,
        template: template_name(u, st, &m.template),
        template_id: m.template.clone(),
        state: state_label(u, &m.state),
        state_key: m.state.clone(),
        ticket: ticket_of(st, u, m).await,
        drafter,
        created: local(st, m.created_at),
        review,
        last_error: m.last_error.clone().unwrap_or_default(),
        subject,
        body,
        render_error,
        spec: spec_rows,
        people,
        unresolved,
        channels,
        can_approve: pending && approver && !is_drafter,
        is_drafter: pending && approver && is_drafter,
        can_reject: pending && u.p.can(Permission::NotificationApprove),
        can_cancel: matches!(m.state.as_str(), "pending_review" | "queued")
            && u.p.can(Permission::NotificationDraft),
        can_retry: m.state == "failed" && u.p.can(Permission::NotificationApprove),
        sent: sent_texts(u, &v.deliveries),
        deliveries: delivery_rows(st, u, &v.deliveries),
    })
}

/// One message: rendered text, recipients, review actions and delivery log.
pub async fn detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let flash = if q.drafted.is_some() {
        Some(u.t.t("ntf-drafted-flash"))
    } else {
        q.done.map(|a| translated(&u, "ntf-done", &a))
    };
    match detail_page(&st, &u, id, flash, None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// approve / reject / cancel / retry from the message page (the service enforces NTF-09).
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
    let pl = &st.platform;
    let r = match action.as_str() {
        "approve" => notify::approve(pl, &u.p, id, version, note).await,
        "reject" => notify::reject(pl, &u.p, id, version, note.unwrap_or_default()).await,
        "cancel" => notify::cancel(pl, &u.p, id, version).await,
        "retry" => notify::retry(pl, &u.p, id, version).await,
        _ => Err(ServiceError::invalid_zh(
            "action",
            "expected approve, reject, cancel or retry",
            "操作应为 approve、reject、cancel 或 retry",
        )),
    };
    match r {
        Ok(_) => Redirect::to(&format!("/notifications/{id}?done={action}")).into_response(),
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
            let f = e.field().unwrap_or_default().to_string();
            let msg = match &e {
                ServiceError::Stale(_) => u.t.t("conflict"),
                ServiceError::Transition { code, message, .. } => {
                    let t = translated(&u, "ntf-refused", code);
                    if t == *code {
                        message.clone()
                    } else {
                        t
                    }
                }
                other if !f.is_empty() => format!("{f}: {}", other.localized(u.t.lang())),
                other => other.localized(u.t.lang()),
            };
            match detail_page(&st, &u, id, None, Some((msg, f))).await {
                Ok(p) => render(status, &p),
                Err(r) => r,
            }
        }
    }
}

// ---- templates ----

struct TemplateRow {
    id: String,
    name: String,
    rule: String,
    channels: String,
    review: bool,
    version: i64,
    updated_by: String,
}

#[derive(Template)]
#[template(path = "notify_templates.html")]
struct TemplatesPage {
    l: Layout,
    rows: Vec<TemplateRow>,
    can_edit: bool,
}

/// Every template in force.
pub async fn templates(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = require_any(&u, &st) {
        return r;
    }
    let ts = match notify::templates(&st.platform, &u.p).await {
        Ok(t) => t,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let rows = ts
        .into_iter()
        .map(|t| TemplateRow {
            name: if u.t.lang() == "en" {
                t.def.name_en.clone()
            } else {
                t.def.name_zh.clone()
            },
            id: t.def.id,
            rule: t.def.rule,
            channels: t
                .def
                .channels
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            review: t.review,
            version: t.version,
            updated_by: t.updated_by.as_deref().map(person).unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &TemplatesPage {
            l: u.layout(&st, "notifications", "ntf-title-templates"),
            rows,
            can_edit: u.p.can(Permission::NotificationApprove),
        },
    )
}

struct TextArea {
    name: &'static str,
    label: String,
    value: String,
    rows: u8,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "notify_template.html")]
struct TemplatePage {
    l: Layout,
    flash: Option<String>,
    id: String,
    name: String,
    rule: String,
    variables: String,
    required: String,
    version: i64,
    fields: Vec<TextArea>,
    has_errors: bool,
    can_edit: bool,
}

/// Query of the template page.
#[derive(Debug, Deserialize)]
pub struct TemplateQuery {
    saved: Option<String>,
}

const TEXTS: &[(&str, u8)] = &[("subject_zh", 1), ("zh", 5), ("subject_en", 1), ("en", 5)];

fn template_page(
    st: &AppState,
    u: &ConsoleUser,
    t: &notify::EffectiveTemplate,
    values: Option<&[(String, String)]>,
    errors: &HashMap<String, String>,
    flash: Option<String>,
) -> TemplatePage {
    let current = |n: &str| match n {
        "subject_zh" => t.def.subject_zh.clone(),
        "subject_en" => t.def.subject_en.clone(),
        "zh" => t.def.zh.clone(),
        _ => t.def.en.clone(),
    };
    TemplatePage {
        l: u.layout(st, "notifications", "ntf-title-template"),
        flash,
        id: t.def.id.clone(),
        name: if u.t.lang() == "en" {
            t.def.name_en.clone()
        } else {
            t.def.name_zh.clone()
        },
        rule: t.def.rule.clone(),
        variables: t.def.variables.join(", "),
        required: t.def.required.join(", "),
        version: t.version,
        fields: TEXTS
            .iter()
            .map(|(name, rows)| TextArea {
                name,
                label: u.t.t(&format!("ntf-tpl-{name}")),
                value: values
                    .map(|v| field(v, name))
                    .unwrap_or_else(|| current(name)),
                rows: *rows,
                error: errors.get(*name).cloned(),
            })
            .collect(),
        has_errors: !errors.is_empty(),
        can_edit: u.p.can(Permission::NotificationApprove),
    }
}

/// One template with its edit form.
pub async fn template_form(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<String>,
    Query(q): Query<TemplateQuery>,
) -> Response {
    if let Some(r) = require_any(&u, &st) {
        return r;
    }
    let t = match notify::template(&st.platform, &id).await {
        Ok(t) => t,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let flash = q.saved.map(|_| u.t.t("ntf-tpl-saved"));
    render(
        StatusCode::OK,
        &template_page(&st, &u, &t, None, &HashMap::new(), flash),
    )
}

/// Saves a template's texts; an unknown placeholder is shown next to its field and nothing is saved.
pub async fn template_save(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = u.require(&st, Permission::NotificationApprove) {
        return r;
    }
    let t = match notify::template(&st.platform, &id).await {
        Ok(t) => t,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let texts = TemplateTexts {
        subject_zh: field(&pairs, "subject_zh"),
        subject_en: field(&pairs, "subject_en"),
        zh: field(&pairs, "zh"),
        en: field(&pairs, "en"),
        version: field(&pairs, "version").parse().unwrap_or(-1),
    };
    match notify::save_template(&st.platform, &u.p, &id, texts).await {
        Ok(_) => Redirect::to(&format!("/notifications/templates/{id}?saved=1")).into_response(),
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::Stale(_))) => {
            let mut errors = HashMap::new();
            let status = if matches!(e, ServiceError::Stale(_)) {
                errors.insert("subject_zh".to_string(), u.t.t("conflict"));
                StatusCode::PRECONDITION_FAILED
            } else {
                let f = e.field().unwrap_or("zh").to_string();
                errors.insert(f.clone(), format!("{f}: {}", e.localized(u.t.lang())));
                StatusCode::UNPROCESSABLE_ENTITY
            };
            render(
                status,
                &template_page(&st, &u, &t, Some(&pairs), &errors, None),
            )
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}

// ---- the "notify" section of a ticket's page ----

/// One input of the draft form.
pub struct ContextField {
    pub name: String,
    pub label: String,
    pub value: String,
    pub required: bool,
    pub error: Option<String>,
}

/// A checkbox.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// One message the ticket caused, with its delivery log.
pub struct IncidentMessage {
    pub id: i64,
    pub template: String,
    pub state: String,
    pub state_key: String,
    pub created: String,
    pub deliveries: Vec<DeliveryRow>,
}

/// The ticket page's notify form (when the user may draft) and the ticket's delivery log.
pub struct IncidentNotify {
    pub can_draft: bool,
    /// (id, name) of the templates offered (the NTF-09 reviewed messages: notice, follow-up, recovery, defect).
    pub templates: Vec<(String, String)>,
    pub template: String,
    pub locale: String,
    pub fields: Vec<ContextField>,
    pub classes: Vec<Choice>,
    pub lists: Vec<Choice>,
    pub roles: Vec<Choice>,
    pub channels: Vec<Choice>,
    pub error: Option<String>,
    /// (subject, body) of a preview.
    pub preview: Option<(String, String)>,
    pub messages: Vec<IncidentMessage>,
}

/// What the user typed in the notify form (for re-display after a preview or an error).
#[derive(Default)]
pub struct NotifyInput {
    pub pairs: Vec<(String, String)>,
    pub errors: HashMap<String, String>,
    pub error: Option<String>,
    pub preview: Option<(String, String)>,
}

fn offered_templates(st: &AppState) -> Vec<String> {
    st.platform
        .policy
        .current()
        .pack
        .notifications
        .review
        .templates
        .clone()
}

/// Placeholder values prefilled from the ticket's facts.
async fn prefill(st: &AppState, u: &ConsoleUser, i: &Incident) -> HashMap<&'static str, String> {
    let zh = u.t.lang() == "zh-CN";
    let mut m = HashMap::new();
    let systems = st.platform.store.systems().await.unwrap_or_default();
    if let Some(s) = i
        .system_id
        .and_then(|id| systems.iter().find(|s| s.id == id))
    {
        m.insert("system", s.name.clone());
    }
    let at = local(st, i.created_at);
    m.insert("fault_time", at.get(..16).unwrap_or(&at).to_string());
    m.insert("symptom", i.symptom.clone());
    m.insert("cause", u.t.t("ntf-prefill-cause"));
    let facts: Map<String, Value> = serde_json::from_str(&i.facts).unwrap_or_default();
    let orgs = st.platform.store.orgs().await.unwrap_or_default();
    let org_name = |id: i64| orgs.iter().find(|o| o.id == id).map(|o| o.name.clone());
    let impact = match facts.get("affected_users").and_then(Value::as_u64) {
        Some(n) if zh => format!("约{n}户客户受影响"),
        Some(n) => format!("about {n} customers affected"),
        None => org_name(i.org_id).unwrap_or_default(),
    };
    m.insert("impact_scope", impact);
    let owner = i
        .owning_org_id
        .and_then(org_name)
        .or_else(|| org_name(u.p.org_id))
        .unwrap_or_default();
    m.insert("owner_org", owner);
    let pol = st.platform.policy.current();
    let role =
        u.p.roles
            .first()
            .and_then(|r| pol.pack.role(r))
            .map(|r| {
                if zh {
                    r.name_zh.clone()
                } else {
                    r.name_en.clone()
                }
            })
            .unwrap_or_default();
    m.insert("owner_role", role.clone());
    m.insert("follow_up_owner_role", role);
    m
}

/// The routing facts of a ticket for `template` (NTF-03 business vs NTF-04 system, NTF-05, NTF-10).
async fn facts_for(st: &AppState, i: &Incident, t: &TemplateDef) -> NoticeFacts {
    let systems = st.platform.store.systems().await.unwrap_or_default();
    let orgs = st.platform.store.orgs().await.unwrap_or_default();
    let system = i
        .system_id
        .and_then(|id| systems.iter().find(|s| s.id == id))
        .map(|s| s.key.clone());
    NoticeFacts {
        kind: Some(if t.rule == "NTF-03" {
            FaultKind::Business
        } else {
            FaultKind::System
        }),
        system,
        cs_level: i
            .cs_level
            .and_then(|n| format!("CS{n}").parse::<ComplaintLevel>().ok()),
        regions: i
            .region_id
            .and_then(|r| orgs.iter().find(|o| o.id == r))
            .map(|o| vec![o.key.clone()])
            .unwrap_or_default(),
    }
}

/// Builds the ticket page's notify section.
pub async fn incident_section(
    st: &AppState,
    u: &ConsoleUser,
    i: &Incident,
    chosen: Option<&str>,
    input: Option<NotifyInput>,
) -> Option<IncidentNotify> {
    let can_draft = u.p.can(Permission::NotificationDraft);
    let messages = match notify::of_incident(&st.platform, &u.p, i.id).await {
        Ok(ms) => ms
            .into_iter()
            .map(|v| IncidentMessage {
                id: v.message.id,
                template: template_name(u, st, &v.message.template),
                state: state_label(u, &v.message.state),
                state_key: v.message.state.clone(),
                created: local(st, v.message.created_at),
                deliveries: delivery_rows(st, u, &v.deliveries),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if !can_draft && messages.is_empty() {
        return None;
    }
    let offered = offered_templates(st);
    let input = input.unwrap_or_default();
    let typed = |n: &str| {
        input
            .pairs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let template = typed("template")
        .or_else(|| chosen.map(str::to_string))
        .filter(|t| offered.contains(t))
        .or_else(|| offered.first().cloned())
        .unwrap_or_default();
    let mut section = IncidentNotify {
        can_draft,
        templates: offered
            .iter()
            .map(|id| (id.clone(), template_name(u, st, id)))
            .collect(),
        template: template.clone(),
        locale: typed("locale").unwrap_or_else(|| "zh-CN".into()),
        fields: Vec::new(),
        classes: Vec::new(),
        lists: Vec::new(),
        roles: Vec::new(),
        channels: Vec::new(),
        error: input.error.clone(),
        preview: input.preview.clone(),
        messages,
    };
    if !can_draft {
        return Some(section);
    }
    let Ok(t) = notify::template(&st.platform, &template).await else {
        return Some(section);
    };
    let submitted = !input.pairs.is_empty();
    let pre = prefill(st, u, i).await;
    section.fields = t
        .def
        .variables
        .iter()
        .map(|v| ContextField {
            name: v.clone(),
            label: translated(u, "ntf-var", v),
            value: typed(&format!("ctx_{v}"))
                .or_else(|| pre.get(v.as_str()).cloned())
                .unwrap_or_default(),
            required: t.def.required.contains(v),
            error: input.errors.get(v).cloned(),
        })
        .collect();
    let pol = st.platform.policy.current();
    let ntf = &pol.pack.notifications;
    let rt = route(ntf, &facts_for(st, i, &t.def).await);
    let ticked = |kind: &str, v: &str, default: bool| {
        if submitted {
            input.pairs.iter().any(|(k, x)| k == kind && x == v)
        } else {
            default
        }
    };
    let class_lists: Vec<String> = ntf.classes.iter().map(|c| c.list.clone()).collect();
    section.classes = ntf
        .classes
        .iter()
        .map(|c| Choice {
            checked: ticked("class", &c.key, rt.classes.contains(&c.key)),
            value: c.key.clone(),
            label: if u.t.lang() == "en" {
                c.name_en.clone()
            } else {
                c.name_zh.clone()
            },
        })
        .collect();
    section.lists = st
        .platform
        .store
        .recipient_lists()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !class_lists.contains(&l.key))
        .map(|l| Choice {
            checked: ticked("list", &l.key, rt.lists.contains(&l.key)),
            label: l.name,
            value: l.key,
        })
        .collect();
    section.roles = pol
        .pack
        .roles
        .iter()
        .map(|r| Choice {
            checked: ticked("role", &r.key, false),
            value: r.key.clone(),
            label: if u.t.lang() == "en" {
                r.name_en.clone()
            } else {
                r.name_zh.clone()
            },
        })
        .collect();
    section.channels = ["sms", "email", "im"]
        .iter()
        .map(|c| Choice {
            checked: ticked(
                "channel",
                c,
                t.def.channels.iter().any(|x| x.as_str() == *c),
            ),
            value: c.to_string(),
            label: c.to_string(),
        })
        .collect();
    Some(section)
}

/// Previews or drafts a message from a ticket's page; errors are shown next to the field they name.
pub async fn incident_notify(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = u.require(&st, Permission::NotificationDraft) {
        return r;
    }
    let template = field(&pairs, "template");
    let locale = field(&pairs, "locale");
    let locale = if locale.is_empty() {
        "zh-CN".to_string()
    } else {
        locale
    };
    let t = notify::template(&st.platform, &template).await.ok();
    let mut ctx = Map::new();
    if let Some(t) = &t {
        for v in &t.def.variables {
            let val = field(&pairs, &format!("ctx_{v}"));
            if !val.trim().is_empty() {
                ctx.insert(v.clone(), Value::String(val.trim().to_string()));
            }
        }
    }
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let spec = RecipientSpec {
        classes: all("class"),
        lists: all("list"),
        roles: all("role"),
        ..Default::default()
    };
    let channels = all("channel");
    let mut input = NotifyInput {
        pairs: pairs.clone(),
        ..Default::default()
    };
    let op = field(&pairs, "op");
    let result = if op == "preview" {
        notify::preview(
            &st.platform,
            &u.p,
            &template,
            &locale,
            &Value::Object(ctx.clone()),
        )
        .await
        .map(|r| {
            input.preview = Some((r.subject, r.body));
        })
    } else {
        let key = field(&pairs, "idempotency_key");
        let d = Draft {
            template: template.clone(),
            locale: Some(locale.clone()),
            context: Value::Object(ctx),
            recipients: Some(spec),
            route: None,
            incident_id: Some(id),
            channels: Some(channels).filter(|c| !c.is_empty()),
            idempotency_key: Some(key).filter(|k| !k.is_empty()),
        };
        match notify::draft(&st.platform, &u.p, d).await {
            Ok(v) => {
                return Redirect::to(&format!("/notifications/{}?drafted=1", v.message.id))
                    .into_response()
            }
            Err(e) => Err(e),
        }
    };
    let status = match result {
        Ok(()) => StatusCode::OK,
        Err(ServiceError::Forbidden(p)) => return super::pages::forbidden(&u, &st, p),
        Err(e @ ServiceError::NotFound(_)) => return service_error_page(&u, &st, e),
        Err(e) => {
            let f = e.field().unwrap_or_default().to_string();
            let msg = e.localized(u.t.lang());
            let shown = if f.is_empty() {
                msg
            } else {
                format!("{f}: {msg}")
            };
            if let Some(v) = f.strip_prefix("context.") {
                input.errors.insert(v.to_string(), shown.clone());
            }
            input.error = Some(shown);
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    super::incidents::render_detail(&st, &u, id, status, Some(input)).await
}
