//! Behaviour of [`CodexAuth`] against real files in temp dirs and a token endpoint on
//! 127.0.0.1 that counts requests, rotates refresh tokens and refuses a reused one, like
//! `auth.openai.com` does. Time comes from an injected clock; nothing sleeps. Unix only: the
//! tests check file modes and inodes.
#![cfg(unix)]

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State as Extract;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tempfile::TempDir;

use super::jwt::tests::jwt;
use super::*;

/// 2026-12-04T12:00:00Z.
const T0: u64 = 1_796_385_600;
const HOUR: u64 = 3600;
const AUTH_CLAIM: &str = "https://api.openai.com/auth";
const LIVE_REFRESH: &str = "rt-SECRET-live";

/// A unique access token expiring at `exp` (unix seconds). Every test token carries SECRET or
/// is a JWT (starts with `eyJ`), so leak checks can look for both.
fn access(exp: u64) -> String {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    jwt(&json!({"exp": exp, "jti": SERIAL.fetch_add(1, Ordering::Relaxed)}))
}

fn id_token() -> String {
    jwt(&json!({"email": "dev@example.com", AUTH_CLAIM: {"chatgpt_plan_type": "pro"}}))
}

/// A ChatGPT login as Codex writes it, plus a field Codex does not know.
fn login(access_token: &str, refresh_token: &str) -> Value {
    json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": id_token(),
            "access_token": access_token,
            "refresh_token": refresh_token,
            "account_id": "acc-stored",
        },
        "last_refresh": "2026-12-01T08:00:00.000Z",
        "x_future_field": {"kept": [1, 2, 3]},
    })
}

fn assert_no_secret(text: &str, dir: &Path) {
    let text = text.replace(&dir.display().to_string(), "<dir>");
    assert!(
        !text.contains("SECRET") && !text.contains("eyJ"),
        "a token leaked: {text}"
    );
}

/// The fake OAuth token endpoint's state.
#[derive(Default)]
struct Endpoint {
    requests: usize,
    live: String,
    used: HashSet<String>,
    /// Answer every request with this status (redirects point back at the endpoint).
    fail_with: Option<StatusCode>,
    last_body: Value,
    last_content_type: Option<String>,
}

type Shared = Arc<Mutex<Endpoint>>;

async fn token_endpoint(
    Extract(ep): Extract<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut ep = ep.lock().unwrap();
    ep.requests += 1;
    ep.last_content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ep.last_body = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(status) = ep.fail_with {
        let body = Json(json!({"error": {"message": "try later", "code": "server_error"}}));
        return if status.is_redirection() {
            (status, [(header::LOCATION, "/oauth/token")], body).into_response()
        } else {
            (status, body).into_response()
        };
    }
    let presented = ep.last_body["refresh_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if ep.used.contains(&presented) {
        let body = json!({"error": {"code": "refresh_token_reused", "message": "Your refresh token has already been used to generate a new access token."}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    if presented != ep.live {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    ep.used.insert(presented);
    ep.live = format!("rt-SECRET-rotated-{}", ep.requests);
    let body = json!({"access_token": access(T0 + HOUR), "refresh_token": ep.live});
    Json(body).into_response()
}

struct Fixture {
    dir: TempDir,
    path: PathBuf,
    url: String,
    endpoint: Shared,
    /// The injected clock, in milliseconds since the epoch.
    now_ms: Arc<AtomicU64>,
}

impl Fixture {
    /// `doc` written to `auth.json` (mode 0600), the endpoint accepting its refresh token.
    async fn new(doc: &Value) -> Self {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("auth.json");
        fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let live = doc["tokens"]["refresh_token"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let endpoint = Arc::new(Mutex::new(Endpoint {
            live,
            ..Endpoint::default()
        }));
        let app = Router::new()
            .route("/oauth/token", post(token_endpoint))
            .with_state(endpoint.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            dir,
            path,
            url,
            endpoint,
            now_ms: Arc::new(AtomicU64::new(T0 * 1000)),
        }
    }

    fn auth(&self) -> Arc<CodexAuth> {
        let now_ms = self.now_ms.clone();
        let clock: Clock = Arc::new(move || {
            SystemTime::UNIX_EPOCH + Duration::from_millis(now_ms.load(Ordering::SeqCst))
        });
        Arc::new(CodexAuth::load(self.path.clone(), self.url.clone(), clock).unwrap())
    }

    fn requests(&self) -> usize {
        self.endpoint.lock().unwrap().requests
    }

    fn on_disk(&self) -> Value {
        serde_json::from_slice(&fs::read(&self.path).unwrap()).unwrap()
    }

    /// Another process (the user's Codex CLI) refreshed: new tokens in the file, the old
    /// refresh token spent at the endpoint.
    fn other_process_refreshes(&self, access_token: &str) -> String {
        let mut doc = self.on_disk();
        let mut ep = self.endpoint.lock().unwrap();
        let old = std::mem::replace(&mut ep.live, "rt-SECRET-other-process".into());
        ep.used.insert(old);
        doc["tokens"]["access_token"] = json!(access_token);
        doc["tokens"]["refresh_token"] = json!(ep.live);
        fs::write(&self.path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        access_token.to_owned()
    }
}

fn load_err(doc: &[u8]) -> (AuthError, TempDir) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("auth.json");
    fs::write(&path, doc).unwrap();
    let err = CodexAuth::load(path, DEFAULT_TOKEN_URL.into(), system_clock()).unwrap_err();
    (err, dir)
}

fn assert_names_file_and_fix(err: &AuthError, dir: &Path) {
    let text = err.to_string();
    assert!(
        text.contains(&dir.join("auth.json").display().to_string()),
        "{text}"
    );
    assert!(text.contains("run `codex login`"), "{text}");
    assert!(!err.is_transient(), "{text}");
    assert_no_secret(&format!("{text} {err:?}"), dir);
}

#[tokio::test]
async fn account_id_comes_from_each_link_of_the_chain_in_order() {
    let claims = |id: &str| json!({"exp": T0 + HOUR, AUTH_CLAIM: {"chatgpt_account_id": id}});
    let mut doc = login(&jwt(&claims("acc-access")), LIVE_REFRESH);
    doc["tokens"]["id_token"] = json!(jwt(&claims("acc-id")));
    doc["account_id"] = json!("acc-top");
    let mut expected = vec![
        (Some("acc-stored"), "tokens.account_id"),
        (Some("acc-top"), "top-level account_id"),
        (Some("acc-id"), "id_token claim"),
        (Some("acc-access"), "access_token claim"),
        (None, "nowhere"),
    ]
    .into_iter();
    for remove in [
        None,
        Some("/tokens/account_id"),
        Some("/account_id"),
        Some("/tokens/id_token"),
    ] {
        if let Some(pointer) = remove {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut doc
            } else {
                doc.pointer_mut(parent).unwrap()
            };
            parent.as_object_mut().unwrap().remove(key);
        }
        let (want, source) = expected.next().unwrap();
        let fixture = Fixture::new(&doc).await;
        let credential = fixture.auth().credential().await.unwrap();
        assert_eq!(credential.account_id.as_deref(), want, "from {source}");
    }
    doc["tokens"]["access_token"] = json!(access(T0 + HOUR));
    let (want, source) = expected.next().unwrap();
    let credential = Fixture::new(&doc).await.auth().credential().await.unwrap();
    assert_eq!(credential.account_id.as_deref(), want, "from {source}");
}

#[tokio::test]
async fn fedramp_claim_sets_the_flag() {
    let fedramp = |value: Value| {
        jwt(&json!({"exp": T0 + HOUR, AUTH_CLAIM: {"chatgpt_account_is_fedramp": value}}))
    };
    let cases = [
        (Some(fedramp(json!(true))), access(T0 + HOUR), true),
        (Some(fedramp(json!(false))), fedramp(json!(true)), false),
        (None, fedramp(json!(true)), true),
        (Some(id_token()), access(T0 + HOUR), false),
    ];
    for (id, access_token, want) in cases {
        let mut doc = login(&access_token, LIVE_REFRESH);
        doc["tokens"]["id_token"] = id.map_or(Value::Null, Value::String);
        let credential = Fixture::new(&doc).await.auth().credential().await.unwrap();
        assert_eq!(credential.fedramp, want);
    }
}

#[test]
fn missing_file_names_the_path_and_codex_login() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("auth.json");
    let err = CodexAuth::load(path.clone(), DEFAULT_TOKEN_URL.into(), system_clock()).unwrap_err();
    assert!(matches!(err, AuthError::Missing { .. }), "{err:?}");
    assert_names_file_and_fix(&err, dir.path());
    let status = inspect(&path, SystemTime::UNIX_EPOCH);
    assert!(!status.loaded);
    assert_eq!(status.problem, Some(err.to_string()));
}

#[test]
fn logged_out_files_name_the_path_and_codex_login() {
    let api_key = json!({"auth_mode": "apikey", "OPENAI_API_KEY": "sk-SECRET", "tokens": login("a", "r")["tokens"]});
    let cases = [
        json!({"OPENAI_API_KEY": null}),
        json!({"OPENAI_API_KEY": null, "tokens": null}),
        json!({"tokens": {"access_token": access(T0), "refresh_token": ""}}),
        json!({"tokens": {"refresh_token": LIVE_REFRESH}}),
        api_key,
    ];
    for doc in cases {
        let (err, dir) = load_err(doc.to_string().as_bytes());
        assert!(matches!(err, AuthError::LoggedOut { .. }), "{doc}: {err:?}");
        assert_names_file_and_fix(&err, dir.path());
    }
}

#[test]
fn malformed_files_name_the_path_and_codex_login() {
    for doc in [
        &b"{\"tokens\": {\"access_token\": \"eyJSECRET"[..],
        b"[]",
        b"{\"tokens\": 7}",
        b"\xff",
    ] {
        let (err, dir) = load_err(doc);
        assert!(matches!(err, AuthError::Malformed { .. }), "{err:?}");
        assert_names_file_and_fix(&err, dir.path());
    }
}

#[test]
fn default_auth_file_prefers_codex_home_then_home() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(
        default_auth_file(&env(&[("CODEX_HOME", "/srv/codex"), ("HOME", "/home/u")])),
        PathBuf::from("/srv/codex/auth.json")
    );
    assert_eq!(
        default_auth_file(&env(&[("CODEX_HOME", ""), ("HOME", "/home/u")])),
        PathBuf::from("/home/u/.codex/auth.json")
    );
}

#[tokio::test]
async fn valid_token_is_used_without_a_refresh() {
    // Six minutes left: outside the five-minute window.
    let token = access(T0 + 6 * 60);
    let fixture = Fixture::new(&login(&token, LIVE_REFRESH)).await;
    let auth = fixture.auth();
    for _ in 0..3 {
        assert_eq!(
            auth.credential().await.unwrap().access_token.expose(),
            token
        );
    }
    assert_eq!(fixture.requests(), 0);
}

#[tokio::test]
async fn expiring_token_is_refreshed_exactly_once() {
    let old = access(T0 + 4 * 60);
    let fixture = Fixture::new(&login(&old, LIVE_REFRESH)).await;
    let auth = fixture.auth();
    let fresh = auth.credential().await.unwrap();
    assert_ne!(fresh.access_token.expose(), old);
    assert_eq!(fresh.account_id.as_deref(), Some("acc-stored"));
    assert_eq!(
        auth.credential().await.unwrap().access_token.expose(),
        fresh.access_token.expose()
    );
    assert_eq!(fixture.requests(), 1);
    let ep = fixture.endpoint.lock().unwrap();
    assert_eq!(ep.last_content_type.as_deref(), Some("application/json"));
    assert_eq!(
        ep.last_body,
        json!({"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "grant_type": "refresh_token",
               "refresh_token": LIVE_REFRESH, "scope": "openid profile email"})
    );
}

#[tokio::test]
async fn without_exp_the_last_refresh_age_decides() {
    let mut doc = login("opaque-SECRET-token", LIVE_REFRESH);
    doc["last_refresh"] = json!("2026-11-27T12:00:00Z"); // seven days before T0
    let fixture = Fixture::new(&doc).await;
    let auth = fixture.auth();
    auth.credential().await.unwrap();
    assert_eq!(fixture.requests(), 0);
    fixture.now_ms.fetch_add(24 * HOUR * 1000, Ordering::SeqCst); // now eight days old
    let fresh = auth.credential().await.unwrap();
    assert_eq!(fixture.requests(), 1);
    assert_ne!(fresh.access_token.expose(), "opaque-SECRET-token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_callers_cause_one_refresh() {
    let fixture = Fixture::new(&login(&access(T0 - HOUR), LIVE_REFRESH)).await;
    let auth = fixture.auth();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.credential().await })
        })
        .collect();
    let mut tokens = HashSet::new();
    for caller in callers {
        tokens.insert(
            caller
                .await
                .unwrap()
                .unwrap()
                .access_token
                .expose()
                .to_owned(),
        );
    }
    assert_eq!(fixture.requests(), 1);
    assert_eq!(tokens.len(), 1, "all callers share the refreshed token");
}

#[tokio::test]
async fn refresh_rewrites_the_file_atomically_keeping_the_rest() {
    let before = login(&access(T0 - HOUR), LIVE_REFRESH);
    let fixture = Fixture::new(&before).await;
    fixture.now_ms.fetch_add(123, Ordering::SeqCst);
    let inode = fs::metadata(&fixture.path).unwrap().ino();
    let fresh = fixture.auth().credential().await.unwrap();

    let after = fixture.on_disk();
    assert_eq!(
        after["tokens"]["access_token"],
        json!(fresh.access_token.expose())
    );
    assert_eq!(
        after["tokens"]["refresh_token"],
        json!("rt-SECRET-rotated-1")
    );
    assert_eq!(after["last_refresh"], json!("2026-12-04T12:00:00.123Z"));
    let mut unchanged = after.clone();
    for field in ["access_token", "refresh_token"] {
        unchanged["tokens"][field] = before["tokens"][field].clone();
    }
    unchanged["last_refresh"] = before["last_refresh"].clone();
    assert_eq!(unchanged, before, "only the refreshed fields may change");

    let meta = fs::metadata(&fixture.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_ne!(
        meta.ino(),
        inode,
        "replaced by rename, not rewritten in place"
    );
    let names: Vec<_> = fs::read_dir(fixture.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["auth.json"], "no temp file left behind");
}

#[tokio::test]
async fn write_back_copies_an_unusual_mode_exactly() {
    let fixture = Fixture::new(&login(&access(T0), LIVE_REFRESH)).await;
    // 0666 survives only if copied: the umask would narrow a freshly created file.
    fs::set_permissions(&fixture.path, fs::Permissions::from_mode(0o666)).unwrap();
    fixture.auth().credential().await.unwrap();
    assert_eq!(fixture.requests(), 1);
    let mode = fs::metadata(&fixture.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666);
}

#[tokio::test]
async fn tokens_refreshed_by_another_process_are_adopted_without_a_request() {
    let fixture = Fixture::new(&login(&access(T0), LIVE_REFRESH)).await;
    let auth = fixture.auth();
    let theirs = fixture.other_process_refreshes(&access(T0 + HOUR));
    assert_eq!(
        auth.credential().await.unwrap().access_token.expose(),
        theirs
    );
    assert_eq!(fixture.requests(), 0);
    // Their refresh token is ours now: the next refresh sends it, not the spent one.
    fixture.now_ms.fetch_add(HOUR * 1000, Ordering::SeqCst);
    auth.credential().await.unwrap();
    assert_eq!(fixture.requests(), 1);
    let ep = fixture.endpoint.lock().unwrap();
    assert_eq!(
        ep.last_body["refresh_token"],
        json!("rt-SECRET-other-process")
    );
}

#[tokio::test]
async fn expiring_tokens_from_another_process_are_refreshed_with_their_refresh_token() {
    let fixture = Fixture::new(&login(&access(T0), LIVE_REFRESH)).await;
    let auth = fixture.auth();
    fixture.other_process_refreshes(&access(T0 + 60));
    auth.credential().await.unwrap();
    assert_eq!(fixture.requests(), 1);
    let ep = fixture.endpoint.lock().unwrap();
    assert_eq!(
        ep.last_body["refresh_token"],
        json!("rt-SECRET-other-process")
    );
}

#[tokio::test]
async fn after_unauthorized_uses_a_token_changed_on_disk() {
    let rejected = access(T0 + HOUR);
    let fixture = Fixture::new(&login(&rejected, LIVE_REFRESH)).await;
    let auth = fixture.auth();
    let theirs = fixture.other_process_refreshes(&access(T0 + 2 * HOUR));
    let retry = auth.after_unauthorized(&rejected).await.unwrap();
    assert_eq!(retry.access_token.expose(), theirs);
    assert_eq!(fixture.requests(), 0);
}

#[tokio::test]
async fn after_unauthorized_refreshes_once_when_the_file_is_unchanged() {
    let rejected = access(T0 + HOUR);
    let fixture = Fixture::new(&login(&rejected, LIVE_REFRESH)).await;
    let auth = fixture.auth();
    let retry = auth.after_unauthorized(&rejected).await.unwrap();
    assert_ne!(retry.access_token.expose(), rejected);
    assert_eq!(fixture.requests(), 1);
    // A second request that got a 401 on the same old token reuses the new one.
    let again = auth.after_unauthorized(&rejected).await.unwrap();
    assert_eq!(again.access_token.expose(), retry.access_token.expose());
    assert_eq!(fixture.requests(), 1);
}

#[tokio::test]
async fn reused_refresh_token_is_permanent_and_not_sent_again() {
    let fixture = Fixture::new(&login(&access(T0), LIVE_REFRESH)).await;
    fixture
        .endpoint
        .lock()
        .unwrap()
        .used
        .insert(LIVE_REFRESH.into());
    let auth = fixture.auth();
    for _ in 0..2 {
        let err = auth.credential().await.unwrap_err();
        assert!(matches!(err, AuthError::RefreshRejected { .. }), "{err:?}");
        assert!(err.to_string().contains("already used"), "{err}");
        assert_names_file_and_fix(&err, fixture.dir.path());
    }
    assert_eq!(
        fixture.requests(),
        1,
        "a refused refresh token is not retried"
    );
    let status = auth.status();
    assert!(status
        .problem
        .as_deref()
        .is_some_and(|p| p.contains("codex login")));

    // `codex login` writes a new login; it is used at once.
    let relogin = login(&access(T0 + HOUR), "rt-SECRET-relogin");
    fs::write(&fixture.path, relogin.to_string()).unwrap();
    let credential = auth.credential().await.unwrap();
    assert_eq!(
        credential.access_token.expose(),
        relogin["tokens"]["access_token"].as_str().unwrap()
    );
    assert_eq!(auth.status().problem, None);
}

#[tokio::test]
async fn server_errors_are_transient_and_retried() {
    let fixture = Fixture::new(&login(&access(T0), LIVE_REFRESH)).await;
    fixture.endpoint.lock().unwrap().fail_with = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let auth = fixture.auth();
    for attempt in 1..=2 {
        let err = auth.credential().await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("500"), "{err}");
        assert_no_secret(&format!("{err} {err:?}"), fixture.dir.path());
        assert_eq!(fixture.requests(), attempt);
    }
    fixture.endpoint.lock().unwrap().fail_with = None;
    auth.credential().await.unwrap();
    assert_eq!(fixture.requests(), 3);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let fixture = Fixture::new(&login(&access(T0), LIVE_REFRESH)).await;
    fixture.endpoint.lock().unwrap().fail_with = Some(StatusCode::TEMPORARY_REDIRECT);
    let err = fixture.auth().credential().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(fixture.requests(), 1);
}

#[tokio::test]
async fn status_and_debug_output_hold_no_secret() {
    let fixture = Fixture::new(&login(&access(T0 + 2 * HOUR), LIVE_REFRESH)).await;
    let auth = fixture.auth();
    let status = auth.status();
    assert!(status.loaded && status.account_id_present && status.refresh_token_present);
    assert_eq!(
        status.access_token,
        Some(AccessExpiry::ExpiresInSecs(2 * HOUR))
    );
    assert_eq!(status.problem, None);
    assert_eq!(
        inspect(
            &fixture.path,
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + 3 * HOUR)
        )
        .access_token,
        Some(AccessExpiry::ExpiredSecsAgo(HOUR))
    );
    let credential = auth.credential().await.unwrap();
    let outputs = format!("{auth:?} {credential:?} {status:?}");
    assert_no_secret(&outputs, fixture.dir.path());
    assert!(
        outputs.contains("acc-stored"),
        "account ids are not secret: {outputs}"
    );
}
