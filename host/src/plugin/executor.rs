//! The threads guest code runs on: a runtime of its own, so that plugins computing for a long
//! time share those threads a time slice at a time, while the host's own work (feeds, listener
//! tasks, cursor saves, signals, notify) keeps its threads and waits at most one slice (the
//! first of a call, run where the call was made) behind a plugin.

use std::future::Future;
use std::task::Poll;

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

    /// Runs `call`: its first slice on the caller's thread, the rest (if it waits or computes
    /// past one slice) on the sandbox threads. Most calls end within their first slice and so
    /// pay no switch between threads, which cost a third of a catch-up through a plugin on one
    /// core; a longer one holds the caller's thread one slice at most. Dropping the returned
    /// future stops the call.
    pub async fn run<F>(&self, call: F) -> Result<F::Output, tokio::task::JoinError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut call = Box::pin(call);
        let first_slice = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        match first_slice {
            Poll::Ready(output) => Ok(output),
            Poll::Pending => self.spawn(call).finish().await,
        }
    }

    /// Runs `call` on the sandbox threads; dropping the returned handle stops it.
    fn spawn<F>(&self, call: F) -> Running<F::Output>
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
