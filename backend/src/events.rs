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
    error::ErrorBody,
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

/// Server-Sent Events: progress and completions of uploads, scans and analysis. Admins also get admin events.
#[utoipa::path(get, path = "/api/events", tag = "events", responses(
    (status = 200, content_type = "text/event-stream"), (status = 401, body = ErrorBody),
))]
pub async fn stream(State(state): State<AppState>, user: CurrentUser) -> Response {
    let admin = user.is_admin();
    let receiver = state.events.subscribe();
    let events = tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |event| async move {
        let event = event.ok()?;
        if event.audience == Audience::Admin && !admin {
            return None;
        }
        let data = serde_json::to_string(&event.data).ok()?;
        Some(Ok::<_, Infallible>(SseEvent::default().event(event.kind).data(data)))
    });
    sse(events)
}

fn sse(events: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static) -> Response {
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    // nginx must pass events through as they come.
    response.headers_mut().insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    response
}
