//! End-to-end: the stateful Responses API (issue 13) through the built binary, driven by the
//! official OpenAI Python SDK against the strict mock Chat upstream.
//!
//! Acceptance 1: create with the default `store` → retrieve → paginated `input_items` (both
//! orders) → chain with `previous_response_id` and new instructions (the upstream sees the whole
//! history and only the new instructions) → delete → the deleted id is gone for retrieve and for
//! chaining. Acceptance 3: a response belongs to the client key that created it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::python_bin;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const INPUT_TEXTS: [&str; 5] = [
    "One: my name is Ada.",
    "Two: hello Ada.",
    "Three: I live in Paris.",
    "Four: Paris is lovely.",
    "Five: remember both.",
];
const FIRST_ANSWER: &str = "Noted: Ada in Paris.";
const SECOND_ANSWER: &str = "Ada.";
const OLD_INSTRUCTIONS: &str = "OLD INSTRUCTIONS: be terse.";
const NEW_INSTRUCTIONS: &str = "NEW INSTRUCTIONS: answer in one word.";

/// Client keys of the isolation test, given to the proxy through `${…}` references.
const KEY_A_VAR: &str = "CCP_E2E_STATE_KEY_A";
const KEY_B_VAR: &str = "CCP_E2E_STATE_KEY_B";
const KEY_A: &str = "sk-client-state-A-SECRET-1111";
const KEY_B: &str = "sk-client-state-B-SECRET-2222";

async fn run_state_sdk(base_url: &str, scenario: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/state_sdk.py");
    let out = tokio::process::Command::new(python_bin())
        .arg(script)
        .arg(base_url)
        .arg(scenario)
        .env("CCP_KEY_A", KEY_A)
        .env("CCP_KEY_B", KEY_B)
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "state SDK script ({scenario}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `(role, content)` of every Chat message the upstream received in `body`.
fn conversation(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let content = m["content"].as_str().unwrap_or_default().to_owned();
            (m["role"].as_str().unwrap().to_owned(), content)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
        .collect()
}

/// Asserts an SDK error report: its class, HTTP status, and that the message names `id`.
#[track_caller]
fn assert_error(report: &Value, field: &str, class: &str, status: u64, id: &str) {
    let error = &report[field];
    assert_eq!(error["raised"], class, "{field}: {error}");
    assert_eq!(error["status"], status, "{field}: {error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(id), "{field} names {id}: {error}");
}

#[track_caller]
fn assert_previous_not_found(report: &Value, field: &str, id: &str) {
    assert_error(report, field, "BadRequestError", 400, id);
    assert_eq!(report[field]["code"], "previous_response_not_found");
    assert_eq!(report[field]["param"], "previous_response_id");
}

/// `texts` of each page of an input_items walk.
fn page_texts(pages: &Value) -> Vec<Vec<String>> {
    pages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// Each page's `first_id`/`last_id` match its data, `has_more` is true on all pages but the last,
/// and every id is unique.
#[track_caller]
fn assert_page_cursors(pages: &Value) {
    let pages = pages.as_array().unwrap();
    let mut seen = std::collections::HashSet::new();
    for (n, page) in pages.iter().enumerate() {
        let ids = page["ids"].as_array().unwrap();
        assert_eq!(page["first_id"], ids[0], "page {n}: {page}");
        assert_eq!(page["last_id"], *ids.last().unwrap(), "page {n}: {page}");
        assert_eq!(page["has_more"], n + 1 < pages.len(), "page {n}: {page}");
        for id in ids {
            let id = id.as_str().unwrap();
            assert!(!id.is_empty() && seen.insert(id.to_owned()), "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_stores_lists_chains_and_deletes_responses() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    upstream.push(Reply::completion_text(FIRST_ANSWER));
    upstream.push(Reply::completion_text(SECOND_ANSWER));
    let proxy = Proxy::start(one_backend(&upstream.url(), "upstream-model"));
    let report = run_state_sdk(&proxy.url("/v1"), "lifecycle").await;
    upstream.assert_no_violations();

    let first = &report["first"];
    let first_id = first["id"].as_str().unwrap();
    assert!(first_id.starts_with("resp_"), "{first}");
    assert_eq!(first["store"], true, "store defaults to true: {first}");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["output_text"], FIRST_ANSWER);
    assert_eq!(
        report["retrieved"], *first,
        "GET returns the created response"
    );
    assert_eq!(report["retrieved_with_include"], *first);

    // input_items: newest first unless asked otherwise; `after` pages through all of them.
    let asc: Vec<String> = INPUT_TEXTS.iter().map(|t| (*t).to_owned()).collect();
    let desc: Vec<String> = asc.iter().rev().cloned().collect();
    assert_eq!(report["items_default_page"]["texts"], json!(desc));
    assert_eq!(report["items_default_page"]["has_more"], false);
    let (input, output) = ("ResponseInputMessageItem", "ResponseOutputMessage");
    assert_eq!(
        report["items_default_page"]["types"],
        json!([input, output, input, output, input]),
        "the SDK parses each listed item into its typed model"
    );
    let desc_pages: Vec<Vec<String>> = desc.chunks(2).map(<[String]>::to_vec).collect();
    let asc_pages: Vec<Vec<String>> = asc.chunks(2).map(<[String]>::to_vec).collect();
    assert_eq!(page_texts(&report["pages_default_order"]), desc_pages);
    assert_eq!(page_texts(&report["pages_desc"]), desc_pages);
    assert_eq!(page_texts(&report["pages_asc"]), asc_pages);
    assert_eq!(report["auto_asc_texts"], json!(asc), "SDK auto-pagination");
    for walk in ["pages_default_order", "pages_desc", "pages_asc"] {
        assert_page_cursors(&report[walk]);
    }
    let ids = |walk: &str| -> Vec<Value> {
        report[walk]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["ids"].as_array().unwrap().clone())
            .collect()
    };
    let mut asc_ids = ids("pages_asc");
    asc_ids.reverse();
    assert_eq!(asc_ids, ids("pages_desc"), "one item list, two orders");

    // Chaining: the whole history and only the new instructions reach the upstream.
    let second = &report["second"];
    assert_eq!(second["previous_response_id"], first_id, "{second}");
    assert_eq!(second["output_text"], SECOND_ANSWER);
    let requests = upstream.chat_requests();
    assert_eq!(
        requests.len(),
        2,
        "no upstream call for a failed chain or a state endpoint"
    );
    let mut history = vec![("system", OLD_INSTRUCTIONS)];
    history.extend(INPUT_TEXTS.iter().enumerate().map(|(n, text)| {
        let role = if n % 2 == 0 { "user" } else { "assistant" };
        (role, *text)
    }));
    assert_eq!(conversation(&requests[0].body), pairs(&history));
    history[0] = ("system", NEW_INSTRUCTIONS);
    history.extend([("assistant", FIRST_ANSWER), ("user", "What is my name?")]);
    assert_eq!(
        conversation(&requests[1].body),
        pairs(&history),
        "the chained request carries the first request's input and answer, and the new \
         instructions instead of the old"
    );

    // Delete, then the id is gone everywhere.
    assert_eq!(report["delete_returned"], "None");
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(report["raw_delete"]["status"], 200);
    assert_eq!(
        report["raw_delete"]["body"],
        json!({"id": second_id, "object": "response", "deleted": true})
    );
    assert_error(&report, "retrieve_deleted", "NotFoundError", 404, first_id);
    assert_error(&report, "delete_deleted", "NotFoundError", 404, first_id);
    assert_error(
        &report,
        "input_items_deleted",
        "NotFoundError",
        404,
        first_id,
    );
    assert_previous_not_found(&report, "chain_deleted", first_id);
    assert_error(
        &report,
        "retrieve_unknown",
        "NotFoundError",
        404,
        "resp_unknown0000000000000000",
    );
}

/// Puts the two client keys into this process's environment once; the proxy child inherits them
/// and resolves its `${…}` references. (std serialises `set_var` with its own environment reads
/// and with spawning, and nothing else in this binary reads the environment directly.)
fn export_client_keys() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var(KEY_A_VAR, KEY_A);
        std::env::set_var(KEY_B_VAR, KEY_B);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_belong_to_the_client_key_that_created_them() {
    export_client_keys();
    let upstream = MockUpstream::start(Strictness::default()).await;
    upstream.push(Reply::completion_text("Cake it is."));
    upstream.push(Reply::completion_text("You planned a cake."));
    let mut config = one_backend(&upstream.url(), "upstream-model");
    config["client_keys"] = json!([format!("${{{KEY_A_VAR}}}"), format!("${{{KEY_B_VAR}}}")]);
    let proxy = Proxy::start(config);
    let report = run_state_sdk(&proxy.url("/v1"), "isolation").await;
    upstream.assert_no_violations();

    let created = &report["created"];
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["output_text"], "Cake it is.", "{created}");
    assert_error(&report, "b_retrieve", "NotFoundError", 404, id);
    assert_error(&report, "b_input_items", "NotFoundError", 404, id);
    assert_error(&report, "b_delete", "NotFoundError", 404, id);
    assert_previous_not_found(&report, "b_chain", id);
    let item_id = created["output_ids"][0].as_str().unwrap();
    assert_error(&report, "b_reference", "NotFoundError", 404, item_id);
    assert_eq!(
        report["a_retrieve_after"], *created,
        "B's delete did not touch A's response"
    );
    assert_eq!(report["a_chain"]["output_text"], "You planned a cake.");

    let requests = upstream.chat_requests();
    assert_eq!(
        requests.len(),
        2,
        "none of B's attempts reached the upstream"
    );
    assert_eq!(
        conversation(&requests[1].body),
        pairs(&[
            ("user", "A's secret plan: bake a cake."),
            ("assistant", "Cake it is."),
            ("user", "What was the plan?"),
        ]),
        "A chains from its own response"
    );
    let logs = proxy.all_logs();
    for key in [KEY_A, KEY_B] {
        assert!(!logs.contains(key), "client key {key} in the proxy logs");
    }
}
