//! Session change notifications name the session by a hash of its id, not the id: NOTIFY payloads reach every
//! connection that LISTENs on the channel (and the server log at some settings), and a session id is a bearer
//! credential. Replicas hash the ids they hold the same way (`accounts::session_store::notify_key`).

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261201_000008_session_notify_hash", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE OR REPLACE FUNCTION fermata_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fermata_sessions', encode(sha256(convert_to(OLD.id, 'UTF8')), 'hex'));
    RETURN NULL;
END $$;
"#;

const DOWN: &str = r#"
CREATE OR REPLACE FUNCTION fermata_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fermata_sessions', OLD.id);
    RETURN NULL;
END $$;
"#;
