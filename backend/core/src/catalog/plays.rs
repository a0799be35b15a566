//! Plays, listening history and favourites.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::{
    ConnectionTrait, DbErr, DeriveIden, FromQueryResult, TransactionTrait,
    sea_query::{Alias, Expr, JoinType, OnConflict, Order, Query, SelectStatement},
};
use uuid::Uuid;

use super::{Song, T, song_select};
use crate::run::one;
use crate::{
    cursor::{KeyType, Keyset, Page},
    entities::{favourites, plays, songs},
    error::Result,
    ids::{SongId, UserId},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayOutcome {
    /// False when the same listener played the song within half its duration: not counted again.
    pub counted: bool,
    pub play_count: i64,
}

/// Counts one play unless the same user played the same song within half its duration of it; `None` when the
/// song does not exist. `at` is when it was played (a client submitting plays made offline), now when `None`;
/// never later than now. Exact under concurrency and across replicas: the count is an atomic increment, and a
/// transaction-scoped advisory lock on (user, song) serialises the repeat check of one listener.
pub async fn record(
    db: &impl TransactionTrait,
    user: UserId,
    song: SongId,
    at: Option<DateTime<Utc>>,
) -> Result<Option<PlayOutcome>, DbErr> {
    let at = at.filter(|at| *at < Utc::now());
    // The play's time, in the database's clock unless the client named one.
    let when = || Expr::cust_with_values("coalesce($1::timestamptz, now())", [at]);
    let half = || {
        Expr::cust_with_exprs(
            "make_interval(secs => $1 / 2000.0)",
            [Expr::col((songs::Entity, songs::Column::DurationMs)).into()],
        )
    };
    #[derive(FromQueryResult)]
    struct State {
        play_count: i64,
        recent: bool,
    }
    #[derive(FromQueryResult)]
    struct Count {
        play_count: i64,
    }
    let txn = db.begin().await?;
    let lock = Query::select()
        .expr(Expr::cust_with_values("pg_advisory_xact_lock(hashtextextended($1, 0))", [format!("play:{user}:{song}")]))
        .to_owned();
    txn.execute(crate::run::statement(&lock)).await?;
    let recent = Query::select()
        .expr(Expr::val(1))
        .from(plays::Entity)
        .and_where(Expr::col(plays::Column::UserId).eq(user))
        .and_where(Expr::col((plays::Entity, plays::Column::SongId)).equals((songs::Entity, songs::Column::Id)))
        .and_where(Expr::col(plays::Column::PlayedAt).gt(when().sub(half())))
        .and_where(Expr::col(plays::Column::PlayedAt).lt(when().add(half())))
        .to_owned();
    let state = Query::select()
        .column(songs::Column::PlayCount)
        .expr_as(Expr::exists(recent), Alias::new("recent"))
        .from(songs::Entity)
        .and_where(Expr::col((songs::Entity, songs::Column::Id)).eq(song))
        .to_owned();
    let Some(state) = one::<State>(&txn, &state).await? else {
        return Ok(None);
    };
    if state.recent {
        return Ok(Some(PlayOutcome { counted: false, play_count: state.play_count }));
    }
    let insert = Query::insert()
        .into_table(plays::Entity)
        .columns([plays::Column::Id, plays::Column::UserId, plays::Column::SongId, plays::Column::PlayedAt])
        .values_panic([Uuid::now_v7().into(), user.into(), song.into(), when()])
        .to_owned();
    txn.execute(crate::run::statement(&insert)).await?;
    let count = Query::update()
        .table(songs::Entity)
        .value(songs::Column::PlayCount, Expr::col(songs::Column::PlayCount).add(1))
        .and_where(Expr::col(songs::Column::Id).eq(song))
        .returning_col(songs::Column::PlayCount)
        .to_owned();
    let count = one::<Count>(&txn, &count).await?.map_or(0, |c| c.play_count);
    txn.commit().await?;
    Ok(Some(PlayOutcome { counted: true, play_count: count }))
}

/// Marks or unmarks a favourite. Returns false when the song does not exist.
pub async fn set_favourite(db: &impl ConnectionTrait, user: UserId, song: SongId, on: bool) -> Result<bool, DbErr> {
    if on {
        let exists = Query::select()
            .expr(Expr::val(user))
            .column(songs::Column::Id)
            .from(songs::Entity)
            .and_where(Expr::col(songs::Column::Id).eq(song))
            .to_owned();
        let insert = Query::insert()
            .into_table(favourites::Entity)
            .columns([favourites::Column::UserId, favourites::Column::SongId])
            .select_from(exists)
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .to_owned();
        let inserted = db.execute(crate::run::statement(&insert)).await?.rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
    } else {
        let delete = Query::delete()
            .from_table(favourites::Entity)
            .and_where(Expr::col(favourites::Column::UserId).eq(user))
            .and_where(Expr::col(favourites::Column::SongId).eq(song))
            .to_owned();
        db.execute(crate::run::statement(&delete)).await?;
    }
    Ok(super::songs::file(db, song).await?.is_some())
}

#[derive(DeriveIden, Clone, Copy)]
enum Timed {
    #[sea_orm(iden = "t")]
    Table,
    At,
    EntryId,
    SongId,
}

/// A page of "(time, song)" rows newest first, from `times` (`at`, `entry_id`, `song_id` of one user).
async fn timed_page(
    db: &impl ConnectionTrait,
    viewer: UserId,
    listing: &str,
    times: SelectStatement,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<(DateTime<FixedOffset>, Song)>> {
    let keyset = Keyset::new(listing, cursor, limit, KeyType::Timestamp)?;
    let mut query = song_select(viewer)
        .expr_as(Expr::col((Timed::Table, Timed::At)), Timed::At)
        .join_subquery(
            JoinType::InnerJoin,
            times,
            Timed::Table,
            Expr::col((Timed::Table, Timed::SongId)).equals((T::S, songs::Column::Id)),
        )
        .to_owned();
    keyset.apply(
        &mut query,
        Expr::col((Timed::Table, Timed::At)).into(),
        KeyType::Timestamp,
        Expr::col((Timed::Table, Timed::EntryId)).into(),
        Order::Desc,
    );
    let page = keyset.fetch(db, &query, |row| Ok((row.try_get("", "at")?, Song::from_query_result(row, "")?))).await?;
    Ok(page)
}

/// `at`, `entry_id` and `song_id` of `user`'s rows of a table (its time, its key and its song).
fn times<E: sea_orm::EntityTrait>(
    table: E,
    at: E::Column,
    entry: E::Column,
    song: E::Column,
    user: (E::Column, UserId),
) -> SelectStatement {
    Query::select()
        .expr_as(Expr::col(at), Timed::At)
        .expr_as(Expr::col(entry), Timed::EntryId)
        .expr_as(Expr::col(song), Timed::SongId)
        .from(table)
        .and_where(Expr::col(user.0).eq(user.1))
        .to_owned()
}

/// The user's plays, newest first.
pub async fn history(
    db: &impl ConnectionTrait,
    user: UserId,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<(DateTime<FixedOffset>, Song)>> {
    use plays::Column as P;
    let times = times(plays::Entity, P::PlayedAt, P::Id, P::SongId, (P::UserId, user));
    timed_page(db, user, "history", times, cursor, limit).await
}

/// The user's favourite songs, most recently marked first.
pub async fn favourites(
    db: &impl ConnectionTrait,
    user: UserId,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<(DateTime<FixedOffset>, Song)>> {
    use favourites::Column as F;
    let times = times(favourites::Entity, F::CreatedAt, F::SongId, F::SongId, (F::UserId, user));
    timed_page(db, user, "favourites", times, cursor, limit).await
}
