//! A listener's Subsonic credentials, managed from the web player: create (the secret is shown once), list,
//! revoke. The rules and the encryption are the core's (`fermata_core::credentials`).

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, FixedOffset};
use fermata_core::credentials::Credential;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::session::CurrentUser;
use crate::{
    error::{AppResult, ErrorBody},
    extract::{Json, Path, ValidJson},
    state::AppState,
};

/// A credential, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    /// When an app last signed in with it (recorded at most hourly).
    pub last_used_at: Option<DateTime<FixedOffset>>,
}

impl From<Credential> for CredentialView {
    fn from(c: Credential) -> Self {
        Self { id: c.id, name: c.name, created_at: c.created_at, last_used_at: c.last_used_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    /// Whether the server takes Subsonic credentials at all (SUBSONIC_CREDENTIAL_KEY is set).
    pub enabled: bool,
    pub items: Vec<CredentialView>,
    /// How many credentials one account may hold.
    pub max: u64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewCredential {
    /// What it is for ("Phone", "Symfonium").
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "crate::extract::text_line")
    )]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub name: String,
}

/// A new credential with its secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCredential {
    pub credential: CredentialView,
    /// The secret: the app's password (or API key). 24 characters, URL-safe.
    pub secret: String,
    /// The account's username, which apps ask for beside the secret.
    pub username: String,
}

#[utoipa::path(get, path = "/api/me/subsonic-credentials", tag = "accounts", responses(
    (status = 200, body = CredentialList), (status = 401, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<CredentialList>> {
    let items = state.subsonic.list(&state.db, user.id()).await?;
    Ok(Json(CredentialList {
        enabled: state.subsonic.configured(),
        items: items.into_iter().map(Into::into).collect(),
        max: fermata_core::credentials::MAX_PER_USER,
    }))
}

#[utoipa::path(post, path = "/api/me/subsonic-credentials", tag = "accounts", request_body = NewCredential, responses(
    (status = 201, body = CreatedCredential),
    (status = 401, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Subsonic access is off on this server"),
    (status = 422, body = ErrorBody, description = "invalid name, or the account holds the most credentials it may"),
))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidJson(request): ValidJson<NewCredential>,
) -> AppResult<(StatusCode, Json<CreatedCredential>)> {
    let (credential, secret) = state.subsonic.create(&state.db, user.id(), &request.name).await?;
    tracing::info!(user_id = %user.user.id, credential = %credential.id, "subsonic credential created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedCredential { credential: credential.into(), secret, username: user.user.username.clone() }),
    ))
}

#[utoipa::path(delete, path = "/api/me/subsonic-credentials/{id}", tag = "accounts", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
pub async fn revoke(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    state.subsonic.revoke(&state.db, user.id(), id).await?;
    tracing::info!(user_id = %user.user.id, credential = %id, "subsonic credential revoked");
    Ok(StatusCode::NO_CONTENT)
}
