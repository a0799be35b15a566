//! Bringing audio files into the library: uploads (probe, store content-addressed, record in one
//! transaction), library scans, and the background jobs that follow them.

pub mod scan;

use std::{io::Read, path::Path};

use anyhow::Context;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sha2::{Digest, Sha256};

use crate::{
    analysis,
    catalog::{
        ingest::{self, NewSong, StoredFile},
        songs,
    },
    entities::jobs,
    events::{self, Audience},
    ids::SongId,
    jobs as queue,
    media::{MediaStore, Storage},
    tags,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Added(SongId),
    /// The same bytes are already in the library, as this song.
    Duplicate(SongId),
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

    if let Some(existing) = songs::id_by_hash(db, &hash).await? {
        return Ok(Imported::Duplicate(existing));
    }
    let relative = store.store_upload(db, temp, &hash, meta.extension, meta.codec.content_type(meta.extension)).await?;
    let cover_path = match meta.cover.clone() {
        Some(cover) => Some(store.store_cover(cover.data, cover.extension).await?),
        None => None,
    };

    let file = StoredFile {
        content_hash: hash.clone(),
        storage: Storage::Media,
        path: relative.clone(),
        size,
        mtime: None,
        cover_path,
    };
    let new = NewSong::from_metadata(&meta, file);
    let txn = db.begin().await?;
    let inserted = ingest::insert_song(&txn, new).await;
    match inserted {
        Ok(Some(id)) => {
            txn.commit().await?;
            Ok(Imported::Added(id))
        }
        Ok(None) => {
            // Another upload of the same bytes won the race; its row points at the same file.
            drop(txn);
            let existing = songs::id_by_hash(db, &hash).await?.context("duplicate vanished")?;
            Ok(Imported::Duplicate(existing))
        }
        Err(e) => {
            drop(txn);
            if songs::id_by_hash(db, &hash).await.ok().flatten().is_none() {
                let _ = store.remove(Storage::Media, &relative).await;
            }
            Err(e.into())
        }
    }
}

/// The scan job: index `root`, reporting progress as admin events and on the job row, then queue the analysis
/// of what it added or changed.
pub async fn run_scan(
    db: &DatabaseConnection,
    media: &MediaStore,
    root: &Path,
    job: &jobs::Model,
) -> anyhow::Result<()> {
    let last = std::sync::Mutex::new(std::time::Instant::now() - std::time::Duration::from_secs(1));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<scan::Progress>();
    let forward = {
        let (db, id) = (db.clone(), job.id);
        tokio::spawn(async move {
            while let Some(progress) = rx.recv().await {
                let value = serde_json::to_value(&progress).unwrap_or_default();
                events::publish(&db, "scan.progress", Audience::Admin, value.clone()).await;
                let _ = queue::set_progress(&db, id, value).await;
            }
        })
    };
    let result = scan::scan(db, root, |progress| {
        let mut last = last.lock().expect("not poisoned");
        if last.elapsed() >= std::time::Duration::from_millis(250) || progress.done == progress.total {
            *last = std::time::Instant::now();
            let _ = tx.send(progress);
        }
    })
    .await;
    drop(tx);
    let _ = forward.await;
    let (report, touched) = result?;
    queue::enqueue_analysis(db, &touched).await?;
    let covers = covers_from_tags(db, media).await?;
    if covers.taken + covers.refused > 0 {
        tracing::info!(taken = covers.taken, refused = covers.refused, "covers from the files' embedded pictures");
    }
    let value = serde_json::to_value(&report)?;
    queue::set_progress(db, job.id, value).await?;
    events::publish(db, "scan.done", Audience::Admin, report.summary()).await;
    report.log();
    Ok(())
}

/// What [`covers_from_tags`] did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CoversTaken {
    /// Songs whose embedded picture became their cover (and their album's, where it had none).
    pub taken: u64,
    /// Songs whose picture is not a cover (over the image limits, not an image, or gone): marked, not tried again.
    pub refused: u64,
}

/// Songs of the library folder with an embedded picture not taken yet (those the scan just added or changed,
/// and any from before this pass existed). The scan itself keeps no picture bytes (up to two batches of probed
/// files wait in memory), so each file's tags are read again here, one file at a time.
const COVERS_TODO: &str = "SELECT id, path FROM songs WHERE has_embedded_cover AND cover_path IS NULL \
                           AND storage = 'library' AND id > $1 ORDER BY id LIMIT 100";
const SONG_COVER: &str = "WITH song AS (UPDATE songs SET cover_path = $2 WHERE id = $1 RETURNING album_id) \
                          UPDATE albums SET cover_path = $2 FROM song WHERE albums.id = song.album_id \
                          AND albums.cover_path IS NULL";
const NO_COVER: &str = "UPDATE songs SET has_embedded_cover = false WHERE id = $1";

/// Takes the pictures embedded in library files (APIC, FLAC PICTURE, MP4 covr, Vorbis METADATA_BLOCK_PICTURE) as
/// covers, with the limits uploads have: stored content-addressed (a whole album's identical pictures once), the
/// song's own, and its album's when the album has no folder image or earlier picture.
pub async fn covers_from_tags(db: &DatabaseConnection, media: &MediaStore) -> anyhow::Result<CoversTaken> {
    use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Todo {
        id: uuid::Uuid,
        path: String,
    }
    let statement =
        |sql: &str, values: Vec<sea_orm::Value>| Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    let mut done = CoversTaken::default();
    let mut after = uuid::Uuid::nil();
    loop {
        let todo = Todo::find_by_statement(statement(COVERS_TODO, vec![after.into()])).all(db).await?;
        let Some(last) = todo.last() else { break };
        after = last.id;
        for song in todo {
            let (store, path) = (media.clone(), song.path.clone());
            let picture = tokio::task::spawn_blocking(move || -> Option<tags::Cover> {
                let opened = store.open(Storage::Library, &path)?;
                tags::read_from(std::io::BufReader::new(opened.file), None).ok()?.cover
            })
            .await
            .context("reading a picture panicked")?;
            match picture {
                Some(cover) => {
                    let cover_path = media.store_cover(cover.data, cover.extension).await?;
                    db.execute(statement(SONG_COVER, vec![song.id.into(), cover_path.into()])).await?;
                    done.taken += 1;
                }
                None => {
                    db.execute(statement(NO_COVER, vec![song.id.into()])).await?;
                    done.refused += 1;
                }
            }
        }
    }
    Ok(done)
}

/// The analysis job: decode the song, store duration, peaks, loudness, tempo, key and sonic vector.
pub async fn run_analysis(
    db: &DatabaseConnection,
    media: &MediaStore,
    ffmpeg: &Path,
    job: &jobs::Model,
) -> anyhow::Result<()> {
    let id: SongId = serde_json::from_value(job.payload.get("song_id").cloned().unwrap_or_default())?;
    if analyse_song(db, media, ffmpeg, id).await? != Analysed::Deleted {
        events::publish(db, "analysis.done", Audience::All, serde_json::json!({"task": "analysis", "song_id": id}))
            .await;
    }
    Ok(())
}

/// Analyses one song (with symphonia, or ffmpeg for what symphonia cannot decode) and stores what it found; false
/// whether the song was deleted meanwhile. A file that cannot be decoded, or holds more than its budget, is recorded
/// as unanalysable at once (trying the same bytes again gives the same answer, at the same cost); only what may
/// pass (the database, a file not yet readable) is an error the job retries.
async fn analyse_song(
    db: &DatabaseConnection,
    media: &MediaStore,
    ffmpeg: &Path,
    id: SongId,
) -> anyhow::Result<Analysed> {
    let Some(song) = songs::file(db, id).await? else {
        return Ok(Analysed::Deleted);
    };
    let file =
        media.local_file(song.storage, &song.path).await?.ok_or_else(|| anyhow::anyhow!("the file is missing"))?;
    let extension = Path::new(&song.path).extension().and_then(|e| e.to_str()).unwrap_or_default().to_owned();
    let (codec, ffmpeg) = (song.codec, ffmpeg.to_owned());
    let analysis = tokio::task::spawn_blocking(move || {
        if codec.decodable() {
            analysis::analyse(file.path(), &extension)
        } else {
            analysis::analyse_with_ffmpeg(&ffmpeg, file.path(), crate::transcode::demuxer(codec, &extension))
        }
    })
    .await;
    let failure = match analysis {
        Ok(Ok(analysis)) => {
            ingest::store_analysis(db, id, Some(analysis)).await?;
            return Ok(Analysed::Measured);
        }
        Ok(Err(e)) => format!("{e:#}"),
        // A panic in a decoder is the file's doing as much as an error is.
        Err(e) => format!("the analysis panicked: {e}"),
    };
    tracing::warn!(song = %id, "cannot analyse: {failure}");
    ingest::store_unanalysable(db, id).await?;
    Ok(Analysed::Unanalysable)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Analysed {
    Measured,
    /// The file is there but cannot be measured (recorded, not retried).
    Unanalysable,
    Deleted,
}

/// How far a backfill got, as its job row and the admins' `analysis.progress` events show it.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct BackfillProgress {
    pub total: u64,
    pub done: u64,
    /// Songs whose file could not be read or decoded: marked as analysed without a sonic vector.
    pub failed: u64,
}

/// The backfill job (#22): analyse every song the current measures ([`crate::sonic::VERSION`]) have not seen,
/// `threads` songs at a time, in id order (so a retried job goes on where it stopped: what is done is no longer
/// behind), publishing progress to admins at most every second.
pub async fn run_backfill(
    db: &DatabaseConnection,
    media: &MediaStore,
    ffmpeg: &Path,
    job: &jobs::Model,
    threads: usize,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let mut progress = BackfillProgress { total: songs::count_behind(db).await?, ..BackfillProgress::default() };
    let report = |progress: BackfillProgress| async move {
        let value = serde_json::to_value(progress).unwrap_or_default();
        let mut event = value.clone();
        event["task"] = "backfill".into();
        events::publish(db, "analysis.progress", Audience::Admin, event).await;
        let _ = queue::set_progress(db, job.id, value).await;
    };
    report(progress).await;
    let mut reported = std::time::Instant::now();
    let mut after = None;
    loop {
        let batch = songs::behind(db, after, 64).await?;
        let Some(last) = batch.last() else { break };
        after = Some(*last);
        let mut results = futures::stream::iter(batch)
            .map(|id| async move { (id, analyse_song(db, media, ffmpeg, id).await) })
            .buffer_unordered(threads.max(1));
        while let Some((id, result)) = results.next().await {
            progress.done += 1;
            if matches!(result, Ok(Analysed::Unanalysable)) {
                progress.failed += 1;
            } else if let Err(e) = result {
                // A broken or missing file: recorded as analysed, so the backfill does not come back to it.
                tracing::warn!(song = %id, "backfill: cannot analyse: {e:#}");
                ingest::store_unanalysable(db, id).await?;
                progress.failed += 1;
            }
            if reported.elapsed() >= std::time::Duration::from_secs(1) {
                reported = std::time::Instant::now();
                report(progress).await;
            }
        }
    }
    progress.total = progress.total.max(progress.done);
    report(progress).await;
    events::publish(db, "analysis.done", Audience::All, serde_json::json!({"task": "backfill"})).await;
    tracing::info!(?progress, "backfill done");
    Ok(())
}
