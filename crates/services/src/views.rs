//! Saved views: a user's named filter sets for a console list page ("my region's open FL2 tickets").
//!
//! A view stores the list page's own query string. Only the filter keys the page understands are
//! accepted, so a saved view can never smuggle a cursor or an unknown parameter into a later request.

use serde::Deserialize;
use tianshu_store::views::{self as st, SavedView};

use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

/// The list pages that have saved views, with the filter keys each accepts.
pub const PAGES: &[(&str, &[&str])] = &[
    (
        "incidents",
        &[
            "q", "level", "state", "region", "system", "source", "overdue",
        ],
    ),
    ("alerts", &["state", "severity", "q"]),
    ("notifications", &["state", "q"]),
];

/// A user may keep this many views per page: enough for every shift's habits, few enough to scan.
pub const MAX_PER_PAGE: i64 = 30;

/// A view to save.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    pub page: String,
    pub name: String,
    /// The page's query string (`level=FL2&state=processing`), with or without a leading `?`.
    pub query: String,
}

fn page_keys(page: &str) -> ServiceResult<&'static [&'static str]> {
    PAGES
        .iter()
        .find(|(p, _)| *p == page)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            ServiceError::invalid(
                "page",
                format!(
                    "no list page '{page}' (one of: {})",
                    PAGES.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
                ),
            )
        })
}

/// The query string reduced to the page's non-empty filters, in a stable form; an unknown key is an error.
pub fn normalise_query(page: &str, query: &str) -> ServiceResult<String> {
    let keys = page_keys(page)?;
    let raw = query.trim().trim_start_matches('?');
    if raw.len() > 2000 {
        return Err(ServiceError::invalid(
            "query",
            "must have at most 2000 characters",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| ServiceError::invalid("query", format!("not a query string: {e}")))?;
    let mut kept = Vec::new();
    for (k, v) in pairs {
        if !keys.contains(&k.as_str()) {
            return Err(ServiceError::invalid(
                "query",
                format!(
                    "'{k}' is not a filter of the {page} page (filters: {})",
                    keys.join(", ")
                ),
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "query",
                format!("'{k}' must not contain control characters"),
            ));
        }
        if !v.trim().is_empty() {
            kept.push((k, v.trim().to_string()));
        }
    }
    serde_urlencoded::to_string(&kept).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The caller's views of a page.
pub async fn list(p: &Platform, actor: &Principal, page: &str) -> ServiceResult<Vec<SavedView>> {
    page_keys(page)?;
    Ok(p.store.saved_views(actor.user_id, page).await?)
}

/// Saves a view for the caller.
pub async fn create(p: &Platform, actor: &Principal, req: NewView) -> ServiceResult<SavedView> {
    let query = normalise_query(&req.page, &req.query)?;
    crate::validate::text("name", &req.name, 60, false)?;
    let name = req.name.trim().to_string();
    let user = actor.user_id;
    let now = p.now_us();
    p.store
        .write(move |c| {
            Box::pin(async move {
                if st::count_in_tx(c, user, &req.page).await? >= MAX_PER_PAGE {
                    return Err(tianshu_store::StoreError::Conflict {
                        field: "name".into(),
                        message: format!(
                            "at most {MAX_PER_PAGE} saved views per page; delete one first"
                        ),
                    });
                }
                st::insert(c, user, &req.page, &name, &query, now).await
            })
        })
        .await
        .map_err(Into::into)
}

/// Deletes one of the caller's views.
pub async fn delete(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<()> {
    let user = actor.user_id;
    let gone = p
        .store
        .write(move |c| Box::pin(async move { st::delete(c, user, id).await }))
        .await?;
    if gone {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!("saved view {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_known_non_empty_filters_in_order() {
        assert_eq!(
            normalise_query("incidents", "?level=FL2&q=&state=processing").unwrap(),
            "level=FL2&state=processing"
        );
        assert_eq!(
            normalise_query("incidents", "q=%E8%AE%A1%E8%B4%B9").unwrap(),
            "q=%E8%AE%A1%E8%B4%B9"
        );
    }

    #[test]
    fn unknown_filter_or_page_is_refused_naming_the_field() {
        match normalise_query("incidents", "level=FL2&cursor=abc") {
            Err(ServiceError::Invalid { field, message, .. }) => {
                assert_eq!(field, "query");
                assert!(message.contains("cursor"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match normalise_query("nope", "") {
            Err(ServiceError::Invalid { field, .. }) => assert_eq!(field, "page"),
            other => panic!("{other:?}"),
        }
    }
}
