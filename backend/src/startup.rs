//! Building and running the application: the database, the router with its layers, and graceful shutdown.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::DefaultBodyLimit, http::Method, middleware};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::{catch_panic::CatchPanicLayer, cors::CorsLayer, timeout::RequestBodyTimeoutLayer};
use tower_sessions::ExpiredDeletion;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    accounts::session_store::{CachedStore, SessionCache},
    accounts::{self, password::Passwords},
    catalog,
    config::Config,
    error::AppError,
    events::Events,
    health,
    memory::MemoryGuard,
    metrics, openapi, postgres,
    postgres::{Durability, EmbeddedPostgres},
    security::{self, AllowedOrigins, RateLimits},
    state::AppState,
    telemetry,
};

/// JSON and playlist bodies are small; uploads set their own limit (MAX_UPLOAD_BYTES). nginx/locations.conf
/// holds the same number for `/api/`.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// A built application: bound to its port, migrated, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    background: CancellationToken,
    embedded: Option<EmbeddedPostgres>,
}

/// The database a command works on: DATABASE_URL, or the private cluster under DATA_DIR.
pub async fn open_database(config: &Config) -> anyhow::Result<(DatabaseConnection, Option<EmbeddedPostgres>, String)> {
    match &config.database_url()? {
        Some(url) => {
            let url = secrecy::ExposeSecret::expose_secret(url);
            Ok((postgres::connect(url, config.db_max_connections).await?, None, url.to_owned()))
        }
        None => {
            let dir = config.data_dir.join("postgres");
            let cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&dir, Durability::Durable))
                .await
                .context("starting the private database panicked")??;
            cluster.ensure_database(postgres::EMBEDDED_DATABASE).await?;
            let url = cluster.url(postgres::EMBEDDED_DATABASE);
            let db = postgres::connect(&url, config.db_max_connections).await?;
            Ok((db, Some(cluster), url))
        }
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (db, embedded, database_url) = open_database(&config).await?;
        postgres::migrate(&db).await?;
        let passwords = Passwords::new()?;
        let device_key = accounts::devices::DeviceKey::load(&db).await.context("loading the device-cookie key")?;
        bootstrap_admin(&db, &config, &passwords).await?;

        let credential_key = config.credential_key()?;
        let media = config.open_media()?;
        let stale = media.clean_temp()?;
        if stale > 0 {
            tracing::info!(files = stale, "removed temp files left by an interrupted upload");
        }
        let transcoder = fermata_core::transcode::Transcoder::new(
            config.transcode_settings(),
            db.clone(),
            media.media_dir(),
            media.objects().cloned(),
        )
        .context("cannot make the transcode folders on the media volume (MEDIA_DIR)")?;
        let config = Arc::new(config);
        let state = AppState {
            db: db.clone(),
            memory: MemoryGuard::new(config.memory_soft_limit_mb),
            metrics: metrics::handle(),
            passwords,
            device_key,
            rate_limits: RateLimits::new(&config),
            allowed_origins: AllowedOrigins::new(&config),
            config: config.clone(),
            media,
            events: Events::default(),
            jobs_wake: fermata_core::jobs::Wake::default(),
            event_streams: crate::events::StreamSlots::default(),
            users: accounts::session::user_cache(),
            sessions: SessionCache::new(),
            song_files: fermata_core::catalog::songs::FileCache::default(),
            open_files: catalog::stream::OpenFiles::default(),
            database_url: database_url.into(),
            subsonic: fermata_core::credentials::Authenticator::new(credential_key),
            transcoder,
            search: fermata_core::catalog::search::SearchIndex::new(),
        };

        let background = CancellationToken::new();
        state.memory.clone().spawn_sampler(background.child_token());
        state.rate_limits.clone().spawn_cleanup(background.child_token());
        state.search.spawn_refresher(db.clone(), background.child_token());
        crate::events::spawn_listener(&state, background.child_token());
        spawn_workers(&state, &background);
        let store = CachedStore::new(&db, state.sessions.clone());
        tokio::spawn(store.clone().continuously_delete_expired(Duration::from_secs(3600)));
        if let Some(objects) = state.media.objects().cloned() {
            spawn_upload_sweeper(db.clone(), objects, background.child_token());
        }

        let router = router(state.clone(), accounts::session::layer(store, &config));
        let listener =
            TcpListener::bind(config.bind).await.with_context(|| format!("cannot listen on {} (BIND)", config.bind))?;
        tracing::info!(address = %listener.local_addr()?, "listening");
        Ok(Self { listener, router, state, background, embedded })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives in-flight requests up to
    /// SHUTDOWN_TIMEOUT_SECS to finish, closes the pool and stops the private cluster.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, router, state, background, embedded } = self;
        let stopping = CancellationToken::new();
        let trigger = stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            trigger.cancel();
        });

        let server = serve(listener, router, stopping.clone());
        let grace = state.config.shutdown_timeout();
        tokio::select! {
            () = server => {}
            () = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(seconds = grace.as_secs(), "requests still in flight after the grace period; closing them");
            }
        }

        background.cancel();
        state.db.close().await.context("closing the database pool")?;
        if let Some(cluster) = embedded {
            tokio::task::spawn_blocking(move || drop(cluster)).await?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long a client may take to send a request's headers. axum::serve sets none, so a direct deployment
/// (scripts/run binds 0.0.0.0) could be held open by half-sent requests forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may go without a byte (an upload over a slow link keeps going; a stalled one ends).
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may stay idle between HTTP/2 pings before it is closed.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Accepts connections until `stopping` is cancelled, then lets the connections finish (idle ones close at
/// once). hyper-util's server instead of axum::serve, for the timeouts axum::serve does not expose.
async fn serve(listener: TcpListener, router: Router, stopping: CancellationToken) {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    use tower::Service;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(HTTP2_KEEP_ALIVE);
    let graceful = GracefulShutdown::new();
    let mut make = router.into_make_service_with_connect_info::<SocketAddr>();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopping.cancelled() => break,
        };
        let Ok(service) = make.call(peer).await;
        let connection =
            builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The whole HTTP surface with its layers.
pub fn router(state: AppState, sessions: tower_sessions::SessionManagerLayer<CachedStore>) -> Router {
    let (api, mut doc) = api_router(&state).split_for_parts();
    openapi::add_common_responses(&mut doc);
    let api = api
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.allowed_origins.clone(), security::same_origin))
        .layer(middleware::from_fn_with_state(state.clone(), security::api_rate_limit));

    let mut ours = Router::new().merge(health::router()).merge(openapi::docs_router(doc)).merge(api);
    // CORS_ORIGINS (with credentials) covers the cookie API only: `/rest` keeps its own CORS (any origin, no
    // credentials), which a layer around everything once answered in its place, refusing browser clients.
    if !state.config.cors_origins.is_empty() {
        let origins = state.config.cors_origins.iter().filter_map(|u| u.origin().ascii_serialization().parse().ok());
        ours = ours.layer(
            CorsLayer::new()
                .allow_origin(origins.collect::<Vec<_>>())
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
                .allow_headers([axum::http::header::CONTENT_TYPE, axum::http::header::IF_MATCH]),
        );
    }
    let mut app = ours
        .merge(crate::subsonic::router())
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed });
    if let Some(dir) = &state.config.frontend_dir {
        app = crate::frontend::serve(app, dir);
    }
    let [nosniff, referrer, frame, csp] = security::headers();
    app.layer(sessions)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
        .layer(
            ServiceBuilder::new()
                .layer(telemetry::set_request_id())
                .layer(telemetry::trace_layer())
                .layer(telemetry::propagate_request_id())
                .layer(middleware::from_fn(metrics::track))
                .layer(CatchPanicLayer::custom(|_| {
                    axum::response::IntoResponse::into_response(AppError::Internal(anyhow::anyhow!("handler panicked")))
                }))
                .layer(nosniff)
                .layer(referrer)
                .layer(frame)
                .layer(csp),
        )
        .with_state(state)
}

/// Every `/api` route, with its OpenAPI description.
pub fn api_router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(accounts::router(state))
        .merge(catalog::router())
        .merge(crate::playlists::router())
        .merge(crate::library::router())
}

/// Background workers of this replica: one for scans (rare, long), one for analysis (many, short), so a
/// scan never holds up the analysis of fresh uploads. Few enough for a Raspberry Pi.
/// A multipart upload unfinished this long belongs to a replica that died mid-upload (a live one sends its
/// parts from local disk, far faster): its parts are thrown away.
const STALE_UPLOAD: Duration = Duration::from_secs(3600);

/// Aborts stale multipart uploads now and then every 10 minutes (see `media::abort_stale_uploads`).
fn spawn_upload_sweeper(
    db: DatabaseConnection,
    objects: Arc<dyn fermata_core::objects::ObjectStorage>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            match fermata_core::media::abort_stale_uploads(&db, objects.as_ref(), STALE_UPLOAD).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "aborted multipart uploads left by a replica that stopped"),
                Err(e) => tracing::warn!("cannot sweep stale multipart uploads: {e:#}"),
            }
        }
    });
}

fn spawn_workers(state: &AppState, background: &CancellationToken) {
    use fermata_core::{
        jobs::{self, JobKind},
        library,
    };
    let replica = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
    let analyse: jobs::Handler<AppState> = Arc::new(|state, job| {
        Box::pin(async move { library::run_analysis(&state.db, &state.media, &state.config.ffmpeg, &job).await })
    });
    let scan: jobs::Handler<AppState> = Arc::new(|state, job| {
        Box::pin(async move {
            let root = state.config.music_dir.clone().ok_or_else(|| anyhow::anyhow!("MUSIC_DIR is not set"))?;
            library::run_scan(&state.db, &state.media, &root, &job).await
        })
    });
    // A backfill analyses several songs at once (one per core), so it runs beside the per-song analysis worker.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let backfill: jobs::Handler<AppState> = Arc::new(move |state, job| {
        Box::pin(
            async move { library::run_backfill(&state.db, &state.media, &state.config.ffmpeg, &job, threads).await },
        )
    });
    let workers: [(&str, &'static [JobKind], jobs::Handler<AppState>); 3] = [
        ("analysis", &[JobKind::Analyse], analyse),
        ("scan", &[JobKind::Scan], scan),
        ("backfill", &[JobKind::Backfill], backfill),
    ];
    for (name, kinds, handler) in workers {
        jobs::spawn_worker(
            state.db.clone(),
            state.clone(),
            format!("{replica}/{name}"),
            kinds,
            handler,
            &state.jobs_wake,
            background.child_token(),
        );
    }
}

fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "fermata".to_owned())
}

/// FERMATA_ADMIN_USERNAME/PASSWORD: create that admin when no admin exists yet.
async fn bootstrap_admin(db: &DatabaseConnection, config: &Config, passwords: &Passwords) -> anyhow::Result<()> {
    let (Some(username), Some(password)) = (&config.admin_username, &config.admin_password) else {
        return Ok(());
    };
    let new = fermata_core::accounts::NewUser {
        username: username.clone(),
        email: format!("{}@localhost", username.to_lowercase()),
        display_name: None,
        password_hash: passwords.hash(secrecy::ExposeSecret::expose_secret(password).to_owned()).await?,
        role: fermata_core::accounts::Role::Admin,
    };
    match fermata_core::accounts::create_first_admin(db, new).await {
        Ok(true) => tracing::info!(%username, "created the first admin from FERMATA_ADMIN_USERNAME"),
        Ok(false) => tracing::debug!("an admin exists; FERMATA_ADMIN_USERNAME left alone"),
        Err(e) => anyhow::bail!("cannot create the admin from FERMATA_ADMIN_USERNAME: {e}"),
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
