//! Bringing audio files into the library: probe, store content-addressed, record in one transaction.

pub mod handlers;
pub mod multipart;
pub mod scan;

pub use fermata_core::{analysis, tags};

use std::{io::Read, path::Path};

use anyhow::Context;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    catalog::model::{self, NewSong},
    media::{MediaStore, STORAGE_MEDIA},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Added(Uuid),
    /// The same bytes are already in the library, as this song.
    Duplicate(Uuid),
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    NotAudio(#[from] tags::ProbeError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// SHA-256 of a file, hex.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies `source` into the media store and adds it to the library (what an upload does once its bytes
/// are on disk). `original_name` feeds the file-name fallbacks for missing tags.
pub async fn import_copy(
    db: &DatabaseConnection,
    store: &MediaStore,
    source: &Path,
    original_name: Option<&str>,
) -> Result<Imported, ImportError> {
    let temp = store.temp_file()?;
    std::fs::copy(source, temp.path()).with_context(|| format!("cannot read {}", source.display()))?;
    let name = original_name.or_else(|| source.file_name().and_then(|n| n.to_str()));
    import_temp(db, store, temp, name, None).await
}

/// Adds a fully written temp file to the library. On any refusal or failure the temp file is removed, and
/// a stored file is removed again unless a song refers to it.
pub async fn import_temp(
    db: &DatabaseConnection,
    store: &MediaStore,
    temp: tempfile::NamedTempFile,
    original_name: Option<&str>,
    known_hash: Option<String>,
) -> Result<Imported, ImportError> {
    let path = temp.path().to_owned();
    let name = original_name.map(str::to_owned);
    let (hash, meta, size) = tokio::task::spawn_blocking(move || -> Result<_, ImportError> {
        let meta = tags::read(&path, name.as_deref())?;
        let hash = match known_hash {
            Some(hash) => hash,
            None => hash_file(&path).context("cannot hash the file")?,
        };
        let size = std::fs::metadata(&path).context("cannot stat the file")?.len();
        Ok((hash, meta, size))
    })
    .await
    .context("probe task panicked")??;

    if let Some(existing) = model::song_id_by_hash(db, &hash).await? {
        return Ok(Imported::Duplicate(existing));
    }
    let store_clone = store.clone();
    let (hash_for_task, ext) = (hash.clone(), meta.extension);
    let cover = meta.cover.clone();
    let (relative, cover_path) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let relative = store_clone.persist(temp, &hash_for_task, ext)?;
        let cover_path = cover.map(|c| store_clone.store_cover(&c.data, c.extension)).transpose()?;
        Ok((relative, cover_path))
    })
    .await
    .context("store task panicked")??;

    let new = NewSong::from_metadata(&meta, hash.clone(), STORAGE_MEDIA, relative.clone(), size, None, cover_path);
    let txn = db.begin().await?;
    let inserted = model::insert_song(&txn, new).await;
    match inserted {
        Ok(Some(id)) => {
            txn.commit().await?;
            Ok(Imported::Added(id))
        }
        Ok(None) => {
            // Another upload of the same bytes won the race; its row points at the same file.
            drop(txn);
            let existing = model::song_id_by_hash(db, &hash).await?.context("duplicate vanished")?;
            Ok(Imported::Duplicate(existing))
        }
        Err(e) => {
            drop(txn);
            if model::song_id_by_hash(db, &hash).await.ok().flatten().is_none() {
                let _ = std::fs::remove_file(store.media_dir().join(&relative));
            }
            Err(e.into())
        }
    }
}

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::upload))
        .routes(routes!(handlers::edit, handlers::delete))
        .routes(routes!(handlers::peaks))
        .routes(routes!(handlers::start_scan, handlers::scan_status))
        .routes(routes!(crate::jobs::list))
        .routes(routes!(crate::events::stream))
}
