//! Refused forms on a record's page (a customer's orders and complaints): which refusals become a page of their
//! own, and where the others are shown when the page is rendered again with the form's values.

use axum::http::StatusCode;
use axum::response::Response;
use tianshu_services::ServiceError;

use super::pages::{forbidden, service_error_page};
use super::ConsoleUser;
use crate::state::AppState;

/// A refusal to show on the page: the form it came from (0: the page's form for a new record, else the record's
/// id), the field it names (empty when none) and the message.
pub(super) type Refusal = (i64, String, String);

/// The per-field texts of one form: refusals next to their field, or the values a refused form held.
pub(super) trait FormFields: Default {
    /// Puts `v` in the slot of field `name`; false when the form has no such field.
    fn set(&mut self, name: &str, v: String) -> bool;
    /// Puts a refusal that names no field of the form by its button.
    fn set_submit(&mut self, msg: String);
}

/// How a refused form is answered.
pub(super) enum Answer {
    /// A page of its own: no form can show the refusal (not permitted, not found).
    Page(Response),
    /// The page again with this status and the refusal shown with its form.
    Form(StatusCode, Refusal),
}

/// The answer to a refusal of form `form`.
pub(super) fn triage(u: &ConsoleUser, st: &AppState, form: i64, e: ServiceError) -> Answer {
    if let ServiceError::Forbidden(p) = e {
        return Answer::Page(forbidden(u, st, p));
    }
    if matches!(e, ServiceError::NotFound(_)) {
        return Answer::Page(service_error_page(u, st, e));
    }
    let status = match &e {
        ServiceError::Stale(_) => StatusCode::PRECONDITION_FAILED,
        ServiceError::Conflict { .. } => StatusCode::CONFLICT,
        ServiceError::UnknownReference { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let msg = match &e {
        ServiceError::Stale(_) => u.t.t("conflict"),
        other => other.localized(u.t.lang()),
    };
    Answer::Form(status, (form, e.field().unwrap_or("").to_string(), msg))
}

/// The refusal `msg` next to field `name` when it is one of the form's `fields` (else by the button), and the values
/// the refused form held for those fields.
pub(super) fn place<F: FormFields>(
    fields: &[&str],
    name: &str,
    msg: &str,
    form: &[(String, String)],
) -> (F, F) {
    let (mut errs, mut kept) = (F::default(), F::default());
    if !(fields.contains(&name) && errs.set(name, msg.to_string())) {
        errs.set_submit(msg.to_string());
    }
    for (k, v) in form {
        if fields.contains(&k.as_str()) {
            kept.set(k, v.clone());
        }
    }
    (errs, kept)
}
