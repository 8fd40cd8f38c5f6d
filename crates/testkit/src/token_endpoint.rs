//! `TokenEndpoint`: a mock of the ChatGPT OAuth token endpoint (`POST /oauth/token`) for tests
//! of token refresh, plus the fake-JWT and `auth.json` helpers (upstreams.md §1.3–§1.5).
//!
//! It answers `{"client_id", "grant_type": "refresh_token", "refresh_token", …}` (JSON, like
//! Codex) with a fresh access token, id token and a NEW refresh token, and the old refresh token
//! is spent: presenting it again gets 400 `refresh_token_reused`, as the real endpoint does when
//! two refreshers share one credential. Issued access tokens can be registered with a ChatGPT
//! mock's [`ChatGptTokens`], so the backend accepts exactly what the endpoint issued.
//!
//! Invariants: a refresh token is exchanged at most once (checked and rotated atomically when
//! the request arrives, before any scripted delay); a refused or failed refresh rotates nothing;
//! `refresh_count` counts successful exchanges only.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::responses_upstream::ChatGptTokens;
use crate::serve::{
    json_response, parse_body, Journal, Problem, RecordedRequest, Rule, Server, MAX_BODY_BYTES,
};
use crate::upstream::{serve_reply, Reply};

/// The Codex CLI's OAuth client id.
pub const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// Claim object holding the ChatGPT account id in OpenAI JWTs.
pub const AUTH_CLAIM: &str = "https://api.openai.com/auth";

/// A JWT-shaped token (`header.payload.signature`, base64url without padding) carrying `claims`.
/// The signature is a fixed fake: nothing verifies it.
pub fn fake_jwt(claims: Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "mock"});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"mock-signature"),
    )
}

/// The claims of a JWT (its second segment), or `None` if it is not one.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Access-token claims: `exp`, and the ChatGPT account under [`AUTH_CLAIM`].
pub fn access_token_claims(account_id: &str, exp: u64, jti: &str) -> Value {
    json!({
        "iss": "https://auth.openai.com",
        "aud": ["https://api.openai.com/v1"],
        "exp": exp,
        "iat": exp.saturating_sub(3_600),
        "jti": jti,
        "scp": ["openid", "profile", "email", "offline_access"],
        AUTH_CLAIM: {
            "chatgpt_account_id": account_id,
            "chatgpt_plan_type": "plus",
            "chatgpt_user_id": "user-mock",
        },
    })
}

/// Id-token claims as Codex decodes them at load: email, plan, account.
pub fn id_token_claims(account_id: &str, exp: u64) -> Value {
    json!({
        "iss": "https://auth.openai.com",
        "aud": CODEX_CLIENT_ID,
        "sub": "auth0|mock",
        "exp": exp,
        "iat": exp.saturating_sub(3_600),
        "email": "mock@example.invalid",
        "email_verified": true,
        AUTH_CLAIM: {
            "chatgpt_account_id": account_id,
            "chatgpt_plan_type": "plus",
            "chatgpt_user_id": "user-mock",
        },
    })
}

/// Writes a Codex-style `dir/auth.json` (ChatGPT login, mode 0600) and returns its path. The id
/// token is a fresh fake JWT for `account_id`; `last_refresh` is now.
pub fn write_auth_json(
    dir: impl AsRef<Path>,
    access_token: &str,
    refresh_token: &str,
    account_id: &str,
) -> PathBuf {
    let now = unix_now();
    let auth = json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": fake_jwt(id_token_claims(account_id, now + 3_600)),
            "access_token": access_token,
            "refresh_token": refresh_token,
            "account_id": account_id,
        },
        "last_refresh": rfc3339(now),
    });
    let path = dir.as_ref().join("auth.json");
    let text = serde_json::to_string_pretty(&auth).unwrap_or_else(|_| auth.to_string());
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("cannot chmod 600 {}: {e}", path.display()));
    }
    path
}

/// One set of tokens the endpoint issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// Fake JWT with `exp` and the account claim.
    pub access_token: String,
    /// Fake JWT with email and the account claim.
    pub id_token: String,
    /// Opaque, single-use.
    pub refresh_token: String,
    /// The account the tokens belong to.
    pub account_id: String,
    /// The access token's `exp` (unix seconds).
    pub expires_at: u64,
}

/// Where a refresh token stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    Active { account_id: String },
    Used,
    Revoked,
    Expired,
}

#[derive(Debug)]
struct Inner {
    client_id: Option<String>,
    grants: HashMap<String, Grant>,
    issued: Vec<IssuedTokens>,
    refreshes: usize,
    delay: Duration,
    access_ttl: Duration,
    serial: u64,
    backend: Option<ChatGptTokens>,
    failures: VecDeque<Reply>,
}

impl Inner {
    /// Issues a new token set for `account_id` and registers its access token with the backend.
    fn issue(&mut self, account_id: &str) -> IssuedTokens {
        self.serial += 1;
        let expires_at = unix_now() + self.access_ttl.as_secs();
        let jti = format!("mock-{}", self.serial);
        let tokens = IssuedTokens {
            access_token: fake_jwt(access_token_claims(account_id, expires_at, &jti)),
            id_token: fake_jwt(id_token_claims(account_id, expires_at)),
            refresh_token: format!("rt_mock_{}", self.serial),
            account_id: account_id.to_owned(),
            expires_at,
        };
        self.grants.insert(
            tokens.refresh_token.clone(),
            Grant::Active {
                account_id: account_id.to_owned(),
            },
        );
        if let Some(backend) = &self.backend {
            backend.allow_for(&tokens.access_token, account_id);
        }
        self.issued.push(tokens.clone());
        tokens
    }
}

/// What the handlers share: the script state and the journal.
type Shared = crate::serve::Shared<Inner>;

/// The mock OAuth token endpoint. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct TokenEndpoint {
    shared: Shared,
    server: Server,
}

impl TokenEndpoint {
    /// Binds `127.0.0.1:0`; access tokens live one hour; any `client_id` is accepted.
    pub async fn start() -> TokenEndpoint {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                client_id: None,
                grants: HashMap::new(),
                issued: Vec::new(),
                refreshes: 0,
                delay: Duration::ZERO,
                access_ttl: Duration::from_secs(3_600),
                serial: 0,
                backend: None,
                failures: VecDeque::new(),
            })),
            journal: Journal::default(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = Server::start("token endpoint", app).await;
        TokenEndpoint { shared, server }
    }

    /// Starts and registers every access token it issues with `backend` (a ChatGPT mock's
    /// token set).
    pub async fn for_backend(backend: &ChatGptTokens) -> TokenEndpoint {
        let endpoint = Self::start().await;
        endpoint.shared.lock().backend = Some(backend.clone());
        endpoint
    }

    /// `http://127.0.0.1:PORT/oauth/token` (what `CODEX_REFRESH_TOKEN_URL_OVERRIDE` takes).
    pub fn url(&self) -> String {
        format!("{}/oauth/token", self.origin())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    /// A first token set for `account_id`, as a login would give (not counted as a refresh).
    pub fn login(&self, account_id: &str) -> IssuedTokens {
        self.shared.lock().issue(account_id)
    }

    /// Refuse requests whose `client_id` is not `client_id` (401 `invalid_client`).
    pub fn expect_client_id(&self, client_id: &str) {
        self.shared.lock().client_id = Some(client_id.to_owned());
    }

    /// Answer every request only after `delay` (single-flight tests).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Lifetime of issued access tokens (their `exp`), default one hour.
    pub fn set_access_ttl(&self, ttl: Duration) {
        self.shared.lock().access_ttl = ttl;
    }

    /// Answers the next refresh request with `reply` instead (FIFO), rotating nothing: e.g.
    /// `Reply::error(500, …)` for a transient failure.
    pub fn push_failure(&self, reply: Reply) {
        self.shared.lock().failures.push_back(reply);
    }

    /// From now on `refresh_token` gets 400 `refresh_token_invalidated`.
    pub fn revoke(&self, refresh_token: &str) {
        self.shared
            .lock()
            .grants
            .insert(refresh_token.to_owned(), Grant::Revoked);
    }

    /// From now on `refresh_token` gets 400 `refresh_token_expired`.
    pub fn expire(&self, refresh_token: &str) {
        self.shared
            .lock()
            .grants
            .insert(refresh_token.to_owned(), Grant::Expired);
    }

    /// Successful refreshes so far.
    pub fn refresh_count(&self) -> usize {
        self.shared.lock().refreshes
    }

    /// Every token set issued (logins and refreshes), in order.
    pub fn issued(&self) -> Vec<IssuedTokens> {
        self.shared.lock().issued.clone()
    }

    /// The last token set issued.
    pub fn last_issued(&self) -> Option<IssuedTokens> {
        self.shared.lock().issued.last().cloned()
    }

    /// Snapshot of every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.journal.requests()
    }

    /// Every violation so far (refused refreshes included).
    pub fn violations(&self) -> Vec<String> {
        self.shared.journal.violations()
    }

    /// The rules broken so far, in order.
    pub fn violation_rules(&self) -> Vec<Rule> {
        self.shared.journal.violation_rules()
    }

    /// Panics listing every violation, if there is any.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        self.shared.journal.assert_no_violations("token endpoint");
    }

    /// Waits until at least `count` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        self.shared.journal.wait_for_requests(count, timeout).await
    }
}

/// How the endpoint answers one request.
enum Outcome {
    Issued(IssuedTokens),
    Refused(Rule, u16, Value),
    Scripted(Reply),
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let body = parse_body(&bytes);
    let journal = shared.journal.clone();
    let index = journal.record(&parts, bytes, body.clone());
    let outcome = if parts.method == Method::POST && parts.uri.path() == "/oauth/token" {
        exchange(&shared, &body)
    } else {
        let message = format!(
            "the token endpoint does not serve {} {}",
            parts.method,
            parts.uri.path()
        );
        Outcome::Refused(
            Rule::UnexpectedRequest,
            404,
            oauth_error("not_found", &message),
        )
    };
    let delay = shared.lock().delay;
    let answer = match outcome {
        Outcome::Issued(tokens) => {
            let ttl = tokens.expires_at.saturating_sub(unix_now());
            let body = json!({
                "access_token": tokens.access_token,
                "id_token": tokens.id_token,
                "refresh_token": tokens.refresh_token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": "openid profile email offline_access",
            });
            json_response(200, &body, &[])
        }
        Outcome::Refused(rule, status, body) => {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            journal.violate(index, &[Problem::new(rule, None, message)]);
            json_response(status, &body, &[])
        }
        Outcome::Scripted(reply) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            return serve_reply(&journal, index, reply).await;
        }
    };
    journal.finish_after(index, delay, answer).await
}

/// Validates a refresh request and rotates its token.
fn exchange(shared: &Shared, body: &Value) -> Outcome {
    let mut inner = shared.lock();
    if let Some(reply) = inner.failures.pop_front() {
        return Outcome::Scripted(reply);
    }
    let Some(obj) = body.as_object() else {
        return Outcome::Refused(
            Rule::InvalidJson,
            400,
            oauth_error(
                "invalid_request",
                "the refresh request body must be a JSON object",
            ),
        );
    };
    let field = |name: &str| obj.get(name).and_then(Value::as_str);
    if field("grant_type") != Some("refresh_token") {
        return Outcome::Refused(
            Rule::MissingField,
            400,
            oauth_error(
                "unsupported_grant_type",
                "grant_type must be \"refresh_token\"",
            ),
        );
    }
    let client_ok = match (&inner.client_id, field("client_id")) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(wanted), Some(given)) => wanted == given,
    };
    if !client_ok {
        return Outcome::Refused(
            Rule::Auth,
            401,
            oauth_error("invalid_client", "unknown or missing client_id"),
        );
    }
    let Some(token) = field("refresh_token") else {
        return Outcome::Refused(
            Rule::MissingField,
            400,
            oauth_error("invalid_request", "refresh_token is required"),
        );
    };
    let reused = || {
        oauth_error(
            "refresh_token_reused",
            "Your refresh token has already been used to generate a new access token. Please \
             try signing in again.",
        )
    };
    match inner.grants.get(token).cloned() {
        Some(Grant::Active { account_id }) => {
            inner.grants.insert(token.to_owned(), Grant::Used);
            inner.refreshes += 1;
            Outcome::Issued(inner.issue(&account_id))
        }
        Some(Grant::Used) => Outcome::Refused(Rule::RefreshTokenReused, 400, reused()),
        Some(Grant::Revoked) => Outcome::Refused(
            Rule::RefreshTokenInvalid,
            400,
            oauth_error(
                "refresh_token_invalidated",
                "Your refresh token has been revoked. Please try signing in again.",
            ),
        ),
        Some(Grant::Expired) => Outcome::Refused(
            Rule::RefreshTokenInvalid,
            400,
            oauth_error(
                "refresh_token_expired",
                "Your refresh token has expired. Please try signing in again.",
            ),
        ),
        // An unknown token is answered like a spent one: the endpoint cannot tell them apart.
        None => Outcome::Refused(Rule::RefreshTokenInvalid, 400, reused()),
    }
}

/// `{"error":{"code","message"}}`, the shape Codex classifies refresh failures by.
fn oauth_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn unix_now() -> u64 {
    crate::responses_upstream::unix_now()
}

/// RFC 3339 UTC timestamp (`2026-08-20T12:34:56.000Z`) of unix seconds.
pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_787_229_296), "2026-08-20T12:34:56.000Z");
    }

    #[test]
    fn fake_jwt_round_trips_without_padding() {
        let claims = json!({"exp": 5, AUTH_CLAIM: {"chatgpt_account_id": "acct"}});
        let token = fake_jwt(claims.clone());
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='));
        assert_eq!(jwt_claims(&token), Some(claims));
        assert_eq!(jwt_claims("not-a-jwt"), None);
    }
}
