//! Subsonic credentials: per-user generated secrets for the apps that speak the Subsonic API, so an account's
//! password (argon2id) never travels in a URL. A secret is shown once, at creation, and works as an OpenSubsonic
//! `apiKey`, as the password behind token authentication (`t = md5(secret + s)`) and as a plain `p=` password.
//!
//! At rest a secret is two things, both under keys derived from SUBSONIC_CREDENTIAL_KEY (the environment, never
//! the database): an HMAC-SHA-256 (`lookup`) that finds an apiKey's row, and an AES-256-GCM ciphertext (random
//! nonce, the user id as associated data) that token authentication decrypts, since it needs the secret itself.
//! A copy of the database alone reveals neither, and a ciphertext moved to another user's row does not decrypt.

use std::sync::Arc;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore},
};
use base64::Engine;
use chrono::{DateTime, FixedOffset};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::{
    accounts,
    entities::{subsonic_credentials as rows, users},
    error::{Error, Result},
    ids::UserId,
};

/// Credentials one user may hold at once (one per app or device is the intended use).
pub const MAX_PER_USER: u64 = 20;
/// Random bytes in a secret: 144 bits, 24 characters of URL-safe base64 (no padding, nothing to escape).
const SECRET_BYTES: usize = 18;
/// How long a looked-up user or credential is reused. Revoking a credential or disabling a user takes effect
/// on every replica within this time (the bound is a second; a request in flight adds milliseconds).
const CACHE_TTL: std::time::Duration = std::time::Duration::from_millis(800);
/// `last_used_at` is written at most this often per credential (it is for people deciding what to revoke).
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The server's credential keys, from SUBSONIC_CREDENTIAL_KEY (32 random bytes, base64).
#[derive(Clone)]
pub struct CredentialKey {
    cipher: Aes256Gcm,
    lookup: Hmac<Sha256>,
}

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(..)")
    }
}

impl CredentialKey {
    /// Parses the configured key: standard base64 of exactly 32 bytes (`openssl rand -base64 32`).
    pub fn from_base64(text: &str) -> std::result::Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64 ({e}); make one with `openssl rand -base64 32`"))?;
        let master: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("{} bytes; it must be 32 (`openssl rand -base64 32`)", b.len()))?;
        // One key per purpose, derived from the configured one (an HMAC as the PRF), so the cipher and the
        // lookup MAC never share a key.
        let derive = |purpose: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&master).expect("HMAC takes any key length");
            mac.update(purpose);
            mac.finalize().into_bytes().into()
        };
        let cipher = Aes256Gcm::new(&derive(b"fermata subsonic credential encryption").into());
        let lookup = <Hmac<Sha256> as Mac>::new_from_slice(&derive(b"fermata subsonic credential lookup"))
            .expect("HMAC takes any key length");
        Ok(Self { cipher, lookup })
    }

    /// A new random key, as base64 (what the key file and SUBSONIC_CREDENTIAL_KEY hold).
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The key in `path` (a file on the volume every replica shares), made on first use. Replicas starting
    /// together on a fresh volume agree: each writes a candidate to a temp file and links it into place, which
    /// fails for all but the first; everyone then reads what is there. The file is readable by its owner only.
    pub fn load_or_create(path: &std::path::Path) -> anyhow::Result<(Self, bool)> {
        use std::{io::Write, os::unix::fs::PermissionsExt};
        let dir = path.parent().ok_or_else(|| anyhow::anyhow!("{} has no folder", path.display()))?;
        std::fs::create_dir_all(dir)?;
        let mut created = false;
        if !path.exists() {
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
            writeln!(temp, "{}", Self::generate())?;
            temp.as_file().sync_all()?;
            match std::fs::hard_link(temp.path(), path) {
                Ok(()) => created = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(anyhow::anyhow!("cannot write the key file {}: {e}", path.display())),
            }
            std::fs::File::open(dir).and_then(|d| d.sync_all())?;
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the key file {}: {e}", path.display()))?;
        let key = Self::from_base64(&text).map_err(|e| anyhow::anyhow!("the key file {}: {e}", path.display()))?;
        Ok((key, created))
    }

    /// Replaces the key file at `path` with `text` (written beside it, then renamed over it).
    pub fn write_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
        use std::{io::Write, os::unix::fs::PermissionsExt};
        let dir = path.parent().ok_or_else(|| anyhow::anyhow!("{} has no folder", path.display()))?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
        writeln!(temp, "{}", text.trim())?;
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|e| e.error)?;
        std::fs::File::open(dir).and_then(|d| d.sync_all())?;
        Ok(())
    }

    fn lookup(&self, secret: &str) -> Vec<u8> {
        let mut mac = self.lookup.clone();
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn seal(&self, user: Uuid, secret: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: secret.as_bytes(), aad: user.as_bytes() })
            .map_err(|_| anyhow::anyhow!("encrypting a credential failed"))?;
        Ok((nonce.to_vec(), ciphertext))
    }

    /// The secret of a stored row; `None` when it does not decrypt (another key, or a row tampered with).
    fn open(&self, row: &rows::Model) -> Option<String> {
        if row.nonce.len() != 12 {
            return None;
        }
        let nonce = Nonce::from_slice(&row.nonce);
        let plain = self.cipher.decrypt(nonce, Payload { msg: &row.ciphertext, aad: row.user_id.as_bytes() }).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// A credential as its owner sees it (never the secret).
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    pub last_used_at: Option<DateTime<FixedOffset>>,
}

impl From<rows::Model> for Credential {
    fn from(row: rows::Model) -> Self {
        Self { id: row.id, name: row.name, created_at: row.created_at, last_used_at: row.last_used_at }
    }
}

/// What a Subsonic request presented.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// OpenSubsonic `apiKey`.
    ApiKey(&'a str),
    /// `u`, `t` (md5 hex of secret + salt), `s`.
    Token { username: &'a str, token: &'a str, salt: &'a str },
    /// `u`, `p` (clear, or `enc:` and hex).
    Password { username: &'a str, password: &'a str },
}

/// Why a presentation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such user, a disabled user, or a secret that is none of theirs (one answer for all three).
    WrongCredentials,
    /// An `apiKey` that is not a live credential.
    InvalidApiKey,
    /// The server has no SUBSONIC_CREDENTIAL_KEY: there are no credentials to check.
    NotConfigured,
}

/// Authenticates Subsonic requests, with one-second caches so a client's steady stream of requests costs no
/// queries (see [`CACHE_TTL`]).
#[derive(Clone)]
pub struct Authenticator {
    key: Option<CredentialKey>,
    users_by_name: moka::sync::Cache<String, Option<users::Model>>,
    users_by_id: moka::sync::Cache<Uuid, Option<users::Model>>,
    by_user: moka::sync::Cache<Uuid, Arc<Vec<rows::Model>>>,
    by_lookup: moka::sync::Cache<Vec<u8>, Option<rows::Model>>,
    /// A credential sealed for nobody, opened when a name is unknown so that the answer costs what a known
    /// name's does (the same query, one decryption): a response's time does not tell which names exist.
    decoy: Option<rows::Model>,
}

fn cache<K, V>() -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder().max_capacity(10_000).time_to_live(CACHE_TTL).build()
}

impl Authenticator {
    pub fn new(key: Option<CredentialKey>) -> Self {
        let decoy = key.as_ref().and_then(|key| {
            let secret = CredentialKey::generate();
            let (nonce, ciphertext) = key.seal(Uuid::nil(), &secret).ok()?;
            let now = chrono::Utc::now().fixed_offset();
            Some(rows::Model {
                id: Uuid::nil(),
                user_id: Uuid::nil(),
                name: String::new(),
                lookup: key.lookup(&secret),
                nonce,
                ciphertext,
                created_at: now,
                last_used_at: None,
            })
        });
        Self { key, users_by_name: cache(), users_by_id: cache(), by_user: cache(), by_lookup: cache(), decoy }
    }

    pub fn configured(&self) -> bool {
        self.key.is_some()
    }

    fn key(&self) -> Result<&CredentialKey> {
        self.key.as_ref().ok_or_else(|| {
            Error::conflict(
                "subsonic_disabled",
                "Subsonic access is off on this server (SUBSONIC_CREDENTIAL_KEY is not set)",
            )
        })
    }

    /// A new credential named `name` for `user`: its listing and the secret, which is never shown again.
    /// Refused past [`MAX_PER_USER`].
    pub async fn create(&self, db: &impl ConnectionTrait, user: UserId, name: &str) -> Result<(Credential, String)> {
        let key = self.key()?;
        let held = rows::Entity::find().filter(rows::Column::UserId.eq(user.0)).count(db).await?;
        if held >= MAX_PER_USER {
            return Err(Error::Refused(format!(
                "an account holds at most {MAX_PER_USER} Subsonic credentials; revoke one first"
            )));
        }
        let mut bytes = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let (nonce, ciphertext) = key.seal(user.0, &secret)?;
        let row = rows::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user.0),
            name: Set(name.trim().to_owned()),
            lookup: Set(key.lookup(&secret)),
            nonce: Set(nonce),
            ciphertext: Set(ciphertext),
            ..Default::default()
        };
        let row = rows::Entity::insert(row).exec_with_returning(db).await?;
        self.by_user.invalidate(&user.0);
        Ok((row.into(), secret))
    }

    /// `user`'s credentials, oldest first.
    pub async fn list(&self, db: &impl ConnectionTrait, user: UserId) -> Result<Vec<Credential>> {
        let rows = rows::Entity::find()
            .filter(rows::Column::UserId.eq(user.0))
            .order_by_asc(rows::Column::CreatedAt)
            .order_by_asc(rows::Column::Id)
            .all(db)
            .await?;
        Ok(rows.into_iter().map(Credential::from).collect())
    }

    /// Revokes one of `user`'s credentials ([`Error::NotFound`] for anyone else's). Every replica stops
    /// accepting it within [`CACHE_TTL`].
    pub async fn revoke(&self, db: &impl ConnectionTrait, user: UserId, id: Uuid) -> Result<()> {
        let deleted = rows::Entity::delete_many()
            .filter(rows::Column::Id.eq(id))
            .filter(rows::Column::UserId.eq(user.0))
            .exec(db)
            .await?
            .rows_affected;
        self.by_user.invalidate(&user.0);
        self.by_lookup.invalidate_all();
        if deleted == 0 { Err(Error::NotFound) } else { Ok(()) }
    }

    /// The active user a Subsonic request speaks for.
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        presented: Presented<'_>,
    ) -> Result<std::result::Result<users::Model, Refusal>> {
        let Some(key) = &self.key else { return Ok(Err(Refusal::NotConfigured)) };
        let (user, credential) = match presented {
            Presented::ApiKey(secret) => {
                let lookup = key.lookup(secret);
                let row = match self.by_lookup.get(&lookup) {
                    Some(row) => row,
                    None => {
                        let row = rows::Entity::find().filter(rows::Column::Lookup.eq(lookup.clone())).one(db).await?;
                        self.by_lookup.insert(lookup, row.clone());
                        row
                    }
                };
                let Some(row) = row else { return Ok(Err(Refusal::InvalidApiKey)) };
                match self.user_by_id(db, row.user_id).await? {
                    Some(user) => (user, row),
                    None => return Ok(Err(Refusal::InvalidApiKey)),
                }
            }
            Presented::Token { username, token, salt } => {
                let token = token.to_ascii_lowercase();
                let matches = |secret: &str| {
                    let expected = hex::encode(Md5::digest(format!("{secret}{salt}").as_bytes()));
                    bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
                };
                match self.secret_matching(db, key, username, matches).await? {
                    Some(found) => found,
                    None => return Ok(Err(Refusal::WrongCredentials)),
                }
            }
            Presented::Password { username, password } => {
                let password = match password.strip_prefix("enc:") {
                    Some(hex) => match hex::decode(hex).ok().and_then(|b| String::from_utf8(b).ok()) {
                        Some(clear) => clear,
                        None => return Ok(Err(Refusal::WrongCredentials)),
                    },
                    None => password.to_owned(),
                };
                let matches = |secret: &str| bool::from(secret.as_bytes().ct_eq(password.as_bytes()));
                match self.secret_matching(db, key, username, matches).await? {
                    Some(found) => found,
                    None => return Ok(Err(Refusal::WrongCredentials)),
                }
            }
        };
        if user.disabled {
            return Ok(Err(Refusal::WrongCredentials));
        }
        self.touch(db, &credential).await?;
        Ok(Ok(user))
    }

    async fn user_by_name(&self, db: &impl ConnectionTrait, username: &str) -> Result<Option<users::Model>> {
        let name = username.to_lowercase();
        if let Some(user) = self.users_by_name.get(&name) {
            return Ok(user);
        }
        let user = accounts::find_by_login(db, &name).await?;
        self.users_by_name.insert(name, user.clone());
        Ok(user)
    }

    async fn user_by_id(&self, db: &impl ConnectionTrait, id: Uuid) -> Result<Option<users::Model>> {
        if let Some(user) = self.users_by_id.get(&id) {
            return Ok(user);
        }
        let user = accounts::find(db, UserId(id)).await?;
        self.users_by_id.insert(id, user.clone());
        Ok(user)
    }

    /// `username` (if active or not: the caller checks) and the first of their credentials whose secret (decrypted;
    /// rows that do not decrypt under this key are skipped) `matches`.
    async fn secret_matching(
        &self,
        db: &impl ConnectionTrait,
        key: &CredentialKey,
        username: &str,
        matches: impl Fn(&str) -> bool,
    ) -> Result<Option<(users::Model, rows::Model)>> {
        // An unknown name goes the same way as a known one: its credentials are looked up (under the nil id,
        // which has none) and one sealed secret is opened.
        let user = self.user_by_name(db, username).await?;
        let owner = user.as_ref().map_or(Uuid::nil(), |u| u.id);
        let rows = match self.by_user.get(&owner) {
            Some(rows) => rows,
            None => {
                let rows = Arc::new(rows::Entity::find().filter(rows::Column::UserId.eq(owner)).all(db).await?);
                self.by_user.insert(owner, rows.clone());
                rows
            }
        };
        let Some(user) = user else {
            if let Some(decoy) = &self.decoy {
                let _ = key.open(decoy).is_some_and(|secret| matches(&secret));
            }
            return Ok(None);
        };
        let found = rows.iter().find(|row| key.open(row).is_some_and(|secret| matches(&secret))).cloned();
        Ok(found.map(|row| (user, row)))
    }

    /// Records the use, at most every [`TOUCH_EVERY`]: decided on the (cached) row first, so steady traffic
    /// neither writes nor queries; the statement's own condition keeps replicas from writing twice.
    async fn touch(&self, db: &impl ConnectionTrait, row: &rows::Model) -> Result<()> {
        let fresh = row.last_used_at.is_some_and(|at| chrono::Utc::now().signed_duration_since(at) < TOUCH_EVERY);
        if fresh {
            return Ok(());
        }
        let stale = Expr::col(rows::Column::LastUsedAt)
            .lt(Expr::cust_with_values("now() - make_interval(secs => $1)", [TOUCH_EVERY.num_seconds()]));
        rows::Entity::update_many()
            .col_expr(rows::Column::LastUsedAt, Expr::current_timestamp().into())
            .filter(rows::Column::Id.eq(row.id))
            .filter(rows::Column::LastUsedAt.is_null().or(stale))
            .exec(db)
            .await?;
        Ok(())
    }
}

/// Re-encrypts every stored credential from `old` to `new` in one transaction: the secrets listeners typed into
/// their apps keep working under the new key. Returns how many were moved; a row that does not open under `old`
/// (sealed under another key already) is an error and nothing changes.
pub async fn rotate(
    db: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    old: &CredentialKey,
    new: &CredentialKey,
) -> Result<u64> {
    use sea_orm::ActiveModelTrait;
    let txn = db.begin().await?;
    let stored = rows::Entity::find().all(&txn).await?;
    let mut moved = 0;
    for row in stored {
        let secret = old.open(&row).ok_or_else(|| {
            Error::Refused(format!("credential {} does not open under the current key; nothing was changed", row.id))
        })?;
        let (nonce, ciphertext) = new.seal(row.user_id, &secret)?;
        let lookup = new.lookup(&secret);
        let mut active: rows::ActiveModel = row.into();
        active.nonce = Set(nonce);
        active.ciphertext = Set(ciphertext);
        active.lookup = Set(lookup);
        active.update(&txn).await?;
        moved += 1;
    }
    txn.commit().await?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CredentialKey {
        CredentialKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    fn row(key: &CredentialKey, user: Uuid, secret: &str) -> rows::Model {
        let (nonce, ciphertext) = key.seal(user, secret).unwrap();
        rows::Model {
            id: Uuid::now_v7(),
            user_id: user,
            name: "phone".into(),
            lookup: key.lookup(secret),
            nonce,
            ciphertext,
            created_at: chrono::Utc::now().into(),
            last_used_at: None,
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = row(&key(1), alice, "s3cret");
        assert_eq!(key(1).open(&sealed).as_deref(), Some("s3cret"));
        assert_ne!(sealed.ciphertext, b"s3cret", "stored encrypted");
        assert_eq!(key(2).open(&sealed), None, "another server key");
        assert_eq!(key(1).open(&rows::Model { user_id: bob, ..sealed.clone() }), None, "moved to another user");
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(key(1).open(&tampered), None, "tampered");
        // Two seals of one secret differ (random nonces); the lookup is deterministic and key-dependent.
        assert_ne!(row(&key(1), alice, "s3cret").ciphertext, sealed.ciphertext);
        assert_eq!(key(1).lookup("s3cret"), sealed.lookup);
        assert_ne!(key(2).lookup("s3cret"), sealed.lookup);
    }

    #[test]
    fn the_key_file_is_made_once_kept_private_and_shared() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/subsonic-credential.key");
        let (first, created) = CredentialKey::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, created) = CredentialKey::load_or_create(&path).unwrap();
        assert!(!created, "a second replica reads the first one's key");
        assert_eq!(first.lookup("x"), again.lookup("x"));
        // Replicas racing on a fresh volume all end up with one key.
        let racing = dir.path().join("race/key");
        let keys: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                let racing = racing.clone();
                std::thread::spawn(move || CredentialKey::load_or_create(&racing).unwrap().0.lookup("x"))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        std::fs::write(&path, "garbage").unwrap();
        assert!(CredentialKey::load_or_create(&path).is_err(), "a damaged key file stops start-up");
    }

    #[test]
    fn only_a_32_byte_base64_key_is_accepted() {
        assert!(CredentialKey::from_base64("not base64!").is_err());
        assert!(CredentialKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([0u8; 16])).is_err());
        assert!(
            CredentialKey::from_base64(&format!(" {} ", base64::engine::general_purpose::STANDARD.encode([7u8; 32])))
                .is_ok()
        );
    }
}
