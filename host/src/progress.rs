//! Progress of a catch-up or a replay, as a bar on the terminal: how far, how fast, how long
//! still. Only the command line turns bars on, and only when stderr is a terminal; log lines
//! written meanwhile go above the bars ([`suspended`]).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Every bar shown, one line each (several listeners may catch up at once).
static BARS: LazyLock<MultiProgress> =
    LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));

/// Shows bars from now on, if stderr is a terminal.
pub fn enable_on_terminal() {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        ENABLED.store(true, Ordering::Relaxed);
    }
}

/// Runs `write` with the bars cleared from the terminal, and draws them again after: for log
/// lines, which would otherwise be drawn over.
pub fn suspended<R>(write: impl FnOnce() -> R) -> R {
    if ENABLED.load(Ordering::Relaxed) {
        BARS.suspend(write)
    } else {
        write()
    }
}

/// One bar, counting revisions (or notifications) from 0 to a known end.
pub struct Progress {
    bar: Option<ProgressBar>,
    start: u64,
}

impl Progress {
    /// A bar for `what` ("Catching up on /tmp/aviso/flight/") that goes from `start` to `end`,
    /// counting `unit`s.
    pub fn start(what: &str, unit: &str, start: u64, end: u64) -> Progress {
        let bar = ENABLED.load(Ordering::Relaxed).then(|| {
            let style = ProgressStyle::with_template(&format!(
                "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}, {{rate}}, {{eta}} left"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{:.0}/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
            let bar = BARS.add(ProgressBar::new(end.saturating_sub(start)));
            bar.set_style(style);
            bar.set_message(what.to_string());
            bar
        });
        Progress { bar, start }
    }

    /// Now at `position` (between start and end).
    pub fn at(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position.saturating_sub(self.start));
        }
    }

    /// The bar goes; what it was for is said by the caller's log line.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
            BARS.remove(&bar);
        }
    }
}
