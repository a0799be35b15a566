//! Typo-tolerant search without trigram-matching whole documents. Matching the query against every song's
//! text with pg_trgm took 565 ms for a typo matching 12,900 of 100,000 songs (each candidate row is rechecked),
//! so a vocabulary of the catalogue's words is kept instead: each query word is expanded to the vocabulary words
//! it prefixes or resembles (pg_trgm over ~100,000 short words: well under a millisecond), and the expanded
//! query runs on the full-text index. This is the approach of PostgreSQL's pg_trgm documentation ("Text
//! Search Integration").

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261122_000004_search_words", up: &[VOCABULARY, QUERY, INDEXES], down: &[DOWN] };

/// The vocabulary and the triggers that fill it (migration 000014's DOWN replays it).
pub(super) const VOCABULARY: &str = r#"
-- Every word of every song's search text (title, artist, album), folded. "C" collation so that prefix
-- matches (LIKE 'x%') use the primary key. Words of deleted songs stay: they only expand to nothing.
CREATE TABLE search_words (word text COLLATE "C" PRIMARY KEY);
-- fastupdate off: new words go straight into the index instead of a pending list that every lookup would
-- scan until the next vacuum (after a large first scan that made typo lookups take seconds).
CREATE INDEX search_words_trgm_idx ON search_words USING gin (word gin_trgm_ops) WITH (fastupdate = off);
INSERT INTO search_words SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM songs ON CONFLICT DO NOTHING;

-- Kept current by triggers: inserts once per statement (one insert per scan batch, not per row), updates
-- only when the search text changed (not on every play count). Sorted so that concurrent writers take the
-- new words' index locks in the same order.
CREATE FUNCTION fermata_collect_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        INSERT INTO search_words
            SELECT DISTINCT w FROM new_songs, unnest(tsvector_to_array(new_songs.search_vector)) AS w ORDER BY w
            ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO search_words
            SELECT DISTINCT w FROM unnest(tsvector_to_array(NEW.search_vector)) AS w ORDER BY w
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER songs_search_words_insert AFTER INSERT ON songs
    REFERENCING NEW TABLE AS new_songs FOR EACH STATEMENT EXECUTE FUNCTION fermata_collect_search_words();
CREATE TRIGGER songs_search_words_update AFTER UPDATE OF search_text ON songs
    FOR EACH ROW WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text)
    EXECUTE FUNCTION fermata_collect_search_words();
"#;

const QUERY: &str = r#"
-- The query as a tsquery: each word of it may be any of: itself, up to 8 vocabulary words it begins (typing
-- as you search), up to 8 it resembles (typos, missing letters: "dvork" is 0.57 similar to "dvorak", so the
-- threshold is below pg_trgm's default of 0.6). Words are ANDed. NULL when the query has no words.
CREATE FUNCTION fermata_search_query(q text) RETURNS tsquery
LANGUAGE plpgsql STABLE PARALLEL SAFE SET pg_trgm.word_similarity_threshold = 0.45 AS $$
DECLARE
    result tsquery;
    alternatives tsquery;
    term text;
    word text;
BEGIN
    FOR term IN SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('simple', fermata_fold(q)))) LOOP
        alternatives := plainto_tsquery('simple', term);
        FOR word IN
            (SELECT w.word FROM search_words w
              WHERE w.word LIKE replace(replace(replace(term, '\', '\\'), '%', '\%'), '_', '\_') || '%'
              ORDER BY length(w.word), w.word LIMIT 8)
            UNION
            (SELECT w.word FROM search_words w WHERE term <% w.word
              ORDER BY word_similarity(term, w.word) DESC, similarity(term, w.word) DESC, w.word LIMIT 8)
        LOOP
            alternatives := alternatives || plainto_tsquery('simple', word);
        END LOOP;
        result := CASE WHEN result IS NULL THEN alternatives ELSE result && alternatives END;
    END LOOP;
    RETURN result;
END $$;
"#;

const INDEXES: &str = r#"
-- Albums and artists are searched with the same expanded query.
CREATE INDEX albums_search_idx ON albums USING gin (to_tsvector('simple', fermata_fold(title)));
CREATE INDEX artists_search_idx ON artists USING gin (to_tsvector('simple', fermata_fold(name)));
"#;

const DOWN: &str = r#"
DROP INDEX artists_search_idx;
DROP INDEX albums_search_idx;
DROP FUNCTION fermata_search_query(text);
DROP TRIGGER songs_search_words_update ON songs;
DROP TRIGGER songs_search_words_insert ON songs;
DROP FUNCTION fermata_collect_search_words();
DROP TABLE search_words;
"#;
