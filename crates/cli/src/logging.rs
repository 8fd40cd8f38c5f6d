//! Structured logs to stderr and to `log_dir/codex-convert-proxy.log` (JSON lines); errors also
//! to `log_dir/error.log`. `RUST_LOG` filters (default `info`).
//!
//! Writing is buffered per destination: a request only appends its formatted line to a buffer.
//! Buffers are written out when they reach [`FLUSH_AT`] bytes, every [`FLUSH_EVERY`] by a
//! background thread, immediately for warnings and errors, and when the process exits. A writer
//! thread woken for every line (tracing-appender's design) competed with the proxy for its core
//! on every request.

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

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

/// `MakeWriter` for one destination: each event is formatted into a line that is appended on drop.
#[derive(Clone)]
struct To(Arc<Destination>);

/// The line being formatted for one event.
struct Line {
    dest: Arc<Destination>,
    buf: Vec<u8>,
    urgent: bool,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.dest.append(&self.buf, self.urgent);
        }
    }
}

impl<'a> MakeWriter<'a> for To {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            dest: self.0.clone(),
            buf: Vec::with_capacity(256),
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        // Warnings and errors are written at once (and before an exit that follows them).
        Line {
            dest: self.0.clone(),
            buf: Vec::with_capacity(256),
            urgent: *meta.level() <= Level::WARN,
        }
    }
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

    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(To(stderr))
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter());
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(To(main_file))
        .with_ansi(false)
        .json()
        .with_filter(filter());
    let error_layer = tracing_subscriber::fmt::layer()
        .with_writer(To(error_file))
        .with_ansi(false)
        .json()
        .with_filter(LevelFilter::ERROR);
    tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .with(error_layer)
        .try_init()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(LogGuards { destinations })
}
