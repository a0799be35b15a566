//! Background work in PostgreSQL. A job is taken with `FOR UPDATE SKIP LOCKED` and held under a lease
//! that its worker renews; a job whose replica died is taken up again once the lease runs out. Failures are
//! retried with exponential backoff up to `max_attempts`.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::extract::State;
use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryOrder, QuerySelect};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    accounts::session::AdminUser,
    catalog::model::Sql,
    entities::jobs,
    error::{AppResult, ErrorBody},
    state::AppState,
};

pub const KIND_ANALYSE: &str = "analyse";
pub const KIND_SCAN: &str = "scan";
const WAKE_CHANNEL: &str = "fermata_jobs";
/// How long a claimed job is ours without renewal.
const LEASE: Duration = Duration::from_secs(60);

/// Queues a job and wakes idle workers.
pub async fn enqueue(db: &impl ConnectionTrait, kind: &str, payload: serde_json::Value) -> Result<Uuid, DbErr> {
    let mut sql = Sql::new("INSERT INTO jobs (id, kind, payload) VALUES (");
    let id = Uuid::now_v7();
    let values = [sql.param(id), sql.param(kind), sql.param(payload)].join(", ");
    sql.push(&format!("{values})"));
    db.execute(sql.statement()).await?;
    db.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}")).await?;
    Ok(id)
}

/// Records a scan run outside the queue (the CLI) as a running scan job, so it holds the same one-scan slot.
/// 409-like error when a scan is queued or running.
pub async fn claim_scan_slot(db: &impl ConnectionTrait, worker: &str) -> anyhow::Result<Uuid> {
    let mut sql = Sql::new("INSERT INTO jobs (id, kind, status, attempts, locked_by, lease_until) VALUES (");
    let id = Uuid::now_v7();
    let values =
        [sql.param(id), sql.param(KIND_SCAN), sql.param("running"), sql.param(1), sql.param(worker)].join(", ");
    sql.push(&format!("{values}, now() + interval '1 day')"));
    db.execute(sql.statement()).await.map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => anyhow::anyhow!("a scan is already queued or running"),
        _ => e.into(),
    })?;
    Ok(id)
}

pub async fn release_scan_slot(db: &impl ConnectionTrait, id: Uuid, error: Option<String>) -> Result<(), DbErr> {
    let mut sql = Sql::new("UPDATE jobs SET status = ");
    let status = sql.param(if error.is_some() { "failed" } else { "done" });
    let e = sql.param(error);
    let i = sql.param(id);
    sql.push(&format!(
        "{status}, last_error = {e}, finished_at = now(), updated_at = now(), lease_until = NULL WHERE id = {i}"
    ));
    db.execute(sql.statement()).await.map(drop)
}

/// Queues one analysis job per song.
pub async fn enqueue_analysis(db: &impl ConnectionTrait, songs: &[Uuid]) -> Result<(), DbErr> {
    for chunk in songs.chunks(500) {
        let mut sql = Sql::new("INSERT INTO jobs (id, kind, payload) VALUES ");
        let rows: Vec<String> = chunk
            .iter()
            .map(|song| {
                let values = [
                    sql.param(Uuid::now_v7()),
                    sql.param(KIND_ANALYSE),
                    sql.param(serde_json::json!({ "song_id": song })),
                ];
                format!("({})", values.join(", "))
            })
            .collect();
        sql.push(&rows.join(", "));
        db.execute(sql.statement()).await?;
    }
    if !songs.is_empty() {
        db.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}")).await?;
    }
    Ok(())
}

/// Takes the next due job: queued and due, or running with an expired lease (its worker died).
pub async fn claim(db: &impl ConnectionTrait, worker: &str, kinds: &[&str]) -> Result<Option<jobs::Model>, DbErr> {
    let mut sql = Sql::new("UPDATE jobs SET status = 'running', locked_by = ");
    let w = sql.param(worker);
    let lease = sql.param(LEASE.as_secs_f64());
    let kinds = kinds.iter().map(|k| sql.param(*k)).collect::<Vec<_>>().join(", ");
    sql.push(&format!(
        "{w}, lease_until = now() + make_interval(secs => {lease}), attempts = attempts + 1, updated_at = now() \
         WHERE id = (SELECT id FROM jobs WHERE kind IN ({kinds}) AND ((status = 'queued' AND run_at <= now()) \
         OR (status = 'running' AND lease_until < now())) ORDER BY run_at, id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *"
    ));
    jobs::Model::find_by_statement(sql.statement()).one(db).await
}

async fn renew(db: &impl ConnectionTrait, id: Uuid, worker: &str) -> Result<(), DbErr> {
    let mut sql = Sql::new("UPDATE jobs SET lease_until = now() + make_interval(secs => ");
    let lease = sql.param(LEASE.as_secs_f64());
    let i = sql.param(id);
    let w = sql.param(worker);
    sql.push(&format!("{lease}) WHERE id = {i} AND locked_by = {w} AND status = 'running'"));
    db.execute(sql.statement()).await.map(drop)
}

pub async fn set_progress(db: &impl ConnectionTrait, id: Uuid, progress: serde_json::Value) -> Result<(), DbErr> {
    let mut sql = Sql::new("UPDATE jobs SET progress = ");
    let p = sql.param(progress);
    let i = sql.param(id);
    sql.push(&format!("{p}, updated_at = now() WHERE id = {i}"));
    db.execute(sql.statement()).await.map(drop)
}

pub async fn finish(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    let mut sql = Sql::new(
        "UPDATE jobs SET status = 'done', finished_at = now(), updated_at = now(), lease_until = NULL, last_error = NULL WHERE id = ",
    );
    let i = sql.param(id);
    sql.push(&i);
    db.execute(sql.statement()).await.map(drop)
}

/// Retries later (2, 4, 8... seconds, at most 10 minutes) or, out of attempts, marks the job failed.
pub async fn fail(db: &impl ConnectionTrait, job: &jobs::Model, error: &str) -> Result<(), DbErr> {
    let mut sql = Sql::new("UPDATE jobs SET last_error = ");
    let e = sql.param(error.chars().take(2000).collect::<String>());
    let backoff = sql.param(2f64.powi(job.attempts.min(9)).min(600.0));
    let i = sql.param(job.id);
    sql.push(&format!(
        "{e}, updated_at = now(), lease_until = NULL, \
         status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
         finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
         run_at = now() + make_interval(secs => {backoff}) WHERE id = {i}"
    ));
    db.execute(sql.statement()).await.map(drop)
}

pub type Handler =
    Arc<dyn Fn(AppState, jobs::Model) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

/// Runs jobs of `kinds` until `stop`: claims one, runs `handler` while renewing the lease, records the outcome.
/// Sleeps until a NOTIFY on the wake channel or a poll interval passes.
pub fn spawn_worker(
    state: AppState,
    name: String,
    kinds: &'static [&'static str],
    handler: Handler,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut wake = wake_listener(&state.database_url, stop.clone());
        loop {
            if stop.is_cancelled() {
                return;
            }
            let job = match claim(&state.db, &name, kinds).await {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!("cannot claim jobs: {e}");
                    None
                }
            };
            let Some(job) = job else {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = wake.recv() => {}
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                continue;
            };
            run_one(&state, &name, &handler, job).await;
        }
    });
}

async fn run_one(state: &AppState, worker: &str, handler: &Handler, job: jobs::Model) {
    let (id, kind) = (job.id, job.kind.clone());
    let work = handler(state.clone(), job.clone());
    tokio::pin!(work);
    let mut renewals = tokio::time::interval(LEASE / 3);
    renewals.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = renewals.tick() => {
                if let Err(e) = renew(&state.db, id, worker).await {
                    tracing::warn!(%id, "cannot renew job lease: {e}");
                }
            }
        }
    };
    let recorded = match &result {
        Ok(()) => finish(&state.db, id).await,
        Err(e) => {
            tracing::warn!(%id, %kind, attempt = job.attempts, "job failed: {e:#}");
            fail(&state.db, &job, &format!("{e:#}")).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(%id, "cannot record the job's outcome: {e}");
    }
}

/// A channel that yields whenever a job is queued on any replica.
fn wake_listener(url: &str, stop: CancellationToken) -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let url = url.to_owned();
    tokio::spawn(async move {
        loop {
            let attempt = async {
                let (client, mut connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                let tx = tx.clone();
                let driver = tokio::spawn(async move {
                    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = futures::StreamExt::next(&mut messages).await {
                        if let tokio_postgres::AsyncMessage::Notification(_) = message? {
                            let _ = tx.try_send(());
                        }
                    }
                    Ok::<_, tokio_postgres::Error>(())
                });
                client.batch_execute(&format!("LISTEN {WAKE_CHANNEL}")).await?;
                driver.await??;
                anyhow::Ok(())
            };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = attempt => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
    rx
}

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

#[derive(FromQueryResult)]
struct StatusCount {
    status: String,
    n: i64,
}

/// The job queue: counts by status and the most recent jobs.
#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin", responses(
    (status = 200, body = JobQueue), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
))]
pub async fn list(State(db): State<DatabaseConnection>, _admin: AdminUser) -> AppResult<axum::Json<JobQueue>> {
    let counts =
        StatusCount::find_by_statement(Sql::new("SELECT status, count(*) AS n FROM jobs GROUP BY status").statement())
            .all(&db)
            .await?
            .into_iter()
            .map(|c| (c.status, c.n))
            .collect();
    let recent = jobs::Entity::find()
        .order_by_desc(jobs::Column::CreatedAt)
        .order_by_desc(jobs::Column::Id)
        .limit(100)
        .all(&db)
        .await?
        .into_iter()
        .map(JobView::from)
        .collect();
    Ok(axum::Json(JobQueue { counts, recent }))
}
