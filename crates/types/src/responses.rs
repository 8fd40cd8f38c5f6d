//! Responses API request types (`POST /v1/responses`), as Codex and the OpenAI SDK send them.
//!
//! Parsing is lenient about what may vary between client versions (unknown top-level fields are
//! ignored, unknown item, part and tool types become `Other`, a message without `type` is a
//! message) and strict about what the conversion needs (a `function_call` without `call_id` is an
//! error naming its path). [`parse_request`] is the one entry point; its errors carry the JSON path.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A Responses API request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponsesRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub reasoning: Option<ReasoningParam>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub stream: bool,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    /// `include` (e.g. `["reasoning.encrypted_content"]`): read by the proxy, never forwarded by
    /// the converters.
    #[serde(default)]
    pub include: Option<Value>,
    /// Stop sequences (not a Responses field, but generic clients send it).
    #[serde(default)]
    pub stop: Option<Value>,
    // Everything else (`client_metadata`, `metadata`, `truncation`, `service_tier`,
    // `stream_options`, `generate`, …) is ignored: never forwarded upstream. No catch-all map:
    // `#[serde(flatten)]` would make every request parse go through serde's buffered slow path.
}

/// `input`: a plain string (one user message) or a list of items.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<InputItem>),
}

impl Default for Input {
    fn default() -> Self {
        Input::Items(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Input::default()),
            Value::String(s) => Ok(Input::Text(s)),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.into_iter().enumerate() {
                    out.push(
                        InputItem::from_value(v)
                            .map_err(|e| D::Error::custom(format!("input[{i}]{e}")))?,
                    );
                }
                Ok(Input::Items(out))
            }
            other => Err(D::Error::custom(format!(
                "expected a string or an array of items, found {}",
                json_kind(&other)
            ))),
        }
    }
}

/// Role of a message item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
    Developer,
}

/// One `input` item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputItem {
    Message(MessageItem),
    Reasoning(ReasoningItem),
    FunctionCall(FunctionCallItem),
    FunctionCallOutput(ToolOutputItem),
    CustomToolCall(CustomToolCallItem),
    CustomToolCallOutput(ToolOutputItem),
    LocalShellCall(LocalShellCallItem),
    LocalShellCallOutput(ToolOutputItem),
    /// Any other item type (`web_search_call`, `additional_tools`, `compaction`, an unresolved
    /// `item_reference`, …): skipped.
    #[serde(skip)]
    Other {
        item_type: String,
    },
}

impl InputItem {
    /// Parses one item; the error text starts with the path inside the item (`.call_id: …`).
    pub fn from_value(v: Value) -> Result<Self, String> {
        let Value::Object(map) = v else {
            return Err(format!(": expected an object, found {}", json_kind(&v)));
        };
        let item_type = match map.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(other) => {
                return Err(format!(
                    ".type: expected a string, found {}",
                    json_kind(other)
                ))
            }
            // EasyInputMessage: `{"role": "user", "content": "hi"}` without a type.
            None if map.contains_key("role") => "message".to_owned(),
            // An `item_reference` may omit its type: `{"id": "msg_…"}` (resolved by the store).
            None if map.contains_key("id") => "item_reference".to_owned(),
            None => return Err(".type: missing field `type`".to_owned()),
        };
        let v = Value::Object(map);
        Ok(match item_type.as_str() {
            "message" => InputItem::Message(typed(v, &item_type)?),
            "reasoning" => InputItem::Reasoning(typed(v, &item_type)?),
            "function_call" => InputItem::FunctionCall(typed(v, &item_type)?),
            "function_call_output" => InputItem::FunctionCallOutput(typed(v, &item_type)?),
            "custom_tool_call" => InputItem::CustomToolCall(typed(v, &item_type)?),
            "custom_tool_call_output" => InputItem::CustomToolCallOutput(typed(v, &item_type)?),
            "local_shell_call" => InputItem::LocalShellCall(typed(v, &item_type)?),
            "local_shell_call_output" => InputItem::LocalShellCallOutput(typed(v, &item_type)?),
            _ => InputItem::Other { item_type },
        })
    }
}

fn typed<T: DeserializeOwned>(v: Value, item_type: &str) -> Result<T, String> {
    serde_path_to_error_lite(v).map_err(|(path, msg)| {
        if path.is_empty() {
            format!(" ({item_type}): {msg}")
        } else {
            format!(".{path} ({item_type}): {msg}")
        }
    })
}

/// Deserializes from a `Value`, returning the dotted path of the failing field when serde names
/// one in its message (missing fields) or the path tracked by a second, field-by-field pass.
fn serde_path_to_error_lite<T: DeserializeOwned>(v: Value) -> Result<T, (String, String)> {
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Ok(t),
        Err(e) => Err((find_bad_path::<T>(&v), e.to_string())),
    }
}

/// Best effort: finds the first top-level key whose removal changes the error, for a readable
/// path. Cheap because it only runs on the error path.
fn find_bad_path<T: DeserializeOwned>(v: &Value) -> String {
    let Value::Object(map) = v else {
        return String::new();
    };
    let base = serde_json::from_value::<T>(v.clone())
        .err()
        .map(|e| e.to_string());
    if let Some(msg) = &base {
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            return field.to_owned();
        }
    }
    for key in map.keys() {
        let mut reduced = map.clone();
        reduced.remove(key);
        let err = serde_json::from_value::<T>(Value::Object(reduced))
            .err()
            .map(|e| e.to_string());
        if err != base {
            return key.clone();
        }
    }
    String::new()
}

/// `{"type":"message", "role", "content"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    #[serde(default)]
    pub id: Option<String>,
    pub role: Role,
    pub content: MessageContent,
    #[serde(default)]
    pub phase: Option<String>,
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_parts(d, MessageContent::Text, MessageContent::Parts)
    }
}

/// A string or an array of content parts (message content, tool output).
fn text_or_parts<'de, D: Deserializer<'de>, T>(
    d: D,
    text: fn(String) -> T,
    parts: fn(Vec<ContentPart>) -> T,
) -> Result<T, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(text(s)),
        Value::Array(values) => parts_from_values(values)
            .map(parts)
            .map_err(D::Error::custom),
        other => Err(D::Error::custom(format!(
            "expected a string or an array of content parts, found {}",
            json_kind(&other)
        ))),
    }
}

/// Parses content parts one by one so an error names the part (`[2].text: …`).
fn parts_from_values(parts: Vec<Value>) -> Result<Vec<ContentPart>, String> {
    parts
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let kind = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            serde_json::from_value::<ContentPart>(v)
                .map_err(|e| format!("[{i}] ({kind} part): {e}"))
        })
        .collect()
}

/// A content part of a message or of a tool output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    #[serde(alias = "text")]
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
        #[serde(default)]
        file_id: Option<String>,
        #[serde(default)]
        detail: Option<String>,
    },
    InputFile {
        #[serde(default)]
        filename: Option<String>,
        #[serde(default)]
        file_data: Option<String>,
        #[serde(default)]
        file_id: Option<String>,
        #[serde(default)]
        file_url: Option<String>,
    },
    Refusal {
        refusal: String,
    },
    #[serde(other)]
    Other,
}

/// `{"type":"reasoning"}` replayed by the client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReasoningItem {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub summary: Vec<TextPart>,
    #[serde(default)]
    pub content: Option<Vec<TextPart>>,
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

/// `{"type": "summary_text" | "reasoning_text" | "text", "text"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextPart {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: String,
}

/// `{"type":"function_call"}` replayed by the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCallItem {
    #[serde(default)]
    pub id: Option<String>,
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(deserialize_with = "string_or_json")]
    pub arguments: String,
}

/// `{"type":"custom_tool_call"}` replayed by the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomToolCallItem {
    #[serde(default)]
    pub id: Option<String>,
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub input: String,
}

/// `{"type":"local_shell_call"}` replayed by the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalShellCallItem {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub action: Value,
}

/// `function_call_output`, `custom_tool_call_output`, `local_shell_call_output`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolOutputItem {
    #[serde(default)]
    pub id: Option<String>,
    pub call_id: String,
    pub output: ToolOutput,
}

/// A tool output: a string or a list of parts (text and images).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ToolOutput {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for ToolOutput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_parts(d, ToolOutput::Text, ToolOutput::Parts)
    }
}

/// `reasoning` request parameter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReasoningParam {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

/// A tool declared in `tools`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Tool {
    Function(FunctionTool),
    Namespace(NamespaceTool),
    Custom(CustomTool),
    /// Hosted tools (`web_search`, `tool_search`, `image_generation`, …) and anything unknown.
    #[serde(skip)]
    Other {
        tool_type: String,
    },
}

/// Every field any tool kind reads, each kept as loose JSON so a hosted tool's own fields of any
/// type never fail the request; the kind's rules are checked after. Parsing into this flat shape
/// directly (unknown fields skipped) avoids building a `Value` of every tool and converting it
/// again: Codex sends 10–20 tools on every turn.
#[derive(Deserialize)]
#[serde(expecting = "a tool object")]
struct ToolFields {
    #[serde(rename = "type", default)]
    tool_type: Option<Value>,
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    description: Option<Value>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    strict: Option<Value>,
    #[serde(default)]
    tools: Option<Value>,
    #[serde(default)]
    format: Option<Value>,
}

/// An optional field of one JSON type: absent or `null` is `None`, another type is an error
/// naming the field.
fn optional<T>(
    value: Option<Value>,
    field: &str,
    expected: &str,
    pick: impl FnOnce(Value) -> Result<T, Value>,
) -> Result<Option<T>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => pick(v).map(Some).map_err(|other| {
            format!(
                "invalid type: {} for `{field}`, expected {expected}",
                json_kind(&other)
            )
        }),
    }
}

fn string(v: Value) -> Result<String, Value> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(other),
    }
}

impl ToolFields {
    fn name(&mut self) -> Result<String, String> {
        optional(self.name.take(), "name", "a string", string)?
            .ok_or_else(|| "missing field `name`".to_owned())
    }

    fn description(&mut self) -> Result<Option<String>, String> {
        optional(self.description.take(), "description", "a string", string)
    }

    fn strict(&mut self) -> Result<Option<bool>, String> {
        optional(self.strict.take(), "strict", "a boolean", |v| match v {
            Value::Bool(b) => Ok(b),
            other => Err(other),
        })
    }

    fn into_tool(mut self, tool_type: String) -> Result<Tool, String> {
        let non_null = |v: Option<Value>| v.filter(|v| !v.is_null());
        Ok(match tool_type.as_str() {
            "function" => Tool::Function(FunctionTool {
                name: self.name()?,
                description: self.description()?,
                parameters: non_null(self.parameters.take()),
                strict: self.strict()?,
            }),
            "namespace" => {
                let name = self.name()?;
                let description = self.description()?;
                let tools = match non_null(self.tools.take()) {
                    None => Vec::new(),
                    Some(v) => serde_json::from_value(v).map_err(|e| e.to_string())?,
                };
                Tool::Namespace(NamespaceTool {
                    name,
                    description,
                    tools,
                })
            }
            "custom" => Tool::Custom(CustomTool {
                name: self.name()?,
                description: self.description()?,
                format: non_null(self.format.take()),
            }),
            _ => Tool::Other { tool_type },
        })
    }
}

impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = ToolFields::deserialize(d)?;
        let tool_type = match fields.tool_type.take() {
            Some(Value::String(t)) => t,
            _ => return Err(D::Error::custom("tool: missing string field `type`")),
        };
        let kind = tool_type.clone();
        fields
            .into_tool(tool_type)
            .map_err(|e| D::Error::custom(format!("{kind} tool: {e}")))
    }
}

/// `{"type":"function"}` tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `{"type":"namespace"}` tool: a named group of functions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamespaceTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tools: Vec<Tool>,
}

/// `{"type":"custom"}` freeform tool (e.g. `apply_patch` with a Lark grammar).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub format: Option<Value>,
}

/// A request body error with the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Parses a Responses request body. Errors name the JSON path (`input[3].call_id`, `tools[2]`).
pub fn parse_request(body: &[u8]) -> Result<ResponsesRequest, BodyError> {
    // serde's derived structs also accept JSON arrays (positionally); a body must be an object.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => {
            return Err(BodyError {
                path: String::new(),
                message: "malformed JSON body: the body is empty; send a JSON object".into(),
            })
        }
        Some(_) => {
            let kind = match serde_json::from_slice::<Value>(body) {
                Ok(v) => json_kind(&v),
                Err(_) => "malformed JSON",
            };
            return Err(BodyError {
                path: String::new(),
                message: format!("the request body must be a JSON object, found {kind}"),
            });
        }
    }
    // Fast path: path tracking costs on every field, so it only runs to explain a failure.
    if let Ok(r) = serde_json::from_slice::<ResponsesRequest>(body) {
        return Ok(r);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    explain(serde_path_to_error::deserialize::<_, ResponsesRequest>(de))
}

/// Parses a Responses request already held as JSON (a WebSocket frame's fields); errors like
/// [`parse_request`]'s.
pub fn parse_request_value(value: &Value) -> Result<ResponsesRequest, BodyError> {
    if !value.is_object() {
        return Err(BodyError {
            path: String::new(),
            message: format!(
                "the request must be a JSON object, found {}",
                json_kind(value)
            ),
        });
    }
    if let Ok(r) = ResponsesRequest::deserialize(value) {
        return Ok(r);
    }
    explain(serde_path_to_error::deserialize::<_, ResponsesRequest>(
        value,
    ))
}

fn explain(
    parsed: Result<ResponsesRequest, serde_path_to_error::Error<serde_json::Error>>,
) -> Result<ResponsesRequest, BodyError> {
    match parsed {
        Ok(r) => Ok(r),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.to_string();
            // serde_json appends " at line X column Y"; keep it only for syntax errors.
            if !inner.is_syntax() && !inner.is_eof() {
                if let Some(pos) = message.rfind(" at line ") {
                    message.truncate(pos);
                }
            }
            let path = if path == "." { String::new() } else { path };
            // Item-level errors already start with their own path ("input[3].call_id (…): …").
            if let Some(rest) = message.strip_prefix("input[") {
                if let Some((idx, tail)) = rest.split_once(']') {
                    let (sub, msg) = split_sub_path(tail);
                    return Err(BodyError {
                        path: format!("input[{idx}]{sub}"),
                        message: msg,
                    });
                }
            }
            if inner.is_syntax() || inner.is_eof() {
                return Err(BodyError {
                    path: String::new(),
                    message: format!("malformed JSON body: {message}"),
                });
            }
            Err(BodyError { path, message })
        }
    }
}

fn split_sub_path(tail: &str) -> (String, String) {
    // tail looks like ".call_id (function_call): missing field `call_id`" or ": expected …"
    match tail.split_once(": ") {
        Some((p, m)) => {
            let p = p.split(" (").next().unwrap_or("");
            let kind = tail
                .split_once(" (")
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(k, _)| k);
            let m = match kind {
                Some(k) => format!("{m} (in a {k} item)"),
                None => m.to_owned(),
            };
            (p.to_owned(), m)
        }
        None => (
            String::new(),
            tail.trim_start_matches(':').trim().to_owned(),
        ),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Accepts a JSON string, or any other JSON value serialized to a string (GLM sends objects).
pub fn string_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Null => Ok(String::new()),
        other => Ok(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_string_input() {
        let r = parse_request(br#"{"model":"m","input":"hi"}"#).unwrap();
        assert!(matches!(r.input, Input::Text(ref s) if s == "hi"));
    }

    #[test]
    fn message_without_type_is_a_message() {
        let r =
            parse_request(br#"{"model":"m","input":[{"role":"user","content":"hi"}]}"#).unwrap();
        let Input::Items(items) = r.input else {
            panic!("items")
        };
        assert!(matches!(items[0], InputItem::Message(_)));
    }

    #[test]
    fn missing_call_id_names_the_path() {
        let e = parse_request(
            br#"{"model":"m","input":[{"type":"function_call","name":"x","arguments":"{}"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "input[0].call_id");
        assert!(e.message.contains("call_id"), "{e}");
    }

    #[test]
    fn unknown_items_and_tools_are_other() {
        let r = parse_request(
            br#"{"model":"m","input":[{"type":"web_search_call","id":"ws_1"}],"tools":[{"type":"web_search"}]}"#,
        )
        .unwrap();
        let Input::Items(items) = r.input else {
            panic!("items")
        };
        assert!(
            matches!(&items[0], InputItem::Other { item_type } if item_type == "web_search_call")
        );
        assert!(matches!(&r.tools[0], Tool::Other { tool_type } if tool_type == "web_search"));
    }

    #[test]
    fn tools_of_every_kind_parse_directly() {
        let r = parse_request(
            br#"{"model":"m","input":"x","tools":[
              {"type":"function","name":"shell","description":"run","parameters":{"type":"object"},"strict":false,"extra":1},
              {"type":"function","name":"bare","description":null,"parameters":null},
              {"type":"custom","name":"apply_patch","description":"patch","format":{"type":"grammar","syntax":"lark"}},
              {"type":"namespace","name":"mcp__x","tools":[{"type":"function","name":"list"}]},
              {"type":"web_search","name":5,"filters":{"a":[1]}},
              {"type":"image_generation"}]}"#,
        )
        .unwrap();
        let Tool::Function(f) = &r.tools[0] else {
            panic!("{:?}", r.tools[0])
        };
        assert_eq!(
            (f.name.as_str(), f.description.as_deref(), f.strict),
            ("shell", Some("run"), Some(false))
        );
        assert_eq!(f.parameters, Some(serde_json::json!({"type": "object"})));
        let Tool::Function(f) = &r.tools[1] else {
            panic!("{:?}", r.tools[1])
        };
        assert_eq!(
            (f.description.as_ref(), f.parameters.as_ref(), f.strict),
            (None, None, None)
        );
        let Tool::Custom(c) = &r.tools[2] else {
            panic!("{:?}", r.tools[2])
        };
        assert_eq!(c.name, "apply_patch");
        assert_eq!(c.format.as_ref().unwrap()["syntax"], "lark");
        let Tool::Namespace(ns) = &r.tools[3] else {
            panic!("{:?}", r.tools[3])
        };
        assert!(matches!(&ns.tools[..], [Tool::Function(f)] if f.name == "list"));
        // Hosted tools keep only their type, whatever their other fields hold.
        assert!(matches!(&r.tools[4], Tool::Other { tool_type } if tool_type == "web_search"));
        assert!(
            matches!(&r.tools[5], Tool::Other { tool_type } if tool_type == "image_generation")
        );
    }

    #[test]
    fn bad_tools_name_the_tool_and_the_field() {
        for (tools, path, wanted) in [
            (
                r#"[{"type":"function"}]"#,
                "tools[0]",
                "function tool: missing field `name`",
            ),
            (
                r#"[{"type":"function","name":3}]"#,
                "tools[0]",
                "`name`, expected a string",
            ),
            (
                r#"[{"type":"custom","name":"p","description":[]}]"#,
                "tools[0]",
                "`description`, expected a string",
            ),
            (
                r#"[{"type":"function","name":"f","strict":"yes"}]"#,
                "tools[0]",
                "`strict`, expected a boolean",
            ),
            (
                r#"[{"type":"namespace","name":"n","tools":"x"}]"#,
                "tools[0]",
                "namespace tool",
            ),
            (
                r#"[{"name":"f"}]"#,
                "tools[0]",
                "missing string field `type`",
            ),
            (r#"[5]"#, "tools[0]", "a tool object"),
        ] {
            let body = format!(r#"{{"model":"m","input":"x","tools":{tools}}}"#);
            let e = parse_request(body.as_bytes()).unwrap_err();
            assert!(e.path.starts_with(path), "{tools}: {e:?}");
            assert!(e.message.contains(wanted), "{tools}: {e}");
        }
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse_request(br#"{"model":"m","input":"x","stream":"yes"}"#).unwrap_err();
        assert_eq!(e.path, "stream");
        let e = parse_request(
            br#"{"model":"m","input":[{"type":"message","role":"robot","content":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "input[0].role");
    }

    #[test]
    fn bad_content_part_names_the_part() {
        let e = parse_request(
            br#"{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"ok"},{"type":"input_text","text":5}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "input[0].content");
        assert!(
            e.message.contains("[1]") && e.message.contains("input_text"),
            "{e}"
        );
        let e = parse_request(br#"{"model":"m","input":7}"#).unwrap_err();
        assert_eq!(e.path, "input");
        assert!(!e.message.contains("input:"), "no doubled prefix: {e}");
    }

    #[test]
    fn non_object_bodies_are_rejected() {
        for body in [&b"[\"m\"]"[..], b"\"x\"", b"  7", b"", b"   "] {
            let e = parse_request(body).unwrap_err();
            assert!(e.message.contains("JSON object"), "{e}");
        }
    }

    #[test]
    fn malformed_json_is_reported() {
        let e = parse_request(b"{\"model\":").unwrap_err();
        assert!(e.message.starts_with("malformed JSON body"), "{e}");
    }
}
