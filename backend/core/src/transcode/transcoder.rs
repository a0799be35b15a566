//! The replica's ffmpeg processes.
//!
//! A transcode from the start is written to a temp file on the media volume and read back as it grows: by the
//! request that started it and by every later request for the same rendition on this replica (one ffmpeg, however
//! many listeners). When ffmpeg finishes, the file is moved into the cache and served like any file from then on.
//! MP3 and AAC only get their gapless headers (LAME's delay and padding, MP4's edit list) in a file ffmpeg can seek
//! back into: MP3 is written straight to the temp file, and AAC to two outputs of one encoder, ADTS for listeners
//! while it runs and the MP4 that is kept. A transcode that starts part-way (`offset_secs`) is piped to its one
//! listener and never kept. When no listener is left, ffmpeg is killed and its files removed.
//!
//! Bounds: at most `max_processes` ffmpeg processes on the replica and `max_per_user` started by one user;
//! past either, [`Error::Busy`] (429 with Retry-After). Joining a running transcode or reading a finished one
//! costs no process.

use std::{
    collections::HashMap,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use sea_orm::DatabaseConnection;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinHandle,
};
use uuid::Uuid;

use super::{Format, Rendition, cache, demuxer};
use crate::{error::Error, tags::Codec};

/// How often a running transcode's file is measured for its listeners (and its listeners counted).
const POLL: Duration = Duration::from_millis(20);
/// What a new listener waits for: a few hundred milliseconds of audio, written in a few milliseconds.
const FIRST_BYTES: u64 = 4096;
/// What listeners read at a time.
const CHUNK: usize = 16 * 1024;
/// How long a client is asked to wait when every slot is taken: a song transcodes in a few seconds.
const RETRY_AFTER_SECS: u64 = 5;
/// A temp file untouched this long belongs to no running transcode (an ffmpeg writes every few milliseconds).
const STALE_TEMP: Duration = Duration::from_secs(600);
/// A served file's last use is written at most this often per replica.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Settings {
    /// The ffmpeg binary.
    pub ffmpeg: PathBuf,
    /// ffmpeg processes this replica runs at once.
    pub max_processes: usize,
    /// ffmpeg processes one user's requests may run at once on this replica.
    pub max_per_user: usize,
    /// The size the cache of finished transcodes is kept under, for all replicas together.
    pub cache_bytes: u64,
    /// How long a piped transcode's listener may read nothing before ffmpeg is ended and its slots given back (a
    /// paused player asks again with a new offset when it resumes).
    pub stalled_after: Duration,
}

/// The stored file a transcode reads.
#[derive(Debug, Clone)]
pub struct Source {
    /// Resolved and contained in its folder (`MediaStore::resolve`).
    pub path: PathBuf,
    pub codec: Codec,
    pub content_hash: String,
}

/// What a listener gets.
pub enum Output {
    /// A finished rendition: a file on the media volume (relative to MEDIA_DIR), served like a stored song.
    Cached { relative: String, content_type: &'static str },
    /// A running transcode, read as it is made: no length, no ranges.
    Live { content_type: &'static str, body: BoxStream<'static, std::io::Result<Bytes>> },
}

/// What `/metrics` reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub running: usize,
    pub started: u64,
    pub joined: u64,
    pub failed: u64,
}

#[derive(Clone)]
pub struct Transcoder {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    db: DatabaseConnection,
    media_dir: PathBuf,
    /// MEDIA_STORE=s3: finished renditions are kept in the bucket (under the same relative paths), so every
    /// replica on every host finds them; the temp files stay on this replica's MEDIA_DIR.
    objects: Option<Arc<dyn crate::objects::ObjectStorage>>,
    temp_dir: PathBuf,
    slots: Arc<Semaphore>,
    users: Arc<Mutex<HashMap<Uuid, usize>>>,
    /// Transcodes from the start, by their cache path: what a second listener joins.
    running: Mutex<HashMap<String, Running>>,
    started: AtomicU64,
    joined: AtomicU64,
    failed: AtomicU64,
    touched: moka::sync::Cache<String, ()>,
}

struct Running {
    progress: Arc<watch::Sender<Progress>>,
    /// The file listeners read (the temp file, or the ADTS one for AAC).
    live: PathBuf,
    content_type: &'static str,
}

#[derive(Debug, Clone)]
struct Progress {
    written: u64,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Running,
    Done,
    Failed(Arc<str>),
}

/// One of a user's process slots, given back when dropped.
struct UserSlot {
    users: Arc<Mutex<HashMap<Uuid, usize>>>,
    user: Uuid,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = users.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                users.remove(&self.user);
            }
        }
    }
}

/// The slots a new ffmpeg holds until it ends.
struct Slots {
    _replica: OwnedSemaphorePermit,
    _user: UserSlot,
}

impl Transcoder {
    /// Makes the cache folders under `media_dir` and removes temp files no running transcode can own. With
    /// `objects` (MEDIA_STORE=s3) finished renditions are kept in the bucket instead of under `media_dir`.
    pub fn new(
        settings: Settings,
        db: DatabaseConnection,
        media_dir: &Path,
        objects: Option<Arc<dyn crate::objects::ObjectStorage>>,
    ) -> std::io::Result<Self> {
        let temp_dir = media_dir.join("transcodes").join("tmp");
        std::fs::create_dir_all(&temp_dir)?;
        let removed = remove_stale(&temp_dir);
        if removed > 0 {
            tracing::info!(removed, "removed temp files of transcodes that never finished");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(settings.max_processes.max(1))),
                settings,
                db,
                media_dir: media_dir.to_owned(),
                objects,
                temp_dir,
                users: Arc::default(),
                running: Mutex::default(),
                started: AtomicU64::new(0),
                joined: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                touched: moka::sync::Cache::builder().max_capacity(10_000).time_to_live(TOUCH_EVERY).build(),
            }),
        })
    }

    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        Stats {
            running: inner.settings.max_processes.max(1) - inner.slots.available_permits(),
            started: inner.started.load(Ordering::Relaxed),
            joined: inner.joined.load(Ordering::Relaxed),
            failed: inner.failed.load(Ordering::Relaxed),
        }
    }

    /// Where a finished rendition lives, relative to MEDIA_DIR: named by the source's content hash, so every
    /// replica finds it and a changed file never gets an old transcode.
    pub fn relative_path(content_hash: &str, rendition: Rendition) -> String {
        let prefix = content_hash.get(..2).unwrap_or("00");
        format!("transcodes/{prefix}/{content_hash}-{}.{}", rendition.bitrate, rendition.format.suffix())
    }

    /// The finished rendition, when it is in the cache (its last use noted).
    pub async fn cached(&self, content_hash: &str, rendition: Rendition) -> Option<String> {
        let relative = Self::relative_path(content_hash, rendition);
        let found = match &self.inner.objects {
            Some(objects) => objects.head(&relative).await.is_ok(),
            None => tokio::fs::metadata(self.inner.media_dir.join(&relative)).await.is_ok_and(|m| m.is_file()),
        };
        if !found {
            return None;
        }
        if self.inner.touched.get(&relative).is_none() {
            self.inner.touched.insert(relative.clone(), ());
            let (db, path) = (self.inner.db.clone(), relative.clone());
            tokio::spawn(async move {
                if let Err(e) = cache::touch(&db, &path).await {
                    tracing::warn!(path, "cannot note a transcode's use: {e}");
                }
            });
        }
        Some(relative)
    }

    /// The rendition for `user`: from the cache, by joining the transcode that is making it, or from a new
    /// ffmpeg. Waits for the first bytes, so a source ffmpeg cannot read is an error, not an empty 200.
    pub async fn open(
        &self,
        user: Uuid,
        source: Source,
        rendition: Rendition,
        offset_secs: u32,
    ) -> Result<Output, Error> {
        if offset_secs > 0 {
            return self.piped(user, &source, rendition, offset_secs).await;
        }
        let relative = Self::relative_path(&source.content_hash, rendition);
        if let Some(relative) = self.cached(&source.content_hash, rendition).await {
            return Ok(Output::Cached { relative, content_type: rendition.format.content_type() });
        }
        let (live, content_type, progress) = {
            let mut running = self.inner.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match running.get(&relative) {
                Some(run) => {
                    self.inner.joined.fetch_add(1, Ordering::Relaxed);
                    (open_file(&run.live)?, run.content_type, run.progress.subscribe())
                }
                None => {
                    let started = self.start(user, &source, rendition, &relative)?;
                    let follow = (open_file(&started.live)?, started.content_type, started.progress.subscribe());
                    running.insert(relative, started);
                    follow
                }
            }
        };
        first_bytes(progress.clone()).await?;
        Ok(Output::Live { content_type, body: follow(live, progress) })
    }

    /// Takes a process slot of the replica and one of the user's, or says how long to wait.
    fn slots(&self, user: Uuid) -> Result<Slots, Error> {
        let busy = |message: String| Error::Busy { message, retry_after_secs: RETRY_AFTER_SECS };
        let per_user = self.per_user();
        if self.inner.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&user).copied().unwrap_or(0)
            >= per_user
        {
            return Err(busy(format!("you already have {per_user} transcodes running; finish one first")));
        }
        let replica = self.inner.slots.clone().try_acquire_owned().map_err(|_| {
            busy(format!("all {} transcoding slots of this server are in use", self.inner.settings.max_processes))
        })?;
        let mut users = self.inner.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = users.entry(user).or_insert(0);
        if *count >= per_user {
            return Err(busy(format!("you already have {count} transcodes running; finish one first")));
        }
        *count += 1;
        Ok(Slots { _replica: replica, _user: UserSlot { users: self.inner.users.clone(), user } })
    }

    /// The processes one user may run: the setting, but never every slot of the replica while it has more than
    /// one (with two slots and a cap of two, one listener's two stalled streams once held them all).
    fn per_user(&self) -> usize {
        let slots = self.inner.settings.max_processes.max(1);
        self.inner.settings.max_per_user.max(1).min(if slots > 1 { slots - 1 } else { 1 })
    }

    /// Starts ffmpeg on a transcode from the start, and its supervisor. Called under the `running` lock, so two
    /// requests for one rendition never start two.
    fn start(&self, user: Uuid, source: &Source, rendition: Rendition, relative: &str) -> Result<Running, Error> {
        let slots = self.slots(user)?;
        let stem = format!("{}.{}", relative.rsplit('/').next().unwrap_or(relative), Uuid::new_v4().simple());
        let part = self.inner.temp_dir.join(format!("{stem}.part"));
        let (live, outputs) = match rendition.format {
            Format::Opus => (part.clone(), vec!["-f".into(), "ogg".into(), format!("{stem}.part")]),
            Format::Mp3 => (part.clone(), vec!["-f".into(), "mp3".into(), format!("{stem}.part")]),
            // One encoder, two files: ADTS to read while it runs, MP4 (edit list for the encoder delay, moov
            // first so it plays from a range request) to keep.
            Format::Aac => (
                self.inner.temp_dir.join(format!("{stem}.live")),
                vec![
                    "-flags".into(),
                    "+global_header".into(),
                    "-f".into(),
                    "tee".into(),
                    format!("[f=adts]{stem}.live|[f=ipod:movflags=+faststart]{stem}.part"),
                ],
            ),
        };
        // Made here, so listeners can open it before ffmpeg starts writing (ffmpeg truncates the same file).
        std::fs::File::create(&live).map_err(|e| anyhow::anyhow!("cannot make a transcode's temp file: {e}"))?;
        let mut command = self.command(source, rendition, 0);
        command.args(outputs).stdout(Stdio::null());
        let mut child = command.spawn().map_err(|e| spawn_failed(&self.inner.settings.ffmpeg, &e))?;
        self.inner.started.fetch_add(1, Ordering::Relaxed);
        let stderr = log_stderr(&mut child, self.scrubber(source));
        let (progress, _) = watch::channel(Progress { written: 0, state: State::Running });
        let progress = Arc::new(progress);
        let run = Supervised {
            inner: self.inner.clone(),
            relative: relative.to_owned(),
            child,
            progress: progress.clone(),
            live: live.clone(),
            part,
            source_hash: source.content_hash.clone(),
            rendition,
            stderr,
            slots,
        };
        tokio::spawn(run.supervise());
        Ok(Running { progress, live, content_type: rendition.format.live_content_type() })
    }

    /// A transcode from `offset_secs` in, piped to its one listener and never kept. ffmpeg dies with the body.
    async fn piped(
        &self,
        user: Uuid,
        source: &Source,
        rendition: Rendition,
        offset_secs: u32,
    ) -> Result<Output, Error> {
        let slots = self.slots(user)?;
        let muxer = match rendition.format {
            Format::Opus => "ogg",
            Format::Mp3 => "mp3",
            Format::Aac => "adts",
        };
        let mut command = self.command(source, rendition, offset_secs);
        command.args(["-f", muxer, "pipe:1"]).stdout(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| spawn_failed(&self.inner.settings.ffmpeg, &e))?;
        self.inner.started.fetch_add(1, Ordering::Relaxed);
        let stderr = log_stderr(&mut child, self.scrubber(source));
        let mut stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("ffmpeg's output was not piped"))?;
        let mut first = vec![0; CHUNK];
        let read = stdout.read(&mut first).await.map_err(anyhow::Error::from)?;
        if read == 0 {
            let _ = child.wait().await;
            let reason = stderr.await.unwrap_or_default();
            self.inner.failed.fetch_add(1, Ordering::Relaxed);
            return Err(failed(&reason));
        }
        first.truncate(read);
        let rest = tokio_util::io::ReaderStream::with_capacity(stdout, CHUNK);
        // The child (killed on drop) and the slots live as long as the body, or until the listener has read
        // nothing for `stalled_after`: a watchdog then takes them (ffmpeg killed, slots free) and the body ends.
        let keep = Arc::new(Mutex::new(Some((child, slots))));
        let read_at = Arc::new(Mutex::new(tokio::time::Instant::now()));
        tokio::spawn(watch_stall(Arc::downgrade(&keep), read_at.clone(), self.inner.settings.stalled_after));
        let body = futures::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest).map(move |chunk| {
            *read_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
            let _ = &keep;
            chunk
        });
        Ok(Output::Live { content_type: rendition.format.live_content_type(), body: body.boxed() })
    }

    /// ffmpeg reading `source` and encoding `rendition`; the caller adds the outputs. The input's demuxer is
    /// named (never probed) and only local files may be opened.
    fn command(&self, source: &Source, rendition: Rendition, offset_secs: u32) -> Command {
        let mut command = Command::new(&self.inner.settings.ffmpeg);
        command.current_dir(&self.inner.temp_dir).stdin(Stdio::null()).stderr(Stdio::piped());
        command.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
        if offset_secs > 0 {
            command.args(["-ss", &offset_secs.to_string()]);
        }
        let extension = source.path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        command.args(["-protocol_whitelist", "file", "-f", demuxer(source.codec, &extension), "-i"]);
        let mut input = OsString::from("file:");
        input.push(&source.path);
        command.arg(input);
        command.args(["-map", "0:a:0", "-map_metadata", "-1", "-vn", "-sn", "-dn"]);
        // A source with no decodable audio is a failure, not an empty file that would be kept.
        command.args(["-abort_on", "empty_output_stream"]);
        command.args(rendition.format.encoder_args(rendition.bitrate));
        command
    }

    /// Takes server paths out of ffmpeg's messages before they reach a client.
    fn scrubber(&self, source: &Source) -> Scrubber {
        Scrubber { paths: vec![source.path.display().to_string(), self.inner.temp_dir.display().to_string()] }
    }
}

/// Ends a piped transcode whose listener has read nothing for `stalled`; gone with the body.
async fn watch_stall(
    keep: std::sync::Weak<Mutex<Option<(Child, Slots)>>>,
    read_at: Arc<Mutex<tokio::time::Instant>>,
    stalled: Duration,
) {
    loop {
        let last = *read_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokio::time::sleep_until(last + stalled).await;
        let Some(keep) = keep.upgrade() else { return };
        let idle = read_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner).elapsed();
        if idle >= stalled {
            let taken = keep.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some((mut child, slots)) = taken {
                let _ = child.start_kill();
                drop(slots);
                tracing::info!("a transcode's listener read nothing for {stalled:?}: ended");
                let _ = child.wait().await;
            }
            return;
        }
    }
}

struct Scrubber {
    paths: Vec<String>,
}

impl Scrubber {
    fn scrub(&self, line: &str) -> String {
        let mut line = line.replace("file:", "");
        for path in &self.paths {
            line = line.replace(path.as_str(), "the stored file");
        }
        line
    }
}

/// A transcode from the start, watched until it ends.
struct Supervised {
    inner: Arc<Inner>,
    relative: String,
    child: Child,
    progress: Arc<watch::Sender<Progress>>,
    live: PathBuf,
    part: PathBuf,
    source_hash: String,
    rendition: Rendition,
    stderr: JoinHandle<String>,
    slots: Slots,
}

impl Supervised {
    async fn supervise(mut self) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let status = loop {
            tokio::select! {
                status = self.child.wait() => break status,
                _ = tick.tick() => {
                    self.publish_size().await;
                    if self.progress.borrow().written > self.inner.settings.cache_bytes {
                        let _ = self.child.kill().await;
                        self.forget();
                        self.remove_temp().await;
                        self.inner.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(path = %self.relative, "transcode stopped: larger than the whole transcode cache");
                        self.progress.send_modify(|p| p.state = State::Failed("the transcode is larger than the server's transcode cache".into()));
                        return;
                    }
                    if self.abandoned() {
                        let _ = self.child.kill().await;
                        self.remove_temp().await;
                        tracing::debug!(path = %self.relative, "transcode stopped: its last listener went away");
                        return;
                    }
                }
            }
        };
        self.publish_size().await;
        let reason = (&mut self.stderr).await.unwrap_or_default();
        let finished = match status {
            Ok(status) if status.success() => self.keep().await,
            Ok(status) => Err(if reason.is_empty() { format!("ffmpeg exited with {status}") } else { reason }),
            Err(e) => Err(format!("ffmpeg could not be waited for: {e}")),
        };
        self.forget();
        match finished {
            Ok(()) => self.progress.send_modify(|p| p.state = State::Done),
            Err(reason) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %self.relative, "transcode failed: {reason}");
                self.progress.send_modify(|p| p.state = State::Failed(reason.into()));
            }
        }
        // Listeners hold the files open; the names can go.
        self.remove_temp().await;
        drop(self.slots);
    }

    async fn publish_size(&self) {
        if let Ok(metadata) = tokio::fs::metadata(&self.live).await {
            let written = metadata.len();
            self.progress.send_if_modified(|p| std::mem::replace(&mut p.written, written) != written);
        }
    }

    /// No listener is left: taken out of `running` under its lock, so nobody joins it after this answer.
    fn abandoned(&self) -> bool {
        if self.progress.receiver_count() > 0 {
            return false;
        }
        let mut running = self.inner.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.progress.receiver_count() > 0 {
            return false;
        }
        running.remove(&self.relative);
        true
    }

    /// What the other transcodes running on this replica have written so far.
    fn running_bytes(&self) -> u64 {
        let running = self.inner.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.iter().filter(|(path, _)| **path != self.relative).map(|(_, r)| r.progress.borrow().written).sum()
    }

    fn forget(&self) {
        self.inner.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.relative);
    }

    /// Moves the finished file into the cache, indexes it and evicts what no longer fits.
    async fn keep(&self) -> Result<(), String> {
        let written = tokio::fs::metadata(&self.part).await.map_err(|e| e.to_string())?.len();
        if written > self.inner.settings.cache_bytes {
            // Served to its listeners (they hold the file open), but keeping it would evict everything else.
            tracing::info!(path = %self.relative, written, "a finished transcode larger than the cache is not kept");
            return Ok(());
        }
        let size = match &self.inner.objects {
            Some(objects) => self.keep_in(objects.as_ref()).await?,
            None => self.keep_on_disk().await?,
        };
        if size == 0 {
            return Err("ffmpeg wrote nothing".into());
        }
        let db = &self.inner.db;
        let evicted = async {
            cache::record(db, &self.relative, &self.source_hash, self.rendition, size).await?;
            // Room is kept for what this replica's running transcodes are writing.
            cache::evict(db, self.inner.settings.cache_bytes.saturating_sub(self.running_bytes())).await
        };
        match evicted.await {
            Ok(paths) => {
                for path in paths {
                    let removed = match &self.inner.objects {
                        Some(objects) => objects.delete(&path).await.map_err(|e| e.to_string()),
                        None => match tokio::fs::remove_file(self.inner.media_dir.join(&path)).await {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                            _ => Ok(()),
                        },
                    };
                    match removed {
                        Ok(()) => tracing::debug!(path, "evicted from the transcode cache"),
                        Err(e) => tracing::warn!(path, "cannot evict a transcode: {e}"),
                    }
                }
            }
            // The file is made and served; only the bookkeeping is late. The next finished transcode evicts.
            Err(e) => tracing::warn!(path = %self.relative, "cannot index a finished transcode: {e}"),
        }
        Ok(())
    }

    /// Uploads the finished file to the bucket; returns its size.
    async fn keep_in(&self, objects: &dyn crate::objects::ObjectStorage) -> Result<u64, String> {
        let size = tokio::fs::metadata(&self.part).await.map_err(|e| e.to_string())?.len();
        if size > 0 {
            let content_type = self.rendition.format.content_type();
            crate::media::upload_file(&self.inner.db, objects, &self.relative, &self.part, content_type)
                .await
                .map_err(|e| format!("cannot keep the finished transcode: {e:#}"))?;
        }
        Ok(size)
    }

    /// Moves the finished file into the cache folder; returns its size.
    async fn keep_on_disk(&self) -> Result<u64, String> {
        let target = self.inner.media_dir.join(&self.relative);
        let (part, dir) = (self.part.clone(), target.parent().map(Path::to_owned));
        tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let file = std::fs::File::open(&part)?;
            file.sync_all()?;
            let size = file.metadata()?.len();
            if let Some(dir) = dir {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&part, &target)?;
            Ok(size)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| format!("cannot keep the finished transcode: {e}")))
    }

    async fn remove_temp(&self) {
        for path in [&self.part, &self.live] {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %path.display(), "cannot remove a transcode's temp file: {e}"),
            }
        }
    }
}

fn open_file(path: &Path) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read the running transcode: {e}").into())
}

/// Waits until the transcode has written its first audio (more than a container's header: a source ffmpeg
/// cannot decode fails before that), or ended.
async fn first_bytes(mut progress: watch::Receiver<Progress>) -> Result<(), Error> {
    let progress = progress
        .wait_for(|p| p.written >= FIRST_BYTES || !matches!(p.state, State::Running))
        .await
        .map_err(|_| anyhow::anyhow!("the transcode ended without a word"))?;
    match &progress.state {
        State::Failed(reason) => Err(failed(reason)),
        _ => Ok(()),
    }
}

/// The file of a running transcode from its start, read as it grows, until it is done.
fn follow(file: std::fs::File, progress: watch::Receiver<Progress>) -> BoxStream<'static, std::io::Result<Bytes>> {
    let file = tokio::fs::File::from_std(file);
    let buffer = vec![0; CHUNK];
    futures::stream::try_unfold((file, progress, buffer), |(mut file, mut progress, mut buffer)| async move {
        loop {
            let read = file.read(&mut buffer).await?;
            if read > 0 {
                let chunk = Bytes::copy_from_slice(&buffer[..read]);
                return Ok(Some((chunk, (file, progress, buffer))));
            }
            let state = progress.borrow_and_update().state.clone();
            match state {
                // Done is sent once the file is complete: the read above reached its end.
                State::Done => return Ok(None),
                State::Failed(reason) => return Err(std::io::Error::other(format!("the transcode failed: {reason}"))),
                State::Running => {
                    if progress.changed().await.is_err() {
                        return Err(std::io::Error::other("the transcode stopped"));
                    }
                }
            }
        }
    })
    .boxed()
}

/// Reads ffmpeg's messages: each logged at debug, the last kept (scrubbed of paths) as the reason of a failure.
fn log_stderr(child: &mut Child, scrubber: Scrubber) -> JoinHandle<String> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        let Some(stderr) = stderr else { return String::new() };
        let mut lines = BufReader::new(stderr).lines();
        let mut last = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(target: "ffmpeg", "{line}");
            if !line.trim().is_empty() {
                last = scrubber.scrub(line.trim()).chars().take(300).collect();
            }
        }
        last
    })
}

fn failed(reason: &str) -> Error {
    let reason = if reason.is_empty() { "ffmpeg gave no reason" } else { reason };
    Error::Refused(format!("the song could not be transcoded: {reason}"))
}

fn spawn_failed(ffmpeg: &Path, e: &std::io::Error) -> Error {
    anyhow::anyhow!("cannot start {} (FFMPEG): {e}", ffmpeg.display()).into()
}

/// Removes temp files older than a running transcode could leave them; returns how many.
fn remove_stale(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let stale = |entry: &std::fs::DirEntry| {
        entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP)
    };
    entries.flatten().filter(|e| stale(e) && std::fs::remove_file(e.path()).is_ok()).count()
}
