//! One log capture for the whole test binary: every event any test emits (gantry's and its
//! libraries', down to TRACE) lands in one buffer, so a test can grep the suite's logs, e.g.
//! for secrets. Installed by the first caller; helpers that start scenarios call it.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts capturing (once per process).
pub fn capture() {
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,hyper=debug,h2=debug,reqwest=debug",
            ))
            .with_writer(move || Sink(Arc::clone(&writer)))
            .with_ansi(false)
            .finish();
        // Another global subscriber would mean some logs escape the grep: fail loudly.
        tracing::subscriber::set_global_default(subscriber).expect("one global log capture");
        buffer
    });
}

/// Everything captured so far.
pub fn text() -> String {
    capture();
    let buffer = BUFFER.get().expect("capture installed");
    String::from_utf8_lossy(&buffer.lock().expect("log buffer lock")).into_owned()
}
