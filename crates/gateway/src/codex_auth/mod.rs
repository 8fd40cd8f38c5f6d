//! The credential of a ChatGPT ("Codex subscription") backend, taken from a Codex `auth.json`:
//! the access token to send as `Authorization: Bearer`, the `ChatGPT-Account-ID` and the
//! FedRAMP flag, kept fresh by OAuth refreshes that are written back to the same file
//! (upstreams.md §1.3–§1.5).
//!
//! Invariants:
//! - At most one refresh runs per [`CodexAuth`] at a time, and each one starts by re-reading
//!   the file: refresh tokens rotate, so if another process (the user's own Codex CLI, another
//!   proxy) already refreshed, its tokens are adopted and our stale refresh token is never
//!   sent (a reused one is refused for good).
//! - A refresh token the endpoint refused permanently is remembered and never sent again; only
//!   a new login (new tokens in the file) clears that.
//! - No token appears in any `Display`, `Debug`, error or log line.
//! - Time comes only from the injected [`Clock`], so expiry logic is testable without sleeping.

mod file;
mod jwt;
mod refresh;
mod rfc3339;
mod status;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::config::Secret;
use file::{AuthDoc, Tokens};
use refresh::RefreshFailure;

pub use status::{inspect, AccessExpiry, AuthStatus};

/// OpenAI's OAuth token endpoint.
/// Seconds since the epoch of an RFC 3339 UTC time (`2026-12-04T12:00:00Z`), as Codex and the
/// ChatGPT backend write them.
pub fn parse_rfc3339_secs(text: &str) -> Option<u64> {
    rfc3339::parse(text)?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

pub const DEFAULT_TOKEN_URL: &str = "https://auth.openai.com/oauth/token";
/// Refresh when the access token expires within this window.
pub const REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Without a readable `exp`, refresh when the last refresh is this old.
pub const STALE_AFTER: Duration = Duration::from_secs(8 * 24 * 60 * 60);

/// The source of "now" for expiry decisions and `last_refresh`.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Where Codex keeps its login: `$CODEX_HOME/auth.json`, else `~/.codex/auth.json`.
/// `env` looks up environment variables (the process environment, or a map in tests).
pub fn default_auth_file(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(codex_home) = set("CODEX_HOME") {
        return PathBuf::from(codex_home).join("auth.json");
    }
    let home = set("HOME")
        .or_else(|| set("USERPROFILE"))
        .unwrap_or_default();
    PathBuf::from(home).join(".codex").join("auth.json")
}

/// What a request to the ChatGPT backend needs: `Authorization: Bearer <access_token>`,
/// `ChatGPT-Account-ID: <account_id>` when known, `X-OpenAI-Fedramp: true` when `fedramp`.
#[derive(Clone, Debug)]
pub struct Credential {
    pub access_token: Secret,
    pub account_id: Option<String>,
    pub fedramp: bool,
}

/// Why no credential could be produced. Every message names the file and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Codex login at {} — run `codex login` (or set CODEX_HOME to the directory that \
         holds auth.json)",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "cannot read the Codex login {}: {reason} — check its permissions, or run `codex login`",
        path.display()
    )]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{} is not a valid Codex auth.json ({reason}) — run `codex login` to rewrite it",
        path.display()
    )]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{} holds no ChatGPT login ({reason}) — run `codex login` and sign in with ChatGPT",
        path.display()
    )]
    LoggedOut { path: PathBuf, reason: String },
    /// The token endpoint refused the refresh token for good; only a new login helps.
    #[error(
        "the ChatGPT refresh token in {} {reason} — run `codex login` to sign in again",
        path.display()
    )]
    RefreshRejected { path: PathBuf, reason: String },
    /// The refresh failed in a way a later attempt may not (network, timeout, 5xx).
    #[error(
        "could not refresh the ChatGPT access token from {}: {reason} — the next request \
         will try again",
        path.display()
    )]
    RefreshFailed { path: PathBuf, reason: String },
    #[error("cannot set up ChatGPT token refresh for {}: {reason}", path.display())]
    Setup { path: PathBuf, reason: String },
}

impl AuthError {
    /// Whether retrying later, without the user doing anything, may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RefreshFailed { .. })
    }
}

/// The ChatGPT credential of one `auth.json`. Share it (`Arc`) between all requests that use
/// this login so that refreshes are serialised.
pub struct CodexAuth {
    path: PathBuf,
    token_url: String,
    client: reqwest::Client,
    clock: Clock,
    state: Mutex<State>,
    /// Held for the whole of a refresh, from the guarded reload to the write-back.
    refreshing: tokio::sync::Mutex<()>,
}

struct State {
    /// The login in use (normally equal to the file).
    current: AuthDoc,
    /// The tokens as last read from or written to the file: the guarded reload's baseline.
    on_disk: Tokens,
    /// A refresh token the endpoint refused for good, and why.
    refused: Option<(Secret, String)>,
}

/// What started a refresh, and so what makes it unnecessary.
#[derive(Clone, Copy)]
enum Trigger<'a> {
    /// The access token expires within [`REFRESH_WINDOW`].
    Expiring,
    /// The backend answered 401 to this access token.
    Rejected(&'a str),
}

impl Trigger<'_> {
    /// The credential to use instead of refreshing, if `doc` already satisfies this trigger.
    fn settled_by(self, doc: &AuthDoc, now: SystemTime) -> Option<Credential> {
        let usable = !doc.needs_refresh(now)
            && match self {
                Trigger::Expiring => true,
                Trigger::Rejected(rejected) => doc.tokens.access_token != rejected,
            };
        usable.then(|| doc.credential())
    }
}

impl CodexAuth {
    /// Reads the login at `path`; refreshes go to `token_url` ([`DEFAULT_TOKEN_URL`] normally).
    pub fn load(path: PathBuf, token_url: String, clock: Clock) -> Result<Self, AuthError> {
        let current = file::read(&path)?;
        let setup = |reason: String| AuthError::Setup {
            path: path.clone(),
            reason,
        };
        match reqwest::Url::parse(&token_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(setup(format!(
                    "token URL {token_url:?} is not an http(s) URL"
                )))
            }
        }
        let client = refresh::client().map_err(setup)?;
        Ok(Self {
            state: Mutex::new(State {
                on_disk: current.tokens.clone(),
                current,
                refused: None,
            }),
            path,
            token_url,
            client,
            clock,
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The file this login is read from and written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential to use now, refreshed first when the access token expires within
    /// [`REFRESH_WINDOW`] (or, without a readable expiry, was last refreshed [`STALE_AFTER`]
    /// ago).
    pub async fn credential(&self) -> Result<Credential, AuthError> {
        let now = (self.clock)();
        match self.with_state(|s| Trigger::Expiring.settled_by(&s.current, now)) {
            Some(credential) => Ok(credential),
            None => self.refresh(Trigger::Expiring).await,
        }
    }

    /// The credential to retry with after the backend answered 401 to the access token
    /// `rejected`: a different token from the file if another process refreshed meanwhile,
    /// else a freshly refreshed one.
    pub async fn after_unauthorized(&self, rejected: &str) -> Result<Credential, AuthError> {
        self.refresh(Trigger::Rejected(rejected)).await
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding this lock cannot leave `State` half-updated (every update is
        // a plain assignment), so a poisoned lock is still consistent.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    async fn refresh(&self, trigger: Trigger<'_>) -> Result<Credential, AuthError> {
        let _one_at_a_time = self.refreshing.lock().await;
        // Another task may have refreshed while we waited for the lock.
        let now = (self.clock)();
        if let Some(credential) = self.with_state(|s| trigger.settled_by(&s.current, now)) {
            return Ok(credential);
        }
        // Guarded reload: another process may have refreshed (and so rotated the token).
        let on_disk = file::read_async(&self.path).await?;
        let adopted = self.with_state(|s| s.reload(on_disk));
        if adopted {
            tracing::info!(file = %self.path.display(), "adopted ChatGPT tokens refreshed by another process");
            if let Some(credential) = self.with_state(|s| trigger.settled_by(&s.current, now)) {
                return Ok(credential);
            }
        }
        let refresh_token = self.with_state(|s| match &s.refused {
            Some((refused, reason)) if refused.expose() == s.current.tokens.refresh_token => {
                Err(reason.clone())
            }
            _ => Ok(s.current.tokens.refresh_token.clone()),
        });
        let refresh_token = refresh_token.map_err(|reason| self.rejected(reason))?;
        match refresh::request(&self.client, &self.token_url, &refresh_token).await {
            Ok(update) => Ok(self.store(update).await),
            Err(RefreshFailure::Permanent(reason)) => {
                tracing::warn!(file = %self.path.display(), %reason, "ChatGPT refresh token refused");
                self.with_state(|s| s.refused = Some((Secret::new(refresh_token), reason.clone())));
                Err(self.rejected(reason))
            }
            Err(RefreshFailure::Transient(reason)) => Err(AuthError::RefreshFailed {
                path: self.path.clone(),
                reason,
            }),
        }
    }

    fn rejected(&self, reason: String) -> AuthError {
        AuthError::RefreshRejected {
            path: self.path.clone(),
            reason,
        }
    }

    /// Applies a successful refresh and writes it back. A failed write is logged, not
    /// returned: the new tokens are valid and kept in memory, and the old refresh token in
    /// the file is already spent either way.
    async fn store(&self, update: refresh::TokenUpdate) -> Credential {
        let now = (self.clock)();
        let (bytes, tokens, credential) = self.with_state(|s| {
            s.current.apply(update, now);
            (
                s.current.to_bytes(),
                s.current.tokens.clone(),
                s.current.credential(),
            )
        });
        let path = self.path.clone();
        let written = match bytes {
            Ok(bytes) => tokio::task::spawn_blocking(move || file::write_atomically(&path, &bytes))
                .await
                .unwrap_or_else(|join| Err(std::io::Error::other(join))),
            Err(err) => Err(err),
        };
        match written {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), "refreshed the ChatGPT access token");
                self.with_state(|s| s.on_disk = tokens);
            }
            Err(err) => tracing::warn!(
                file = %self.path.display(),
                error = %err,
                "refreshed the ChatGPT access token but could not save it; other programs \
                 using this file will need `codex login`"
            ),
        }
        credential
    }
}

impl State {
    /// Takes in a fresh read of the file. Returns whether its tokens differ from the ones we
    /// last saw there (another process wrote them), in which case they replace ours.
    fn reload(&mut self, read: AuthDoc) -> bool {
        if read.tokens != self.on_disk {
            self.on_disk = read.tokens.clone();
            self.current = read;
            return true;
        }
        // Same tokens: keep the file's other fields current for the next write-back, unless
        // ours are newer (an earlier write-back failed).
        if read.tokens == self.current.tokens {
            self.current = read;
        }
        false
    }
}

impl fmt::Debug for CodexAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodexAuth")
            .field("path", &self.path)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}
