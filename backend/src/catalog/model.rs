//! Catalog queries. Raw SQL where PostgreSQL features carry the query (keyset pagination over expressions,
//! folding, full text and trigram search, lateral aggregates); results land in `FromQueryResult` rows that
//! `views.rs` shapes into JSON.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, FromQueryResult, Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use crate::library::tags::Metadata;

/// A statement under construction: SQL text and its positional parameters.
#[derive(Default)]
pub struct Sql {
    pub text: String,
    pub values: Vec<Value>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), values: Vec::new() }
    }

    /// Appends a parameter and returns its placeholder.
    pub fn param(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub fn statement(self) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, self.text, self.values)
    }
}

/// Escapes LIKE's wildcards in SQL, for text that is transformed in the database (folded) before it is matched:
/// escaping must come after the transformation, which maps fullwidth ％ ＿ ＼ to the ASCII wildcards.
pub fn escape_like_sql(expression: &str) -> String {
    format!("replace(replace(replace({expression}, '\\', '\\\\'), '%', '\\%'), '_', '\\_')")
}

/// The columns every song view needs. `$1` is the viewing user (for the favourite flag).
pub const SONG_SELECT: &str = concat!("SELECT NULL::text AS sort_key, ", song_columns!());

/// The song view's columns and joins, for queries that add their own leading columns.
#[macro_export]
macro_rules! song_columns {
    () => {
        "s.id, s.title, s.artist_id, ar.name AS artist_name, s.album_id, \
    al.title AS album_title, s.track_number, s.disc_number, s.duration_ms, s.genre, s.year, s.codec, s.bitrate, \
    s.sample_rate, s.play_count, s.added_at, s.content_hash, (al.cover_path IS NOT NULL) AS has_cover, \
    s.loudness_lufs, s.true_peak_db, s.version, (f.user_id IS NOT NULL) AS favourite \
    FROM songs s JOIN artists ar ON ar.id = s.artist_id JOIN albums al ON al.id = s.album_id \
    LEFT JOIN favourites f ON f.song_id = s.id AND f.user_id = $1"
    };
}
pub use song_columns;

#[derive(Debug, Clone, FromQueryResult)]
pub struct SongRow {
    /// The listing's sort key as text, for its cursor (NULL outside sorted listings).
    pub sort_key: Option<String>,
    pub id: Uuid,
    pub title: String,
    pub artist_id: Uuid,
    pub artist_name: String,
    pub album_id: Uuid,
    pub album_title: String,
    pub track_number: Option<i32>,
    pub disc_number: Option<i32>,
    pub duration_ms: i32,
    pub genre: Option<String>,
    pub year: Option<i32>,
    pub codec: String,
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub play_count: i64,
    pub added_at: DateTime<FixedOffset>,
    pub content_hash: String,
    pub has_cover: bool,
    pub loudness_lufs: Option<f32>,
    pub true_peak_db: Option<f32>,
    pub version: i32,
    pub favourite: bool,
}

pub async fn songs(db: &impl ConnectionTrait, sql: Sql) -> Result<Vec<SongRow>, DbErr> {
    SongRow::find_by_statement(sql.statement()).all(db).await
}

pub async fn song(db: &impl ConnectionTrait, user: Uuid, id: Uuid) -> Result<Option<SongRow>, DbErr> {
    let mut sql = Sql::new(SONG_SELECT);
    sql.param(user);
    let p = sql.param(id);
    sql.push(&format!(" WHERE s.id = {p}"));
    SongRow::find_by_statement(sql.statement()).one(db).await
}

#[derive(Debug, FromQueryResult)]
struct IdRow {
    id: Uuid,
}

pub async fn song_id_by_hash(db: &impl ConnectionTrait, hash: &str) -> Result<Option<Uuid>, DbErr> {
    let mut sql = Sql::new("SELECT id FROM songs WHERE content_hash = ");
    let p = sql.param(hash);
    sql.push(&p);
    Ok(IdRow::find_by_statement(sql.statement()).one(db).await?.map(|r| r.id))
}

/// What a stored file needs to be served.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SongFile {
    pub storage: String,
    pub path: String,
    pub codec: String,
    pub content_hash: String,
    pub size_bytes: i64,
}

/// Where a song's file is, read for every stream request. Kept for a second per replica (`song_file_cache`):
/// with sessions and users cached too, a ranged read then needs no database round trip at all. A second is
/// no worse than what already holds: a file changed in place is only noticed by the next library scan.
const SONG_FILE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

pub fn song_file_cache() -> moka::sync::Cache<Uuid, SongFile> {
    moka::sync::Cache::builder().max_capacity(10_000).time_to_live(SONG_FILE_TTL).build()
}

/// The song's file, from the one-second cache or the database.
pub async fn cached_song_file(
    db: &impl ConnectionTrait,
    cache: &moka::sync::Cache<Uuid, SongFile>,
    id: Uuid,
) -> Result<Option<SongFile>, DbErr> {
    if let Some(file) = cache.get(&id) {
        return Ok(Some(file));
    }
    let file = song_file(db, id).await?;
    if let Some(file) = &file {
        cache.insert(id, file.clone());
    }
    Ok(file)
}

pub async fn song_file(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<SongFile>, DbErr> {
    let mut sql = Sql::new("SELECT storage, path, codec, content_hash, size_bytes FROM songs WHERE id = ");
    let p = sql.param(id);
    sql.push(&p);
    SongFile::find_by_statement(sql.statement()).one(db).await
}

pub struct NewSong {
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: String,
    pub compilation: bool,
    pub track: Option<i32>,
    pub track_total: Option<i32>,
    pub disc: Option<i32>,
    pub disc_total: Option<i32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub duration_ms: i32,
    pub codec: String,
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub channels: Option<i16>,
    pub size_bytes: i64,
    pub content_hash: String,
    pub storage: &'static str,
    pub path: String,
    pub file_mtime: Option<DateTime<Utc>>,
    pub has_embedded_cover: bool,
    pub cover_path: Option<String>,
}

impl NewSong {
    pub fn from_metadata(
        meta: &Metadata,
        content_hash: String,
        storage: &'static str,
        path: String,
        size: u64,
        file_mtime: Option<DateTime<Utc>>,
        cover_path: Option<String>,
    ) -> Self {
        let album_artist = meta
            .album_artist
            .clone()
            .unwrap_or_else(|| if meta.compilation { "Various Artists".to_owned() } else { meta.artist.clone() });
        Self {
            title: meta.title.clone(),
            artist: meta.artist.clone(),
            album: meta.album.clone(),
            album_artist,
            compilation: meta.compilation,
            track: meta.track,
            track_total: meta.track_total,
            disc: meta.disc,
            disc_total: meta.disc_total,
            year: meta.year,
            genre: meta.genre.clone(),
            duration_ms: meta.duration_ms,
            codec: meta.codec.to_owned(),
            bitrate: meta.bitrate,
            sample_rate: meta.sample_rate,
            channels: meta.channels,
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            content_hash,
            storage,
            path,
            file_mtime,
            has_embedded_cover: meta.cover.is_some(),
            cover_path,
        }
    }

    pub fn search_text(&self) -> String {
        format!("{} {} {} {}", self.title, self.artist, self.album, self.album_artist)
    }
}

/// Artist and album ids by name, remembered across the songs of one batch so a scan asks the database once
/// per artist and album, not once per song.
#[derive(Default)]
pub struct Resolver {
    artists: std::collections::HashMap<String, Uuid>,
    /// Album id, and whether a cover was already offered for it.
    albums: std::collections::HashMap<(Uuid, String), (Uuid, bool)>,
}

impl Resolver {
    /// The artist row for a name (case-insensitive), created when missing.
    pub async fn artist(&mut self, txn: &DatabaseTransaction, name: &str) -> Result<Uuid, DbErr> {
        let key = name.to_lowercase();
        if let Some(id) = self.artists.get(&key) {
            return Ok(*id);
        }
        let mut sql = Sql::new("INSERT INTO artists (id, name) VALUES (");
        let id = sql.param(Uuid::now_v7());
        let n = sql.param(name);
        sql.push(&format!("{id}, {n}) ON CONFLICT (lower(name)) DO UPDATE SET name = artists.name RETURNING id"));
        let id = IdRow::find_by_statement(sql.statement()).one(txn).await?.expect("upsert returns a row").id;
        self.artists.insert(key, id);
        Ok(id)
    }

    /// The album row for (album artist, title), created when missing; a cover fills an album that has none.
    pub async fn album(&mut self, txn: &DatabaseTransaction, artist_id: Uuid, song: &NewSong) -> Result<Uuid, DbErr> {
        let key = (artist_id, song.album.to_lowercase());
        if let Some((id, had_cover)) = self.albums.get(&key)
            && (*had_cover || song.cover_path.is_none())
        {
            return Ok(*id);
        }
        let mut sql = Sql::new("INSERT INTO albums (id, title, artist_id, year, compilation, cover_path) VALUES (");
        let values = [
            sql.param(Uuid::now_v7()),
            sql.param(song.album.clone()),
            sql.param(artist_id),
            sql.param(song.year),
            sql.param(song.compilation),
            sql.param(song.cover_path.clone()),
        ]
        .join(", ");
        sql.push(&format!(
            "{values}) ON CONFLICT (artist_id, lower(title)) DO UPDATE SET year = COALESCE(albums.year, EXCLUDED.year), \
             cover_path = COALESCE(albums.cover_path, EXCLUDED.cover_path) RETURNING id"
        ));
        let id = IdRow::find_by_statement(sql.statement()).one(txn).await?.expect("upsert returns a row").id;
        self.albums.insert(key, (id, song.cover_path.is_some()));
        Ok(id)
    }

    /// Artist, album artist and album of a song.
    async fn place(&mut self, txn: &DatabaseTransaction, song: &NewSong) -> Result<(Uuid, Uuid), DbErr> {
        let artist = self.artist(txn, &song.artist).await?;
        let album_artist = if song.album_artist.eq_ignore_ascii_case(&song.artist) {
            artist
        } else {
            self.artist(txn, &song.album_artist).await?
        };
        Ok((artist, self.album(txn, album_artist, song).await?))
    }
}

/// Inserts a song with its artist and album rows. `None` when a song with the same content already exists.
pub async fn insert_song(txn: &DatabaseTransaction, new: NewSong) -> Result<Option<Uuid>, DbErr> {
    Ok(insert_songs(txn, &mut Resolver::default(), vec![new]).await?.pop().flatten())
}

/// Inserts songs in multi-row statements; for each, its id, or `None` when the same content (or library
/// path) is already there.
pub async fn insert_songs(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    songs: Vec<NewSong>,
) -> Result<Vec<Option<Uuid>>, DbErr> {
    let mut ids = Vec::with_capacity(songs.len());
    let mut rows = Vec::with_capacity(songs.len());
    for song in songs {
        let (artist, album) = resolver.place(txn, &song).await?;
        let id = Uuid::now_v7();
        ids.push(id);
        rows.push((id, artist, album, song));
    }
    let mut inserted = std::collections::HashSet::new();
    for chunk in rows.chunks(200) {
        let mut sql = Sql::default();
        let mut names = String::new();
        let mut tuples = Vec::with_capacity(chunk.len());
        for (id, artist, album, new) in chunk {
            let mut columns = vec![
                ("id", sql.param(*id)),
                ("storage", sql.param(new.storage)),
                ("path", sql.param(new.path.clone())),
            ];
            columns.extend(file_columns(&mut sql, new, *artist, *album));
            names = columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
            tuples.push(format!("({})", columns.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join(", ")));
        }
        sql.text =
            format!("INSERT INTO songs ({names}) VALUES {} ON CONFLICT DO NOTHING RETURNING id", tuples.join(", "));
        for row in IdRow::find_by_statement(sql.statement()).all(txn).await? {
            inserted.insert(row.id);
        }
    }
    Ok(ids.into_iter().map(|id| inserted.contains(&id).then_some(id)).collect())
}

/// The columns tags decide (what an admin's edit changes), bound into `sql`.
fn tag_columns(sql: &mut Sql, new: &NewSong, artist: Uuid, album: Uuid) -> Vec<(&'static str, String)> {
    vec![
        ("title", sql.param(new.title.clone())),
        ("artist_id", sql.param(artist)),
        ("album_id", sql.param(album)),
        ("track_number", sql.param(new.track)),
        ("disc_number", sql.param(new.disc)),
        ("year", sql.param(new.year)),
        ("genre", sql.param(new.genre.clone())),
        ("search_text", sql.param(new.search_text())),
    ]
}

/// The columns a file decides: its tags and its audio properties. One list for inserts and updates alike.
fn file_columns(sql: &mut Sql, new: &NewSong, artist: Uuid, album: Uuid) -> Vec<(&'static str, String)> {
    let mut columns = tag_columns(sql, new, artist, album);
    columns.extend([
        ("track_total", sql.param(new.track_total)),
        ("disc_total", sql.param(new.disc_total)),
        ("duration_ms", sql.param(new.duration_ms)),
        ("codec", sql.param(new.codec.clone())),
        ("bitrate", sql.param(new.bitrate)),
        ("sample_rate", sql.param(new.sample_rate)),
        ("channels", sql.param(new.channels)),
        ("size_bytes", sql.param(new.size_bytes)),
        ("content_hash", sql.param(new.content_hash.clone())),
        ("file_mtime", sql.param(new.file_mtime.map(|t| t.fixed_offset()))),
        ("has_embedded_cover", sql.param(new.has_embedded_cover)),
    ]);
    columns
}

fn set_clause(columns: Vec<(&'static str, String)>) -> String {
    columns.into_iter().map(|(c, p)| format!("{c} = {p}")).collect::<Vec<_>>().join(", ")
}

/// A changed library file: new tags and properties, same song (plays, favourites and playlists stay).
pub async fn update_song_file(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    id: Uuid,
    new: NewSong,
) -> Result<(), DbErr> {
    let (artist, album) = resolver.place(txn, &new).await?;
    let mut sql = Sql::default();
    let sets = set_clause(file_columns(&mut sql, &new, artist, album));
    let i = sql.param(id);
    sql.text = format!(
        "UPDATE songs SET {sets}, analysed_at = NULL, peaks = NULL, version = version + 1, updated_at = now() WHERE id = {i}"
    );
    txn.execute(sql.statement()).await.map(drop)
}

/// An admin's tag edit: new title, artist, album and numbers; bumps the version.
pub async fn update_tags(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    id: Uuid,
    new: &NewSong,
) -> Result<(), DbErr> {
    let (artist, album) = resolver.place(txn, new).await?;
    let mut sql = Sql::default();
    let sets = set_clause(tag_columns(&mut sql, new, artist, album));
    let i = sql.param(id);
    sql.text = format!("UPDATE songs SET {sets}, version = version + 1, updated_at = now() WHERE id = {i}");
    txn.execute(sql.statement()).await.map(drop)
}

/// Deletes songs; their playlist entries, favourites and plays go with them (foreign keys cascade).
pub async fn delete_songs(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("DELETE FROM songs WHERE id IN (");
    let list = ids.iter().map(|id| sql.param(*id)).collect::<Vec<_>>().join(", ");
    sql.push(&format!("{list})"));
    db.execute(sql.statement()).await.map(drop)
}

/// Removes albums without songs, then artists without songs or albums.
pub async fn prune_orphans(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared("DELETE FROM albums al WHERE NOT EXISTS (SELECT 1 FROM songs s WHERE s.album_id = al.id)")
        .await?;
    db.execute_unprepared(
        "DELETE FROM artists ar WHERE NOT EXISTS (SELECT 1 FROM songs s WHERE s.artist_id = ar.id) \
         AND NOT EXISTS (SELECT 1 FROM albums al WHERE al.artist_id = ar.id)",
    )
    .await
    .map(drop)
}

/// Counts one play unless the same user played the same song within half its duration. Exact under
/// concurrency and across replicas: the count is an atomic increment, and a transaction-scoped advisory lock
/// on (user, song) serialises the repeat check of one listener.
pub async fn record_play(db: &impl TransactionTrait, user: Uuid, song: Uuid) -> Result<Option<PlayOutcome>, DbErr> {
    let txn = db.begin().await?;
    let mut sql = Sql::new("SELECT pg_advisory_xact_lock(hashtextextended(");
    let key = sql.param(format!("play:{user}:{song}"));
    sql.push(&format!("{key}, 0))"));
    txn.execute(sql.statement()).await?;

    let mut sql = Sql::new("SELECT s.play_count, EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ");
    let u = sql.param(user);
    sql.push(&format!(" {u} AND p.song_id = s.id AND p.played_at > now() - make_interval(secs => s.duration_ms / 2000.0)) AS recent FROM songs s WHERE s.id = "));
    let s = sql.param(song);
    sql.push(&s);
    let Some(state) = RecentRow::find_by_statement(sql.statement()).one(&txn).await? else {
        return Ok(None);
    };
    if state.recent {
        return Ok(Some(PlayOutcome { counted: false, play_count: state.play_count }));
    }
    let mut sql = Sql::new("INSERT INTO plays (id, user_id, song_id) VALUES (");
    let values = [sql.param(Uuid::now_v7()), sql.param(user), sql.param(song)].join(", ");
    sql.push(&format!("{values})"));
    txn.execute(sql.statement()).await?;
    let mut sql = Sql::new("UPDATE songs SET play_count = play_count + 1 WHERE id = ");
    let s = sql.param(song);
    sql.push(&format!("{s} RETURNING play_count"));
    let count = CountRow::find_by_statement(sql.statement()).one(&txn).await?.map_or(0, |r| r.play_count);
    txn.commit().await?;
    Ok(Some(PlayOutcome { counted: true, play_count: count }))
}

#[derive(FromQueryResult)]
struct RecentRow {
    play_count: i64,
    recent: bool,
}

#[derive(FromQueryResult)]
struct CountRow {
    play_count: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct PlayOutcome {
    pub counted: bool,
    pub play_count: i64,
}

/// Returns false when the song does not exist.
pub async fn set_favourite(db: &impl ConnectionTrait, user: Uuid, song: Uuid, on: bool) -> Result<bool, DbErr> {
    let mut sql = if on {
        Sql::new("INSERT INTO favourites (user_id, song_id) SELECT ")
    } else {
        Sql::new("WITH gone AS (DELETE FROM favourites WHERE user_id = ")
    };
    let u = sql.param(user);
    let s = sql.param(song);
    if on {
        sql.push(&format!("{u}, id FROM songs WHERE id = {s} ON CONFLICT DO NOTHING"));
        txn_exec(db, sql).await?;
    } else {
        sql.push(&format!("{u} AND song_id = {s}) SELECT 1"));
        txn_exec(db, sql).await?;
    }
    let mut sql = Sql::new("SELECT id FROM songs WHERE id = ");
    let s = sql.param(song);
    sql.push(&s);
    Ok(IdRow::find_by_statement(sql.statement()).one(db).await?.is_some())
}

async fn txn_exec(db: &impl ConnectionTrait, sql: Sql) -> Result<(), DbErr> {
    db.execute(sql.statement()).await.map(drop)
}
