//! `data_dir` and `storage`: where the project's one store lives (issue 13). By default an
//! embedded SQLite file under `data_dir` (`./data`), created on first start; `storage.url`
//! selects PostgreSQL (`postgres://…`, shared by several replicas) or another SQLite file
//! (`sqlite://…`). `storage.response_ttl_days` and `storage.max_bytes` bound what stored
//! Responses may occupy.
//!
//! Invariant: a PostgreSQL URL may carry a password, so the location is a [`Secret`] and every
//! view meant for people ([`Storage::display_location`]) shows it with the password replaced.

use serde::Deserialize;

use super::env::{expand_env_refs, Expanded};
use super::Secret;

/// Default `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default `storage.response_ttl_days` (OpenAI keeps stored responses about 30 days).
pub const DEFAULT_RESPONSE_TTL_DAYS: f64 = 30.0;
/// Default `storage.max_bytes`: 1 GiB of stored responses.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub url: Option<String>,
    pub response_ttl_days: Option<f64>,
    pub max_bytes: Option<u64>,
}

/// The validated store settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Storage {
    /// A `postgres://`/`sqlite:` URL, or the data directory holding the SQLite file.
    pub location: Secret,
    /// Stored responses expire this many days after they were created (fractions allowed:
    /// `0.5` is twelve hours).
    pub response_ttl_days: f64,
    /// Above this many stored bytes the oldest responses are evicted.
    pub max_bytes: u64,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            location: Secret::new(DEFAULT_DATA_DIR),
            response_ttl_days: DEFAULT_RESPONSE_TTL_DAYS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl Storage {
    /// The retention in whole seconds (at least one).
    pub fn ttl_secs(&self) -> i64 {
        ((self.response_ttl_days * 86_400.0).round() as i64).max(1)
    }

    /// Whether the store is PostgreSQL (shared by replicas).
    pub fn is_postgres(&self) -> bool {
        let l = self.location.expose();
        l.starts_with("postgres://") || l.starts_with("postgresql://")
    }

    /// The location for logs and summaries: a URL's password replaced by `***`.
    pub fn display_location(&self) -> String {
        redact_url_password(self.location.expose())
    }

    /// Any URL with its password replaced by `***` (for messages about Redis too).
    pub fn redact_url(url: &str) -> String {
        redact_url_password(url)
    }

    /// The password inside a URL location, for the redactor.
    pub fn password(&self) -> Option<String> {
        url_password(self.location.expose()).map(str::to_owned)
    }
}

/// `scheme://user:password@host…` → the password.
pub(crate) fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

pub(crate) fn redact_url_password(url: &str) -> String {
    match url_password(url) {
        Some(p) => url.replacen(&format!(":{p}@"), ":***@", 1),
        None => url.to_owned(),
    }
}

/// Validates `data_dir` and `storage`; problems go to `push(path, message)`.
pub(crate) fn validate_storage(
    data_dir: Option<String>,
    raw: Option<RawStorage>,
    env: &dyn Fn(&str) -> Option<String>,
    push: &mut dyn FnMut(String, String),
) -> Storage {
    let mut storage = Storage::default();
    if let Some(dir) = data_dir {
        if dir.trim().is_empty() {
            push(
                "data_dir".into(),
                format!("is empty — set a directory for the embedded store, e.g. {DEFAULT_DATA_DIR:?}, or remove the field"),
            );
        } else {
            storage.location = Secret::new(dir);
        }
    }
    let Some(raw) = raw else { return storage };
    if let Some(url) = raw.url {
        match expand_env_refs(&url, env) {
            Ok(Expanded { value, .. }) => {
                let v = value.trim();
                let known = ["postgres://", "postgresql://", "sqlite:"];
                if known.iter().any(|p| v.starts_with(p)) {
                    storage.location = Secret::new(v);
                } else {
                    push(
                        "storage.url".into(),
                        format!(
                            "{:?} is not a store URL — use \"postgres://user@host:5432/db\" \
                             (shared by replicas) or \"sqlite://path/to/file.sqlite3\"; remove \
                             it to use the SQLite file under data_dir",
                            redact_url_password(v)
                        ),
                    );
                }
            }
            Err(e) => push(
                "storage.url".into(),
                format!("cannot resolve an environment reference: {e:?} — export the variable or write the URL"),
            ),
        }
    }
    if let Some(days) = raw.response_ttl_days {
        if !(days.is_finite() && days * 86_400.0 >= 1.0) {
            push(
                "storage.response_ttl_days".into(),
                format!("{days} is not a retention — use a number of days of at least one second (e.g. 30, or 0.5 for twelve hours); remove it to keep responses {DEFAULT_RESPONSE_TTL_DAYS} days"),
            );
        } else {
            storage.response_ttl_days = days;
        }
    }
    if let Some(bytes) = raw.max_bytes {
        if bytes < 1024 * 1024 {
            push(
                "storage.max_bytes".into(),
                format!("{bytes} is too small for a store — use at least 1048576 (1 MiB); the default is {DEFAULT_MAX_BYTES} (1 GiB)"),
            );
        } else {
            storage.max_bytes = bytes;
        }
    }
    storage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let s = Storage {
            location: Secret::new("postgres://ccp:hunter2@db:5432/ccp"),
            ..Storage::default()
        };
        assert!(s.is_postgres());
        assert_eq!(s.display_location(), "postgres://ccp:***@db:5432/ccp");
        assert_eq!(s.password().as_deref(), Some("hunter2"));
        let plain = Storage::default();
        assert_eq!(plain.display_location(), "./data");
        assert_eq!(plain.password(), None);
        assert!(!plain.is_postgres());
    }

    #[test]
    fn bad_values_are_named() {
        let mut problems = Vec::new();
        let raw = RawStorage {
            url: Some("mysql://x".into()),
            response_ttl_days: Some(0.0),
            max_bytes: Some(10),
        };
        let s = validate_storage(Some(" ".into()), Some(raw), &|_| None, &mut |p, m| {
            problems.push((p, m))
        });
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "data_dir",
                "storage.url",
                "storage.response_ttl_days",
                "storage.max_bytes"
            ]
        );
        assert_eq!(s.response_ttl_days, DEFAULT_RESPONSE_TTL_DAYS);
    }

    #[test]
    fn env_references_resolve() {
        let raw = RawStorage {
            url: Some("${PG}".into()),
            response_ttl_days: Some(2.0),
            max_bytes: None,
        };
        let env = |n: &str| (n == "PG").then(|| "postgres://u:pw@h/db".to_owned());
        let s = validate_storage(None, Some(raw), &env, &mut |p, m| panic!("{p}: {m}"));
        assert_eq!(s.location.expose(), "postgres://u:pw@h/db");
        assert_eq!(s.response_ttl_days, 2.0);
    }
}
