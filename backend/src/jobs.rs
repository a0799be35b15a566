//! The job queue as the admin API shows it (the queue itself is the core's: `fermata_core::jobs`).

use axum::extract::State;
use chrono::{DateTime, FixedOffset};
use fermata_core::{entities::jobs, jobs as queue};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    accounts::session::AdminUser,
    error::{AppResult, ErrorBody},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    /// queued, running, done or failed
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub payload: serde_json::Value,
    pub progress: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub run_at: DateTime<FixedOffset>,
    pub created_at: DateTime<FixedOffset>,
    pub finished_at: Option<DateTime<FixedOffset>>,
}

impl From<jobs::Model> for JobView {
    fn from(j: jobs::Model) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            payload: j.payload,
            progress: j.progress,
            last_error: j.last_error,
            locked_by: j.locked_by,
            run_at: j.run_at,
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobQueue {
    /// Jobs per status.
    pub counts: std::collections::BTreeMap<String, i64>,
    /// The 100 most recent jobs.
    pub recent: Vec<JobView>,
}

/// The job queue: counts by status and the most recent jobs.
#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin", responses(
    (status = 200, body = JobQueue), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
))]
pub async fn list(State(db): State<DatabaseConnection>, _admin: AdminUser) -> AppResult<axum::Json<JobQueue>> {
    let (counts, recent) = queue::overview(&db, 100).await?;
    Ok(axum::Json(JobQueue { counts, recent: recent.into_iter().map(JobView::from).collect() }))
}
