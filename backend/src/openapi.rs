//! The OpenAPI document (generated from the handlers by utoipa) and its browsable reference, whose assets
//! are compiled into the binary (utoipa-swagger-ui's `vendored` feature): no CDN.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Fermata", description = "Self-hosted music streaming. Errors share one shape: `ErrorBody`."),
    paths(crate::health::health, crate::health::ready),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "health", description = "liveness and readiness"),
        (name = "accounts", description = "registration, sign-in, the signed-in user"),
        (name = "admin", description = "administration"),
        (name = "catalog", description = "browse and search the library"),
        (name = "streaming", description = "audio and cover art"),
        (name = "plays", description = "plays, history, favourites"),
        (name = "playlists", description = "playlists, M3U8 export and import"),
        (name = "ingest", description = "uploads, tag edits, deletion"),
        (name = "events", description = "live progress (Server-Sent Events)"),
    )
)]
pub struct ApiDoc;

/// `/api/openapi.json` and the reference at `/api/docs`, for the document built from the routes.
pub fn docs_router(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
}
