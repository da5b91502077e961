//! Notifications: templates (NTF-08), recipient lists and contacts (NTF-02, NTF-10), messages with review
//! (NTF-09) and their delivery logs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::notify::{self, Draft, DraftEdit, RecipientSpec, RouteInput, TemplateTexts};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

fn json<T: serde::Serialize>(v: T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

// Response shapes, for the OpenAPI document only: handlers serialise the service types, whose JSON
// these mirror field for field (schemathesis checks every response against them).

/// A template as in force.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct TemplateOut {
    pub id: String,
    /// Rule ID the template implements.
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    /// `sms`, `email`, `im`.
    pub channels: Vec<String>,
    /// Every placeholder the texts may use.
    pub variables: Vec<String>,
    /// Placeholders that must have a value.
    pub required: Vec<String>,
    pub subject_zh: String,
    pub subject_en: String,
    pub zh: String,
    pub en: String,
    /// Whether messages wait for review (NTF-09).
    pub review: bool,
    /// Version of the operator override (0 = the pack's text).
    pub version: i64,
    pub updated_by: Option<String>,
}

/// A rendered template.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct RenderedOut {
    pub subject: String,
    pub body: String,
}

/// A list member or an external contact (details masked unless revealed).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MemberOut {
    /// `user:<id>` or `contact:<id>`.
    pub member: String,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
}

/// A page of members or contacts.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MemberPage {
    pub items: Vec<MemberOut>,
}

/// A recipient list.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ListOut {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub members: Vec<MemberOut>,
}

/// Every recipient list.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ListPage {
    pub items: Vec<ListOut>,
}

/// One delivery log row (address masked).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DeliveryOut {
    pub id: i64,
    pub recipient: String,
    pub recipient_name: String,
    pub channel: String,
    pub address: String,
    /// pending, sending, sent, failed, dead, digested.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub digest_key: Option<String>,
    pub delivery_key: String,
    /// The subject rendered for this recipient at expansion (empty for a name that resolved to nobody).
    pub subject: String,
    /// The body rendered for this recipient at expansion: the text sent, unchanged by later template edits.
    pub body: String,
}

/// An outbox message (times in Unix microseconds UTC; recipients, context and channels as JSON text).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MessageOut {
    pub id: i64,
    pub idempotency_key: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub template: String,
    pub recipients: String,
    pub context: String,
    pub cause: String,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub locale: String,
    pub channels: Option<String>,
    pub drafted_by: Option<String>,
    pub review_outcome: Option<String>,
    pub review_note: Option<String>,
    pub sent_at: Option<i64>,
    pub version: i64,
}

/// A message with its delivery log.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MessageDetail {
    /// The message's own fields, side by side with the two below (the JSON is flat).
    #[serde(flatten)]
    pub message: MessageOut,
    /// Seconds the message waited for review.
    pub review_seconds: Option<i64>,
    pub deliveries: Vec<DeliveryOut>,
}

/// The messages of a ticket.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MessageDetailPage {
    pub items: Vec<MessageDetail>,
}

/// A page of messages, newest first.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageOut>,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

/// Every template in force (pack default or operator override), with its declared placeholders.
#[utoipa::path(get, path = "/api/v1/notifications/templates", tag = "notifications",
    responses((status = 200, description = "templates", body = [TemplateOut])))]
pub async fn templates(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(json(notify::templates(&st.platform, &p).await?))
}

/// One template.
#[utoipa::path(get, path = "/api/v1/notifications/templates/{id}", tag = "notifications",
    params(("id" = String, Path, description = "template id")), responses((status = 200, description = "template", body = TemplateOut)))]
pub async fn template(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let all = notify::templates(&st.platform, &p).await?;
    let t = all.into_iter().find(|t| t.def.id == id).ok_or_else(|| {
        ApiError::from(tianshu_services::ServiceError::NotFound(format!(
            "template {id}"
        )))
    })?;
    Ok(json(t))
}

/// New texts of a template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    pub subject_zh: String,
    pub subject_en: String,
    pub zh: String,
    pub en: String,
    /// The version read (0 = the pack's text was shown).
    pub version: i64,
}

/// Saves an operator's texts; a placeholder the template does not declare is refused (422, field named).
#[utoipa::path(put, path = "/api/v1/notifications/templates/{id}", tag = "notifications", request_body = TemplateBody,
    params(("id" = String, Path, description = "template id")), responses((status = 200, description = "saved", body = TemplateOut)))]
pub async fn put_template(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<TemplateBody>,
) -> ApiResult<Json<Value>> {
    let t = notify::save_template(
        &st.platform,
        &p,
        &id,
        TemplateTexts {
            subject_zh: b.subject_zh,
            subject_en: b.subject_en,
            zh: b.zh,
            en: b.en,
            version: b.version,
        },
    )
    .await?;
    Ok(json(t))
}

/// Preview input.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// `zh-CN` (default) or `en`.
    pub locale: Option<String>,
    /// Placeholder values.
    #[schema(value_type = Object)]
    pub context: Value,
}

/// Renders a template without sending; a missing value names `context.<placeholder>`.
#[utoipa::path(post, path = "/api/v1/notifications/templates/{id}/preview", tag = "notifications", request_body = PreviewBody,
    params(("id" = String, Path, description = "template id")), responses((status = 200, description = "subject and body", body = RenderedOut)))]
pub async fn preview(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<PreviewBody>,
) -> ApiResult<Json<Value>> {
    let locale = b.locale.unwrap_or_else(|| "zh-CN".into());
    Ok(json(
        notify::preview(&st.platform, &p, &id, &locale, &b.context).await?,
    ))
}

/// Recipient lists with members (contact details masked).
#[utoipa::path(get, path = "/api/v1/notifications/lists", tag = "notifications", responses((status = 200, description = "lists", body = ListPage)))]
pub async fn lists(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(json(
        serde_json::json!({"items": notify::lists(&st.platform, &p).await?}),
    ))
}

/// A list's name and members.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBody {
    pub name: String,
    /// `user:<id>` or `contact:<id>`.
    pub members: Vec<String>,
    /// The version read; 0 creates the list.
    pub version: i64,
}

/// Creates or replaces a recipient list.
#[utoipa::path(put, path = "/api/v1/notifications/lists/{key}", tag = "notifications", request_body = ListBody,
    params(("key" = String, Path, description = "list key")), responses((status = 200, description = "the list", body = ListOut)))]
pub async fn put_list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<ListBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        notify::put_list(&st.platform, &p, &key, &b.name, b.members, b.version).await?,
    ))
}

/// Contact query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// Show details unmasked (needs `sensitive.read`; audited).
    pub reveal: Option<bool>,
}

/// External contacts.
#[utoipa::path(get, path = "/api/v1/notifications/contacts", tag = "notifications", params(ContactQuery),
    responses((status = 200, description = "contacts", body = MemberPage)))]
pub async fn contacts(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        serde_json::json!({"items": notify::contacts(&st.platform, &p, q.reveal.unwrap_or(false)).await?}),
    ))
}

/// A new contact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
}

/// Adds an external contact.
#[utoipa::path(post, path = "/api/v1/notifications/contacts", tag = "notifications", request_body = ContactBody,
    responses((status = 201, description = "created", body = MemberOut)))]
pub async fn add_contact(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<ContactBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let c = notify::add_contact(
        &st.platform,
        &p,
        notify::NewContact {
            name: b.name,
            mobile: b.mobile,
            email: b.email,
            locale: b.locale,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, json(c)))
}

/// A message to draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    pub template: String,
    pub locale: Option<String>,
    #[schema(value_type = Object)]
    pub context: Value,
    /// classes, lists, roles, users, addresses (`sms:`/`email:`/`im:`), on_duty.
    #[schema(value_type = Object)]
    pub recipients: Option<Value>,
    /// Fault facts that route the notice to classes and lists (NTF-03..05, NTF-10).
    #[schema(value_type = Object)]
    pub route: Option<Value>,
    pub incident_id: Option<i64>,
    pub channels: Option<Vec<String>>,
    pub idempotency_key: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(field: &str, v: Option<Value>) -> ApiResult<Option<T>> {
    match v {
        None => Ok(None),
        Some(v) => serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
            let path = e.path().to_string();
            let f = if path == "." {
                field.to_string()
            } else {
                format!("{field}.{path}")
            };
            ApiError::bad_field(f, e.inner().to_string())
        }),
    }
}

/// Drafts a message: `pending_review` when NTF-09 requires review, else queued for sending.
#[utoipa::path(post, path = "/api/v1/notifications/messages", tag = "notifications", request_body = DraftBody,
    responses((status = 201, description = "drafted", body = MessageDetail)))]
pub async fn draft(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<DraftBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let recipients: Option<RecipientSpec> = parse("recipients", b.recipients)?;
    let route: Option<RouteInput> = parse("route", b.route)?;
    let v = notify::draft(
        &st.platform,
        &p,
        Draft {
            template: b.template,
            locale: b.locale,
            context: b.context,
            recipients,
            route,
            incident_id: b.incident_id,
            channels: b.channels,
            idempotency_key: b.idempotency_key,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, json(v)))
}

/// Message list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    /// pending_review (the review queue), queued, sending, sent, failed, cancelled.
    pub state: Option<String>,
    /// Id of the last message of the previous page.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// Messages newest first.
#[utoipa::path(get, path = "/api/v1/notifications/messages", tag = "notifications", params(MessageQuery),
    responses((status = 200, description = "messages", body = MessagePage)))]
pub async fn messages(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    let items = notify::list(&st.platform, &p, q.before, limit, q.state.as_deref()).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|m| m.id))
        .flatten();
    Ok(json(
        serde_json::json!({"items": items, "next_before": next}),
    ))
}

/// One message with its delivery log.
#[utoipa::path(get, path = "/api/v1/notifications/messages/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "message id")), responses((status = 200, description = "message", body = MessageDetail)))]
pub async fn message(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(notify::get(&st.platform, &p, id).await?))
}

/// Edits of a draft awaiting review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    pub version: i64,
    #[schema(value_type = Object)]
    pub context: Option<Value>,
    #[schema(value_type = Object)]
    pub recipients: Option<Value>,
    pub channels: Option<Vec<String>>,
}

/// Edits a draft before approval.
#[utoipa::path(patch, path = "/api/v1/notifications/messages/{id}", tag = "notifications", request_body = EditBody,
    params(("id" = i64, Path, description = "message id")), responses((status = 200, description = "edited", body = MessageDetail)))]
pub async fn edit(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<EditBody>,
) -> ApiResult<Json<Value>> {
    let recipients: Option<RecipientSpec> = parse("recipients", b.recipients)?;
    Ok(json(
        notify::edit(
            &st.platform,
            &p,
            id,
            DraftEdit {
                version: b.version,
                context: b.context,
                recipients,
                channels: b.channels,
            },
        )
        .await?,
    ))
}

/// A review action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    pub version: i64,
    /// Approval note, or the reason of a rejection (required to reject).
    pub note: Option<String>,
}

/// approve (NTF-09, fault-handling group leader, not the drafter), reject (with a reason), cancel, or retry a
/// dead-lettered message.
#[utoipa::path(post, path = "/api/v1/notifications/messages/{id}/{action}", tag = "notifications", request_body = ActionBody,
    params(("id" = i64, Path, description = "message id"), ("action" = String, Path, description = "approve | reject | cancel | retry")),
    responses((status = 200, description = "done", body = MessageDetail)))]
pub async fn action(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<ActionBody>,
) -> ApiResult<Json<Value>> {
    let pl = &st.platform;
    let v = match action.as_str() {
        "approve" => notify::approve(pl, &p, id, b.version, b.note).await?,
        "reject" => notify::reject(pl, &p, id, b.version, b.note.unwrap_or_default()).await?,
        "cancel" => notify::cancel(pl, &p, id, b.version).await?,
        "retry" => notify::retry(pl, &p, id, b.version).await?,
        _ => {
            return Err(ApiError::bad_field(
                "action",
                "expected approve, reject, cancel or retry",
            ))
        }
    };
    Ok(json(v))
}

/// The messages a ticket caused, each with its delivery log.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/notifications", tag = "notifications",
    params(("id" = i64, Path, description = "incident id")), responses((status = 200, description = "messages", body = MessageDetailPage)))]
pub async fn of_incident(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        serde_json::json!({"items": notify::of_incident(&st.platform, &p, id).await?}),
    ))
}
