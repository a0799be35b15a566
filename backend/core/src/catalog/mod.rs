//! The catalog: songs, albums, artists and genres as listeners see them, searching, plays and favourites, and
//! the writes that bring songs in (uploads, scans) and change them (tag edits, deletions).
//!
//! Queries are built with sea-query over the generated entities. The song a listener sees is [`Song`], read
//! by one select ([`song_select`]) that every listing extends: a listing adds its filters, its order and its
//! keyset ([`crate::cursor::Keyset`]); the viewer is a bound value of the select's own join, not a placeholder
//! position that callers must keep.

pub mod browse;
pub mod index;
pub mod ingest;
pub mod plays;
pub mod queue;
pub mod radio;
pub mod search;
pub mod similar;
pub mod songs;
pub mod sound;
pub mod stars;

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DbErr, DeriveIden, FromQueryResult,
    sea_query::{
        Alias, BinOper, Expr, Func, IntoIden, JoinType, Query, SelectStatement, SimpleExpr, extension::postgres::PgFunc,
    },
};

use crate::{
    entities::{albums, artists, favourites, ratings, songs as song_rows},
    ids::{AlbumId, ArtistId, SongId, UserId},
    run::one,
    tags::Codec,
};

/// A song as a listener sees it: its names, numbers and audio properties, and whether the viewer marked it
/// a favourite. The one shape of a song outside the ingest path; every API shapes its answers from it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Song {
    pub id: SongId,
    pub title: String,
    pub artist_id: ArtistId,
    pub artist_name: String,
    pub album_id: AlbumId,
    pub album_title: String,
    pub track_number: Option<i32>,
    pub disc_number: Option<i32>,
    pub duration_ms: i32,
    pub genre: Option<String>,
    pub year: Option<i32>,
    pub codec: Codec,
    /// kbit/s
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub play_count: i64,
    pub added_at: DateTime<FixedOffset>,
    /// Whether the song has cover art: its own, or its album's.
    pub has_cover: bool,
    /// Whether its own picture differs from its album's (Subsonic names the song's cover then).
    pub own_cover: bool,
    /// Integrated loudness once analysed.
    pub loudness_lufs: Option<f32>,
    pub true_peak_db: Option<f32>,
    /// Bumped by every change; a tag edit names the version it was based on.
    pub version: i32,
    pub favourite: bool,
    /// When the viewer marked it a favourite.
    pub favourited_at: Option<DateTime<FixedOffset>>,
    /// The viewer's rating, 1 to 5.
    pub rating: Option<i16>,
    /// The file's size in bytes.
    pub size_bytes: i64,
    pub channels: Option<i16>,
    /// Tempo, measured or as the admin corrected it.
    pub bpm: Option<f32>,
    /// Key as stored ([`crate::sonic::Key::code`]); see [`Song::key`].
    pub musical_key: Option<i16>,
}

impl Song {
    pub fn key(&self) -> Option<crate::sonic::Key> {
        self.musical_key.and_then(crate::sonic::Key::from_code)
    }
}

/// Table aliases of the catalog's selects.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum T {
    #[sea_orm(iden = "s")]
    S,
    #[sea_orm(iden = "ar")]
    Ar,
    #[sea_orm(iden = "al")]
    Al,
    #[sea_orm(iden = "f")]
    F,
    #[sea_orm(iden = "r")]
    R,
}

/// Columns PostgreSQL generates from others (folded text for sorting and filtering; see the `folded_names`
/// migration; the full-text vectors went with migration 000014, search being answered from memory). They are not in the generated entities, which are left as
/// generated.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Folded {
    #[sea_orm(iden = "title_folded")]
    Title,
    #[sea_orm(iden = "name_folded")]
    Name,
    #[sea_orm(iden = "search_folded")]
    Search,
}

/// `table.column` as an expression.
pub(crate) fn col(table: T, column: impl IntoIden + 'static) -> SimpleExpr {
    Expr::col((table, column)).into()
}

/// `fermata_fold(text)`: the database's accent and case folding (the `folded_names` migration), which the
/// folded columns are generated with.
pub(crate) fn fold(text: impl Into<SimpleExpr>) -> SimpleExpr {
    Func::cust(Alias::new("fermata_fold")).arg(text.into()).into()
}

/// `text` with LIKE's wildcards escaped, in the database: for text transformed there first (folded), as
/// escaping must come after the transformation, which maps fullwidth ％ ＿ ＼ to the ASCII wildcards.
fn escape_like(text: SimpleExpr) -> SimpleExpr {
    let replace = |text: SimpleExpr, from: &str, to: &str| -> SimpleExpr {
        Func::cust(Alias::new("replace")).args([text, Expr::val(from).into(), Expr::val(to).into()]).into()
    };
    replace(replace(replace(text, "\\", "\\\\"), "%", "\\%"), "_", "\\_")
}

/// `haystack` contains `needle` (LIKE with `needle` escaped in the database).
pub(crate) fn contains(haystack: SimpleExpr, needle: SimpleExpr) -> SimpleExpr {
    use sea_orm::sea_query::extension::postgres::PgExpr;
    let pattern = Expr::val("%").concat(escape_like(needle)).concat(Expr::val("%"));
    haystack.binary(BinOper::Like, pattern)
}

/// The select every song listing starts from: [`Song`]'s columns over `songs s` joined to its artist `ar`,
/// its album `al` and the viewer's favourite `f`.
pub(crate) fn song_select(viewer: UserId) -> SelectStatement {
    use song_rows::Column as S;
    let mut query = song_columns();
    query
        .from_as(song_rows::Entity, T::S)
        .join_as(
            JoinType::InnerJoin,
            artists::Entity,
            T::Ar,
            Expr::col((T::Ar, artists::Column::Id)).equals((T::S, S::ArtistId)),
        )
        .join_as(
            JoinType::InnerJoin,
            albums::Entity,
            T::Al,
            Expr::col((T::Al, albums::Column::Id)).equals((T::S, S::AlbumId)),
        )
        .join_as(
            JoinType::LeftJoin,
            favourites::Entity,
            T::F,
            Expr::col((T::F, favourites::Column::SongId))
                .equals((T::S, S::Id))
                .and(Expr::col((T::F, favourites::Column::UserId)).eq(viewer)),
        )
        .join_as(
            JoinType::LeftJoin,
            ratings::Entity,
            T::R,
            Expr::col((T::R, ratings::Column::SongId))
                .equals((T::S, S::Id))
                .and(Expr::col((T::R, ratings::Column::UserId)).eq(viewer)),
        );
    query
}

/// The songs `ids` as `viewer` sees them, in no particular order: [`song_select`]'s columns, with the artist,
/// album, favourite and rating each looked up per song by key. As joins, the planner hashed the whole artists
/// table (and the viewer's favourites) to decorate twenty search results: a sequential scan of every artist per
/// search, the largest share of PostgreSQL's work under search load (docs/performance.md). A lateral subquery
/// with an OFFSET is never flattened into a join, so each lookup stays an index probe whatever the table sizes.
/// `= ANY($1)` keeps one statement text (and one prepared plan per connection) whatever the number of ids.
pub(crate) fn songs_by_id(viewer: UserId, ids: &[uuid::Uuid]) -> SelectStatement {
    use song_rows::Column as S;
    let artist = Query::select()
        .column(artists::Column::Name)
        .from(artists::Entity)
        .and_where(Expr::col((artists::Entity, artists::Column::Id)).equals((T::S, S::ArtistId)))
        .offset(0)
        .to_owned();
    let album = Query::select()
        .columns([albums::Column::Title, albums::Column::CoverPath])
        .from(albums::Entity)
        .and_where(Expr::col((albums::Entity, albums::Column::Id)).equals((T::S, S::AlbumId)))
        .offset(0)
        .to_owned();
    let favourite = Query::select()
        .columns([favourites::Column::UserId, favourites::Column::CreatedAt])
        .from(favourites::Entity)
        .and_where(Expr::col((favourites::Entity, favourites::Column::SongId)).equals((T::S, S::Id)))
        .and_where(Expr::col((favourites::Entity, favourites::Column::UserId)).eq(viewer))
        .offset(0)
        .to_owned();
    let rating = Query::select()
        .column(ratings::Column::Rating)
        .from(ratings::Entity)
        .and_where(Expr::col((ratings::Entity, ratings::Column::SongId)).equals((T::S, S::Id)))
        .and_where(Expr::col((ratings::Entity, ratings::Column::UserId)).eq(viewer))
        .offset(0)
        .to_owned();
    let always = || Expr::cust("TRUE");
    let mut query = song_columns();
    query
        .from_as(song_rows::Entity, T::S)
        .join_lateral(JoinType::InnerJoin, artist, T::Ar, always())
        .join_lateral(JoinType::InnerJoin, album, T::Al, always())
        .join_lateral(JoinType::LeftJoin, favourite, T::F, always())
        .join_lateral(JoinType::LeftJoin, rating, T::R, always())
        .and_where(Expr::col((T::S, S::Id)).eq(PgFunc::any(Expr::val(ids.to_vec()))));
    query
}

/// [`Song`]'s columns over `s`, `ar`, `al`, `f` and `r`, without a source.
fn song_columns() -> SelectStatement {
    use song_rows::Column as S;
    Query::select()
        .expr_as(col(T::S, S::Id), Alias::new("id"))
        .expr_as(col(T::S, S::Title), Alias::new("title"))
        .expr_as(col(T::S, S::ArtistId), Alias::new("artist_id"))
        .expr_as(col(T::Ar, artists::Column::Name), Alias::new("artist_name"))
        .expr_as(col(T::S, S::AlbumId), Alias::new("album_id"))
        .expr_as(col(T::Al, albums::Column::Title), Alias::new("album_title"))
        .exprs([
            col(T::S, S::TrackNumber),
            col(T::S, S::DiscNumber),
            col(T::S, S::DurationMs),
            col(T::S, S::Genre),
            col(T::S, S::Year),
            col(T::S, S::Codec),
            col(T::S, S::Bitrate),
            col(T::S, S::SampleRate),
            col(T::S, S::PlayCount),
            col(T::S, S::AddedAt),
            col(T::S, S::LoudnessLufs),
            col(T::S, S::TruePeakDb),
            col(T::S, S::Version),
            col(T::S, S::SizeBytes),
            col(T::S, S::Channels),
            col(T::S, S::Bpm),
            col(T::S, S::MusicalKey),
        ])
        .expr_as(
            Expr::cust_with_exprs(
                "coalesce($1, $2) IS NOT NULL",
                [col(T::S, S::CoverPath), col(T::Al, albums::Column::CoverPath)],
            ),
            Alias::new("has_cover"),
        )
        .expr_as(
            Expr::cust_with_exprs(
                "($1 IS NOT NULL AND $1 IS DISTINCT FROM $2)",
                [col(T::S, S::CoverPath), col(T::Al, albums::Column::CoverPath)],
            ),
            Alias::new("own_cover"),
        )
        .expr_as(Expr::col((T::F, favourites::Column::UserId)).is_not_null(), Alias::new("favourite"))
        .expr_as(col(T::F, favourites::Column::CreatedAt), Alias::new("favourited_at"))
        .expr_as(col(T::R, ratings::Column::Rating), Alias::new("rating"))
        .to_owned()
}

/// One song as `viewer` sees it.
pub async fn song(db: &impl ConnectionTrait, viewer: UserId, id: SongId) -> Result<Option<Song>, DbErr> {
    let query = song_select(viewer).and_where(Expr::col((T::S, song_rows::Column::Id)).eq(id)).to_owned();
    one(db, &query).await
}

#[derive(FromQueryResult)]
struct CoverPath {
    cover_path: Option<String>,
}

/// Where a song's cover is (its own embedded picture, else its album's art), as stored (`media:…` or
/// `library:…`).
pub async fn song_cover(db: &impl ConnectionTrait, id: SongId) -> Result<Option<String>, DbErr> {
    let query = Query::select()
        .expr_as(
            Expr::cust_with_exprs(
                "coalesce($1, $2)",
                [col(T::S, song_rows::Column::CoverPath), col(T::Al, albums::Column::CoverPath)],
            ),
            Alias::new("cover_path"),
        )
        .from_as(song_rows::Entity, T::S)
        .join_as(
            JoinType::InnerJoin,
            albums::Entity,
            T::Al,
            Expr::col((T::Al, albums::Column::Id)).equals((T::S, song_rows::Column::AlbumId)),
        )
        .and_where(Expr::col((T::S, song_rows::Column::Id)).eq(id))
        .to_owned();
    Ok(one::<CoverPath>(db, &query).await?.and_then(|c| c.cover_path))
}

/// Where an album's cover is.
pub async fn album_cover(db: &impl ConnectionTrait, id: AlbumId) -> Result<Option<String>, DbErr> {
    let query = Query::select()
        .column(albums::Column::CoverPath)
        .from(albums::Entity)
        .and_where(Expr::col(albums::Column::Id).eq(id))
        .to_owned();
    Ok(one::<CoverPath>(db, &query).await?.and_then(|c| c.cover_path))
}
