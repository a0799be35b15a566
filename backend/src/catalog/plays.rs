//! Plays, listening history and favourites.

use axum::{extract::State, http::StatusCode};
use sea_orm::FromQueryResult;
use uuid::Uuid;

use super::{
    model::{self, Sql, song_columns},
    views::{FavouriteEntry, HistoryEntry, PageQuery, PlayResult, SongView},
};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    pagination::{Cursor, Page},
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
    let outcome = model::record_play(&state.db, user.user.id, id).await?.ok_or(AppError::NotFound)?;
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
    if model::set_favourite(&state.db, user.user.id, song, on).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Debug, FromQueryResult)]
struct TimedKey {
    at: chrono::DateTime<chrono::FixedOffset>,
    at_text: String,
    entry_id: Uuid,
}

/// Reads "(time, entry id, song)" rows newest first for one user, a page at a time.
async fn timed_page(
    state: &AppState,
    user: Uuid,
    query: &PageQuery,
    listing: &str,
    from: &str,
) -> AppResult<(Vec<(chrono::DateTime<chrono::FixedOffset>, SongView)>, Option<String>)> {
    let mut sql = Sql::new(&format!(
        "SELECT t.at, t.at::text AS at_text, t.entry_id, NULL::text AS sort_key, {} JOIN ({from}) t ON t.song_id = s.id",
        song_columns!()
    ));
    sql.param(user);
    if let Some(cursor) = &query.cursor {
        let cursor = Cursor::<String>::decode(cursor, listing)?;
        if chrono::DateTime::parse_from_str(&cursor.key, "%Y-%m-%d %H:%M:%S%.f%#z").is_err() {
            return Err(AppError::field("cursor", "is not a cursor from this listing"));
        }
        let (k, id) = (sql.param(cursor.key), sql.param(cursor.id));
        sql.push(&format!(" WHERE (t.at, t.entry_id) < ({k}::timestamptz, {id})"));
    }
    sql.push(&format!(" ORDER BY t.at DESC, t.entry_id DESC LIMIT {}", query.limit + 1));
    let rows = sea_orm::ConnectionTrait::query_all(&state.db, sql.statement()).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut last_key = None;
    for row in rows.iter().take(query.limit as usize) {
        let key = TimedKey::from_query_result(row, "")?;
        let song = model::SongRow::from_query_result(row, "")?;
        items.push((key.at, SongView::from(song)));
        last_key = Some((key.at_text, key.entry_id));
    }
    let next = (rows.len() as u64 > query.limit)
        .then(|| last_key.map(|(key, id)| Cursor { sort: listing.to_owned(), key, id }.encode()))
        .flatten();
    Ok((items, next))
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
    // $1 is the user (also used by the favourite flag).
    let from = "SELECT played_at AS at, id AS entry_id, song_id FROM plays WHERE user_id = $1";
    let (items, next_cursor) = timed_page(&state, user.user.id, &query, "history", from).await?;
    let items = items.into_iter().map(|(played_at, song)| HistoryEntry { played_at, song }).collect();
    Ok(axum::Json(Page { items, next_cursor }))
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
    let from = "SELECT created_at AS at, song_id AS entry_id, song_id FROM favourites WHERE user_id = $1";
    let (items, next_cursor) = timed_page(&state, user.user.id, &query, "favourites", from).await?;
    let items = items.into_iter().map(|(favourited_at, song)| FavouriteEntry { favourited_at, song }).collect();
    Ok(axum::Json(Page { items, next_cursor }))
}
