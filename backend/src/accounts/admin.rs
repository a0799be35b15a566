//! Admin management of accounts.

use axum::extract::State;
use uuid::Uuid;

use fermata_core::accounts;

use super::{
    session::AdminUser,
    views::{AdminUpdateRequest, UserListQuery, UserPageView, UserView},
};
use crate::{
    error::{AppResult, ErrorBody},
    extract::{Path, ValidJson, ValidQuery},
    state::AppState,
};

/// List users, newest first, optionally searched.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", params(UserListQuery), responses(
    (status = 200, body = UserPageView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    ValidQuery(query): ValidQuery<UserListQuery>,
) -> AppResult<axum::Json<UserPageView>> {
    let page = accounts::list(&state.db, query.q.as_deref(), query.offset, query.limit).await?;
    Ok(axum::Json(UserPageView {
        items: page.items.into_iter().map(UserView::from).collect(),
        total: page.total,
        offset: query.offset,
        limit: query.limit,
    }))
}

/// Change a user's role or disable them. Disabling ends their sessions at once; the last active admin
/// cannot be demoted or disabled (409).
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", request_body = AdminUpdateRequest,
    params(("id" = Uuid, Path)), responses(
    (status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
    ValidJson(request): ValidJson<AdminUpdateRequest>,
) -> AppResult<axum::Json<UserView>> {
    let user = accounts::admin_update(&state.db, id, request.role.map(Into::into), request.disabled).await?;
    state.users.invalidate(&id);
    tracing::info!(admin = %admin.user.id, user = %id, role = %user.role, disabled = user.disabled, "user updated");
    Ok(axum::Json(user.into()))
}
