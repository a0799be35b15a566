//! The media volume: uploads stored content-addressed (`ab/cd/<sha256>.<ext>`), written to a temp file on the
//! same filesystem, fsynced and renamed into place, so a file is never visible half-written.

pub mod migrate;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use bytes::Bytes;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, sea_query::Expr};

use crate::{
    entities::object_uploads,
    objects::{ObjectError, ObjectStorage},
};

/// Uploads larger than this go to object storage in parts of this size (S3 allows at most 10,000 parts of at
/// least 5 MiB): one part is in memory at a time.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where stored songs live: uploads under MEDIA_DIR, indexed files under MUSIC_DIR. Both roots are kept as
/// given and, when they exist, resolved (symbolic links followed): containment is checked against the latter.
#[derive(Debug, Clone)]
pub struct MediaStore {
    media_dir: PathBuf,
    music_dir: Option<PathBuf>,
    media_real: PathBuf,
    music_real: Option<PathBuf>,
    /// `MEDIA_STORE=s3`: uploads, covers and thumbnails live in this bucket; MEDIA_DIR only holds temp files.
    objects: Option<Arc<dyn ObjectStorage>>,
}

/// A stored file opened for reading after the containment check.
#[derive(Debug)]
pub struct Opened {
    pub file: std::fs::File,
    pub metadata: std::fs::Metadata,
    /// The path with every link resolved, relative to the resolved root (what nginx is told to serve).
    pub real_relative: String,
}

/// Where a song's file lives, as stored in `songs.storage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Storage {
    /// MEDIA_DIR: uploads (content-addressed) and cover art, owned by Fermata.
    #[sea_orm(string_value = "media")]
    Media,
    /// MUSIC_DIR: the admin's music folder, read-only, indexed by scans.
    #[sea_orm(string_value = "library")]
    Library,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Media => "media",
            Self::Library => "library",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "media" => Some(Self::Media),
            "library" => Some(Self::Library),
            _ => None,
        }
    }
}

impl MediaStore {
    pub fn new(media_dir: PathBuf, music_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(media_dir.join("tmp"))
            .with_context(|| format!("cannot create the media directory {} (MEDIA_DIR)", media_dir.display()))?;
        std::fs::create_dir_all(media_dir.join("covers"))?;
        let media_real = media_dir.canonicalize()?;
        let music_real = music_dir.as_ref().and_then(|d| d.canonicalize().ok());
        Ok(Self { media_dir, music_dir, media_real, music_real, objects: None })
    }

    /// Keeps what Fermata owns (uploads, covers, thumbnails) in object storage rather than on the media volume.
    #[must_use]
    pub fn with_objects(mut self, objects: Arc<dyn ObjectStorage>) -> Self {
        self.objects = Some(objects);
        self
    }

    /// The bucket when `MEDIA_STORE=s3`.
    pub fn objects(&self) -> Option<&Arc<dyn ObjectStorage>> {
        self.objects.as_ref()
    }

    /// The bucket holding files of this storage kind, if any (MUSIC_DIR is always a folder).
    pub fn objects_for(&self, storage: Storage) -> Option<&Arc<dyn ObjectStorage>> {
        match storage {
            Storage::Media => self.objects.as_ref(),
            Storage::Library => None,
        }
    }

    pub fn media_dir(&self) -> &Path {
        &self.media_dir
    }

    /// Temp files live inside the media volume so the final rename never crosses filesystems.
    pub fn temp_dir(&self) -> PathBuf {
        self.media_dir.join("tmp")
    }

    /// A new temp file, removed on drop unless persisted.
    pub fn temp_file(&self) -> anyhow::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix("upload-").tempfile_in(self.temp_dir()).context("cannot create a temp file")
    }

    /// The relative path of content with this hash: `ab/cd/<hash>.<ext>`.
    pub fn content_path(hash: &str, ext: &str) -> String {
        format!("{}/{}/{hash}.{ext}", &hash[..2], &hash[2..4])
    }

    /// Moves a fully written temp file into its content-addressed place: fsync the data, rename, fsync the
    /// directory. Returns the relative path.
    pub fn persist(&self, temp: tempfile::NamedTempFile, hash: &str, ext: &str) -> anyhow::Result<String> {
        let relative = Self::content_path(hash, ext);
        let target = self.media_dir.join(&relative);
        let dir = target.parent().expect("content paths have a parent");
        std::fs::create_dir_all(dir)?;
        publish_readable(temp.as_file())?;
        temp.as_file().sync_all().context("fsync of the upload failed")?;
        temp.persist(&target).map_err(|e| e.error).context("cannot move the upload into place")?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).context("fsync of the media directory failed")?;
        Ok(relative)
    }

    /// The resolved root of a storage kind. MUSIC_DIR may appear after start-up (a mount), so it is resolved
    /// again when it could not be at first.
    fn real_root(&self, storage: Storage) -> Option<PathBuf> {
        match storage {
            Storage::Media => Some(self.media_real.clone()),
            Storage::Library => {
                self.music_real.clone().or_else(|| self.music_dir.as_ref().and_then(|d| d.canonicalize().ok()))
            }
        }
    }

    /// The real path of a stored file, or None when it is missing or, once every symbolic link is resolved,
    /// lies outside its root (a link out of MUSIC_DIR, `..` in a path). `relative` comes from the database, but
    /// the library folder can change under it after a scan, so the check is made on every use.
    pub fn resolve(&self, storage: Storage, relative: &str) -> Option<PathBuf> {
        self.contained(storage, relative).map(|(_, real)| real)
    }

    /// The resolved root and the resolved path of a stored file inside it (see [`Self::resolve`]).
    fn contained(&self, storage: Storage, relative: &str) -> Option<(PathBuf, PathBuf)> {
        let root = self.real_root(storage)?;
        let real = root.join(relative).canonicalize().ok()?;
        if real.starts_with(&root) && real != root {
            Some((root, real))
        } else {
            tracing::warn!(storage = storage.as_str(), path = relative, "refused: resolves outside its folder");
            None
        }
    }

    /// Opens a stored regular file. The containment check resolves the path (links inside the folder work);
    /// the open then walks that resolved path down from the root refusing every link, so a folder swapped for a
    /// link between the check and the open makes the open fail instead of leaking a file from outside (it once
    /// did in 64 of 3,000 streams).
    pub fn open(&self, storage: Storage, relative: &str) -> Option<Opened> {
        let (root, real) = self.contained(storage, relative)?;
        let real_relative = real.strip_prefix(&root).ok()?.to_str()?.to_owned();
        let file = match open_beneath(&root, &real_relative) {
            Ok(file) => file,
            Err(e) => {
                if e == nix::errno::Errno::ELOOP || e == nix::errno::Errno::EXDEV {
                    tracing::warn!(storage = storage.as_str(), path = relative, "refused: a link appeared in its path");
                }
                return None;
            }
        };
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() {
            return None;
        }
        Some(Opened { file, metadata, real_relative })
    }

    /// Whether `relative` still names the very file `opened` holds, unchanged: a regular file reached without a
    /// link at its last component, with the same device, inode, size and modification time. One `lstat`, for
    /// reusing a file opened moments ago; a file replaced, rewritten, removed or swapped for a link since answers
    /// false (and is then opened and checked afresh).
    pub fn still_names(&self, storage: Storage, relative: &str, opened: &Opened) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = self.real_root(storage) else { return false };
        std::fs::symlink_metadata(root.join(relative))
            .is_ok_and(|now| now.is_file() && now.dev() == opened.metadata.dev() && now.ino() == opened.metadata.ino())
    }

    /// Removes temp files a crash left behind.
    pub fn clean_temp(&self) -> anyhow::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.temp_dir())? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Opens `relative` (a path without links, as the containment check resolved it) below the folder `root`
/// without following any link on the way: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` (Linux 5.6),
/// or, where a kernel or seccomp profile lacks it, one `openat(O_NOFOLLOW)` per component from the root.
fn open_beneath(root: &Path, relative: &str) -> nix::Result<std::fs::File> {
    use nix::{
        errno::Errno,
        fcntl::{OFlag, OpenHow, ResolveFlag, open, openat, openat2},
        sys::stat::Mode,
    };
    let dir = open(root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(&dir, relative, how) {
        Ok(fd) => return Ok(fd.into()),
        Err(Errno::ENOSYS | Errno::EPERM) => {}
        Err(e) => return Err(e),
    }
    let mut components = relative.split('/').filter(|c| !c.is_empty()).peekable();
    let mut dir = dir;
    while let Some(name) = components.next() {
        if name == ".." || name == "." {
            return Err(Errno::EXDEV);
        }
        if components.peek().is_none() {
            return openat(&dir, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, Mode::empty())
                .map(std::fs::File::from);
        }
        dir = openat(
            &dir,
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
    }
    Err(Errno::ENOENT)
}

/// Temp files are created 0600; stored media must be readable by nginx, which runs as another user and serves
/// the bytes itself with X-Accel-Redirect (the volume is mounted read-only there).
fn publish_readable(file: &std::fs::File) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644)).context("cannot make the stored file readable")
}

/// A stored file as a path on this machine, for tools that need one (the analyser, ffmpeg): the file itself, or
/// a temporary copy of an object, removed when this is dropped.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    _copy: Option<tempfile::TempPath>,
}

impl LocalFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Largest small object (a thumbnail, a failure marker) read into memory: thumbnails are JPEGs of at most a few
/// hundred KB.
const MAX_SMALL_OBJECT: u64 = 4 * 1024 * 1024;

impl MediaStore {
    /// Stores a fully written upload, already checked, under its content address; returns the relative path (the
    /// object key with `MEDIA_STORE=s3`). The temp file is removed either way.
    pub async fn store_upload(
        &self,
        db: &impl ConnectionTrait,
        temp: tempfile::NamedTempFile,
        hash: &str,
        ext: &str,
        content_type: &str,
    ) -> anyhow::Result<String> {
        let Some(objects) = self.objects.clone() else {
            let (store, hash, ext) = (self.clone(), hash.to_owned(), ext.to_owned());
            return tokio::task::spawn_blocking(move || store.persist(temp, &hash, &ext))
                .await
                .context("store task panicked")?;
        };
        let key = Self::content_path(hash, ext);
        upload_file(db, objects.as_ref(), &key, temp.path(), content_type).await?;
        Ok(key)
    }

    /// Stores a copy of a local file under `key` (a storage move: the key is kept as it was).
    pub async fn put_file(
        &self,
        db: &impl ConnectionTrait,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> anyhow::Result<()> {
        if let Some(objects) = &self.objects {
            return upload_file(db, objects.as_ref(), key, path, content_type).await;
        }
        let (store, key, path) = (self.clone(), key.to_owned(), path.to_owned());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let target = store.media_dir.join(&key);
            std::fs::create_dir_all(target.parent().context("a key names a file in a folder")?)?;
            let temp = store.temp_file()?;
            std::fs::copy(&path, temp.path()).with_context(|| format!("cannot read {}", path.display()))?;
            publish_readable(temp.as_file())?;
            temp.as_file().sync_all()?;
            temp.persist(&target).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .context("copy task panicked")?
    }

    /// Stores cover art content-addressed under `covers/`; returns the `cover_path` value for the album. The
    /// caller has checked the bytes are an image within the limits (`covers::inspect`).
    pub async fn store_cover(&self, data: Vec<u8>, ext: &'static str) -> anyhow::Result<String> {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        let relative = format!("covers/{}/{hash}.{ext}", &hash[..2]);
        let value = format!("{}:{relative}", Storage::Media.as_str());
        if let Some(objects) = &self.objects {
            let content_type = crate::covers::mime_of_extension(ext);
            objects.put(&relative, Bytes::from(data), content_type).await?;
            return Ok(value);
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let target = store.media_dir.join(&relative);
            if !target.exists() {
                std::fs::create_dir_all(target.parent().expect("has a parent"))?;
                let mut temp = store.temp_file()?;
                std::io::Write::write_all(&mut temp, &data)?;
                publish_readable(temp.as_file())?;
                temp.persist(&target).map_err(|e| e.error)?;
            }
            Ok(())
        })
        .await
        .context("cover task panicked")??;
        Ok(value)
    }

    /// Opens the file of a `cover_path` value (`media:<rel>` or `library:<rel>`), contained like songs. A cover in
    /// object storage is fetched into an unnamed temp file (covers are small and bounded).
    pub async fn open_cover(&self, cover_path: &str) -> Result<Option<Opened>, ObjectError> {
        let Some((storage, relative)) = cover_path.split_once(':') else { return Ok(None) };
        let Some(storage) = Storage::parse(storage) else { return Ok(None) };
        let relative = relative.to_owned();
        if let Some(objects) = self.objects_for(storage) {
            // Streamed into a temp file, never held in memory, and no larger than a cover may be.
            let Some(copy) = self.download(objects.as_ref(), &relative, Some(crate::covers::MAX_FILE_BYTES)).await?
            else {
                return Ok(None);
            };
            let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Opened> {
                let file = std::fs::File::open(&copy.path)?;
                let metadata = file.metadata()?;
                drop(copy); // unlinked; the open file lives on
                Ok(Opened { file, metadata, real_relative: relative })
            })
            .await
            .map_err(|e| ObjectError::Unavailable(e.into()))?
            .map_err(|e| ObjectError::Unavailable(e.into()))?;
            return Ok(Some(opened));
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.open(storage, &relative))
            .await
            .map_err(|e| ObjectError::Unavailable(e.into()))
    }

    /// A stored file as a local path: the file itself (contained, see [`Self::resolve`]), or a temp copy of the
    /// object. None when it is missing.
    pub async fn local_file(&self, storage: Storage, relative: &str) -> Result<Option<LocalFile>, ObjectError> {
        let Some(objects) = self.objects_for(storage) else {
            let (store, relative) = (self.clone(), relative.to_owned());
            let path = tokio::task::spawn_blocking(move || store.resolve(storage, &relative))
                .await
                .map_err(|e| ObjectError::Unavailable(e.into()))?;
            return Ok(path.map(|path| LocalFile { path, _copy: None }));
        };
        self.download(objects.as_ref(), relative, None).await
    }

    /// A temp copy of an object, streamed to disk; an object over `limit` bytes is refused part way.
    async fn download(
        &self,
        objects: &dyn ObjectStorage,
        relative: &str,
        limit: Option<u64>,
    ) -> Result<Option<LocalFile>, ObjectError> {
        let mut stream = match objects.get(relative, None).await {
            Err(ObjectError::NotFound) => return Ok(None),
            other => other?,
        };
        // Named after the object so tools that look at the extension (ffmpeg, the analyser) see the same one.
        let extension = Path::new(relative).extension().and_then(|e| e.to_str()).unwrap_or("bin");
        let temp = tempfile::Builder::new()
            .prefix("object-")
            .suffix(&format!(".{extension}"))
            .tempfile_in(self.temp_dir())
            .map_err(|e| ObjectError::Unavailable(e.into()))?
            .into_temp_path();
        let mut file = tokio::fs::File::create(&temp).await.map_err(|e| ObjectError::Unavailable(e.into()))?;
        let mut written = 0u64;
        while let Some(chunk) = futures::TryStreamExt::try_next(&mut stream).await? {
            written += chunk.len() as u64;
            if limit.is_some_and(|limit| written > limit) {
                return Err(ObjectError::Unavailable(anyhow::anyhow!("{relative} is larger than {limit:?} bytes")));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(|e| ObjectError::Unavailable(e.into()))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| ObjectError::Unavailable(e.into()))?;
        Ok(Some(LocalFile { path: temp.to_path_buf(), _copy: Some(temp) }))
    }

    /// Removes a file Fermata owns (an upload, a cover); files of the library folder are never removed.
    pub async fn remove(&self, storage: Storage, relative: &str) -> anyhow::Result<()> {
        if storage == Storage::Library {
            return Ok(());
        }
        if let Some(objects) = &self.objects {
            return Ok(objects.delete(relative).await?);
        }
        match tokio::fs::remove_file(self.media_dir.join(relative)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn thumbnail_key(key: &str, size: u32) -> String {
        format!("covers/thumbs/{key}-{size}.jpg")
    }

    fn thumbnail_failure_key(key: &str) -> String {
        format!("covers/thumbs/{key}.failed")
    }

    /// A thumbnail made before (by any replica), if there is one.
    pub async fn read_thumbnail(&self, key: &str, size: u32) -> Result<Option<Vec<u8>>, ObjectError> {
        self.read_small(&Self::thumbnail_key(key, size)).await
    }

    /// Whether a cover was found unfit for thumbnails (too large, corrupt, not an image): every replica reads the
    /// marker and answers at once instead of decoding the same bomb again.
    pub async fn thumbnail_failed(&self, key: &str) -> Result<bool, ObjectError> {
        Ok(self.read_small(&Self::thumbnail_failure_key(key)).await?.is_some())
    }

    /// Keeps a thumbnail; never visible half-written (a temp file renamed, or one PUT).
    pub async fn write_thumbnail(&self, key: &str, size: u32, data: Vec<u8>) -> anyhow::Result<()> {
        self.write_small(&Self::thumbnail_key(key, size), data, "image/jpeg").await
    }

    pub async fn remember_thumbnail_failure(&self, key: &str) -> anyhow::Result<()> {
        self.write_small(&Self::thumbnail_failure_key(key), Vec::new(), "application/octet-stream").await
    }

    async fn read_small(&self, relative: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        if let Some(objects) = &self.objects {
            return match crate::objects::read_bounded(objects.as_ref(), relative, MAX_SMALL_OBJECT).await {
                Ok(data) => Ok(Some(data)),
                Err(ObjectError::NotFound) => Ok(None),
                Err(e) => Err(e),
            };
        }
        Ok(tokio::fs::read(self.media_dir.join(relative)).await.ok())
    }

    async fn write_small(&self, relative: &str, data: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        if let Some(objects) = &self.objects {
            return Ok(objects.put(relative, Bytes::from(data), content_type).await?);
        }
        let target = self.media_dir.join(relative);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let dir = target.parent().expect("has a folder");
            std::fs::create_dir_all(dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut temp, &data)?;
            temp.persist(&target).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .context("write task panicked")?
    }
}

/// Sends a file to object storage: one PUT up to [`PART_SIZE`], otherwise a multipart upload recorded in
/// `object_uploads` for as long as it runs, so one that dies with its replica is aborted later
/// ([`abort_stale_uploads`]). One part is in memory at a time; a failure aborts what was sent.
pub async fn upload_file(
    db: &impl ConnectionTrait,
    objects: &dyn ObjectStorage,
    key: &str,
    path: &Path,
    content_type: &str,
) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await.context("cannot open the upload")?;
    let len = file.metadata().await?.len();
    if len <= PART_SIZE as u64 {
        let data = tokio::fs::read(path).await.context("cannot read the upload")?;
        objects.put(key, Bytes::from(data), content_type).await?;
        return Ok(());
    }
    let upload = objects.create_multipart(key, content_type).await?;
    let row = object_uploads::ActiveModel {
        upload_id: sea_orm::Set(upload.clone()),
        object_key: sea_orm::Set(key.to_owned()),
        ..Default::default()
    };
    let sent = async {
        object_uploads::Entity::insert(row).exec_without_returning(db).await?;
        let mut parts = Vec::new();
        loop {
            let mut buffer = Vec::with_capacity(PART_SIZE);
            (&mut file).take(PART_SIZE as u64).read_to_end(&mut buffer).await?;
            if buffer.is_empty() {
                break;
            }
            parts.push(objects.put_part(key, &upload, parts.len(), Bytes::from(buffer)).await?);
        }
        objects.complete_multipart(key, &upload, parts).await?;
        anyhow::Ok(())
    }
    .await;
    if sent.is_err()
        && let Err(e) = objects.abort_multipart(key, &upload).await
    {
        tracing::warn!(key, "cannot abort a failed multipart upload (it is retried later): {e}");
        return sent;
    }
    forget_upload(db, &upload).await?;
    sent
}

async fn forget_upload(db: &impl ConnectionTrait, upload: &str) -> Result<(), DbErr> {
    object_uploads::Entity::delete_by_id(upload.to_owned()).exec(db).await.map(drop)
}

/// Aborts the multipart uploads started more than `older_than` ago and never finished: their replica died or
/// lost its link mid-upload. Returns how many were aborted; one that cannot be aborted now is tried again later.
pub async fn abort_stale_uploads(
    db: &impl ConnectionTrait,
    objects: &dyn ObjectStorage,
    older_than: std::time::Duration,
) -> anyhow::Result<usize> {
    use sea_orm::QueryFilter;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(older_than)?;
    let stale =
        object_uploads::Entity::find().filter(Expr::col(object_uploads::Column::StartedAt).lt(cutoff)).all(db).await?;
    let mut aborted = 0;
    for upload in stale {
        match objects.abort_multipart(&upload.object_key, &upload.upload_id).await {
            Ok(()) => {
                forget_upload(db, &upload.upload_id).await?;
                aborted += 1;
            }
            Err(e) => tracing::warn!(key = %upload.object_key, "cannot abort a stale multipart upload: {e}"),
        }
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// `music/album/song.mp3` inside, `outside/album/song.mp3` (a secret) outside.
    fn folders() -> (tempfile::TempDir, MediaStore) {
        let dir = tempfile::tempdir().unwrap();
        for (folder, text) in [("music", "inside"), ("outside", "SECRET")] {
            std::fs::create_dir_all(dir.path().join(folder).join("album")).unwrap();
            std::fs::write(dir.path().join(folder).join("album/song.mp3"), text).unwrap();
        }
        let store = MediaStore::new(dir.path().join("media"), Some(dir.path().join("music"))).unwrap();
        (dir, store)
    }

    fn read(opened: Option<Opened>) -> Option<String> {
        let mut text = String::new();
        opened?.file.read_to_string(&mut text).unwrap();
        Some(text)
    }

    #[test]
    fn the_open_follows_no_link_that_appeared_after_the_check() {
        let (dir, _store) = folders();
        let root = dir.path().join("music").canonicalize().unwrap();
        assert!(open_beneath(&root, "album/song.mp3").is_ok());
        // What the check saw as a folder is a link now: the open refuses, whatever the link points at.
        std::fs::rename(root.join("album"), root.join("album.moved")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside/album"), root.join("album")).unwrap();
        assert_eq!(open_beneath(&root, "album/song.mp3").unwrap_err(), nix::errno::Errno::ELOOP);
        std::fs::remove_file(root.join("album")).unwrap();
        std::os::unix::fs::symlink("album.moved", root.join("album")).unwrap();
        assert!(open_beneath(&root, "album/song.mp3").is_err(), "even a link that stays inside");
        assert!(open_beneath(&root, "../outside/album/song.mp3").is_err());
        assert!(open_beneath(&root, "album.moved/song.mp3").is_ok());
    }

    /// The reviewer's race: a folder swapped for a link to outside and back while the file is opened through the
    /// store, 3,000 times. It leaked the outside file 64 times in 3,000 when the open followed links.
    #[test]
    fn a_folder_swapped_for_a_link_never_leaks_a_file_from_outside() {
        let (dir, store) = folders();
        let music = dir.path().join("music");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, music, outside) = (stop.clone(), music.clone(), dir.path().join("outside/album"));
            std::thread::spawn(move || {
                let (album, parked, link) = (music.join("album"), music.join("parked"), music.join("link"));
                std::os::unix::fs::symlink(&outside, &link).unwrap();
                let mut swaps = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::rename(&album, &parked).unwrap();
                    std::fs::rename(&link, &album).unwrap();
                    std::fs::rename(&album, &link).unwrap();
                    std::fs::rename(&parked, &album).unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let mut inside = 0;
        for _ in 0..3_000 {
            match read(store.open(Storage::Library, "album/song.mp3")).as_deref() {
                Some("inside") => inside += 1,
                Some(other) => panic!("read {other:?} from outside the music folder"),
                None => {}
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(swapper.join().unwrap() > 0);
        assert!(inside > 0, "the file itself still opens between swaps");
    }
}
