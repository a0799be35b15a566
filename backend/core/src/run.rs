//! Running sea-query statements through SeaORM's connection, the way every query of the core runs: built for
//! PostgreSQL, values bound by the builder ([`statement`]).

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value, Values,
    sea_query::{PostgresQueryBuilder, QueryStatementWriter},
};

/// Builds a statement for PostgreSQL, with LIMIT and OFFSET written as numbers rather than bound.
///
/// sea-query binds them as parameters like any value. sqlx keeps each statement prepared, and to the generic plan
/// of a prepared statement a bound LIMIT looks like a tenth of the table, so PostgreSQL never settles on it and
/// plans every execution anew: measured on the 100,000-song list, 880 pages a second instead of 1,500, with the
/// database spending 0.54 instead of 0.32 ms of CPU per page (docs/performance.md). As numbers (the server's own
/// page sizes and offsets, integers, never a client's text) the planner keeps one plan per listing, as it did when
/// these statements were written by hand.
pub(crate) fn statement(query: &impl QueryStatementWriter) -> Statement {
    let (sql, Values(values)) = query.build(PostgresQueryBuilder);
    let (sql, values) = inline_limits(&sql, values);
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `sql` with every `LIMIT $n` / `OFFSET $n` whose value is an integer written as that integer, the remaining
/// placeholders renumbered in order, and the values left.
fn inline_limits(sql: &str, values: Vec<Value>) -> (String, Vec<Value>) {
    let mut out = String::with_capacity(sql.len());
    let mut kept = Vec::with_capacity(values.len());
    let mut values = values.into_iter().map(Some).collect::<Vec<_>>();
    let mut rest = sql;
    let mut quoted = false;
    while let Some(at) = rest.find(['$', '\'']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        if let Some(after) = from.strip_prefix('\'') {
            // A literal in a custom expression: copied as it is (it holds no placeholder).
            quoted = !quoted;
            out.push('\'');
            rest = after;
            continue;
        }
        let digits = from[1..].bytes().take_while(u8::is_ascii_digit).count();
        let index = from[1..=digits].parse::<usize>().ok().filter(|_| !quoted);
        let Some(index) = index.filter(|i| (1..=values.len()).contains(i)) else {
            out.push('$');
            rest = &from[1..];
            continue;
        };
        rest = &from[1 + digits..];
        let number = match &values[index - 1] {
            Some(Value::BigUnsigned(Some(n))) => Some(n.to_string()),
            Some(Value::BigInt(Some(n))) => Some(n.to_string()),
            Some(Value::Int(Some(n))) => Some(n.to_string()),
            Some(Value::Unsigned(Some(n))) => Some(n.to_string()),
            _ => None,
        };
        match number {
            Some(number) if out.ends_with(" LIMIT ") || out.ends_with(" OFFSET ") => {
                values[index - 1] = None;
                out.push_str(&number);
            }
            _ => {
                kept.push(values[index - 1].take().expect("each placeholder appears once"));
                out.push_str(&format!("${}", kept.len()));
            }
        }
    }
    out.push_str(rest);
    (out, kept)
}

/// Runs a query and reads every row as `R`.
pub(crate) async fn all<R: FromQueryResult>(
    db: &impl ConnectionTrait,
    query: &impl QueryStatementWriter,
) -> Result<Vec<R>, DbErr> {
    R::find_by_statement(statement(query)).all(db).await
}

/// Runs a query and reads its first row as `R`.
pub(crate) async fn one<R: FromQueryResult>(
    db: &impl ConnectionTrait,
    query: &impl QueryStatementWriter,
) -> Result<Option<R>, DbErr> {
    R::find_by_statement(statement(query)).one(db).await
}

/// Runs a statement; the number of rows it changed.
pub(crate) async fn execute(db: &impl ConnectionTrait, query: &impl QueryStatementWriter) -> Result<u64, DbErr> {
    Ok(db.execute(statement(query)).await?.rows_affected())
}

#[cfg(test)]
mod tests {
    use sea_orm::{
        Value,
        sea_query::{Alias, Expr, Order, Query},
    };

    use super::statement;

    #[test]
    fn limits_and_offsets_are_written_as_numbers_and_the_other_values_stay_bound() {
        let inner = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("songs"))
            .and_where(Expr::col(Alias::new("title")).eq("it's $1 LIMIT $2"))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(100)
            .to_owned();
        let query = Query::select()
            .column(Alias::new("id"))
            .from_subquery(inner, Alias::new("x"))
            .and_where(Expr::col(Alias::new("year")).eq(1999))
            .and_where(Expr::cust_with_values("plays > $1", [7i64]))
            .limit(51)
            .offset(20)
            .to_owned();
        let built = statement(&query);
        assert_eq!(
            built.sql,
            r#"SELECT "id" FROM (SELECT "id" FROM "songs" WHERE "title" = $1 ORDER BY "id" ASC LIMIT 100) AS "x" WHERE "year" = $2 AND (plays > $3) LIMIT 51 OFFSET 20"#
        );
        let values = built.values.unwrap().0;
        assert_eq!(values, vec![Value::from("it's $1 LIMIT $2"), Value::from(1999), Value::from(7i64)]);
    }

    #[test]
    fn a_statement_without_limits_is_left_as_built() {
        let query = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("songs"))
            .and_where(Expr::col(Alias::new("id")).eq(5))
            .to_owned();
        let built = statement(&query);
        assert_eq!(built.sql, r#"SELECT "id" FROM "songs" WHERE "id" = $1"#);
        assert_eq!(built.values.unwrap().0, vec![Value::from(5)]);
    }
}
