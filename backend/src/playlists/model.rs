//! Playlist queries. Every change to a playlist's entries runs in a transaction that first locks the playlist
//! row, so concurrent adds and moves are applied one after another and positions stay dense and unique.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult, TransactionTrait};
use uuid::Uuid;

use super::m3u;
use crate::{
    catalog::model::{SongRow, Sql, song_columns},
    error::{AppError, AppResult},
};

#[derive(Debug, Clone, FromQueryResult)]
pub struct PlaylistRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub owner_name: String,
    pub name: String,
    pub description: Option<String>,
    pub public: bool,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub song_count: i64,
    pub duration_ms: i64,
    pub cover_album: Option<Uuid>,
}

/// Playlist columns with counts and a cover, over `p` joined to its owner `u`.
pub const PLAYLIST_SELECT: &str = "SELECT p.id, p.owner_id, u.username AS owner_name, p.name, p.description, p.public, \
    p.created_at, p.updated_at, c.song_count, c.duration_ms, cv.album_id AS cover_album \
    FROM playlists p JOIN users u ON u.id = p.owner_id \
    CROSS JOIN LATERAL (SELECT count(*) AS song_count, coalesce(sum(s.duration_ms), 0)::bigint AS duration_ms \
        FROM playlist_entries e JOIN songs s ON s.id = e.song_id WHERE e.playlist_id = p.id) c \
    LEFT JOIN LATERAL (SELECT al.id AS album_id FROM playlist_entries e JOIN songs s ON s.id = e.song_id \
        JOIN albums al ON al.id = s.album_id WHERE e.playlist_id = p.id AND al.cover_path IS NOT NULL \
        ORDER BY e.position LIMIT 1) cv ON true";

/// A playlist as `viewer` may see it: their own, or anyone's public one. Otherwise `None`, so a private
/// playlist's existence never leaks.
pub async fn visible(db: &impl ConnectionTrait, viewer: Uuid, id: Uuid) -> Result<Option<PlaylistRow>, DbErr> {
    let mut sql = Sql::new(PLAYLIST_SELECT);
    let p = sql.param(id);
    let v = sql.param(viewer);
    sql.push(&format!(" WHERE p.id = {p} AND (p.owner_id = {v} OR p.public)"));
    PlaylistRow::find_by_statement(sql.statement()).one(db).await
}

/// The playlist for a change by `user`: 404 when they cannot see it, 403 when they can but do not own it.
pub async fn owned(db: &impl ConnectionTrait, user: Uuid, id: Uuid) -> AppResult<PlaylistRow> {
    let playlist = visible(db, user, id).await?.ok_or(AppError::NotFound)?;
    if playlist.owner_id != user {
        return Err(AppError::Forbidden("only the owner changes a playlist".into()));
    }
    Ok(playlist)
}

#[derive(Debug, FromQueryResult)]
pub struct EntryRow {
    pub entry_id: Uuid,
    pub entry_position: i64,
}

/// A page of the entries in order, each with its song as `viewer` sees it: `limit` entries after the dense
/// position `after` (none: from the start). Positions are counted over the whole playlist (at most
/// [`super::MAX_ENTRIES`] rows), songs read for the page only.
pub async fn entries(
    db: &impl ConnectionTrait,
    viewer: Uuid,
    playlist: Uuid,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<(EntryRow, SongRow)>, DbErr> {
    let mut sql = Sql::new(&format!(
        "SELECT e.entry_id, e.entry_position, NULL::text AS sort_key, {} \
         JOIN (SELECT id AS entry_id, song_id, (row_number() OVER (ORDER BY position) - 1) AS entry_position \
               FROM playlist_entries WHERE playlist_id = ",
        song_columns!()
    ));
    sql.values.insert(0, viewer.into());
    let p = sql.param(playlist);
    let from = sql.param(after.unwrap_or(-1));
    sql.push(&format!(
        "{p}) e ON e.song_id = s.id WHERE e.entry_position > {from} ORDER BY e.entry_position LIMIT {limit}"
    ));
    let rows = db.query_all(sql.statement()).await?;
    rows.iter().map(|row| Ok((EntryRow::from_query_result(row, "")?, SongRow::from_query_result(row, "")?))).collect()
}

/// Opens a transaction holding the playlist row's lock, with positions made dense (0..n) first: deleting a
/// song removes its entries and leaves gaps that positions given by clients must not depend on.
pub async fn lock_entries(db: &impl TransactionTrait, playlist: Uuid) -> AppResult<(DatabaseTransaction, i64)> {
    let txn = db.begin().await?;
    let mut sql = Sql::new("SELECT id FROM playlists WHERE id = ");
    let p = sql.param(playlist);
    sql.push(&format!("{p} FOR UPDATE"));
    txn.query_one(sql.statement()).await?.ok_or(AppError::NotFound)?;
    txn.execute_unprepared("SET CONSTRAINTS playlist_entries_position_key DEFERRED").await?;
    let mut sql = Sql::new(
        "UPDATE playlist_entries e SET position = r.rn - 1 FROM (SELECT id, row_number() OVER (ORDER BY position) AS rn \
         FROM playlist_entries WHERE playlist_id = ",
    );
    let p = sql.param(playlist);
    sql.push(&format!("{p}) r WHERE e.id = r.id AND e.position <> r.rn - 1"));
    txn.execute(sql.statement()).await?;
    let mut sql = Sql::new("SELECT count(*) AS n FROM playlist_entries WHERE playlist_id = ");
    let p = sql.param(playlist);
    sql.push(&p);
    let count = Count::find_by_statement(sql.statement()).one(&txn).await?.map_or(0, |c| c.n);
    Ok((txn, count))
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

pub async fn touch(txn: &DatabaseTransaction, playlist: Uuid) -> Result<(), DbErr> {
    let mut sql = Sql::new("UPDATE playlists SET updated_at = now() WHERE id = ");
    let p = sql.param(playlist);
    sql.push(&p);
    txn.execute(sql.statement()).await.map(drop)
}

/// Song ids among `ids` that do not exist.
pub async fn missing_songs(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    let mut sql = Sql::new("SELECT x.id FROM unnest(ARRAY[");
    let list = ids.iter().map(|id| format!("{}::uuid", sql.param(*id))).collect::<Vec<_>>().join(", ");
    sql.push(&format!("{list}]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM songs s WHERE s.id = x.id)"));
    #[derive(FromQueryResult)]
    struct Id {
        id: Uuid,
    }
    Ok(Id::find_by_statement(sql.statement()).all(db).await?.into_iter().map(|r| r.id).collect())
}

/// Inserts songs at `position` (dense positions assumed, see [`lock_entries`]), shifting later entries.
pub async fn insert_entries(
    txn: &DatabaseTransaction,
    playlist: Uuid,
    position: i64,
    songs: &[Uuid],
) -> Result<(), DbErr> {
    let mut sql = Sql::new("UPDATE playlist_entries SET position = position + ");
    let n = sql.param(songs.len() as i64);
    let p = sql.param(playlist);
    let at = sql.param(position);
    sql.push(&format!("{n} WHERE playlist_id = {p} AND position >= {at}"));
    txn.execute(sql.statement()).await?;
    for (chunk_index, chunk) in songs.chunks(500).enumerate() {
        let mut sql = Sql::new("INSERT INTO playlist_entries (id, playlist_id, song_id, position) VALUES ");
        let offset = chunk_index * 500;
        let rows: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, song)| {
                let values = [
                    sql.param(Uuid::now_v7()),
                    sql.param(playlist),
                    sql.param(*song),
                    sql.param(position + (offset + i) as i64),
                ];
                format!("({})", values.join(", "))
            })
            .collect();
        sql.push(&rows.join(", "));
        txn.execute(sql.statement()).await?;
    }
    Ok(())
}

/// The position of an entry of this playlist (after [`lock_entries`]).
pub async fn entry_position(txn: &DatabaseTransaction, playlist: Uuid, entry: Uuid) -> AppResult<i64> {
    let mut sql = Sql::new("SELECT position::bigint AS n FROM playlist_entries WHERE playlist_id = ");
    let p = sql.param(playlist);
    let e = sql.param(entry);
    sql.push(&format!("{p} AND id = {e}"));
    Ok(Count::find_by_statement(sql.statement()).one(txn).await?.ok_or(AppError::NotFound)?.n)
}

pub async fn remove_entry(txn: &DatabaseTransaction, playlist: Uuid, entry: Uuid, position: i64) -> Result<(), DbErr> {
    let mut sql = Sql::new("DELETE FROM playlist_entries WHERE id = ");
    let e = sql.param(entry);
    sql.push(&e);
    txn.execute(sql.statement()).await?;
    let mut sql = Sql::new("UPDATE playlist_entries SET position = position - 1 WHERE playlist_id = ");
    let p = sql.param(playlist);
    let at = sql.param(position);
    sql.push(&format!("{p} AND position > {at}"));
    txn.execute(sql.statement()).await.map(drop)
}

pub async fn move_entry(
    txn: &DatabaseTransaction,
    playlist: Uuid,
    entry: Uuid,
    from: i64,
    to: i64,
) -> Result<(), DbErr> {
    if from == to {
        return Ok(());
    }
    let (shift, low, high) = if to < from { ("+ 1", to, from - 1) } else { ("- 1", from + 1, to) };
    let mut sql = Sql::new(&format!("UPDATE playlist_entries SET position = position {shift} WHERE playlist_id = "));
    let p = sql.param(playlist);
    let (l, h) = (sql.param(low), sql.param(high));
    sql.push(&format!("{p} AND position BETWEEN {l} AND {h}"));
    txn.execute(sql.statement()).await?;
    let mut sql = Sql::new("UPDATE playlist_entries SET position = ");
    let t = sql.param(to);
    let e = sql.param(entry);
    sql.push(&format!("{t} WHERE id = {e}"));
    txn.execute(sql.statement()).await.map(drop)
}

/// How many playlists `owner` has.
pub async fn owned_count(db: &impl ConnectionTrait, owner: Uuid) -> Result<i64, DbErr> {
    let mut sql = Sql::new("SELECT count(*) AS n FROM playlists WHERE owner_id = ");
    let p = sql.param(owner);
    sql.push(&p);
    Ok(Count::find_by_statement(sql.statement()).one(db).await?.map_or(0, |c| c.n))
}

#[derive(FromQueryResult)]
struct Match {
    n: i32,
    id: Uuid,
}

/// The song each M3U line names, in one query for the whole file: a Fermata stream URL (by id), a library
/// path (exact, or the line ending in the stored path: `/music/Artist/song.mp3` for `Artist/song.mp3`, the
/// longest stored path first), or "Artist - Title" from the EXTINF hint or the file name. Every lookup is an
/// index probe per line (the id, `songs_library_path_key` on each suffix of the line that starts after a `/`,
/// the folded title index), so a 5,000-line file costs milliseconds, not a LIKE scan per line.
pub async fn match_items(db: &impl ConnectionTrait, items: &[m3u::Item]) -> Result<Vec<Option<Uuid>>, DbErr> {
    let mut ids = Vec::with_capacity(items.len());
    let mut suffixes: Vec<Vec<String>> = Vec::with_capacity(items.len());
    let mut artists = Vec::with_capacity(items.len());
    let mut titles = Vec::with_capacity(items.len());
    for item in items {
        // Arrays of PostgreSQL parameters hold no NULLs here: the nil id and empty strings stand for "none".
        ids.push(m3u::song_id_in(&item.location).unwrap_or(Uuid::nil()));
        suffixes.push(m3u::path_suffixes(&item.location));
        let (artist, title) = m3u::artist_and_title(item).unwrap_or_default();
        artists.push(artist);
        titles.push(title);
    }
    // One row per (line, candidate path); arrays of arrays must be rectangular in PostgreSQL, so flatten.
    let (suffix_lines, suffix_paths): (Vec<i32>, Vec<String>) =
        suffixes.into_iter().enumerate().flat_map(|(n, paths)| paths.into_iter().map(move |p| (n as i32, p))).unzip();
    let mut sql = Sql::default();
    let (i, a, t) = (sql.param(ids), sql.param(artists), sql.param(titles));
    let (sl, sp) = (sql.param(suffix_lines), sql.param(suffix_paths));
    sql.text = format!(
        "WITH line AS (SELECT (n - 1)::int AS n, id, artist, title FROM unnest({i}::uuid[], {a}::text[], {t}::text[]) \
                       WITH ORDINALITY AS l(id, artist, title, n)), \
              by_id AS (SELECT l.n, s.id FROM line l JOIN songs s ON s.id = l.id), \
              by_path AS (SELECT DISTINCT ON (x.n) x.n, s.id FROM unnest({sl}::int[], {sp}::text[]) AS x(n, path) \
                          JOIN songs s ON s.storage = 'library' AND s.path = x.path \
                          ORDER BY x.n, length(s.path) DESC), \
              by_name AS (SELECT DISTINCT ON (l.n) l.n, s.id FROM line l \
                          JOIN songs s ON s.title_folded = fermata_fold(l.title) \
                          JOIN artists ar ON ar.id = s.artist_id AND ar.name_folded = fermata_fold(l.artist) \
                          WHERE l.title <> '' ORDER BY l.n, s.added_at, s.id) \
         SELECT l.n, coalesce(i.id, p.id, m.id) AS id FROM line l \
           LEFT JOIN by_id i ON i.n = l.n LEFT JOIN by_path p ON p.n = l.n LEFT JOIN by_name m ON m.n = l.n \
         WHERE coalesce(i.id, p.id, m.id) IS NOT NULL"
    );
    let mut found = vec![None; items.len()];
    for row in Match::find_by_statement(sql.statement()).all(db).await? {
        if let Some(slot) = found.get_mut(row.n as usize) {
            *slot = Some(row.id);
        }
    }
    Ok(found)
}
