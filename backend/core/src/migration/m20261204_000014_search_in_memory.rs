//! Search moves into each replica's memory (#23, `catalog::index`): the full-text columns, their GIN indexes, the
//! vocabulary table and its trigger go, and with them about a third of what writing a song row cost (a scan's
//! insert of 10,000 songs: 1.94 s with them, docs/performance.md). In their place, triggers announce which songs,
//! albums and artists changed on the `fermata_catalog` channel, so every replica's index follows every write.
//! `search_folded` and its trigram index stay: the songs listing's `q` filter (a substring match) reads them.

pub const MIGRATION: super::SqlMigration = super::SqlMigration {
    name: "m20261204_000014_search_in_memory",
    up: &[UP, UPDATE_TRIGGER],
    down: &[DOWN, super::m20261122_000004_search_words::VOCABULARY, super::m20261201_000007_bounded_search::UP],
};

const UP: &str = r#"
DROP FUNCTION fermata_search_query(text);
DROP TRIGGER songs_search_words_update ON songs;
DROP TRIGGER songs_search_words_insert ON songs;
DROP FUNCTION fermata_collect_search_words();
DROP TABLE search_words;
ALTER TABLE songs DROP COLUMN search_vector, DROP COLUMN title_vector;
ALTER TABLE albums DROP COLUMN title_vector;
ALTER TABLE artists DROP COLUMN name_vector;

-- `s:`, `l:` or `a:` (songs, albums, artists) and the changed rows' ids, 200 per notification (a payload holds
-- at most 8,000 bytes). Inserts and deletions are announced once per statement (a scan batch is one insert);
-- updates per row, and only when something search reads changed (a play changes the ranking).
CREATE FUNCTION fermata_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM pg_notify('fermata_catalog', TG_ARGV[0] || ':' || NEW.id::text);
    ELSE
        FOR ids IN
            SELECT string_agg(id::text, ',') FROM (SELECT id, (row_number() OVER ()) / 200 AS chunk FROM changed) c
             GROUP BY chunk
        LOOP
            PERFORM pg_notify('fermata_catalog', TG_ARGV[0] || ':' || ids);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER songs_catalog_insert AFTER INSERT ON songs REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_catalog_changed('s');
CREATE TRIGGER songs_catalog_delete AFTER DELETE ON songs REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_catalog_changed('s');

CREATE TRIGGER albums_catalog_insert AFTER INSERT ON albums REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_catalog_changed('l');
CREATE TRIGGER albums_catalog_delete AFTER DELETE ON albums REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_catalog_changed('l');
CREATE TRIGGER albums_catalog_update AFTER UPDATE OF title, artist_id ON albums
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.artist_id IS DISTINCT FROM NEW.artist_id)
    EXECUTE FUNCTION fermata_catalog_changed('l');

CREATE TRIGGER artists_catalog_insert AFTER INSERT ON artists REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_catalog_changed('a');
CREATE TRIGGER artists_catalog_delete AFTER DELETE ON artists REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_catalog_changed('a');
CREATE TRIGGER artists_catalog_update AFTER UPDATE OF name ON artists
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION fermata_catalog_changed('a');
"#;

/// Songs changed in what search reads (a play changes the ranking); migration 000015 replaces it.
pub const UPDATE_TRIGGER: &str = r#"
CREATE TRIGGER songs_catalog_update AFTER UPDATE OF title, search_text, album_id, artist_id, play_count ON songs
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.search_text IS DISTINCT FROM NEW.search_text
        OR OLD.album_id IS DISTINCT FROM NEW.album_id OR OLD.artist_id IS DISTINCT FROM NEW.artist_id
        OR OLD.play_count IS DISTINCT FROM NEW.play_count)
    EXECUTE FUNCTION fermata_catalog_changed('s');
"#;

pub const UPDATE_TRIGGER_DROP: &str = "DROP TRIGGER songs_catalog_update ON songs;";

// Back to search in the database: the columns and indexes as migrations 000004 and 000006 left them, then the
// vocabulary (000004) and the query function (000007) replayed from where they were defined.
const DOWN: &str = r#"
DROP TRIGGER artists_catalog_update ON artists;
DROP TRIGGER artists_catalog_delete ON artists;
DROP TRIGGER artists_catalog_insert ON artists;
DROP TRIGGER albums_catalog_update ON albums;
DROP TRIGGER albums_catalog_delete ON albums;
DROP TRIGGER albums_catalog_insert ON albums;
DROP TRIGGER songs_catalog_update ON songs;
DROP TRIGGER songs_catalog_delete ON songs;
DROP TRIGGER songs_catalog_insert ON songs;
DROP FUNCTION fermata_catalog_changed();

ALTER TABLE songs
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', fermata_fold(search_text))) STORED,
    ADD COLUMN title_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', fermata_fold(title))) STORED;
CREATE INDEX songs_search_vector_idx ON songs USING gin (search_vector);
ALTER TABLE albums
    ADD COLUMN title_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', fermata_fold(title))) STORED;
CREATE INDEX albums_search_idx ON albums USING gin (title_vector);
ALTER TABLE artists
    ADD COLUMN name_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', fermata_fold(name))) STORED;
CREATE INDEX artists_search_idx ON artists USING gin (name_vector);
"#;
