//! Albums, artists, genres and charts.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DbErr, DeriveIden, FromQueryResult,
    sea_query::{Alias, Asterisk, Expr, Func, JoinType, NullOrdering, Order, Query, SelectStatement, SimpleExpr},
};

use super::{Folded, Song, T, col, song_select};
use crate::run::{all, one};
use crate::{
    cursor::{KeyType, Keyset, Page},
    entities::{albums, artists, plays, songs},
    error::Result,
    ids::{AlbumId, ArtistId, UserId},
};

/// An album with its song count and length.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Album {
    pub id: AlbumId,
    pub title: String,
    pub year: Option<i32>,
    pub compilation: bool,
    pub has_cover: bool,
    /// The album artist.
    pub artist_id: ArtistId,
    pub artist_name: String,
    pub song_count: i64,
    pub duration_ms: i64,
    /// Plays of its songs, all listeners.
    pub play_count: i64,
    pub created_at: DateTime<FixedOffset>,
}

/// An artist with their album count (as album artist) and song count (as track artist).
#[derive(Debug, Clone, FromQueryResult)]
pub struct Artist {
    pub id: ArtistId,
    pub name: String,
    pub album_count: i64,
    pub song_count: i64,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct Genre {
    /// As first written (genres group without regard to case).
    pub name: String,
    pub song_count: i64,
    /// Albums with a song of this genre.
    pub album_count: i64,
}

/// Aliases of the browse selects' subqueries.
#[derive(DeriveIden, Clone, Copy)]
enum Sub {
    /// An album's counts.
    C,
    /// The artist listing's rows.
    A,
    /// A chart's ranked songs.
    #[sea_orm(iden = "t")]
    Ranked,
    SongCount,
    DurationMs,
    PlayCount,
    AlbumCount,
    SortKey,
    Plays,
    SongId,
}

/// `count(*)` as bigint (PostgreSQL's count is bigint already).
fn count_all() -> SimpleExpr {
    Func::count(Expr::col(Asterisk)).into()
}

/// [`Album`]'s columns over `albums al` joined to its artist `ar` and its counts `c` (a lateral subquery).
pub(super) fn album_select() -> SelectStatement {
    let counts = Query::select()
        .expr_as(count_all(), Sub::SongCount)
        .expr_as(
            SimpleExpr::from(Func::coalesce([
                Func::sum(col(T::S, songs::Column::DurationMs)).into(),
                Expr::val(0).into(),
            ]))
            .cast_as(Alias::new("bigint")),
            Sub::DurationMs,
        )
        .expr_as(
            SimpleExpr::from(Func::coalesce([
                Func::sum(col(T::S, songs::Column::PlayCount)).into(),
                Expr::val(0).into(),
            ]))
            .cast_as(Alias::new("bigint")),
            Sub::PlayCount,
        )
        .from_as(songs::Entity, T::S)
        .and_where(Expr::col((T::S, songs::Column::AlbumId)).equals((T::Al, albums::Column::Id)))
        .to_owned();
    Query::select()
        .expr_as(col(T::Al, albums::Column::Id), Alias::new("id"))
        .expr_as(col(T::Al, albums::Column::Title), Alias::new("title"))
        .expr_as(col(T::Al, albums::Column::Year), Alias::new("year"))
        .expr_as(col(T::Al, albums::Column::Compilation), Alias::new("compilation"))
        .expr_as(Expr::col((T::Al, albums::Column::CoverPath)).is_not_null(), Alias::new("has_cover"))
        .expr_as(col(T::Ar, artists::Column::Id), Alias::new("artist_id"))
        .expr_as(col(T::Ar, artists::Column::Name), Alias::new("artist_name"))
        .column((Sub::C, Sub::SongCount))
        .column((Sub::C, Sub::DurationMs))
        .column((Sub::C, Sub::PlayCount))
        .column((T::Al, albums::Column::CreatedAt))
        .from_as(albums::Entity, T::Al)
        .join_as(
            JoinType::InnerJoin,
            artists::Entity,
            T::Ar,
            Expr::col((T::Ar, artists::Column::Id)).equals((T::Al, albums::Column::ArtistId)),
        )
        .join_lateral(JoinType::InnerJoin, counts, Sub::C, Expr::cust("TRUE"))
        .to_owned()
}

/// Albums by title, a page at a time. Albums without songs (all deleted) are not listed.
pub async fn albums(db: &impl ConnectionTrait, cursor: Option<&str>, limit: u64) -> Result<Page<Album>> {
    let keyset = Keyset::new("albums", cursor, limit, KeyType::Text)?;
    let mut query = album_select();
    query.and_where(Expr::col((Sub::C, Sub::SongCount)).gt(0));
    keyset.apply(&mut query, col(T::Al, Folded::Title), KeyType::Text, col(T::Al, albums::Column::Id), Order::Asc);
    Ok(keyset.fetch_as(db, &query).await?)
}

/// An album with its songs as `viewer` sees them, ordered by disc, then track.
pub async fn album(
    db: &impl ConnectionTrait,
    viewer: UserId,
    id: AlbumId,
) -> Result<Option<(Album, Vec<Song>)>, DbErr> {
    let query = album_select().and_where(Expr::col((T::Al, albums::Column::Id)).eq(id)).to_owned();
    let Some(album) = one::<Album>(db, &query).await? else {
        return Ok(None);
    };
    let songs = song_select(viewer)
        .and_where(Expr::col((T::S, songs::Column::AlbumId)).eq(id))
        .order_by_expr_with_nulls(col(T::S, songs::Column::DiscNumber), Order::Asc, NullOrdering::First)
        .order_by_expr_with_nulls(col(T::S, songs::Column::TrackNumber), Order::Asc, NullOrdering::Last)
        .order_by_expr(col(T::S, Folded::Title), Order::Asc)
        .order_by_expr(col(T::S, songs::Column::Id), Order::Asc)
        .to_owned();
    Ok(Some((album, all(db, &songs).await?)))
}

/// [`Artist`]'s columns (and the sort key) over `artists ar`.
pub(super) fn artist_select() -> SelectStatement {
    let album_count = Query::select()
        .expr(count_all())
        .from_as(albums::Entity, T::Al)
        .and_where(Expr::col((T::Al, albums::Column::ArtistId)).equals((T::Ar, artists::Column::Id)))
        .to_owned();
    let song_count = Query::select()
        .expr(count_all())
        .from_as(songs::Entity, T::S)
        .and_where(Expr::col((T::S, songs::Column::ArtistId)).equals((T::Ar, artists::Column::Id)))
        .to_owned();
    Query::select()
        .expr_as(col(T::Ar, artists::Column::Id), Alias::new("id"))
        .expr_as(col(T::Ar, artists::Column::Name), Alias::new("name"))
        .expr_as(col(T::Ar, Folded::Name), Sub::SortKey)
        .expr_as(SimpleExpr::SubQuery(None, Box::new(album_count.into_sub_query_statement())), Sub::AlbumCount)
        .expr_as(SimpleExpr::SubQuery(None, Box::new(song_count.into_sub_query_statement())), Sub::SongCount)
        .from_as(artists::Entity, T::Ar)
        .to_owned()
}

/// Artists that have songs or albums, from `inner` (an [`artist_select`]) as `a`.
pub(super) fn listed_artists(inner: SelectStatement) -> SelectStatement {
    Query::select()
        .column((Sub::A, Asterisk))
        .from_subquery(inner, Sub::A)
        .and_where(Expr::col((Sub::A, Sub::AlbumCount)).gt(0).or(Expr::col((Sub::A, Sub::SongCount)).gt(0)))
        .to_owned()
}

/// Artists by name, a page at a time: track artists and album artists alike.
pub async fn artists(db: &impl ConnectionTrait, cursor: Option<&str>, limit: u64) -> Result<Page<Artist>> {
    let keyset = Keyset::new("artists", cursor, limit, KeyType::Text)?;
    let mut query = listed_artists(artist_select());
    keyset.apply(
        &mut query,
        Expr::col((Sub::A, Sub::SortKey)).into(),
        KeyType::Text,
        Expr::col((Sub::A, Alias::new("id"))).into(),
        Order::Asc,
    );
    Ok(keyset.fetch_as(db, &query).await?)
}

/// An artist with their albums (as album artist), newest first.
pub async fn artist(db: &impl ConnectionTrait, id: ArtistId) -> Result<Option<(Artist, Vec<Album>)>, DbErr> {
    let query = artist_select().and_where(Expr::col((T::Ar, artists::Column::Id)).eq(id)).to_owned();
    let Some(artist) = one::<Artist>(db, &query).await? else {
        return Ok(None);
    };
    let albums = album_select()
        .and_where(Expr::col((T::Al, albums::Column::ArtistId)).eq(id))
        .and_where(Expr::col((Sub::C, Sub::SongCount)).gt(0))
        .order_by_expr_with_nulls(col(T::Al, albums::Column::Year), Order::Desc, NullOrdering::Last)
        .order_by_expr(col(T::Al, Folded::Title), Order::Asc)
        .to_owned();
    Ok(Some((artist, all(db, &albums).await?)))
}

/// Genres (case-insensitive) with their song counts, alphabetically: `limit` from `offset`, and whether more
/// follow. (Offset paging: there are few genres, and a genre has no id to key on.)
pub async fn genres(db: &impl ConnectionTrait, offset: u64, limit: u64) -> Result<(Vec<Genre>, bool), DbErr> {
    let lower: SimpleExpr = Func::lower(Expr::col(songs::Column::Genre)).into();
    let query = Query::select()
        .expr_as(Func::min(Expr::col(songs::Column::Genre)), Alias::new("name"))
        .expr_as(count_all(), Sub::SongCount)
        .expr_as(Func::count_distinct(Expr::col(songs::Column::AlbumId)), Sub::AlbumCount)
        .from(songs::Entity)
        .and_where(Expr::col(songs::Column::Genre).is_not_null())
        .add_group_by([lower.clone()])
        .order_by_expr(lower, Order::Asc)
        .offset(offset)
        .limit(limit + 1)
        .to_owned();
    let mut rows: Vec<Genre> = all(db, &query).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// The span a chart counts plays over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Period {
    Week,
    Month,
    #[default]
    All,
}

/// The most played songs of the period as `viewer` sees them, each with its plays in the period.
pub async fn chart(
    db: &impl ConnectionTrait,
    viewer: UserId,
    period: Period,
    limit: u64,
) -> Result<Vec<(i64, Song)>, DbErr> {
    let days = match period {
        Period::Week => Some(7),
        Period::Month => Some(30),
        Period::All => None,
    };
    let ranked = match days {
        Some(days) => Query::select()
            .column(plays::Column::SongId)
            .expr_as(count_all(), Sub::Plays)
            .from(plays::Entity)
            .and_where(
                Expr::col(plays::Column::PlayedAt)
                    .gt(Expr::cust_with_values("now() - make_interval(days => $1)", [days])),
            )
            .group_by_col(plays::Column::SongId)
            .order_by(Sub::Plays, Order::Desc)
            .order_by(plays::Column::SongId, Order::Asc)
            .limit(limit)
            .to_owned(),
        // All time: the running count on the song row, read in its index's order.
        None => Query::select()
            .expr_as(Expr::col(songs::Column::Id), Sub::SongId)
            .expr_as(Expr::col(songs::Column::PlayCount), Sub::Plays)
            .from(songs::Entity)
            .and_where(Expr::col(songs::Column::PlayCount).gt(0))
            .order_by(songs::Column::PlayCount, Order::Desc)
            .order_by(songs::Column::Id, Order::Asc)
            .limit(limit)
            .to_owned(),
    };
    let query = song_select(viewer)
        .expr_as(Expr::col((Sub::Ranked, Sub::Plays)), Sub::Plays)
        .join_subquery(
            JoinType::InnerJoin,
            ranked,
            Sub::Ranked,
            Expr::col((Sub::Ranked, Sub::SongId)).equals((T::S, songs::Column::Id)),
        )
        .order_by((Sub::Ranked, Sub::Plays), Order::Desc)
        .order_by((T::S, songs::Column::Id), Order::Asc)
        .to_owned();
    let rows = db.query_all(crate::run::statement(&query)).await?;
    rows.iter().map(|row| Ok((row.try_get::<i64>("", "plays")?, Song::from_query_result(row, "")?))).collect()
}

/// The album lists Subsonic clients page through (offset paging, as their protocol asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlbumList {
    Random,
    /// Newest in the library first.
    Newest,
    /// The viewer's most recently played first.
    Recent,
    /// Most played (everyone's plays) first.
    Frequent,
    /// The viewer's best rated (mean of their song ratings) first.
    Highest,
    ByName,
    ByArtist,
    /// The viewer's starred albums, most recently starred first.
    Starred,
    /// Years `from` to `to`, in that direction (`from > to` lists newest first).
    ByYear {
        from: i32,
        to: i32,
    },
    /// Albums with a song of this genre (case-insensitive).
    ByGenre(String),
}

#[derive(DeriveIden, Clone, Copy)]
enum L {
    #[sea_orm(iden = "l")]
    Table,
    AlbumId,
    At,
    Score,
    Plays,
}

/// The page of an offset listing: ids picked by a cheap select (`w.id`, `w.rank`), before the costly columns
/// (an album's counts, an artist's) are computed for those rows only. A deep page then costs an index walk,
/// not the counts of every row before it.
#[derive(DeriveIden, Clone, Copy)]
enum W {
    #[sea_orm(iden = "w")]
    Table,
    Id,
    Rank,
}

/// `window` ordered by `order`, `limit` rows from `offset`, each with its rank in that order.
fn ranked_window(
    mut window: SelectStatement,
    order: Vec<(SimpleExpr, Order)>,
    offset: Option<u64>,
    limit: u64,
) -> SelectStatement {
    let mut over = sea_orm::sea_query::WindowStatement::new();
    for (expr, direction) in &order {
        over.order_by_expr(expr.clone(), direction.clone());
    }
    window.expr_window_as(Func::cust(Alias::new("row_number")), over, W::Rank);
    for (expr, direction) in order {
        window.order_by_expr(expr, direction);
    }
    if let Some(offset) = offset {
        window.offset(offset);
    }
    window.limit(limit).to_owned()
}

/// A page of an [`AlbumList`] for `viewer`: `limit` albums from `offset` (a random list ignores `offset`).
/// Albums without songs are never listed.
pub async fn album_list(
    db: &impl ConnectionTrait,
    viewer: UserId,
    list: &AlbumList,
    offset: u64,
    limit: u64,
) -> Result<Vec<Album>, DbErr> {
    use crate::entities::{album_favourites, ratings};
    let has_songs = Query::select()
        .expr(Expr::val(1))
        .from(songs::Entity)
        .and_where(Expr::col((songs::Entity, songs::Column::AlbumId)).equals((T::Al, albums::Column::Id)))
        .to_owned();
    let mut window = Query::select()
        .expr_as(col(T::Al, albums::Column::Id), W::Id)
        .from_as(albums::Entity, T::Al)
        .and_where(Expr::exists(has_songs))
        .to_owned();
    let id = || col(T::Al, albums::Column::Id);
    let title = || col(T::Al, Folded::Title);
    // `l(album_id, …)`: a per-album ordering of the viewer's (or of everyone's plays), joined in.
    let join_own = |window: &mut SelectStatement, own: SelectStatement| {
        window.join_subquery(
            JoinType::InnerJoin,
            own,
            L::Table,
            Expr::col((L::Table, L::AlbumId)).equals((T::Al, albums::Column::Id)),
        );
    };
    let by_album = |table: sea_orm::sea_query::DynIden, song_column: sea_orm::sea_query::DynIden| {
        Query::select()
            .expr_as(Expr::col((songs::Entity, songs::Column::AlbumId)), L::AlbumId)
            .from(table.clone())
            .inner_join(songs::Entity, Expr::col((songs::Entity, songs::Column::Id)).equals((table, song_column)))
            .group_by_col((songs::Entity, songs::Column::AlbumId))
            .to_owned()
    };
    use sea_orm::sea_query::IntoIden;
    let order: Vec<(SimpleExpr, Order)> = match list {
        AlbumList::Random => vec![(Func::random().into(), Order::Asc)],
        // The order of `albums_created_at_idx` (created_at DESC, id): the walk stops at the page.
        AlbumList::Newest => vec![(col(T::Al, albums::Column::CreatedAt), Order::Desc), (id(), Order::Asc)],
        // The order of `albums_title_sort_idx`.
        AlbumList::ByName => vec![(title(), Order::Asc), (id(), Order::Asc)],
        AlbumList::ByArtist => {
            window.join_as(
                JoinType::InnerJoin,
                artists::Entity,
                T::Ar,
                Expr::col((T::Ar, artists::Column::Id)).equals((T::Al, albums::Column::ArtistId)),
            );
            vec![(col(T::Ar, Folded::Name), Order::Asc), (title(), Order::Asc), (id(), Order::Asc)]
        }
        AlbumList::Frequent => {
            let plays = Query::select()
                .expr_as(Expr::col(songs::Column::AlbumId), L::AlbumId)
                .expr_as(Func::sum(Expr::col(songs::Column::PlayCount)), L::Plays)
                .from(songs::Entity)
                .group_by_col(songs::Column::AlbumId)
                .to_owned();
            join_own(&mut window, plays);
            vec![(Expr::col((L::Table, L::Plays)).into(), Order::Desc), (id(), Order::Asc)]
        }
        AlbumList::Recent => {
            let recent = by_album(plays::Entity.into_iden(), plays::Column::SongId.into_iden())
                .expr_as(Func::max(Expr::col((plays::Entity, plays::Column::PlayedAt))), L::At)
                .and_where(Expr::col((plays::Entity, plays::Column::UserId)).eq(viewer))
                .to_owned();
            join_own(&mut window, recent);
            vec![(Expr::col((L::Table, L::At)).into(), Order::Desc), (id(), Order::Asc)]
        }
        AlbumList::Highest => {
            let rated = by_album(ratings::Entity.into_iden(), ratings::Column::SongId.into_iden())
                .expr_as(Func::avg(Expr::col((ratings::Entity, ratings::Column::Rating))), L::Score)
                .and_where(Expr::col((ratings::Entity, ratings::Column::UserId)).eq(viewer))
                .to_owned();
            join_own(&mut window, rated);
            vec![(Expr::col((L::Table, L::Score)).into(), Order::Desc), (title(), Order::Asc), (id(), Order::Asc)]
        }
        AlbumList::Starred => {
            let starred = Query::select()
                .expr_as(Expr::col(album_favourites::Column::AlbumId), L::AlbumId)
                .expr_as(Expr::col(album_favourites::Column::CreatedAt), L::At)
                .from(album_favourites::Entity)
                .and_where(Expr::col(album_favourites::Column::UserId).eq(viewer))
                .to_owned();
            join_own(&mut window, starred);
            vec![(Expr::col((L::Table, L::At)).into(), Order::Desc), (id(), Order::Asc)]
        }
        AlbumList::ByYear { from, to } => {
            let (low, high, direction) = if from <= to { (*from, *to, Order::Asc) } else { (*to, *from, Order::Desc) };
            window.and_where(Expr::col((T::Al, albums::Column::Year)).between(low, high));
            vec![(col(T::Al, albums::Column::Year), direction), (title(), Order::Asc), (id(), Order::Asc)]
        }
        AlbumList::ByGenre(genre) => {
            let lower: SimpleExpr = Func::lower(Expr::col((songs::Entity, songs::Column::Genre))).into();
            let has_genre = Query::select()
                .expr(Expr::val(1))
                .from(songs::Entity)
                .and_where(Expr::col((songs::Entity, songs::Column::AlbumId)).equals((T::Al, albums::Column::Id)))
                .and_where(lower.eq(genre.to_lowercase()))
                .to_owned();
            window.and_where(Expr::exists(has_genre));
            vec![(title(), Order::Asc), (id(), Order::Asc)]
        }
    };
    let offset = (!matches!(list, AlbumList::Random)).then_some(offset);
    let window = ranked_window(window, order, offset, limit);
    let query = album_select()
        .join_subquery(
            JoinType::InnerJoin,
            window,
            W::Table,
            Expr::col((W::Table, W::Id)).equals((T::Al, albums::Column::Id)),
        )
        .order_by((W::Table, W::Rank), Order::Asc)
        .to_owned();
    all(db, &query).await
}

/// Artists by name, `limit` from `offset` (offset paging, for the Subsonic API's index and search sync): track
/// artists and album artists alike.
pub async fn artists_from(db: &impl ConnectionTrait, offset: u64, limit: u64) -> Result<Vec<Artist>, DbErr> {
    let with = |table: sea_orm::sea_query::DynIden, column: sea_orm::sea_query::DynIden| {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(table.clone())
                .and_where(Expr::col((table, column)).equals((T::Ar, artists::Column::Id)))
                .to_owned(),
        )
    };
    use sea_orm::sea_query::IntoIden;
    let window = Query::select()
        .expr_as(col(T::Ar, artists::Column::Id), W::Id)
        .from_as(artists::Entity, T::Ar)
        .and_where(
            with(songs::Entity.into_iden(), songs::Column::ArtistId.into_iden())
                .or(with(albums::Entity.into_iden(), albums::Column::ArtistId.into_iden())),
        )
        .to_owned();
    // The order of `artists_name_sort_idx`.
    let order = vec![(col(T::Ar, Folded::Name), Order::Asc), (col(T::Ar, artists::Column::Id), Order::Asc)];
    let window = ranked_window(window, order, Some(offset), limit);
    let query = artist_select()
        .join_subquery(
            JoinType::InnerJoin,
            window,
            W::Table,
            Expr::col((W::Table, W::Id)).equals((T::Ar, artists::Column::Id)),
        )
        .order_by((W::Table, W::Rank), Order::Asc)
        .to_owned();
    all(db, &query).await
}

/// When the artist index (artists and their albums) last changed: a statement that added, renamed or removed
/// one (migration 000016).
pub async fn index_changed_at(db: &impl ConnectionTrait) -> Result<DateTime<FixedOffset>, DbErr> {
    #[derive(FromQueryResult)]
    struct Changed {
        changed_at: DateTime<FixedOffset>,
    }
    let statement =
        sea_orm::Statement::from_string(db.get_database_backend(), "SELECT changed_at FROM library_changes");
    Changed::find_by_statement(statement)
        .one(db)
        .await?
        .map(|c| c.changed_at)
        .ok_or_else(|| DbErr::RecordNotFound("library_changes".into()))
}
