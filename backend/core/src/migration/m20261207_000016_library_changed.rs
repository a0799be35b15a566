//! When the artist index last changed (#41): Subsonic's `getIndexes` reports it as `lastModified` and answers
//! an unchanged index empty to a client that says `ifModifiedSince`. One row, moved by statement triggers on
//! artists and albums (what the index lists), only when a statement changed rows: a rescan that upserts
//! nothing new leaves it alone.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261207_000016_library_changed", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE TABLE library_changes (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO library_changes DEFAULT VALUES;

CREATE FUNCTION fermata_library_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE library_changes SET changed_at = clock_timestamp();
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER artists_library_insert AFTER INSERT ON artists REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_library_changed();
CREATE TRIGGER artists_library_delete AFTER DELETE ON artists REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_library_changed();
CREATE TRIGGER artists_library_update AFTER UPDATE ON artists REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_library_changed();
CREATE TRIGGER albums_library_insert AFTER INSERT ON albums REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_library_changed();
CREATE TRIGGER albums_library_delete AFTER DELETE ON albums REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fermata_library_changed();
"#;

const DOWN: &str = r#"
DROP TRIGGER albums_library_delete ON albums;
DROP TRIGGER albums_library_insert ON albums;
DROP TRIGGER artists_library_update ON artists;
DROP TRIGGER artists_library_delete ON artists;
DROP TRIGGER artists_library_insert ON artists;
DROP FUNCTION fermata_library_changed();
DROP TABLE library_changes;
"#;
