//! Listening by sound (#22): tempo, key and the sonic vector per song ([`crate::sonic`]), the admin's corrections,
//! and the backfill that analyses the songs already there.
//!
//! The vector is 28 signed bytes in `sonic`; nearest neighbours are answered from each replica's memory
//! (`catalog::sound`), kept current by the catalogue notifications, so the update trigger now also announces
//! a changed tempo, key or vector. `sonic_version` says which version of the measures analysed the song (silence
//! has a version and no vector): the backfill analyses every song behind [`crate::sonic::VERSION`].

pub const MIGRATION: super::SqlMigration = super::SqlMigration {
    name: "m20261204_000015_sonic",
    up: &[UP, super::m20261204_000014_search_in_memory::UPDATE_TRIGGER_DROP, UPDATE_TRIGGER],
    down: &[
        super::m20261204_000014_search_in_memory::UPDATE_TRIGGER_DROP,
        super::m20261204_000014_search_in_memory::UPDATE_TRIGGER,
        DOWN,
    ],
};

const UP: &str = r#"
ALTER TABLE songs
    ADD COLUMN bpm real CHECK (bpm > 0 AND bpm < 1000),
    ADD COLUMN bpm_confidence real,
    ADD COLUMN musical_key smallint CHECK (musical_key BETWEEN 0 AND 23),
    ADD COLUMN key_confidence real,
    ADD COLUMN sonic bytea CHECK (octet_length(sonic) = 28),
    ADD COLUMN sonic_version smallint,
    ADD COLUMN bpm_edited boolean NOT NULL DEFAULT false,
    ADD COLUMN key_edited boolean NOT NULL DEFAULT false;
-- The songs listing's tempo range.
CREATE INDEX songs_bpm_idx ON songs (bpm, id) WHERE bpm IS NOT NULL;

-- At most one backfill queued or running across replicas; one is queued now for the songs already there.
CREATE UNIQUE INDEX jobs_one_backfill_key ON jobs (kind) WHERE kind = 'backfill' AND status IN ('queued', 'running');
INSERT INTO jobs (id, kind, payload) SELECT gen_random_uuid(), 'backfill', '{}' WHERE EXISTS (SELECT 1 FROM songs);

CREATE TABLE radio_sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the radio started from ({"song": id} and so on), for the listener's display.
    seed jsonb NOT NULL,
    -- The vector the seed gave, and the one the next songs are chosen near (moved by what was played or skipped).
    origin bytea NOT NULL CHECK (octet_length(origin) = 28),
    target bytea NOT NULL CHECK (octet_length(target) = 28),
    bpm_min real,
    bpm_max real,
    musical_key smallint CHECK (musical_key BETWEEN 0 AND 23),
    -- Every song the session has handed out, in order: never handed out twice.
    served uuid[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX radio_sessions_user_idx ON radio_sessions (user_id, updated_at);
"#;

/// The update trigger of migration 000014, announcing tempo, key and vector changes too.
const UPDATE_TRIGGER: &str = r#"
CREATE TRIGGER songs_catalog_update
    AFTER UPDATE OF title, search_text, album_id, artist_id, play_count, bpm, musical_key, sonic ON songs
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.search_text IS DISTINCT FROM NEW.search_text
        OR OLD.album_id IS DISTINCT FROM NEW.album_id OR OLD.artist_id IS DISTINCT FROM NEW.artist_id
        OR OLD.play_count IS DISTINCT FROM NEW.play_count OR OLD.bpm IS DISTINCT FROM NEW.bpm
        OR OLD.musical_key IS DISTINCT FROM NEW.musical_key OR OLD.sonic IS DISTINCT FROM NEW.sonic)
    EXECUTE FUNCTION fermata_catalog_changed('s');
"#;

const DOWN: &str = r#"
DROP TABLE radio_sessions;
DELETE FROM jobs WHERE kind = 'backfill';
DROP INDEX jobs_one_backfill_key;
DROP INDEX songs_bpm_idx;
ALTER TABLE songs
    DROP COLUMN bpm, DROP COLUMN bpm_confidence, DROP COLUMN musical_key, DROP COLUMN key_confidence,
    DROP COLUMN sonic, DROP COLUMN sonic_version, DROP COLUMN bpm_edited, DROP COLUMN key_edited;
"#;
