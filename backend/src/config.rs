//! Settings from environment variables and flags.
//!
//! Every setting is a clap argument with an `env` fallback, so a bad value stops start-up with clap's
//! message, which names the variable (the value name is the variable's name). `.env.example` lists them all.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MediaDelivery {
    /// The backend sends the audio bytes itself.
    Direct,
    /// The backend authorises and answers with `X-Accel-Redirect`; nginx sends the bytes.
    #[value(name = "x-accel")]
    XAccel,
}

/// Where Fermata keeps what it owns (uploads, covers, thumbnails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MediaStoreKind {
    /// The media volume (MEDIA_DIR): every replica must see the same folder.
    Fs,
    /// An S3-compatible bucket (S3_*): replicas share nothing but it and PostgreSQL.
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// Every setting of the server. Flags win over environment variables, which win over the defaults.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL. Without it, `serve` starts a private cluster under $DATA_DIR/postgres.
    /// Secret (it holds the database password): never printed, in logs or `Debug`.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", global = true, hide_env_values = true, value_parser = secret)]
    pub database_url: Option<SecretString>,

    /// The database password, put into DATABASE_URL percent-encoded: a generated password may hold `/`, `@` or
    /// `#`, which break a URL pasted together by hand. Secret: never printed.
    #[arg(long, env = "DATABASE_PASSWORD", value_name = "DATABASE_PASSWORD", global = true, hide_env_values = true, value_parser = secret)]
    pub database_password: Option<SecretString>,

    /// Where Fermata keeps its state (the private database, media when MEDIA_DIR is unset).
    #[arg(long, env = "DATA_DIR", value_name = "DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Address the HTTP server listens on: this machine only unless told otherwise (the container image sets
    /// 0.0.0.0:8080 for nginx to reach it), so a laptop running `./scripts/run` is no open server on its network.
    #[arg(long, env = "BIND", value_name = "BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: SocketAddr,

    /// The URL users reach Fermata at; its origin is the only one allowed to make cookie-authenticated writes,
    /// and an https URL turns on Secure, `__Host-` cookies.
    #[arg(long, env = "PUBLIC_URL", value_name = "PUBLIC_URL", default_value = "http://localhost:8080", global = true)]
    pub public_url: Url,

    /// Where uploads are stored, content-addressed. Default: $DATA_DIR/media.
    #[arg(long, env = "MEDIA_DIR", value_name = "MEDIA_DIR", global = true)]
    pub media_dir: Option<PathBuf>,

    /// `fs`: uploads on the media volume (MEDIA_DIR); `s3`: in an S3-compatible bucket (S3_ENDPOINT, S3_BUCKET, …),
    /// MEDIA_DIR then only holds temp files.
    #[arg(long, env = "MEDIA_STORE", value_name = "MEDIA_STORE", value_enum, default_value = "fs", global = true)]
    pub media_store: MediaStoreKind,

    /// The S3 endpoint (`http://minio:9000`); unset for AWS S3 itself, where S3_REGION picks the host.
    #[arg(long, env = "S3_ENDPOINT", value_name = "S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<Url>,

    /// The bucket's region (any value for most self-hosted servers).
    #[arg(long, env = "S3_REGION", value_name = "S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,

    /// The bucket (it must exist).
    #[arg(long, env = "S3_BUCKET", value_name = "S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,

    /// Keys go under this prefix, so the bucket may hold other things.
    #[arg(long, env = "S3_PREFIX", value_name = "S3_PREFIX", default_value = "fermata", global = true)]
    pub s3_prefix: String,

    /// The access key id.
    #[arg(long, env = "S3_ACCESS_KEY_ID", value_name = "S3_ACCESS_KEY_ID", global = true)]
    pub s3_access_key_id: Option<String>,

    /// The secret key (environment only, never a flag).
    #[arg(skip = std::env::var("S3_SECRET_ACCESS_KEY").ok().filter(|k| !k.is_empty()).map(SecretString::from))]
    pub s3_secret_access_key: Option<SecretString>,

    /// `true`: `http://host/bucket/key` (MinIO, Garage, Ceph and most self-hosted servers, and what nginx in front
    /// needs); `false`: `http://bucket.host/key` (AWS's default).
    #[arg(long, env = "S3_PATH_STYLE", value_name = "S3_PATH_STYLE", default_value = "true", action = clap::ArgAction::Set, global = true)]
    pub s3_path_style: bool,

    /// Seconds a presigned URL handed to nginx stays valid (nginx remembers an authorisation for 10 s).
    #[arg(long, env = "S3_PRESIGN_SECS", value_name = "S3_PRESIGN_SECS", default_value = "300", value_parser = clap::value_parser!(u64).range(30..=604_800), global = true)]
    pub s3_presign_secs: u64,

    /// An existing music folder to index in place (read-only is fine).
    #[arg(long, env = "MUSIC_DIR", value_name = "MUSIC_DIR", global = true)]
    pub music_dir: Option<PathBuf>,

    /// The built web player (frontend/dist) to serve at `/`; unset when nginx serves it.
    #[arg(long, env = "FRONTEND_DIR", value_name = "FRONTEND_DIR", global = true)]
    pub frontend_dir: Option<PathBuf>,

    /// `direct`: the backend sends audio bytes; `x-accel`: nginx sends them after the backend authorises.
    #[arg(
        long,
        env = "MEDIA_DELIVERY",
        value_name = "MEDIA_DELIVERY",
        value_enum,
        default_value = "direct",
        global = true
    )]
    pub media_delivery: MediaDelivery,

    /// Largest upload request, in bytes: one file or several together (enforced while streaming; nginx in front
    /// holds the same number as `client_max_body_size`).
    #[arg(long, env = "MAX_UPLOAD_BYTES", value_name = "MAX_UPLOAD_BYTES", default_value = "2147483648", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_upload_bytes: u64,

    /// `open`: anyone may register a listener account; `closed`: only admins create accounts.
    #[arg(long, env = "REGISTRATION", value_name = "REGISTRATION", value_enum, default_value = "open", global = true)]
    pub registration: Registration,

    /// `true`: Subsonic's `getNowPlaying` shows every listener's players; `false`: each listener sees their own.
    #[arg(long, env = "NOW_PLAYING_SHARED", value_name = "NOW_PLAYING_SHARED", default_value = "false", action = clap::ArgAction::Set, global = true)]
    pub now_playing_shared: bool,

    /// Resident memory (MiB) past which heavy work (uploads, scans) is refused with 503. 0 turns the guard off.
    #[arg(
        long,
        env = "MEMORY_SOFT_LIMIT_MB",
        value_name = "MEMORY_SOFT_LIMIT_MB",
        default_value = "256",
        global = true
    )]
    pub memory_soft_limit_mb: u64,

    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// With FERMATA_ADMIN_PASSWORD: an admin created at start-up when no admin exists yet.
    #[arg(long, env = "FERMATA_ADMIN_USERNAME", value_name = "FERMATA_ADMIN_USERNAME", global = true)]
    pub admin_username: Option<String>,

    /// Password of FERMATA_ADMIN_USERNAME (environment only, never a flag, so it stays out of `ps`).
    #[arg(skip = std::env::var("FERMATA_ADMIN_PASSWORD").ok().map(SecretString::from))]
    pub admin_password: Option<SecretString>,

    /// The key Subsonic credentials are encrypted under: 32 random bytes, base64 (`openssl rand -base64 32`).
    /// Environment only (SUBSONIC_CREDENTIAL_KEY), never a flag. Unset: Subsonic access is off. Every replica
    /// needs the same key; a lost key makes every credential unusable (users create new ones).
    #[arg(skip = std::env::var("SUBSONIC_CREDENTIAL_KEY").ok().filter(|k| !k.trim().is_empty()).map(SecretString::from))]
    pub subsonic_credential_key: Option<SecretString>,

    /// Largest number of database connections per process.
    #[arg(long, env = "DB_MAX_CONNECTIONS", value_name = "DB_MAX_CONNECTIONS", default_value = "10", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub db_max_connections: u32,

    /// How long shutdown waits for in-flight requests, in seconds.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT_SECS",
        value_name = "SHUTDOWN_TIMEOUT_SECS",
        default_value = "20",
        global = true
    )]
    pub shutdown_timeout_secs: u64,

    /// A session ends after this many days without use.
    #[arg(long, env = "SESSION_IDLE_DAYS", value_name = "SESSION_IDLE_DAYS", default_value = "14", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub session_idle_days: u32,

    /// A session ends this many days after sign-in, used or not.
    #[arg(long, env = "SESSION_LIFETIME_DAYS", value_name = "SESSION_LIFETIME_DAYS", default_value = "30", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub session_lifetime_days: u32,

    /// Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDR ranges).
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", value_delimiter = ',', default_value = "127.0.0.1/32,::1/128", value_parser = parse_net, global = true)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Other origins allowed to call the API with cookies (comma-separated); empty keeps CORS off.
    #[arg(long, env = "CORS_ORIGINS", value_name = "CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<Url>,

    /// General API limit per client: sustained requests per second.
    #[arg(
        long,
        env = "RATE_LIMIT_API_PER_SEC",
        value_name = "RATE_LIMIT_API_PER_SEC",
        default_value = "50",
        global = true
    )]
    pub rate_limit_api_per_sec: u32,

    /// General API limit per client: burst.
    #[arg(
        long,
        env = "RATE_LIMIT_API_BURST",
        value_name = "RATE_LIMIT_API_BURST",
        default_value = "200",
        global = true
    )]
    pub rate_limit_api_burst: u32,

    /// Sign-in and registration attempts a client may make at once (per account: four times this).
    #[arg(
        long,
        env = "RATE_LIMIT_AUTH_BURST",
        value_name = "RATE_LIMIT_AUTH_BURST",
        default_value = "10",
        global = true
    )]
    pub rate_limit_auth_burst: u32,

    /// Seconds for a client to earn back one sign-in attempt (per account: a quarter of this).
    #[arg(
        long,
        env = "RATE_LIMIT_AUTH_PERIOD_SECS",
        value_name = "RATE_LIMIT_AUTH_PERIOD_SECS",
        default_value = "12",
        global = true
    )]
    pub rate_limit_auth_period_secs: u64,

    /// The ffmpeg binary transcodes run with (a name looked up in PATH, or a path).
    #[arg(long, env = "FFMPEG", value_name = "FFMPEG", default_value = "ffmpeg", global = true)]
    pub ffmpeg: PathBuf,

    /// ffmpeg processes one replica runs at once; unset: one per CPU core.
    #[arg(long, env = "TRANSCODE_MAX_PROCESSES", value_name = "TRANSCODE_MAX_PROCESSES", value_parser = clap::value_parser!(u32).range(1..=256), global = true)]
    pub transcode_max_processes: Option<u32>,

    /// ffmpeg processes one user's requests may run at once on a replica.
    #[arg(long, env = "TRANSCODE_MAX_PER_USER", value_name = "TRANSCODE_MAX_PER_USER", default_value = "2", value_parser = clap::value_parser!(u32).range(1..=256), global = true)]
    pub transcode_max_per_user: u32,

    /// Seconds a listener of a transcode that starts part-way (a seek) may read nothing before its ffmpeg is ended
    /// and its slots given back: a client that never reads cannot hold them.
    #[arg(long, env = "TRANSCODE_STALL_SECS", value_name = "TRANSCODE_STALL_SECS", default_value = "60", value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub transcode_stall_secs: u64,

    /// Bytes the finished transcodes on the media volume are kept under (least recently used go first).
    #[arg(
        long,
        env = "TRANSCODE_CACHE_BYTES",
        value_name = "TRANSCODE_CACHE_BYTES",
        default_value = "1073741824",
        global = true
    )]
    pub transcode_cache_bytes: u64,

    /// kbit/s of a transcode when a client names a format but no bitrate.
    #[arg(long, env = "TRANSCODE_DEFAULT_BITRATE", value_name = "TRANSCODE_DEFAULT_BITRATE", default_value = "160", value_parser = clap::value_parser!(u32).range(32..=320), global = true)]
    pub transcode_default_bitrate: u32,

    /// The format a Subsonic app gets when it only sends maxBitRate (MP3: every app plays it).
    #[arg(long, env = "TRANSCODE_SUBSONIC_FORMAT", value_name = "TRANSCODE_SUBSONIC_FORMAT", default_value = "mp3", value_parser = parse_format, global = true)]
    pub transcode_subsonic_format: fermata_core::transcode::Format,
}

impl Config {
    /// DATABASE_URL with DATABASE_PASSWORD put in, checked as a URL. Errors never quote the URL: it may hold the
    /// password.
    pub fn database_url(&self) -> anyhow::Result<Option<SecretString>> {
        use secrecy::ExposeSecret;
        let Some(text) = &self.database_url else {
            anyhow::ensure!(self.database_password.is_none(), "DATABASE_PASSWORD is set without DATABASE_URL");
            return Ok(None);
        };
        let mut url = Url::parse(text.expose_secret()).map_err(|e| {
            anyhow::anyhow!(
                "DATABASE_URL is not a valid URL ({e}); a password holding / @ # ? or % must be percent-encoded, \
                 or given alone as DATABASE_PASSWORD"
            )
        })?;
        anyhow::ensure!(
            matches!(url.scheme(), "postgres" | "postgresql"),
            "DATABASE_URL must be a postgres:// URL, not {}://",
            url.scheme()
        );
        if let Some(password) = &self.database_password {
            url.set_password(Some(password.expose_secret()))
                .map_err(|()| anyhow::anyhow!("DATABASE_URL has no host to give DATABASE_PASSWORD to"))?;
        }
        Ok(Some(SecretString::from(url.to_string())))
    }

    /// Parses the configuration from the environment alone (no flags): what tests and tools start from.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        <Only as clap::Parser>::try_parse_from(["fermata"]).map(|o| o.config)
    }

    pub fn media_dir(&self) -> PathBuf {
        self.media_dir.clone().unwrap_or_else(|| self.data_dir.join("media"))
    }

    /// The bucket's settings when MEDIA_STORE=s3.
    pub fn s3_settings(&self) -> anyhow::Result<Option<crate::s3::Settings>> {
        if self.media_store != MediaStoreKind::S3 {
            return Ok(None);
        }
        self.bucket_settings().map(Some)
    }

    /// The bucket's settings from S3_*, whatever MEDIA_STORE says (a storage move needs both stores); an error
    /// names what is missing.
    pub fn bucket_settings(&self) -> anyhow::Result<crate::s3::Settings> {
        let missing = |name: &str| anyhow::anyhow!("object storage needs {name}");
        Ok(crate::s3::Settings {
            endpoint: self.s3_endpoint.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned()),
            region: self.s3_region.clone(),
            bucket: self.s3_bucket.clone().ok_or_else(|| missing("S3_BUCKET"))?,
            prefix: self.s3_prefix.clone(),
            access_key_id: self.s3_access_key_id.clone().ok_or_else(|| missing("S3_ACCESS_KEY_ID"))?,
            secret_access_key: self
                .s3_secret_access_key
                .as_ref()
                .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned())
                .ok_or_else(|| missing("S3_SECRET_ACCESS_KEY"))?,
            virtual_hosted: !self.s3_path_style,
        })
    }

    /// The media volume and the bucket, as two stores (for a storage move).
    pub fn both_stores(&self) -> anyhow::Result<(fermata_core::media::MediaStore, fermata_core::media::MediaStore)> {
        let volume = fermata_core::media::MediaStore::new(self.media_dir(), self.music_dir.clone())?;
        let bucket = crate::s3::S3Store::new(&self.bucket_settings()?)?;
        Ok((volume.clone(), volume.with_objects(std::sync::Arc::new(bucket))))
    }

    /// Opens the media store MEDIA_STORE names.
    /// Where the generated Subsonic credential key is kept when SUBSONIC_CREDENTIAL_KEY is unset: on the media
    /// volume every replica of one host shares (not in the database, so a dump alone reveals no secret). None
    /// with MEDIA_STORE=s3, whose replicas share no volume.
    pub fn credential_key_file(&self) -> Option<PathBuf> {
        (self.media_store == MediaStoreKind::Fs).then(|| self.media_dir().join("keys").join("subsonic-credential.key"))
    }

    /// The Subsonic credential key: SUBSONIC_CREDENTIAL_KEY, else the key file (made on first start). None only
    /// with object storage and no key set.
    pub fn credential_key(&self) -> anyhow::Result<Option<fermata_core::credentials::CredentialKey>> {
        use fermata_core::credentials::CredentialKey;
        if let Some(key) = &self.subsonic_credential_key {
            let key = CredentialKey::from_base64(secrecy::ExposeSecret::expose_secret(key))
                .map_err(|e| anyhow::anyhow!("SUBSONIC_CREDENTIAL_KEY: {e}"))?;
            return Ok(Some(key));
        }
        let Some(path) = self.credential_key_file() else {
            tracing::warn!(
                "SUBSONIC_CREDENTIAL_KEY is not set and MEDIA_STORE=s3 gives the replicas no shared volume to keep a \
                 generated one on: the Subsonic API (/rest) takes no credentials until every replica is given the \
                 same key (`openssl rand -base64 32`, docs/subsonic.md)"
            );
            return Ok(None);
        };
        let (key, created) = CredentialKey::load_or_create(&path)?;
        if created {
            tracing::info!(file = %path.display(), "generated the Subsonic credential key (SUBSONIC_CREDENTIAL_KEY unset)");
        }
        Ok(Some(key))
    }

    pub fn open_media(&self) -> anyhow::Result<fermata_core::media::MediaStore> {
        use anyhow::Context;
        let media = fermata_core::media::MediaStore::new(self.media_dir(), self.music_dir.clone())?;
        Ok(match self.s3_settings()? {
            Some(settings) => {
                let store = crate::s3::S3Store::new(&settings).context("S3 settings")?;
                tracing::info!(store = %fermata_core::objects::ObjectStorage::describe(&store), "media in object storage");
                media.with_objects(std::sync::Arc::new(store))
            }
            None => media,
        })
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    /// The transcoder's settings (the process limit defaults to the CPU cores).
    pub fn transcode_settings(&self) -> fermata_core::transcode::Settings {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        fermata_core::transcode::Settings {
            ffmpeg: self.ffmpeg.clone(),
            max_processes: self.transcode_max_processes.map_or(cores, |n| n as usize),
            max_per_user: self.transcode_max_per_user as usize,
            cache_bytes: self.transcode_cache_bytes,
            stalled_after: Duration::from_secs(self.transcode_stall_secs),
        }
    }

    /// Whether cookies must be Secure (`__Host-` prefixed): the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The origin (scheme, host, port) that cookie-authenticated writes must come from.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

fn parse_format(text: &str) -> Result<fermata_core::transcode::Format, String> {
    fermata_core::transcode::Format::parse(text).ok_or_else(|| format!("'{text}' is not one of opus, mp3, aac"))
}

fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{text}' is neither an IP address nor a CIDR range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn parsed(args: &[&str]) -> Config {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        <Only as clap::Parser>::try_parse_from(std::iter::once("fermata").chain(args.iter().copied())).unwrap().config
    }

    #[test]
    fn a_generated_password_goes_into_the_url_encoded_and_is_never_quoted() {
        // `openssl rand -base64 24` gives a `/` in ~40 % of draws.
        let password = "ab/c+d@e#f?g%h=";
        let config = parsed(&[
            "--database-url=postgres://fermata@postgres:5432/fermata",
            &format!("--database-password={password}"),
        ]);
        let url = Url::parse(config.database_url().unwrap().unwrap().expose_secret()).unwrap();
        assert_eq!(percent_encoding::percent_decode_str(url.password().unwrap()).decode_utf8().unwrap(), password);
        assert_eq!((url.host_str(), url.port(), url.path()), (Some("postgres"), Some(5432), "/fermata"));

        // Pasted raw into the URL, the same password breaks it: refused, and the message holds no part of it.
        let raw = parsed(&[&format!("--database-url=postgres://fermata:{password}@postgres:5432/fermata")]);
        let error = raw.database_url().unwrap_err().to_string();
        assert!(error.contains("DATABASE_PASSWORD") && !error.contains("ab/c") && !error.contains("e#f"), "{error}");
        assert!(format!("{raw:?}").contains("[REDACTED]") && !format!("{raw:?}").contains("ab/c"));

        assert!(parsed(&["--database-url=mysql://x@y/z"]).database_url().is_err());
        assert!(parsed(&["--database-password=x"]).database_url().is_err());
        assert!(parsed(&[]).database_url().unwrap().is_none());
    }

    #[test]
    fn by_default_the_server_listens_on_this_machine_only() {
        // `./scripts/run` on a laptop with open registration is no open server on its network (#41); the image
        // sets BIND=0.0.0.0:8080 for nginx.
        assert_eq!(parsed(&[]).bind, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn object_storage_without_a_key_has_no_key_file_and_no_subsonic() {
        // A key made on one host's volume would differ from the other host's: such a deployment must set one.
        let config = parsed(&["--media-store=s3"]);
        assert_eq!(config.credential_key_file(), None);
        assert!(config.credential_key().unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        let config = parsed(&[&format!("--media-dir={}", dir.path().display())]);
        assert_eq!(config.credential_key_file(), Some(dir.path().join("keys/subsonic-credential.key")));
    }
}
