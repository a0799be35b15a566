//! The library scan: index MUSIC_DIR in place (it may be read-only). Recursive and parallel; incremental
//! (unchanged size and mtime are skipped, changed files re-read, moved files followed, vanished files removed);
//! folder images become album covers; junk, unreadable files, symlink loops and non-UTF-8 names are counted
//! and reported, never fatal. The folder is the listener's truth: every decodable file is a song where it
//! sits, so the same audio at two paths (an album and a compilation) is two songs.

use std::{
    collections::{HashMap, HashSet},
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::{Instant, SystemTime},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    catalog::ingest::{self, NewSong, Resolver, StoredFile},
    entities::songs,
    ids::SongId,
    media::Storage,
    tags::{self, Metadata},
};

/// Files never worth probing.
fn is_junk(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with("._")
        || matches!(lower.as_str(), ".ds_store" | "thumbs.db" | "desktop.ini")
        || [".nfo", ".cue", ".txt", ".log", ".m3u", ".m3u8", ".pls", ".sfv", ".md5", ".pdf", ".db"]
            .iter()
            .any(|e| lower.ends_with(e))
}

const COVER_NAMES: [&str; 3] = ["cover", "folder", "front"];
const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

fn cover_rank(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    let (stem, ext) = lower.rsplit_once('.')?;
    IMAGE_EXTENSIONS.contains(&ext).then_some(())?;
    COVER_NAMES.iter().position(|c| *c == stem)
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ScanReport {
    /// Files looked at (audio candidates, not folder images or junk).
    pub files: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Files found at a new path with the fingerprint of a song whose old path is gone: the same song, moved.
    pub moved: usize,
    pub removed: usize,
    /// Junk, unreadable, undecodable or badly named files, each with its reason (first 1,000).
    pub skipped: Vec<Skipped>,
    pub skipped_count: usize,
    pub seconds: f64,
    pub files_per_second: f64,
}

impl ScanReport {
    /// Logs the outcome, and each skipped file (of the first 1,000) as a warning.
    pub fn log(&self) {
        for skipped in &self.skipped {
            tracing::warn!(path = %skipped.path, reason = %skipped.reason, "skipped");
        }
        tracing::info!(
            files = self.files,
            added = self.added,
            updated = self.updated,
            unchanged = self.unchanged,
            moved = self.moved,
            removed = self.removed,
            skipped = self.skipped_count,
            seconds = self.seconds,
            files_per_second = self.files_per_second,
            "scan finished"
        );
    }

    /// The report without the skipped list, for events (which must stay small).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "task": "scan", "files": self.files, "added": self.added, "updated": self.updated,
            "unchanged": self.unchanged, "moved": self.moved, "removed": self.removed, "skipped": self.skipped_count,
            "files_per_second": self.files_per_second, "percent": 100.0,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub task: &'static str,
    pub done: usize,
    pub total: usize,
    pub percent: f64,
    pub files_per_second: f64,
}

#[derive(Debug, FromQueryResult)]
struct Known {
    id: SongId,
    path: String,
    content_hash: String,
    size_bytes: i64,
    file_mtime: Option<DateTime<chrono::FixedOffset>>,
}

struct Candidate {
    relative: String,
    absolute: PathBuf,
    size: u64,
    mtime: DateTime<Utc>,
    existing: Option<SongId>,
}

struct Probed {
    candidate: Candidate,
    meta: Metadata,
    fingerprint: String,
}

/// A content fingerprint for indexed files: SHA-256 over the size and the first and last 64 KiB. Reading
/// whole libraries to hash them would make scans I/O-bound; for audio files this tells copies from
/// different songs just as well. Uploads get a full-content hash.
fn fingerprint(path: &Path, size: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    hasher.update(b"fermata-library-v1");
    hasher.update(size.to_le_bytes());
    let mut buffer = vec![0u8; 64 * 1024];
    let n = read_full(&mut file, &mut buffer)?;
    hasher.update(&buffer[..n]);
    if size > 128 * 1024 {
        file.seek(SeekFrom::End(-(64 * 1024)))?;
        let n = read_full(&mut file, &mut buffer)?;
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = file.read(&mut buffer[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn relative_text(root: &Path, path: &Path) -> Result<String, String> {
    let relative = path.strip_prefix(root).map_err(|_| "outside the library folder".to_owned())?;
    relative.to_str().map(str::to_owned).ok_or_else(|| "the file name is not valid UTF-8".to_owned())
}

/// What a walk of the tree found.
struct Walked {
    /// Audio candidates: relative path, absolute path, size, mtime.
    files: Vec<(String, PathBuf, u64, SystemTime)>,
    /// The best folder image per directory, as a `cover_path` value.
    covers: HashMap<PathBuf, String>,
    skipped: Vec<Skipped>,
}

/// Whether a walked entry stays inside the library once its links are resolved. Only links need the check
/// (the walk starts at the resolved root); a link out of the folder, to a file or a directory, is refused.
fn contained(root: &Path, entry: &walkdir::DirEntry) -> bool {
    !entry.path_is_symlink() || entry.path().canonicalize().is_ok_and(|real| real.starts_with(root) && real != root)
}

fn walk(root: &Path) -> Walked {
    let mut files = Vec::new();
    let mut covers: HashMap<PathBuf, (usize, String)> = HashMap::new();
    let mut skipped = Vec::new();
    let mut outside = Vec::new();
    let entries = walkdir::WalkDir::new(root).follow_links(true).into_iter().filter_entry(|entry| {
        let inside = contained(root, entry);
        if !inside {
            outside.push(entry.path().to_owned());
        }
        inside
    });
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                let reason = if e.loop_ancestor().is_some() { "symbolic link loop".to_owned() } else { e.to_string() };
                skipped.push(Skipped { path, reason });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let shown = path.to_string_lossy().into_owned();
        let Some(name) = entry.file_name().to_str() else {
            skipped.push(Skipped { path: shown, reason: "the file name is not valid UTF-8".into() });
            continue;
        };
        let relative = match relative_text(root, path) {
            Ok(relative) => relative,
            Err(reason) => {
                skipped.push(Skipped { path: shown, reason });
                continue;
            }
        };
        if let Some(rank) = cover_rank(name) {
            // A folder image must be an image by content, not only by name.
            if let Err(e) =
                std::fs::File::open(path).map_err(crate::covers::CoverError::from).and_then(crate::covers::inspect)
            {
                skipped.push(Skipped { path: relative, reason: format!("folder image refused: {e}") });
                continue;
            }
            let dir = path.parent().unwrap_or(root).to_owned();
            let better = covers.get(&dir).is_none_or(|(r, _)| rank < *r);
            if better {
                covers.insert(dir, (rank, relative));
            }
            continue;
        }
        if is_junk(name) {
            skipped.push(Skipped { path: relative, reason: "not music (junk or sidecar file)".into() });
            continue;
        }
        match entry.metadata() {
            Ok(meta) => {
                files.push((relative, path.to_owned(), meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
            }
            Err(e) => skipped.push(Skipped { path: relative, reason: format!("unreadable: {e}") }),
        }
    }
    for path in outside {
        let path = relative_text(root, &path).unwrap_or_else(|_| path.to_string_lossy().into_owned());
        skipped.push(Skipped { path, reason: "a symbolic link out of the library folder".into() });
    }
    let covers =
        covers.into_iter().map(|(dir, (_, rel))| (dir, format!("{}:{rel}", Storage::Library.as_str()))).collect();
    Walked { files, covers, skipped }
}

/// Scans `root`. `progress` is called now and then with how far it got.
pub async fn scan(
    db: &DatabaseConnection,
    root: &Path,
    progress: impl Fn(Progress) + Send + Sync,
) -> anyhow::Result<(ScanReport, Vec<SongId>)> {
    let started = Instant::now();
    let root = root.canonicalize().with_context(|| format!("cannot open the library folder {}", root.display()))?;
    let known: HashMap<String, Known> = songs::Entity::find()
        .select_only()
        .columns([
            songs::Column::Id,
            songs::Column::Path,
            songs::Column::ContentHash,
            songs::Column::SizeBytes,
            songs::Column::FileMtime,
        ])
        .filter(songs::Column::Storage.eq(Storage::Library))
        .into_model::<Known>()
        .all(db)
        .await?
        .into_iter()
        .map(|k| (k.path.clone(), k))
        .collect();

    let walk_root = root.clone();
    let Walked { files, covers, mut skipped } = tokio::task::spawn_blocking(move || walk(&walk_root)).await?;
    let mut report = ScanReport { files: files.len(), ..ScanReport::default() };
    let mut seen = HashSet::new();
    let mut to_read = Vec::new();
    for (relative, absolute, size, modified) in files {
        let mtime: DateTime<Utc> = modified.into();
        let existing = known.get(&relative);
        seen.insert(relative.clone());
        let unchanged = existing.is_some_and(|k| {
            k.size_bytes == size as i64
                && k.file_mtime.is_some_and(|m| m.timestamp_micros() == mtime.timestamp_micros())
        });
        if unchanged {
            report.unchanged += 1;
        } else {
            to_read.push(Candidate { relative, absolute, size, mtime, existing: existing.map(|k| k.id) });
        }
    }
    // Songs whose path is gone, by fingerprint: a new path with one of these fingerprints is that song, moved.
    let mut gone: HashMap<&str, Vec<SongId>> = HashMap::new();
    for k in known.values().filter(|k| !seen.contains(&k.path)) {
        gone.entry(k.content_hash.as_str()).or_default().push(k.id);
    }
    let mut moved = HashSet::new();
    let total = report.files;
    let report_progress = |done: usize| {
        let elapsed = started.elapsed().as_secs_f64().max(1e-6);
        progress(Progress {
            task: "scan",
            done,
            total,
            percent: if total == 0 { 100.0 } else { (done as f64 * 100.0 / total as f64 * 10.0).round() / 10.0 },
            files_per_second: (done as f64 / elapsed).round(),
        });
    };
    report_progress(report.unchanged);

    let mut touched = Vec::new();
    let mut resolver = Resolver::default();
    let mut done = report.unchanged;
    // Read in parallel batches, write each batch in one transaction.
    while !to_read.is_empty() {
        let batch: Vec<Candidate> = to_read.drain(..to_read.len().min(256)).collect();
        let results: Vec<Result<Probed, Skipped>> = tokio::task::spawn_blocking(move || {
            batch
                .into_par_iter()
                .map(|candidate| {
                    let meta = tags::read(&candidate.absolute, None)
                        .map_err(|e| Skipped { path: candidate.relative.clone(), reason: e.to_string() })?;
                    let fingerprint = fingerprint(&candidate.absolute, candidate.size).map_err(|e| Skipped {
                        path: candidate.relative.clone(),
                        reason: format!("unreadable: {e}"),
                    })?;
                    Ok(Probed { candidate, meta, fingerprint })
                })
                .collect()
        })
        .await?;
        let txn = db.begin().await?;
        let mut new_songs = Vec::new();
        for result in results {
            done += 1;
            let read = match result {
                Ok(read) => read,
                Err(skip) => {
                    skipped.push(skip);
                    continue;
                }
            };
            let cover = read.candidate.absolute.parent().and_then(|dir| covers.get(dir)).cloned();
            let file = StoredFile {
                content_hash: read.fingerprint,
                storage: Storage::Library,
                path: read.candidate.relative.clone(),
                size: read.candidate.size,
                mtime: Some(read.candidate.mtime),
                cover_path: cover,
            };
            let new = NewSong::from_metadata(&read.meta, file);
            match read.candidate.existing {
                Some(id) => {
                    ingest::update_file(&txn, &mut resolver, id, new).await?;
                    report.updated += 1;
                    touched.push(id);
                }
                None => match gone.get_mut(new.content_hash.as_str()).and_then(Vec::pop) {
                    Some(id) => {
                        ingest::move_file(&txn, &mut resolver, id, new).await?;
                        report.moved += 1;
                        moved.insert(id);
                    }
                    None => new_songs.push(new),
                },
            }
        }
        let paths: Vec<String> = new_songs.iter().map(|s| s.path.clone()).collect();
        let inserted = ingest::insert_songs(&txn, &mut resolver, new_songs).await?;
        for (path, id) in paths.into_iter().zip(inserted) {
            match id {
                Some(id) => {
                    report.added += 1;
                    touched.push(id);
                }
                // Only a path indexed since this scan read the database (scans run one at a time).
                None => skipped.push(Skipped { path, reason: "already indexed at this path".into() }),
            }
        }
        txn.commit().await?;
        report_progress(done);
    }

    let vanished: Vec<SongId> =
        known.values().filter(|k| !seen.contains(&k.path) && !moved.contains(&k.id)).map(|k| k.id).collect();
    if !vanished.is_empty() {
        let txn = db.begin().await?;
        for chunk in vanished.chunks(500) {
            ingest::delete_songs(&txn, chunk).await?;
        }
        txn.commit().await?;
        report.removed = vanished.len();
    }
    ingest::prune_orphans(db).await?;

    report.skipped_count = skipped.len();
    skipped.truncate(1000);
    report.skipped = skipped;
    report.seconds = started.elapsed().as_secs_f64();
    report.files_per_second = (report.files as f64 / report.seconds.max(1e-6)).round();
    Ok((report, touched))
}
