//! The library scan: index MUSIC_DIR in place (it may be read-only). Recursive and parallel; incremental
//! (unchanged size and mtime are skipped, changed files re-read, moved files followed, vanished files removed);
//! folder images become album covers; junk, unreadable files, symlink loops and non-UTF-8 names are counted
//! and reported, never fatal. The folder is the listener's truth: every decodable file is a song where it
//! sits, so the same audio at two paths (an album and a compilation) is two songs.

use std::{
    collections::{HashMap, HashSet},
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
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
    /// Where the time went.
    #[serde(skip)]
    pub phases: Phases,
}

/// Where a scan's time went, in seconds. Reading and writing overlap: `read` is the reader's wall time, split
/// across its threads into opening and reading files, parsing tags and hashing (`read_*`, summed over
/// threads); `write` is the database writes' wall time and `waiting` the writer's time waiting for the reader.
/// `finish`: removals and orphaned albums and artists.
#[derive(Debug, Clone, Default)]
pub struct Phases {
    /// Reading what the database holds of the library.
    pub known: f64,
    pub walk: f64,
    pub read: f64,
    pub read_open: f64,
    pub read_tags: f64,
    pub read_fingerprint: f64,
    pub write: f64,
    pub waiting: f64,
    pub finish: f64,
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
            known_seconds = self.phases.known,
            walk_seconds = self.phases.walk,
            read_seconds = self.phases.read,
            read_open_seconds = self.phases.read_open,
            read_tags_seconds = self.phases.read_tags,
            read_fingerprint_seconds = self.phases.read_fingerprint,
            write_seconds = self.phases.write,
            waiting_seconds = self.phases.waiting,
            finish_seconds = self.phases.finish,
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

/// Skipped files: the first [`SkipList::KEPT`] with their reasons, and how many in all (a folder of junk must
/// not grow the scan's memory).
#[derive(Default)]
struct SkipList {
    first: Vec<Skipped>,
    count: usize,
}

impl SkipList {
    const KEPT: usize = 1000;

    fn push(&mut self, skipped: Skipped) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(skipped);
        }
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
struct KnownRow {
    id: SongId,
    path: String,
    content_hash: String,
    size_bytes: i64,
    file_mtime: Option<DateTime<chrono::FixedOffset>>,
}

/// An indexed library song, kept compact (a scan holds one per song: 100,000 of them in a large library).
struct Known {
    id: SongId,
    /// The fingerprint's bytes (the column holds them as hex).
    fingerprint: [u8; 32],
    size_bytes: i64,
    mtime_micros: Option<i64>,
}

impl KnownRow {
    fn split(self) -> (String, Known) {
        let mut fingerprint = [0u8; 32];
        // Uploads and older rows always hold 64 hex digits (a CHECK constraint); anything else never matches.
        let _ = hex::decode_to_slice(&self.content_hash, &mut fingerprint);
        let known = Known {
            id: self.id,
            fingerprint,
            size_bytes: self.size_bytes,
            mtime_micros: self.file_mtime.map(|m| m.timestamp_micros()),
        };
        (self.path, known)
    }
}

struct Candidate {
    relative: String,
    /// The file's path, `root` joined with `relative` when it is read (not kept for every file walked).
    absolute: PathBuf,
    size: u64,
    mtime: DateTime<Utc>,
    existing: Option<SongId>,
}

struct Probed {
    candidate: Candidate,
    meta: Metadata,
    fingerprint: [u8; 32],
}

/// A content fingerprint for indexed files: SHA-256 over the size and the first and last 64 KiB. Reading
/// whole libraries to hash them would make scans I/O-bound; for audio files this tells copies from
/// different songs just as well. Uploads get a full-content hash. `head` is the file's first bytes (up to
/// 64 KiB), `tail` its last 64 KiB when it is larger than 128 KiB.
fn fingerprint(size: u64, head: &[u8], tail: Option<&[u8]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"fermata-library-v1");
    hasher.update(size.to_le_bytes());
    hasher.update(head);
    if let Some(tail) = tail {
        hasher.update(tail);
    }
    hasher.finalize().into()
}

const EDGE: usize = 64 * 1024;
/// Files up to this size are read whole, once, and probed from memory; larger ones are probed from the open
/// file, with their fingerprint's head and tail read from it first.
const READ_WHOLE: u64 = 2 * EDGE as u64;
/// Files read between database transactions.
const BATCH: usize = 256;

/// Time spent per part of reading files (summed over threads).
#[derive(Debug, Clone, Copy, Default)]
struct ReadTimes {
    open: Duration,
    tags: Duration,
    fingerprint: Duration,
}

impl ReadTimes {
    fn add(self, other: Self) -> Self {
        Self {
            open: self.open + other.open,
            tags: self.tags + other.tags,
            fingerprint: self.fingerprint + other.fingerprint,
        }
    }
}

/// A candidate's tags and fingerprint, from one open of the file. A scan only notes that a song has a picture
/// (covers are served from the file): up to two batches of probed songs wait in memory, and a picture can be
/// megabytes, so its bytes are dropped here.
fn probe(candidate: Candidate) -> (Result<Probed, Skipped>, ReadTimes) {
    let mut times = ReadTimes::default();
    let result = match probe_file(&candidate, &mut times) {
        Ok((mut meta, fingerprint)) => {
            if let Some(cover) = meta.cover.as_mut() {
                cover.data = Vec::new();
            }
            Ok(Probed { candidate, meta, fingerprint })
        }
        Err(reason) => Err(Skipped { path: candidate.relative, reason }),
    };
    (result, times)
}

fn probe_file(candidate: &Candidate, times: &mut ReadTimes) -> Result<(Metadata, [u8; 32]), String> {
    let unreadable = |e: std::io::Error| format!("unreadable: {e}");
    let name = candidate.absolute.file_name().and_then(|n| n.to_str());
    let started = Instant::now();
    let mut file = std::fs::File::open(&candidate.absolute).map_err(unreadable)?;
    if candidate.size <= READ_WHOLE {
        let mut bytes = Vec::with_capacity(usize::try_from(candidate.size).unwrap_or(0) + 1);
        file.read_to_end(&mut bytes).map_err(unreadable)?;
        let hashed = Instant::now();
        times.open += hashed - started;
        let fingerprint = fingerprint(candidate.size, &bytes[..bytes.len().min(EDGE)], None);
        let parsed = Instant::now();
        times.fingerprint += parsed - hashed;
        let meta = tags::read_from(std::io::Cursor::new(&bytes), name).map_err(|e| e.to_string());
        times.tags += parsed.elapsed();
        return Ok((meta?, fingerprint));
    }
    let (mut head, mut tail) = (Vec::with_capacity(EDGE), Vec::with_capacity(EDGE));
    (&mut file).take(EDGE as u64).read_to_end(&mut head).map_err(unreadable)?;
    file.seek(SeekFrom::End(-(EDGE as i64))).map_err(unreadable)?;
    (&mut file).take(EDGE as u64).read_to_end(&mut tail).map_err(unreadable)?;
    file.rewind().map_err(unreadable)?;
    let hashed = Instant::now();
    times.open += hashed - started;
    let fingerprint = fingerprint(candidate.size, &head, Some(&tail));
    let parsed = Instant::now();
    times.fingerprint += parsed - hashed;
    let meta = tags::read_from(std::io::BufReader::new(file), name).map_err(|e| e.to_string());
    times.tags += parsed.elapsed();
    Ok((meta?, fingerprint))
}

fn relative_text(root: &Path, path: &Path) -> Result<String, String> {
    let relative = path.strip_prefix(root).map_err(|_| "outside the library folder".to_owned())?;
    relative.to_str().map(str::to_owned).ok_or_else(|| "the file name is not valid UTF-8".to_owned())
}

/// What a walk of the tree found.
struct Walked {
    /// Audio candidates: relative path, size, mtime.
    files: Vec<(String, u64, SystemTime)>,
    /// The best folder image per directory, as a `cover_path` value.
    covers: HashMap<PathBuf, String>,
    skipped: SkipList,
}

/// Whether a walked entry stays inside the library once its links are resolved. Only links need the check
/// (the walk starts at the resolved root); a link out of the folder, to a file or a directory, is refused.
fn contained(root: &Path, entry: &walkdir::DirEntry) -> bool {
    !entry.path_is_symlink() || entry.path().canonicalize().is_ok_and(|real| real.starts_with(root) && real != root)
}

fn walk(root: &Path) -> Walked {
    let mut files = Vec::new();
    let mut covers: HashMap<PathBuf, (usize, String)> = HashMap::new();
    let mut skipped = SkipList::default();
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
            Ok(meta) => files.push((relative, meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH))),
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

/// The library's songs by path, and how long reading them took. Streamed into the map: the rows are never all
/// held twice.
async fn load_known(db: &DatabaseConnection) -> anyhow::Result<(HashMap<String, Known>, f64)> {
    let started = Instant::now();
    let mut known = HashMap::new();
    let mut rows = songs::Entity::find()
        .select_only()
        .columns([
            songs::Column::Id,
            songs::Column::Path,
            songs::Column::ContentHash,
            songs::Column::SizeBytes,
            songs::Column::FileMtime,
        ])
        .filter(songs::Column::Storage.eq(Storage::Library))
        .into_model::<KnownRow>()
        .stream(db)
        .await?;
    while let Some(row) = rows.try_next().await? {
        let (path, known_song) = row.split();
        known.insert(path, known_song);
    }
    Ok((known, started.elapsed().as_secs_f64()))
}

/// Scans `root`. `progress` is called now and then with how far it got.
pub async fn scan(
    db: &DatabaseConnection,
    root: &Path,
    progress: impl Fn(Progress) + Send + Sync,
) -> anyhow::Result<(ScanReport, Vec<SongId>)> {
    let started = Instant::now();
    let root = root.canonicalize().with_context(|| format!("cannot open the library folder {}", root.display()))?;
    // What the database holds and what the folder holds, read at the same time (a rescan is these two).
    let walk_root = root.clone();
    let walked = tokio::task::spawn_blocking(move || {
        let walk_started = Instant::now();
        (walk(&walk_root), walk_started.elapsed().as_secs_f64())
    });
    let (known, walked) = tokio::join!(load_known(db), walked);
    let ((mut known, known_seconds), (Walked { files, covers, mut skipped }, walk_seconds)) = (known?, walked?);
    let mut phases = Phases { known: known_seconds, walk: walk_seconds, ..Phases::default() };
    let mut report = ScanReport { files: files.len(), ..ScanReport::default() };
    let mut to_read = Vec::new();
    for (relative, size, modified) in files {
        let mtime: DateTime<Utc> = modified.into();
        // Taken out of `known` when seen: what is left at the end is gone.
        let existing = known.remove(&relative);
        let unchanged = existing
            .as_ref()
            .is_some_and(|k| k.size_bytes == size as i64 && k.mtime_micros == Some(mtime.timestamp_micros()));
        if unchanged {
            report.unchanged += 1;
        } else {
            let absolute = root.join(&relative);
            to_read.push(Candidate { relative, absolute, size, mtime, existing: existing.map(|k| k.id) });
        }
    }
    // Songs whose path is gone, by fingerprint: a new path with one of these fingerprints is that song, moved.
    let mut gone: HashMap<[u8; 32], Vec<SongId>> = HashMap::new();
    for k in known.values() {
        gone.entry(k.fingerprint).or_default().push(k.id);
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
    // Files are read (one open each: tags and fingerprint) on the blocking pool, batch after batch, while the
    // batch before is written: reading and writing overlap, and at most two batches wait in memory. A writer
    // that stops (an error) drops the receiver, and the reader stops at its next batch.
    let (sender, mut batches) = tokio::sync::mpsc::channel::<(Vec<Result<Probed, Skipped>>, ReadTimes)>(2);
    let reader = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut to_read = to_read.into_iter();
        loop {
            let batch: Vec<Candidate> = to_read.by_ref().take(BATCH).collect();
            if batch.is_empty() {
                break;
            }
            let (results, times): (Vec<_>, Vec<ReadTimes>) = batch.into_par_iter().map(probe).unzip();
            let times = times.into_iter().fold(ReadTimes::default(), ReadTimes::add);
            if sender.blocking_send((results, times)).is_err() {
                break;
            }
        }
        started.elapsed()
    });
    let mut read_times = ReadTimes::default();
    let mut lost_races = 0;
    loop {
        let waited = Instant::now();
        let Some((results, times)) = batches.recv().await else { break };
        phases.waiting += waited.elapsed().as_secs_f64();
        read_times = read_times.add(times);
        let write_started = Instant::now();
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
            let moved_from = match read.candidate.existing {
                None => gone.get_mut(&read.fingerprint).and_then(Vec::pop),
                Some(_) => None,
            };
            let file = StoredFile {
                content_hash: hex::encode(read.fingerprint),
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
                None => match moved_from {
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
                None => {
                    lost_races += 1;
                    skipped.push(Skipped { path, reason: "already indexed at this path".into() });
                }
            }
        }
        txn.commit().await?;
        phases.write += write_started.elapsed().as_secs_f64();
        report_progress(done);
    }
    phases.read = reader.await?.as_secs_f64();
    phases.read_open = read_times.open.as_secs_f64();
    phases.read_tags = read_times.tags.as_secs_f64();
    phases.read_fingerprint = read_times.fingerprint.as_secs_f64();
    let finish_started = Instant::now();

    let vanished: Vec<SongId> = known.values().filter(|k| !moved.contains(&k.id)).map(|k| k.id).collect();
    if !vanished.is_empty() {
        let txn = db.begin().await?;
        for chunk in vanished.chunks(500) {
            ingest::delete_songs(&txn, chunk).await?;
        }
        txn.commit().await?;
        report.removed = vanished.len();
    }
    // Albums and artists are left empty only by songs removed, moved or retagged, or by a song that lost an
    // insert race after its album was made; otherwise the whole-catalogue check is skipped.
    if report.removed + report.moved + report.updated > 0 || lost_races > 0 {
        ingest::prune_orphans(db).await?;
    }
    phases.finish = finish_started.elapsed().as_secs_f64();
    report.phases = phases;

    report.skipped_count = skipped.count;
    report.skipped = skipped.first;
    report.seconds = started.elapsed().as_secs_f64();
    report.files_per_second = (report.files as f64 / report.seconds.max(1e-6)).round();
    Ok((report, touched))
}
