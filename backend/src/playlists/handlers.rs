//! Playlist endpoints.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, FromQueryResult, Set};
use uuid::Uuid;

use super::{
    m3u,
    model::{self, PLAYLIST_SELECT, PlaylistRow},
    views::{
        AddEntries, CreatePlaylist, EntryView, ImportQuery, ImportResult, MoveEntry, PlaylistDetail, PlaylistView,
        UpdatePlaylist,
    },
};
use crate::{
    accounts::session::CurrentUser,
    catalog::{
        model::Sql,
        views::{NamedRef, PageQuery, SongView},
    },
    entities::playlists,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidJson, ValidQuery},
    pagination::{Cursor, Page},
    state::AppState,
};

impl From<PlaylistRow> for PlaylistView {
    fn from(r: PlaylistRow) -> Self {
        Self {
            cover_url: r.cover_album.map(|a| format!("/api/music/albums/{a}/cover")),
            id: r.id,
            name: r.name,
            description: r.description,
            public: r.public,
            owner: NamedRef { id: r.owner_id, name: r.owner_name },
            song_count: r.song_count,
            duration: r.duration_ms as f64 / 1000.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Entries per page: the detail's first page and `GET …/entries`' default.
const ENTRY_PAGE: u64 = 500;

fn entry_views(rows: Vec<(model::EntryRow, crate::catalog::model::SongRow)>) -> Vec<EntryView> {
    rows.into_iter()
        .map(|(e, song)| EntryView { id: e.entry_id, position: e.entry_position, song: SongView::from(song) })
        .collect()
}

/// A page of entries and the cursor for the next (the last position shown), if there is more.
async fn entry_page(
    state: &AppState,
    viewer: Uuid,
    id: Uuid,
    after: Option<i64>,
    limit: u64,
) -> AppResult<(Vec<EntryView>, Option<String>)> {
    let mut entries = entry_views(model::entries(&state.db, viewer, id, after, limit + 1).await?);
    let next = (entries.len() as u64 > limit).then(|| {
        entries.truncate(limit as usize);
        let last = entries.last().expect("a full page");
        Cursor { sort: "entries".into(), key: last.position, id: last.id }.encode()
    });
    Ok((entries, next))
}

async fn detail(state: &AppState, viewer: Uuid, id: Uuid) -> AppResult<PlaylistDetail> {
    let playlist = model::visible(&state.db, viewer, id).await?.ok_or(AppError::NotFound)?;
    let (entries, entries_next_cursor) = entry_page(state, viewer, id, None, ENTRY_PAGE).await?;
    Ok(PlaylistDetail { playlist: playlist.into(), entries, entries_next_cursor })
}

/// The playlist as it is now, for the answer to a write: the summary, not the entries (a write to a
/// 10,000-entry playlist would otherwise answer with megabytes).
async fn summary(state: &AppState, viewer: Uuid, id: Uuid) -> AppResult<PlaylistView> {
    Ok(model::visible(&state.db, viewer, id).await?.ok_or(AppError::NotFound)?.into())
}

/// The entries of a playlist in order, a page at a time.
#[utoipa::path(get, path = "/api/playlists/{id}/entries", tag = "playlists", params(("id" = Uuid, Path), PageQuery), responses(
    (status = 200, body = Page<EntryView>), (status = 404, body = ErrorBody),
))]
pub async fn entries(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<EntryView>>> {
    model::visible(&state.db, user.user.id, id).await?.ok_or(AppError::NotFound)?;
    let after = match &query.cursor {
        Some(cursor) => Some(Cursor::<i64>::decode(cursor, "entries")?.key),
        None => None,
    };
    let (items, next_cursor) = entry_page(&state, user.user.id, id, after, query.limit).await?;
    Ok(axum::Json(Page { items, next_cursor }))
}

#[derive(FromQueryResult)]
struct Keyed {
    key: String,
}

/// The user's own playlists and everyone's public ones, newest first.
#[utoipa::path(get, path = "/api/playlists", tag = "playlists", params(PageQuery), responses(
    (status = 200, body = Page<PlaylistView>), (status = 401, body = ErrorBody),
))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<PlaylistView>>> {
    let mut sql = Sql::new(&PLAYLIST_SELECT.replacen("SELECT ", "SELECT p.created_at::text AS key, ", 1));
    let u = sql.param(user.user.id);
    sql.push(&format!(" WHERE (p.owner_id = {u} OR p.public)"));
    if let Some(cursor) = &query.cursor {
        let cursor = Cursor::<String>::decode(cursor, "playlists")?;
        if chrono::DateTime::parse_from_str(&cursor.key, "%Y-%m-%d %H:%M:%S%.f%#z").is_err() {
            return Err(AppError::field("cursor", "is not a cursor from this listing"));
        }
        let (k, id) = (sql.param(cursor.key), sql.param(cursor.id));
        sql.push(&format!(" AND (p.created_at, p.id) < ({k}::timestamptz, {id})"));
    }
    sql.push(&format!(" ORDER BY p.created_at DESC, p.id DESC LIMIT {}", query.limit + 1));
    let rows = state.db.query_all(sql.statement()).await?;
    let mut items = Vec::new();
    let mut last = None;
    for row in rows.iter().take(query.limit as usize) {
        let playlist = PlaylistRow::from_query_result(row, "")?;
        last = Some((Keyed::from_query_result(row, "")?.key, playlist.id));
        items.push(PlaylistView::from(playlist));
    }
    let next_cursor = (rows.len() as u64 > query.limit)
        .then(|| last.map(|(key, id)| Cursor { sort: "playlists".into(), key, id }.encode()))
        .flatten();
    Ok(axum::Json(Page { items, next_cursor }))
}

async fn insert(
    state: &AppState,
    owner: Uuid,
    name: String,
    description: Option<String>,
    public: bool,
) -> AppResult<Uuid> {
    if model::owned_count(&state.db, owner).await? >= super::MAX_PER_USER {
        return Err(AppError::Unprocessable(format!(
            "you have {} playlists, the most an account may have; delete one first",
            super::MAX_PER_USER
        )));
    }
    let now = Utc::now().fixed_offset();
    let row = playlists::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(owner),
        name: Set(name.trim().to_owned()),
        description: Set(description),
        public: Set(public),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(row.insert(&state.db).await?.id)
}

#[utoipa::path(post, path = "/api/playlists", tag = "playlists", request_body = CreatePlaylist, responses(
    (status = 201, body = PlaylistView), (status = 422, body = ErrorBody),
))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidJson(request): ValidJson<CreatePlaylist>,
) -> AppResult<(StatusCode, axum::Json<PlaylistView>)> {
    let id = insert(&state, user.user.id, request.name, request.description, request.public).await?;
    Ok((StatusCode::CREATED, axum::Json(summary(&state, user.user.id, id).await?)))
}

/// A playlist with its entries in order. Private playlists of others are 404.
#[utoipa::path(get, path = "/api/playlists/{id}", tag = "playlists", params(("id" = Uuid, Path)), responses(
    (status = 200, body = PlaylistDetail), (status = 404, body = ErrorBody),
))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<PlaylistDetail>> {
    Ok(axum::Json(detail(&state, user.user.id, id).await?))
}

#[utoipa::path(patch, path = "/api/playlists/{id}", tag = "playlists", params(("id" = Uuid, Path)), request_body = UpdatePlaylist, responses(
    (status = 200, body = PlaylistView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidJson(request): ValidJson<UpdatePlaylist>,
) -> AppResult<axum::Json<PlaylistView>> {
    model::owned(&state.db, user.user.id, id).await?;
    let mut row = playlists::ActiveModel { id: sea_orm::Unchanged(id), ..Default::default() };
    if let Some(name) = request.name {
        row.name = Set(name.trim().to_owned());
    }
    if let Some(description) = request.description {
        row.description = Set(description);
    }
    if let Some(public) = request.public {
        row.public = Set(public);
    }
    row.updated_at = Set(Utc::now().fixed_offset());
    row.update(&state.db).await?;
    Ok(axum::Json(summary(&state, user.user.id, id).await?))
}

/// Deleted by its owner, or by an admin when public.
#[utoipa::path(delete, path = "/api/playlists/{id}", tag = "playlists", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
))]
pub async fn delete(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    let playlist = model::visible(&state.db, user.user.id, id).await?.ok_or(AppError::NotFound)?;
    if playlist.owner_id != user.user.id && !user.is_admin() {
        return Err(AppError::Forbidden("only the owner or an admin deletes a playlist".into()));
    }
    playlists::Entity::delete_by_id(id).exec(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds songs at the end or at a position; answers with the playlist's summary (count, duration).
#[utoipa::path(post, path = "/api/playlists/{id}/entries", tag = "playlists", params(("id" = Uuid, Path)), request_body = AddEntries, responses(
    (status = 200, body = PlaylistView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
pub async fn add_entries(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidJson(request): ValidJson<AddEntries>,
) -> AppResult<axum::Json<PlaylistView>> {
    model::owned(&state.db, user.user.id, id).await?;
    let missing = model::missing_songs(&state.db, &request.song_ids).await?;
    if !missing.is_empty() {
        let list = missing.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ");
        return Err(AppError::field("song_ids", format!("no such songs: {list}")));
    }
    let (txn, count) = model::lock_entries(&state.db, id).await?;
    if count + request.song_ids.len() as i64 > super::MAX_ENTRIES {
        return Err(AppError::field(
            "song_ids",
            format!("a playlist holds at most {} songs; this one has {count}", super::MAX_ENTRIES),
        ));
    }
    let position = i64::from(request.position.unwrap_or(u32::MAX)).min(count);
    if request.position.is_some_and(|p| i64::from(p) > count) {
        return Err(AppError::field("position", format!("must be between 0 and {count}")));
    }
    model::insert_entries(&txn, id, position, &request.song_ids).await?;
    model::touch(&txn, id).await?;
    txn.commit().await?;
    Ok(axum::Json(summary(&state, user.user.id, id).await?))
}

#[utoipa::path(delete, path = "/api/playlists/{id}/entries/{entry_id}", tag = "playlists",
    params(("id" = Uuid, Path), ("entry_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_entry(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, entry)): Path<(Uuid, Uuid)>,
) -> AppResult<StatusCode> {
    model::owned(&state.db, user.user.id, id).await?;
    let (txn, _) = model::lock_entries(&state.db, id).await?;
    let position = model::entry_position(&txn, id, entry).await?;
    model::remove_entry(&txn, id, entry, position).await?;
    model::touch(&txn, id).await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/playlists/{id}/entries/{entry_id}/move", tag = "playlists",
    params(("id" = Uuid, Path), ("entry_id" = Uuid, Path)), request_body = MoveEntry,
    responses((status = 200, body = PlaylistView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn move_entry(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, entry)): Path<(Uuid, Uuid)>,
    ValidJson(request): ValidJson<MoveEntry>,
) -> AppResult<axum::Json<PlaylistView>> {
    model::owned(&state.db, user.user.id, id).await?;
    let (txn, count) = model::lock_entries(&state.db, id).await?;
    let from = model::entry_position(&txn, id, entry).await?;
    let to = i64::from(request.position);
    if to >= count {
        return Err(AppError::field("position", format!("must be between 0 and {}", count - 1)));
    }
    model::move_entry(&txn, id, entry, from, to).await?;
    model::touch(&txn, id).await?;
    txn.commit().await?;
    Ok(axum::Json(summary(&state, user.user.id, id).await?))
}

/// Extended M3U: one stream URL per entry, fetchable by a signed-in client.
#[utoipa::path(get, path = "/api/playlists/{id}/export.m3u8", tag = "playlists", params(("id" = Uuid, Path)), responses(
    (status = 200, content_type = "audio/x-mpegurl"), (status = 404, body = ErrorBody),
))]
pub async fn export(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> AppResult<Response> {
    let playlist = model::visible(&state.db, user.user.id, id).await?.ok_or(AppError::NotFound)?;
    let entries = entry_views(model::entries(&state.db, user.user.id, id, None, super::MAX_ENTRIES as u64).await?);
    let base = state.config.public_url.as_str().trim_end_matches('/');
    let mut text = format!("#EXTM3U\n#PLAYLIST:{}\n", m3u::escape(&playlist.name));
    for entry in &entries {
        let song = &entry.song;
        text.push_str(&format!(
            "#EXTINF:{},{} - {}\n{base}{}\n",
            song.duration.round() as i64,
            m3u::escape(&song.artist.name),
            m3u::escape(&song.title),
            song.stream_url
        ));
    }
    let file_name: String =
        playlist.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{file_name}.m3u8\"")).map_err(anyhow::Error::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/x-mpegurl; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

/// Creates a playlist from an M3U/M3U8 body. Lines that match no song are listed in `unmatched`.
#[utoipa::path(post, path = "/api/playlists/import", tag = "playlists", params(ImportQuery),
    request_body(content((String = "audio/x-mpegurl"), (String = "text/plain")), description = "M3U or M3U8 text, UTF-8"),
    responses((status = 201, body = ImportResult), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<ImportQuery>,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<(StatusCode, axum::Json<ImportResult>)> {
    let body = body?;
    let text =
        std::str::from_utf8(&body).map_err(|_| AppError::Unprocessable("the playlist is not UTF-8 text".into()))?;
    if text.contains('\0') {
        return Err(AppError::Unprocessable("the playlist is not text".into()));
    }
    let parsed = m3u::parse(text);
    if parsed.items.is_empty() {
        return Err(AppError::Unprocessable("the playlist names no songs".into()));
    }
    if parsed.items.len() as i64 > super::MAX_ENTRIES {
        return Err(AppError::Unprocessable(format!(
            "the playlist names {} songs; a playlist holds at most {}",
            parsed.items.len(),
            super::MAX_ENTRIES
        )));
    }
    let matched = model::match_items(&state.db, &parsed.items).await?;
    let mut songs = Vec::new();
    let mut unmatched = Vec::new();
    for (item, found) in parsed.items.iter().zip(matched) {
        match found {
            Some(id) => songs.push(id),
            None => unmatched.push(item.location.clone()),
        }
    }
    let name = query.name.or(parsed.name).unwrap_or_else(|| "Imported playlist".to_owned());
    let id = insert(&state, user.user.id, name, None, false).await?;
    if !songs.is_empty() {
        let (txn, _) = model::lock_entries(&state.db, id).await?;
        model::insert_entries(&txn, id, 0, &songs).await?;
        txn.commit().await?;
    }
    let playlist = summary(&state, user.user.id, id).await?;
    Ok((StatusCode::CREATED, axum::Json(ImportResult { playlist, unmatched })))
}
