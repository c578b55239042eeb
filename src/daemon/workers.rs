//! Sync workers: one sync per app × environment at a time, different ones in parallel up to a
//! limit, newer work for a busy key coalesced into one pending job.
//!
//! Input: [`Job`]s from the loop. Output: syncs run on the [`TaskTracker`] so shutdown waits for
//! them. The queue is bounded by construction: at most one pending job per app × environment
//! (a newer commit replaces an older pending one, which would be stale anyway), so its length
//! never exceeds the number of app × environment pairs in the config.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::Shared;
use super::sync::{self, Job, Target};

type Key = (String, String);

struct Slots {
    /// Keys with a worker running; the value is the job waiting behind it, if any.
    running: HashMap<Key, Option<Job>>,
    /// Per key: failed syncs in a row, and how many jobs were submitted (a retry is dropped
    /// when a newer job came after the failure).
    failures: HashMap<Key, (u32, u64)>,
}

/// The first retry of a failed sync waits this long; each further failure doubles it.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Retries never wait longer than this (the drift pass runs anyway).
pub const RETRY_CAP: Duration = Duration::from_mins(5);

/// The wait before retry number `failures` (1-based): capped exponential backoff.
#[must_use]
pub fn retry_delay(failures: u32) -> Duration {
    RETRY_BASE
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(RETRY_CAP)
}

#[derive(Clone)]
pub struct Workers {
    slots: Arc<Mutex<Slots>>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    /// First signal: finish the running syncs, start no new ones.
    shutdown: CancellationToken,
    /// Second signal: stop running syncs where they are.
    abort: CancellationToken,
    state: Shared,
}

impl Workers {
    #[must_use]
    pub fn new(
        parallel: usize,
        tracker: TaskTracker,
        (shutdown, abort): (CancellationToken, CancellationToken),
        state: Shared,
    ) -> Self {
        Self {
            slots: Arc::new(Mutex::new(Slots {
                running: HashMap::new(),
                failures: HashMap::new(),
            })),
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            tracker,
            shutdown,
            abort,
            state,
        }
    }

    /// Runs `task` on the daemon's tracker, so a stopping daemon waits for it: a task that holds
    /// the shared state (and so the state store) must not outlive `daemon::run`.
    pub(super) fn track(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Queues `job` for its key; `target` is where its environment syncs to.
    pub fn submit(&self, job: Job, target: Target) {
        let key = job.key();
        {
            let mut slots = self.slots.lock().expect("worker slots lock poisoned");
            slots.failures.entry(key.clone()).or_default().1 += 1;
            if let Some(pending) = slots.running.get_mut(&key) {
                // Keep a forced (drift) pass forced even when a newer commit replaces it.
                let force = job.force || pending.as_ref().is_some_and(|p| p.force);
                *pending = Some(Job { force, ..job });
                self.depth(&slots);
                return;
            }
            slots.running.insert(key.clone(), None);
        }
        let this = self.clone();
        self.tracker.spawn(async move {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                let Ok(_permit) = this.permits.acquire().await else {
                    break;
                };
                // Leadership lost while this job waited: the new leader does it.
                if this.shutdown.is_cancelled()
                    || !this.state.leader.load(std::sync::atomic::Ordering::Relaxed)
                {
                    break;
                }
                let retry = job.clone();
                tokio::select! {
                    ok = sync::run(job, target.clone(), Arc::clone(&this.state)) => {
                        this.after(&key, ok, retry, &target);
                    }
                    () = this.abort.cancelled() => {
                        // A second signal aborts: the sync stops where it is. Server-side
                        // apply is idempotent, so the next start converges.
                        tracing::warn!(app = %key.0, env = %key.1, "sync interrupted by shutdown");
                        break;
                    }
                }
                let mut slots = this.slots.lock().expect("worker slots lock poisoned");
                next = slots.running.get_mut(&key).and_then(Option::take);
                if next.is_none() {
                    slots.running.remove(&key);
                }
                this.depth(&slots);
            }
            let mut slots = this.slots.lock().expect("worker slots lock poisoned");
            slots.running.remove(&key);
        });
    }

    /// Counts a failure and schedules a retry with backoff, or clears the count on success.
    /// A retry happens only when no newer job arrived meanwhile: that one supersedes it.
    fn after(&self, key: &Key, ok: bool, job: Job, target: &Target) {
        let (failures, generation) = {
            let mut slots = self.slots.lock().expect("worker slots lock poisoned");
            let entry = slots.failures.entry(key.clone()).or_default();
            entry.0 = if ok { 0 } else { entry.0 + 1 };
            *entry
        };
        if ok {
            return;
        }
        let delay = retry_delay(failures);
        super::events::SyncRetry {
            app: &key.0,
            env: &key.1,
            failures,
            delay,
        }
        .emit(&self.state.metrics);
        let (this, key, target) = (self.clone(), key.clone(), target.clone());
        self.tracker.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = this.shutdown.cancelled() => return,
            }
            let current = this
                .slots
                .lock()
                .expect("worker slots lock poisoned")
                .failures
                .get(&key)
                .map(|f| f.1);
            if current == Some(generation) {
                this.submit(Job { force: true, ..job }, target);
            }
        });
    }

    fn depth(&self, slots: &Slots) {
        let pending = slots.running.values().filter(|p| p.is_some()).count();
        self.state
            .metrics
            .queue_depth
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let secs: Vec<u64> = (1..=12).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX), RETRY_CAP);
    }
}
