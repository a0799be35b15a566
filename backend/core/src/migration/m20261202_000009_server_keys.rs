//! Keys every replica must share, kept in the database they already share (and so backed up with it): the key
//! that signs known-device cookies (`accounts::devices`). Made by the first replica that starts.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261202_000009_server_keys", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE TABLE server_keys (
    name text PRIMARY KEY,
    key bytea NOT NULL CHECK (octet_length(key) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
"#;

const DOWN: &str = "DROP TABLE server_keys;";
