//! The index of finished transcodes. The files are the truth (a file that is there is served, a row without its
//! file is dropped); the rows give every replica the same sizes and last uses, so eviction keeps the cache under
//! TRANSCODE_CACHE_BYTES wherever a transcode finishes and always removes the least recently used files first.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement,
    sea_query::{Expr, OnConflict, Query},
};

use super::Rendition;
use crate::{entities::transcodes, run};

/// Remembers a finished file (or its new size, when another replica made the same one).
pub async fn record(
    db: &impl ConnectionTrait,
    path: &str,
    content_hash: &str,
    rendition: Rendition,
    size: u64,
) -> Result<(), DbErr> {
    use transcodes::Column as T;
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let query = Query::insert()
        .into_table(transcodes::Entity)
        .columns([T::Path, T::ContentHash, T::Format, T::Bitrate, T::SizeBytes])
        .values_panic([
            path.into(),
            content_hash.into(),
            rendition.format.as_str().into(),
            i32::try_from(rendition.bitrate).unwrap_or(i32::MAX).into(),
            size.into(),
        ])
        .on_conflict(
            OnConflict::column(T::Path)
                .values([(T::SizeBytes, size.into()), (T::UsedAt, Expr::current_timestamp().into())])
                .to_owned(),
        )
        .to_owned();
    run::execute(db, &query).await.map(drop)
}

/// Marks a file as just served.
pub async fn touch(db: &impl ConnectionTrait, path: &str) -> Result<(), DbErr> {
    use transcodes::Column as T;
    let query = Query::update()
        .table(transcodes::Entity)
        .value(T::UsedAt, Expr::current_timestamp())
        .and_where(Expr::col(T::Path).eq(path))
        .to_owned();
    run::execute(db, &query).await.map(drop)
}

/// Forgets a file that is gone.
pub async fn forget(db: &impl ConnectionTrait, path: &str) -> Result<(), DbErr> {
    use transcodes::Column as T;
    let query = Query::delete().from_table(transcodes::Entity).and_where(Expr::col(T::Path).eq(path)).to_owned();
    run::execute(db, &query).await.map(drop)
}

#[derive(FromQueryResult)]
struct Evicted {
    path: String,
}

/// Drops the rows of the least recently used files until the rest fit in `budget` bytes, and returns the paths
/// whose files the caller removes. One statement: replicas evicting at once each remove what their own DELETE
/// returned, never the same file twice.
pub async fn evict(db: &impl ConnectionTrait, budget: u64) -> Result<Vec<String>, DbErr> {
    // A running sum over a window has no builder in sea-query; the one value is bound.
    let sql = "DELETE FROM transcodes WHERE path IN (
        SELECT path FROM (
            SELECT path, sum(size_bytes) OVER (ORDER BY used_at DESC, path) AS kept FROM transcodes
        ) newest_first WHERE kept > $1
    ) RETURNING path";
    let budget = i64::try_from(budget).unwrap_or(i64::MAX);
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, [budget.into()]);
    Ok(Evicted::find_by_statement(statement).all(db).await?.into_iter().map(|e| e.path).collect())
}

#[derive(FromQueryResult)]
struct Total {
    bytes: Option<i64>,
}

/// The bytes the cache holds.
pub async fn size(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    // sum(bigint) is numeric in PostgreSQL.
    let query = Query::select()
        .expr_as(Expr::cust("sum(size_bytes)::bigint"), sea_orm::sea_query::Alias::new("bytes"))
        .from(transcodes::Entity)
        .to_owned();
    let total: Option<Total> = run::one(db, &query).await?;
    Ok(total.and_then(|t| t.bytes).map_or(0, |b| u64::try_from(b).unwrap_or(0)))
}
