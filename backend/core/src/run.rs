//! Running sea-query statements through SeaORM's connection, the way every query of the core runs: built for
//! the connection's backend, values bound by the builder.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, StatementBuilder};

/// Runs a query and reads every row as `R`.
pub(crate) async fn all<R: FromQueryResult>(
    db: &impl ConnectionTrait,
    query: &impl StatementBuilder,
) -> Result<Vec<R>, DbErr> {
    R::find_by_statement(query.build(&db.get_database_backend())).all(db).await
}

/// Runs a query and reads its first row as `R`.
pub(crate) async fn one<R: FromQueryResult>(
    db: &impl ConnectionTrait,
    query: &impl StatementBuilder,
) -> Result<Option<R>, DbErr> {
    R::find_by_statement(query.build(&db.get_database_backend())).one(db).await
}

/// Runs a statement; the number of rows it changed.
pub(crate) async fn execute(db: &impl ConnectionTrait, statement: &impl StatementBuilder) -> Result<u64, DbErr> {
    Ok(db.execute(statement.build(&db.get_database_backend())).await?.rows_affected())
}
