//! Listeners running on the runtime's threads, and the Python thread that waits for them:
//! it waits without the GIL, and wakes every tenth of a second to let Python run its signal
//! handlers, so that Ctrl-C stops a listen.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use aviso::Aviso;
use aviso::listener::ListenerSet;
use pyo3::prelude::*;

use crate::errors;
use crate::runtime;

type Replay = Option<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)>;

/// How listening ended, once it has.
#[derive(Default)]
struct Outcome {
    ended: Mutex<Option<Result<(), PyErr>>>,
    changed: Condvar,
}

#[pyclass(module = "aviso._native")]
pub struct Listening {
    stop: tokio::sync::watch::Sender<bool>,
    outcome: Arc<Outcome>,
    listeners: usize,
}

const SIGNAL_CHECK: Duration = Duration::from_millis(100);

impl Listening {
    pub fn start(aviso: Aviso, sets: Vec<ListenerSet>, catchup: bool, replay: Replay) -> Listening {
        let listeners = sets.iter().map(|set| set.listeners.len()).sum();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let outcome = Arc::new(Outcome::default());
        let reported = outcome.clone();
        // A thread of its own drives the listening (its tasks run on the runtime's workers).
        std::thread::Builder::new()
            .name("aviso-listen".into())
            .spawn(move || {
                let result = runtime().block_on(aviso.listen_to(sets, catchup, replay, stopped));
                // Said here too: a program that started with `_listen` may never wait.
                if let Err(error) = &result {
                    tracing::error!("Listening stopped: {error}");
                }
                let result = result.map_err(errors::to_python);
                *reported.ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                reported.changed.notify_all();
            })
            .expect("a thread can be started");
        Listening {
            stop,
            outcome,
            listeners,
        }
    }

    /// Waits (without the GIL) up to `limit` for the end; true when it has ended.
    fn ended_within(&self, limit: Duration) -> bool {
        let ended = self.outcome.ended.lock().unwrap_or_else(|e| e.into_inner());
        let (ended, _) = self
            .outcome
            .changed
            .wait_timeout_while(ended, limit, |ended| ended.is_none())
            .unwrap_or_else(|e| e.into_inner());
        ended.is_some()
    }

    fn result(&self, py: Python<'_>) -> PyResult<()> {
        match &*self.outcome.ended.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(())) | None => Ok(()),
            Some(Err(error)) => Err(error.clone_ref(py)),
        }
    }
}

#[pymethods]
impl Listening {
    /// How many listeners were started.
    #[getter]
    fn listeners(&self) -> usize {
        self.listeners
    }

    /// Asks the listeners to stop: running triggers finish, positions are saved.
    fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn running(&self) -> bool {
        self.outcome
            .ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Waits until listening ends (a `to_date` replay, `stop()`, or an error, raised here), or
    /// up to `timeout` seconds; true when it has ended. An exception from a signal handler
    /// (`KeyboardInterrupt` on Ctrl-C) stops the listeners, waits for them and is raised.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        loop {
            let step = match deadline {
                Some(deadline) => {
                    SIGNAL_CHECK.min(deadline.saturating_duration_since(Instant::now()))
                }
                None => SIGNAL_CHECK,
            };
            if py.detach(|| self.ended_within(step)) {
                return self.result(py).map(|()| true);
            }
            if let Err(interrupted) = py.check_signals() {
                self.stop();
                py.detach(|| while !self.ended_within(SIGNAL_CHECK) {});
                return Err(interrupted);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(false);
            }
        }
    }
}
