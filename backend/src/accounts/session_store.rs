//! The session store: PostgreSQL (so every replica sees every session) behind a per-replica cache of
//! session records, kept honest across replicas by NOTIFY.
//!
//! Reading the session row was one of the two database round trips every API request paid before its own
//! work. A trigger on `sessions` (migration `session_notify`) announces each changed or deleted row on
//! [`CHANNEL`]; the events listener passes those ids to [`SessionCache::forget`], so a sign-out, a disable or a
//! password change on one replica is seen by the others within the NOTIFY's delivery time. The cache is only
//! used while that listener is connected: it is emptied and bypassed from the moment the connection is lost
//! until LISTEN succeeds again, since notifications sent in between are not replayed.
//!
//! tower-sessions' `CachingSessionStore` is not used because it fills the cache after reading the database
//! without knowing whether an invalidation arrived in between; here a generation counter refuses such fills.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use time::OffsetDateTime;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
};
use tower_sessions_sqlx_store::PostgresStore;

/// The NOTIFY channel carrying the ids of changed and deleted sessions.
pub const CHANNEL: &str = "fermata_sessions";

/// A bound on how long a record is reused even if every notification were lost.
const TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The per-replica cache, shared by the store and the events listener.
#[derive(Clone, Debug)]
pub struct SessionCache {
    records: moka::sync::Cache<Id, Record>,
    /// Bumped by every invalidation; a fill started before a bump is dropped. A lock (not an atomic) so
    /// that checking it and filling the cache cannot interleave with an invalidation.
    generation: Arc<Mutex<u64>>,
    /// Whether the LISTEN connection is up (notifications would reach us).
    listening: Arc<AtomicBool>,
    /// Every invalidation, for whoever holds a session open past one request (event streams): `Some(key)` (see
    /// [`notify_key`]) for one session, `None` when any may have changed (a lost connection, a bad payload).
    changes: tokio::sync::broadcast::Sender<Option<String>>,
}

impl SessionCache {
    pub fn new() -> Self {
        Self {
            records: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .support_invalidation_closures()
                .build(),
            generation: Arc::new(Mutex::new(0)),
            listening: Arc::new(AtomicBool::new(false)),
            changes: tokio::sync::broadcast::channel(1024).0,
        }
    }

    /// Session changes as they are learnt (see the `changes` field).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Option<String>> {
        self.changes.subscribe()
    }

    /// A notification: the session whose [`notify_key`] this is changed or ended.
    pub fn forget(&self, key: &str) {
        let mut generation = self.lock();
        *generation += 1;
        if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            // The cache holds at most 10,000 records; hashing their ids is far cheaper than a database read.
            let key = key.to_ascii_lowercase();
            let _ = self.records.invalidate_entries_if({
                let key = key.clone();
                move |id, _| notify_key(id) == key
            });
            let _ = self.changes.send(Some(key));
        } else {
            self.records.invalidate_all();
            let _ = self.changes.send(None);
        }
    }

    /// LISTEN succeeded: start caching from an empty cache (changes made while deaf are unknown).
    pub fn listening(&self) {
        let mut generation = self.lock();
        *generation += 1;
        self.records.invalidate_all();
        self.listening.store(true, Ordering::SeqCst);
    }

    /// The LISTEN connection is gone: stop trusting and filling the cache until it is back.
    pub fn deaf(&self) {
        let mut generation = self.lock();
        self.listening.store(false, Ordering::SeqCst);
        *generation += 1;
        self.records.invalidate_all();
        let _ = self.changes.send(None);
    }

    fn usable(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // Nothing can panic while it is held.
        self.generation.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn generation(&self) -> u64 {
        *self.lock()
    }
}

/// How a session is named in change notifications: the hex SHA-256 of its id (the id is a credential; the
/// trigger in migration `session_notify_hash` computes the same).
pub fn notify_key(id: &Id) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(id.to_string().as_bytes()))
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new()
    }
}

/// PostgreSQL sessions read through a [`SessionCache`].
#[derive(Clone, Debug)]
pub struct CachedStore {
    store: PostgresStore,
    pool: sea_orm::sqlx::PgPool,
    cache: SessionCache,
}

impl CachedStore {
    pub fn new(db: &DatabaseConnection, cache: SessionCache) -> Self {
        let store = PostgresStore::new(db.get_postgres_connection_pool().clone())
            .with_schema_name("public")
            .and_then(|s| s.with_table_name("sessions"))
            .expect("constant identifiers are valid");
        Self { store, pool: db.get_postgres_connection_pool().clone(), cache }
    }

    /// Caches what was just read or written, unless an invalidation happened since `generation` was read:
    /// then any older copy is dropped too, and the next load reads the database.
    fn remember(&self, record: &Record, generation: u64) {
        let now = self.cache.lock();
        if self.cache.usable() && *now == generation {
            self.cache.records.insert(record.id, record.clone());
        } else {
            self.cache.records.invalidate(&record.id);
        }
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let generation = self.cache.generation();
        self.store.create(record).await?;
        self.remember(record, generation);
        Ok(())
    }

    /// Updates a session that exists, and only then. tower-sessions saves existing sessions here (new ones go
    /// through `create`), and PostgresStore's save is an upsert: a request that loaded the session before a
    /// sign-out and saved it after (touching `last_seen`) would bring the signed-out session back.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let generation = self.cache.generation();
        let data = rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let updated = sea_orm::sqlx::query("UPDATE sessions SET data = $2, expiry_date = $3 WHERE id = $1")
            .bind(record.id.to_string())
            .bind(data)
            .bind(record.expiry_date)
            .execute(&self.pool)
            .await
            .map_err(|e| session_store::Error::Backend(e.to_string()))?;
        if updated.rows_affected() == 0 {
            // Ended in the meantime: stays ended.
            self.cache.records.invalidate(&record.id);
            return Ok(());
        }
        self.remember(record, generation);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if self.cache.usable()
            && let Some(record) = self.cache.records.get(id)
        {
            if record.expiry_date > OffsetDateTime::now_utc() {
                return Ok(Some(record));
            }
            self.cache.records.invalidate(id);
        }
        let generation = self.cache.generation();
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.remember(record, generation);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.cache.records.invalidate(id);
        self.store.delete(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for CachedStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.store.delete_expired().await
    }
}
