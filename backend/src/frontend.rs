//! The built web player (FRONTEND_DIR) served by the backend when no nginx sits in front: hashed assets cached
//! for a year, `index.html` revalidated, and any other path that is not an API route answered with the page
//! so client-side routes survive a reload. Behind nginx these rules live in nginx/locations.conf instead.

use std::path::Path;

use axum::{
    Router,
    http::{HeaderValue, header},
};
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

use crate::{error::AppError, state::AppState};

/// Adds the web player to `app`, replacing its fallback.
pub fn serve(app: Router<AppState>, dir: &Path) -> Router<AppState> {
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "FRONTEND_DIR has no index.html: build the web player (cd frontend && npm run build)");
    }
    let immutable = SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    let revalidate = SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let assets = ServeDir::new(dir.join("assets")).precompressed_gzip();
    let page = ServeDir::new(dir).precompressed_gzip().fallback(ServeFile::new(dir.join("index.html")));
    app.nest_service("/assets", tower::ServiceBuilder::new().layer(immutable).service(assets))
        // An unknown API path stays a JSON 404; it must not turn into the page.
        .route("/api/{*rest}", axum::routing::any(|| async { AppError::NotFound }))
        .fallback_service(tower::ServiceBuilder::new().layer(revalidate).service(page))
}
