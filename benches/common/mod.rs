//! Timing shared by the bench binaries.

use std::time::{Duration, Instant};

/// Runs `f` `runs` times after one warm-up and returns the sorted durations.
pub fn measure(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}
