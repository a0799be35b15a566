//! Schema migrations (sea-orm-migration). Applied at start-up by [`crate::postgres::migrate`] under an
//! advisory lock, or by `fermata migrate`.

use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261122_000002_one_scan;
mod m20261122_000003_stored_search;
mod m20261122_000004_search_words;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261122_000002_one_scan::Migration),
            Box::new(m20261122_000003_stored_search::Migration),
            Box::new(m20261122_000004_search_words::Migration),
        ]
    }
}
