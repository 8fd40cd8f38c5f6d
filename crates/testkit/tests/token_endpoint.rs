//! `TokenEndpoint`: refresh-token rotation, refusal of spent/unknown/revoked/expired tokens,
//! scripted failures and delays, registration of issued access tokens with a ChatGPT mock
//! (expired → refresh → success), and the `fake_jwt` / `write_auth_json` helpers.

mod common;

use std::time::{Duration, Instant};

use ccp_testkit::token_endpoint::{AUTH_CLAIM, CODEX_CLIENT_ID};
use ccp_testkit::{
    jwt_claims, write_auth_json, ChatGptTokens, Reply, ResponseStream, ResponsesUpstream, Rule,
    TempDir, TokenEndpoint,
};
use common::read_to_end;
use common::responses::{codex_request, post_json, status_json, NO_HEADERS};
use serde_json::{json, Value};

const ACCOUNT: &str = "acct-9999";

fn refresh_body(refresh_token: &str) -> Value {
    json!({"client_id": CODEX_CLIENT_ID, "grant_type": "refresh_token",
           "refresh_token": refresh_token})
}

async fn refresh(endpoint: &TokenEndpoint, refresh_token: &str) -> (u16, Value) {
    status_json(post_json(&endpoint.url(), NO_HEADERS, &refresh_body(refresh_token)).await).await
}

#[tokio::test]
async fn refresh_rotates_and_a_spent_token_is_refused() {
    let endpoint = TokenEndpoint::start().await;
    let login = endpoint.login(ACCOUNT);
    let (status, answer) = refresh(&endpoint, &login.refresh_token).await;
    assert_eq!(status, 200, "{answer}");
    let new_refresh = answer["refresh_token"].as_str().expect("refresh_token");
    assert_ne!(
        new_refresh, login.refresh_token,
        "the refresh token rotates"
    );
    assert_ne!(answer["access_token"], json!(login.access_token));
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["expires_in"].as_u64().is_some_and(|s| s > 3_000));
    let claims = jwt_claims(answer["access_token"].as_str().expect("jwt")).expect("claims");
    assert_eq!(claims[AUTH_CLAIM]["chatgpt_account_id"], ACCOUNT);
    assert!(claims["exp"].as_u64().is_some());
    let id_claims = jwt_claims(answer["id_token"].as_str().expect("jwt")).expect("claims");
    assert_eq!(id_claims[AUTH_CLAIM]["chatgpt_account_id"], ACCOUNT);
    assert_eq!(endpoint.refresh_count(), 1);
    assert_eq!(
        endpoint.last_issued().expect("issued").refresh_token,
        new_refresh
    );
    endpoint.assert_no_violations();

    // A second refresher holding the old token.
    let (status, answer) = refresh(&endpoint, &login.refresh_token).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "refresh_token_reused");
    assert!(answer["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(endpoint.violation_rules(), vec![Rule::RefreshTokenReused]);

    // The rotated token still works, once.
    let new_refresh = new_refresh.to_owned();
    assert_eq!(refresh(&endpoint, &new_refresh).await.0, 200);
    assert_eq!(refresh(&endpoint, &new_refresh).await.0, 400);
    assert_eq!(endpoint.refresh_count(), 2);
    let recorded = &endpoint.requests()[0];
    assert_eq!(recorded.path, "/oauth/token");
    assert_eq!(recorded.body, refresh_body(&login.refresh_token));
}

#[tokio::test]
async fn unknown_revoked_and_expired_refresh_tokens() {
    let endpoint = TokenEndpoint::start().await;
    let (status, answer) = refresh(&endpoint, "rt_never_issued").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("refresh_token_reused"))
    );
    let revoked = endpoint.login(ACCOUNT).refresh_token;
    endpoint.revoke(&revoked);
    let (status, answer) = refresh(&endpoint, &revoked).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("refresh_token_invalidated"))
    );
    let expired = endpoint.login(ACCOUNT).refresh_token;
    endpoint.expire(&expired);
    let (status, answer) = refresh(&endpoint, &expired).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("refresh_token_expired"))
    );
    assert_eq!(
        endpoint.violation_rules(),
        vec![Rule::RefreshTokenInvalid; 3]
    );
    assert_eq!(endpoint.refresh_count(), 0);
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let endpoint = TokenEndpoint::start().await;
    endpoint.expect_client_id(CODEX_CLIENT_ID);
    let token = endpoint.login(ACCOUNT).refresh_token;
    let url = endpoint.url();
    let mut wrong_client = refresh_body(&token);
    wrong_client["client_id"] = json!("app_other");
    let (status, answer) = status_json(post_json(&url, NO_HEADERS, &wrong_client).await).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("invalid_client"))
    );
    let mut wrong_grant = refresh_body(&token);
    wrong_grant["grant_type"] = json!("authorization_code");
    let (status, _) = status_json(post_json(&url, NO_HEADERS, &wrong_grant).await).await;
    assert_eq!(status, 400);
    let form = format!("grant_type=refresh_token&refresh_token={token}");
    let response = common::responses::post_raw(&url, NO_HEADERS, form.into_bytes()).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        endpoint.violation_rules(),
        vec![Rule::Auth, Rule::MissingField, Rule::InvalidJson]
    );
    // Nothing rotated: the token still works.
    assert_eq!(refresh(&endpoint, &token).await.0, 200);
}

#[tokio::test]
async fn scripted_failure_rotates_nothing() {
    let endpoint = TokenEndpoint::start().await;
    let token = endpoint.login(ACCOUNT).refresh_token;
    endpoint.push_failure(Reply::error(503, "server_error", "try later"));
    assert_eq!(refresh(&endpoint, &token).await.0, 503);
    assert_eq!(refresh(&endpoint, &token).await.0, 200);
    assert_eq!(endpoint.refresh_count(), 1);
    endpoint.assert_no_violations();
}

#[tokio::test]
async fn delayed_answers_expose_a_concurrent_second_refresh() {
    let endpoint = TokenEndpoint::start().await;
    endpoint.set_delay(Duration::from_millis(300));
    let token = endpoint.login(ACCOUNT).refresh_token;
    let started = Instant::now();
    let (first, second) = tokio::join!(refresh(&endpoint, &token), refresh(&endpoint, &token));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 400],
        "exactly one of two racing refreshes wins"
    );
    assert_eq!(endpoint.refresh_count(), 1);
    assert_eq!(endpoint.violation_rules(), vec![Rule::RefreshTokenReused]);
}

#[tokio::test]
async fn issued_tokens_are_accepted_by_the_chatgpt_backend() {
    let tokens = ChatGptTokens::new(ACCOUNT);
    let backend = ResponsesUpstream::chatgpt(&tokens).await;
    let endpoint = TokenEndpoint::for_backend(&tokens).await;
    let login = endpoint.login(ACCOUNT);
    backend.push_all([
        ResponseStream::text("before"),
        ResponseStream::text("after"),
    ]);
    let url = format!("{}/responses", backend.chatgpt_url());
    let call = |token: String| {
        let url = url.clone();
        async move {
            let headers = [
                ("authorization", format!("Bearer {token}")),
                ("chatgpt-account-id", ACCOUNT.to_owned()),
            ];
            post_json(&url, &headers, &codex_request()).await
        }
    };
    let response = call(login.access_token.clone()).await;
    assert_eq!(response.status().as_u16(), 200);
    read_to_end(response).await;

    tokens.expire(&login.access_token);
    let (status, answer) = status_json(call(login.access_token.clone()).await).await;
    assert_eq!(
        (status, answer["detail"]["code"].as_str()),
        (401, Some("token_expired"))
    );

    let (status, refreshed) = refresh(&endpoint, &login.refresh_token).await;
    assert_eq!(status, 200);
    let access = refreshed["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let response = call(access).await;
    assert_eq!(response.status().as_u16(), 200);
    let (body, _) = read_to_end(response).await;
    assert!(body.contains("after"));
    assert_eq!(backend.violation_rules(), vec![Rule::TokenExpired]);
    endpoint.assert_no_violations();
}

#[test]
fn write_auth_json_is_a_codex_auth_file() {
    let dir = TempDir::new("auth-json");
    let path = write_auth_json(dir.path(), "access-1", "refresh-1", ACCOUNT);
    assert_eq!(path, dir.join("auth.json"));
    let auth: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    assert_eq!(auth["auth_mode"], "chatgpt");
    assert!(auth["OPENAI_API_KEY"].is_null());
    assert!(auth
        .as_object()
        .expect("object")
        .contains_key("OPENAI_API_KEY"));
    assert_eq!(auth["tokens"]["access_token"], "access-1");
    assert_eq!(auth["tokens"]["refresh_token"], "refresh-1");
    assert_eq!(auth["tokens"]["account_id"], ACCOUNT);
    let id = jwt_claims(auth["tokens"]["id_token"].as_str().expect("id_token")).expect("jwt");
    assert_eq!(id[AUTH_CLAIM]["chatgpt_account_id"], ACCOUNT);
    let last = auth["last_refresh"].as_str().expect("last_refresh");
    assert!(
        last.len() == 24 && last.ends_with('Z') && last.as_bytes()[10] == b'T',
        "{last}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
