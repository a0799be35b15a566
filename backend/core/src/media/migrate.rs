//! Moving what Fermata owns between the media volume and object storage (`fermata storage migrate --to s3|fs`):
//! every upload and every cover, copied, read back and checked against its SHA-256 (both are named by it), file
//! by file. Resumable: a file already at the target with the right bytes is checked and skipped, so a move that
//! was stopped is run again. Nothing is removed from the source; thumbnails and transcodes are not moved (each
//! replica remakes them on demand). Run it with the servers stopped, or while they still use the source: keys are
//! the same in both stores, so switching MEDIA_STORE afterwards changes nothing in the database.

use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use super::{MediaStore, Storage};
use crate::tags::Codec;

/// One file to move: its key in both stores and the SHA-256 its bytes must have.
#[derive(Debug, Clone, FromQueryResult)]
struct Item {
    key: String,
    sha256: String,
    /// None for a cover.
    codec: Option<Codec>,
}

impl Item {
    fn content_type(&self) -> &'static str {
        let extension = std::path::Path::new(&self.key).extension().and_then(|e| e.to_str()).unwrap_or_default();
        match self.codec {
            Some(codec) => codec.content_type(extension),
            None => crate::covers::mime_of_extension(extension),
        }
    }
}

/// Where a move stands.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Progress {
    pub total: usize,
    pub copied: usize,
    /// Already at the target with the right bytes (a resumed move).
    pub present: usize,
    /// In the database but missing from the source: reported, not fatal.
    pub missing: usize,
    pub bytes: u64,
}

/// Every upload and cover Fermata keeps, with its expected hash. Songs are named `ab/cd/<sha256>.<ext>`;
/// covers `covers/ab/<sha256>.<ext>`.
async fn inventory(db: &impl ConnectionTrait) -> Result<Vec<Item>, sea_orm::DbErr> {
    let sql = "SELECT path AS key, content_hash AS sha256, codec FROM songs WHERE storage = 'media'
        UNION
        SELECT substr(cover_path, 7) AS key,
               split_part(regexp_replace(cover_path, '^.*/', ''), '.', 1) AS sha256, NULL AS codec
        FROM albums WHERE cover_path LIKE 'media:%'
        ORDER BY key";
    Item::find_by_statement(Statement::from_string(sea_orm::DbBackend::Postgres, sql)).all(db).await
}

/// Copies every upload and cover from `from` to `to`, calling `report` after each file.
pub async fn migrate(
    db: &impl ConnectionTrait,
    from: &MediaStore,
    to: &MediaStore,
    mut report: impl FnMut(&Progress),
) -> anyhow::Result<Progress> {
    let items = inventory(db).await?;
    let mut progress = Progress { total: items.len(), ..Progress::default() };
    for item in items {
        if matches!(verified(to, &item).await, Ok(Some(_))) {
            progress.present += 1;
            report(&progress);
            continue;
        }
        let Some(source) = from.local_file(Storage::Media, &item.key).await? else {
            tracing::warn!(key = %item.key, "in the database but not in the source store: skipped");
            progress.missing += 1;
            report(&progress);
            continue;
        };
        let path = source.path().to_owned();
        let sha256 = tokio::task::spawn_blocking(move || crate::library::hash_file(&path)).await??;
        if sha256 != item.sha256 {
            anyhow::bail!("{} in the source does not match its SHA-256: not copied", item.key);
        }
        to.put_file(db, &item.key, source.path(), item.content_type()).await?;
        let size = verified(to, &item)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} reads back different from the target", item.key))?;
        progress.copied += 1;
        progress.bytes += size;
        report(&progress);
    }
    Ok(progress)
}

/// The size of the target's copy when it is there and hashes right.
async fn verified(store: &MediaStore, item: &Item) -> anyhow::Result<Option<u64>> {
    let Some(copy) = store.local_file(Storage::Media, &item.key).await? else { return Ok(None) };
    let path = copy.path().to_owned();
    let (sha256, size) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        Ok((crate::library::hash_file(&path)?, std::fs::metadata(&path)?.len()))
    })
    .await??;
    Ok((sha256 == item.sha256).then_some(size))
}
