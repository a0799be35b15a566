//! Schema migrations (sea-orm-migration). Applied at start-up by [`crate::postgres::migrate`] under an
//! advisory lock, or by `fermata migrate`.

use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261122_000002_one_scan;
mod m20261122_000003_stored_search;
mod m20261122_000004_search_words;
mod m20261122_000005_session_notify;
mod m20261122_000006_folded_names;
mod m20261201_000007_bounded_search;
mod m20261201_000008_session_notify_hash;
mod m20261202_000009_server_keys;
mod m20261202_000010_subsonic;
mod m20261203_000011_transcodes;
mod m20261203_000012_object_uploads;
mod m20261203_000013_library_copies;
mod m20261204_000014_search_in_memory;
mod m20261204_000015_sonic;
mod m20261207_000016_library_changed;
mod m20261207_000017_song_covers;

pub struct Migrator;

/// A migration written as SQL: most of the schema is PostgreSQL-specific (generated columns, GIN indexes,
/// functions and triggers), which sea-query's builders do not express.
pub struct SqlMigration {
    /// The name recorded in `seaql_migrations`; never change it once released.
    name: &'static str,
    /// SQL run in order, in the migration's one transaction: a later migration's DOWN can replay a part of an
    /// earlier one's UP instead of copying it.
    up: &'static [&'static str],
    down: &'static [&'static str],
}

async fn execute(manager: &SchemaManager<'_>, parts: &[&str]) -> Result<(), DbErr> {
    for sql in parts {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute(manager, self.up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute(manager, self.down).await
    }
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::MIGRATION),
            Box::new(m20261122_000002_one_scan::MIGRATION),
            Box::new(m20261122_000003_stored_search::MIGRATION),
            Box::new(m20261122_000004_search_words::MIGRATION),
            Box::new(m20261122_000005_session_notify::MIGRATION),
            Box::new(m20261122_000006_folded_names::MIGRATION),
            Box::new(m20261201_000007_bounded_search::MIGRATION),
            Box::new(m20261201_000008_session_notify_hash::MIGRATION),
            Box::new(m20261202_000009_server_keys::MIGRATION),
            Box::new(m20261202_000010_subsonic::MIGRATION),
            Box::new(m20261203_000011_transcodes::MIGRATION),
            Box::new(m20261203_000012_object_uploads::MIGRATION),
            Box::new(m20261203_000013_library_copies::MIGRATION),
            Box::new(m20261204_000014_search_in_memory::MIGRATION),
            Box::new(m20261204_000015_sonic::MIGRATION),
            Box::new(m20261207_000016_library_changed::MIGRATION),
            Box::new(m20261207_000017_song_covers::MIGRATION),
        ]
    }
}
