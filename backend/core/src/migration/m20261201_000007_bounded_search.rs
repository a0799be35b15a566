//! A search's cost bounded by its words, whatever a client sends. A 71-character query of single letters
//! expanded every letter to eight vocabulary words by prefix and eight by trigram similarity (a single letter
//! resembles thousands of words, each rechecked), 0.4 s of database time per search. Now: at most the eight
//! longest distinct words count; a word is expanded by prefix from two letters and by similarity from three
//! (pg_trgm's own trigrams of a one- or two-letter word match almost everything); shorter words match only
//! themselves. The search also runs under a statement timeout (catalog/search.rs).

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261201_000007_bounded_search", up: &[UP], down: &[DOWN] };

/// The bounded query function (migration 000014's DOWN replays it).
pub(super) const UP: &str = r#"
CREATE OR REPLACE FUNCTION fermata_search_query(q text) RETURNS tsquery
LANGUAGE plpgsql STABLE PARALLEL SAFE SET pg_trgm.word_similarity_threshold = 0.45 AS $$
DECLARE
    result tsquery;
    alternatives tsquery;
    term text;
    word text;
BEGIN
    FOR term IN
        SELECT t FROM unnest(tsvector_to_array(to_tsvector('simple', fermata_fold(left(q, 200))))) AS t
        ORDER BY length(t) DESC, t LIMIT 8
    LOOP
        alternatives := plainto_tsquery('simple', term);
        IF length(term) >= 2 THEN
            FOR word IN
                SELECT w.word FROM search_words w
                 WHERE w.word LIKE replace(replace(replace(term, '\', '\\'), '%', '\%'), '_', '\_') || '%'
                 ORDER BY length(w.word), w.word LIMIT 8
            LOOP
                alternatives := alternatives || plainto_tsquery('simple', word);
            END LOOP;
        END IF;
        IF length(term) >= 3 THEN
            FOR word IN
                SELECT w.word FROM search_words w WHERE term <% w.word
                 ORDER BY word_similarity(term, w.word) DESC, similarity(term, w.word) DESC, w.word LIMIT 8
            LOOP
                alternatives := alternatives || plainto_tsquery('simple', word);
            END LOOP;
        END IF;
        result := CASE WHEN result IS NULL THEN alternatives ELSE result && alternatives END;
    END LOOP;
    RETURN result;
END $$;
"#;

const DOWN: &str = r#"
CREATE OR REPLACE FUNCTION fermata_search_query(q text) RETURNS tsquery
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
