//! Logging with `tracing`: text or JSON lines, one span per request carrying its request id.

use axum::http::Request;
use tower_http::{
    classify::ServerErrorsFailureClass,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnBodyChunk, DefaultOnEos, DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber. RUST_LOG overrides the default filter. Safe to call more than once
/// (tests start several apps in one process): later calls are no-ops.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tower_sessions=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_writer(std::io::stderr))
            .try_init(),
    };
}

/// Takes the request id from `x-request-id` or makes one (UUID).
pub fn set_request_id() -> SetRequestIdLayer<MakeRequestUuid> {
    SetRequestIdLayer::x_request_id(MakeRequestUuid)
}

/// Echoes the request id back on the response.
pub fn propagate_request_id() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::x_request_id()
}

/// The request tracing layer's type: fn pointers for the span and the failure log, so it can be named.
pub type Trace = TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&Request<axum::body::Body>) -> tracing::Span,
    (),
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    fn(ServerErrorsFailureClass, std::time::Duration, &tracing::Span),
>;

/// One span per request. The query string stays out of the logs: it may carry search terms.
pub fn trace_layer() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<axum::body::Body>) -> tracing::Span)
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        .on_failure(log_failure as fn(ServerErrorsFailureClass, std::time::Duration, &tracing::Span))
}

fn request_span(request: &Request<axum::body::Body>) -> tracing::Span {
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %request_id, method = %request.method(), path = %request.uri().path())
}

/// A 5xx is logged at ERROR, except 501: a client asking for a Subsonic method Fermata does not offer is no fault
/// of the server's (logged at debug).
fn log_failure(class: ServerErrorsFailureClass, latency: std::time::Duration, _span: &tracing::Span) {
    let latency_ms = latency.as_millis();
    match class {
        ServerErrorsFailureClass::StatusCode(axum::http::StatusCode::NOT_IMPLEMENTED) => {
            tracing::debug!(latency_ms, "not implemented");
        }
        ServerErrorsFailureClass::StatusCode(status) => tracing::error!(%status, latency_ms, "response failed"),
        ServerErrorsFailureClass::Error(error) => tracing::error!(%error, latency_ms, "response failed"),
    }
}
