//! The index of finished transcodes on the media volume (`transcode::cache`): what each file is, its size, and
//! when it was last served, so every replica evicts the same least-recently-used files when the cache is full.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261203_000011_transcodes", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE TABLE transcodes (
    path text PRIMARY KEY,
    content_hash text NOT NULL,
    format text NOT NULL,
    bitrate integer NOT NULL CHECK (bitrate > 0),
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcodes_used_at ON transcodes (used_at);
"#;

const DOWN: &str = "DROP TABLE transcodes;";
