//! Search across songs, albums and artists (the rules are the core's: `fermata_core::catalog::search`).

use axum::extract::State;
use fermata_core::catalog::search;

use super::views::{SearchQuery, SearchResults};
use crate::{
    accounts::session::CurrentUser,
    error::{AppResult, ErrorBody},
    extract::ValidQuery,
    state::AppState,
};

#[utoipa::path(get, path = "/api/search", tag = "catalog", params(SearchQuery), responses(
    (status = 200, body = SearchResults), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, description = "The replica started moments ago and is still building its search index", body = ErrorBody),
))]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<SearchQuery>,
) -> AppResult<axum::Json<SearchResults>> {
    let found = search::search(&state.db, &state.search, user.id(), &query.q, query.limit).await?;
    Ok(axum::Json(SearchResults {
        songs: found.songs.into_iter().map(Into::into).collect(),
        albums: found.albums.into_iter().map(Into::into).collect(),
        artists: found.artists.into_iter().map(Into::into).collect(),
    }))
}
