//! Saved views: the caller's named filter sets for console list pages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::views::{self, NewView};
use tianshu_store::views::SavedView;
use utoipa::{IntoParams, ToSchema};

use super::ts;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

/// A saved view.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewOut {
    pub id: i64,
    /// The list page: `incidents`, `alerts` or `notifications`.
    pub page: String,
    pub name: String,
    /// The page's filters as a query string; open `/<page>?<query>` in the console.
    pub query: String,
    pub created_at: String,
}

impl From<SavedView> for ViewOut {
    fn from(v: SavedView) -> Self {
        ViewOut {
            id: v.id,
            page: v.page,
            name: v.name,
            query: v.query,
            created_at: ts(v.created_at),
        }
    }
}

/// The caller's views of one page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewList {
    pub items: Vec<ViewOut>,
}

/// Which page's views.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
    /// `incidents`, `alerts` or `notifications`.
    pub page: String,
}

/// A view to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewBody {
    pub page: String,
    /// 1–60 characters, unique per page for the caller.
    pub name: String,
    /// The page's filters as a query string, e.g. `level=FL2&state=pre_processing`; only the page's own
    /// filter keys are accepted.
    pub query: String,
}

/// The caller's saved views of a list page.
#[utoipa::path(get, path = "/api/v1/saved-views", tag = "views", params(ViewQuery),
    responses((status = 200, description = "views by name", body = ViewList)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ViewQuery>,
) -> ApiResult<Json<ViewList>> {
    let items = views::list(&st.platform, &p, &q.page).await?;
    Ok(Json(ViewList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Save the current filters of a list page under a name.
#[utoipa::path(post, path = "/api/v1/saved-views", tag = "views", request_body = ViewBody,
    responses((status = 201, description = "saved", body = ViewOut)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<ViewBody>,
) -> ApiResult<(StatusCode, Json<ViewOut>)> {
    let v = views::create(
        &st.platform,
        &p,
        NewView {
            page: b.page,
            name: b.name,
            query: b.query,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

/// Delete one of the caller's saved views.
#[utoipa::path(delete, path = "/api/v1/saved-views/{id}", tag = "views", params(("id" = i64, Path, description = "view id")),
    responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    views::delete(&st.platform, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
