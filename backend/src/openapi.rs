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

/// Adds to every operation the error answers the shared layers and extractors give whatever the handler (each
/// with `ErrorBody`), so the document lists every status the server can send: a contract-testing tool
/// (scripts/contract) fails on any status not listed. 400: a body that is not JSON; 401: no session; 403: a
/// listener on an admin route, or a cross-site write; 404: an id that names nothing; 413/415: a body too large or
/// of the wrong type; 422: parameters or a body that break the rules; 429: rate limits; 503: the database is
/// unavailable or saturated.
pub fn add_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, path::HttpMethod};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build()
    };
    let public = ["/api/users/register", "/api/auth/login", "/api/auth/session"];
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/") {
            continue;
        }
        let operations = [
            (HttpMethod::Get, item.get.as_mut()),
            (HttpMethod::Put, item.put.as_mut()),
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Delete, item.delete.as_mut()),
            (HttpMethod::Patch, item.patch.as_mut()),
            (HttpMethod::Head, item.head.as_mut()),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let writes = !matches!(method, HttpMethod::Get | HttpMethod::Head);
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_path_params = path.contains('{');
            let mut add = |status: &str, description: &str, applies: bool| {
                if applies && !operation.responses.responses.contains_key(status) {
                    operation.responses.responses.insert(status.to_owned(), error(description).into());
                }
            };
            let signed_in = !public.contains(&path.as_str());
            add("400", "the body cannot be read (malformed JSON or multipart)", writes);
            add("401", "sign in first", signed_in);
            add("403", "an admin route, or a cross-site write", writes || path.starts_with("/api/admin"));
            add("404", "nothing has this id", has_path_params);
            add("413", "the body is too large", writes);
            add("415", "the body has the wrong content type", writes);
            add("422", "parameters or body break the rules (`fields` says which)", writes || has_params);
            add("429", "too many requests; see Retry-After", true);
            add("503", "the database is unavailable or busy; see Retry-After", true);
        }
    }
}

/// `/api/openapi.json` and the reference at `/api/docs`, for the document built from the routes.
pub fn docs_router(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
}
