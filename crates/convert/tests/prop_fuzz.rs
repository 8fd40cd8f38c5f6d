//! Property tests (a stable-toolchain stand-in for cargo-fuzz):
//!
//! * request parsing and conversion never panic, whatever the body: arbitrary bytes, mutated
//!   JSON, and JSON values shaped like Responses requests with wrong types, missing fields and
//!   unknown item, part and tool types;
//! * the Chat → Responses state machine never panics on arbitrary chunk sequences (with the
//!   tools of a converted request, so namespaced and custom tool calls are exercised), and its
//!   event stream keeps its lifecycle invariants.
//!
//! `PROPTEST_CASES` sets the number of cases per property (default 256, a few seconds in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ccp_convert::request::{
    apply_default_reasoning_field, responses_request_to_chat, RequestOptions,
};
use ccp_convert::stream::{ChatToResponses, StreamContext};
use ccp_types::chat::ChatChunk;
use ccp_types::events::ResponseEvent;
use ccp_types::responses::parse_request;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

/// Proptest's defaults (its `cases` already reads `PROPTEST_CASES`, default 256).
fn config() -> ProptestConfig {
    ProptestConfig {
        max_shrink_iters: 2048,
        // Integration tests have no lib.rs for proptest to put regressions next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value from `likely` most of the time, otherwise anything (used for upstream chunks).
fn mostly(likely: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![4 => likely, 1 => any_json()].boxed()
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,16}",
        "[a-z_ ]{0,12}",
        Just(String::new()),
        Just("<think>hm</think>ok".to_owned())
    ]
}

fn text_value() -> BoxedStrategy<Value> {
    text().prop_map(Value::from).boxed()
}

fn one_of(values: Vec<&'static str>) -> BoxedStrategy<Value> {
    select(values).prop_map(Value::from).boxed()
}

fn names() -> BoxedStrategy<Value> {
    one_of(vec![
        "shell",
        "apply_patch",
        "mcp__srv__tool",
        "f",
        "",
        "a.b",
        "x y",
        "view_image",
        "exec_command",
    ])
}

/// An object with every `required` field and each `optional` one present or not.
fn object(
    required: Vec<(&'static str, BoxedStrategy<Value>)>,
    optional: Vec<(&'static str, BoxedStrategy<Value>)>,
) -> BoxedStrategy<Value> {
    let required: Vec<BoxedStrategy<Option<(String, Value)>>> = required
        .into_iter()
        .map(|(k, s)| s.prop_map(move |v| Some((k.to_owned(), v))).boxed())
        .collect();
    let optional: Vec<BoxedStrategy<Option<(String, Value)>>> = optional
        .into_iter()
        .map(|(k, s)| prop::option::of(s.prop_map(move |v| (k.to_owned(), v))).boxed())
        .collect();
    (required, optional)
        .prop_map(|(a, b)| Value::Object(a.into_iter().chain(b).flatten().collect::<Map<_, _>>()))
        .boxed()
}

fn tag(t: &'static str) -> (&'static str, BoxedStrategy<Value>) {
    ("type", Just(Value::from(t)).boxed())
}

fn content_part() -> BoxedStrategy<Value> {
    prop_oneof![
        object(vec![tag("input_text"), ("text", text_value())], vec![]),
        object(
            vec![tag("output_text"), ("text", text_value())],
            vec![("annotations", Just(json!([])).boxed())]
        ),
        object(vec![tag("text"), ("text", text_value())], vec![]),
        object(
            vec![tag("input_image")],
            vec![
                (
                    "image_url",
                    one_of(vec!["data:image/png;base64,AAAA", "https://x/y.png", ""])
                ),
                ("detail", one_of(vec!["auto", "low", "high"])),
            ]
        ),
        object(
            vec![tag("input_file")],
            vec![
                ("filename", one_of(vec!["a.txt"])),
                ("file_data", text_value())
            ]
        ),
        object(vec![tag("refusal"), ("refusal", text_value())], vec![]),
        object(vec![tag("summary_text"), ("text", text_value())], vec![]),
    ]
    .boxed()
}

fn parts() -> BoxedStrategy<Value> {
    prop::collection::vec(content_part(), 0..4)
        .prop_map(Value::Array)
        .boxed()
}

fn content() -> BoxedStrategy<Value> {
    prop_oneof![text_value(), parts()].boxed()
}

fn call_id() -> BoxedStrategy<Value> {
    one_of(vec!["call_1", "call_2", "functions.f:0", ""])
}

fn output() -> BoxedStrategy<Value> {
    prop_oneof![text_value(), parts()].boxed()
}

fn text_parts(kind: &'static str) -> BoxedStrategy<Value> {
    prop::collection::vec(
        object(vec![tag(kind), ("text", text_value())], vec![]),
        0..3,
    )
    .prop_map(Value::Array)
    .boxed()
}

/// A well-formed input item of any kind (unknown kinds included).
fn input_item() -> BoxedStrategy<Value> {
    let role = one_of(vec!["user", "assistant", "system", "developer"]);
    let id = || one_of(vec!["msg_1", "rs_1", "fc_1"]);
    prop_oneof![
        object(
            vec![
                tag("message"),
                ("role", role.clone()),
                ("content", content())
            ],
            vec![
                ("id", id()),
                ("phase", one_of(vec!["commentary", "final_answer"]))
            ]
        ),
        object(vec![("role", role), ("content", content())], vec![]),
        object(
            vec![tag("reasoning"), ("summary", text_parts("summary_text"))],
            vec![
                ("content", text_parts("reasoning_text")),
                (
                    "encrypted_content",
                    prop_oneof![Just(Value::Null), text_value()].boxed()
                ),
                ("id", id()),
            ]
        ),
        object(
            vec![
                tag("function_call"),
                ("call_id", call_id()),
                ("name", names()),
                (
                    "arguments",
                    prop_oneof![Just(json!("{}")), Just(json!("{\"a\":1}")), text_value()].boxed()
                )
            ],
            vec![
                ("namespace", one_of(vec!["mcp__srv", "ns", ""])),
                ("id", id()),
            ]
        ),
        object(
            vec![
                tag("function_call_output"),
                ("call_id", call_id()),
                ("output", output())
            ],
            vec![]
        ),
        object(
            vec![
                tag("custom_tool_call"),
                ("call_id", call_id()),
                ("name", names()),
                ("input", text_value())
            ],
            vec![]
        ),
        object(
            vec![
                tag("custom_tool_call_output"),
                ("call_id", call_id()),
                ("output", output())
            ],
            vec![]
        ),
        object(
            vec![tag("local_shell_call")],
            vec![
                ("call_id", call_id()),
                (
                    "action",
                    Just(json!({"type": "exec", "command": ["ls"]})).boxed()
                )
            ]
        ),
        object(
            vec![
                tag("local_shell_call_output"),
                ("call_id", call_id()),
                ("output", output())
            ],
            vec![]
        ),
        object(
            vec![(
                "type",
                one_of(vec!["web_search_call", "compaction", "item_reference"])
            )],
            vec![("id", id())]
        ),
    ]
    .boxed()
}

fn tool() -> BoxedStrategy<Value> {
    let params = prop_oneof![
        Just(json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})),
        Just(json!({"type": "string"})),
        Just(json!({})),
    ]
    .boxed();
    let function = object(
        vec![tag("function"), ("name", names())],
        vec![
            ("description", text_value()),
            ("parameters", params),
            ("strict", any::<bool>().prop_map(Value::from).boxed()),
        ],
    );
    prop_oneof![
        function.clone(),
        object(
            vec![tag("custom"), ("name", names())],
            vec![(
                "format",
                Just(json!({"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}))
                    .boxed()
            ),]
        ),
        object(
            vec![
                tag("namespace"),
                ("name", one_of(vec!["mcp__srv", "ns", ""]))
            ],
            vec![(
                "tools",
                prop::collection::vec(function, 0..3)
                    .prop_map(Value::Array)
                    .boxed()
            ),]
        ),
        object(
            vec![(
                "type",
                one_of(vec![
                    "web_search",
                    "local_shell",
                    "image_generation",
                    "tool_search"
                ])
            )],
            vec![]
        ),
    ]
    .boxed()
}

/// A well-formed Responses request, Codex-like or SDK-like.
fn request() -> BoxedStrategy<Value> {
    object(vec![], vec![
        ("model", one_of(vec!["glm-4.6", "kimi-k2", ""])),
        ("instructions", text_value()),
        ("input", prop_oneof![text_value(), prop::collection::vec(input_item(), 0..8).prop_map(Value::Array).boxed()].boxed()),
        ("tools", prop::collection::vec(tool(), 0..5).prop_map(Value::Array).boxed()),
        ("tool_choice", prop_oneof![one_of(vec!["auto", "required", "none"]), names().prop_map(|n| json!({"type": "function", "name": n})).boxed()].boxed()),
        ("parallel_tool_calls", any::<bool>().prop_map(Value::from).boxed()),
        ("stream", any::<bool>().prop_map(Value::from).boxed()),
        ("reasoning", object(vec![], vec![
            ("effort", one_of(vec!["minimal", "low", "medium", "high", "none"])),
            ("summary", one_of(vec!["auto", "none"])),
        ])),
        ("max_output_tokens", any::<u64>().prop_map(Value::from).boxed()),
        ("temperature", (0.0f64..2.0).prop_map(Value::from).boxed()),
        ("top_p", (0.0f64..1.0).prop_map(Value::from).boxed()),
        ("text", Just(json!({"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}})).boxed()),
        ("stop", prop_oneof![Just(json!(["\n"])), Just(json!("END"))].boxed()),
        ("store", any::<bool>().prop_map(Value::from).boxed()),
        ("include", Just(json!(["reasoning.encrypted_content"])).boxed()),
    ])
}

/// JSON pointers of every node below the root.
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, c)| (k.replace('~', "~0").replace('/', "~1"), c))
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        let here = format!("{at}/{key}");
        out.push(here.clone());
        pointers(child, &here, out);
    }
}

/// A well-formed request with one node replaced by anything, set to null, or removed.
fn mutated_request() -> BoxedStrategy<Value> {
    (request(), any::<prop::sample::Index>(), any_json(), 0u8..3)
        .prop_map(|(mut v, pick, replacement, op)| {
            let mut all = Vec::new();
            pointers(&v, "", &mut all);
            if all.is_empty() {
                return v;
            }
            let target = all[pick.index(all.len())].clone();
            let (parent, key) = target.rsplit_once('/').unwrap();
            let key = key.replace("~1", "/").replace("~0", "~");
            match (op, v.pointer_mut(parent)) {
                (0, Some(Value::Object(m))) => {
                    m.remove(&key);
                }
                (0, Some(Value::Array(a))) => {
                    a.remove(key.parse::<usize>().unwrap());
                }
                (1, _) => *v.pointer_mut(&target).unwrap() = Value::Null,
                _ => *v.pointer_mut(&target).unwrap() = replacement,
            }
            v
        })
        .boxed()
}

/// Parses and, when that succeeds, converts; panics only through a bug.
fn parse_and_convert(body: &[u8], stream: bool) {
    let Ok(req) = parse_request(body) else { return };
    let opts = RequestOptions {
        upstream_model: "upstream".into(),
        stream,
    };
    if let Ok(converted) = responses_request_to_chat(&req, &opts) {
        let mut chat = converted.chat;
        assert!(
            !chat.messages.is_empty(),
            "a converted request has at least one message"
        );
        assert_eq!(chat.stream, Some(stream));
        apply_default_reasoning_field(&mut chat);
        let wire = serde_json::to_value(&chat).unwrap();
        for m in wire["messages"].as_array().unwrap() {
            assert_ne!(m["role"], "developer", "developer is never sent upstream");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), stream in any::<bool>()) {
        parse_and_convert(&bytes, stream);
    }

    #[test]
    fn well_formed_requests_convert(req in request(), stream in any::<bool>()) {
        let body = serde_json::to_vec(&req).unwrap();
        prop_assert!(parse_request(&body).is_ok(), "a well-formed request parses: {}", req);
        parse_and_convert(&body, stream);
    }

    #[test]
    fn requests_with_one_bad_node_never_panic(req in mutated_request(), stream in any::<bool>()) {
        let body = serde_json::to_vec(&req).unwrap();
        parse_and_convert(&body, stream);
    }

    #[test]
    fn corrupted_request_bytes_never_panic(req in request(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = serde_json::to_vec(&req).unwrap();
        let at = flip.index(body.len());
        body[at] = byte;
        body.truncate(cut.index(body.len() + 1));
        parse_and_convert(&body, true);
    }

    #[test]
    fn stream_machine_keeps_its_invariants(chunks in prop::collection::vec(chunk(), 0..12), end in 0u8..4) {
        let mut machine = ChatToResponses::new(context());
        let mut events = machine.start();
        for c in chunks {
            let chunk: ChatChunk = match serde_json::from_value(c) { Ok(c) => c, Err(_) => continue };
            events.extend(machine.push(chunk));
        }
        events.extend(match end {
            0 => machine.fail("server_error", "cut"),
            _ => machine.finish(),
        });
        // Nothing comes after the end.
        assert!(machine.push(ChatChunk::default()).is_empty());
        assert!(machine.finish().is_empty());
        check_lifecycle(&events);
    }
}

proptest! {
    // Every case in this range hits the edge; shrinking would only repeat the same panic.
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 0, ..config() })]

    /// Provider usage is untrusted input: huge counts must not overflow the total.
    #[test]
    fn usage_counts_near_u64_max_do_not_overflow(prompt in (u64::MAX / 2)..=u64::MAX, completion in (u64::MAX / 2)..=u64::MAX) {
        let mut machine = ChatToResponses::new(context());
        let mut events = machine.start();
        let chunk = json!({
            "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}
        });
        events.extend(machine.push(serde_json::from_value(chunk).unwrap()));
        events.extend(machine.finish());
        check_lifecycle(&events);
        let usage = machine.response().usage.clone().unwrap();
        prop_assert!(usage.total_tokens >= prompt.max(completion), "total {} < parts", usage.total_tokens);
    }
}

/// A context whose tool map comes from a converted request with plain, namespaced and custom
/// tools, so tool-call chunks can resolve to each kind.
fn context() -> StreamContext {
    let req = parse_request(
        br#"{"input":"hi","tools":[
            {"type":"function","name":"shell","parameters":{"type":"object"}},
            {"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"x"}},
            {"type":"namespace","name":"mcp__srv","tools":[{"type":"function","name":"tool","parameters":{"type":"object"}}]}
        ]}"#,
    )
    .unwrap();
    let converted = responses_request_to_chat(
        &req,
        &RequestOptions {
            upstream_model: "u".into(),
            stream: true,
        },
    )
    .unwrap();
    StreamContext {
        response_id: "resp_fuzz".into(),
        model: "m".into(),
        created_at: 1,
        tools: converted.tools,
        parse: Default::default(),
    }
}

fn chunk() -> BoxedStrategy<Value> {
    let upstream_names = select(vec![
        "shell",
        "apply_patch",
        "mcp__srv__tool",
        "unknown",
        "",
    ])
    .prop_map(Value::from);
    let tool_call = object(
        vec![],
        vec![
            ("index", mostly((0u32..3).prop_map(Value::from))),
            (
                "id",
                mostly(
                    select(vec!["call_1", "call_2", "functions.shell:0", ""]).prop_map(Value::from),
                ),
            ),
            ("type", mostly(Just(json!("function")))),
            (
                "function",
                mostly(object(
                    vec![],
                    vec![
                        ("name", mostly(upstream_names)),
                        (
                            "arguments",
                            mostly(prop_oneof![
                                Just(json!("{\"input\":\"*** Begin Patch")),
                                Just(json!("{\"cmd\":")),
                                Just(json!("\"ls\"}")),
                                text().prop_map(Value::from),
                                Just(json!({"cmd": "ls"})),
                            ]),
                        ),
                    ],
                )),
            ),
        ],
    );
    let delta = object(
        vec![],
        vec![
            (
                "role",
                mostly(select(vec!["assistant", ""]).prop_map(Value::from)),
            ),
            (
                "content",
                mostly(prop_oneof![
                    text().prop_map(Value::from),
                    Just(json!("<think>")),
                    Just(json!("</think>")),
                    Just(Value::Null)
                ]),
            ),
            ("reasoning_content", mostly(text().prop_map(Value::from))),
            ("reasoning", mostly(text().prop_map(Value::from))),
            (
                "reasoning_details",
                mostly(Just(
                    json!([{"type": "reasoning.text", "text": "r", "index": 0}]),
                )),
            ),
            ("refusal", mostly(text().prop_map(Value::from))),
            (
                "tool_calls",
                mostly(prop::collection::vec(tool_call, 0..3).prop_map(Value::Array)),
            ),
        ],
    );
    // Counts stay in u32 range here; the overflow edge has its own property below.
    let count = || any::<u32>().prop_map(|n| Value::from(u64::from(n))).boxed();
    let usage = object(
        vec![],
        vec![
            ("prompt_tokens", count()),
            ("completion_tokens", count()),
            ("total_tokens", count()),
            (
                "prompt_tokens_details",
                mostly(count().prop_map(|n| json!({"cached_tokens": n}))),
            ),
        ],
    );
    let finish = select(vec![
        "stop",
        "length",
        "tool_calls",
        "content_filter",
        "sensitive",
        "network_error",
        "eos",
        "",
    ]);
    let choice = object(
        vec![],
        vec![
            ("index", mostly((0u32..2).prop_map(Value::from))),
            ("delta", delta),
            (
                "finish_reason",
                mostly(prop_oneof![Just(Value::Null), finish.prop_map(Value::from)]),
            ),
            ("usage", usage.clone()),
        ],
    );
    object(
        vec![],
        vec![
            ("id", mostly(Just(json!("c1")))),
            (
                "choices",
                mostly(prop::collection::vec(choice, 0..2).prop_map(Value::Array)),
            ),
            ("usage", usage),
        ],
    )
}

/// `response.created` first; exactly one terminal event, last; deltas and done events name
/// items that were added; a completed response closed every item it added.
fn check_lifecycle(events: &[ResponseEvent]) {
    let kinds: Vec<&str> = events.iter().map(ResponseEvent::kind).collect();
    assert_eq!(kinds.first(), Some(&"response.created"), "{kinds:?}");
    let terminals = events.iter().filter(|e| e.is_terminal()).count();
    assert_eq!(terminals, 1, "{kinds:?}");
    assert!(
        events.last().is_some_and(ResponseEvent::is_terminal),
        "{kinds:?}"
    );
    let mut added = Vec::new();
    let mut done = Vec::new();
    for e in events {
        let v = serde_json::to_value(e).unwrap();
        match e {
            ResponseEvent::OutputItemAdded { item, .. } => added.push(item.id().to_owned()),
            ResponseEvent::OutputItemDone { item, .. } => {
                assert!(
                    added.iter().any(|a| a == item.id()),
                    "done before added: {kinds:?}"
                );
                assert!(
                    !done.iter().any(|d| d == item.id()),
                    "done twice: {kinds:?}"
                );
                done.push(item.id().to_owned());
            }
            _ => {
                if let Some(id) = v.get("item_id").and_then(Value::as_str) {
                    assert!(
                        added.iter().any(|a| a == id),
                        "{} for an item never added: {kinds:?}",
                        e.kind()
                    );
                }
            }
        }
    }
    if let Some(ResponseEvent::Completed { response }) = events.last() {
        assert_eq!(
            added.len(),
            done.len(),
            "a completed response closes its items: {kinds:?}"
        );
        assert_eq!(response.output.len(), done.len(), "{kinds:?}");
        let usage = response.usage.as_ref().unwrap();
        let _ = usage.total_tokens;
    }
}
