//! Playlist endpoints: each parses, calls the core (`fermata_core::playlists`, which owns the rules: who may
//! change what, caps, positions) and shapes the answer.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use fermata_core::{
    ids::{PlaylistId, SongId, UserId},
    playlists::{self, Entry, NewPlaylist, Playlist, PlaylistChange},
};
use uuid::Uuid;

use super::{
    m3u,
    views::{
        AddEntries, CreatePlaylist, EntryView, ImportQuery, ImportResult, MoveEntry, PlaylistDetail, PlaylistView,
        UpdatePlaylist,
    },
};
use crate::{
    accounts::session::CurrentUser,
    catalog::views::{NamedRef, PageQuery},
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidJson, ValidQuery},
    pagination::Page,
    state::AppState,
};

impl From<Playlist> for PlaylistView {
    fn from(r: Playlist) -> Self {
        Self {
            cover_url: r.cover_album.map(|a| format!("/api/music/albums/{a}/cover")),
            id: r.id.0,
            name: r.name,
            description: r.description,
            public: r.public,
            owner: NamedRef { id: r.owner_id.0, name: r.owner_name },
            song_count: r.song_count,
            duration: r.duration_ms as f64 / 1000.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        Self { id: e.id.0, position: e.position, song: e.song.into() }
    }
}

/// Entries per page: the detail's first page and `GET …/entries`' default.
const ENTRY_PAGE: u64 = 500;

/// The playlist as it is now, for the answer to a write: the summary, not the entries (a write to a
/// 10,000-entry playlist would otherwise answer with megabytes).
async fn summary(state: &AppState, viewer: UserId, id: PlaylistId) -> AppResult<PlaylistView> {
    Ok(playlists::get(&state.db, viewer, id).await?.into())
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
    let id = PlaylistId(id);
    playlists::get(&state.db, user.id(), id).await?;
    let page = playlists::entries(&state.db, user.id(), id, query.cursor.as_deref(), query.limit).await?;
    Ok(axum::Json(page.map(EntryView::from).into()))
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
    let page = playlists::list(&state.db, user.id(), query.cursor.as_deref(), query.limit).await?;
    Ok(axum::Json(page.map(PlaylistView::from).into()))
}

#[utoipa::path(post, path = "/api/playlists", tag = "playlists", request_body = CreatePlaylist, responses(
    (status = 201, body = PlaylistView), (status = 422, body = ErrorBody),
))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidJson(request): ValidJson<CreatePlaylist>,
) -> AppResult<(StatusCode, axum::Json<PlaylistView>)> {
    let new = NewPlaylist { name: request.name, description: request.description, public: request.public };
    let id = playlists::create(&state.db, user.id(), new).await?;
    Ok((StatusCode::CREATED, axum::Json(summary(&state, user.id(), id).await?)))
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
    let id = PlaylistId(id);
    let playlist = playlists::get(&state.db, user.id(), id).await?;
    let entries = playlists::entries(&state.db, user.id(), id, None, ENTRY_PAGE).await?;
    Ok(axum::Json(PlaylistDetail {
        playlist: playlist.into(),
        entries: entries.items.into_iter().map(EntryView::from).collect(),
        entries_next_cursor: entries.next_cursor,
    }))
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
    let change = PlaylistChange { name: request.name, description: request.description, public: request.public };
    playlists::update(&state.db, user.id(), PlaylistId(id), change).await?;
    Ok(axum::Json(summary(&state, user.id(), PlaylistId(id)).await?))
}

/// Deleted by its owner, or by an admin when public.
#[utoipa::path(delete, path = "/api/playlists/{id}", tag = "playlists", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
))]
pub async fn delete(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    playlists::delete(&state.db, user.id(), user.role(), PlaylistId(id)).await?;
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
    let songs: Vec<SongId> = request.song_ids.into_iter().map(SongId).collect();
    playlists::add(&state.db, user.id(), PlaylistId(id), &songs, request.position).await?;
    Ok(axum::Json(summary(&state, user.id(), PlaylistId(id)).await?))
}

#[utoipa::path(delete, path = "/api/playlists/{id}/entries/{entry_id}", tag = "playlists",
    params(("id" = Uuid, Path), ("entry_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_entry(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, entry)): Path<(Uuid, Uuid)>,
) -> AppResult<StatusCode> {
    playlists::remove(&state.db, user.id(), PlaylistId(id), entry.into()).await?;
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
    playlists::move_entry(&state.db, user.id(), PlaylistId(id), entry.into(), request.position).await?;
    Ok(axum::Json(summary(&state, user.id(), PlaylistId(id)).await?))
}

/// Extended M3U: one stream URL per entry, fetchable by a signed-in client.
#[utoipa::path(get, path = "/api/playlists/{id}/export.m3u8", tag = "playlists", params(("id" = Uuid, Path)), responses(
    (status = 200, content_type = "audio/x-mpegurl"), (status = 404, body = ErrorBody),
))]
pub async fn export(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> AppResult<Response> {
    let (playlist, entries) = playlists::whole(&state.db, user.id(), PlaylistId(id)).await?;
    let base = state.config.public_url.as_str().trim_end_matches('/');
    let mut text = format!("#EXTM3U\n#PLAYLIST:{}\n", m3u::escape(&playlist.name));
    for entry in &entries {
        let song = &entry.song;
        text.push_str(&format!(
            "#EXTINF:{},{} - {}\n{base}/api/music/songs/{}/stream\n",
            (f64::from(song.duration_ms) / 1000.0).round() as i64,
            m3u::escape(&song.artist_name),
            m3u::escape(&song.title),
            song.id
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
    let imported = playlists::import(&state.db, user.id(), text, query.name).await?;
    let playlist = summary(&state, user.id(), imported.id).await?;
    Ok((StatusCode::CREATED, axum::Json(ImportResult { playlist, unmatched: imported.unmatched })))
}
