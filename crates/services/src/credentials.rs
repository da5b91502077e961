//! Encryption at rest of stored credentials: the passwords of data-operation targets and of monitored databases,
//! and the secret variables of dial-test probes (each value of their JSON object sealed on its own).
//!
//! Tianshu's database is backed up, replicated and read by its administrators; a password to a production
//! database must not be readable there. Each value is sealed with ChaCha20-Poly1305 (authenticated: an altered
//! value or a wrong key fails instead of yielding garbage) under a 256-bit key that never reaches the database: a
//! key file, by default `credentials.key` in the data directory, created with mode 0600 on first start. The stored
//! form is `v1:` + base64(nonce ‖ ciphertext ‖ tag); the prefix names the key generation so a later key can be
//! rotated in beside it. The associated data names the column, so a value copied into another column does not
//! open. An empty password means "none" (trust or peer authentication) and stays empty.
//!
//! At start-up [`prepare`] checks the key against the check value this database keeps for the key version (a
//! known text sealed under the key): a wrong key, or a new key where values were sealed under another, stops the
//! start with a message naming the key file, before anything is read or written with it. It then encrypts, once,
//! the values still in plain text (rows from before this version, or written by an older instance during a
//! rolling upgrade); a value already carrying the prefix is left alone, so running it again changes nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::credentials::{self as st, CredentialColumn};
use tianshu_store::StoreError;

use crate::{Platform, ServiceError};

/// Prefix of a value sealed under key version 1 (the first key of a database; a rotation seals under `v2:` …).
pub const PREFIX: &str = "v1:";
/// File name of the key in the data directory when no other path is configured.
pub const DEFAULT_KEY_FILE: &str = "credentials.key";
/// Suffix of the pending key file a rotation writes next to the key file before re-encrypting.
pub const NEXT_SUFFIX: &str = ".next";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CHECK_TEXT: &str = "tianshu credentials key check";
const CHECK_AAD: &str = "credential_keys.check_value";

/// Why a credential or the key could not be used. Every message names the key file (or says the key is ephemeral).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credentials key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("credentials key file {key} does not exist, but this database holds passwords encrypted with a key: restore the original key file at that path (or point credentials_key_file / TIANSHU_CREDENTIALS_KEY_FILE at it); a new key cannot read them")]
    MissingKey { key: String },
    #[error("the credentials key in {key} is not the key this database's stored passwords were encrypted with: start with the original key file (credentials_key_file / TIANSHU_CREDENTIALS_KEY_FILE)")]
    WrongKey { key: String },
    #[error("cannot decrypt {what} with the credentials key in {key}: wrong key or altered value")]
    Undecryptable { what: String, key: String },
    #[error("{what} is not a valid encrypted value (v1: followed by base64)")]
    Malformed { what: String },
    #[error(
        "{what} is sealed under key version {found}, but the key file {key} holds version {held}"
    )]
    OtherVersion {
        what: String,
        found: i64,
        held: i64,
        key: String,
    },
    #[error("this database's stored passwords were re-encrypted under key version {latest} by `tianshu secrets rotate-key`, but the key file {key} holds version {held}: run `tianshu secrets rotate-key` again to finish the rotation (it installs {key}.next), or point credentials_key_file at the key of version {latest}")]
    Rotated { key: String, held: i64, latest: i64 },
    #[error("key rotation: {0}")]
    Rotation(String),
    #[error("cannot encrypt {what}: {message}")]
    Seal { what: String, message: String },
    #[error("credentials: {0}")]
    Store(#[from] StoreError),
}

impl From<CredentialError> for ServiceError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Store(s) => ServiceError::from(s),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// The key that seals and opens stored credentials, and where it came from (never the key itself in messages).
pub struct Vault {
    cipher: ChaCha20Poly1305,
    version: i64,
    prefix: String,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key", &self.describe())
            .finish()
    }
}

impl Vault {
    /// A random key held only in memory: for platforms built in-process (tests), whose values need not survive
    /// the process. The server always loads its key from a file ([`Vault::load_or_create`]).
    pub fn ephemeral() -> Vault {
        let mut key = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut key);
        Vault::from_key(&key, None)
    }

    /// A vault over raw key bytes; `file` is where they came from, for messages.
    pub fn from_key(key: &[u8; KEY_LEN], file: Option<PathBuf>) -> Vault {
        Vault::versioned(1, key, file)
    }

    /// A vault over raw key bytes of key version `version` (sealing as `v<version>:`).
    pub fn versioned(version: i64, key: &[u8; KEY_LEN], file: Option<PathBuf>) -> Vault {
        Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            version,
            prefix: format!("v{version}:"),
            file,
        }
    }

    /// The key version (1 for a key file from before rotation, `v2` … after each rotation).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The prefix of values sealed under this key (`v1:` …).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Reads the key file, or creates it (mode 0600, a fresh random key) when it does not exist; the flag is true
    /// when this call created it.
    pub fn load_or_create(path: &Path) -> Result<(Vault, bool), CredentialError> {
        let shown = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(_) => Ok((Vault::load(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create_key(path, 1)? {
                Some(key) => Ok((Vault::from_key(&key, Some(path.into())), true)),
                // Another process created it between our look and our create: use theirs.
                None => Ok((Vault::load(path)?, false)),
            },
            Err(e) => Err(CredentialError::KeyFile {
                path: shown,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Reads an existing key file (`<base64>` for version 1, `v<N>:<base64>` after a rotation).
    pub fn load(path: &Path) -> Result<Vault, CredentialError> {
        let (version, key) = read_key(path)?;
        Ok(Vault::versioned(version, &key, Some(path.into())))
    }

    /// The key file's path, or a note that the key is ephemeral.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(p) => p.display().to_string(),
            None => "(an ephemeral in-process key)".into(),
        }
    }

    /// The key file, if the key came from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The stored form of a credential for `column`; an empty one (no password) stays empty.
    pub fn seal(&self, column: CredentialColumn, plain: &str) -> Result<String, CredentialError> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        self.seal_raw(column.name(), plain)
    }

    /// The credential in a stored value of `column`. A value without the prefix is plain text written before
    /// encryption (converted at the next start) and is returned as it is; `what` names the value in errors.
    pub fn open(
        &self,
        column: CredentialColumn,
        stored: &str,
        what: &str,
    ) -> Result<String, CredentialError> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        if !stored.starts_with(&self.prefix) {
            if let Some(found) = sealed_version(stored) {
                return Err(CredentialError::OtherVersion {
                    what: what.into(),
                    found,
                    held: self.version,
                    key: self.describe(),
                });
            }
            return Ok(stored.to_string());
        }
        self.open_raw(column.name(), stored, what)
    }

    /// A probe's secret variables with every value sealed on its own (the names stay readable).
    pub fn seal_secrets(
        &self,
        secrets: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, CredentialError> {
        secrets
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.seal(CredentialColumn::ProbeSecret, v)?)))
            .collect()
    }

    /// A probe's stored secret variables opened.
    pub fn open_secrets(
        &self,
        stored: &BTreeMap<String, String>,
        probe_id: i64,
    ) -> Result<BTreeMap<String, String>, CredentialError> {
        stored
            .iter()
            .map(|(k, v)| {
                let what = format!("secret {k} of probe {probe_id}");
                Ok((
                    k.clone(),
                    self.open(CredentialColumn::ProbeSecret, v, &what)?,
                ))
            })
            .collect()
    }

    fn seal_raw(&self, aad: &str, plain: &str) -> Result<String, CredentialError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|e| CredentialError::Seal {
                what: aad.into(),
                message: e.to_string(),
            })?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!("{}{}", self.prefix, STANDARD.encode(bytes)))
    }

    fn open_raw(&self, aad: &str, stored: &str, what: &str) -> Result<String, CredentialError> {
        let malformed = || CredentialError::Malformed { what: what.into() };
        let body = stored.strip_prefix(&self.prefix).ok_or_else(malformed)?;
        let bytes = STANDARD.decode(body).map_err(|_| malformed())?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(malformed());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CredentialError::Undecryptable {
                what: what.into(),
                key: self.describe(),
            })?;
        String::from_utf8(plain).map_err(|_| malformed())
    }
}

/// The key version of a stored value that carries a `v<N>:` prefix (`None`: plain text).
pub fn sealed_version(stored: &str) -> Option<i64> {
    let rest = stored.strip_prefix('v')?;
    let (n, _) = rest.split_once(':')?;
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().filter(|v| *v >= 1)
}

fn read_key(path: &Path) -> Result<(i64, [u8; KEY_LEN]), CredentialError> {
    let err = |message: String| CredentialError::KeyFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let text = text.trim();
    let (version, body) = match sealed_version(text) {
        Some(v) => (v, &text[text.find(':').map_or(0, |i| i + 1)..]),
        None => (1, text),
    };
    let bytes = STANDARD
        .decode(body)
        .map_err(|_| err(format!("not a base64-encoded {KEY_LEN}-byte key")))?;
    let key: [u8; KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
        err(format!(
            "the key is {} bytes, {KEY_LEN} expected (base64-encoded)",
            b.len()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(file = %path.display(), "the credentials key file can be read by group or others; chmod 600 it");
            }
        }
    }
    Ok((version, key))
}

/// Creates the key file with a fresh key of `version` (version 1 is written as bare base64, later ones as
/// `v<N>:<base64>`); `None` when it appeared meanwhile (created by another process).
fn create_key(path: &Path, version: i64) -> Result<Option<[u8; KEY_LEN]>, CredentialError> {
    let err = |message: String| CredentialError::KeyFile {
        path: path.display().to_string(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create its directory: {e}")))?;
    }
    let mut key = [0u8; KEY_LEN];
    OsRng.fill_bytes(&mut key);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(err(format!("cannot create: {e}"))),
    };
    let line = if version == 1 {
        format!("{}\n", STANDARD.encode(key))
    } else {
        format!("v{version}:{}\n", STANDARD.encode(key))
    };
    f.write_all(line.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| err(format!("cannot write: {e}")))?;
    Ok(Some(key))
}

/// What [`prepare`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// This start recorded the key's check value (first start with encryption on this database).
    pub key_recorded: bool,
    /// Plain-text values encrypted in place by this start.
    pub encrypted: usize,
}

/// Checks the platform's key against this database and encrypts the credentials still in plain text. Run once at
/// start-up, before serving. `key_file_created`: the key file did not exist before this start — when the database
/// already holds values sealed under a key, the new file is removed again and the start refused as "missing key".
pub async fn prepare(p: &Platform, key_file_created: bool) -> Result<Prepared, CredentialError> {
    let vault = &p.credentials;
    let key_version = vault.version();
    let mut out = Prepared::default();
    // A rotation re-encrypted everything under a newer key than this file holds (finished in the database, not
    // yet on disk, or an old copy of the key file): nothing here would open.
    if let Some(latest) = p.store.latest_credential_key().await? {
        if latest != key_version {
            if key_file_created {
                if let Some(f) = vault.file() {
                    let _ = std::fs::remove_file(f);
                }
                return Err(CredentialError::MissingKey {
                    key: vault.describe(),
                });
            }
            if latest > key_version {
                return Err(CredentialError::Rotated {
                    key: vault.describe(),
                    held: key_version,
                    latest,
                });
            }
            return Err(CredentialError::WrongKey {
                key: vault.describe(),
            });
        }
    }
    let mut check = p.store.credential_key_check(key_version).await?;
    if check.is_none() {
        let sealed = vault.seal_raw(CHECK_AAD, CHECK_TEXT)?;
        let now = p.now_us();
        out.key_recorded = p
            .store
            .write(move |c| {
                Box::pin(
                    async move { st::insert_credential_key(c, key_version, &sealed, now).await },
                )
            })
            .await?;
        // Another instance may have recorded its key first: the same check below then applies to ours.
        check = p.store.credential_key_check(key_version).await?;
    }
    let check = check.unwrap_or_default();
    let opened = vault.open_raw(CHECK_AAD, &check, "the key check value");
    if opened.as_deref().ok() != Some(CHECK_TEXT) {
        if key_file_created {
            if let Some(f) = vault.file() {
                // Leave nothing behind: the next start must report the missing key again, not a wrong one.
                let _ = std::fs::remove_file(f);
            }
            return Err(CredentialError::MissingKey {
                key: vault.describe(),
            });
        }
        return Err(CredentialError::WrongKey {
            key: vault.describe(),
        });
    }
    // (column, row, stored text read, its replacement)
    let mut sealed: Vec<(CredentialColumn, i64, String, String)> = Vec::new();
    for c in p.store.unencrypted_credentials(vault.prefix()).await? {
        // Sealed under another version (written by an instance still holding a retired key): not plain text.
        if sealed_version(&c.value).is_some() {
            tracing::warn!(
                column = c.column.name(),
                id = c.id,
                "a stored credential is sealed under another key version; re-enter it"
            );
            continue;
        }
        let s = vault.seal(c.column, &c.value)?;
        sealed.push((c.column, c.id, c.value, s));
    }
    for (id, json) in p.store.probe_secret_objects().await? {
        // Not an object of strings: nothing a probe could use either; left for its owner to replace.
        let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(&json) else {
            continue;
        };
        if map
            .values()
            .all(|v| v.is_empty() || sealed_version(v).is_some())
        {
            continue;
        }
        let mut next = BTreeMap::new();
        for (k, v) in map {
            let v = if v.is_empty() || sealed_version(&v).is_some() {
                v
            } else {
                vault.seal(CredentialColumn::ProbeSecret, &v)?
            };
            next.insert(k, v);
        }
        let next = serde_json::to_string(&next).map_err(|e| CredentialError::Seal {
            what: format!("the secrets of probe {id}"),
            message: e.to_string(),
        })?;
        sealed.push((CredentialColumn::ProbeSecret, id, json, next));
    }
    if sealed.is_empty() {
        return Ok(out);
    }
    let now = p.now_us();
    out.encrypted = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let mut counts = serde_json::Map::new();
                let mut n = 0usize;
                for (column, id, old, new) in &sealed {
                    if st::replace_credential(c, *column, *id, old, new).await? {
                        n += 1;
                        let e = counts.entry(column.name()).or_insert(json!(0));
                        *e = json!(e.as_u64().unwrap_or(0) + 1);
                    }
                }
                if n > 0 {
                    append(
                        c,
                        NewAuditEntry {
                            actor: "system:startup".into(),
                            action: "credentials.encrypted".into(),
                            object_type: "credentials".into(),
                            object_id: format!("key_v{key_version}"),
                            before: None,
                            after: Some(json!({"encrypted": counts})),
                            request_id: None,
                            at: now,
                        },
                    )
                    .await?;
                }
                Ok(n)
            })
        })
        .await?;
    if out.encrypted > 0 {
        tracing::info!(
            count = out.encrypted,
            "encrypted stored credentials that were in plain text"
        );
    }
    Ok(out)
}

/// What [`rotate_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key version the key file held before.
    pub from: i64,
    /// The key version everything is sealed under now.
    pub to: i64,
    /// Values re-encrypted by this run (0 when it only finished an interrupted rotation on disk).
    pub re_encrypted: usize,
    /// This run finished a rotation whose database transaction had committed before an interruption.
    pub resumed: bool,
}

/// The pending key file of a rotation: `<key file>.next`.
pub fn next_key_file(key_file: &Path) -> PathBuf {
    let mut s = key_file.as_os_str().to_owned();
    s.push(NEXT_SUFFIX);
    PathBuf::from(s)
}

/// Key rotation (`tianshu secrets rotate-key`). Run with every server instance stopped, like a migration.
///
/// 1. The current key (the key file) must be this database's (its check value opens).
/// 2. The new key, version N+1, is written to `<key file>.next` (0600, synced) — or, when that file is left from an
///    interrupted run, reused. The key file itself is untouched, so the old key stays readable.
/// 3. One database transaction records the new key's check value, re-encrypts every stored credential that is not
///    yet under the new version (opened with the old key; plain text is sealed too), checks that none is left,
///    marks the older versions retired and appends `credentials.rotated` to the audit trail (counts, no values).
/// 4. Only after the commit, `<key file>.next` replaces the key file (rename, then the directory is synced).
///
/// A crash before 3 commits changes nothing in the database (a re-run reuses the pending key); a crash between 3
/// and 4 leaves the database under the new key and the pending key on disk: the server refuses to start naming
/// the interrupted rotation, and a re-run finishes it without re-encrypting anything.
pub async fn rotate_key(
    store: &tianshu_store::Store,
    key_file: &Path,
    now: i64,
) -> Result<Rotation, CredentialError> {
    let old = Vault::load(key_file)?;
    let next_file = next_key_file(key_file);
    let new = match std::fs::metadata(&next_file) {
        Ok(_) => Vault::load(&next_file)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match create_key(&next_file, old.version() + 1)? {
                Some(key) => Vault::versioned(old.version() + 1, &key, Some(next_file.clone())),
                None => Vault::load(&next_file)?,
            }
        }
        Err(e) => {
            return Err(CredentialError::KeyFile {
                path: next_file.display().to_string(),
                message: format!("cannot read: {e}"),
            })
        }
    };
    if new.version() != old.version() + 1 {
        return Err(CredentialError::Rotation(format!(
            "the pending key {} holds version {}, but the key file {} holds version {}: remove the pending key file and run again",
            next_file.display(),
            new.version(),
            key_file.display(),
            old.version()
        )));
    }
    let latest = store.latest_credential_key().await?;
    let resumed = latest == Some(new.version());
    match latest {
        // Nothing recorded yet (the database never started with a key): nothing is sealed either.
        None => {}
        Some(l) if l == old.version() => {
            let check = store
                .credential_key_check(old.version())
                .await?
                .unwrap_or_default();
            if old
                .open_raw(CHECK_AAD, &check, "the key check value")
                .ok()
                .as_deref()
                != Some(CHECK_TEXT)
            {
                return Err(CredentialError::WrongKey {
                    key: old.describe(),
                });
            }
        }
        Some(l) if l == new.version() => {}
        Some(l) => {
            return Err(CredentialError::Rotation(format!(
            "this database's passwords are under key version {l}; the key file {} holds version {}",
            key_file.display(),
            old.version()
        )))
        }
    }
    let new_check = new.seal_raw(CHECK_AAD, CHECK_TEXT)?;
    let (old, new) = (std::sync::Arc::new(old), std::sync::Arc::new(new));
    let (o, n) = (old.clone(), new.clone());
    let re_encrypted = store
        .write(move |c| {
            Box::pin(async move {
                let bad = |e: CredentialError| StoreError::Conflict {
                    field: "credentials".into(),
                    message: e.to_string(),
                };
                match st::credential_key_check_in(c, n.version()).await? {
                    None => {
                        st::insert_credential_key(c, n.version(), &new_check, now).await?;
                    }
                    Some(check) => {
                        if n.open_raw(CHECK_AAD, &check, "the key check value")
                            .ok()
                            .as_deref()
                            != Some(CHECK_TEXT)
                        {
                            return Err(bad(CredentialError::WrongKey { key: n.describe() }));
                        }
                    }
                }
                let mut counts = serde_json::Map::new();
                let mut count = 0usize;
                let mut bump = |column: CredentialColumn| {
                    count += 1;
                    let e = counts.entry(column.name()).or_insert(json!(0));
                    *e = json!(e.as_u64().unwrap_or(0) + 1);
                };
                for cred in st::credentials_not_under(c, n.prefix()).await? {
                    let what = format!("{} of row {}", cred.column.name(), cred.id);
                    let plain = o.open(cred.column, &cred.value, &what).map_err(bad)?;
                    let sealed = n.seal(cred.column, &plain).map_err(bad)?;
                    if !st::replace_credential(c, cred.column, cred.id, &cred.value, &sealed)
                        .await?
                    {
                        return Err(bad(CredentialError::Rotation(format!(
                            "{what} changed during the rotation; run it again"
                        ))));
                    }
                    bump(cred.column);
                }
                for (id, text) in st::probe_secret_objects_in(c).await? {
                    let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(&text) else {
                        continue;
                    };
                    if map
                        .values()
                        .all(|v| v.is_empty() || v.starts_with(n.prefix()))
                    {
                        continue;
                    }
                    let opened = o.open_secrets(&map, id).map_err(bad)?;
                    let next = serde_json::to_string(&n.seal_secrets(&opened).map_err(bad)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    if !st::replace_credential(c, CredentialColumn::ProbeSecret, id, &text, &next)
                        .await?
                    {
                        return Err(bad(CredentialError::Rotation(format!(
                            "the secrets of probe {id} changed during the rotation; run it again"
                        ))));
                    }
                    bump(CredentialColumn::ProbeSecret);
                }
                // Nothing may be left under the old key once it is removed from disk.
                if let Some(left) = st::credentials_not_under(c, n.prefix()).await?.first() {
                    return Err(bad(CredentialError::Rotation(format!(
                        "{} of row {} is still not under key version {}",
                        left.column.name(),
                        left.id,
                        n.version()
                    ))));
                }
                let retired = st::retire_credential_keys_below(c, n.version(), now).await?;
                if count > 0 || retired > 0 {
                    append(
                        c,
                        NewAuditEntry {
                            actor: "system:cli".into(),
                            action: "credentials.rotated".into(),
                            object_type: "credentials".into(),
                            object_id: format!("key_v{}", n.version()),
                            before: Some(json!({"key_version": o.version()})),
                            after: Some(
                                json!({"key_version": n.version(), "re_encrypted": counts}),
                            ),
                            request_id: None,
                            at: now,
                        },
                    )
                    .await?;
                }
                Ok(count)
            })
        })
        .await?;
    // Committed: the new key becomes the key file; the old one is gone only now.
    std::fs::rename(&next_file, key_file).map_err(|e| CredentialError::KeyFile {
        path: key_file.display().to_string(),
        message: format!(
            "the passwords are re-encrypted under key version {}, but {} could not replace the key file ({e}): move it there by hand",
            new.version(),
            next_file.display()
        ),
    })?;
    if let Some(dir) = key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(Rotation {
        from: old.version(),
        to: new.version(),
        re_encrypted,
        resumed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_are_versioned_authenticated_and_bound_to_their_column() {
        let v = Vault::ephemeral();
        let s = v.seal(CredentialColumn::MonDatabase, "口令-123").unwrap();
        assert!(s.starts_with(PREFIX), "{s}");
        assert!(!s.contains("口令-123"));
        let raw = STANDARD.decode(&s[PREFIX.len()..]).unwrap();
        assert_eq!(raw.len(), NONCE_LEN + "口令-123".len() + TAG_LEN);
        // A fresh nonce each time: the same password never gives the same stored text.
        assert_ne!(
            s,
            v.seal(CredentialColumn::MonDatabase, "口令-123").unwrap()
        );
        assert_eq!(
            v.open(CredentialColumn::MonDatabase, &s, "x").unwrap(),
            "口令-123"
        );
        // Copied into the other column it does not open.
        assert!(matches!(
            v.open(CredentialColumn::DataopTarget, &s, "x"),
            Err(CredentialError::Undecryptable { .. })
        ));
        // Another key does not open it, and says which key it tried.
        let other = Vault::from_key(
            &[7u8; KEY_LEN],
            Some(PathBuf::from("/srv/k/credentials.key")),
        );
        let e = other
            .open(
                CredentialColumn::MonDatabase,
                &s,
                "the password of database 3",
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/srv/k/credentials.key") && e.contains("database 3"),
            "{e}"
        );
        // One flipped byte is detected.
        let mut bytes = raw.clone();
        bytes[NONCE_LEN] ^= 1;
        let tampered = format!("{PREFIX}{}", STANDARD.encode(bytes));
        assert!(v
            .open(CredentialColumn::MonDatabase, &tampered, "x")
            .is_err());
        assert!(matches!(
            v.open(CredentialColumn::MonDatabase, "v1:not base64!", "x"),
            Err(CredentialError::Malformed { .. })
        ));
        // No password stays no password; plain text from before encryption reads as it is.
        assert_eq!(v.seal(CredentialColumn::DataopTarget, "").unwrap(), "");
        assert_eq!(v.open(CredentialColumn::DataopTarget, "", "x").unwrap(), "");
        assert_eq!(
            v.open(CredentialColumn::DataopTarget, "legacy", "x")
                .unwrap(),
            "legacy"
        );
        assert!(!format!("{v:?}").contains("key: ["));
    }

    #[test]
    fn key_file_is_created_0600_reread_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(DEFAULT_KEY_FILE);
        let (a, created) = Vault::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{mode:o}");
        }
        let s = a.seal(CredentialColumn::DataopTarget, "pw").unwrap();
        let (b, created) = Vault::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(
            b.open(CredentialColumn::DataopTarget, &s, "x").unwrap(),
            "pw"
        );
        std::fs::write(&path, "not a key\n").unwrap();
        let e = Vault::load_or_create(&path).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("base64"),
            "{e}"
        );
        std::fs::write(&path, format!("{}\n", STANDARD.encode([1u8; 16]))).unwrap();
        let e = Vault::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("16 bytes, 32 expected"), "{e}");
    }
}
