//! Which [`FailureClass`] an attempt's failure belongs to.
//!
//! The class is decided once, where an [`UpstreamFailure`] is mapped to the client's error
//! (`FailureMapper`), and written to the attempt's [`FailureNote`]: the mapped error alone cannot
//! tell a refused connection from an upstream 500 (both are a 502 `server_error`). Failures the
//! proxy builds without an `UpstreamFailure` (a relayed `response.failed`, a converted answer
//! whose status is failed) leave the note unset and are classified by their error code.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::FailureClass;
use crate::error::{GatewayError, UpstreamFailure};

/// The class of one attempt's failure, written by the code that mapped it.
#[derive(Debug, Default)]
pub(crate) struct FailureNote(AtomicU8);

const UNSET: u8 = 0;
const NO_CLASS: u8 = 1;

impl FailureNote {
    /// Records the class of the attempt's failure (`None`: a failure no trigger covers).
    pub(crate) fn set(&self, class: Option<FailureClass>) {
        let code = match class {
            None => NO_CLASS,
            Some(c) => FailureClass::ALL
                .iter()
                .position(|x| *x == c)
                .map_or(NO_CLASS, |i| i as u8 + 2),
        };
        self.0.store(code, Ordering::Relaxed);
    }

    /// `Some(class)` once a failure was recorded.
    pub(crate) fn get(&self) -> Option<Option<FailureClass>> {
        match self.0.load(Ordering::Relaxed) {
            UNSET => None,
            NO_CLASS => Some(None),
            n => Some(FailureClass::ALL.get(usize::from(n - 2)).copied()),
        }
    }

    /// The recorded class, else the one `code` (and `status`, when known) names.
    pub(crate) fn class_or(&self, code: &str, status: Option<u16>) -> Option<FailureClass> {
        self.get().unwrap_or_else(|| class_of_code(code, status))
    }
}

/// The class of a mapped upstream failure.
pub(crate) fn class_of_failure(
    failure: &UpstreamFailure,
    mapped: &GatewayError,
) -> Option<FailureClass> {
    match failure {
        UpstreamFailure::Connect(_) | UpstreamFailure::Disconnected(_) => {
            Some(FailureClass::Connect)
        }
        UpstreamFailure::Timeout(_) => Some(FailureClass::Timeout),
        UpstreamFailure::Status { status, .. } => {
            if mapped.code() == "context_length_exceeded" {
                Some(FailureClass::ContextOverflow)
            } else if *status == 429 {
                Some(FailureClass::RateLimited)
            } else if *status >= 500 {
                Some(FailureClass::ServerError)
            } else {
                None
            }
        }
        UpstreamFailure::Protocol(_) => Some(FailureClass::ServerError),
        UpstreamFailure::InBand(_) => class_of_code(mapped.code(), None),
    }
}

/// The class an error code (as in `response.failed` or an `{"error":…}` frame) stands for.
pub(crate) fn class_of_code(code: &str, status: Option<u16>) -> Option<FailureClass> {
    match code {
        "context_length_exceeded" => Some(FailureClass::ContextOverflow),
        "rate_limit_exceeded" => Some(FailureClass::RateLimited),
        "server_error" | "server_is_overloaded" => Some(FailureClass::ServerError),
        _ => match status {
            Some(429) => Some(FailureClass::RateLimited),
            Some(s) if s >= 500 => Some(FailureClass::ServerError),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::map_upstream_failure;

    fn class(failure: UpstreamFailure) -> Option<FailureClass> {
        let mapped = map_upstream_failure("b", &failure);
        class_of_failure(&failure, &mapped)
    }

    fn status(status: u16, body: &str) -> UpstreamFailure {
        UpstreamFailure::Status {
            status,
            body: body.into(),
            retry_after: None,
        }
    }

    #[test]
    fn failures_fall_in_the_classes_the_config_names() {
        use FailureClass as C;
        assert_eq!(class(status(500, "boom")), Some(C::ServerError));
        assert_eq!(
            class(status(503, "Service Unavailable")),
            Some(C::ServerError)
        );
        assert_eq!(class(status(429, "slow down")), Some(C::RateLimited));
        assert_eq!(
            class(status(
                400,
                r#"{"error":{"code":"context_length_exceeded","message":"too long"}}"#
            )),
            Some(C::ContextOverflow)
        );
        assert_eq!(class(status(400, r#"{"error":{"message":"bad"}}"#)), None);
        assert_eq!(class(status(401, "{}")), None);
        assert_eq!(
            class(UpstreamFailure::Timeout("first byte")),
            Some(C::Timeout)
        );
        assert_eq!(
            class(UpstreamFailure::Connect("refused".into())),
            Some(C::Connect)
        );
        assert_eq!(
            class(UpstreamFailure::InBand(
                serde_json::json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})
            )),
            Some(C::ServerError)
        );
    }

    #[test]
    fn a_note_wins_over_the_code_and_remembers_no_class() {
        let note = FailureNote::default();
        assert_eq!(note.get(), None);
        assert_eq!(
            note.class_or("server_error", None),
            Some(FailureClass::ServerError)
        );
        note.set(Some(FailureClass::Connect));
        assert_eq!(
            note.class_or("server_error", None),
            Some(FailureClass::Connect)
        );
        note.set(None);
        assert_eq!(note.class_or("server_error", None), None);
        for c in FailureClass::ALL {
            note.set(Some(c));
            assert_eq!(note.get(), Some(Some(c)));
        }
        assert_eq!(
            class_of_code("insufficient_quota", Some(429)),
            Some(FailureClass::RateLimited)
        );
        assert_eq!(class_of_code("invalid_prompt", Some(400)), None);
    }
}
