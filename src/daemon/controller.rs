//! A controller (wiring): a keyed work queue in front of one stage's reconcile, shaped as
//! kube-rs controllers are — a reconcile returns an [`Action`] (done, or requeue after a
//! while) and every error goes through one error policy, capped exponential backoff.
//!
//! Input: work items submitted by the loop (each with its key, e.g. an app × environment).
//! Output: reconciles run on the daemon's [`TaskTracker`] (shutdown waits for them), one per
//! key at a time and up to `parallel` keys at once. The queue is bounded by construction: at
//! most one pending item per key (newer work replaces the pending item, which would be stale
//! anyway), so its length never exceeds the number of keys.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What to do after a reconcile succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until new work arrives.
    Done,
    /// Run the same work again after this long (e.g. when a sync window opens), unless newer
    /// work for the key arrives first.
    RequeueAfter(Duration),
}

/// One stage's reconcile, as a controller drives it.
pub trait Reconcile: Send + Sync + 'static {
    type Key: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static;
    type Work: Clone + Send + Sync + 'static;
    type Error: std::fmt::Display + Send;

    fn key(work: &Self::Work) -> Self::Key;
    /// Newer work replacing pending work for the same key.
    fn coalesce(pending: &Self::Work, newer: Self::Work) -> Self::Work;
    /// The work run again by the error policy or a requeue.
    fn again(work: Self::Work) -> Self::Work {
        work
    }
    fn reconcile(
        &self,
        work: Self::Work,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
    /// Emits the event of a failed reconcile that the error policy retries after `delay`.
    fn retrying(&self, key: &Self::Key, failures: u32, delay: Duration, error: &Self::Error);
    /// The number of keys with work waiting behind a running reconcile.
    fn queue_depth(&self, pending: usize);
    /// Whether this replica may reconcile now (leader gating): work that waited while the
    /// replica lost the lease is dropped; the new leader does it.
    fn may_run(&self) -> bool;
}

/// The first retry of a failed reconcile waits this long; each further failure doubles it.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Retries never wait longer than this (the drift pass runs anyway).
pub const RETRY_CAP: Duration = Duration::from_mins(5);

/// The error policy: the wait before retry number `failures` (1-based), capped exponential
/// backoff.
#[must_use]
pub fn retry_delay(failures: u32) -> Duration {
    RETRY_BASE
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(RETRY_CAP)
}

struct Slots<K, W> {
    /// Keys with a reconcile running; the value is the work waiting behind it, if any.
    running: HashMap<K, Option<W>>,
    /// Per key: failed reconciles in a row, and how much work was submitted (a retry or a
    /// requeue is dropped when newer work came after it was scheduled).
    generations: HashMap<K, (u32, u64)>,
}

pub struct Controller<R: Reconcile> {
    reconciler: Arc<R>,
    slots: Arc<Mutex<Slots<R::Key, R::Work>>>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    /// First signal: finish the running reconciles, start no new ones.
    shutdown: CancellationToken,
    /// Second signal: stop running reconciles where they are.
    abort: CancellationToken,
}

impl<R: Reconcile> Clone for Controller<R> {
    fn clone(&self) -> Self {
        Self {
            reconciler: Arc::clone(&self.reconciler),
            slots: Arc::clone(&self.slots),
            permits: Arc::clone(&self.permits),
            tracker: self.tracker.clone(),
            shutdown: self.shutdown.clone(),
            abort: self.abort.clone(),
        }
    }
}

impl<R: Reconcile> Controller<R> {
    #[must_use]
    pub fn new(
        reconciler: R,
        parallel: usize,
        tracker: TaskTracker,
        (shutdown, abort): (CancellationToken, CancellationToken),
    ) -> Self {
        Self {
            reconciler: Arc::new(reconciler),
            slots: Arc::new(Mutex::new(Slots {
                running: HashMap::new(),
                generations: HashMap::new(),
            })),
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            tracker,
            shutdown,
            abort,
        }
    }

    /// The stage's reconciler, for commands that change its state before a reconcile.
    #[must_use]
    pub fn reconciler(&self) -> &R {
        &self.reconciler
    }

    /// Runs `task` on the daemon's tracker, so a stopping daemon waits for it.
    pub fn track(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Queues `work` for its key: it runs now, or after the key's running reconcile, replacing
    /// whatever waited there.
    ///
    /// # Panics
    ///
    /// When the slots lock is poisoned (a panic while holding it).
    pub fn submit(&self, work: R::Work) {
        let key = R::key(&work);
        {
            let mut slots = self.slots.lock().expect("controller slots lock poisoned");
            slots.generations.entry(key.clone()).or_default().1 += 1;
            if let Some(pending) = slots.running.get_mut(&key) {
                let work = match pending.as_ref() {
                    Some(p) => R::coalesce(p, work),
                    None => work,
                };
                *pending = Some(work);
                self.depth(&slots);
                return;
            }
            slots.running.insert(key.clone(), None);
        }
        let this = self.clone();
        self.tracker
            .spawn(async move { this.drain(key, work).await });
    }

    /// Runs the key's work, then whatever was queued behind it, one at a time.
    async fn drain(self, key: R::Key, work: R::Work) {
        let mut next = Some(work);
        while let Some(work) = next.take() {
            let Ok(_permit) = self.permits.acquire().await else {
                break;
            };
            if self.shutdown.is_cancelled() || !self.reconciler.may_run() {
                break;
            }
            let again = work.clone();
            tokio::select! {
                result = self.reconciler.reconcile(work) => self.after(&key, result, again),
                () = self.abort.cancelled() => {
                    // A second signal aborts: the reconcile stops where it is. Every stage is
                    // idempotent, so the next start converges.
                    tracing::warn!(key = ?key, "reconcile interrupted by shutdown");
                    break;
                }
            }
            let mut slots = self.slots.lock().expect("controller slots lock poisoned");
            next = slots.running.get_mut(&key).and_then(Option::take);
            if next.is_none() {
                slots.running.remove(&key);
            }
            self.depth(&slots);
        }
        let mut slots = self.slots.lock().expect("controller slots lock poisoned");
        slots.running.remove(&key);
    }

    /// The error policy and requeues: a failure is retried after [`retry_delay`], a requeue
    /// after its own delay; either only when no newer work arrived meanwhile.
    fn after(&self, key: &R::Key, result: Result<Action, R::Error>, work: R::Work) {
        let (failures, generation) = {
            let mut slots = self.slots.lock().expect("controller slots lock poisoned");
            let entry = slots.generations.entry(key.clone()).or_default();
            entry.0 = if result.is_ok() { 0 } else { entry.0 + 1 };
            *entry
        };
        let delay = match result {
            Ok(Action::Done) => return,
            Ok(Action::RequeueAfter(delay)) => delay,
            Err(e) => {
                let delay = retry_delay(failures);
                self.reconciler.retrying(key, failures, delay, &e);
                delay
            }
        };
        let (this, key) = (self.clone(), key.clone());
        self.tracker.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = this.shutdown.cancelled() => return,
            }
            let current = this
                .slots
                .lock()
                .expect("controller slots lock poisoned")
                .generations
                .get(&key)
                .map(|g| g.1);
            if current == Some(generation) {
                this.submit(R::again(work));
            }
        });
    }

    fn depth(&self, slots: &Slots<R::Key, R::Work>) {
        self.reconciler
            .queue_depth(slots.running.values().filter(|p| p.is_some()).count());
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
