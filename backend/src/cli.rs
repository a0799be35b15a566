//! The `fermata` command line: serve, migrate, user create, scan, storage migrate, healthcheck.

use std::{io::IsTerminal, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use fermata_core::accounts::{self, NewUser, Role};

use crate::{
    accounts::{password::Passwords, views::RegisterRequest},
    config::Config,
    postgres,
    startup::{self, Application},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(name = "fermata", version, about = "Self-hosted music streaming server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Index a music folder in place (default: MUSIC_DIR). Paths are stored relative to it, so serve with
    /// MUSIC_DIR set to the same folder.
    Scan { dir: Option<std::path::PathBuf> },
    /// Move what Fermata stores between the media volume (MEDIA_DIR) and object storage (S3_*).
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
    /// The Subsonic credential key.
    SubsonicKey {
        #[command(subcommand)]
        command: SubsonicKeyCommand,
    },
    /// Exit 0 when the local server answers /health (for container HEALTHCHECKs, which have no curl).
    Healthcheck {
        /// Address to probe; default: 127.0.0.1 on BIND's port.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy every upload and cover to the other store, each read back and checked against its SHA-256. Safe to
    /// stop and run again (what is already there and right is skipped); nothing is removed from the source. Set
    /// MEDIA_STORE to the target afterwards.
    Migrate {
        /// `s3`: from MEDIA_DIR to the bucket; `fs`: from the bucket to MEDIA_DIR.
        #[arg(long, value_enum)]
        to: crate::config::MediaStoreKind,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubsonicKeyCommand {
    /// Re-encrypt every stored app password under a new key, in one transaction. With the key file (no
    /// SUBSONIC_CREDENTIAL_KEY), the file is replaced; with SUBSONIC_CREDENTIAL_KEY, the new key is printed to
    /// set on every replica. Restart the replicas afterwards.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from stdin when it is not a terminal, else prompted for.
    Create {
        username: String,
        /// Default: <username>@localhost
        #[arg(long)]
        email: Option<String>,
        /// Make the account an admin.
        #[arg(long)]
        admin: bool,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    let result = match cli.command {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => migrate(cli.config).await,
        Command::User { command: UserCommand::Create { username, email, admin } } => {
            create_user(cli.config, username, email, admin).await
        }
        Command::Scan { dir } => scan(cli.config, dir).await,
        Command::Storage { command: StorageCommand::Migrate { to } } => migrate_storage(cli.config, to).await,
        Command::Healthcheck { url } => healthcheck(&cli.config, url).await,
        Command::SubsonicKey { command: SubsonicKeyCommand::Rotate } => rotate_key(cli.config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(startup::shutdown_signal()).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let (db, _cluster, _) = startup::open_database(&config).await?;
    let applied = postgres::migrate(&db).await?;
    tracing::info!(applied, "migrations done");
    db.close().await?;
    Ok(())
}

async fn create_user(config: Config, username: String, email: Option<String>, admin: bool) -> anyhow::Result<()> {
    let password = read_password()?;
    let email = email.unwrap_or_else(|| format!("{}@localhost", username.to_lowercase()));
    let request = RegisterRequest { username, email, password, display_name: None };
    if let Err(errors) = request.check() {
        bail!("invalid account: {errors}");
    }
    let (db, _cluster, _) = startup::open_database(&config).await?;
    postgres::migrate(&db).await?;
    let passwords = Passwords::new()?;
    let new = NewUser {
        username: request.username,
        email: request.email,
        display_name: None,
        password_hash: passwords.hash(request.password).await?,
        role: if admin { Role::Admin } else { Role::User },
    };
    let user = accounts::create(&db, new).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(username = %user.username, role = %user.role, "account created");
    db.close().await?;
    Ok(())
}

async fn scan(config: Config, dir: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let Some(root) = dir.or_else(|| config.music_dir.clone()) else {
        bail!("give a folder to scan or set MUSIC_DIR");
    };
    let (db, _cluster, _) = startup::open_database(&config).await?;
    postgres::migrate(&db).await?;
    // Take the same slot a scan job takes, so the CLI and the server never scan at once.
    let job = fermata_core::jobs::claim_scan_slot(&db, "cli").await?;
    let result = fermata_core::library::scan::scan(&db, &root, |p| {
        tracing::info!(done = p.done, total = p.total, files_per_second = p.files_per_second, "scanning");
    })
    .await;
    fermata_core::jobs::release_scan_slot(&db, job, result.as_ref().err().map(|e| format!("{e:#}"))).await?;
    let (report, touched) = result?;
    fermata_core::jobs::enqueue_analysis(&db, &touched).await?;
    report.log();
    // Embedded pictures become covers when the folder is the server's (MUSIC_DIR): covers are opened from there.
    if config.music_dir.as_deref().and_then(|m| m.canonicalize().ok()) == root.canonicalize().ok() {
        let covers = fermata_core::library::covers_from_tags(&db, &config.open_media()?).await?;
        tracing::info!(taken = covers.taken, refused = covers.refused, "covers from the files' embedded pictures");
    }
    db.close().await?;
    Ok(())
}

async fn rotate_key(config: Config) -> anyhow::Result<()> {
    use fermata_core::credentials::{self, CredentialKey};
    let Some(old) = config.credential_key()? else {
        bail!("no Subsonic credential key to rotate (MEDIA_STORE=s3 without SUBSONIC_CREDENTIAL_KEY)");
    };
    let text = CredentialKey::generate();
    let new = CredentialKey::from_base64(&text).map_err(|e| anyhow::anyhow!(e))?;
    let (db, _cluster, _) = startup::open_database(&config).await?;
    postgres::migrate(&db).await?;
    // The new key is on disk beside the old before the database moves, so a failure between the two loses
    // neither: the pending file holds the key the rows were sealed under.
    let file = config.subsonic_credential_key.is_none().then(|| config.credential_key_file()).flatten();
    let pending = file.as_ref().map(|f| f.with_extension("key.new"));
    if let Some(pending) = &pending {
        CredentialKey::write_file(pending, &text)?;
    }
    let moved = credentials::rotate(&db, &old, &new).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    db.close().await?;
    match (file, pending) {
        (Some(file), Some(pending)) => {
            std::fs::rename(&pending, &file)?;
            tracing::info!(moved, file = %file.display(), "credentials re-encrypted; the key file holds the new key: restart every replica");
        }
        _ => {
            tracing::info!(
                moved,
                "credentials re-encrypted: set SUBSONIC_CREDENTIAL_KEY to the key below on every replica and restart them"
            );
            // The one thing this command prints on standard output: the line to put in .env.
            std::io::Write::write_all(&mut std::io::stdout(), format!("SUBSONIC_CREDENTIAL_KEY={text}\n").as_bytes())?;
        }
    }
    Ok(())
}

async fn migrate_storage(config: Config, to: crate::config::MediaStoreKind) -> anyhow::Result<()> {
    let (volume, bucket) = config.both_stores()?;
    let (from, to) = match to {
        crate::config::MediaStoreKind::S3 => (volume, bucket),
        crate::config::MediaStoreKind::Fs => (bucket, volume),
    };
    let (db, _cluster, _) = startup::open_database(&config).await?;
    postgres::migrate(&db).await?;
    let mut last = std::time::Instant::now();
    let moved = fermata_core::media::migrate::migrate(&db, &from, &to, |p| {
        let done = p.copied + p.present + p.missing;
        if last.elapsed() >= Duration::from_secs(1) || done == p.total {
            last = std::time::Instant::now();
            tracing::info!(done, total = p.total, copied = p.copied, present = p.present, bytes = p.bytes, "moving");
        }
    })
    .await?;
    tracing::info!(
        copied = moved.copied,
        already_there = moved.present,
        missing_from_source = moved.missing,
        bytes = moved.bytes,
        "storage move done"
    );
    db.close().await?;
    if moved.missing > 0 {
        bail!("{} files named in the database were not in the source store (listed above)", moved.missing);
    }
    Ok(())
}

/// From stdin when piped (`echo secret | fermata user create ...`); otherwise a prompt, asked twice.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn healthcheck(config: &Config, url: Option<String>) -> anyhow::Result<()> {
    use http_body_util::Empty;
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};

    let url = url.unwrap_or_else(|| format!("http://127.0.0.1:{}/health", config.bind.port()));
    let uri: axum::http::Uri = url.parse().with_context(|| format!("bad url {url}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<axum::body::Bytes>>();
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .context("no answer within 5 s")?
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    Ok(())
}
