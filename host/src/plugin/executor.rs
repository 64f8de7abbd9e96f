//! The threads guest code runs on: a runtime of its own, so that plugins computing for a long
//! time share those threads a time slice at a time, while the host's own work (feeds, listener
//! tasks, cursor saves, signals, notify) keeps its threads and is never queued behind a plugin.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// The sandbox's runtime; shut down in the background when the engine goes.
pub(super) struct SandboxThreads {
    runtime: Option<Runtime>,
}

impl SandboxThreads {
    /// As many threads as the machine has cores.
    pub fn start() -> std::io::Result<SandboxThreads> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("aviso-sandbox")
            .enable_all()
            .build()?;
        Ok(SandboxThreads {
            runtime: Some(runtime),
        })
    }

    /// Runs `call` on the sandbox threads; dropping the returned handle stops it.
    pub fn spawn<F>(&self, call: F) -> Running<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref().expect("running until dropped");
        Running(runtime.spawn(call))
    }
}

impl Drop for SandboxThreads {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed on an async thread: let it go.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A call running on the sandbox threads, stopped when dropped (its listener stopped waiting).
pub(super) struct Running<T>(JoinHandle<T>);

impl<T> Running<T> {
    pub async fn finish(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
