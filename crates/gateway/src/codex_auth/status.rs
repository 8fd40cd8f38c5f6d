//! A secret-free summary of a Codex login for `doctor`: did the file load, is an account id
//! known, when does the access token expire, is there a refresh token.
//!
//! Invariant: an [`AuthStatus`] holds no token and no account id, only facts about them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::file::{self, AuthDoc};
use super::{AuthError, CodexAuth};

/// The state of one `auth.json`, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    pub file: PathBuf,
    /// The file was read and holds a ChatGPT login.
    pub loaded: bool,
    /// What stops this login from working, with the fix (an [`AuthError`] message).
    pub problem: Option<String>,
    pub account_id_present: bool,
    pub fedramp: bool,
    /// `None` when the file did not load.
    pub access_token: Option<AccessExpiry>,
    pub refresh_token_present: bool,
}

/// When the access token expires, relative to the moment the status was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessExpiry {
    ExpiresInSecs(u64),
    ExpiredSecsAgo(u64),
    /// The token has no readable `exp` (not a JWT).
    Unknown,
}

impl AccessExpiry {
    fn at(expiry: Option<SystemTime>, now: SystemTime) -> Self {
        match expiry {
            None => Self::Unknown,
            Some(exp) => match exp.duration_since(now) {
                Ok(left) if !left.is_zero() => Self::ExpiresInSecs(left.as_secs()),
                _ => Self::ExpiredSecsAgo(now.duration_since(exp).unwrap_or_default().as_secs()),
            },
        }
    }
}

impl fmt::Display for AccessExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ExpiresInSecs(secs) => write!(f, "expires in {}", span(secs)),
            Self::ExpiredSecsAgo(secs) => write!(f, "expired {} ago", span(secs)),
            Self::Unknown => f.write_str("expiry unknown (the access token is not a JWT)"),
        }
    }
}

/// `secs` as its two largest units, e.g. `3d 4h`, `12m 5s`.
fn span(secs: u64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let parts: Vec<String> = units
        .iter()
        .scan(secs, |rest, &(size, unit)| {
            let n = *rest / size;
            *rest %= size;
            Some((n, unit))
        })
        .skip_while(|&(n, _)| n == 0)
        .take(2)
        .filter(|&(n, _)| n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Reads the login at `path` and summarises it, for `doctor` when no [`CodexAuth`] exists.
pub fn inspect(path: &Path, now: SystemTime) -> AuthStatus {
    match file::read(path) {
        Ok(doc) => of_doc(path, &doc, now, None),
        Err(err) => not_loaded(path, &err),
    }
}

fn of_doc(path: &Path, doc: &AuthDoc, now: SystemTime, problem: Option<String>) -> AuthStatus {
    AuthStatus {
        file: path.to_path_buf(),
        loaded: true,
        problem,
        account_id_present: doc.account_id.is_some(),
        fedramp: doc.fedramp,
        access_token: Some(AccessExpiry::at(doc.access_expiry, now)),
        refresh_token_present: !doc.tokens.refresh_token.is_empty(),
    }
}

fn not_loaded(path: &Path, err: &AuthError) -> AuthStatus {
    AuthStatus {
        file: path.to_path_buf(),
        loaded: false,
        problem: Some(err.to_string()),
        account_id_present: false,
        fedramp: false,
        access_token: None,
        refresh_token_present: false,
    }
}

impl CodexAuth {
    /// The login as this process holds it, including a refresh token refused for good.
    pub fn status(&self) -> AuthStatus {
        let now = (self.clock)();
        self.with_state(|s| {
            let problem = s
                .refused
                .as_ref()
                .filter(|(refused, _)| refused.expose() == s.current.tokens.refresh_token)
                .map(|(_, reason)| self.rejected(reason.clone()).to_string());
            of_doc(&self.path, &s.current, now, problem)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiry_is_relative_to_now_and_readable() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let later = AccessExpiry::at(Some(now + Duration::from_secs(3 * 3600 + 125)), now);
        assert_eq!(later, AccessExpiry::ExpiresInSecs(10_925));
        assert_eq!(later.to_string(), "expires in 3h 2m");
        let earlier = AccessExpiry::at(Some(now - Duration::from_secs(90_061)), now);
        assert_eq!(earlier, AccessExpiry::ExpiredSecsAgo(90_061));
        assert_eq!(earlier.to_string(), "expired 1d 1h ago");
        assert_eq!(
            AccessExpiry::at(Some(now), now),
            AccessExpiry::ExpiredSecsAgo(0)
        );
        assert_eq!(
            AccessExpiry::ExpiredSecsAgo(0).to_string(),
            "expired 0s ago"
        );
        assert_eq!(AccessExpiry::ExpiresInSecs(7).to_string(), "expires in 7s");
        assert_eq!(AccessExpiry::at(None, now), AccessExpiry::Unknown);
    }
}
