//! Background work in PostgreSQL. A job is taken with `FOR UPDATE SKIP LOCKED` and held under a lease that its
//! worker renews; a job whose replica died is taken up again once the lease runs out. Failures are retried
//! with exponential backoff up to `max_attempts`. Workers sleep until the wake channel is notified (through
//! the replica's one LISTEN connection, [`crate::events::spawn_listener`]) or a poll interval passes.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryOrder, QuerySelect, SqlErr,
    sea_query::{Alias, Asterisk, Expr, Func, LockBehavior, LockType, Order, Query, SimpleExpr},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    entities::jobs,
    error::{Error, Result},
    ids::SongId,
    run::execute,
};

/// The channel a queued job is announced on.
pub const WAKE_CHANNEL: &str = "fermata_jobs";
/// How long a claimed job is ours without renewal.
const LEASE: Duration = Duration::from_secs(60);
/// How often an idle worker looks for due jobs without being woken (retries come due without a NOTIFY).
const POLL: Duration = Duration::from_secs(2);

/// What a job does, as stored in `jobs.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum JobKind {
    /// Index MUSIC_DIR. At most one is queued or running (a unique partial index).
    #[sea_orm(string_value = "scan")]
    Scan,
    /// Decode one song for its duration, peaks and loudness.
    #[sea_orm(string_value = "analyse")]
    Analyse,
    /// Analyse every song the current sonic measures have not (queued by migration 000015, or by an admin).
    /// At most one is queued or running (a unique partial index).
    #[sea_orm(string_value = "backfill")]
    Backfill,
}

/// Where a job is, as stored in `jobs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum JobState {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// A state or kind written into the statement as a constant, not bound: the partial indexes of the queue
/// (`jobs_ready_idx` on queued jobs, `jobs_lease_idx` on running ones) are only usable by a plan that sees the
/// value, and a prepared statement's generic plan does not see bound ones.
fn constant(value: impl sea_orm::ActiveEnum<Value = String>) -> SimpleExpr {
    SimpleExpr::Constant(value.to_value().into())
}

/// `now() + seconds`.
fn from_now(seconds: f64) -> SimpleExpr {
    Expr::cust_with_values("now() + make_interval(secs => $1)", [seconds])
}

async fn wake(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}")).await.map(drop)
}

/// Queues a scan of MUSIC_DIR and wakes idle workers; a conflict while one is queued or running.
pub async fn enqueue_scan(db: &impl ConnectionTrait) -> Result<jobs::Model> {
    enqueue_one(db, JobKind::Scan).await
}

/// Queues a backfill of the sonic analysis and wakes idle workers; a conflict while one is queued or running.
pub async fn enqueue_backfill(db: &impl ConnectionTrait) -> Result<jobs::Model> {
    enqueue_one(db, JobKind::Backfill).await
}

/// Queues a job of a kind a unique partial index allows once queued or running (scans, backfills).
async fn enqueue_one(db: &impl ConnectionTrait, kind: JobKind) -> Result<jobs::Model> {
    let id = Uuid::now_v7();
    let insert = Query::insert()
        .into_table(jobs::Entity)
        .columns([jobs::Column::Id, jobs::Column::Kind, jobs::Column::Payload])
        .values_panic([id.into(), kind.into(), serde_json::json!({}).into()])
        .to_owned();
    execute(db, &insert).await.map_err(|e| one_running(e, kind))?;
    wake(db).await?;
    jobs::Entity::find_by_id(id).one(db).await?.ok_or(Error::NotFound)
}

fn one_running(e: DbErr, kind: JobKind) -> Error {
    match (e.sql_err(), kind) {
        (Some(SqlErr::UniqueConstraintViolation(_)), JobKind::Backfill) => {
            Error::conflict("backfill_running", "an analysis backfill is already queued or running")
        }
        (Some(SqlErr::UniqueConstraintViolation(_)), _) => {
            Error::conflict("scan_running", "a scan is already queued or running")
        }
        _ => e.into(),
    }
}

/// Records a scan run outside the queue (the CLI) as a running scan job, so it holds the same one-scan slot.
pub async fn claim_scan_slot(db: &impl ConnectionTrait, worker: &str) -> Result<Uuid> {
    use jobs::Column as J;
    let id = Uuid::now_v7();
    let insert = Query::insert()
        .into_table(jobs::Entity)
        .columns([J::Id, J::Kind, J::Status, J::Attempts, J::LockedBy, J::LeaseUntil])
        .values_panic([
            id.into(),
            JobKind::Scan.into(),
            JobState::Running.into(),
            1.into(),
            worker.into(),
            from_now(Duration::from_secs(86_400).as_secs_f64()),
        ])
        .to_owned();
    execute(db, &insert).await.map_err(|e| one_running(e, JobKind::Scan))?;
    Ok(id)
}

pub async fn release_scan_slot(db: &impl ConnectionTrait, id: Uuid, error: Option<String>) -> Result<(), DbErr> {
    use jobs::Column as J;
    let update = Query::update()
        .table(jobs::Entity)
        .values([
            (J::Status, if error.is_some() { JobState::Failed } else { JobState::Done }.into()),
            (J::LastError, error.into()),
            (J::FinishedAt, Expr::current_timestamp().into()),
            (J::UpdatedAt, Expr::current_timestamp().into()),
            (J::LeaseUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None)),
        ])
        .and_where(Expr::col(J::Id).eq(id))
        .to_owned();
    execute(db, &update).await.map(drop)
}

/// Queues one analysis job per song.
pub async fn enqueue_analysis(db: &impl ConnectionTrait, songs: &[SongId]) -> Result<(), DbErr> {
    for chunk in songs.chunks(500) {
        let mut insert = Query::insert();
        insert.into_table(jobs::Entity).columns([jobs::Column::Id, jobs::Column::Kind, jobs::Column::Payload]);
        for song in chunk {
            insert.values_panic([
                Uuid::now_v7().into(),
                JobKind::Analyse.into(),
                serde_json::json!({ "song_id": song }).into(),
            ]);
        }
        execute(db, &insert).await?;
    }
    if !songs.is_empty() {
        wake(db).await?;
    }
    Ok(())
}

/// Takes the next due job of `kinds`: queued and due, or running with an expired lease (its worker died).
pub async fn claim(db: &impl ConnectionTrait, worker: &str, kinds: &[JobKind]) -> Result<Option<jobs::Model>, DbErr> {
    use jobs::Column as J;
    let queued_and_due =
        Expr::col(J::Status).eq(constant(JobState::Queued)).and(Expr::col(J::RunAt).lte(Expr::current_timestamp()));
    let lease_expired = Expr::col(J::Status)
        .eq(constant(JobState::Running))
        .and(Expr::col(J::LeaseUntil).lt(Expr::current_timestamp()));
    let next = Query::select()
        .column(J::Id)
        .from(jobs::Entity)
        .and_where(Expr::col(J::Kind).is_in(kinds.iter().map(|kind| constant(*kind))))
        .and_where(queued_and_due.or(lease_expired))
        .order_by(J::RunAt, Order::Asc)
        .order_by(J::Id, Order::Asc)
        .limit(1)
        // Replicas polling together each take a different job instead of queueing on one row's lock.
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let update = Query::update()
        .table(jobs::Entity)
        .values([
            (J::Status, JobState::Running.into()),
            (J::LockedBy, worker.into()),
            (J::LeaseUntil, from_now(LEASE.as_secs_f64())),
            (J::Attempts, Expr::col(J::Attempts).add(1)),
            (J::UpdatedAt, Expr::current_timestamp().into()),
        ])
        .and_where(Expr::col(J::Id).in_subquery(next))
        .returning_all()
        .to_owned();
    crate::run::one::<jobs::Model>(db, &update).await
}

async fn renew(db: &impl ConnectionTrait, id: Uuid, worker: &str) -> Result<(), DbErr> {
    use jobs::Column as J;
    let update = Query::update()
        .table(jobs::Entity)
        .value(J::LeaseUntil, from_now(LEASE.as_secs_f64()))
        .and_where(Expr::col(J::Id).eq(id))
        .and_where(Expr::col(J::LockedBy).eq(worker))
        .and_where(Expr::col(J::Status).eq(constant(JobState::Running)))
        .to_owned();
    execute(db, &update).await.map(drop)
}

/// Records how far a job got (shown by the admin job list and scan status).
pub async fn set_progress(db: &impl ConnectionTrait, id: Uuid, progress: serde_json::Value) -> Result<(), DbErr> {
    let update = Query::update()
        .table(jobs::Entity)
        .values([
            (jobs::Column::Progress, progress.into()),
            (jobs::Column::UpdatedAt, Expr::current_timestamp().into()),
        ])
        .and_where(Expr::col(jobs::Column::Id).eq(id))
        .to_owned();
    execute(db, &update).await.map(drop)
}

async fn finish(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    use jobs::Column as J;
    let update = Query::update()
        .table(jobs::Entity)
        .values([
            (J::Status, JobState::Done.into()),
            (J::FinishedAt, Expr::current_timestamp().into()),
            (J::UpdatedAt, Expr::current_timestamp().into()),
            (J::LeaseUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None)),
            (J::LastError, Expr::value(Option::<String>::None)),
        ])
        .and_where(Expr::col(J::Id).eq(id))
        .to_owned();
    execute(db, &update).await.map(drop)
}

/// Retries later (2, 4, 8... seconds, at most 10 minutes) or, out of attempts, marks the job failed.
async fn fail(db: &impl ConnectionTrait, job: &jobs::Model, error: &str) -> Result<(), DbErr> {
    use jobs::Column as J;
    let out_of_attempts = || Expr::col(J::Attempts).gte(Expr::col(J::MaxAttempts));
    let backoff = 2f64.powi(job.attempts.min(9)).min(600.0);
    let update = Query::update()
        .table(jobs::Entity)
        .values([
            (J::LastError, error.chars().take(2000).collect::<String>().into()),
            (J::UpdatedAt, Expr::current_timestamp().into()),
            (J::LeaseUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None)),
            (J::Status, Expr::case(out_of_attempts(), JobState::Failed).finally(JobState::Queued).into()),
            (
                J::FinishedAt,
                Expr::case(out_of_attempts(), Expr::current_timestamp())
                    .finally(Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
                    .into(),
            ),
            (J::RunAt, from_now(backoff)),
        ])
        .and_where(Expr::col(J::Id).eq(job.id))
        .to_owned();
    execute(db, &update).await.map(drop)
}

/// The work of one job kind: given the app's state and the job, do it.
pub type Handler<S> =
    Arc<dyn Fn(S, jobs::Model) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

/// Wakes a replica's idle workers: bumped by the LISTEN connection on every NOTIFY of [`WAKE_CHANNEL`] (and on
/// reconnecting, as one may have been missed).
#[derive(Clone)]
pub struct Wake(Arc<watch::Sender<u64>>);

impl Default for Wake {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Wake {
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Runs jobs of `kinds` until `stop`: claims one, runs `handler` while renewing the lease, records the outcome.
pub fn spawn_worker<S: Clone + Send + 'static>(
    db: DatabaseConnection,
    state: S,
    name: String,
    kinds: &'static [JobKind],
    handler: Handler<S>,
    wake: &Wake,
    stop: CancellationToken,
) {
    let mut woken = wake.0.subscribe();
    tokio::spawn(async move {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let job = match claim(&db, &name, kinds).await {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!("cannot claim jobs: {e}");
                    None
                }
            };
            let Some(job) = job else {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = woken.changed() => {
                        if changed.is_err() {
                            // Nothing will wake us any more (shutting down): poll.
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    () = tokio::time::sleep(POLL) => {}
                }
                continue;
            };
            run_one(&db, state.clone(), &name, &handler, job).await;
        }
    });
}

async fn run_one<S>(db: &DatabaseConnection, state: S, worker: &str, handler: &Handler<S>, job: jobs::Model) {
    let (id, kind) = (job.id, job.kind.clone());
    let work = handler(state, job.clone());
    tokio::pin!(work);
    let mut renewals = tokio::time::interval(LEASE / 3);
    renewals.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = renewals.tick() => {
                if let Err(e) = renew(db, id, worker).await {
                    tracing::warn!(%id, "cannot renew job lease: {e}");
                }
            }
        }
    };
    let recorded = match &result {
        Ok(()) => finish(db, id).await,
        Err(e) => {
            tracing::warn!(%id, %kind, attempt = job.attempts, "job failed: {e:#}");
            fail(db, &job, &format!("{e:#}")).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(%id, "cannot record the job's outcome: {e}");
    }
}

/// The job queue at a glance: jobs per status, and the most recent ones.
pub async fn overview(
    db: &impl ConnectionTrait,
    recent: u64,
) -> Result<(BTreeMap<String, i64>, Vec<jobs::Model>), DbErr> {
    #[derive(FromQueryResult)]
    struct StatusCount {
        status: String,
        n: i64,
    }
    let counts = Query::select()
        .column(jobs::Column::Status)
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(jobs::Entity)
        .group_by_col(jobs::Column::Status)
        .to_owned();
    let counts = crate::run::all::<StatusCount>(db, &counts).await?.into_iter().map(|c| (c.status, c.n)).collect();
    let recent = jobs::Entity::find()
        .order_by_desc(jobs::Column::CreatedAt)
        .order_by_desc(jobs::Column::Id)
        .limit(recent)
        .all(db)
        .await?;
    Ok((counts, recent))
}

/// The latest scan job, if any ran.
pub async fn latest_scan(db: &impl ConnectionTrait) -> Result<Option<jobs::Model>, DbErr> {
    use sea_orm::{ActiveEnum, ColumnTrait, QueryFilter};
    jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(JobKind::Scan.to_value()))
        .order_by_desc(jobs::Column::CreatedAt)
        .limit(1)
        .one(db)
        .await
}
