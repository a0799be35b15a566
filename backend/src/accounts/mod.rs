//! Accounts: registration, sign-in, sessions, roles and the admin's user management.

pub mod admin;
pub mod auth;
pub mod credentials;
pub mod devices;
pub mod session;
pub mod session_store;
pub mod views;

pub use fermata_core::password;

use axum::middleware;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{security, state::AppState};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // Sign-in and registration get their own, tighter per-client limit.
    let guarded = OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .route_layer(middleware::from_fn_with_state(state.clone(), security::auth_rate_limit));
    OpenApiRouter::new()
        .merge(guarded)
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me, auth::update_me))
        .routes(routes!(auth::current_session))
        .routes(routes!(auth::change_password))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::update_user))
        .routes(routes!(credentials::list, credentials::create))
        .routes(routes!(credentials::revoke))
}
