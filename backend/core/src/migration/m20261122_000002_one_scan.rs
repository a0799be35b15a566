//! At most one library scan queued or running, across every replica: a scan request that finds one
//! already there fails on this index instead of racing it.

pub const MIGRATION: super::SqlMigration = super::SqlMigration {
    name: "m20261122_000002_one_scan",
    up: &[
        "CREATE UNIQUE INDEX jobs_one_scan_key ON jobs (kind) WHERE kind = 'scan' AND status IN ('queued', 'running')",
    ],
    down: &["DROP INDEX IF EXISTS jobs_one_scan_key"],
};
