//! Liveness, readiness and metrics: what orchestrators and Prometheus poll.

use std::time::Duration;

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{error::AppError, extract::Json, memory::MemoryGuard, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/ready", get(ready)).route("/metrics", get(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    status: &'static str,
}

/// Liveness: the process answers. Touches nothing else, so a database outage never restarts the backend.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: a database round trip. 503 while the database is unreachable; 200 again as soon as it is
/// back (the pool replaces broken connections by itself).
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, body = Status),
    (status = 503, body = crate::error::ErrorBody),
))]
pub async fn ready(State(db): State<DatabaseConnection>) -> Result<Json<Status>, AppError> {
    let unavailable = |reason: String| {
        tracing::warn!(%reason, "readiness check failed");
        AppError::Unavailable { message: "the database is unreachable".into(), retry_after_secs: 5 }
    };
    match tokio::time::timeout(Duration::from_secs(3), db.ping()).await {
        Ok(Ok(())) => Ok(Json(Status { status: "ready" })),
        Ok(Err(e)) => Err(unavailable(e.to_string())),
        Err(_) => Err(unavailable("timed out".into())),
    }
}

/// Prometheus text format. Gauges that are cheap to read are refreshed on each scrape.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.db.get_postgres_connection_pool();
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(pool.size()));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(pool.num_idle() as f64);
    metrics::gauge!("db_pool_connections_max").set(f64::from(state.config.db_max_connections));
    metrics::gauge!("process_resident_memory_bytes").set(MemoryGuard::rss_bytes() as f64);
    let transcodes = state.transcoder.stats();
    metrics::gauge!("transcode_processes").set(transcodes.running as f64);
    metrics::gauge!("transcodes_started_total").set(transcodes.started as f64);
    metrics::gauge!("transcodes_joined_total").set(transcodes.joined as f64);
    metrics::gauge!("transcodes_failed_total").set(transcodes.failed as f64);
    let handle: &PrometheusHandle = &state.metrics;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render())
}
