//! Live events in the REST API: Server-Sent Events to browsers, fed by the core's cross-replica events
//! (`fermata_core::events`), and the replica's one LISTEN connection wired to everything it carries.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::{HeaderValue, header::HeaderName},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
pub use fermata_core::events::{Audience, Event, Events, publish};
use fermata_core::{
    accounts::Role,
    catalog::search::{self, SearchIndex},
    events::{self, Listener},
    jobs,
};
use futures::Stream;
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

/// What this replica's LISTEN connection feeds: events to the event streams, session invalidations to the
/// session cache, job announcements to the idle workers, catalogue changes to the search index.
struct Hub {
    events: Events,
    sessions: SessionCache,
    wake: jobs::Wake,
    search: Arc<SearchIndex>,
}

impl Listener for Hub {
    fn listening(&self) {
        self.sessions.listening();
        // A job queued while the connection was down was announced to nobody.
        self.wake.notify();
        // Catalogue changes announced while the connection was down were missed: the index is read again.
        self.search.listening();
    }

    fn deaf(&self) {
        self.sessions.deaf();
    }

    fn notified(&self, channel: &str, payload: &str) {
        match channel {
            SESSIONS_CHANNEL => self.sessions.forget(payload),
            jobs::WAKE_CHANNEL => self.wake.notify(),
            search::CHANNEL => self.search.notified(payload),
            _ => self.events.deliver(payload),
        }
    }
}

/// Opens this replica's one LISTEN connection (kept until `stop`).
pub fn spawn_listener(state: &AppState, stop: CancellationToken) {
    let hub = Hub {
        events: state.events.clone(),
        sessions: state.sessions.clone(),
        wake: state.jobs_wake.clone(),
        search: state.search.clone(),
    };
    events::spawn_listener(
        state.database_url.to_string(),
        vec![events::CHANNEL, SESSIONS_CHANNEL, jobs::WAKE_CHANNEL, search::CHANNEL],
        Arc::new(hub),
        stop,
    );
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
    open: Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, usize>>>,
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
                    if event.audience == Audience::Admin && Role::of(&user) != Role::Admin {
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
