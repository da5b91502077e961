//! Notifications (NTF-01..NTF-10, NTF-15): templates, recipient lists, drafting and review (NTF-09), and the
//! delivery worker over the durable outbox.

pub mod channels;
pub mod follow_up;
pub mod recipients;
pub mod worker;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::notify::{check_text, render, route, FaultKind, NoticeFacts, TemplateError};
use tianshu_core::policy::TemplateDef;
use tianshu_core::{ComplaintLevel, Permission};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::notify::{self as st, Delivery, Message, MessageUpdate, TemplateOverride};
use tianshu_store::timers::{insert_event, insert_outbox, NewEvent, NewOutbox};

use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

pub use recipients::{OnDutyRecipient, RecipientSpec};

/// The subject kind of messages drafted without a ticket.
pub const ADHOC_KIND: &str = "notification";

/// The minijinja environment for gateway URL / body templates (strict: a typo is an error, not an empty value).
pub fn gateway_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// A template as in force: the pack's definition with an operator's texts, if any.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveTemplate {
    #[serde(flatten)]
    pub def: TemplateDef,
    /// Whether messages wait for review (NTF-09).
    pub review: bool,
    /// Version of the operator override (0 = the pack's text).
    pub version: i64,
    pub updated_by: Option<String>,
}

fn apply_override(
    def: &TemplateDef,
    o: Option<TemplateOverride>,
) -> (TemplateDef, i64, Option<String>) {
    let mut d = def.clone();
    match o {
        Some(o) => {
            d.subject_zh = o.subject_zh;
            d.subject_en = o.subject_en;
            d.zh = o.zh;
            d.en = o.en;
            (d, o.version, Some(o.updated_by))
        }
        None => (d, 0, None),
    }
}

/// The template `id` in force.
pub async fn template(p: &Platform, id: &str) -> ServiceResult<EffectiveTemplate> {
    let pol = p.policy.current();
    let ntf = &pol.pack.notifications;
    let def = ntf
        .template(id)
        .ok_or_else(|| ServiceError::NotFound(format!("template {id}")))?;
    let (def, version, updated_by) = apply_override(def, p.store.template_override(id).await?);
    Ok(EffectiveTemplate {
        review: ntf.needs_review(id),
        def,
        version,
        updated_by,
    })
}

/// Every template in force.
pub async fn templates(p: &Platform, actor: &Principal) -> ServiceResult<Vec<EffectiveTemplate>> {
    require_any(actor)?;
    let pol = p.policy.current();
    let overrides = p.store.template_overrides().await?;
    Ok(pol
        .pack
        .notifications
        .templates
        .iter()
        .map(|def| {
            let o = overrides.iter().find(|o| o.id == def.id).cloned();
            let (def, version, updated_by) = apply_override(def, o);
            EffectiveTemplate {
                review: pol.pack.notifications.needs_review(&def.id),
                def,
                version,
                updated_by,
            }
        })
        .collect())
}

fn require_any(actor: &Principal) -> ServiceResult<()> {
    if actor.can(Permission::NotificationDraft) || actor.can(Permission::NotificationApprove) {
        Ok(())
    } else {
        actor.require(Permission::NotificationDraft)
    }
}

/// New texts for a template.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateTexts {
    pub subject_zh: String,
    pub subject_en: String,
    pub zh: String,
    pub en: String,
    /// The version read (0 when the pack's text was shown).
    pub version: i64,
}

/// Saves an operator's texts for template `id`; a text with an undeclared placeholder is refused (NTF-08).
pub async fn save_template(
    p: &Platform,
    actor: &Principal,
    id: &str,
    t: TemplateTexts,
) -> ServiceResult<EffectiveTemplate> {
    actor.require(Permission::NotificationApprove)?;
    let current = template(p, id).await?;
    for (field, text) in [
        ("subject_zh", &t.subject_zh),
        ("subject_en", &t.subject_en),
        ("zh", &t.zh),
        ("en", &t.en),
    ] {
        if text.trim().is_empty() {
            return Err(ServiceError::invalid_zh(
                field,
                "must not be empty",
                "不能为空",
            ));
        }
        if text.len() > 8000 {
            return Err(ServiceError::invalid_zh(
                field,
                "at most 8000 bytes",
                "最多 8000 字节",
            ));
        }
        check_text(text, &current.def.variables)
            .map_err(|e| ServiceError::invalid_zh(field, e.to_string(), template_error_zh(&e)))?;
    }
    let now = p.now_us();
    let row = TemplateOverride {
        id: id.to_string(),
        subject_zh: t.subject_zh,
        subject_en: t.subject_en,
        zh: t.zh,
        en: t.en,
        version: 0,
        updated_by: actor.actor(),
        updated_at: now,
    };
    let before = json!({"zh": current.def.zh, "en": current.def.en, "version": current.version});
    let actor_s = actor.actor();
    let expected = t.version;
    p.store
        .write(move |c| {
            Box::pin(async move {
                let saved = st::save_template_override(c, &row, expected).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "notification.template.save".into(),
                        object_type: "notification_template".into(),
                        object_id: saved.id.clone(),
                        before: Some(before),
                        after: Some(
                            json!({"zh": saved.zh, "en": saved.en, "version": saved.version}),
                        ),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    template(p, id).await
}

fn template_error_zh(e: &TemplateError) -> String {
    match e {
        TemplateError::Syntax(m) => format!("模板语法错误:{m}"),
        TemplateError::Unknown(v) => format!("未声明的占位符:{}", v.join("、")),
        TemplateError::Missing(v) => format!("占位符缺少取值:{}", v.join("、")),
        TemplateError::Render(m) => format!("无法生成:{m}"),
    }
}

/// A rendered preview.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

fn lang(locale: &str) -> &'static str {
    if locale.starts_with("en") {
        "en"
    } else {
        "zh"
    }
}

/// Renders a template in `locale` with `context`; a missing value names `context.<placeholder>`.
pub fn render_template(
    def: &TemplateDef,
    locale: &str,
    context: &Value,
) -> ServiceResult<Rendered> {
    let (subject, body) = match lang(locale) {
        "en" => (&def.subject_en, &def.en),
        _ => (&def.subject_zh, &def.zh),
    };
    let r = |text: &str| {
        render(text, context, &def.required).map_err(|e| {
            let field = match &e {
                TemplateError::Missing(v) => {
                    format!("context.{}", v.first().cloned().unwrap_or_default())
                }
                _ => "template".to_string(),
            };
            ServiceError::invalid_zh(field, e.to_string(), template_error_zh(&e))
        })
    };
    Ok(Rendered {
        subject: r(subject)?,
        body: r(body)?,
    })
}

/// Renders template `id` with `context` in `locale` without sending anything.
pub async fn preview(
    p: &Platform,
    actor: &Principal,
    id: &str,
    locale: &str,
    context: &Value,
) -> ServiceResult<Rendered> {
    require_any(actor)?;
    check_locale(locale)?;
    let t = template(p, id).await?;
    render_template(&t.def, locale, context)
}

fn check_locale(locale: &str) -> ServiceResult<()> {
    if matches!(locale, "zh-CN" | "en") {
        Ok(())
    } else {
        Err(ServiceError::invalid_zh(
            "locale",
            "expected zh-CN or en",
            "应为 zh-CN 或 en",
        ))
    }
}

/// Routing facts for a fault notice (NTF-03..NTF-05, NTF-10).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    /// `business` or `system`.
    pub fault_kind: Option<FaultKind>,
    pub system: Option<String>,
    /// Customer-service complaint level, e.g. `CS3`.
    pub cs_level: Option<String>,
    /// Branch keys involved.
    #[serde(default)]
    pub regions: Vec<String>,
}

/// A message to draft.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Draft {
    pub template: String,
    pub locale: Option<String>,
    pub context: Value,
    pub recipients: Option<RecipientSpec>,
    pub route: Option<RouteInput>,
    pub incident_id: Option<i64>,
    pub channels: Option<Vec<String>>,
    /// Client-chosen key so a retried request does not draft twice.
    pub idempotency_key: Option<String>,
}

fn check_channels(chs: &Option<Vec<String>>) -> ServiceResult<()> {
    if let Some(list) = chs {
        if list.is_empty() {
            return Err(ServiceError::invalid(
                "channels",
                "list at least one channel or leave it out",
            ));
        }
        for (i, c) in list.iter().enumerate() {
            if tianshu_core::policy::Channel::parse(c).is_none() {
                return Err(ServiceError::invalid_zh(
                    format!("channels[{i}]"),
                    format!("'{c}' is not a channel (sms, email, im)"),
                    format!("'{c}' 不是通知渠道(sms、email、im)"),
                ));
            }
        }
    }
    Ok(())
}

/// Applies routing facts: the classes and lists of NTF-03..05 and NTF-10 join the explicit recipients.
pub fn routed(
    p: &Platform,
    spec: Option<RecipientSpec>,
    r: Option<&RouteInput>,
) -> ServiceResult<RecipientSpec> {
    let mut spec = spec.unwrap_or_default();
    if let Some(r) = r {
        let cs_level = match &r.cs_level {
            Some(s) => Some(
                s.parse::<ComplaintLevel>()
                    .map_err(|e| ServiceError::invalid("route.cs_level", e.to_string()))?,
            ),
            None => None,
        };
        let pol = p.policy.current();
        let rt = route(
            &pol.pack.notifications,
            &NoticeFacts {
                kind: r.fault_kind,
                system: r.system.clone(),
                cs_level,
                regions: r.regions.clone(),
            },
        );
        for c in rt.classes {
            if !spec.classes.contains(&c) {
                spec.classes.push(c);
            }
        }
        for l in rt.lists {
            if !spec.lists.contains(&l) {
                spec.lists.push(l);
            }
        }
    }
    Ok(spec)
}

/// A message with its delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: Message,
    /// Seconds the message waited for review (NTF-09 proposed default: reported).
    pub review_seconds: Option<i64>,
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery log row, with the address masked.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    pub recipient: String,
    pub recipient_name: String,
    pub channel: String,
    pub address: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub digest_key: Option<String>,
    pub delivery_key: String,
    /// The subject as rendered for this recipient when the message was expanded (empty for a name that
    /// resolved to nobody); later template edits do not change it.
    pub subject: String,
    /// The body as rendered for this recipient when the message was expanded (what was, or will be, sent).
    pub body: String,
}

/// Masks the middle of a phone number or the local part of an e-mail address (personal data).
pub fn mask_address(channel: &str, a: &str) -> String {
    match channel {
        "email" => match a.split_once('@') {
            Some((l, d)) => format!("{}***@{d}", l.chars().next().unwrap_or('*')),
            None => "***".into(),
        },
        "sms" => {
            let c: Vec<char> = a.chars().collect();
            if c.len() <= 7 {
                "*".repeat(c.len())
            } else {
                format!(
                    "{}****{}",
                    c[..3].iter().collect::<String>(),
                    c[c.len() - 4..].iter().collect::<String>()
                )
            }
        }
        _ => a.to_string(),
    }
}

fn view(m: Message, ds: Vec<Delivery>) -> MessageView {
    let review_seconds = m.reviewed_at.map(|r| (r - m.created_at) / 1_000_000);
    MessageView {
        review_seconds,
        deliveries: ds
            .into_iter()
            .map(|d| DeliveryView {
                address: mask_address(&d.channel, &d.address),
                id: d.id,
                recipient: d.recipient,
                recipient_name: d.recipient_name,
                channel: d.channel,
                state: d.state,
                attempts: d.attempts,
                next_attempt_at: d.next_attempt_at,
                last_error: d.last_error,
                sent_at: d.sent_at,
                digest_key: d.digest_key,
                delivery_key: d.delivery_key,
                subject: d.subject,
                body: d.body,
            })
            .collect(),
        message: m,
    }
}

async fn check_incident_visible(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<()> {
    crate::incidents::get(p, actor, id).await.map(|_| ())
}

/// Drafts a message: `pending_review` when its template needs review (NTF-09), else `queued`.
pub async fn draft(p: &Platform, actor: &Principal, d: Draft) -> ServiceResult<MessageView> {
    actor.require(Permission::NotificationDraft)?;
    let locale = d.locale.clone().unwrap_or_else(|| "zh-CN".into());
    check_locale(&locale)?;
    let t = template(p, &d.template).await.map_err(|_| {
        ServiceError::unknown_ref(
            "template",
            format!("no template '{}'", d.template),
            format!("没有模板 '{}'", d.template),
        )
    })?;
    if !d.context.is_object() {
        return Err(ServiceError::invalid(
            "context",
            "expected an object of placeholder values",
        ));
    }
    // A draft that cannot render is refused now, not discovered by the worker.
    render_template(&t.def, &locale, &d.context)?;
    check_channels(&d.channels)?;
    let spec = routed(p, d.recipients.clone(), d.route.as_ref())?;
    let pol = p.policy.current();
    let role_keys: Vec<String> = pol.pack.roles.iter().map(|r| r.key.clone()).collect();
    recipients::check(
        &p.store,
        &pol.pack.notifications,
        &pol.pack.duty,
        &role_keys,
        &spec,
    )
    .await?;
    if let Some(k) = &d.idempotency_key {
        if k.is_empty() || k.len() > 200 {
            return Err(ServiceError::invalid(
                "idempotency_key",
                "1 to 200 characters",
            ));
        }
    }
    let (kind, sid) = match d.incident_id {
        Some(id) => {
            check_incident_visible(p, actor, id).await?;
            ("incident".to_string(), id.to_string())
        }
        None => (ADHOC_KIND.to_string(), String::new()),
    };
    let state = if t.review { "pending_review" } else { "queued" };
    let now = p.now_us();
    let key = match &d.idempotency_key {
        Some(k) => format!("draft:{}:{k}", actor.username),
        None => format!("draft:{}", crate::secrets::random_token(12)),
    };
    let actor_s = actor.actor();
    let channels = d.channels.clone().map(|c| json!(c));
    let template_id = d.template.clone();
    let context = d.context.clone();
    let id = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let Some(id) = insert_outbox(
                    c,
                    NewOutbox {
                        idempotency_key: key.clone(),
                        subject_kind: kind.clone(),
                        subject_id: sid.clone(),
                        template: template_id.clone(),
                        recipients: serde_json::to_value(&spec).unwrap_or_default(),
                        context,
                        cause: "draft".into(),
                        state: state.into(),
                        created_at: now,
                    },
                )
                .await?
                else {
                    // The same client key again: answer with the message drafted the first time.
                    return st::message_id_by_key(c, &key).await;
                };
                let sid = if sid.is_empty() { id.to_string() } else { sid };
                st::set_message_meta(c, id, &locale, channels.as_ref(), Some(&actor_s)).await?;
                if kind == ADHOC_KIND {
                    st::set_subject(c, id, ADHOC_KIND, &sid).await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s.clone(),
                        action: "notification.draft".into(),
                        object_type: "notification".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"template": template_id, "state": state, "subject": format!("{kind}:{sid}")})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                insert_event(
                    c,
                    NewEvent {
                        subject_kind: kind,
                        subject_id: sid,
                        at: now,
                        kind: "notification.drafted".into(),
                        actor: actor_s,
                        data: json!({"message": id, "template": template_id, "state": state}),
                        timer_id: None,
                    },
                )
                .await?;
                Ok(id)
            })
        })
        .await?;
    get(p, actor, id).await
}

/// A message with its delivery log (addresses masked).
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<MessageView> {
    let m = p
        .store
        .message(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("message {id}")))?;
    match m.subject_id.parse::<i64>() {
        // Seeing a ticket's messages follows seeing the ticket.
        Ok(iid) if m.subject_kind == "incident" => check_incident_visible(p, actor, iid).await?,
        // Messages about anything else are the province's, as in the list.
        _ if !matches!(actor.scope, crate::authz::Scope::Province) => {
            return Err(ServiceError::NotFound(format!("message {id}")))
        }
        _ => {}
    }
    if !(m.subject_kind == "incident" && actor.can(Permission::IncidentRead)) {
        require_any(actor)?;
    }
    let ds = p.store.deliveries_of(id).await?;
    Ok(view(m, ds))
}

/// Messages newest first (cursor = the last id of the previous page).
pub async fn list(
    p: &Platform,
    actor: &Principal,
    before: Option<i64>,
    limit: i64,
    state: Option<&str>,
) -> ServiceResult<Vec<Message>> {
    require_any(actor)?;
    if let Some(s) = state {
        if ![
            "pending_review",
            "queued",
            "sending",
            "sent",
            "failed",
            "cancelled",
        ]
        .contains(&s)
        {
            return Err(ServiceError::invalid(
                "state",
                "expected pending_review, queued, sending, sent, failed or cancelled",
            ));
        }
    }
    // Province staff see every message; branch and vendor staff only those about tickets they can see (the
    // same rule as the ticket's own delivery log).
    let scope = match actor.scope {
        crate::authz::Scope::Province => None,
        crate::authz::Scope::Region(r) => Some((Some(r), None)),
        crate::authz::Scope::Vendor(o) => Some((None, Some(o))),
    };
    Ok(p.store
        .messages_page_scoped(
            before.unwrap_or(i64::MAX),
            limit.clamp(1, 200),
            state,
            None,
            scope,
        )
        .await?)
}

/// Messages caused by one incident, each with its delivery log (the ticket's delivery log).
pub async fn of_incident(
    p: &Platform,
    actor: &Principal,
    incident: i64,
) -> ServiceResult<Vec<MessageView>> {
    check_incident_visible(p, actor, incident).await?;
    let id = incident.to_string();
    let ms = p
        .store
        .messages_page(i64::MAX, 200, None, Some(("incident", &id)))
        .await?;
    let mut out = Vec::new();
    for m in ms {
        let ds = p.store.deliveries_of(m.id).await?;
        out.push(view(m, ds));
    }
    Ok(out)
}

/// Changes to a draft before approval.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DraftEdit {
    pub version: i64,
    pub context: Option<Value>,
    pub recipients: Option<RecipientSpec>,
    pub channels: Option<Vec<String>>,
}

async fn review_step(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    action: &'static str,
    allowed_from: &'static [&'static str],
    update: MessageUpdate,
) -> ServiceResult<MessageView> {
    let now = p.now_us();
    let actor_s = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let m = st::message_in_tx(c, id)
                    .await?
                    .ok_or_else(|| tianshu_store::StoreError::NotFound(format!("message {id}")))?;
                if !allowed_from.contains(&m.state.as_str()) {
                    return Err(tianshu_store::StoreError::Conflict {
                        field: "state".into(),
                        message: format!("cannot {action} a message in state {}", m.state),
                    });
                }
                let before = json!({"state": m.state, "context": serde_json::from_str::<Value>(&m.context).unwrap_or_default(),
                                    "recipients": serde_json::from_str::<Value>(&m.recipients).unwrap_or_default()});
                let saved = st::update_message(c, id, Some(version), update, now).await?;
                let review_seconds = (now - saved.created_at) / 1_000_000;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s.clone(),
                        action: format!("notification.{action}"),
                        object_type: "notification".into(),
                        object_id: id.to_string(),
                        before: Some(before),
                        after: Some(json!({"state": saved.state, "note": saved.review_note, "review_seconds": review_seconds,
                                           "context": serde_json::from_str::<Value>(&saved.context).unwrap_or_default(),
                                           "recipients": serde_json::from_str::<Value>(&saved.recipients).unwrap_or_default()})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                insert_event(
                    c,
                    NewEvent {
                        subject_kind: saved.subject_kind.clone(),
                        subject_id: saved.subject_id.clone(),
                        at: now,
                        kind: format!("notification.{action}"),
                        actor: actor_s,
                        data: json!({"message": id, "template": saved.template, "state": saved.state}),
                        timer_id: None,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    get(p, actor, id).await
}

async fn load(p: &Platform, id: i64) -> ServiceResult<Message> {
    p.store
        .message(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("message {id}")))
}

/// Edits a draft waiting for review (context, recipients, channels); re-checked like a new draft.
pub async fn edit(
    p: &Platform,
    actor: &Principal,
    id: i64,
    e: DraftEdit,
) -> ServiceResult<MessageView> {
    actor.require(Permission::NotificationDraft)?;
    let m = load(p, id).await?;
    let t = template(p, &m.template).await?;
    let context = e
        .context
        .clone()
        .unwrap_or_else(|| serde_json::from_str(&m.context).unwrap_or_default());
    if !context.is_object() {
        return Err(ServiceError::invalid(
            "context",
            "expected an object of placeholder values",
        ));
    }
    render_template(&t.def, &m.locale, &context)?;
    check_channels(&e.channels)?;
    if let Some(spec) = &e.recipients {
        let pol = p.policy.current();
        let role_keys: Vec<String> = pol.pack.roles.iter().map(|r| r.key.clone()).collect();
        recipients::check(
            &p.store,
            &pol.pack.notifications,
            &pol.pack.duty,
            &role_keys,
            spec,
        )
        .await?;
    }
    let update = MessageUpdate {
        context: e.context,
        recipients: e
            .recipients
            .map(|r| serde_json::to_value(r).unwrap_or_default()),
        channels: e.channels.map(|c| Some(json!(c))),
        ..Default::default()
    };
    review_step(p, actor, id, e.version, "edit", &["pending_review"], update).await
}

/// NTF-09: the fault-handling group leader approves a draft (not their own); it is queued for sending.
pub async fn approve(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    note: Option<String>,
) -> ServiceResult<MessageView> {
    actor.require(Permission::NotificationApprove)?;
    let pol = p.policy.current();
    let role = &pol.pack.notifications.review.approver_role;
    if !actor.roles.iter().any(|r| r == role) {
        return Err(ServiceError::Transition {
            code: "not_reviewer",
            message: format!("NTF-09: only a holder of role '{role}' approves notifications"),
            allowed: vec![],
        });
    }
    let m = load(p, id).await?;
    if m.drafted_by.as_deref() == Some(actor.actor().as_str())
        || m.drafted_by.as_deref().is_some_and(|d| same_user(d, actor))
    {
        return Err(ServiceError::Transition {
            code: "four_eyes",
            message: "NTF-09: the drafter cannot approve their own message".into(),
            allowed: vec![],
        });
    }
    // The texts may have changed since drafting (template edits): approve only what renders.
    let t = template(p, &m.template).await?;
    render_template(
        &t.def,
        &m.locale,
        &serde_json::from_str(&m.context).unwrap_or_default(),
    )?;
    let update = MessageUpdate {
        state: Some("queued".into()),
        reviewed_by: Some(actor.actor()),
        reviewed_at: Some(p.now_us()),
        review_outcome: Some("approved".into()),
        review_note: note,
        ..Default::default()
    };
    review_step(
        p,
        actor,
        id,
        version,
        "approve",
        &["pending_review"],
        update,
    )
    .await
}

fn same_user(drafted_by: &str, actor: &Principal) -> bool {
    // Actor strings carry the means (`user:duty/token:3`); the person is the part before the first '/'.
    drafted_by.split('/').next() == Some(&format!("user:{}", actor.username))
}

/// NTF-09: rejects a draft with a reason; it will not be sent.
pub async fn reject(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    reason: String,
) -> ServiceResult<MessageView> {
    actor.require(Permission::NotificationApprove)?;
    if reason.trim().is_empty() {
        return Err(ServiceError::invalid_zh(
            "reason",
            "give the reason for rejecting",
            "请填写驳回原因",
        ));
    }
    let update = MessageUpdate {
        state: Some("cancelled".into()),
        reviewed_by: Some(actor.actor()),
        reviewed_at: Some(p.now_us()),
        review_outcome: Some("rejected".into()),
        review_note: Some(reason),
        ..Default::default()
    };
    review_step(p, actor, id, version, "reject", &["pending_review"], update).await
}

/// Withdraws a message not yet being sent.
pub async fn cancel(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<MessageView> {
    actor.require(Permission::NotificationDraft)?;
    let update = MessageUpdate {
        state: Some("cancelled".into()),
        release: true,
        ..Default::default()
    };
    review_step(
        p,
        actor,
        id,
        version,
        "cancel",
        &["pending_review", "queued"],
        update,
    )
    .await
}

/// Puts a dead-lettered message's failed deliveries back in the queue.
pub async fn retry(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<MessageView> {
    actor.require(Permission::NotificationApprove)?;
    let now = p.now_us();
    let actor_s = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let m = st::message_in_tx(c, id)
                    .await?
                    .ok_or_else(|| tianshu_store::StoreError::NotFound(format!("message {id}")))?;
                if m.state != "failed" {
                    return Err(tianshu_store::StoreError::Conflict {
                        field: "state".into(),
                        message: format!(
                            "only a failed (dead-lettered) message can be retried; this one is {}",
                            m.state
                        ),
                    });
                }
                let n = st::requeue_dead(c, id, now).await?;
                // No deliveries at all (it failed before expansion): expand it again.
                let state = if n > 0 { "sending" } else { "queued" };
                st::update_message(
                    c,
                    id,
                    Some(version),
                    MessageUpdate {
                        state: Some(state.into()),
                        last_error: Some(None),
                        release: true,
                        ..Default::default()
                    },
                    now,
                )
                .await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "notification.retry".into(),
                        object_type: "notification".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": "failed"})),
                        after: Some(json!({"state": state, "requeued": n})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    get(p, actor, id).await
}

/// A recipient list with its members.
#[derive(Debug, Clone, Serialize)]
pub struct ListView {
    #[serde(flatten)]
    pub list: tianshu_store::notify::RecipientList,
    /// Members (`user:<id>` / `contact:<id>`) with names; contact details masked.
    pub members: Vec<MemberView>,
}

/// One list member.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub member: String,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
}

fn member_view(p: tianshu_store::notify::Person, reveal: bool) -> MemberView {
    let m = |c: &str, v: Option<String>| {
        if reveal {
            v
        } else {
            v.map(|a| mask_address(c, &a))
        }
    };
    MemberView {
        mobile: m("sms", p.mobile),
        email: m("email", p.email),
        member: p.member,
        name: p.name,
    }
}

/// Every recipient list with members (masked).
pub async fn lists(p: &Platform, actor: &Principal) -> ServiceResult<Vec<ListView>> {
    require_any(actor)?;
    let mut out = Vec::new();
    for l in p.store.recipient_lists().await? {
        let members = p
            .store
            .list_people(&l.key)
            .await?
            .into_iter()
            .map(|m| member_view(m, false))
            .collect();
        out.push(ListView { list: l, members });
    }
    Ok(out)
}

/// Creates (`version` 0) or replaces a recipient list (NTF-02 class lists, NTF-10 regional lists).
pub async fn put_list(
    p: &Platform,
    actor: &Principal,
    key: &str,
    name: &str,
    members: Vec<String>,
    version: i64,
) -> ServiceResult<ListView> {
    actor.require(Permission::NotificationApprove)?;
    let k = key.trim();
    if k.is_empty()
        || k.len() > 64
        || !k
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(ServiceError::invalid_zh(
            "key",
            "lower_snake_case, 1–64 characters",
            "名单键须为小写字母、数字、下划线,1–64 个字符",
        ));
    }
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::invalid_zh(
            "name",
            "1–200 characters",
            "名称须为 1–200 个字符",
        ));
    }
    if members.len() > 5000 {
        return Err(ServiceError::invalid("members", "at most 5000 members"));
    }
    for (i, m) in members.iter().enumerate() {
        let ok = m
            .split_once(':')
            .is_some_and(|(k, id)| matches!(k, "user" | "contact") && id.parse::<i64>().is_ok());
        if !ok {
            return Err(ServiceError::invalid_zh(
                format!("members[{i}]"),
                "expected user:<id> or contact:<id>",
                "成员格式应为 user:<id> 或 contact:<id>",
            ));
        }
    }
    let unknown = p.store.unknown_members(&members).await?;
    if let Some(u) = unknown.first() {
        let i = members.iter().position(|m| m == u).unwrap_or(0);
        return Err(ServiceError::unknown_ref(
            format!("members[{i}]"),
            format!("no such person '{u}'"),
            format!("没有此人 '{u}'"),
        ));
    }
    let now = p.now_us();
    let (key_s, name_s, actor_s) = (k.to_string(), name.trim().to_string(), actor.actor());
    p.store
        .write(move |c| {
            Box::pin(async move {
                let existing = st::list_in_tx(c, &key_s).await?;
                let (list, before) = match existing {
                    Some(l) => (l, Some(json!({"version": version}))),
                    None if version == 0 => (st::insert_list(c, &key_s, &name_s, now).await?, None),
                    None => return Err(tianshu_store::StoreError::NotFound(format!("list {key_s}"))),
                };
                let expected = if before.is_none() { list.version } else { version };
                let saved = st::set_list_members(c, &list, &name_s, &members, expected, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "notification.list.save".into(),
                        object_type: "notification_list".into(),
                        object_id: key_s,
                        before,
                        after: Some(json!({"name": saved.name, "members": members, "version": saved.version})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    let l = p
        .store
        .recipient_list(k)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("list {k}")))?;
    let members = p
        .store
        .list_people(k)
        .await?
        .into_iter()
        .map(|m| member_view(m, false))
        .collect();
    Ok(ListView { list: l, members })
}

/// A new external contact.
#[derive(Debug, Clone, Deserialize)]
pub struct NewContact {
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
}

/// Adds an external contact (a person on SMS lists who is not a platform user).
pub async fn add_contact(
    p: &Platform,
    actor: &Principal,
    c: NewContact,
) -> ServiceResult<MemberView> {
    actor.require(Permission::NotificationApprove)?;
    if c.name.trim().is_empty() || c.name.chars().count() > 100 {
        return Err(ServiceError::invalid_zh(
            "name",
            "1–100 characters",
            "姓名须为 1–100 个字符",
        ));
    }
    if let Some(m) = &c.mobile {
        let digits = m.chars().filter(char::is_ascii_digit).count();
        if !(5..=20).contains(&digits)
            || !m
                .chars()
                .all(|ch| ch.is_ascii_digit() || "+- ".contains(ch))
        {
            return Err(ServiceError::invalid_zh(
                "mobile",
                "a phone number (digits, +, -, spaces)",
                "手机号格式不正确",
            ));
        }
    }
    if let Some(e) = &c.email {
        if !e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        {
            return Err(ServiceError::invalid_zh(
                "email",
                "an e-mail address",
                "邮箱格式不正确",
            ));
        }
    }
    if c.mobile.is_none() && c.email.is_none() {
        return Err(ServiceError::invalid_zh(
            "mobile",
            "give a mobile number or an e-mail address",
            "请填写手机号或邮箱",
        ));
    }
    let locale = c.locale.clone().unwrap_or_else(|| "zh-CN".into());
    check_locale(&locale)?;
    let now = p.now_us();
    let actor_s = actor.actor();
    let saved = p
        .store
        .write(move |conn| {
            Box::pin(async move {
                let k = st::insert_contact(
                    conn,
                    c.name.trim(),
                    c.mobile.as_deref(),
                    c.email.as_deref(),
                    &locale,
                    now,
                )
                .await?;
                append(
                    conn,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "notification.contact.create".into(),
                        object_type: "notification_contact".into(),
                        object_id: k.id.to_string(),
                        before: None,
                        after: Some(json!({"name": k.name})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(k)
            })
        })
        .await?;
    Ok(member_view(
        tianshu_store::notify::Person {
            member: format!("contact:{}", saved.id),
            name: saved.name,
            mobile: saved.mobile,
            email: saved.email,
            locale: saved.locale,
        },
        false,
    ))
}

/// Every contact; `reveal` shows details unmasked (needs `sensitive.read`, audited as a sensitive read).
pub async fn contacts(
    p: &Platform,
    actor: &Principal,
    reveal: bool,
) -> ServiceResult<Vec<MemberView>> {
    require_any(actor)?;
    let list = p.store.contacts().await?;
    if reveal {
        actor.require(Permission::SensitiveRead)?;
        p.store
            .audit(NewAuditEntry {
                actor: actor.actor(),
                action: "sensitive.read".into(),
                object_type: "notification_contact".into(),
                object_id: "*".into(),
                before: None,
                after: Some(json!({"fields": ["mobile", "email"], "count": list.len()})),
                request_id: None,
                at: p.now_us(),
            })
            .await?;
    }
    Ok(list
        .into_iter()
        .map(|k| {
            member_view(
                tianshu_store::notify::Person {
                    member: format!("contact:{}", k.id),
                    name: k.name,
                    mobile: k.mobile,
                    email: k.email,
                    locale: k.locale,
                },
                reveal,
            )
        })
        .collect())
}

/// What a channel test did.
#[derive(Debug, Clone, Serialize)]
pub struct TestSendOutcome {
    /// `smtp`, `sms_gateway`, `im_webhook` or `log`.
    pub route: String,
    /// The address, masked.
    pub address: String,
    /// The delivery key sent with the message (Message-ID / `Idempotency-Key`).
    pub key: String,
    /// Why the send failed, if it did.
    pub error: Option<String>,
    /// Whether the failure would not be retried.
    pub permanent: bool,
}

/// Sends one test message to `to` through the channel configured for `channel` and reports the outcome
/// (audited with the address masked). A channel with nothing configured is an error naming `channel`.
pub async fn test_send(
    p: &Platform,
    actor: &Principal,
    config: channels::ChannelConfig,
    channel: &str,
    to: &str,
) -> ServiceResult<TestSendOutcome> {
    actor.require(Permission::NotificationApprove)?;
    if !matches!(channel, "sms" | "email" | "im") {
        return Err(ServiceError::invalid_zh(
            "channel",
            "expected sms, email or im",
            "渠道应为 sms、email 或 im",
        ));
    }
    let to = to.trim();
    let ok = match channel {
        "sms" => {
            (5..=20).contains(&to.chars().filter(char::is_ascii_digit).count())
                && to.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c))
        }
        "email" => to
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.')),
        _ => !to.is_empty() && to.len() <= 100,
    };
    if !ok {
        return Err(ServiceError::invalid_zh(
            "to",
            format!("not a valid {channel} address"),
            format!("不是有效的 {channel} 地址"),
        ));
    }
    let ch = channels::Channels::build(config).map_err(|e| ServiceError::invalid("notify", e))?;
    let Some(route) = ch.route_of(channel, to) else {
        return Err(ServiceError::invalid_zh(
            "channel",
            format!(
                "no {channel} channel is configured (notify.smtp, notify.sms, notify.im or notify.log in the config file)"
            ),
            format!("未配置 {channel} 渠道(配置文件中的 notify.smtp、notify.sms、notify.im 或 notify.log)"),
        ));
    };
    let now = p.now_us();
    let key = format!("test:{}", crate::secrets::random_token(8));
    let subject = "天枢测试消息 / Tianshu test message";
    let body = format!(
        "这是一条来自天枢的渠道测试消息（{}），无需回复。This is a channel test from Tianshu ({}); no reply needed.",
        actor.username, actor.username
    );
    let r = ch
        .send(&channels::Outgoing {
            channel,
            address: to,
            name: to,
            subject,
            body: &body,
            key: &key,
        })
        .await;
    let out = TestSendOutcome {
        route: route.to_string(),
        address: mask_address(channel, to),
        key,
        error: r.as_ref().err().map(|e| e.message.clone()),
        permanent: r.as_ref().err().is_some_and(|e| e.permanent),
    };
    p.store
        .audit(NewAuditEntry {
            actor: actor.actor(),
            action: "notification.test_send".into(),
            object_type: "notification_channel".into(),
            object_id: channel.to_string(),
            before: None,
            after: Some(
                json!({"route": out.route, "to": out.address, "key": out.key, "error": out.error}),
            ),
            request_id: None,
            at: now,
        })
        .await?;
    Ok(out)
}
