//! At most one library scan queued or running, across every replica: a scan request that finds one
//! already there fails on this index instead of racing it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_one_scan"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX jobs_one_scan_key ON jobs (kind) WHERE kind = 'scan' AND status IN ('queued', 'running')",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS jobs_one_scan_key").await.map(drop)
    }
}
