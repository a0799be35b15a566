//! Registration, sign-in and the signed-in user's own account.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
};
use tower_sessions::Session;

use fermata_core::accounts::{self, NewUser, Role};

use super::{
    devices,
    session::{self, CurrentUser},
    views::{
        ChangePasswordRequest, LoginRequest, RegisterRequest, SessionView, UpdateMeRequest, UserView,
        check_password_differs,
    },
};
use crate::{
    config::Registration,
    error::{AppError, AppResult, ErrorBody},
    extract::{Json, ValidJson},
    state::AppState,
};

/// Register a listener account. Registered accounts are never admins.
#[utoipa::path(post, path = "/api/users/register", tag = "accounts", request_body = RegisterRequest, responses(
    (status = 201, body = UserView),
    (status = 403, description = "registration is closed", body = ErrorBody),
    (status = 409, description = "username or email taken", body = ErrorBody),
    (status = 422, description = "invalid fields", body = ErrorBody),
    (status = 429, description = "too many attempts", body = ErrorBody),
))]
pub async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterRequest>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    if state.config.registration == Registration::Closed {
        return Err(AppError::Forbidden("registration is closed; ask an admin for an account".into()));
    }
    request.check()?;
    let password_hash = state.passwords.hash(request.password).await?;
    let user = accounts::create(
        &state.db,
        NewUser {
            username: request.username,
            email: request.email,
            display_name: request.display_name.map(|d| d.trim().to_owned()),
            password_hash,
            role: Role::User,
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Sign in with a username or email. Unknown users and wrong passwords get the same answer in the same time.
#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = LoginRequest, responses(
    (status = 200, body = UserView, description = "signed in; the session cookie is set"),
    (status = 401, body = ErrorBody, description = "wrong username or password, or the account is disabled"),
    (status = 429, body = ErrorBody),
))]
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ValidJson(request): ValidJson<LoginRequest>,
) -> AppResult<([(HeaderName, HeaderValue); 1], Json<UserView>)> {
    let user = accounts::find_by_login(&state.db, &request.username).await?;
    let secure = state.config.secure_cookies();
    // A browser the account has signed in from before spends its own budget; anyone else spends the account's
    // (one budget per account whether it is named by username or email, and per name for unknown ones).
    let device = user.as_ref().and_then(|user| {
        devices::presented(&headers, secure).filter(|value| state.device_key.is_known(value, user.id))
    });
    match &device {
        Some(device) => state.rate_limits.check_auth_device(device)?,
        None => {
            let account = user.as_ref().map_or_else(|| request.username.to_lowercase(), |u| u.id.to_string());
            state.rate_limits.check_auth_account(&account)?;
        }
    }
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.passwords.verify(request.password, hash).await?;
    // A disabled account answers exactly as a wrong password does: a different answer for the right
    // password would tell a guesser it had found it.
    let user = match user {
        Some(user) if verified && !user.disabled => user,
        _ => return Err(AppError::Unauthorized),
    };
    session::sign_in(&session, &state.db, &user).await?;
    tracing::info!(user_id = %user.id, known_device = device.is_some(), "signed in");
    let cookie = devices::set_cookie(&state.device_key, user.id, secure);
    Ok(([(header::SET_COOKIE, cookie)], Json(user.into())))
}

/// Sign out: the session is deleted on the server, so the old cookie is worthless.
#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts", responses((status = 204)))]
pub async fn logout(session: Session) -> AppResult<StatusCode> {
    session.flush().await.map_err(anyhow::Error::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "accounts", responses(
    (status = 200, body = UserView), (status = 401, body = ErrorBody),
))]
pub async fn me(current: CurrentUser) -> Json<UserView> {
    Json(current.user.into())
}

/// Who is signed in, if anyone: what the web player asks when a page loads. Being signed out is an answer here
/// (`user: null`), not the 401 of `/api/auth/me` that a browser logs as a failed request on every cold load.
#[utoipa::path(get, path = "/api/auth/session", tag = "accounts", responses((status = 200, body = SessionView)))]
pub async fn current_session(current: Result<CurrentUser, AppError>) -> AppResult<Json<SessionView>> {
    match current {
        Ok(current) => Ok(Json(SessionView { user: Some(current.user.into()) })),
        Err(AppError::Unauthorized) => Ok(Json(SessionView { user: None })),
        Err(other) => Err(other),
    }
}

/// Change the signed-in user's display name or email.
#[utoipa::path(patch, path = "/api/auth/me", tag = "accounts", request_body = UpdateMeRequest, responses(
    (status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
pub async fn update_me(
    State(state): State<AppState>,
    current: CurrentUser,
    ValidJson(request): ValidJson<UpdateMeRequest>,
) -> AppResult<Json<UserView>> {
    let display_name = request.display_name.map(|d| d.map(|d| d.trim().to_owned()));
    let user = accounts::update_profile(&state.db, current.user, display_name, request.email).await?;
    state.users.invalidate(&user.id);
    Ok(Json(user.into()))
}

/// Change the password. Every other session of the user ends; this one stays signed in.
#[utoipa::path(post, path = "/api/auth/password", tag = "accounts", request_body = ChangePasswordRequest, responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
pub async fn change_password(
    State(state): State<AppState>,
    current: CurrentUser,
    Json(request): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    let mut errors = validator::Validate::validate(&request).err().unwrap_or_default();
    let user = &current.user;
    check_password_differs(&mut errors, "new_password", &request.new_password, &user.username, &user.email);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    // Guesses with a stolen session share the account's sign-in budget (and its argon2 time).
    state.rate_limits.check_auth_account(&user.id.to_string())?;
    let verified = state.passwords.verify(request.current_password, Some(user.password_hash.clone())).await?;
    if !verified {
        return Err(AppError::field("current_password", "is not your current password"));
    }
    let hash = state.passwords.hash(request.new_password).await?;
    let user_id = user.id;
    accounts::set_password(&state.db, current.user, hash).await?;
    let keep = current.session.id().map(|id| id.to_string());
    let epoch = accounts::end_sessions(&state.db, user_id, keep.as_deref()).await?;
    state.users.invalidate(&user_id);
    session::renew_epoch(&current.session, epoch).await?;
    tracing::info!(%user_id, "password changed; other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}
