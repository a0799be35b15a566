//! The same audio at two paths of the library folder is two songs (#23). Uploads stay content-addressed: the
//! same bytes are stored once, so their hash stays unique among uploads. A library file is where the listener
//! put it (an album and a compilation may hold the same track), so among indexed files only the path is unique
//! (`songs_library_path_key`); their fingerprint is indexed for the scan's move detection.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261203_000013_library_copies", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
ALTER TABLE songs DROP CONSTRAINT songs_content_hash_key;
CREATE UNIQUE INDEX songs_media_content_hash_key ON songs (content_hash) WHERE storage = 'media';
CREATE INDEX songs_library_content_hash_idx ON songs (content_hash) WHERE storage = 'library';
"#;

// Going back needs the copies gone: the second and later songs of one fingerprint are deleted (as a scan
// would have skipped them before).
const DOWN: &str = r#"
DELETE FROM songs s USING songs first
 WHERE s.storage = 'library' AND first.storage = 'library' AND s.content_hash = first.content_hash AND s.id > first.id;
DROP INDEX songs_library_content_hash_idx;
DROP INDEX songs_media_content_hash_key;
ALTER TABLE songs ADD CONSTRAINT songs_content_hash_key UNIQUE (content_hash);
"#;
