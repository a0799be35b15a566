//! Live events across replicas, and the one LISTEN connection each replica holds.
//!
//! Events are published with PostgreSQL NOTIFY on [`CHANNEL`] and received by every replica over one
//! dedicated tokio-postgres connection ([`spawn_listener`], reconnected with backoff after a database
//! restart), then fanned out by [`Events`] to whoever subscribed on that replica (the REST API's
//! Server-Sent Events). The same connection carries the other channels a replica listens to (session
//! invalidations, job wake-ups): one [`Listener`] receives them all.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The channel events travel on.
pub const CHANNEL: &str = "fermata_events";

/// Who may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// This replica's subscribers to events from every replica.
#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Self { sender: broadcast::channel(256).0 }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Passes on an event received on [`CHANNEL`].
    pub fn deliver(&self, payload: &str) {
        match serde_json::from_str::<Event>(payload) {
            Ok(event) => {
                let _ = self.sender.send(event);
            }
            Err(e) => tracing::warn!("ignored a malformed event: {e}"),
        }
    }
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

/// What a replica's LISTEN connection tells.
pub trait Listener: Send + Sync + 'static {
    /// LISTEN succeeded (at start and after every reconnection): notifications arrive from now on.
    fn listening(&self);
    /// The connection is lost: notifications sent until [`Self::listening`] is called again are never seen.
    fn deaf(&self);
    /// A notification on one of the channels.
    fn notified(&self, channel: &str, payload: &str);
}

/// Listens on `channels` for as long as `stop` is not cancelled, reconnecting with backoff (250 ms doubling to
/// 5 s), and tells `listener` everything it hears.
pub fn spawn_listener(
    database_url: String,
    channels: Vec<&'static str>,
    listener: Arc<dyn Listener>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            let result = tokio::select! {
                () = stop.cancelled() => return,
                result = listen(&database_url, &channels, listener.as_ref()) => result,
            };
            listener.deaf();
            if let Err(e) = result {
                tracing::warn!("the LISTEN connection to the database is lost, reconnecting: {e}");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}

async fn listen(url: &str, channels: &[&'static str], listener: &dyn Listener) -> anyhow::Result<()> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message?
                && tx.send((n.channel().to_owned(), n.payload().to_owned())).is_err()
            {
                break;
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    });
    let statements: Vec<String> = channels.iter().map(|c| format!("LISTEN {c}")).collect();
    client.batch_execute(&statements.join("; ")).await?;
    listener.listening();
    tracing::debug!(?channels, "listening");
    while let Some((channel, payload)) = rx.recv().await {
        listener.notified(&channel, &payload);
    }
    driver.await??;
    anyhow::bail!("connection closed")
}
