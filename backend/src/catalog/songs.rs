//! Song listing (filters, sorts, keyset cursor) and single songs.

use axum::extract::State;
use uuid::Uuid;

use super::{
    model::{self, Sql, escape_like_sql, song_columns},
    views::{Order, SongQuery, SongSort, SongView},
};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    pagination::{Cursor, Page},
    state::AppState,
};

impl SongSort {
    fn name(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Artist => "artist",
            Self::Album => "album",
            Self::Added => "added",
            Self::Plays => "plays",
            Self::Duration => "duration",
        }
    }

    /// The SQL sort key; each has an index paired with the id.
    fn expression(self) -> &'static str {
        match self {
            Self::Title => "s.title_folded",
            Self::Artist => "ar.name_folded",
            Self::Album => "al.title_folded",
            Self::Added => "s.added_at",
            Self::Plays => "s.play_count",
            Self::Duration => "s.duration_ms",
        }
    }

    /// Whether a cursor key parses as this sort's column type, so a forged cursor is a 422, not a failed cast.
    fn accepts_key(self, key: &str) -> bool {
        match self {
            Self::Title | Self::Artist | Self::Album => !key.contains('\0'),
            Self::Added => chrono::DateTime::parse_from_str(key, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok(),
            Self::Plays => key.parse::<i64>().is_ok(),
            Self::Duration => key.parse::<i32>().is_ok(),
        }
    }

    /// The SQL type a cursor's text key is cast back to.
    fn key_type(self) -> &'static str {
        match self {
            Self::Title | Self::Artist | Self::Album => "text",
            Self::Added => "timestamptz",
            Self::Plays => "bigint",
            Self::Duration => "integer",
        }
    }
}

/// Adds `AND <filter>` for an "id or exact name" filter.
fn id_or_name(sql: &mut Sql, value: &str, id_column: &str, name_column: &str) {
    if let Ok(id) = value.parse::<Uuid>() {
        let p = sql.param(id);
        sql.push(&format!(" AND {id_column} = {p}"));
    } else {
        let p = sql.param(value.to_lowercase());
        sql.push(&format!(" AND lower({name_column}) = {p}"));
    }
}

/// Songs, filtered and sorted, a page at a time.
#[utoipa::path(get, path = "/api/music/songs", tag = "catalog", params(SongQuery), responses(
    (status = 200, body = Page<SongView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<SongQuery>,
) -> AppResult<axum::Json<Page<SongView>>> {
    let sort = query.sort;
    let sort_name = format!("{}-{}", sort.name(), if query.order == Order::Asc { "asc" } else { "desc" });
    let expr = sort.expression();
    let mut sql = Sql::new(&format!("SELECT ({expr})::text AS sort_key, {}", song_columns!()));
    sql.param(user.user.id);
    sql.push(" WHERE true");
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let p = sql.param(q.to_owned());
        // Folded first, then escaped: folding maps fullwidth ％ ＿ ＼ to the ASCII wildcards.
        sql.push(&format!(
            " AND s.search_folded LIKE '%' || {} || '%'",
            escape_like_sql(&format!("fermata_fold({p})"))
        ));
    }
    if let Some(artist) = &query.artist {
        id_or_name(&mut sql, artist, "s.artist_id", "ar.name");
    }
    if let Some(album) = &query.album {
        id_or_name(&mut sql, album, "s.album_id", "al.title");
    }
    if let Some(genre) = &query.genre {
        let p = sql.param(genre.to_lowercase());
        sql.push(&format!(" AND lower(s.genre) = {p}"));
    }
    if let Some(year) = query.year {
        let p = sql.param(year);
        sql.push(&format!(" AND s.year = {p}"));
    }
    let (cmp, dir) = if query.order == Order::Asc { (">", "ASC") } else { ("<", "DESC") };
    if let Some(cursor) = &query.cursor {
        let cursor = Cursor::<String>::decode(cursor, &sort_name)?;
        if !sort.accepts_key(&cursor.key) {
            return Err(AppError::field("cursor", "is not a cursor from this listing"));
        }
        let key = sql.param(cursor.key);
        let id = sql.param(cursor.id);
        sql.push(&format!(" AND ({expr}, s.id) {cmp} ({key}::{}, {id})", sort.key_type()));
    }
    // One extra row tells whether there is a next page.
    sql.push(&format!(" ORDER BY {expr} {dir}, s.id {dir} LIMIT {}", query.limit + 1));
    let mut rows = model::songs(&state.db, sql).await?;
    let next_cursor = if rows.len() as u64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|last| {
            Cursor { sort: sort_name, key: last.sort_key.clone().unwrap_or_default(), id: last.id }.encode()
        })
    } else {
        None
    };
    Ok(axum::Json(Page { items: rows.into_iter().map(SongView::from).collect(), next_cursor }))
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
    let row = model::song(&state.db, user.user.id, id).await?.ok_or(AppError::NotFound)?;
    Ok(axum::Json(row.into()))
}
