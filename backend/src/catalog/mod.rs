//! The catalog: browsing and searching the library, streaming, covers, plays, history and favourites.

pub mod browse;
pub mod plays;
pub mod search;
pub mod songs;
pub mod sonic;
pub mod stream;
pub mod views;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(songs::list))
        .routes(routes!(songs::get))
        .routes(routes!(stream::stream))
        .routes(routes!(stream::song_cover))
        .routes(routes!(stream::album_cover))
        .routes(routes!(browse::albums))
        .routes(routes!(browse::album))
        .routes(routes!(browse::artists))
        .routes(routes!(browse::artist))
        .routes(routes!(browse::genres))
        .routes(routes!(browse::charts))
        .routes(routes!(search::search))
        .routes(routes!(sonic::similar))
        .routes(routes!(sonic::start))
        .routes(routes!(sonic::next))
        .routes(routes!(sonic::end))
        .routes(routes!(plays::play))
        .routes(routes!(plays::favourite, plays::unfavourite))
        .routes(routes!(plays::history))
        .routes(routes!(plays::favourites))
}
