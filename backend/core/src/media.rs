//! The media volume: uploads stored content-addressed (`ab/cd/<sha256>.<ext>`), written to a temp file on the
//! same filesystem, fsynced and renamed into place, so a file is never visible half-written.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where stored songs live: uploads under MEDIA_DIR, indexed files under MUSIC_DIR. Both roots are kept as
/// given and, when they exist, resolved (symbolic links followed): containment is checked against the latter.
#[derive(Debug, Clone)]
pub struct MediaStore {
    media_dir: PathBuf,
    music_dir: Option<PathBuf>,
    media_real: PathBuf,
    music_real: Option<PathBuf>,
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
        Ok(Self { media_dir, music_dir, media_real, music_real })
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

    /// Opens a stored regular file after the containment check, without following a link swapped in for the
    /// last component between the check and the open.
    pub fn open(&self, storage: Storage, relative: &str) -> Option<Opened> {
        use std::os::unix::fs::OpenOptionsExt;
        let (root, real) = self.contained(storage, relative)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&real)
            .ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() {
            return None;
        }
        let real_relative = real.strip_prefix(&root).ok()?.to_str()?.to_owned();
        Some(Opened { file, metadata, real_relative })
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

/// Temp files are created 0600; stored media must be readable by nginx, which runs as another user and serves
/// the bytes itself with X-Accel-Redirect (the volume is mounted read-only there).
fn publish_readable(file: &std::fs::File) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644)).context("cannot make the stored file readable")
}

impl MediaStore {
    /// Stores cover art content-addressed under `covers/`; returns the `cover_path` value for the album. The
    /// caller has checked the bytes are an image within the limits (`covers::inspect`).
    pub fn store_cover(&self, data: &[u8], ext: &str) -> anyhow::Result<String> {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
        let relative = format!("covers/{}/{hash}.{ext}", &hash[..2]);
        let target = self.media_dir.join(&relative);
        if !target.exists() {
            std::fs::create_dir_all(target.parent().expect("has a parent"))?;
            let mut temp = self.temp_file()?;
            std::io::Write::write_all(&mut temp, data)?;
            publish_readable(temp.as_file())?;
            temp.persist(&target).map_err(|e| e.error)?;
        }
        Ok(format!("{}:{relative}", Storage::Media.as_str()))
    }

    /// Opens the file of a `cover_path` value (`media:<rel>` or `library:<rel>`), contained like songs.
    pub fn open_cover(&self, cover_path: &str) -> Option<Opened> {
        let (storage, relative) = cover_path.split_once(':')?;
        self.open(Storage::parse(storage)?, relative)
    }

    pub fn thumbnail_path(&self, key: &str, size: u32) -> PathBuf {
        self.media_dir.join("covers/thumbs").join(format!("{key}-{size}.jpg"))
    }

    /// The marker left when a cover cannot be made into thumbnails (too large, corrupt, not an image): every
    /// replica reads it and answers at once instead of decoding the same bomb again.
    pub fn thumbnail_failure_path(&self, key: &str) -> PathBuf {
        self.media_dir.join("covers/thumbs").join(format!("{key}.failed"))
    }
}
