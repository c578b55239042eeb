//! Sync workers: one sync per app × environment at a time, different ones in parallel up to a
//! limit, newer work for a busy key coalesced into one pending job.
//!
//! Input: [`Job`]s from the loop. Output: syncs run on the [`TaskTracker`] so shutdown waits for
//! them. The queue is bounded by construction: at most one pending job per app × environment
//! (a newer commit replaces an older pending one, which would be stale anyway), so its length
//! never exceeds the number of app × environment pairs in the config.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::Shared;
use super::sync::{self, Job, Target};

type Key = (String, String);

struct Slots {
    /// Keys with a worker running; the value is the job waiting behind it, if any.
    running: HashMap<Key, Option<Job>>,
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
                tokio::select! {
                    () = sync::run(job, target.clone(), Arc::clone(&this.state)) => {}
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

    fn depth(&self, slots: &Slots) {
        let pending = slots.running.values().filter(|p| p.is_some()).count();
        self.state
            .metrics
            .queue_depth
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}
