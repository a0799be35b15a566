//! Every replica caches session records (`accounts::session_store`); this trigger tells them all when one
//! changes or ends (sign-out, disable, password change, expiry, a save by another replica).

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261122_000005_session_notify", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE FUNCTION fermata_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fermata_sessions', OLD.id);
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION fermata_session_changed();
"#;

const DOWN: &str = r#"
DROP TRIGGER sessions_changed ON sessions;
DROP FUNCTION fermata_session_changed();
"#;
