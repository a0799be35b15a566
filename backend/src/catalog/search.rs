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
    error::{AppResult, ErrorBody},
    extract::ValidQuery,
    state::AppState,
};

/// Songs ranked per query, at most. A broad query ("love" in a large library) can match a tenth of the
/// catalogue; ranking every match took ~100 ms on 100,000 songs. The most played matches (read in
/// play-count index order, so the walk stops early) plus every exact title match are ranked instead: an exact
/// title first, then songs whose title matches (over artist or album), then by text rank and plays.
const CANDIDATES: u64 = 100;

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
    let (songs, albums, artists) = tokio::try_join!(
        model::songs(&state.db, sql),
        browse::albums_matching(&state.db, &tsquery, &q, query.limit),
        browse::artists_matching(&state.db, &tsquery, &q, query.limit),
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
    let row = Expanded::find_by_statement(statement).one(&state.db).await?;
    Ok(row.and_then(|r| r.tsquery).filter(|t| !t.is_empty()))
}
