//! Tool declarations: Responses tools → Chat functions, and the reverse map used on output.
//!
//! Chat Completions only knows `type: "function"` tools whose names match `[A-Za-z0-9_-]{1,64}`.
//! This module turns every Responses tool into such a function and records, in [`ToolNameMap`],
//! how each upstream name maps back:
//!
//! * `function` → function. `strict` is kept only when `true`; boolean `"encrypted"` markers are
//!   stripped from the schema at any depth; the top-level schema is forced to `type: "object"`.
//! * `namespace` → one function per member, named `<namespace>__<name>`
//!   ([`flatten_tool_name`]); the origin keeps `namespace` so output can restore it.
//! * `custom` (freeform, e.g. `apply_patch`) → a function taking one string parameter `input`
//!   whose description explains the grammar; output turns it back into a `custom_tool_call`.
//! * hosted or unknown tools (`web_search`, `tool_search`, `image_generation`, …) are dropped.
//!
//! Invariants: every upstream name is valid and unique within one request; names that are not
//! valid as given are sanitized and suffixed with a stable FNV-1a hash of the original, so the
//! same tool gets the same upstream name on every request of a conversation.

use std::collections::HashMap;

use ccp_types::chat::{ChatFunctionDef, ChatTool};
use ccp_types::responses::{CustomTool, FunctionTool, Tool};
use serde_json::{json, Map, Value};

/// Longest function name Chat Completions providers accept.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// Longest grammar definition copied into a custom tool's description.
const MAX_GRAMMAR_CHARS: usize = 4000;

/// How an upstream function name maps back to a Responses tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOrigin {
    /// A plain function tool, or a flattened namespace member (`namespace` is then `Some`).
    Function {
        namespace: Option<String>,
        name: String,
    },
    /// A custom (freeform) tool converted to a function with one string parameter.
    Custom {
        name: String,
        namespace: Option<String>,
    },
}

impl ToolOrigin {
    fn parts(&self) -> (Option<&str>, &str, bool) {
        match self {
            ToolOrigin::Function { namespace, name } => (namespace.as_deref(), name, false),
            ToolOrigin::Custom { name, namespace } => (namespace.as_deref(), name, true),
        }
    }
}

/// Reverse map from upstream function names to Responses tools. Unknown names are passed through
/// as plain function calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNameMap {
    pub by_upstream_name: HashMap<String, ToolOrigin>,
}

impl ToolNameMap {
    /// Looks up an upstream function name.
    pub fn resolve(&self, upstream_name: &str) -> Option<&ToolOrigin> {
        self.by_upstream_name.get(upstream_name)
    }

    /// The upstream name for a call replayed from history (`function_call` when `custom` is false,
    /// `custom_tool_call` when true).
    ///
    /// A declared tool of the same kind wins, then a declared tool of the other kind (a model may
    /// have called a freeform tool as a function); an undeclared tool gets [`flatten_tool_name`],
    /// which is what it would have been named had it been declared without a collision.
    pub fn upstream_name_for_call(
        &self,
        namespace: Option<&str>,
        name: &str,
        custom: bool,
    ) -> String {
        let namespace = namespace.filter(|ns| !ns.is_empty());
        let mut same_kind: Option<&String> = None;
        let mut other_kind: Option<&String> = None;
        for (upstream, origin) in &self.by_upstream_name {
            let (ns, n, is_custom) = origin.parts();
            if ns != namespace || n != name {
                continue;
            }
            // Smallest name on ties keeps the choice independent of HashMap order.
            let slot = if is_custom == custom {
                &mut same_kind
            } else {
                &mut other_kind
            };
            if slot.is_none_or(|s| upstream < s) {
                *slot = Some(upstream);
            }
        }
        match same_kind.or(other_kind) {
            Some(upstream) => upstream.clone(),
            None => flatten_tool_name(namespace, name),
        }
    }

    /// Records `origin` under a unique upstream name derived from it and returns that name, or
    /// `None` when the very same origin is already recorded (a duplicate declaration).
    fn insert_unique(&mut self, origin: ToolOrigin) -> Option<String> {
        let (namespace, name, _) = origin.parts();
        let first = flatten_tool_name(namespace, name);
        match self.by_upstream_name.get(&first) {
            None => {
                self.by_upstream_name.insert(first.clone(), origin);
                return Some(first);
            }
            Some(existing) if *existing == origin => return None,
            Some(_) => {}
        }
        let raw = raw_flat_name(namespace, name);
        for salt in 1u32.. {
            let candidate = hashed_name(&format!("{raw}#{salt}"));
            match self.by_upstream_name.get(&candidate) {
                None => {
                    self.by_upstream_name.insert(candidate.clone(), origin);
                    return Some(candidate);
                }
                Some(existing) if *existing == origin => return None,
                Some(_) => {}
            }
        }
        None
    }
}

/// Responses tools converted for a Chat request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertedTools {
    /// The functions to declare upstream, in declaration order (namespace members in place).
    pub tools: Vec<ChatTool>,
    /// How to map upstream names back.
    pub names: ToolNameMap,
}

/// Converts Responses tools to Chat functions. Hosted and unknown tools are dropped (logged at
/// debug); duplicate declarations of the same tool are declared once.
pub fn responses_tools_to_chat(tools: &[Tool]) -> ConvertedTools {
    let mut out = ConvertedTools::default();
    for tool in tools {
        add_tool(&mut out, tool, None);
    }
    out
}

fn add_tool(out: &mut ConvertedTools, tool: &Tool, namespace: Option<&str>) {
    match tool {
        Tool::Function(f) => {
            let origin = ToolOrigin::Function {
                namespace: namespace.map(str::to_owned),
                name: f.name.clone(),
            };
            if let Some(name) = out.names.insert_unique(origin) {
                out.tools.push(function_tool_to_chat(f, name));
            }
        }
        Tool::Custom(c) => {
            let origin = ToolOrigin::Custom {
                name: c.name.clone(),
                namespace: namespace.map(str::to_owned),
            };
            if let Some(name) = out.names.insert_unique(origin) {
                out.tools.push(custom_tool_to_chat(c, name));
            }
        }
        Tool::Namespace(ns) => {
            if namespace.is_some() {
                tracing::debug!(namespace = %ns.name, "dropping a namespace nested in a namespace");
                return;
            }
            let ns_name = Some(ns.name.as_str()).filter(|n| !n.is_empty());
            for member in &ns.tools {
                add_tool(out, member, ns_name);
            }
        }
        Tool::Other { tool_type } => {
            tracing::debug!(tool_type = %tool_type, "dropping a hosted or unknown tool");
        }
    }
}

fn function_tool_to_chat(f: &FunctionTool, upstream_name: String) -> ChatTool {
    ChatTool {
        kind: "function".to_owned(),
        function: ChatFunctionDef {
            name: upstream_name,
            description: f.description.clone().filter(|d| !d.is_empty()),
            parameters: Some(sanitize_parameters(f.parameters.as_ref())),
            strict: f.strict.filter(|s| *s),
        },
    }
}

fn custom_tool_to_chat(c: &CustomTool, upstream_name: String) -> ChatTool {
    let parameters = json!({
        "type": "object",
        "properties": {
            "input": {
                "type": "string",
                "description": format!("The raw freeform input for `{}` (plain text, not JSON).", c.name),
            }
        },
        "required": ["input"],
        "additionalProperties": false,
    });
    ChatTool {
        kind: "function".to_owned(),
        function: ChatFunctionDef {
            name: upstream_name,
            description: Some(custom_tool_description(c)),
            parameters: Some(parameters),
            strict: None,
        },
    }
}

/// The original description plus how to fill the `input` string (with the grammar, if any).
fn custom_tool_description(c: &CustomTool) -> String {
    let mut text = c.description.clone().unwrap_or_default();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(
        "This freeform tool is exposed as a function with one string argument, `input`. \
         Pass the raw text as the `input` string, not JSON: put the text exactly as the tool \
         should receive it, without nested JSON or code fences.",
    );
    let format = c.format.as_ref();
    let kind = format.and_then(|f| f.get("type")).and_then(Value::as_str);
    let definition = format
        .and_then(|f| f.get("definition"))
        .and_then(Value::as_str);
    if let (Some("grammar"), Some(definition)) = (kind, definition) {
        let syntax = format
            .and_then(|f| f.get("syntax"))
            .and_then(Value::as_str)
            .unwrap_or("lark");
        let (grammar, cut) = truncate_chars(definition, MAX_GRAMMAR_CHARS);
        text.push_str(&format!(
            "\n\nThe `input` text must match this {syntax} grammar:\n```\n{grammar}"
        ));
        if cut {
            text.push_str("\n… (grammar truncated)");
        }
        text.push_str("\n```");
    }
    text
}

fn truncate_chars(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((byte, _)) => (&s[..byte], true),
        None => (s, false),
    }
}

/// A function's parameter schema as Chat providers accept it: always an object schema at the
/// top, with the non-standard boolean `"encrypted"` markers removed at every depth.
pub fn sanitize_parameters(parameters: Option<&Value>) -> Value {
    let mut schema = match parameters {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(other) if !other.is_null() => {
            tracing::debug!(parameters = %other, "replacing a non-object parameter schema");
            empty_object_schema()
        }
        _ => empty_object_schema(),
    };
    strip_encrypted_markers(&mut schema);
    if let Value::Object(map) = &mut schema {
        match map.get("type") {
            Some(Value::String(t)) if t == "object" => {}
            None => {
                map.insert("type".to_owned(), Value::from("object"));
            }
            Some(other) => {
                tracing::debug!(schema_type = %other, "forcing the top-level parameter schema to an object");
                map.insert("type".to_owned(), Value::from("object"));
            }
        }
        if !map.contains_key("properties") {
            map.insert("properties".to_owned(), Value::Object(Map::new()));
        }
    }
    schema
}

fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// Removes `"encrypted": <bool>` keys everywhere. A property *named* `encrypted` holds a schema
/// object, not a boolean, so it survives.
fn strip_encrypted_markers(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if matches!(map.get("encrypted"), Some(Value::Bool(_))) {
                map.remove("encrypted");
            }
            map.values_mut().for_each(strip_encrypted_markers);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_encrypted_markers),
        _ => {}
    }
}

/// Converts `tool_choice` for the upstream: `"auto"`, `"none"` and `"required"` pass; a choice
/// naming a declared function or custom tool names its upstream function; anything else (hosted
/// tools, unknown names, `allowed_tools`) becomes `"auto"`.
pub fn tool_choice_to_chat(choice: &Value, names: &ToolNameMap) -> Value {
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => choice.clone(),
        Value::Object(obj) => {
            let kind = obj.get("type").and_then(Value::as_str);
            let name = obj
                .get("name")
                .or_else(|| obj.get("function").and_then(|f| f.get("name")))
                .and_then(Value::as_str);
            let namespace = obj.get("namespace").and_then(Value::as_str);
            match (kind, name) {
                (Some(kind @ ("function" | "custom")), Some(name)) => {
                    let upstream = names.upstream_name_for_call(namespace, name, kind == "custom");
                    if names.resolve(&upstream).is_some() {
                        json!({"type": "function", "function": {"name": upstream}})
                    } else {
                        tracing::debug!(name, "tool_choice names an undeclared tool; using auto");
                        Value::from("auto")
                    }
                }
                _ => {
                    tracing::debug!(tool_choice = %choice, "unsupported tool_choice; using auto");
                    Value::from("auto")
                }
            }
        }
        other => {
            tracing::debug!(tool_choice = %other, "unsupported tool_choice; using auto");
            Value::from("auto")
        }
    }
}

/// True when `name` is usable as a Chat function name as is.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_TOOL_NAME_LEN && name.bytes().all(is_name_byte)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The upstream name for a tool: `<namespace>__<name>` (or `name`), used as is when valid,
/// otherwise sanitized, cut and suffixed with `_<8 hex digits>` of its FNV-1a hash.
pub fn flatten_tool_name(namespace: Option<&str>, name: &str) -> String {
    let raw = raw_flat_name(namespace, name);
    if is_valid_tool_name(&raw) {
        raw
    } else {
        hashed_name(&raw)
    }
}

fn raw_flat_name(namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{ns}__{name}"),
        None => name.to_owned(),
    }
}

fn hashed_name(raw: &str) -> String {
    const SUFFIX_LEN: usize = 9; // '_' + 8 hex digits
    let sanitized: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii() && is_name_byte(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `sanitized` is ASCII, so byte truncation is a char boundary.
    let keep = sanitized.len().min(MAX_TOOL_NAME_LEN - SUFFIX_LEN);
    format!("{}_{:08x}", &sanitized[..keep], fnv1a_32(raw.as_bytes()))
}

/// 32-bit FNV-1a: tiny, stable across releases and platforms, good enough to disambiguate names.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(v: Value) -> Vec<Tool> {
        serde_json::from_value(v).unwrap()
    }

    fn names(c: &ConvertedTools) -> Vec<&str> {
        c.tools.iter().map(|t| t.function.name.as_str()).collect()
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn function_tool_keeps_schema_and_drops_false_strict() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"function","name":"exec_command","description":"Run","strict":false,
             "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}},
            {"type":"function","name":"strict_one","strict":true,"parameters":{"type":"object","properties":{}}}
        ])));
        let v = serde_json::to_value(&c.tools).unwrap();
        assert_eq!(
            v[0],
            json!({"type":"function","function":{"name":"exec_command","description":"Run",
                "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}}})
        );
        assert_eq!(v[1]["function"]["strict"], json!(true));
        assert_eq!(
            c.names.resolve("exec_command"),
            Some(&ToolOrigin::Function {
                namespace: None,
                name: "exec_command".into()
            })
        );
    }

    #[test]
    fn missing_or_typeless_parameters_become_object_schemas() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"function","name":"a"},
            {"type":"function","name":"b","parameters":{"properties":{"x":{"type":"string"}}}},
            {"type":"function","name":"c","parameters":{"type":"string"}}
        ])));
        let p: Vec<&Value> = c
            .tools
            .iter()
            .map(|t| t.function.parameters.as_ref().unwrap())
            .collect();
        assert_eq!(*p[0], json!({"type":"object","properties":{}}));
        assert_eq!(
            *p[1],
            json!({"type":"object","properties":{"x":{"type":"string"}}})
        );
        assert_eq!(p[2]["type"], json!("object"));
    }

    #[test]
    fn encrypted_markers_are_stripped_recursively_but_encrypted_properties_survive() {
        let schema = json!({
            "type":"object","encrypted":true,
            "properties":{
                "message":{"type":"string","encrypted":true},
                "encrypted":{"type":"boolean","description":"a real property"},
                "items":{"type":"array","items":{"anyOf":[{"type":"string","encrypted":false}]}}
            }
        });
        let out = sanitize_parameters(Some(&schema));
        assert_eq!(
            out,
            json!({
                "type":"object",
                "properties":{
                    "message":{"type":"string"},
                    "encrypted":{"type":"boolean","description":"a real property"},
                    "items":{"type":"array","items":{"anyOf":[{"type":"string"}]}}
                }
            })
        );
    }

    #[test]
    fn namespace_members_are_flattened_and_reversible() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"namespace","name":"multi_agent_v1","description":"Agents","tools":[
                {"type":"function","name":"close_agent","parameters":{"type":"object","properties":{}}},
                {"type":"function","name":"spawn_agent","parameters":{"type":"object","properties":{}}}
            ]},
            {"type":"function","name":"close_agent"}
        ])));
        assert_eq!(
            names(&c),
            [
                "multi_agent_v1__close_agent",
                "multi_agent_v1__spawn_agent",
                "close_agent"
            ]
        );
        assert_eq!(
            c.names.resolve("multi_agent_v1__close_agent"),
            Some(&ToolOrigin::Function {
                namespace: Some("multi_agent_v1".into()),
                name: "close_agent".into()
            })
        );
        assert_eq!(
            c.names.resolve("close_agent"),
            Some(&ToolOrigin::Function {
                namespace: None,
                name: "close_agent".into()
            })
        );
        assert_eq!(
            c.names
                .upstream_name_for_call(Some("multi_agent_v1"), "close_agent", false),
            "multi_agent_v1__close_agent"
        );
        assert_eq!(
            c.names.upstream_name_for_call(None, "close_agent", false),
            "close_agent"
        );
    }

    #[test]
    fn long_and_invalid_names_are_shortened_with_a_stable_hash() {
        let long_ns = "mcp__a_very_long_server_name_that_goes_on_and_on";
        let member = "and_a_tool_name_that_is_also_rather_long";
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"namespace","name":long_ns,"tools":[{"type":"function","name":member}]},
            {"type":"function","name":"weird.name/with spaces"},
            {"type":"function","name":"ünïcode"}
        ])));
        let n = names(&c);
        for name in &n {
            assert!(is_valid_tool_name(name), "{name}");
        }
        assert_eq!(n[0].len(), MAX_TOOL_NAME_LEN);
        assert!(n[0].starts_with("mcp__a_very_long_server_name"), "{}", n[0]);
        let expected_suffix = format!(
            "_{:08x}",
            fnv1a_32(format!("{long_ns}__{member}").as_bytes())
        );
        assert!(n[0].ends_with(&expected_suffix), "{}", n[0]);
        assert!(n[1].starts_with("weird_name_with_spaces_"), "{}", n[1]);
        assert!(n[2].starts_with("_n_code_"), "{}", n[2]);
        // Stable: converting again yields the same names, and history calls find them.
        let again = responses_tools_to_chat(&tools(
            json!([{"type":"function","name":"weird.name/with spaces"}]),
        ));
        assert_eq!(names(&again)[0], n[1]);
        assert_eq!(
            c.names.upstream_name_for_call(Some(long_ns), member, false),
            n[0]
        );
        assert_eq!(
            c.names.resolve(n[0]),
            Some(&ToolOrigin::Function {
                namespace: Some(long_ns.into()),
                name: member.into()
            })
        );
    }

    #[test]
    fn colliding_names_are_made_unique_and_duplicates_declared_once() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"function","name":"a__b"},
            {"type":"namespace","name":"a","tools":[{"type":"function","name":"b"}]},
            {"type":"function","name":"a__b"}
        ])));
        let n = names(&c);
        assert_eq!(n.len(), 2, "the exact duplicate is declared once: {n:?}");
        assert_eq!(n[0], "a__b");
        assert_ne!(n[1], "a__b");
        assert!(is_valid_tool_name(n[1]));
        assert_eq!(
            c.names.resolve(n[1]),
            Some(&ToolOrigin::Function {
                namespace: Some("a".into()),
                name: "b".into()
            })
        );
        assert_eq!(c.names.upstream_name_for_call(Some("a"), "b", false), n[1]);
        assert_eq!(c.names.upstream_name_for_call(None, "a__b", false), "a__b");
    }

    #[test]
    fn custom_tool_becomes_a_function_with_one_input_string() {
        let grammar = "start: begin_patch hunk+ end_patch\n";
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"custom","name":"apply_patch","description":"Edit files. FREEFORM.",
             "format":{"type":"grammar","syntax":"lark","definition":grammar}}
        ])));
        let f = &c.tools[0].function;
        assert_eq!(f.name, "apply_patch");
        let p = f.parameters.as_ref().unwrap();
        assert_eq!(p["type"], "object");
        assert_eq!(p["properties"]["input"]["type"], "string");
        assert_eq!(p["required"], json!(["input"]));
        assert_eq!(p["additionalProperties"], json!(false));
        let d = f.description.as_deref().unwrap();
        assert!(d.starts_with("Edit files. FREEFORM.\n\n"), "{d}");
        assert!(
            d.contains("Pass the raw text as the `input` string, not JSON"),
            "{d}"
        );
        assert!(d.contains("lark grammar"), "{d}");
        assert!(d.contains(grammar), "{d}");
        assert_eq!(
            c.names.resolve("apply_patch"),
            Some(&ToolOrigin::Custom {
                name: "apply_patch".into(),
                namespace: None
            })
        );
        assert_eq!(
            c.names.upstream_name_for_call(None, "apply_patch", true),
            "apply_patch"
        );
        // A model that called the freeform tool as a function still finds it.
        assert_eq!(
            c.names.upstream_name_for_call(None, "apply_patch", false),
            "apply_patch"
        );
    }

    #[test]
    fn long_grammars_are_truncated() {
        let grammar = "x".repeat(MAX_GRAMMAR_CHARS + 500);
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"custom","name":"t","format":{"type":"grammar","syntax":"lark","definition":grammar}}
        ])));
        let d = c.tools[0].function.description.as_deref().unwrap();
        assert!(d.contains("(grammar truncated)"));
        assert!(d.len() < MAX_GRAMMAR_CHARS + 400, "{}", d.len());
    }

    #[test]
    fn custom_tool_in_a_namespace_records_both() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"namespace","name":"functions","tools":[{"type":"custom","name":"exec","format":{"type":"text"}}]}
        ])));
        assert_eq!(names(&c), ["functions__exec"]);
        assert_eq!(
            c.names.resolve("functions__exec"),
            Some(&ToolOrigin::Custom {
                name: "exec".into(),
                namespace: Some("functions".into())
            })
        );
    }

    #[test]
    fn hosted_tools_are_dropped() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"web_search","external_web_access":false},
            {"type":"tool_search","execution":"client"},
            {"type":"image_generation","output_format":"png"},
            {"type":"function","name":"f"}
        ])));
        assert_eq!(names(&c), ["f"]);
        assert_eq!(c.names.by_upstream_name.len(), 1);
    }

    #[test]
    fn tool_choice_mapping() {
        let c = responses_tools_to_chat(&tools(json!([
            {"type":"namespace","name":"ns","tools":[{"type":"function","name":"f"}]},
            {"type":"custom","name":"apply_patch"}
        ])));
        for s in ["auto", "none", "required"] {
            assert_eq!(tool_choice_to_chat(&json!(s), &c.names), json!(s));
        }
        assert_eq!(
            tool_choice_to_chat(&json!("bogus"), &c.names),
            json!("auto")
        );
        assert_eq!(
            tool_choice_to_chat(
                &json!({"type":"function","name":"f","namespace":"ns"}),
                &c.names
            ),
            json!({"type":"function","function":{"name":"ns__f"}})
        );
        assert_eq!(
            tool_choice_to_chat(&json!({"type":"custom","name":"apply_patch"}), &c.names),
            json!({"type":"function","function":{"name":"apply_patch"}})
        );
        assert_eq!(
            tool_choice_to_chat(&json!({"type":"function","name":"nope"}), &c.names),
            json!("auto")
        );
        assert_eq!(
            tool_choice_to_chat(&json!({"type":"web_search"}), &c.names),
            json!("auto")
        );
    }
}
