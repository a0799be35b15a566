//! Sessions in PostgreSQL (tower-sessions, cached per replica: `session_store`), so a cookie issued by one
//! replica works on every other, and the `CurrentUser` / `AdminUser` extractors that guard routes.

use axum::{extract::FromRequestParts, http::request::Parts};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tower_sessions::{
    Expiry, Session, SessionManagerLayer,
    cookie::{SameSite, time::Duration},
};
use uuid::Uuid;

use fermata_core::{
    accounts::{self as model, Role},
    ids::UserId,
};

use super::session_store::CachedStore;
use crate::{config::Config, entities::users, error::AppError, state::AppState};

const AUTH_KEY: &str = "auth";

/// What a signed-in session remembers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSession {
    pub user_id: Uuid,
    /// The user's session epoch at sign-in; a later password change or disable moves the user on.
    pub epoch: i32,
    /// Unix seconds; the session ends SESSION_LIFETIME_DAYS after this, used or not.
    pub signed_in_at: i64,
    /// Unix seconds of the last use, refreshed at most hourly (each refresh is a write): past
    /// SESSION_IDLE_DAYS without use the session ends.
    #[serde(default)]
    pub last_seen: i64,
}

/// A user row found by a request is reused by the next ones for this long. Disabling a user or changing a
/// password deletes the user's session rows (and so their cached copies on every replica, see
/// `session_store`), so neither waits for this.
const USER_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

pub fn user_cache() -> moka::sync::Cache<Uuid, users::Model> {
    moka::sync::Cache::builder().max_capacity(10_000).time_to_live(USER_CACHE_TTL).build()
}

/// The user row, from the one-second cache or the database.
async fn current_user(state: &AppState, id: Uuid) -> Result<Option<users::Model>, AppError> {
    if let Some(user) = state.users.get(&id) {
        return Ok(Some(user));
    }
    let user = model::find(&state.db, UserId(id)).await?;
    if let Some(user) = &user {
        state.users.insert(id, user.clone());
    }
    Ok(user)
}

/// How stale `last_seen` may get before a request refreshes it (and with it the cookie and row expiry).
const TOUCH_AFTER_SECS: i64 = 3600;

/// The cookie: HttpOnly, SameSite=Lax, idle timeout; Secure and `__Host-` prefixed behind https.
pub fn layer(store: CachedStore, config: &Config) -> SessionManagerLayer<CachedStore> {
    let secure = config.secure_cookies();
    SessionManagerLayer::new(store)
        .with_name(if secure { "__Host-fermata_session" } else { "fermata_session" })
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::days(i64::from(config.session_idle_days))))
}

/// Starts a signed-in session: a fresh id (so a session id planted before sign-in is worthless), saved
/// now and tagged with the user in the table.
pub async fn sign_in(session: &Session, db: &DatabaseConnection, user: &users::Model) -> Result<(), AppError> {
    session.cycle_id().await.map_err(anyhow::Error::from)?;
    let now = Utc::now().timestamp();
    let auth = AuthSession { user_id: user.id, epoch: user.session_epoch, signed_in_at: now, last_seen: now };
    session.insert(AUTH_KEY, auth).await.map_err(anyhow::Error::from)?;
    session.save().await.map_err(anyhow::Error::from)?;
    let id = session.id().ok_or_else(|| anyhow::anyhow!("saved session has no id"))?;
    Ok(model::attach_session(db, &id.to_string(), user.id).await?)
}

/// The signed-in user. 401 without a valid session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: users::Model,
    pub session: Session,
}

impl CurrentUser {
    pub fn id(&self) -> UserId {
        UserId(self.user.id)
    }

    pub fn role(&self) -> Role {
        Role::of(&self.user)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, message)| anyhow::anyhow!("session layer missing: {message}"))?;
        let auth: Option<AuthSession> = session.get(AUTH_KEY).await.map_err(anyhow::Error::from)?;
        let Some(auth) = auth else {
            return Err(AppError::Unauthorized);
        };
        let now = Utc::now().timestamp();
        let last_seen = auth.last_seen.max(auth.signed_in_at);
        let mut user = current_user(state, auth.user_id).await?;
        if user.as_ref().is_some_and(|u| !valid(state, &auth, u)) {
            // The cached row may be older than the session (a password changed on another replica a moment
            // ago renews this session's epoch): decide on the current row before ending the session.
            state.users.invalidate(&auth.user_id);
            user = current_user(state, auth.user_id).await?;
        }
        match user {
            Some(user) if valid(state, &auth, &user) => {
                if now - last_seen > TOUCH_AFTER_SECS {
                    // Modifying the session makes tower-sessions save it, extending the idle expiry.
                    session
                        .insert(AUTH_KEY, AuthSession { last_seen: now, ..auth })
                        .await
                        .map_err(anyhow::Error::from)?;
                }
                Ok(Self { user, session })
            }
            _ => {
                session.flush().await.map_err(anyhow::Error::from)?;
                Err(AppError::Unauthorized)
            }
        }
    }
}

/// Whether a session of `user` is still good: not disabled, not signed out by a password change or an admin,
/// within its lifetime and idle limit.
fn valid(state: &AppState, auth: &AuthSession, user: &users::Model) -> bool {
    let lifetime = i64::from(state.config.session_lifetime_days) * 86_400;
    let idle = i64::from(state.config.session_idle_days) * 86_400;
    let now = Utc::now().timestamp();
    !user.disabled
        && user.session_epoch == auth.epoch
        && now - auth.signed_in_at < lifetime
        && now - auth.last_seen.max(auth.signed_in_at) < idle
}

/// The user of a session held open past its request (an event stream), read afresh: `None` once the session
/// ended (signed out, disabled, expired). The user row is read from the database, not the one-second cache,
/// so a role changed on another replica is seen at once.
pub async fn recheck(state: &AppState, id: tower_sessions::session::Id) -> Result<Option<users::Model>, AppError> {
    use tower_sessions::SessionStore;
    let store = CachedStore::new(&state.db, state.sessions.clone());
    let Some(record) = store.load(&id).await.map_err(|e| anyhow::anyhow!("session store: {e}"))? else {
        return Ok(None);
    };
    let Some(auth) = record.data.get(AUTH_KEY).and_then(|v| serde_json::from_value::<AuthSession>(v.clone()).ok())
    else {
        return Ok(None);
    };
    let user = model::find(&state.db, UserId(auth.user_id)).await?;
    Ok(user.filter(|u| valid(state, &auth, u)))
}

/// A signed-in admin. 401 without a session, 403 for a listener.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if current.is_admin() {
            Ok(Self(current))
        } else {
            Err(AppError::Forbidden("this needs an admin account".into()))
        }
    }
}

/// Keeps this session valid after its user moved to a new epoch (the password change made here).
pub async fn renew_epoch(session: &Session, epoch: i32) -> Result<(), AppError> {
    let auth: Option<AuthSession> = session.get(AUTH_KEY).await.map_err(anyhow::Error::from)?;
    if let Some(auth) = auth {
        session.insert(AUTH_KEY, AuthSession { epoch, ..auth }).await.map_err(anyhow::Error::from)?;
    }
    Ok(())
}
