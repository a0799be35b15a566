//! Writing the catalog: songs added from files (uploads, scans), files changed in place, tag edits, deletions,
//! and the album and artist rows they need or leave behind.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, FromQueryResult, Statement, TransactionTrait,
    sea_query::{
        Alias, Expr, Func, InsertStatement, JoinType, LockType, OnConflict, Query, SimpleExpr, UpdateStatement,
    },
};
use uuid::Uuid;

use crate::{
    entities::{albums, artists, songs},
    error::{Error, Result},
    ids::{AlbumId, ArtistId, SongId},
    media::Storage,
    run::execute,
    tags::{Codec, Metadata},
};

/// What tags decide about a song's place in the catalogue (what a tag edit changes).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Placement {
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: String,
    pub compilation: bool,
    pub track: Option<i32>,
    pub disc: Option<i32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
}

impl Placement {
    /// From a file's tags: without an album artist, a compilation is "Various Artists" and any other album
    /// the track artist's.
    pub fn from_metadata(meta: &Metadata) -> Self {
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
            disc: meta.disc,
            year: meta.year,
            genre: meta.genre.clone(),
        }
    }

    /// The text the search columns are generated from.
    fn search_text(&self) -> String {
        format!("{} {} {} {}", self.title, self.artist, self.album, self.album_artist)
    }

    /// This placement with an admin's edit applied. An album credited to the song's own artist follows a
    /// change of artist unless the edit names an album artist; text is trimmed and an empty genre is none.
    pub fn edited(self, edit: TagEdit) -> Self {
        let trim = |s: String| s.trim().to_owned();
        let album_artist_follows = self.album_artist.eq_ignore_ascii_case(&self.artist);
        let artist = edit.artist.map(trim).unwrap_or(self.artist);
        let album_artist = match edit.album_artist.map(trim) {
            Some(given) => given,
            None if album_artist_follows => artist.clone(),
            None => self.album_artist,
        };
        Self {
            title: edit.title.map(trim).unwrap_or(self.title),
            album_artist,
            artist,
            album: edit.album.map(trim).unwrap_or(self.album),
            compilation: self.compilation,
            track: edit.track.unwrap_or(self.track),
            disc: edit.disc.unwrap_or(self.disc),
            year: edit.year.unwrap_or(self.year),
            genre: edit.genre.unwrap_or(self.genre).map(trim).filter(|g| !g.is_empty()),
        }
    }
}

/// An admin's change to a song's tags. `None` leaves a field as it is; `Some(None)` clears a number or genre,
/// and for the tempo and key goes back to what the analysis measures (the song is analysed again).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagEdit {
    /// The song's `version` the edit was based on.
    pub version: i32,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track: Option<Option<i32>>,
    pub disc: Option<Option<i32>>,
    pub year: Option<Option<i32>>,
    pub genre: Option<Option<String>>,
    /// Beats per minute, [`BPM_RANGE`].
    pub bpm: Option<Option<f32>>,
    pub key: Option<Option<crate::sonic::Key>>,
}

/// Tempi an admin may give a song.
pub const BPM_RANGE: std::ops::RangeInclusive<f32> = 20.0..=400.0;

/// A song read from a file, to be added (or to replace what a changed file said).
#[derive(Debug, Clone)]
pub struct NewSong {
    pub placement: Placement,
    pub track_total: Option<i32>,
    pub disc_total: Option<i32>,
    pub duration_ms: i32,
    pub codec: Codec,
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub channels: Option<i16>,
    pub size_bytes: i64,
    pub content_hash: String,
    pub storage: Storage,
    pub path: String,
    pub file_mtime: Option<DateTime<Utc>>,
    pub has_embedded_cover: bool,
    /// Cover art for the album, when the album has none yet (`media:covers/…`, or a library folder's image);
    /// for an upload also the song's own.
    pub cover_path: Option<String>,
}

/// Where a file is and what it is, beside its tags.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub content_hash: String,
    pub storage: Storage,
    pub path: String,
    pub size: u64,
    pub mtime: Option<DateTime<Utc>>,
    pub cover_path: Option<String>,
}

impl NewSong {
    /// The song's own cover as stored with it: an upload's embedded picture (stored as it was imported); a
    /// library file's picture is taken after the scan ([`crate::library::covers_from_tags`]), its `cover_path`
    /// here being the folder image, which is the album's.
    fn own_cover(&self) -> Option<String> {
        (self.storage == Storage::Media).then(|| self.cover_path.clone()).flatten()
    }

    pub fn from_metadata(meta: &Metadata, file: StoredFile) -> Self {
        Self {
            placement: Placement::from_metadata(meta),
            track_total: meta.track_total,
            disc_total: meta.disc_total,
            duration_ms: meta.duration_ms,
            codec: meta.codec,
            bitrate: meta.bitrate,
            sample_rate: meta.sample_rate,
            channels: meta.channels,
            size_bytes: i64::try_from(file.size).unwrap_or(i64::MAX),
            content_hash: file.content_hash,
            storage: file.storage,
            path: file.path,
            file_mtime: file.mtime,
            has_embedded_cover: meta.cover.is_some(),
            cover_path: file.cover_path,
        }
    }
}

#[derive(FromQueryResult)]
struct IdRow {
    id: Uuid,
}

#[derive(FromQueryResult)]
struct NamedId {
    name: String,
    id: Uuid,
}

#[derive(FromQueryResult)]
struct OrdId {
    ord: i32,
    id: Uuid,
}

/// A statement whose one parameter is a JSON array of rows (`jsonb_to_recordset`): one statement text and one
/// plan whatever the number of rows, where a multi-row VALUES binds and plans a parameter per field.
fn raw(sql: &str, rows: Vec<serde_json::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [serde_json::Value::Array(rows).into()])
}

/// Artists by name, created when missing (names equal but for case are one artist): every name given, with
/// its artist's id. The no-op update makes an existing row return its id.
const ARTISTS_UPSERT: &str = "
WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, name text)),
inserted AS (
    INSERT INTO artists (id, name)
    SELECT DISTINCT ON (lower(name)) id, name FROM input ORDER BY lower(name), name
    ON CONFLICT (lower(name)) DO UPDATE SET name = artists.name
    RETURNING id, lower(name) AS folded
)
SELECT input.name, inserted.id FROM input JOIN inserted ON inserted.folded = lower(input.name)";

/// Albums by (album artist, title ignoring case), created when missing; an existing album keeps its year and
/// cover and gets the given ones where it has none. Every input row (`ord`) with its album's id.
const ALBUMS_UPSERT: &str = "
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS t(ord integer, id uuid, artist_id uuid, title text, year integer, compilation boolean, cover_path text)
),
inserted AS (
    INSERT INTO albums (id, title, artist_id, year, compilation, cover_path)
    SELECT DISTINCT ON (artist_id, lower(title)) id, title, artist_id, year, compilation, cover_path
      FROM input ORDER BY artist_id, lower(title), ord
    ON CONFLICT (artist_id, lower(title)) DO UPDATE
       SET year = coalesce(albums.year, excluded.year), cover_path = coalesce(albums.cover_path, excluded.cover_path)
    RETURNING id, artist_id, lower(title) AS folded
)
SELECT input.ord, inserted.id
  FROM input JOIN inserted ON inserted.artist_id = input.artist_id AND inserted.folded = lower(input.title)";

/// Songs, each row skipped when its uploaded bytes or its library path are already there; the ids inserted.
const SONGS_INSERT: &str = "
INSERT INTO songs (id, storage, path, title, artist_id, album_id, track_number, disc_number, year, genre, search_text,
                   track_total, disc_total, duration_ms, codec, bitrate, sample_rate, channels, size_bytes,
                   content_hash, file_mtime, has_embedded_cover, cover_path)
SELECT id, storage, path, title, artist_id, album_id, track_number, disc_number, year, genre, search_text,
       track_total, disc_total, duration_ms, codec, bitrate, sample_rate, channels, size_bytes,
       content_hash, file_mtime, has_embedded_cover, cover_path
  FROM jsonb_to_recordset($1::jsonb) AS t(
       id uuid, storage text, path text, title text, artist_id uuid, album_id uuid, track_number integer,
       disc_number integer, year integer, genre text, search_text text, track_total integer, disc_total integer,
       duration_ms integer, codec text, bitrate integer, sample_rate integer, channels smallint, size_bytes bigint,
       content_hash text, file_mtime timestamptz, has_embedded_cover boolean, cover_path text)
ON CONFLICT DO NOTHING
RETURNING id";

async fn returning_id(txn: &DatabaseTransaction, insert: &InsertStatement) -> Result<Uuid, DbErr> {
    let row = crate::run::one::<IdRow>(txn, insert).await?;
    row.map(|r| r.id).ok_or_else(|| DbErr::RecordNotInserted)
}

/// Artist and album ids by name, remembered across the songs of one batch so a scan asks the database once
/// per artist and album, not once per song.
#[derive(Default)]
pub struct Resolver {
    artists: HashMap<String, ArtistId>,
    /// Album id, and whether a cover was already offered for it.
    albums: HashMap<(ArtistId, String), (AlbumId, bool)>,
}

impl Resolver {
    /// The artist row for a name (case-insensitive), created when missing.
    async fn artist(&mut self, txn: &DatabaseTransaction, name: &str) -> Result<ArtistId, DbErr> {
        use artists::Column as A;
        let key = name.to_lowercase();
        if let Some(id) = self.artists.get(&key) {
            return Ok(*id);
        }
        let insert = Query::insert()
            .into_table(artists::Entity)
            .columns([A::Id, A::Name])
            .values_panic([Uuid::now_v7().into(), name.into()])
            // A no-op update, so the existing row's id is returned.
            .on_conflict(
                OnConflict::new()
                    .expr(Func::lower(Expr::col(A::Name)))
                    .value(A::Name, Expr::col((artists::Entity, A::Name)))
                    .to_owned(),
            )
            .returning_col(A::Id)
            .to_owned();
        let id = ArtistId(returning_id(txn, &insert).await?);
        self.artists.insert(key, id);
        Ok(id)
    }

    /// The album row for (album artist, title), created when missing; a cover fills an album that has none.
    async fn album(
        &mut self,
        txn: &DatabaseTransaction,
        artist: ArtistId,
        placement: &Placement,
        cover_path: Option<&str>,
    ) -> Result<AlbumId, DbErr> {
        use albums::Column as Al;
        let key = (artist, placement.album.to_lowercase());
        if let Some((id, had_cover)) = self.albums.get(&key)
            && (*had_cover || cover_path.is_none())
        {
            return Ok(*id);
        }
        let kept = |column: Al| -> SimpleExpr {
            Func::coalesce([
                Expr::col((albums::Entity, column)).into(),
                Expr::col((Alias::new("excluded"), column)).into(),
            ])
            .into()
        };
        let insert = Query::insert()
            .into_table(albums::Entity)
            .columns([Al::Id, Al::Title, Al::ArtistId, Al::Year, Al::Compilation, Al::CoverPath])
            .values_panic([
                Uuid::now_v7().into(),
                placement.album.clone().into(),
                artist.into(),
                placement.year.into(),
                placement.compilation.into(),
                cover_path.map(str::to_owned).into(),
            ])
            .on_conflict(
                OnConflict::new()
                    .exprs([SimpleExpr::from(Expr::col(Al::ArtistId)), Func::lower(Expr::col(Al::Title)).into()])
                    .value(Al::Year, kept(Al::Year))
                    .value(Al::CoverPath, kept(Al::CoverPath))
                    .to_owned(),
            )
            .returning_col(Al::Id)
            .to_owned();
        let id = AlbumId(returning_id(txn, &insert).await?);
        self.albums.insert(key, (id, cover_path.is_some()));
        Ok(id)
    }

    /// Artist and album rows for every placement of a batch (with the cover each offers), created where
    /// missing: one statement for the artists and one for the albums this resolver does not know yet, where
    /// a statement per new name was a round trip each (12,000 of them for a 100,000-song first scan).
    async fn place_all(
        &mut self,
        txn: &DatabaseTransaction,
        songs: &[(&Placement, Option<&str>)],
    ) -> Result<Vec<(ArtistId, AlbumId)>, DbErr> {
        let mut names: Vec<&str> = Vec::new();
        let mut asked = HashSet::new();
        for (placement, _) in songs {
            for name in [placement.artist.as_str(), placement.album_artist.as_str()] {
                if !self.artists.contains_key(&name.to_lowercase()) && asked.insert(name) {
                    names.push(name);
                }
            }
        }
        if !names.is_empty() {
            let input: Vec<_> =
                names.iter().map(|name| serde_json::json!({ "id": Uuid::now_v7(), "name": name })).collect();
            for row in NamedId::find_by_statement(raw(ARTISTS_UPSERT, input)).all(txn).await? {
                self.artists.insert(row.name.to_lowercase(), ArtistId(row.id));
            }
        }
        let artist_of = |resolver: &Self, name: &str| {
            resolver.artists.get(&name.to_lowercase()).copied().ok_or_else(|| DbErr::RecordNotInserted)
        };
        // One row per album not known yet (or known without a cover while one is offered now): the first song's
        // year, the first cover offered.
        let mut wanted: Vec<serde_json::Value> = Vec::new();
        let mut keys: Vec<((ArtistId, String), bool)> = Vec::new();
        let mut row_of: HashMap<(ArtistId, String), usize> = HashMap::new();
        for (placement, cover) in songs {
            let album_artist = artist_of(self, &placement.album_artist)?;
            let key = (album_artist, placement.album.to_lowercase());
            let known = self.albums.get(&key).is_some_and(|(_, had_cover)| *had_cover || cover.is_none());
            if known {
                continue;
            }
            match row_of.get(&key) {
                Some(&at) => {
                    if cover.is_some() && wanted[at]["cover_path"].is_null() {
                        wanted[at]["cover_path"] = (*cover).into();
                        keys[at].1 = true;
                    }
                }
                None => {
                    row_of.insert(key.clone(), wanted.len());
                    wanted.push(serde_json::json!({
                        "ord": wanted.len(), "id": Uuid::now_v7(), "artist_id": album_artist.0,
                        "title": placement.album, "year": placement.year, "compilation": placement.compilation,
                        "cover_path": cover,
                    }));
                    keys.push((key, cover.is_some()));
                }
            }
        }
        if !wanted.is_empty() {
            for row in OrdId::find_by_statement(raw(ALBUMS_UPSERT, wanted)).all(txn).await? {
                if let Some((key, had_cover)) = usize::try_from(row.ord).ok().and_then(|ord| keys.get(ord)) {
                    self.albums.insert(key.clone(), (AlbumId(row.id), *had_cover));
                }
            }
        }
        songs
            .iter()
            .map(|(placement, _)| {
                let artist = artist_of(self, &placement.artist)?;
                let album_artist = artist_of(self, &placement.album_artist)?;
                let album = self.albums.get(&(album_artist, placement.album.to_lowercase()));
                Ok((artist, album.map(|(id, _)| *id).ok_or(DbErr::RecordNotInserted)?))
            })
            .collect()
    }

    /// Artist and album of a song (creating the album artist too).
    async fn place(
        &mut self,
        txn: &DatabaseTransaction,
        placement: &Placement,
        cover_path: Option<&str>,
    ) -> Result<(ArtistId, AlbumId), DbErr> {
        let artist = self.artist(txn, &placement.artist).await?;
        let album_artist = if placement.album_artist.eq_ignore_ascii_case(&placement.artist) {
            artist
        } else {
            self.artist(txn, &placement.album_artist).await?
        };
        Ok((artist, self.album(txn, album_artist, placement, cover_path).await?))
    }
}

/// The columns tags decide, as (column, value) pairs: what an edit changes.
fn placement_values(placement: &Placement, artist: ArtistId, album: AlbumId) -> Vec<(songs::Column, SimpleExpr)> {
    use songs::Column as S;
    vec![
        (S::Title, placement.title.clone().into()),
        (S::ArtistId, artist.into()),
        (S::AlbumId, album.into()),
        (S::TrackNumber, placement.track.into()),
        (S::DiscNumber, placement.disc.into()),
        (S::Year, placement.year.into()),
        (S::Genre, placement.genre.clone().into()),
        (S::SearchText, placement.search_text().into()),
    ]
}

/// The columns a file decides: its tags and its audio properties. One list for inserts and updates alike.
fn file_values(new: &NewSong, artist: ArtistId, album: AlbumId) -> Vec<(songs::Column, SimpleExpr)> {
    use songs::Column as S;
    let mut values = placement_values(&new.placement, artist, album);
    values.extend([
        (S::TrackTotal, new.track_total.into()),
        (S::DiscTotal, new.disc_total.into()),
        (S::DurationMs, new.duration_ms.into()),
        (S::Codec, new.codec.into()),
        (S::Bitrate, new.bitrate.into()),
        (S::SampleRate, new.sample_rate.into()),
        (S::Channels, new.channels.into()),
        (S::SizeBytes, new.size_bytes.into()),
        (S::ContentHash, new.content_hash.clone().into()),
        (S::FileMtime, new.file_mtime.map(|t| t.fixed_offset()).into()),
        (S::HasEmbeddedCover, new.has_embedded_cover.into()),
        // A changed library file's picture is taken again by the pass after the scan.
        (S::CoverPath, new.own_cover().into()),
    ]);
    values
}

/// Inserts a song with its artist and album rows. `None` when a song with the same content already exists.
pub async fn insert_song(txn: &DatabaseTransaction, new: NewSong) -> Result<Option<SongId>, DbErr> {
    Ok(insert_songs(txn, &mut Resolver::default(), vec![new]).await?.pop().flatten())
}

/// Inserts songs, a batch in one statement; for each, its id, or `None` when the same upload content (or the
/// same library path) is already there.
pub async fn insert_songs(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    songs: Vec<NewSong>,
) -> Result<Vec<Option<SongId>>, DbErr> {
    if songs.is_empty() {
        return Ok(Vec::new());
    }
    let placements: Vec<_> = songs.iter().map(|song| (&song.placement, song.cover_path.as_deref())).collect();
    let places = resolver.place_all(txn, &placements).await?;
    let ids: Vec<Uuid> = songs.iter().map(|_| Uuid::now_v7()).collect();
    let rows = songs
        .iter()
        .zip(&places)
        .zip(&ids)
        .map(|((song, (artist, album)), id)| {
            let p = &song.placement;
            // Whole microseconds, as the column keeps them: a rescan compares them with the file's.
            let mtime = song.file_mtime.and_then(|t| DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros()));
            serde_json::json!({
                "id": id, "storage": song.storage.as_str(), "path": song.path, "title": p.title,
                "artist_id": artist.0, "album_id": album.0, "track_number": p.track, "disc_number": p.disc,
                "year": p.year, "genre": p.genre, "search_text": p.search_text(), "track_total": song.track_total,
                "disc_total": song.disc_total, "duration_ms": song.duration_ms, "codec": song.codec.as_str(),
                "bitrate": song.bitrate, "sample_rate": song.sample_rate, "channels": song.channels,
                "size_bytes": song.size_bytes, "content_hash": song.content_hash, "file_mtime": mtime,
                "has_embedded_cover": song.has_embedded_cover, "cover_path": song.own_cover(),
            })
        })
        .collect();
    let inserted: HashSet<Uuid> =
        IdRow::find_by_statement(raw(SONGS_INSERT, rows)).all(txn).await?.into_iter().map(|row| row.id).collect();
    Ok(ids.into_iter().map(|id| inserted.contains(&id).then_some(SongId(id))).collect())
}

/// An update of one song that bumps its version.
fn song_update(id: SongId, values: Vec<(songs::Column, SimpleExpr)>) -> UpdateStatement {
    use songs::Column as S;
    Query::update()
        .table(songs::Entity)
        .values(values)
        .value(S::Version, Expr::col(S::Version).add(1))
        .value(S::UpdatedAt, Expr::current_timestamp())
        .and_where(Expr::col(S::Id).eq(id))
        .to_owned()
}

/// A changed library file: new tags and properties, same song (plays, favourites and playlists stay); its
/// analysis is redone.
pub async fn update_file(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    id: SongId,
    new: NewSong,
) -> Result<(), DbErr> {
    use songs::Column as S;
    let reset = vec![
        (S::AnalysedAt, Expr::value(Option::<DateTime<Utc>>::None)),
        (S::Peaks, Expr::value(Option::<Vec<u8>>::None)),
    ];
    rewrite_file(txn, resolver, id, new, reset).await
}

/// A library file moved within the folder (same fingerprint, new path, its old path gone): same song (plays,
/// favourites, playlists and analysis stay), new path, and the tags and folder cover of where it is now.
pub async fn move_file(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    id: SongId,
    new: NewSong,
) -> Result<(), DbErr> {
    let path = vec![(songs::Column::Path, new.path.clone().into())];
    rewrite_file(txn, resolver, id, new, path).await
}

/// Writes what a file decides into song `id`, placed anew, with `extra` columns.
async fn rewrite_file(
    txn: &DatabaseTransaction,
    resolver: &mut Resolver,
    id: SongId,
    new: NewSong,
    extra: Vec<(songs::Column, SimpleExpr)>,
) -> Result<(), DbErr> {
    let (artist, album) = resolver.place(txn, &new.placement, new.cover_path.as_deref()).await?;
    let mut values = file_values(&new, artist, album);
    values.extend(extra);
    execute(txn, &song_update(id, values)).await.map(drop)
}

/// How a tag edit went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edited {
    Applied,
    /// The song changed since the version the edit was based on; nothing was changed.
    Stale,
}

/// Applies an admin's tag edit: moves the song to other artist and album rows as needed; albums and artists
/// left empty go. [`Error::NotFound`] when the song does not exist.
pub async fn edit_tags(db: &impl TransactionTrait, id: SongId, edit: TagEdit) -> Result<Edited> {
    use super::T;
    let album_artist = Alias::new("aa");
    let current = Query::select()
        .expr_as(Expr::col((T::S, songs::Column::Title)), Alias::new("title"))
        .expr_as(Expr::col((T::Ar, artists::Column::Name)), Alias::new("artist"))
        .expr_as(Expr::col((T::Al, albums::Column::Title)), Alias::new("album"))
        .expr_as(Expr::col((album_artist.clone(), artists::Column::Name)), Alias::new("album_artist"))
        .expr_as(Expr::col((T::Al, albums::Column::Compilation)), Alias::new("compilation"))
        .expr_as(Expr::col((T::S, songs::Column::TrackNumber)), Alias::new("track"))
        .expr_as(Expr::col((T::S, songs::Column::DiscNumber)), Alias::new("disc"))
        .column((T::S, songs::Column::Year))
        .column((T::S, songs::Column::Genre))
        .column((T::S, songs::Column::Version))
        .from_as(songs::Entity, T::S)
        .join_as(
            JoinType::InnerJoin,
            artists::Entity,
            T::Ar,
            Expr::col((T::Ar, artists::Column::Id)).equals((T::S, songs::Column::ArtistId)),
        )
        .join_as(
            JoinType::InnerJoin,
            albums::Entity,
            T::Al,
            Expr::col((T::Al, albums::Column::Id)).equals((T::S, songs::Column::AlbumId)),
        )
        .join_as(
            JoinType::InnerJoin,
            artists::Entity,
            album_artist.clone(),
            Expr::col((album_artist, artists::Column::Id)).equals((T::Al, albums::Column::ArtistId)),
        )
        .and_where(Expr::col((T::S, songs::Column::Id)).eq(id))
        // The song's row stays locked until the edit commits, so two edits of one version cannot both apply.
        .lock_with_tables(LockType::Update, [T::S])
        .to_owned();
    if let Some(Some(bpm)) = edit.bpm
        && !BPM_RANGE.contains(&bpm)
    {
        let message = format!("must be between {} and {}", BPM_RANGE.start(), BPM_RANGE.end());
        return Err(Error::Invalid { field: "bpm", message });
    }
    let txn = db.begin().await?;
    let row = txn.query_one(crate::run::statement(&current)).await?.ok_or(Error::NotFound)?;
    if row.try_get::<i32>("", "version")? != edit.version {
        return Ok(Edited::Stale);
    }
    let (bpm, key) = (edit.bpm, edit.key);
    let placement = Placement::from_query_result(&row, "")?.edited(edit);
    let (artist, album) = Resolver::default().place(&txn, &placement, None).await?;
    let mut values = placement_values(&placement, artist, album);
    // A value given is the admin's and stays through analyses; none given goes back to the measured one.
    if let Some(bpm) = bpm {
        values.push((songs::Column::Bpm, bpm.into()));
        values.push((songs::Column::BpmConfidence, Option::<f32>::None.into()));
        values.push((songs::Column::BpmEdited, bpm.is_some().into()));
    }
    if let Some(key) = key {
        values.push((songs::Column::MusicalKey, key.map(crate::sonic::Key::code).into()));
        values.push((songs::Column::KeyConfidence, Option::<f32>::None.into()));
        values.push((songs::Column::KeyEdited, key.is_some().into()));
    }
    execute(&txn, &song_update(id, values)).await?;
    if matches!(bpm, Some(None)) || matches!(key, Some(None)) {
        crate::jobs::enqueue_analysis(&txn, &[id]).await?;
    }
    prune_orphans(&txn).await?;
    txn.commit().await?;
    Ok(Edited::Applied)
}

/// Deletes one song and the album and artist rows it leaves empty.
pub async fn delete_song(db: &impl TransactionTrait, id: SongId) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    delete_songs(&txn, &[id]).await?;
    prune_orphans(&txn).await?;
    txn.commit().await
}

/// Deletes songs; their playlist entries, favourites and plays go with them (foreign keys cascade).
pub async fn delete_songs(db: &impl ConnectionTrait, ids: &[SongId]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let delete = Query::delete()
        .from_table(songs::Entity)
        .and_where(Expr::col(songs::Column::Id).is_in(ids.iter().copied()))
        .to_owned();
    execute(db, &delete).await.map(drop)
}

/// Removes albums without songs, then artists without songs or albums.
pub async fn prune_orphans(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let album_songs = Query::select()
        .expr(Expr::val(1))
        .from(songs::Entity)
        .and_where(Expr::col((songs::Entity, songs::Column::AlbumId)).equals((albums::Entity, albums::Column::Id)))
        .to_owned();
    let albums = Query::delete().from_table(albums::Entity).and_where(Expr::exists(album_songs).not()).to_owned();
    execute(db, &albums).await?;
    let artist_songs = Query::select()
        .expr(Expr::val(1))
        .from(songs::Entity)
        .and_where(Expr::col((songs::Entity, songs::Column::ArtistId)).equals((artists::Entity, artists::Column::Id)))
        .to_owned();
    let artist_albums = Query::select()
        .expr(Expr::val(1))
        .from(albums::Entity)
        .and_where(Expr::col((albums::Entity, albums::Column::ArtistId)).equals((artists::Entity, artists::Column::Id)))
        .to_owned();
    let artists = Query::delete()
        .from_table(artists::Entity)
        .and_where(Expr::exists(artist_songs).not())
        .and_where(Expr::exists(artist_albums).not())
        .to_owned();
    execute(db, &artists).await.map(drop)
}

/// What the analysis found (`None`: the codec is not decodable; only the time of the attempt is stored).
pub async fn store_analysis(
    db: &impl ConnectionTrait,
    id: SongId,
    analysis: Option<crate::analysis::Analysis>,
) -> Result<(), DbErr> {
    use songs::Column as S;
    let mut update = Query::update();
    update.table(songs::Entity).value(S::AnalysedAt, Expr::current_timestamp()).and_where(Expr::col(S::Id).eq(id));
    if let Some(analysis) = analysis {
        update.values([
            (S::DurationMs, analysis.duration_ms.into()),
            (S::Peaks, analysis.peaks.into()),
            (S::LoudnessLufs, analysis.loudness_lufs.map(|l| l as f32).into()),
            (S::TruePeakDb, analysis.true_peak_db.map(|p| p as f32).into()),
        ]);
        store_sonic(&mut update, analysis.sonic.ok());
    }
    execute(db, &update).await.map(drop)
}

/// A song whose file cannot be analysed: no vector, marked with the current measures' version and the time of
/// the attempt, so neither the queue nor a backfill comes back to it.
pub async fn store_unanalysable(db: &impl ConnectionTrait, id: SongId) -> Result<(), DbErr> {
    let mut update = Query::update();
    update
        .table(songs::Entity)
        .value(songs::Column::AnalysedAt, Expr::current_timestamp())
        .and_where(Expr::col(songs::Column::Id).eq(id));
    store_sonic(&mut update, None);
    execute(db, &update).await.map(drop)
}

/// Tempo, key and vector as the analysis measured them (none for silence), marked with the version of the
/// measures. A tempo or key the admin corrected stays.
pub fn store_sonic(update: &mut UpdateStatement, sonic: Option<crate::sonic::Sonic>) {
    use songs::Column as S;
    let tempo = sonic.as_ref().and_then(|s| s.tempo);
    let key = sonic.as_ref().and_then(|s| s.key);
    let unless = |edited: S, column: S, value: sea_orm::Value| -> SimpleExpr {
        Expr::case(Expr::col(edited).eq(true), Expr::col(column)).finally(value).into()
    };
    update.values([
        (S::Bpm, unless(S::BpmEdited, S::Bpm, tempo.map(|t| (t.bpm * 10.0).round() / 10.0).into())),
        (S::BpmConfidence, unless(S::BpmEdited, S::BpmConfidence, tempo.map(|t| t.confidence).into())),
        (S::MusicalKey, unless(S::KeyEdited, S::MusicalKey, key.map(|(k, _)| k.code()).into())),
        (S::KeyConfidence, unless(S::KeyEdited, S::KeyConfidence, key.map(|(_, fit)| fit).into())),
        (S::Sonic, sonic.map(|s| s.vector.to_bytes()).into()),
        (S::SonicVersion, crate::sonic::VERSION.into()),
    ]);
}

#[cfg(test)]
mod tests {
    use super::{Placement, TagEdit};
    use crate::tags::{Codec, Metadata};

    fn placement(artist: &str, album_artist: &str) -> Placement {
        Placement {
            title: "Song".into(),
            artist: artist.into(),
            album: "Album".into(),
            album_artist: album_artist.into(),
            compilation: false,
            track: Some(1),
            disc: Some(1),
            year: Some(1999),
            genre: Some("Jazz".into()),
        }
    }

    #[test]
    fn an_album_artist_falls_back_to_various_artists_or_the_track_artist() {
        let cases = [
            (Some("Label"), false, "Label"),
            (Some("Label"), true, "Label"),
            (None, true, "Various Artists"),
            (None, false, "Singer"),
        ];
        for (album_artist, compilation, expected) in cases {
            let mut meta = Metadata::untagged(Codec::Flac, "flac");
            meta.artist = "Singer".into();
            meta.album_artist = album_artist.map(str::to_owned);
            meta.compilation = compilation;
            assert_eq!(Placement::from_metadata(&meta).album_artist, expected, "{album_artist:?} {compilation}");
        }
    }

    #[test]
    fn tag_edits_change_what_they_name_and_nothing_else() {
        let edit = |edit: TagEdit| placement("Singer", "Singer").edited(edit);
        let unchanged = edit(TagEdit::default());
        assert_eq!(unchanged, placement("Singer", "Singer"), "an empty edit");

        let renamed = edit(TagEdit { artist: Some("  New Name ".into()), ..TagEdit::default() });
        assert_eq!(
            (renamed.artist.as_str(), renamed.album_artist.as_str()),
            ("New Name", "New Name"),
            "trimmed; the album follows"
        );

        let own = placement("Singer", "Label").edited(TagEdit { artist: Some("Other".into()), ..TagEdit::default() });
        assert_eq!(own.album_artist, "Label", "an album credited to someone else stays theirs");

        let named = edit(TagEdit { artist: Some("A".into()), album_artist: Some("B".into()), ..TagEdit::default() });
        assert_eq!((named.artist.as_str(), named.album_artist.as_str()), ("A", "B"));

        let cleared = edit(TagEdit { track: Some(None), year: Some(None), genre: Some(None), ..TagEdit::default() });
        assert_eq!((cleared.track, cleared.year, cleared.genre), (None, None, None), "Some(None) clears");
        assert_eq!(cleared.disc, Some(1), "absent fields stay");

        let blank_genre = edit(TagEdit { genre: Some(Some("  ".into())), ..TagEdit::default() });
        assert_eq!(blank_genre.genre, None, "a blank genre is none");
    }
}
