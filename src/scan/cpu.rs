//! A fixed pool of threads, one per core, for the CPU-bound checks.
//!
//! Why not tokio's `spawn_blocking`: its pool grows to one thread per busy
//! session, and the regex engine keeps a match cache per regex for each
//! thread that used it (thousands of SpamAssassin regexes). Sixteen sessions
//! then mean up to sixteen sets of caches (measured: RSS grew from 90 MB to
//! over 150 MB at 16 sessions) while no message finishes sooner than if they
//! took turns on the two cores. A fixed pool bounds both.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{LazyLock, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The job queue; worker threads start on first use and live for the process.
static POOL: LazyLock<Mutex<Sender<Job>>> = LazyLock::new(|| {
    let (tx, rx) = channel::<Job>();
    let rx = std::sync::Arc::new(Mutex::new(rx));
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("check-{i}"))
            .spawn(move || worker(&rx))
            .expect("spawn a check worker thread");
    }
    Mutex::new(tx)
});

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            // A panicking job must not take the worker with it: its caller
            // sees the dropped result channel as an error.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

/// Why a job gave no result.
#[derive(Debug, thiserror::Error)]
#[error("check worker failed (panicked)")]
pub struct JobFailed;

/// Runs `f` on the check pool and waits for its result without blocking the
/// async runtime.
pub async fn run<T, F>(f: F) -> Result<T, JobFailed>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    let sent = match POOL.lock() {
        Ok(s) => s.send(job),
        Err(poisoned) => poisoned.into_inner().send(job),
    };
    sent.map_err(|_| JobFailed)?;
    rx.await.map_err(|_| JobFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_named_workers_and_survives_panicking_jobs() {
        assert_eq!(run(|| 2 + 2).await.unwrap(), 4);
        // More panics than workers: if a panic killed its worker, the
        // jobs after this loop would never run.
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        for _ in 0..=n {
            assert!(run(|| -> u8 { panic!("boom") }).await.is_err());
        }
        let name = run(|| std::thread::current().name().unwrap_or("").to_string())
            .await
            .unwrap();
        assert!(name.starts_with("check-"), "{name}");
    }
}
