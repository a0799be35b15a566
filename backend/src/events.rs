//! Live events across replicas: published with PostgreSQL NOTIFY, received by every replica over one
//! dedicated tokio-postgres LISTEN connection (reconnected after a database restart), fanned out to the
//! browsers connected to that replica as Server-Sent Events.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::{HeaderValue, header::HeaderName},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    accounts::{
        session::CurrentUser,
        session_store::{CHANNEL as SESSIONS_CHANNEL, SessionCache},
    },
    error::{AppError, ErrorBody},
    state::AppState,
};

const CHANNEL: &str = "fermata_events";

/// Who may see an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    All,
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// e.g. `scan.progress`, `scan.done`, `upload.done`, `analysis.done`
    #[serde(rename = "type")]
    pub kind: String,
    pub audience: Audience,
    pub data: serde_json::Value,
}

#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
}

impl Events {
    pub fn new() -> Self {
        Self { sender: broadcast::channel(256).0 }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Receives NOTIFYs for as long as `stop` is not cancelled, reconnecting with backoff. The same
    /// connection carries the session invalidations for `sessions`.
    pub fn spawn_listener(&self, database_url: String, sessions: SessionCache, stop: CancellationToken) {
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(250);
            loop {
                let result = tokio::select! {
                    () = stop.cancelled() => return,
                    result = listen(&database_url, &sender, &sessions) => result,
                };
                sessions.deaf();
                if let Err(e) = result {
                    tracing::warn!("event listener lost its database connection, reconnecting: {e}");
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

async fn listen(url: &str, sender: &broadcast::Sender<Event>, sessions: &SessionCache) -> anyhow::Result<()> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message? {
                tokio_postgres::AsyncMessage::Notification(n) => {
                    if tx.send((n.channel() == SESSIONS_CHANNEL, n.payload().to_owned())).is_err() {
                        break;
                    }
                }
                _ => continue,
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {SESSIONS_CHANNEL}")).await?;
    sessions.listening();
    tracing::debug!("listening for events");
    while let Some((session, payload)) = rx.recv().await {
        if session {
            sessions.forget(&payload);
            continue;
        }
        match serde_json::from_str::<Event>(&payload) {
            Ok(event) => {
                let _ = sender.send(event);
            }
            Err(e) => tracing::warn!("ignored a malformed event: {e}"),
        }
    }
    driver.await??;
    anyhow::bail!("connection closed")
}

/// Publishes an event to every replica (delivered once the transaction of `db`, if any, commits).
pub async fn publish(db: &impl ConnectionTrait, kind: &str, audience: Audience, data: serde_json::Value) {
    let event = Event { kind: kind.to_owned(), audience, data };
    let payload = serde_json::to_string(&event).expect("events serialise");
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    );
    if let Err(e) = db.execute(statement).await {
        // Events are progress reports; losing one must not fail the work that raised it.
        tracing::warn!("cannot publish event {kind}: {e}");
    }
}

/// Event streams a user may hold open at once on one replica (browser tabs and devices). Behind N replicas a
/// user can hold up to N times this; each stream is a task and a subscription, so the bound matters, not its
/// exactness.
pub const MAX_STREAMS_PER_USER: usize = 8;
/// How often an open stream checks its session even without a change notification (the backstop for a
/// notification lost while the LISTEN connection was down).
const RECHECK: Duration = Duration::from_secs(30);

/// Open event streams per user on this replica.
#[derive(Clone, Default)]
pub struct StreamSlots {
    open: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, usize>>>,
}

/// One open stream; gives its slot back when dropped.
pub struct StreamSlot {
    slots: StreamSlots,
    user: uuid::Uuid,
}

impl StreamSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<uuid::Uuid, usize>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for `user`, or None when they already hold [`MAX_STREAMS_PER_USER`].
    pub fn acquire(&self, user: uuid::Uuid) -> Option<StreamSlot> {
        let mut open = self.lock();
        let count = open.entry(user).or_default();
        if *count >= MAX_STREAMS_PER_USER {
            return None;
        }
        *count += 1;
        Some(StreamSlot { slots: self.clone(), user })
    }

    /// Streams `user` holds open here.
    pub fn count(&self, user: uuid::Uuid) -> usize {
        self.lock().get(&user).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Server-Sent Events: progress and completions of uploads, scans and analysis. Admins also get admin events.
/// A stream ends within moments of its session ending (sign-out, disabling, a password change), on whichever
/// replica that happened; a demoted admin's stream stops carrying admin events.
#[utoipa::path(get, path = "/api/events", tag = "events", responses(
    (status = 200, content_type = "text/event-stream"), (status = 401, body = ErrorBody),
    (status = 409, body = ErrorBody),
))]
pub async fn stream(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let session = user.session.id().ok_or(AppError::Unauthorized)?;
    let slot = state.event_streams.acquire(user.user.id).ok_or_else(|| AppError::Conflict {
        code: "too_many_streams",
        message: format!("at most {MAX_STREAMS_PER_USER} event streams per account are open at once; close one"),
    })?;
    let (sender, receiver) = tokio::sync::mpsc::channel(32);
    // Subscribe before answering, so nothing published from here on is missed.
    let events = state.events.subscribe();
    let changes = state.sessions.subscribe();
    tokio::spawn(forward(state, user.user, session, events, changes, sender, slot));
    Ok(sse(tokio_stream::wrappers::ReceiverStream::new(receiver)))
}

type Outgoing = tokio::sync::mpsc::Sender<Result<SseEvent, Infallible>>;

/// Passes this replica's events to one stream, as long as the client listens and the session holds.
async fn forward(
    state: AppState,
    mut user: crate::entities::users::Model,
    session: tower_sessions::session::Id,
    mut events: broadcast::Receiver<Event>,
    mut changes: broadcast::Receiver<Option<String>>,
    sender: Outgoing,
    _slot: StreamSlot,
) {
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    let key = crate::accounts::session_store::notify_key(&session);
    loop {
        let look_again = tokio::select! {
            () = sender.closed() => return,
            event = events.recv() => match event {
                Ok(event) => {
                    if event.audience == Audience::Admin && user.role != crate::accounts::model::ROLE_ADMIN {
                        continue;
                    }
                    let Ok(data) = serde_json::to_string(&event.data) else { continue };
                    if sender.send(Ok(SseEvent::default().event(event.kind).data(data))).await.is_err() {
                        return;
                    }
                    false
                }
                Err(broadcast::error::RecvError::Lagged(_)) => false,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            change = changes.recv() => match change {
                Ok(Some(changed)) => changed == key,
                Ok(None) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = recheck.tick() => true,
        };
        if look_again {
            match crate::accounts::session::recheck(&state, session).await {
                Ok(Some(current)) => user = current,
                Ok(None) => return,
                // The database is away: keep the stream; the next check decides.
                Err(e) => tracing::debug!("event stream session check failed: {e}"),
            }
        }
    }
}

fn sse(events: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static) -> Response {
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    // nginx must pass events through as they come.
    response.headers_mut().insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    response
}
