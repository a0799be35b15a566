//! Search across songs, albums and artists: PostgreSQL full-text search over accent- and case-folded text,
//! each query word expanded to the catalogue words it begins or resembles (`fermata_search_query`, see the
//! `search_words` migration), so "dvork", "dvo" and "Dvořák" all find Dvořák.

use sea_orm::{
    DatabaseConnection, DeriveIden, FromQueryResult,
    sea_query::{
        Alias, Expr, Func, IntoIden, Order, Query, SelectStatement, SimpleExpr, UnionType, extension::postgres::PgExpr,
    },
};

use super::{
    Derived, Song, T,
    browse::{Album, Artist},
    col, fold, song_select,
};
use crate::{
    entities::{albums, artists, songs},
    error::{Error, Result},
    ids::UserId,
    postgres::{begin_bounded, is_query_canceled},
    run::all,
};

/// Songs ranked per query, at most. A broad query ("love" in a large library) can match a tenth of the
/// catalogue; ranking every match took ~100 ms on 100,000 songs. The most played matches (read in
/// play-count index order, so the walk stops early) plus every exact title match are ranked instead: an exact
/// title first, then songs whose title matches (over artist or album), then by text rank and plays.
const CANDIDATES: u64 = 100;

/// The most database time one search may take (each of its statements). A normal search takes a few
/// milliseconds and the bounded expansion (migration 000007) keeps the worst query constructed under 50 ms on
/// 100,000 songs (docs/performance.md); this is the backstop for whatever was not foreseen.
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

#[derive(Debug, Default)]
pub struct Results {
    pub songs: Vec<Song>,
    pub albums: Vec<Album>,
    pub artists: Vec<Artist>,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sub {
    /// One branch of the song candidates.
    X,
    /// The artist rows being matched.
    A,
}

/// Songs, albums and artists matching `q`, at most `limit` of each. [`Error::Refused`] when a part would run
/// past [`STATEMENT_TIMEOUT`] (asking again would cost the same).
pub async fn search(db: &DatabaseConnection, viewer: UserId, q: &str, limit: u64) -> Result<Results> {
    let q = q.trim();
    // The query as tsquery text, computed once and passed to the three searches.
    let expanded = bounded::<Expanded>(db, &expansion(q)).await?.pop().and_then(Expanded::text);
    let Some(text) = expanded else {
        // Only punctuation or symbols: nothing can match.
        return Ok(Results::default());
    };
    // Three independent queries on three pool connections: the answer waits for the slowest, not the sum.
    let (songs, albums, artists) =
        (songs_matching(viewer, &text, q, limit), albums_matching(&text, q, limit), artists_matching(&text, q, limit));
    let (songs, albums, artists) = tokio::try_join!(bounded(db, &songs), bounded(db, &albums), bounded(db, &artists))?;
    Ok(Results { songs, albums, artists })
}

#[derive(FromQueryResult)]
struct Expanded {
    tsquery: Option<String>,
}

impl Expanded {
    fn text(self) -> Option<String> {
        self.tsquery.filter(|t| !t.is_empty())
    }
}

/// `fermata_search_query(q)` as text: the words of `q` (folded; the eight longest), each ORed with the
/// catalogue words it begins (from two letters) or resembles (from three), the words ANDed.
fn expansion(q: &str) -> SelectStatement {
    Query::select()
        .expr_as(
            SimpleExpr::from(Func::cust(Alias::new("fermata_search_query")).arg(q)).cast_as(Alias::new("text")),
            Alias::new("tsquery"),
        )
        .to_owned()
}

/// What `q` searches for, as tsquery text; `None` when it has no words. (The rules are the database
/// function's, migrations 000004 and 000007; this shows them to tests and tools.)
pub async fn expand(db: &impl sea_orm::ConnectionTrait, q: &str) -> Result<Option<String>, sea_orm::DbErr> {
    Ok(crate::run::one::<Expanded>(db, &expansion(q.trim())).await?.and_then(Expanded::text))
}

/// Runs one part of a search in its own read-only transaction under [`STATEMENT_TIMEOUT`].
async fn bounded<R: FromQueryResult>(db: &DatabaseConnection, query: &SelectStatement) -> Result<Vec<R>> {
    let txn = begin_bounded(db, STATEMENT_TIMEOUT).await?;
    match all(&txn, query).await {
        Ok(rows) => {
            txn.commit().await?;
            Ok(rows)
        }
        Err(e) if is_query_canceled(&e) => {
            Err(Error::Refused("this search would take too long; use fewer or longer words".into()))
        }
        Err(e) => Err(e.into()),
    }
}

fn tsquery(text: &str) -> SimpleExpr {
    Expr::val(text).cast_as(Alias::new("tsquery"))
}

/// The songs matching, best first: among the most played matches and the exact title matches (see
/// [`CANDIDATES`]), an exact title first, then a matching title, then text rank, then plays.
fn songs_matching(viewer: UserId, text: &str, q: &str, limit: u64) -> SelectStatement {
    let most_played = Query::select()
        .column((T::S, songs::Column::Id))
        .from_as(songs::Entity, T::S)
        .and_where(col(T::S, Derived::SearchVector).matches(tsquery(text)))
        .order_by((T::S, songs::Column::PlayCount), Order::Desc)
        .order_by((T::S, songs::Column::Id), Order::Asc)
        .limit(CANDIDATES)
        .to_owned();
    let exact_titles = Query::select()
        .column((T::S, songs::Column::Id))
        .from_as(songs::Entity, T::S)
        .and_where(title_is(T::S, q))
        .limit(CANDIDATES)
        .to_owned();
    // The first branch goes in a subquery: a union's first part cannot carry its own ORDER BY and LIMIT.
    let candidates = Query::select()
        .column((Sub::X, songs::Column::Id))
        .from_subquery(most_played, Sub::X)
        .union(UnionType::Distinct, exact_titles)
        .to_owned();
    let rank: SimpleExpr =
        Func::cust(Alias::new("ts_rank")).args([col(T::S, Derived::SearchVector), tsquery(text)]).into();
    song_select(viewer)
        .and_where(Expr::col((T::S, songs::Column::Id)).in_subquery(candidates))
        .order_by_expr(title_is(T::S, q), Order::Desc)
        .order_by_expr(col(T::S, Derived::TitleVector).matches(tsquery(text)), Order::Desc)
        .order_by_expr(rank, Order::Desc)
        .order_by((T::S, songs::Column::PlayCount), Order::Desc)
        .order_by((T::S, songs::Column::Id), Order::Asc)
        .limit(limit)
        .to_owned()
}

/// Albums whose title matches: an exact title first, then by title. The page is chosen before the song
/// counts are computed (a broad word matches hundreds of albums).
fn albums_matching(text: &str, q: &str, limit: u64) -> SelectStatement {
    let has_songs = Query::select()
        .expr(Expr::val(1))
        .from_as(songs::Entity, T::S)
        .and_where(Expr::col((T::S, songs::Column::AlbumId)).equals((Sub::X, albums::Column::Id)))
        .to_owned();
    let page = Query::select()
        .column((Sub::X, albums::Column::Id))
        .from_as(albums::Entity, Sub::X)
        .and_where(Expr::col((Sub::X, Derived::TitleVector)).matches(tsquery(text)))
        .and_where(Expr::exists(has_songs))
        .order_by_expr(title_is(Sub::X, q), Order::Desc)
        .order_by((Sub::X, Derived::TitleFolded), Order::Asc)
        .order_by((Sub::X, albums::Column::Id), Order::Asc)
        .limit(limit)
        .to_owned();
    super::browse::album_select()
        .and_where(Expr::col((T::Al, albums::Column::Id)).in_subquery(page))
        .order_by_expr(title_is(T::Al, q), Order::Desc)
        .order_by_expr(col(T::Al, Derived::TitleFolded), Order::Asc)
        .order_by((T::Al, albums::Column::Id), Order::Asc)
        .to_owned()
}

/// `table.title_folded = fermata_fold(q)`: the title is exactly the query.
fn title_is(table: impl IntoIden + 'static, q: &str) -> SimpleExpr {
    Expr::col((table, Derived::TitleFolded)).eq(fold(Expr::val(q)))
}

/// Artists whose name matches (and that have songs or albums): an exact name first, then by name.
fn artists_matching(text: &str, q: &str, limit: u64) -> SelectStatement {
    let inner =
        super::browse::artist_select().and_where(col(T::Ar, Derived::NameVector).matches(tsquery(text))).to_owned();
    let sort_key = || Expr::col((Sub::A, Alias::new("sort_key")));
    super::browse::listed_artists(inner)
        .order_by_expr(sort_key().eq(fold(Expr::val(q))), Order::Desc)
        .order_by_expr(sort_key().into(), Order::Asc)
        .order_by((Sub::A, artists::Column::Id), Order::Asc)
        .limit(limit)
        .to_owned()
}
