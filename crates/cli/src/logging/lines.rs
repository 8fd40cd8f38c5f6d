//! A `tracing` layer that formats each event straight into bytes: a text line (stderr) and/or a
//! JSON line (log files), each built once in a reused per-thread buffer.
//!
//! `tracing-subscriber`'s `fmt` layers went through `core::fmt` for every field and through a
//! `serde` map for JSON, once per layer: a quarter of the proxy's instructions per small request
//! went into the access-log line. The shapes are the same as theirs:
//! * text: `2026-11-21T09:22:24.655861Z  INFO request finished backend=bench status=200`
//!   (strings quoted, `%` values bare, the level coloured on a terminal);
//! * JSON: `{"timestamp":"…","level":"INFO","fields":{"message":"…","status":200},"target":"…"}`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::Destination;

/// Writes every event it sees as a text line to `text` (except events whose target is
/// [`super::FILE_ONLY`]) and/or a JSON line to `json`.
pub(super) struct LineLayer {
    pub(super) text: Option<Arc<Destination>>,
    pub(super) json: Option<Arc<Destination>>,
    pub(super) ansi: bool,
}

#[derive(Default)]
struct Scratch {
    text: Vec<u8>,
    json: Vec<u8>,
    /// `Debug`/`Display` output of one value, before it is escaped into both lines.
    value: String,
    /// The last second whose `YYYY-MM-DDTHH:MM:SS` prefix was formatted, and that prefix.
    second: Option<(u64, [u8; 19])>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        SCRATCH.with(|cell| {
            // A re-entrant event (a log line written while formatting one) gets a fresh buffer.
            let mut fresh = Scratch::default();
            let mut guard = cell.try_borrow_mut();
            let s = match guard.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            self.format(event, s);
            let urgent = *event.metadata().level() <= Level::WARN;
            if let Some(d) = &self.text {
                if event.metadata().target() != super::FILE_ONLY {
                    d.append(&s.text, urgent);
                }
            }
            if let Some(d) = &self.json {
                d.append(&s.json, urgent);
            }
        });
    }
}

impl LineLayer {
    fn format(&self, event: &Event<'_>, s: &mut Scratch) {
        let meta = event.metadata();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (secs, micros) = (now.as_secs(), now.subsec_micros());
        let prefix = match s.second {
            Some((cached, prefix)) if cached == secs => prefix,
            _ => {
                let prefix = civil_time(secs);
                s.second = Some((secs, prefix));
                prefix
            }
        };
        let level = meta.level().as_str();
        s.text.clear();
        s.json.clear();
        let (want_text, want_json) = (self.text.is_some(), self.json.is_some());
        if want_text {
            push_timestamp(&mut s.text, &prefix, micros);
            s.text.push(b' ');
            let pad = 5 - level.len();
            s.text.extend(std::iter::repeat_n(b' ', pad));
            if self.ansi {
                s.text.extend_from_slice(level_color(meta.level()));
                s.text.extend_from_slice(level.as_bytes());
                s.text.extend_from_slice(b"\x1b[0m");
            } else {
                s.text.extend_from_slice(level.as_bytes());
            }
        }
        if want_json {
            s.json.extend_from_slice(b"{\"timestamp\":\"");
            push_timestamp(&mut s.json, &prefix, micros);
            s.json.extend_from_slice(b"\",\"level\":\"");
            s.json.extend_from_slice(level.as_bytes());
            s.json.extend_from_slice(b"\",\"fields\":{");
        }
        let mut visitor = Fields {
            text: want_text.then_some(&mut s.text),
            json: want_json.then_some(&mut s.json),
            value: &mut s.value,
            first_json: true,
        };
        event.record(&mut visitor);
        if want_text {
            s.text.push(b'\n');
        }
        if want_json {
            s.json.extend_from_slice(b"},\"target\":");
            push_json_str(&mut s.json, meta.target());
            s.json.extend_from_slice(b"}\n");
        }
    }
}

/// Appends each field to the text line (` key=value`) and the JSON object (`"key":value`).
struct Fields<'a> {
    text: Option<&'a mut Vec<u8>>,
    json: Option<&'a mut Vec<u8>>,
    value: &'a mut String,
    first_json: bool,
}

impl Fields<'_> {
    fn json_key(&mut self, field: &Field) -> Option<&mut Vec<u8>> {
        let first = std::mem::replace(&mut self.first_json, false);
        let json = self.json.as_deref_mut()?;
        if !first {
            json.push(b',');
        }
        push_json_str(json, field.name());
        json.push(b':');
        Some(json)
    }

    fn text_key(&mut self, field: &Field) -> Option<&mut Vec<u8>> {
        let text = self.text.as_deref_mut()?;
        text.push(b' ');
        if field.name() != "message" {
            text.extend_from_slice(field.name().as_bytes());
            text.push(b'=');
        }
        Some(text)
    }

    fn number(&mut self, field: &Field, digits: &str) {
        if let Some(t) = self.text_key(field) {
            t.extend_from_slice(digits.as_bytes());
        }
        if let Some(j) = self.json_key(field) {
            j.extend_from_slice(digits.as_bytes());
        }
    }
}

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field, if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        if let Some(t) = self.text_key(field) {
            if message {
                t.extend_from_slice(value.as_bytes());
            } else {
                push_quoted(t, value);
            }
        }
        if let Some(j) = self.json_key(field) {
            push_json_str(j, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut rendered = std::mem::take(self.value);
        rendered.clear();
        let _ = write!(rendered, "{value:?}");
        if let Some(t) = self.text_key(field) {
            t.extend_from_slice(rendered.as_bytes());
        }
        if let Some(j) = self.json_key(field) {
            push_json_str(j, &rendered);
        }
        *self.value = rendered;
    }
}

fn level_color(level: &Level) -> &'static [u8] {
    match *level {
        Level::ERROR => b"\x1b[31m",
        Level::WARN => b"\x1b[33m",
        Level::INFO => b"\x1b[32m",
        Level::DEBUG => b"\x1b[34m",
        Level::TRACE => b"\x1b[35m",
    }
}

fn push_timestamp(out: &mut Vec<u8>, prefix: &[u8; 19], micros: u32) {
    out.extend_from_slice(prefix);
    out.push(b'.');
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(micros).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len().min(6)));
    out.extend_from_slice(digits);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for seconds since the epoch (days → civil date after
/// H. Hinnant's `civil_from_days`).
fn civil_time(secs: u64) -> [u8; 19] {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = [0u8; 19];
    let mut put = |at: usize, value: u64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, u64::try_from(year).unwrap_or(0), 4);
    put(5, u64::try_from(month).unwrap_or(0), 2);
    put(8, u64::try_from(day).unwrap_or(0), 2);
    put(11, hh, 2);
    put(14, mm, 2);
    put(17, ss, 2);
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        out[at] = sep;
    }
    out
}

/// A JSON string literal.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

/// A quoted string for the text line, escaped like JSON (which is what `{:?}` gives for the
/// common cases).
fn push_quoted(out: &mut Vec<u8>, s: &str) {
    push_json_str(out, s);
}

fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_matches_known_dates() {
        assert_eq!(&civil_time(0), b"1970-01-01T00:00:00");
        assert_eq!(&civil_time(951_782_400), b"2000-02-29T00:00:00");
        assert_eq!(&civil_time(1_795_253_544), b"2026-11-21T09:32:24");
        assert_eq!(&civil_time(4_107_542_399), b"2100-02-28T23:59:59");
    }

    #[test]
    fn escaping_gives_valid_json() {
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é 😀";
        let mut out = Vec::new();
        push_json_str(&mut out, nasty);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn timestamps_have_six_digit_micros() {
        let mut out = Vec::new();
        push_timestamp(&mut out, &civil_time(0), 42);
        assert_eq!(out, b"1970-01-01T00:00:00.000042Z");
    }
}
