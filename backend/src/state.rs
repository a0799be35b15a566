//! The one state every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::{
    accounts::{password::Passwords, session_store::SessionCache},
    config::Config,
    events::Events,
    media::MediaStore,
    memory::MemoryGuard,
    security::{AllowedOrigins, RateLimits},
};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub memory: Arc<MemoryGuard>,
    pub metrics: PrometheusHandle,
    pub passwords: Passwords,
    /// Signs the cookies of browsers known to an account (see `accounts::devices`).
    pub device_key: crate::accounts::devices::DeviceKey,
    pub rate_limits: Arc<RateLimits>,
    pub allowed_origins: AllowedOrigins,
    pub media: MediaStore,
    pub events: Events,
    /// Event streams open per user on this replica (capped, see `events::MAX_STREAMS_PER_USER`).
    pub event_streams: crate::events::StreamSlots,
    /// User rows by id for one second (see `accounts::session`): signing out or disabling a user ends the
    /// sessions at once; a role change takes up to a second on other replicas.
    pub users: moka::sync::Cache<uuid::Uuid, crate::entities::users::Model>,
    /// Files recently opened for direct ranges (see `catalog::stream::OpenFiles`).
    pub open_files: crate::catalog::stream::OpenFiles,
    /// Where songs' files are, by song id, for one second (see `fermata_core::catalog::songs::FileCache`).
    pub song_files: fermata_core::catalog::songs::FileCache,
    /// Wakes this replica's idle job workers (see `fermata_core::jobs::Wake`).
    pub jobs_wake: fermata_core::jobs::Wake,
    /// Session records, invalidated across replicas by NOTIFY (see `accounts::session_store`).
    pub sessions: SessionCache,
    /// Subsonic credentials and who they authenticate (see `fermata_core::credentials`).
    pub subsonic: fermata_core::credentials::Authenticator,
    /// The replica's ffmpeg processes and the shared cache of finished transcodes.
    pub transcoder: fermata_core::transcode::Transcoder,
    /// This replica's search index, kept current from the catalogue's notifications.
    pub search: Arc<fermata_core::catalog::search::SearchIndex>,
    /// The database URL in use (DATABASE_URL or the private cluster's), for the LISTEN connection.
    pub database_url: Arc<str>,
}
