//! Albums, artists, genres and charts.

use axum::extract::State;
use fermata_core::catalog::browse;
use uuid::Uuid;

use super::views::{
    AlbumDetail, AlbumView, ArtistDetail, ArtistView, ChartEntry, ChartQuery, GenrePage, GenreView, OffsetQuery,
    PageQuery,
};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    pagination::Page,
    state::AppState,
};

/// Albums by title, a page at a time. Albums without songs (all deleted) are not listed.
#[utoipa::path(get, path = "/api/music/albums", tag = "catalog", params(PageQuery), responses(
    (status = 200, body = Page<AlbumView>), (status = 401, body = ErrorBody),
))]
pub async fn albums(
    State(state): State<AppState>,
    _user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<AlbumView>>> {
    let page = browse::albums(&state.db, query.cursor.as_deref(), query.limit).await?;
    Ok(axum::Json(page.map(AlbumView::from).into()))
}

/// An album with its songs, ordered by disc then track.
#[utoipa::path(get, path = "/api/music/albums/{id}", tag = "catalog", params(("id" = Uuid, Path)), responses(
    (status = 200, body = AlbumDetail), (status = 404, body = ErrorBody),
))]
pub async fn album(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<AlbumDetail>> {
    let (album, songs) = browse::album(&state.db, user.id(), id.into()).await?.ok_or(AppError::NotFound)?;
    Ok(axum::Json(AlbumDetail { album: album.into(), songs: songs.into_iter().map(Into::into).collect() }))
}

/// Artists by name, a page at a time: track artists and album artists alike.
#[utoipa::path(get, path = "/api/music/artists", tag = "catalog", params(PageQuery), responses(
    (status = 200, body = Page<ArtistView>), (status = 401, body = ErrorBody),
))]
pub async fn artists(
    State(state): State<AppState>,
    _user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<ArtistView>>> {
    let page = browse::artists(&state.db, query.cursor.as_deref(), query.limit).await?;
    Ok(axum::Json(page.map(ArtistView::from).into()))
}

/// An artist with their albums (as album artist), newest first.
#[utoipa::path(get, path = "/api/music/artists/{id}", tag = "catalog", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ArtistDetail), (status = 404, body = ErrorBody),
))]
pub async fn artist(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<ArtistDetail>> {
    let (artist, albums) = browse::artist(&state.db, id.into()).await?.ok_or(AppError::NotFound)?;
    Ok(axum::Json(ArtistDetail { artist: artist.into(), albums: albums.into_iter().map(Into::into).collect() }))
}

/// Genres (case-insensitive) with their song counts, alphabetically.
#[utoipa::path(get, path = "/api/music/genres", tag = "catalog", params(OffsetQuery), responses(
    (status = 200, body = GenrePage), (status = 401, body = ErrorBody),
))]
pub async fn genres(
    State(state): State<AppState>,
    _user: CurrentUser,
    ValidQuery(query): ValidQuery<OffsetQuery>,
) -> AppResult<axum::Json<GenrePage>> {
    let (genres, more) = browse::genres(&state.db, query.offset, query.limit).await?;
    Ok(axum::Json(GenrePage {
        items: genres.into_iter().map(|g| GenreView { name: g.name, song_count: g.song_count }).collect(),
        next_offset: more.then_some(query.offset + query.limit),
    }))
}

/// The most played songs of the last week, month, or of all time.
#[utoipa::path(get, path = "/api/music/charts", tag = "catalog", params(ChartQuery), responses(
    (status = 200, body = Vec<ChartEntry>), (status = 401, body = ErrorBody),
))]
pub async fn charts(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<ChartQuery>,
) -> AppResult<axum::Json<Vec<ChartEntry>>> {
    let chart = browse::chart(&state.db, user.id(), query.period.into(), query.limit).await?;
    Ok(axum::Json(chart.into_iter().map(|(plays, song)| ChartEntry { plays, song: song.into() }).collect()))
}
