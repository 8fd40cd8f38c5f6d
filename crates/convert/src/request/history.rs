//! Responses `input` items → Chat messages.
//!
//! The walk is a small state machine over [`Phase`], because the Chat shape is stricter than the
//! Responses one:
//!
//! * One model turn becomes **one** assistant message: its text, every consecutive call (in
//!   order, ids byte-exact) and the reasoning that preceded any of them. Reasoning items alone
//!   never end a turn.
//! * Every tool call is answered by a `tool` message before the next non-tool message; calls
//!   without an output get the output `"aborted"` (as Codex itself does). Outputs whose call is
//!   unknown, or whose turn is already closed, are dropped.
//! * Images from tool outputs are collected and sent in one `user` message after the run of tool
//!   messages, never between them.
//! * `developer`/`system` messages become `system` messages in place; reasoning not followed by
//!   assistant content is dropped; unknown item types are skipped.

use std::collections::HashSet;

use ccp_types::chat::{
    ChatContent, ChatContentPart, ChatFunctionCall, ChatMessage, ChatRole, ChatToolCall,
    ReasoningReplay,
};
use ccp_types::responses::{InputItem, MessageItem, Role, ToolOutputItem};
use serde_json::{json, Map};

use super::content::{
    merge_reasoning, message_content, reasoning_replay, split_tool_output, MESSAGE_PART_SEPARATOR,
};
use crate::tools::ToolNameMap;

/// Content of the synthesized output for a call that has none.
pub const ABORTED_OUTPUT: &str = "aborted";
/// Content of a tool message whose output was only images (they follow in a user message).
pub const IMAGE_ONLY_OUTPUT: &str = "(image output attached in the next message)";
/// Upstream function name for replayed `local_shell_call` items.
pub const LOCAL_SHELL_TOOL_NAME: &str = "local_shell";

/// Converts `input` items to Chat messages, appended to `out`.
pub(crate) fn input_items_to_messages(
    items: &[InputItem],
    names: &ToolNameMap,
    out: &mut Vec<ChatMessage>,
) {
    let mut walk = HistoryWalk::new(names, out);
    for item in items {
        walk.item(item);
    }
    walk.finish();
}

/// Where the walk is relative to the last assistant turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The last message is not an open assistant turn.
    Idle,
    /// The last message is the assistant turn at this index; text and calls still merge into it.
    AssistantOpen(usize),
    /// Tool messages answering the last assistant turn are being emitted.
    ToolRun,
}

struct HistoryWalk<'a> {
    names: &'a ToolNameMap,
    out: &'a mut Vec<ChatMessage>,
    phase: Phase,
    /// Calls of the current assistant turn without a tool message yet, in call order.
    unanswered: Vec<String>,
    /// Every call id seen so far: detects orphan outputs and duplicate calls.
    seen_calls: HashSet<String>,
    /// Tool-output images waiting for the end of the tool run, with their call id.
    images: Vec<(String, Vec<ChatContentPart>)>,
    /// Reasoning waiting for the assistant content it precedes.
    reasoning: Option<ReasoningReplay>,
}

impl<'a> HistoryWalk<'a> {
    fn new(names: &'a ToolNameMap, out: &'a mut Vec<ChatMessage>) -> Self {
        HistoryWalk {
            names,
            out,
            phase: Phase::Idle,
            unanswered: Vec::new(),
            seen_calls: HashSet::new(),
            images: Vec::new(),
            reasoning: None,
        }
    }

    fn item(&mut self, item: &InputItem) {
        match item {
            InputItem::Message(m) => self.message(m),
            InputItem::Reasoning(r) => {
                if let Some(replay) = reasoning_replay(r) {
                    merge_reasoning(&mut self.reasoning, replay);
                }
            }
            InputItem::FunctionCall(c) => {
                let name =
                    self.names
                        .upstream_name_for_call(c.namespace.as_deref(), &c.name, false);
                self.call(&c.call_id, name, c.arguments.clone());
            }
            InputItem::CustomToolCall(c) => {
                let name = self
                    .names
                    .upstream_name_for_call(c.namespace.as_deref(), &c.name, true);
                self.call(&c.call_id, name, json!({ "input": c.input }).to_string());
            }
            InputItem::LocalShellCall(c) => match c.call_id.as_deref().or(c.id.as_deref()) {
                Some(call_id) => {
                    let arguments = if c.action.is_null() {
                        "{}".to_owned()
                    } else {
                        c.action.to_string()
                    };
                    self.call(call_id, LOCAL_SHELL_TOOL_NAME.to_owned(), arguments);
                }
                None => tracing::debug!("skipping a local_shell_call without call_id or id"),
            },
            InputItem::FunctionCallOutput(o)
            | InputItem::CustomToolCallOutput(o)
            | InputItem::LocalShellCallOutput(o) => self.output(o),
            InputItem::Other { item_type } => {
                tracing::debug!(item_type = %item_type, "skipping input item")
            }
        }
    }

    fn message(&mut self, m: &MessageItem) {
        let role = match m.role {
            Role::User => ChatRole::User,
            Role::System | Role::Developer => ChatRole::System,
            Role::Assistant => return self.assistant_text(m),
        };
        self.close_turn();
        self.drop_pending_reasoning();
        match message_content(&m.content, role == ChatRole::User) {
            Some(content) => self.out.push(message(role, Some(content))),
            None => tracing::debug!(role = ?m.role, "skipping a message without content"),
        }
    }

    fn assistant_text(&mut self, m: &MessageItem) {
        let text = message_content(&m.content, false)
            .map(|c| c.joined_text())
            .filter(|t| !t.is_empty());
        let index = match (self.phase, text) {
            (Phase::AssistantOpen(index), Some(text)) => {
                let msg = &mut self.out[index];
                msg.content = Some(ChatContent::Text(match msg.content.take() {
                    Some(existing) => {
                        format!("{}{MESSAGE_PART_SEPARATOR}{text}", existing.joined_text())
                    }
                    None => text,
                }));
                index
            }
            (_, Some(text)) => {
                self.close_turn();
                self.out
                    .push(message(ChatRole::Assistant, Some(ChatContent::Text(text))));
                self.out.len() - 1
            }
            // Empty text: keep any reasoning for the calls that may follow.
            (_, None) => return,
        };
        self.phase = Phase::AssistantOpen(index);
        self.attach_reasoning(index);
    }

    fn call(&mut self, call_id: &str, name: String, arguments: String) {
        if !self.seen_calls.insert(call_id.to_owned()) {
            tracing::debug!(call_id, "dropping a repeated tool call id");
            return;
        }
        let call = ChatToolCall {
            id: call_id.to_owned(),
            kind: "function".to_owned(),
            function: ChatFunctionCall { name, arguments },
            extra: Map::new(),
        };
        let index = match self.phase {
            Phase::AssistantOpen(index) => index,
            Phase::Idle | Phase::ToolRun => {
                self.close_turn();
                self.out.push(message(ChatRole::Assistant, None));
                self.out.len() - 1
            }
        };
        self.out[index]
            .tool_calls
            .get_or_insert_with(Vec::new)
            .push(call);
        self.unanswered.push(call_id.to_owned());
        self.phase = Phase::AssistantOpen(index);
        self.attach_reasoning(index);
    }

    fn output(&mut self, o: &ToolOutputItem) {
        let Some(pos) = self.unanswered.iter().position(|id| *id == o.call_id) else {
            if self.seen_calls.contains(&o.call_id) {
                tracing::debug!(call_id = %o.call_id, "dropping an output for a call already answered or closed");
            } else {
                tracing::debug!(call_id = %o.call_id, "dropping an orphan tool output");
            }
            return;
        };
        self.unanswered.remove(pos);
        let split = split_tool_output(&o.output);
        let content = if split.text.is_empty() && !split.images.is_empty() {
            IMAGE_ONLY_OUTPUT.to_owned()
        } else {
            split.text
        };
        self.out.push(tool_message(&o.call_id, content));
        if !split.images.is_empty() {
            self.images.push((o.call_id.clone(), split.images));
        }
        self.phase = Phase::ToolRun;
    }

    /// Ends the current assistant turn: answers its unanswered calls with `"aborted"`, then sends
    /// the collected tool-output images in one user message.
    fn close_turn(&mut self) {
        for call_id in std::mem::take(&mut self.unanswered) {
            tracing::debug!(call_id = %call_id, "tool call has no output; answering \"aborted\"");
            self.out
                .push(tool_message(&call_id, ABORTED_OUTPUT.to_owned()));
        }
        if !self.images.is_empty() {
            let mut parts = Vec::new();
            for (call_id, images) in std::mem::take(&mut self.images) {
                parts.push(ChatContentPart::Text {
                    text: format!("Image output of tool call {call_id}:"),
                });
                parts.extend(images);
            }
            self.out
                .push(message(ChatRole::User, Some(ChatContent::Parts(parts))));
        }
        self.phase = Phase::Idle;
    }

    fn attach_reasoning(&mut self, index: usize) {
        if let Some(replay) = self.reasoning.take() {
            merge_reasoning(&mut self.out[index].reasoning, replay);
        }
    }

    fn drop_pending_reasoning(&mut self) {
        if self.reasoning.take().is_some() {
            tracing::debug!("dropping reasoning not followed by assistant content");
        }
    }

    fn finish(mut self) {
        self.close_turn();
        self.drop_pending_reasoning();
    }
}

fn message(role: ChatRole, content: Option<ChatContent>) -> ChatMessage {
    ChatMessage {
        role,
        content,
        name: None,
        tool_calls: None,
        tool_call_id: None,
        reasoning: None,
        extra: Map::new(),
    }
}

fn tool_message(call_id: &str, content: String) -> ChatMessage {
    ChatMessage {
        tool_call_id: Some(call_id.to_owned()),
        ..message(ChatRole::Tool, Some(ChatContent::Text(content)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::convert_json;
    use super::*;
    use serde_json::{json, Value};

    fn messages(input: Value) -> Vec<ChatMessage> {
        convert_json(json!({"model": "x", "input": input}))
            .unwrap()
            .chat
            .messages
    }

    fn wire(msgs: &[ChatMessage]) -> Value {
        serde_json::to_value(msgs).unwrap()
    }

    fn user(text: &str) -> Value {
        json!({"type":"message","role":"user","content":[{"type":"input_text","text":text}]})
    }

    fn call(id: &str, name: &str, args: &str) -> Value {
        json!({"type":"function_call","call_id":id,"name":name,"arguments":args})
    }

    fn output(id: &str, out: Value) -> Value {
        json!({"type":"function_call_output","call_id":id,"output":out})
    }

    fn roles(msgs: &[ChatMessage]) -> Vec<ChatRole> {
        msgs.iter().map(|m| m.role).collect()
    }

    #[test]
    fn consecutive_calls_become_one_assistant_message_in_order() {
        let msgs = messages(json!([
            user("go"),
            call("call_1", "exec_command", r#"{"cmd":"echo a"}"#),
            call("call_2", "exec_command", r#"{"cmd":"echo b"}"#),
            output("call_1", json!("a")),
            output("call_2", json!("b")),
        ]));
        assert_eq!(
            wire(&msgs[1..]),
            json!([
                {"role":"assistant","tool_calls":[
                    {"id":"call_1","type":"function","function":{"name":"exec_command","arguments":"{\"cmd\":\"echo a\"}"}},
                    {"id":"call_2","type":"function","function":{"name":"exec_command","arguments":"{\"cmd\":\"echo b\"}"}}
                ]},
                {"role":"tool","content":"a","tool_call_id":"call_1"},
                {"role":"tool","content":"b","tool_call_id":"call_2"}
            ])
        );
    }

    #[test]
    fn assistant_text_before_calls_is_merged_across_reasoning() {
        let msgs = messages(json!([
            user("go"),
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},
            {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"need ls"}]},
            call("call_1", "exec_command", "{}"),
            output("call_1", json!("ok")),
        ]));
        assert_eq!(
            roles(&msgs),
            [ChatRole::User, ChatRole::Assistant, ChatRole::Tool]
        );
        assert_eq!(
            msgs[1].content,
            Some(ChatContent::Text("Let me check.".into()))
        );
        assert_eq!(msgs[1].tool_calls.as_ref().unwrap()[0].id, "call_1");
        assert_eq!(msgs[1].reasoning.as_ref().unwrap().text, "need ls");
    }

    #[test]
    fn assistant_text_after_unanswered_calls_stays_in_the_same_turn() {
        let msgs = messages(json!([
            user("go"),
            call("call_1", "exec_command", "{}"),
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"running"}]},
            output("call_1", json!("ok")),
        ]));
        assert_eq!(
            roles(&msgs),
            [ChatRole::User, ChatRole::Assistant, ChatRole::Tool]
        );
        assert_eq!(msgs[1].content, Some(ChatContent::Text("running".into())));
        assert_eq!(msgs[2].content, Some(ChatContent::Text("ok".into())));
    }

    #[test]
    fn sequential_turns_stay_separate() {
        let msgs = messages(json!([
            user("go"),
            call("call_1", "f", "{}"),
            output("call_1", json!("1")),
            call("call_2", "f", "{}"),
            output("call_2", json!("2")),
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"done"}]},
        ]));
        assert_eq!(
            roles(&msgs),
            [
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::Assistant
            ]
        );
        assert_eq!(msgs[5].tool_calls, None);
    }

    #[test]
    fn tool_call_ids_are_byte_exact() {
        let ids = ["functions.exec_command:0", "call_ÄÖ ü", "  spaced  "];
        let mut input = vec![user("go")];
        input.extend(ids.iter().map(|id| call(id, "exec_command", "{}")));
        input.extend(ids.iter().map(|id| output(id, json!("x"))));
        let msgs = messages(Value::Array(input));
        let calls: Vec<&str> = msgs[1]
            .tool_calls
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(calls, ids);
        let answered: Vec<&str> = msgs[2..]
            .iter()
            .map(|m| m.tool_call_id.as_deref().unwrap())
            .collect();
        assert_eq!(answered, ids);
    }

    #[test]
    fn tool_output_images_follow_the_whole_run_of_tool_messages() {
        let img = "data:image/png;base64,iVBORw0KGgo=";
        let msgs = messages(json!([
            user("go"),
            call("call_img", "view_image", r#"{"path":"a.png"}"#),
            call("call_txt", "exec_command", "{}"),
            output(
                "call_img",
                json!([
                    {"type":"input_text","text":"a.png"},
                    {"type":"input_image","image_url":img,"detail":"high"}
                ])
            ),
            output("call_txt", json!("plain")),
        ]));
        assert_eq!(
            roles(&msgs),
            [
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::Tool,
                ChatRole::User
            ]
        );
        assert_eq!(msgs[2].content, Some(ChatContent::Text("a.png".into())));
        assert_eq!(
            wire(&msgs[4..]),
            json!([{"role":"user","content":[
                {"type":"text","text":"Image output of tool call call_img:"},
                {"type":"image_url","image_url":{"url":img,"detail":"high"}}
            ]}])
        );
    }

    #[test]
    fn image_only_output_gets_a_placeholder_text() {
        let msgs = messages(json!([
            user("go"),
            call("call_img", "view_image", "{}"),
            output(
                "call_img",
                json!([{"type":"input_image","image_url":"data:image/png;base64,AA=="}])
            ),
            user("thanks"),
        ]));
        assert_eq!(
            roles(&msgs),
            [
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::User,
                ChatRole::User
            ]
        );
        assert_eq!(
            msgs[2].content,
            Some(ChatContent::Text(IMAGE_ONLY_OUTPUT.into()))
        );
        assert!(matches!(&msgs[3].content, Some(ChatContent::Parts(p)) if p.len() == 2));
    }

    #[test]
    fn calls_without_output_are_answered_aborted() {
        let msgs = messages(json!([
            user("go"),
            call("call_1", "f", "{}"),
            call("call_2", "f", "{}"),
            output("call_2", json!("two")),
            user("next"),
            call("call_3", "f", "{}"),
        ]));
        let tool_pairs: Vec<(&str, String)> = msgs
            .iter()
            .filter(|m| m.role == ChatRole::Tool)
            .map(|m| {
                (
                    m.tool_call_id.as_deref().unwrap(),
                    m.content.as_ref().unwrap().joined_text(),
                )
            })
            .collect();
        assert_eq!(
            tool_pairs,
            [
                ("call_2", "two".into()),
                ("call_1", ABORTED_OUTPUT.into()),
                ("call_3", ABORTED_OUTPUT.into())
            ]
        );
        // The synthesized answer comes before the next user message.
        assert_eq!(
            roles(&msgs),
            [
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::Tool,
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool
            ]
        );
    }

    #[test]
    fn orphan_and_late_outputs_are_dropped() {
        let msgs = messages(json!([
            user("go"),
            output("call_nobody", json!("orphan")),
            call("call_1", "f", "{}"),
            user("interrupt"),
            output("call_1", json!("too late")),
            output("call_1", json!("twice")),
        ]));
        assert_eq!(
            roles(&msgs),
            [
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::User
            ]
        );
        assert_eq!(
            msgs[2].content,
            Some(ChatContent::Text(ABORTED_OUTPUT.into()))
        );
        assert!(!serde_json::to_string(&msgs).unwrap().contains("orphan"));
    }

    #[test]
    fn repeated_call_ids_are_declared_once() {
        let msgs = messages(json!([
            user("go"),
            call("c", "f", "{}"),
            call("c", "f", "{}"),
            output("c", json!("ok"))
        ]));
        assert_eq!(msgs[1].tool_calls.as_ref().unwrap().len(), 1);
        assert_eq!(
            roles(&msgs),
            [ChatRole::User, ChatRole::Assistant, ChatRole::Tool]
        );
    }

    #[test]
    fn reasoning_attaches_to_the_assistant_turn_it_precedes() {
        let msgs = messages(json!([
            user("q1"),
            {"type":"reasoning","summary":[{"type":"summary_text","text":"dropped: no assistant follows"}]},
            user("q2"),
            {"type":"reasoning","summary":[{"type":"summary_text","text":"**Thinking**"}],
             "content":[{"type":"reasoning_text","text":"raw reasoning"}],"encrypted_content":"ENCRYPTED-BLOB-123"},
            call("call_abc", "exec_command", "{}"),
            output("call_abc", json!("hi")),
            {"type":"reasoning","summary":[{"type":"summary_text","text":"second turn summary"}],"encrypted_content":null},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"answer"}]},
            {"type":"reasoning","summary":[{"type":"summary_text","text":"trailing"}]},
        ]));
        assert_eq!(
            roles(&msgs),
            [
                ChatRole::User,
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::Assistant
            ]
        );
        let replays: Vec<Option<ReasoningReplay>> =
            msgs.iter().map(|m| m.reasoning.clone()).collect();
        assert_eq!(
            replays,
            [
                None,
                None,
                Some(ReasoningReplay {
                    text: "raw reasoning".into(),
                    opaque: None
                }),
                None,
                Some(ReasoningReplay {
                    text: "second turn summary".into(),
                    opaque: None
                })
            ]
        );
    }

    #[test]
    fn ccp_opaque_reasoning_rides_on_the_assistant_message() {
        let blob = r#"ccp:v1:{"reasoning_details":[{"type":"reasoning.text","text":"t","signature":"sig"}]}"#;
        let msgs = messages(json!([
            user("q"),
            {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"t"}],"encrypted_content":blob},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]},
        ]));
        let replay = msgs[1].reasoning.as_ref().unwrap();
        assert_eq!(replay.text, "t");
        assert_eq!(
            replay.opaque,
            Some(
                json!({"reasoning_details":[{"type":"reasoning.text","text":"t","signature":"sig"}]})
            )
        );
    }

    #[test]
    fn developer_and_system_messages_become_system_in_place() {
        let msgs = messages(json!([
            {"type":"message","role":"developer","content":[{"type":"input_text","text":"base"},{"type":"input_text","text":"perms"}]},
            user("hi"),
            {"type":"message","role":"system","content":"mid"},
            {"role":"developer","content":"easy message without type"},
        ]));
        assert_eq!(
            wire(&msgs),
            json!([
                {"role":"system","content":"base\n\nperms"},
                {"role":"user","content":"hi"},
                {"role":"system","content":"mid"},
                {"role":"system","content":"easy message without type"}
            ])
        );
    }

    #[test]
    fn custom_and_namespaced_calls_use_upstream_names() {
        let conv = convert_json(json!({
            "model":"x",
            "tools":[
                {"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
                {"type":"namespace","name":"multi_agent_v1","tools":[{"type":"function","name":"close_agent"}]}
            ],
            "input":[
                user("go"),
                {"type":"custom_tool_call","call_id":"call_patch","name":"apply_patch","input":"*** Begin Patch\n*** End Patch\n"},
                {"type":"function_call","call_id":"call_ns","name":"close_agent","namespace":"multi_agent_v1","arguments":"{\"target\":\"a\"}"},
                {"type":"function_call","call_id":"call_undeclared","name":"spawn","namespace":"other_ns","arguments":"{}"},
                {"type":"custom_tool_call_output","call_id":"call_patch","output":"Success."},
                output("call_ns", json!("closed")),
                output("call_undeclared", json!("?")),
            ]
        }))
        .unwrap();
        let calls = conv.chat.messages[1].tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].function.name, "apply_patch");
        let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
        assert_eq!(args, json!({"input":"*** Begin Patch\n*** End Patch\n"}));
        assert_eq!(calls[1].function.name, "multi_agent_v1__close_agent");
        assert_eq!(calls[1].function.arguments, "{\"target\":\"a\"}");
        assert_eq!(calls[2].function.name, "other_ns__spawn");
        assert_eq!(
            conv.chat.messages[2].content,
            Some(ChatContent::Text("Success.".into()))
        );
    }

    #[test]
    fn local_shell_calls_replay_as_local_shell_function() {
        let action = json!({"type":"exec","command":["ls","-la"],"timeout_ms":1000});
        let msgs = messages(json!([
            user("go"),
            {"type":"local_shell_call","call_id":"ls_1","status":"completed","action":action},
            {"type":"local_shell_call_output","call_id":"ls_1","output":"total 0"},
            {"type":"local_shell_call","call_id":"ls_2","status":"completed","action":action},
            output("ls_2", json!("again")),
        ]));
        let call = &msgs[1].tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.name, LOCAL_SHELL_TOOL_NAME);
        assert_eq!(
            serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
            action
        );
        assert_eq!(msgs[2].tool_call_id.as_deref(), Some("ls_1"));
        assert_eq!(msgs[2].content, Some(ChatContent::Text("total 0".into())));
        assert_eq!(msgs[4].content, Some(ChatContent::Text("again".into())));
    }

    #[test]
    fn unknown_items_are_skipped_without_breaking_the_turn() {
        let msgs = messages(json!([
            user("go"),
            {"type":"web_search_call","id":"ws_1","status":"completed"},
            call("call_1", "f", "{}"),
            {"type":"compaction","encrypted_content":"x"},
            {"type":"item_reference","id":"msg_1"},
            output("call_1", json!("ok")),
        ]));
        assert_eq!(
            roles(&msgs),
            [ChatRole::User, ChatRole::Assistant, ChatRole::Tool]
        );
    }

    #[test]
    fn empty_messages_are_skipped() {
        let msgs = messages(json!([
            {"type":"message","role":"developer","content":[]},
            user("go"),
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":""}]},
        ]));
        assert_eq!(roles(&msgs), [ChatRole::User]);
    }
}
