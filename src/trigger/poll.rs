//! Polling: the safety net under webhooks, and the only trigger where none can reach gantry.
//!
//! Input: a mirror, the branches to watch, an interval. Output: `RepoChanged` events when the
//! ref advertisement shows a watched branch moved (the mirror has fetched it by then).
//! Intervals carry ±10% jitter so many repos polled at the same period do not hit a forge in
//! bursts; failures back off up to ten times the interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Forge, TriggerEvent};
use crate::git::Mirror;

/// One repository to poll.
#[derive(Debug, Clone)]
pub struct Watch {
    pub mirror: Arc<Mirror>,
    pub branches: Vec<String>,
    pub interval: Duration,
}

/// Polls until `cancel` fires or the receiver is gone. The first poll happens at once.
pub async fn run(watch: Watch, tx: mpsc::Sender<TriggerEvent>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        match watch.mirror.changes(watch.branches.clone(), &cancel).await {
            Ok(changes) => {
                failures = 0;
                for c in changes {
                    let Some(new) = c.new else {
                        tracing::warn!(url = %watch.mirror.url(), branch = %c.branch, "watched branch was deleted on the remote");
                        continue;
                    };
                    let event = TriggerEvent::RepoChanged {
                        from: Forge::Poll,
                        url: watch.mirror.url().to_string(),
                        alt_urls: Vec::new(),
                        git_ref: format!("refs/heads/{}", c.branch),
                        after: new.to_string(),
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(url = %watch.mirror.url(), error = %e, failures, "poll failed");
            }
        }
        let wait = jittered(watch.interval.saturating_mul(failures.clamp(1, 10)));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => return,
        }
    }
}

/// `d` ± 10%.
#[must_use]
pub fn jittered(d: Duration) -> Duration {
    let tenth = d / 10;
    d.saturating_sub(tenth) + tenth.mul_f64(2.0 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let j = jittered(Duration::from_mins(1));
            assert!(
                j >= Duration::from_secs(54) && j <= Duration::from_secs(66),
                "{j:?}"
            );
        }
    }
}
