//! Structured logs to stderr and to `log_dir/codex-convert-proxy.log` (JSON lines); errors also
//! to `log_dir/error.log`. `RUST_LOG` filters (default `info`).
//!
//! Lines are formatted by [`lines::LineLayer`], once per event and format, straight into bytes.
//! Writing is buffered per destination: a request only appends its formatted line to a buffer.
//! Buffers are written out when they reach [`FLUSH_AT`] bytes, every [`FLUSH_EVERY`] by a
//! background thread, immediately for warnings and errors, and when the process exits. A writer
//! thread woken for every line (tracing-appender's design) competed with the proxy for its core
//! on every request.

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

mod lines;
use lines::LineLayer;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Target of events that go to the log files only: their human form is already on stderr (the
/// startup summary).
pub const FILE_ONLY: &str = "ccp::file_only";

/// A buffer this large is written out at once.
const FLUSH_AT: usize = 64 * 1024;
/// The background flusher's period: the most a line waits before it is written.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One destination: its writer and the bytes not yet written.
struct Destination {
    state: Mutex<(Box<dyn Write + Send>, Vec<u8>)>,
}

impl Destination {
    fn new(writer: Box<dyn Write + Send>) -> Arc<Self> {
        Arc::new(Destination {
            state: Mutex::new((writer, Vec::with_capacity(FLUSH_AT))),
        })
    }

    fn append(&self, line: &[u8], urgent: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1.extend_from_slice(line);
        if urgent || state.1.len() >= FLUSH_AT {
            write_out(&mut state);
        }
    }

    fn flush(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.1.is_empty() {
            write_out(&mut state);
        }
    }
}

fn write_out(state: &mut (Box<dyn Write + Send>, Vec<u8>)) {
    let (writer, buf) = state;
    // A failing log destination must not take the proxy down; the lines are dropped.
    let _ = writer.write_all(buf).and_then(|()| writer.flush());
    buf.clear();
}

/// Flushes every destination when dropped (at the end of `main`).
pub struct LogGuards {
    destinations: Vec<Arc<Destination>>,
}

impl Drop for LogGuards {
    fn drop(&mut self) {
        for d in &self.destinations {
            d.flush();
        }
    }
}

/// Installs the global subscriber.
pub fn init(log_dir: &Path) -> std::io::Result<LogGuards> {
    std::fs::create_dir_all(log_dir)?;
    let open = |name: &str| -> std::io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_dir.join(name))?,
        ))
    };
    let main_file = Destination::new(open("codex-convert-proxy.log")?);
    let error_file = Destination::new(open("error.log")?);
    let stderr = Destination::new(Box::new(std::io::stderr()));
    let destinations = vec![stderr.clone(), main_file.clone(), error_file.clone()];
    let flushed = destinations.clone();
    std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            for d in &flushed {
                d.flush();
            }
        })?;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // One layer writes both the stderr text line and the log file's JSON line of an event.
    let main_layer = LineLayer {
        text: Some(stderr),
        json: Some(main_file),
        ansi: std::io::stderr().is_terminal(),
    }
    .with_filter(filter);
    let error_layer = LineLayer {
        text: None,
        json: Some(error_file),
        ansi: false,
    }
    .with_filter(LevelFilter::ERROR);
    tracing_subscriber::registry()
        .with(main_layer)
        .with(error_layer)
        .try_init()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(LogGuards { destinations })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer into a shared buffer, to read back what a destination wrote.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_event_becomes_a_text_line_and_a_json_line() {
        let (text_out, json_out, err_out) =
            (Shared::default(), Shared::default(), Shared::default());
        let text = Destination::new(Box::new(text_out.clone()));
        let json = Destination::new(Box::new(json_out.clone()));
        let errors = Destination::new(Box::new(err_out.clone()));
        let subscriber = tracing_subscriber::registry()
            .with(
                LineLayer {
                    text: Some(text.clone()),
                    json: Some(json.clone()),
                    ansi: false,
                }
                .with_filter(LevelFilter::INFO),
            )
            .with(
                LineLayer {
                    text: None,
                    json: Some(errors.clone()),
                    ansi: false,
                }
                .with_filter(LevelFilter::ERROR),
            );
        tracing::subscriber::with_default(subscriber, || {
            let name = String::from("bench");
            tracing::info!(target: "ccp::access", backend = %name, outcome = "com\"pleted", status = 200u64, delta = -3i64, ok = true, "request finished");
            tracing::debug!("filtered out");
            tracing::error!(error = %"boom", "upstream failure");
        });
        for d in [&text, &json, &errors] {
            d.flush();
        }
        let text = String::from_utf8(text_out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (stamp, rest) = lines[0].split_once(' ').unwrap();
        assert_eq!(stamp.len(), "2026-11-21T09:24:27.188445Z".len(), "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert_eq!(
            rest,
            " INFO request finished backend=bench outcome=\"com\\\"pleted\" status=200 delta=-3 ok=true"
        );
        assert!(
            lines[1].ends_with("ERROR upstream failure error=boom"),
            "{}",
            lines[1]
        );

        let json = String::from_utf8(json_out.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0]["fields"],
            serde_json::json!({"message": "request finished", "backend": "bench", "outcome": "com\"pleted", "status": 200, "delta": -3, "ok": true})
        );
        assert_eq!(events[0]["level"], "INFO");
        assert_eq!(events[0]["target"], "ccp::access");
        assert_eq!(
            events[0]["timestamp"].as_str().unwrap(),
            stamp,
            "both lines carry the same timestamp"
        );
        let errors = String::from_utf8(err_out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(errors.lines().count(), 1, "{errors}");
        assert!(
            errors.contains("\"message\":\"upstream failure\""),
            "{errors}"
        );
    }
}
