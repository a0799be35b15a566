//! Song listing (filters, sorts, keyset cursor) and single songs.

use axum::extract::State;
use fermata_core::catalog::{self, songs::SongFilter};
use uuid::Uuid;

use super::views::{SongQuery, SongView};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    pagination::Page,
    state::AppState,
};

/// Songs, filtered and sorted, a page at a time.
#[utoipa::path(get, path = "/api/music/songs", tag = "catalog", params(SongQuery), responses(
    (status = 200, body = Page<SongView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<SongQuery>,
) -> AppResult<axum::Json<Page<SongView>>> {
    let filter = SongFilter {
        text: query.q,
        artist: query.artist,
        album: query.album,
        genre: query.genre,
        year: query.year,
        bpm_min: query.bpm_min,
        bpm_max: query.bpm_max,
        // Checked by the query's validation.
        key: query.key.and_then(|k| k.parse().ok()),
    };
    let page = catalog::songs::list(
        &state.db,
        user.id(),
        &filter,
        query.sort.into(),
        query.order.into(),
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    Ok(axum::Json(page.map(SongView::from).into()))
}

/// One song.
#[utoipa::path(get, path = "/api/music/songs/{id}", tag = "catalog", params(("id" = Uuid, Path)), responses(
    (status = 200, body = SongView), (status = 404, body = ErrorBody),
))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<SongView>> {
    let song = catalog::song(&state.db, user.id(), id.into()).await?.ok_or(AppError::NotFound)?;
    Ok(axum::Json(song.into()))
}
