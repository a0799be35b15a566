//! Playlists: ordered entries (duplicates allowed), privacy, M3U8 export and import.

pub mod handlers;
pub mod views;

pub use fermata_core::m3u;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(handlers::import))
        .routes(routes!(handlers::get, handlers::update, handlers::delete))
        .routes(routes!(handlers::entries, handlers::add_entries))
        .routes(routes!(handlers::remove_entry))
        .routes(routes!(handlers::move_entry))
        .routes(routes!(handlers::export))
}
