//! Listing songs (filters, sorts, keyset pages), and where a song's file is.

use sea_orm::{
    ConnectionTrait, DbErr, FromQueryResult,
    sea_query::{Expr, Func, Order, Query, SimpleExpr},
};
use uuid::Uuid;

use super::{Folded, Song, T, col, contains, fold, song_select};
use crate::run::one;
use crate::{
    cursor::{KeyType, Keyset, Page},
    entities::{albums, artists, songs},
    error::Result,
    ids::{SongId, UserId},
    media::Storage,
    tags::Codec,
};

/// What a song listing is sorted by. Each has an index paired with the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SongSort {
    #[default]
    Title,
    Artist,
    Album,
    Added,
    Plays,
    Duration,
}

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

    fn key(self) -> (SimpleExpr, KeyType) {
        match self {
            Self::Title => (col(T::S, Folded::Title), KeyType::Text),
            Self::Artist => (col(T::Ar, Folded::Name), KeyType::Text),
            Self::Album => (col(T::Al, Folded::Title), KeyType::Text),
            Self::Added => (col(T::S, songs::Column::AddedAt), KeyType::Timestamp),
            Self::Plays => (col(T::S, songs::Column::PlayCount), KeyType::BigInt),
            Self::Duration => (col(T::S, songs::Column::DurationMs), KeyType::Integer),
        }
    }
}

/// The filters of a song listing; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct SongFilter {
    /// Words anywhere in title, artist or album (accent- and case-insensitive substring).
    pub text: Option<String>,
    /// An artist id or exact name (case-insensitive).
    pub artist: Option<String>,
    /// An album id or exact title (case-insensitive).
    pub album: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i32>,
    /// Tempo range (inclusive); songs of unknown tempo are outside every range.
    pub bpm_min: Option<f32>,
    pub bpm_max: Option<f32>,
    pub key: Option<crate::sonic::Key>,
}

/// `id_column = id` when `value` is an id, else `lower(name_column) = lower(value)`.
fn id_or_name(value: &str, id_column: SimpleExpr, name_column: SimpleExpr) -> SimpleExpr {
    match value.parse::<Uuid>() {
        Ok(id) => id_column.eq(id),
        Err(_) => SimpleExpr::from(Func::lower(name_column)).eq(value.to_lowercase()),
    }
}

/// A page of songs as `viewer` sees them. `cursor` is the previous page's `next_cursor`.
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: UserId,
    filter: &SongFilter,
    sort: SongSort,
    order: Order,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<Song>> {
    let direction = if matches!(order, Order::Desc) { "desc" } else { "asc" };
    let (key, key_type) = sort.key();
    let keyset = Keyset::new(format!("{}-{direction}", sort.name()), cursor, limit, key_type)?;
    let mut query = song_select(viewer);
    if let Some(text) = filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        query.and_where(contains(col(T::S, Folded::Search), fold(Expr::val(text))));
    }
    if let Some(artist) = &filter.artist {
        query.and_where(id_or_name(artist, col(T::S, songs::Column::ArtistId), col(T::Ar, artists::Column::Name)));
    }
    if let Some(album) = &filter.album {
        query.and_where(id_or_name(album, col(T::S, songs::Column::AlbumId), col(T::Al, albums::Column::Title)));
    }
    if let Some(genre) = &filter.genre {
        query.and_where(SimpleExpr::from(Func::lower(col(T::S, songs::Column::Genre))).eq(genre.to_lowercase()));
    }
    if let Some(year) = filter.year {
        query.and_where(col(T::S, songs::Column::Year).eq(year));
    }
    if let Some(min) = filter.bpm_min {
        query.and_where(Expr::col((T::S, songs::Column::Bpm)).gte(min));
    }
    if let Some(max) = filter.bpm_max {
        query.and_where(Expr::col((T::S, songs::Column::Bpm)).lte(max));
    }
    if let Some(key) = filter.key {
        query.and_where(col(T::S, songs::Column::MusicalKey).eq(key.code()));
    }
    keyset.apply(&mut query, key, key_type, col(T::S, songs::Column::Id), order);
    Ok(keyset.fetch_as(db, &query).await?)
}

/// What a stored file needs to be served.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SongFile {
    pub storage: Storage,
    pub path: String,
    pub codec: Codec,
    pub content_hash: String,
    pub size_bytes: i64,
    /// kbit/s, when known (what a transcode decision compares with a client's ceiling).
    pub bitrate: Option<i32>,
    pub duration_ms: i32,
}

/// Where a song's file is.
pub async fn file(db: &impl ConnectionTrait, id: SongId) -> Result<Option<SongFile>, DbErr> {
    use songs::Column as S;
    let query = Query::select()
        .columns([S::Storage, S::Path, S::Codec, S::ContentHash, S::SizeBytes, S::Bitrate, S::DurationMs])
        .from(songs::Entity)
        .and_where(Expr::col(S::Id).eq(id))
        .to_owned();
    one(db, &query).await
}

/// Where a song's file is, read for every stream request, is kept for a second per replica: with sessions
/// and users cached too, a ranged read then needs no database round trip at all. A second is no worse than
/// what already holds: a file changed in place is only noticed by the next library scan.
#[derive(Clone)]
pub struct FileCache(moka::sync::Cache<SongId, SongFile>);

impl Default for FileCache {
    fn default() -> Self {
        Self(moka::sync::Cache::builder().max_capacity(10_000).time_to_live(std::time::Duration::from_secs(1)).build())
    }
}

impl FileCache {
    /// The song's file, from the cache or the database.
    pub async fn get(&self, db: &impl ConnectionTrait, id: SongId) -> Result<Option<SongFile>, DbErr> {
        if let Some(file) = self.0.get(&id) {
            return Ok(Some(file));
        }
        let file = file(db, id).await?;
        if let Some(file) = &file {
            self.0.insert(id, file.clone());
        }
        Ok(file)
    }

    /// Forgets a deleted song at once on this replica (others within the second).
    pub fn forget(&self, id: SongId) {
        self.0.invalidate(&id);
    }
}

/// The uploaded song holding exactly these bytes, if any (uploads are stored once per content; library files
/// are songs wherever they sit, copies included).
pub async fn id_by_hash(db: &impl ConnectionTrait, hash: &str) -> Result<Option<SongId>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: SongId,
    }
    let query = Query::select()
        .column(songs::Column::Id)
        .from(songs::Entity)
        .and_where(Expr::col(songs::Column::ContentHash).eq(hash))
        .and_where(Expr::col(songs::Column::Storage).eq(Storage::Media))
        .to_owned();
    Ok(one::<Row>(db, &query).await?.map(|r| r.id))
}

#[derive(sea_orm::DeriveIden, Clone, Copy)]
enum Window {
    #[sea_orm(iden = "w")]
    Table,
    Id,
}

/// Every song, `limit` from `offset`, in a stable order (by id: songs keep their ids across rescans), for
/// clients that copy the whole library page by page. The page's ids are picked from the primary key alone and
/// only they are joined, so a deep page costs an index walk, not the joins of every song before it.
pub async fn all_from(db: &impl ConnectionTrait, viewer: UserId, offset: u64, limit: u64) -> Result<Vec<Song>, DbErr> {
    let window = Query::select()
        .column(songs::Column::Id)
        .from(songs::Entity)
        .order_by(songs::Column::Id, Order::Asc)
        .offset(offset)
        .limit(limit)
        .to_owned();
    let query = song_select(viewer)
        .join_subquery(
            sea_orm::sea_query::JoinType::InnerJoin,
            window,
            Window::Table,
            Expr::col((Window::Table, Window::Id)).equals((T::S, songs::Column::Id)),
        )
        .order_by_expr(col(T::S, songs::Column::Id), Order::Asc)
        .to_owned();
    crate::run::all(db, &query).await
}

/// Up to `limit` songs picked at random, within an optional genre and year range.
pub async fn random(
    db: &impl ConnectionTrait,
    viewer: UserId,
    genre: Option<&str>,
    years: (Option<i32>, Option<i32>),
    limit: u64,
) -> Result<Vec<Song>, DbErr> {
    let mut query = song_select(viewer);
    if let Some(genre) = genre {
        query.and_where(SimpleExpr::from(Func::lower(col(T::S, songs::Column::Genre))).eq(genre.to_lowercase()));
    }
    if let Some(from) = years.0 {
        query.and_where(Expr::col((T::S, songs::Column::Year)).gte(from));
    }
    if let Some(to) = years.1 {
        query.and_where(Expr::col((T::S, songs::Column::Year)).lte(to));
    }
    query.order_by_expr(Func::random().into(), Order::Asc).limit(limit);
    crate::run::all(db, &query).await
}

/// Songs of a genre (case-insensitive) by title, `limit` from `offset`.
pub async fn by_genre(
    db: &impl ConnectionTrait,
    viewer: UserId,
    genre: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<Song>, DbErr> {
    let query = song_select(viewer)
        .and_where(SimpleExpr::from(Func::lower(col(T::S, songs::Column::Genre))).eq(genre.to_lowercase()))
        .order_by_expr(col(T::S, Folded::Title), Order::Asc)
        .order_by_expr(col(T::S, songs::Column::Id), Order::Asc)
        .offset(offset)
        .limit(limit)
        .to_owned();
    crate::run::all(db, &query).await
}

/// Songs by id as `viewer` sees them, in the order asked (ids not found are left out).
pub async fn by_ids(db: &impl ConnectionTrait, viewer: UserId, ids: &[SongId]) -> Result<Vec<Song>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let query = super::songs_by_id(viewer, &raw);
    let found: std::collections::HashMap<SongId, Song> =
        crate::run::all::<Song>(db, &query).await?.into_iter().map(|s| (s.id, s)).collect();
    Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
}

/// Songs the current sonic measures have not analysed.
fn behind_filter(query: &mut sea_orm::sea_query::SelectStatement) {
    use songs::Column as S;
    query.and_where(Expr::col(S::SonicVersion).is_null().or(Expr::col(S::SonicVersion).lt(crate::sonic::VERSION)));
}

/// How many songs a backfill has to analyse.
pub async fn count_behind(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Count {
        n: i64,
    }
    let mut query = Query::select();
    query
        .expr_as(Expr::col(sea_orm::sea_query::Asterisk).count(), sea_orm::sea_query::Alias::new("n"))
        .from(songs::Entity);
    behind_filter(&mut query);
    Ok(one::<Count>(db, &query).await?.map_or(0, |c| u64::try_from(c.n).unwrap_or(0)))
}

/// The next `limit` songs a backfill has to analyse, after `after` in id order.
pub async fn behind(db: &impl ConnectionTrait, after: Option<SongId>, limit: u64) -> Result<Vec<SongId>, DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Id {
        id: SongId,
    }
    use songs::Column as S;
    let mut query = Query::select();
    query.column(S::Id).from(songs::Entity).order_by(S::Id, Order::Asc).limit(limit);
    if let Some(after) = after {
        query.and_where(Expr::col(S::Id).gt(after));
    }
    behind_filter(&mut query);
    Ok(crate::run::all::<Id>(db, &query).await?.into_iter().map(|r| r.id).collect())
}
