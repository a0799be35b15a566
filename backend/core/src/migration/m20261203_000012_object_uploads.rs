//! Multipart uploads in flight to object storage (`MEDIA_STORE=s3`). A replica records an upload before its
//! first part and removes the row once the object is complete or aborted; a row left behind is a replica that
//! died mid-upload, and any replica aborts it later (`media::abort_stale_uploads`), so parts never pile up in
//! the bucket unseen.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261203_000012_object_uploads", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE TABLE object_uploads (
    upload_id text PRIMARY KEY,
    object_key text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX object_uploads_started_at ON object_uploads (started_at);
"#;

const DOWN: &str = "DROP TABLE object_uploads;";
