//! Search across songs, albums and artists: PostgreSQL full-text search for whole words plus trigram word
//! similarity for partial words and typos, both over accent- and case-folded text.

use axum::extract::State;
use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};

use super::{
    model::{self, Sql, song_columns},
    views::{SearchQuery, SearchResults, SongView},
};
use crate::{
    accounts::session::CurrentUser,
    error::{AppResult, ErrorBody},
    extract::ValidQuery,
    state::AppState,
};

/// How similar a query word must be to a word of the text (pg_trgm's default is 0.6; "dvork" against
/// "dvorak" scores 0.57).
const WORD_SIMILARITY: &str = "0.45";

#[utoipa::path(get, path = "/api/search", tag = "catalog", params(SearchQuery), responses(
    (status = 200, body = SearchResults), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
))]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidQuery(query): ValidQuery<SearchQuery>,
) -> AppResult<axum::Json<SearchResults>> {
    let q = query.q.trim().to_owned();
    let txn = state.db.begin().await?;
    // Scoped to this transaction: lets the `<%` operator use the trigram index at our threshold.
    txn.execute_unprepared(&format!(
        "SELECT set_config('pg_trgm.word_similarity_threshold', '{WORD_SIMILARITY}', true)"
    ))
    .await?;

    let mut sql = Sql::default();
    sql.param(user.user.id);
    let p = sql.param(q.clone());
    // The query is folded inline (not in a CTE) so the planner sees a parameter and uses the GIN indexes.
    let text = format!("fermata_fold({p})");
    let ts = format!("plainto_tsquery('simple', fermata_fold({p}))");
    let doc = "s.search_folded";
    sql.text = format!(
        "SELECT NULL::text AS sort_key, {} \
         WHERE s.search_vector @@ {ts} OR {text} <% {doc} \
         ORDER BY ts_rank(s.search_vector, {ts}) + word_similarity({text}, {doc}) DESC, \
                  s.play_count DESC, s.id LIMIT {}",
        song_columns!(),
        query.limit
    );
    let songs = model::songs(&txn, sql).await?;

    let albums = ranked_ids(&txn, &q, "albums", "title", query.limit).await?;
    let artists = ranked_ids(&txn, &q, "artists", "name", query.limit).await?;
    txn.commit().await?;

    // Albums and artists come back as ids in rank order; their full views are read with the counts.
    let albums = super::browse::albums_by_ids(&state.db, &albums).await?;
    let artists = super::browse::artists_by_ids(&state.db, &artists).await?;
    Ok(axum::Json(SearchResults { songs: songs.into_iter().map(SongView::from).collect(), albums, artists }))
}

#[derive(Debug, FromQueryResult)]
struct Hit {
    id: uuid::Uuid,
}

/// Ids of the rows of `table` whose `column` is like the query, best first (exact matches, then by word
/// similarity). Both names are constants of this module.
async fn ranked_ids(
    db: &impl ConnectionTrait,
    q: &str,
    table: &str,
    column: &str,
    limit: u64,
) -> AppResult<Vec<uuid::Uuid>> {
    let mut sql = Sql::default();
    let p = sql.param(q.to_owned());
    let text = format!("fermata_fold({p})");
    let name = format!("fermata_fold(x.{column})");
    sql.text = format!(
        "SELECT x.id FROM {table} x WHERE {text} <% {name} \
         ORDER BY ({name} = {text}) DESC, word_similarity({text}, {name}) DESC, similarity({text}, {name}) DESC, x.id \
         LIMIT {limit}"
    );
    Ok(Hit::find_by_statement(sql.statement()).all(db).await?.into_iter().map(|h| h.id).collect())
}
