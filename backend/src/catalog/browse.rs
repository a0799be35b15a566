//! Albums, artists, genres and charts.

use axum::extract::State;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{
    model::{self, SONG_SELECT, Sql, song_columns},
    views::{
        AlbumDetail, AlbumView, ArtistDetail, ArtistView, ChartEntry, ChartQuery, GenrePage, GenreView, NamedRef,
        OffsetQuery, PageQuery, Period, SongView,
    },
};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    pagination::{Cursor, Page},
    state::AppState,
};

/// Album columns with counts, over `al` joined to its artist `ar`.
const ALBUM_COLUMNS: &str = "al.id, al.title, al.year, al.compilation, (al.cover_path IS NOT NULL) AS has_cover, \
    ar.id AS artist_id, ar.name AS artist_name, al.title_folded AS sort_key, \
    c.song_count, c.duration_ms FROM albums al JOIN artists ar ON ar.id = al.artist_id \
    CROSS JOIN LATERAL (SELECT count(*) AS song_count, coalesce(sum(s.duration_ms), 0)::bigint AS duration_ms \
    FROM songs s WHERE s.album_id = al.id) c";

#[derive(Debug, FromQueryResult)]
pub struct AlbumRow {
    id: Uuid,
    title: String,
    year: Option<i32>,
    compilation: bool,
    has_cover: bool,
    artist_id: Uuid,
    artist_name: String,
    sort_key: String,
    song_count: i64,
    duration_ms: i64,
}

impl From<AlbumRow> for AlbumView {
    fn from(r: AlbumRow) -> Self {
        Self {
            cover_url: r.has_cover.then(|| format!("/api/music/albums/{}/cover", r.id)),
            id: r.id,
            title: r.title,
            artist: NamedRef { id: r.artist_id, name: r.artist_name },
            year: r.year,
            compilation: r.compilation,
            song_count: r.song_count,
            duration: r.duration_ms as f64 / 1000.0,
        }
    }
}

async fn albums_where(db: &impl ConnectionTrait, mut sql: Sql, tail: &str) -> Result<Vec<AlbumRow>, DbErr> {
    sql.push(tail);
    AlbumRow::find_by_statement(sql.statement()).all(db).await
}

/// Albums by title, a page at a time. Albums without songs (all deleted) are not listed.
#[utoipa::path(get, path = "/api/music/albums", tag = "catalog", params(PageQuery), responses(
    (status = 200, body = Page<AlbumView>), (status = 401, body = ErrorBody),
))]
pub async fn albums(
    State(state): State<AppState>,
    _user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<AlbumView>>> {
    let mut sql = Sql::new(&format!("SELECT {ALBUM_COLUMNS} WHERE c.song_count > 0"));
    if let Some(cursor) = &query.cursor {
        let cursor = Cursor::<String>::decode(cursor, "albums")?;
        let (k, id) = (sql.param(cursor.key), sql.param(cursor.id));
        sql.push(&format!(" AND (al.title_folded, al.id) > ({k}, {id})"));
    }
    let tail = format!(" ORDER BY al.title_folded, al.id LIMIT {}", query.limit + 1);
    let mut rows = albums_where(&state.db, sql, &tail).await?;
    let next_cursor = next_cursor(&mut rows, query.limit, "albums", |r| (r.sort_key.clone(), r.id));
    Ok(axum::Json(Page { items: rows.into_iter().map(AlbumView::from).collect(), next_cursor }))
}

fn next_cursor<T>(rows: &mut Vec<T>, limit: u64, sort: &str, key: impl Fn(&T) -> (String, Uuid)) -> Option<String> {
    if rows.len() as u64 <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|last| {
        let (key, id) = key(last);
        Cursor { sort: sort.to_owned(), key, id }.encode()
    })
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
    let mut sql = Sql::new(&format!("SELECT {ALBUM_COLUMNS} WHERE al.id = "));
    let p = sql.param(id);
    sql.push(&p);
    let album = albums_where(&state.db, sql, "").await?.pop().ok_or(AppError::NotFound)?;
    let mut sql = Sql::new(SONG_SELECT);
    sql.param(user.user.id);
    let p = sql.param(id);
    sql.push(&format!(
        " WHERE s.album_id = {p} ORDER BY s.disc_number NULLS FIRST, s.track_number NULLS LAST, s.title_folded, s.id"
    ));
    let songs = model::songs(&state.db, sql).await?;
    Ok(axum::Json(AlbumDetail { album: album.into(), songs: songs.into_iter().map(SongView::from).collect() }))
}

#[derive(Debug, FromQueryResult)]
struct ArtistRow {
    id: Uuid,
    name: String,
    sort_key: String,
    album_count: i64,
    song_count: i64,
}

impl From<ArtistRow> for ArtistView {
    fn from(r: ArtistRow) -> Self {
        Self { id: r.id, name: r.name, album_count: r.album_count, song_count: r.song_count }
    }
}

const ARTIST_COLUMNS: &str = "ar.id, ar.name, ar.name_folded AS sort_key, \
    (SELECT count(*) FROM albums al WHERE al.artist_id = ar.id) AS album_count, \
    (SELECT count(*) FROM songs s WHERE s.artist_id = ar.id) AS song_count FROM artists ar";

/// Artists by name, a page at a time: track artists and album artists alike.
#[utoipa::path(get, path = "/api/music/artists", tag = "catalog", params(PageQuery), responses(
    (status = 200, body = Page<ArtistView>), (status = 401, body = ErrorBody),
))]
pub async fn artists(
    State(state): State<AppState>,
    _user: CurrentUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> AppResult<axum::Json<Page<ArtistView>>> {
    let mut sql =
        Sql::new(&format!("SELECT * FROM (SELECT {ARTIST_COLUMNS}) a WHERE (a.album_count > 0 OR a.song_count > 0)"));
    if let Some(cursor) = &query.cursor {
        let cursor = Cursor::<String>::decode(cursor, "artists")?;
        let (k, id) = (sql.param(cursor.key), sql.param(cursor.id));
        sql.push(&format!(" AND (a.sort_key, a.id) > ({k}, {id})"));
    }
    sql.push(&format!(" ORDER BY a.sort_key, a.id LIMIT {}", query.limit + 1));
    let mut rows = ArtistRow::find_by_statement(sql.statement()).all(&state.db).await?;
    let next_cursor = next_cursor(&mut rows, query.limit, "artists", |r| (r.sort_key.clone(), r.id));
    Ok(axum::Json(Page { items: rows.into_iter().map(ArtistView::from).collect(), next_cursor }))
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
    let mut sql = Sql::new(&format!("SELECT {ARTIST_COLUMNS} WHERE ar.id = "));
    let p = sql.param(id);
    sql.push(&p);
    let artist = ArtistRow::find_by_statement(sql.statement()).one(&state.db).await?.ok_or(AppError::NotFound)?;
    let mut sql = Sql::new(&format!("SELECT {ALBUM_COLUMNS} WHERE al.artist_id = "));
    let p = sql.param(id);
    sql.push(&p);
    let albums =
        albums_where(&state.db, sql, " AND c.song_count > 0 ORDER BY al.year DESC NULLS LAST, al.title_folded").await?;
    Ok(axum::Json(ArtistDetail { artist: artist.into(), albums: albums.into_iter().map(AlbumView::from).collect() }))
}

#[derive(Debug, FromQueryResult)]
struct GenreRow {
    name: String,
    song_count: i64,
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
    let sql = Sql::new(&format!(
        "SELECT min(genre) AS name, count(*) AS song_count FROM songs WHERE genre IS NOT NULL \
         GROUP BY lower(genre) ORDER BY lower(genre) OFFSET {} LIMIT {}",
        query.offset,
        query.limit + 1
    ));
    let mut rows = GenreRow::find_by_statement(sql.statement()).all(&state.db).await?;
    let more = rows.len() as u64 > query.limit;
    rows.truncate(query.limit as usize);
    Ok(axum::Json(GenrePage {
        items: rows.into_iter().map(|r| GenreView { name: r.name, song_count: r.song_count }).collect(),
        next_offset: more.then_some(query.offset + query.limit),
    }))
}

#[derive(Debug, FromQueryResult)]
struct ChartRow {
    plays: i64,
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
    let since = match query.period {
        Period::Week => Some("7 days"),
        Period::Month => Some("30 days"),
        Period::All => None,
    };
    let mut sql = Sql::new(&format!("SELECT t.plays, NULL::text AS sort_key, {}", song_columns!()));
    sql.param(user.user.id);
    let ranked = match since {
        Some(interval) => format!(
            "SELECT song_id, count(*) AS plays FROM plays WHERE played_at > now() - interval '{interval}' \
             GROUP BY song_id ORDER BY plays DESC, song_id LIMIT {}",
            query.limit
        ),
        None => format!(
            "SELECT id AS song_id, play_count AS plays FROM songs WHERE play_count > 0 \
             ORDER BY play_count DESC, id LIMIT {}",
            query.limit
        ),
    };
    sql.push(&format!(" JOIN ({ranked}) t ON t.song_id = s.id ORDER BY t.plays DESC, s.id"));
    let statement = sql.statement();
    let rows = state.db.query_all(statement).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let plays = ChartRow::from_query_result(&row, "")?.plays;
        let song = model::SongRow::from_query_result(&row, "")?;
        entries.push(ChartEntry { plays, song: song.into() });
    }
    Ok(axum::Json(entries))
}

/// Albums whose title matches a search's tsquery (`fermata_search_query`): an exact title first, then by title.
/// The page is chosen before the song counts are computed (a broad word matches hundreds of albums).
pub async fn albums_matching(
    db: &impl ConnectionTrait,
    tsquery: &str,
    q: &str,
    limit: u64,
) -> Result<Vec<AlbumView>, DbErr> {
    let mut sql = Sql::new(&format!("SELECT {ALBUM_COLUMNS} WHERE al.id IN (SELECT x.id FROM albums x WHERE "));
    let (t, p) = (sql.param(tsquery.to_owned()), sql.param(q.to_owned()));
    let exact = |table: &str| format!("({table}.title_folded = fermata_fold({p})) DESC");
    let tail = format!(
        "x.title_vector @@ {t}::tsquery \
         AND EXISTS (SELECT 1 FROM songs s WHERE s.album_id = x.id) \
         ORDER BY {}, x.title_folded, x.id LIMIT {limit}) ORDER BY {}, sort_key, al.id",
        exact("x"),
        exact("al")
    );
    Ok(albums_where(db, sql, &tail).await?.into_iter().map(AlbumView::from).collect())
}

/// Artists whose name matches a search's tsquery: an exact name first, then by name.
pub async fn artists_matching(
    db: &impl ConnectionTrait,
    tsquery: &str,
    q: &str,
    limit: u64,
) -> Result<Vec<ArtistView>, DbErr> {
    let mut sql = Sql::new(&format!("SELECT * FROM (SELECT {ARTIST_COLUMNS} WHERE ar.name_vector @@ "));
    let (t, p) = (sql.param(tsquery.to_owned()), sql.param(q.to_owned()));
    sql.push(&format!(
        "{t}::tsquery) a WHERE a.album_count > 0 OR a.song_count > 0 \
         ORDER BY (a.sort_key = fermata_fold({p})) DESC, a.sort_key, a.id LIMIT {limit}"
    ));
    let rows = ArtistRow::find_by_statement(sql.statement()).all(db).await?;
    Ok(rows.into_iter().map(ArtistView::from).collect())
}
