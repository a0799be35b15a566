//! A song's own cover (#41): the picture embedded in its file, stored content-addressed like every cover. NULL:
//! the song shows its album's. Filled for uploads as they are imported and, for the library folder, after each
//! scan from the files' embedded pictures (APIC, FLAC PICTURE, MP4 covr, Vorbis METADATA_BLOCK_PICTURE); the
//! first one also becomes the album's cover when its folder has no image.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261207_000017_song_covers", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
ALTER TABLE songs ADD COLUMN cover_path text;
-- What the pass after a scan looks for: library songs whose picture was not taken yet.
CREATE INDEX songs_embedded_cover_todo_idx ON songs (id) WHERE has_embedded_cover AND cover_path IS NULL;
"#;

const DOWN: &str = r#"
DROP INDEX songs_embedded_cover_todo_idx;
ALTER TABLE songs DROP COLUMN cover_path;
"#;
