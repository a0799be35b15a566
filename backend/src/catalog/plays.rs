//! Plays, listening history and favourites.

use axum::{extract::State, http::StatusCode};
use fermata_core::catalog::plays;
use uuid::Uuid;

use super::views::{FavouriteEntry, HistoryEntry, PageQuery, PlayResult};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    pagination::Page,
    state::AppState,
};

/// Count one play of a song by the signed-in user. A repeat within half the song's duration is not counted
/// again (`counted: false`).
#[utoipa::path(post, path = "/api/music/{id}/play", tag = "plays", params(("id" = Uuid, Path)), responses(
    (status = 200, body = PlayResult), (status = 404, body = ErrorBody),
))]
pub async fn play(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<PlayResult>> {
    let outcome = plays::record(&state.db, user.id(), id.into(), None).await?.ok_or(AppError::NotFound)?;
    Ok(axum::Json(PlayResult { counted: outcome.counted, play_count: outcome.play_count }))
}

#[utoipa::path(put, path = "/api/music/songs/{id}/favourite", tag = "plays", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 404, body = ErrorBody),
))]
pub async fn favourite(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    set_favourite(&state, &user, id, true).await
}

#[utoipa::path(delete, path = "/api/music/songs/{id}/favourite", tag = "plays", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 404, body = ErrorBody),
))]
pub async fn unfavourite(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    set_favourite(&state, &user, id, false).await
}

async fn set_favourite(state: &AppState, user: &CurrentUser, song: Uuid, on: bool) -> AppResult<StatusCode> {
    if plays::set_favourite(&state.db, user.id(), song.into(), on).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

/// The signed-in user's plays, newest first.
#[utoipa::path(get, path = "/api/me/history", tag = "plays", params(PageQuery), responses(
    (status = 200, body = Page<HistoryEntry>), (status = 401, body = ErrorBody),
))]
pub async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<HistoryEntry>>> {
    let page = plays::history(&state.db, user.id(), query.cursor.as_deref(), query.limit).await?;
    Ok(axum::Json(page.map(|(played_at, song)| HistoryEntry { played_at, song: song.into() }).into()))
}

/// The signed-in user's favourite songs, most recently added first.
#[utoipa::path(get, path = "/api/me/favourites", tag = "plays", params(PageQuery), responses(
    (status = 200, body = Page<FavouriteEntry>), (status = 401, body = ErrorBody),
))]
pub async fn favourites(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<FavouriteEntry>>> {
    let page = plays::favourites(&state.db, user.id(), query.cursor.as_deref(), query.limit).await?;
    Ok(axum::Json(page.map(|(favourited_at, song)| FavouriteEntry { favourited_at, song: song.into() }).into()))
}
