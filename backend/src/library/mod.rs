//! The admin's ingest endpoints (upload, tag edit, delete, scan). Importing, scanning and the background jobs
//! are the core's (`fermata_core::library`).

pub mod handlers;
pub mod multipart;

pub use fermata_core::{
    analysis,
    library::{ImportError, Imported, hash_file, import_copy, import_temp, scan},
    tags,
};

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::upload))
        .routes(routes!(handlers::edit, handlers::delete))
        .routes(routes!(handlers::peaks))
        .routes(routes!(handlers::start_scan, handlers::scan_status))
        .routes(routes!(handlers::start_backfill))
        .routes(routes!(crate::jobs::list))
        .routes(routes!(crate::events::stream))
}
