//! Codex's `auth.json`: parsing it into the tokens the gateway needs, applying a refresh to it,
//! and writing it back.
//!
//! Invariants:
//! - The whole document is kept as parsed JSON, so a write-back changes only `tokens.id_token`,
//!   `tokens.access_token`, `tokens.refresh_token` (each only when the refresh returned it) and
//!   `last_refresh`; every other field, known or not, keeps its value (key order is not kept).
//! - A write-back is atomic: a temp file in the same directory, given the original's
//!   permissions, then renamed over the original. A reader never sees a half-written file.
//! - Error reasons never quote the file's content (serde_json's syntax errors give only a
//!   position, and fields are extracted by hand, not by typed deserialization).

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::refresh::TokenUpdate;
use super::{jwt, rfc3339, AuthError, Credential, REFRESH_WINDOW, STALE_AFTER};
use crate::config::Secret;

/// The tokens of a ChatGPT login. Compared to notice that another process refreshed.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Tokens {
    pub(super) id_token: Option<String>,
    pub(super) access_token: String,
    pub(super) refresh_token: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens([redacted])")
    }
}

/// A parsed `auth.json` holding a ChatGPT login, with the claims derived from its tokens.
pub(super) struct AuthDoc {
    /// The whole document, written back with only the refreshed fields changed.
    doc: Map<String, Value>,
    pub(super) tokens: Tokens,
    pub(super) last_refresh: Option<SystemTime>,
    pub(super) access_expiry: Option<SystemTime>,
    pub(super) account_id: Option<String>,
    pub(super) fedramp: bool,
}

/// Reads and parses `path`.
pub(super) fn read(path: &Path) -> Result<AuthDoc, AuthError> {
    match fs::read(path) {
        Ok(bytes) => parse(path, &bytes),
        Err(err) => Err(read_error(path, &err)),
    }
}

/// [`read`] without blocking the runtime.
pub(super) async fn read_async(path: &Path) -> Result<AuthDoc, AuthError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => parse(path, &bytes),
        Err(err) => Err(read_error(path, &err)),
    }
}

fn read_error(path: &Path, err: &io::Error) -> AuthError {
    if err.kind() == io::ErrorKind::NotFound {
        AuthError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        AuthError::Unreadable {
            path: path.to_path_buf(),
            reason: err.to_string(),
        }
    }
}

/// Parses the bytes of `path`; a file without a usable ChatGPT login is [`AuthError::LoggedOut`].
pub(super) fn parse(path: &Path, bytes: &[u8]) -> Result<AuthDoc, AuthError> {
    let malformed = |reason: String| AuthError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let logged_out = |reason: &str| AuthError::LoggedOut {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let doc = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(doc)) => doc,
        Ok(_) => return Err(malformed("the top level is not a JSON object".into())),
        Err(err) => return Err(malformed(format!("not JSON: {err}"))),
    };
    if doc.get("auth_mode").and_then(Value::as_str) == Some("apikey") {
        return Err(logged_out(
            "it holds an API-key login (auth_mode \"apikey\"), not a ChatGPT one",
        ));
    }
    let tokens = match doc.get("tokens") {
        Some(Value::Object(tokens)) => tokens,
        None | Some(Value::Null) => return Err(logged_out("it has no `tokens`")),
        Some(_) => return Err(malformed("`tokens` is not an object".into())),
    };
    let access_token = non_empty(tokens.get("access_token"))
        .ok_or_else(|| logged_out("`tokens.access_token` is missing or empty"))?;
    let refresh_token = non_empty(tokens.get("refresh_token"))
        .ok_or_else(|| logged_out("`tokens.refresh_token` is missing or empty"))?;
    let tokens = Tokens {
        id_token: non_empty(tokens.get("id_token")).map(str::to_owned),
        access_token: access_token.to_owned(),
        refresh_token: refresh_token.to_owned(),
    };
    Ok(AuthDoc::derive(doc, tokens))
}

fn non_empty(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl AuthDoc {
    fn derive(doc: Map<String, Value>, tokens: Tokens) -> Self {
        let stored_account = doc
            .get("tokens")
            .and_then(|t| non_empty(t.get("account_id")))
            .or_else(|| non_empty(doc.get("account_id")))
            .map(str::to_owned);
        let account_id = stored_account
            .or_else(|| tokens.id_token.as_deref().and_then(jwt::account_id))
            .or_else(|| jwt::account_id(&tokens.access_token));
        let fedramp = tokens
            .id_token
            .as_deref()
            .and_then(jwt::fedramp)
            .or_else(|| jwt::fedramp(&tokens.access_token))
            .unwrap_or(false);
        Self {
            last_refresh: doc
                .get("last_refresh")
                .and_then(Value::as_str)
                .and_then(rfc3339::parse),
            access_expiry: jwt::expiry(&tokens.access_token),
            account_id,
            fedramp,
            tokens,
            doc,
        }
    }

    /// Whether the access token must be refreshed before use at `now`: its `exp` is within
    /// [`REFRESH_WINDOW`], or (no readable `exp`) the last refresh is older than
    /// [`STALE_AFTER`] or unknown.
    pub(super) fn needs_refresh(&self, now: SystemTime) -> bool {
        match self.access_expiry {
            Some(exp) => exp <= now + REFRESH_WINDOW,
            None => self
                .last_refresh
                .is_none_or(|at| now.duration_since(at).is_ok_and(|age| age >= STALE_AFTER)),
        }
    }

    pub(super) fn credential(&self) -> Credential {
        Credential {
            access_token: Secret::new(self.tokens.access_token.clone()),
            account_id: self.account_id.clone(),
            fedramp: self.fedramp,
        }
    }

    /// Applies a successful refresh: replaces only the tokens it returned and sets
    /// `last_refresh` to `now`. `tokens.account_id` is left alone, as Codex does.
    pub(super) fn apply(&mut self, update: TokenUpdate, now: SystemTime) {
        let mut tokens = self.tokens.clone();
        let slot = self
            .doc
            .entry("tokens")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        if let Value::Object(stored) = slot {
            if let Some(id) = update.id_token {
                stored.insert("id_token".into(), Value::String(id.clone()));
                tokens.id_token = Some(id);
            }
            if let Some(access) = update.access_token {
                stored.insert("access_token".into(), Value::String(access.clone()));
                tokens.access_token = access;
            }
            if let Some(refresh) = update.refresh_token {
                stored.insert("refresh_token".into(), Value::String(refresh.clone()));
                tokens.refresh_token = refresh;
            }
        }
        self.doc
            .insert("last_refresh".into(), Value::String(rfc3339::format(now)));
        *self = Self::derive(std::mem::take(&mut self.doc), tokens);
    }

    /// The document as Codex writes it (pretty JSON).
    pub(super) fn to_bytes(&self) -> io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(&self.doc).map_err(io::Error::other)
    }
}

/// Replaces the file at `path` (or, if it is a symlink, the file it points to) with
/// `contents`, atomically, keeping its permissions (0600 when the file is gone).
pub(super) fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "auth.json".into(), |n| n.to_string_lossy().into_owned());
    let permissions = fs::metadata(&target).map(|m| m.permissions()).ok();
    let tmp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let written = write_new(&tmp, contents, permissions).and_then(|()| fs::rename(&tmp, &target));
    if written.is_err() {
        // Best effort: the temp file is ours and useless now.
        let _ = fs::remove_file(&tmp);
        return written;
    }
    // Make the rename itself durable; failing here loses nothing already written.
    if let Ok(dir) = fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn write_new(tmp: &Path, contents: &[u8], permissions: Option<Permissions>) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        // Never wider than the original, even for the instant before set_permissions below.
        options.mode(permissions.as_ref().map_or(0o600, |p| p.mode() & 0o777));
    }
    let mut file = options.open(tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    // The umask applied at creation; copy the original's mode exactly.
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt as _;
        Some(permissions.unwrap_or_else(|| Permissions::from_mode(0o600)))
    };
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)?;
    }
    Ok(())
}
