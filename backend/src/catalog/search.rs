//! Search across songs, albums and artists: PostgreSQL full-text search over accent- and case-folded text,
//! each query word expanded to the catalogue words it begins or resembles (`fermata_search_query`, see the
//! `search_words` migration), so "dvork", "dvo" and "Dvořák" all find Dvořák.

use axum::extract::State;
use sea_orm::{FromQueryResult, Statement};

use super::{
    browse,
    model::{self, Sql, song_columns},
    views::{SearchQuery, SearchResults, SongView},
};
use crate::{
    accounts::session::CurrentUser,
    error::{AppError, AppResult, ErrorBody},
    extract::ValidQuery,
    state::AppState,
};

/// Songs ranked per query, at most. A broad query ("love" in a large library) can match a tenth of the
/// catalogue; ranking every match took ~100 ms on 100,000 songs. The most played matches (read in
/// play-count index order, so the walk stops early) plus every exact title match are ranked instead: an exact
/// title first, then songs whose title matches (over artist or album), then by text rank and plays.
const CANDIDATES: u64 = 100;

/// The most database time one search may take (each of its statements). A normal search takes a few
/// milliseconds and the bounded expansion (migration 000007) keeps the worst query constructed under 50 ms on
/// 100,000 songs (docs/performance.md); this is the backstop for whatever was not foreseen.
pub const SEARCH_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

#[utoipa::path(get, path = "/api/search", tag = "catalog", params(SearchQuery), responses(
    (status = 200, body = SearchResults), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
))]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<SearchQuery>,
) -> AppResult<axum::Json<SearchResults>> {
    let q = query.q.trim().to_owned();
    let Some(tsquery) = expand(&state, &q).await? else {
        // Only punctuation or symbols: nothing can match.
        return Ok(axum::Json(SearchResults { songs: Vec::new(), albums: Vec::new(), artists: Vec::new() }));
    };

    let mut sql = Sql::default();
    sql.param(user.user.id);
    let (t, p) = (sql.param(tsquery.clone()), sql.param(q.clone()));
    let exact = format!("s.title_folded = fermata_fold({p})");
    sql.text = format!(
        "WITH candidates AS ( \
           (SELECT s.id FROM songs s WHERE s.search_vector @@ {t}::tsquery \
             ORDER BY s.play_count DESC, s.id LIMIT {CANDIDATES}) \
           UNION (SELECT s.id FROM songs s WHERE {exact} LIMIT {CANDIDATES})) \
         SELECT NULL::text AS sort_key, {} \
         WHERE s.id IN (SELECT id FROM candidates) \
         ORDER BY ({exact}) DESC, (s.title_vector @@ {t}::tsquery) DESC, \
                  ts_rank(s.search_vector, {t}::tsquery) DESC, s.play_count DESC, s.id \
         LIMIT {}",
        song_columns!(),
        query.limit
    );
    // Three independent queries on three pool connections: the answer waits for the slowest, not the sum.
    let limit = query.limit;
    let (songs, albums, artists) = tokio::try_join!(
        async {
            let txn = begin(&state).await?;
            let rows = model::songs(&txn, sql).await;
            finish(txn, rows).await
        },
        async {
            let txn = begin(&state).await?;
            let albums = browse::albums_matching(&txn, &tsquery, &q, limit).await;
            finish(txn, albums).await
        },
        async {
            let txn = begin(&state).await?;
            let artists = browse::artists_matching(&txn, &tsquery, &q, limit).await;
            finish(txn, artists).await
        },
    )?;
    Ok(axum::Json(SearchResults { songs: songs.into_iter().map(SongView::from).collect(), albums, artists }))
}

#[derive(Debug, FromQueryResult)]
struct Expanded {
    tsquery: Option<String>,
}

/// The query as tsquery text (computed once, then passed to the three searches), or None without words.
async fn expand(state: &AppState, q: &str) -> AppResult<Option<String>> {
    let statement = Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT fermata_search_query($1)::text AS tsquery",
        [q.into()],
    );
    let txn = begin(state).await?;
    let row = Expanded::find_by_statement(statement).one(&txn).await;
    Ok(finish(txn, row).await?.and_then(|r| r.tsquery).filter(|t| !t.is_empty()))
}

/// Each part of a search runs under [`SEARCH_STATEMENT_TIMEOUT`].
async fn begin(state: &AppState) -> AppResult<sea_orm::DatabaseTransaction> {
    Ok(crate::postgres::begin_bounded(&state.db, SEARCH_STATEMENT_TIMEOUT).await?)
}

/// Ends a part of a search: a part that ran past the timeout refuses the search (422), as asking again would
/// cost the same.
async fn finish<T>(txn: sea_orm::DatabaseTransaction, result: Result<T, sea_orm::DbErr>) -> AppResult<T> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(e) if crate::postgres::is_query_canceled(&e) => {
            Err(AppError::Unprocessable("this search would take too long; use fewer or longer words".into()))
        }
        Err(e) => Err(e.into()),
    }
}
