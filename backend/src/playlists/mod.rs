//! Playlists: ordered entries (duplicates allowed), privacy, M3U8 export and import.

pub mod handlers;
pub mod model;
pub mod views;

pub use fermata_core::m3u;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The most entries one playlist holds. A playlist is read and rewritten whole by clients (the web player, M3U
/// export, OpenSubsonic's getPlaylist); at ~600 bytes of JSON per entry this keeps the largest answer near 6 MB.
/// Navidrome and Jellyfin set no cap; 10,000 songs is four weeks of continuous music, and the largest M3U import.
pub const MAX_ENTRIES: i64 = 10_000;
/// The most playlists one account owns: each is a row a client makes for free.
pub const MAX_PER_USER: i64 = 500;

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
