//! Sync windows (stage ⑥, pure): whether an environment may sync now, with Argo CD's rules.
//!
//! Input: the environment's windows, the time (UTC) and whether the sync is manual. Output: a
//! [`Gate`] — open, or closed with why and when it opens. A window is active from each start
//! of its cron `schedule` for its `duration`. An active `deny` window wins over everything; when
//! `allow` windows exist, one must be active. A manual sync passes a closed gate when the
//! windows closing it say `manualSync: true`.

use chrono::{DateTime, Utc};

use crate::config::{SyncWindow, WindowKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    Closed {
        /// Why, for people: which kind of window closes it.
        why: String,
        /// When automatic syncs may run again, when known.
        opens: Option<DateTime<Utc>>,
    },
}

/// The end of `w`'s active period containing `now`, if it is active.
fn active_until(w: &SyncWindow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let length = chrono::Duration::from_std(w.duration).ok()?;
    // The last start at or before now; active while now is before start + duration.
    let start = w.schedule.find_previous_occurrence(&now, true).ok()?;
    let end = start + length;
    (now < end).then_some(end)
}

fn next_start(w: &SyncWindow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    w.schedule.find_next_occurrence(&now, false).ok()
}

/// Whether a sync may run at `now`.
#[must_use]
pub fn gate(windows: &[SyncWindow], now: DateTime<Utc>, manual: bool) -> Gate {
    let denying: Vec<(&SyncWindow, DateTime<Utc>)> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Deny)
        .filter_map(|w| Some((w, active_until(w, now)?)))
        .collect();
    if !denying.is_empty() {
        if manual && denying.iter().all(|(w, _)| w.manual_sync) {
            return Gate::Open;
        }
        return Gate::Closed {
            why: "a deny sync window is active".into(),
            opens: denying.iter().map(|(_, end)| *end).max(),
        };
    }
    let allows: Vec<&SyncWindow> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    if allows.is_empty() || allows.iter().any(|w| active_until(w, now).is_some()) {
        return Gate::Open;
    }
    if manual && allows.iter().any(|w| w.manual_sync) {
        return Gate::Open;
    }
    Gate::Closed {
        why: "outside every allow sync window".into(),
        opens: allows.iter().filter_map(|w| next_start(w, now)).min(),
    }
}

/// `2h13m`, `45m`, `30s`: how long until `then`.
#[must_use]
pub fn wait_text(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (then - now).num_seconds().max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn window(kind: WindowKind, schedule: &str, hours: u64, manual_sync: bool) -> SyncWindow {
        SyncWindow {
            kind,
            schedule: croner::parser::CronParser::builder()
                .build()
                .parse(schedule)
                .expect("cron"),
            duration: Duration::from_secs(hours * 3_600),
            manual_sync,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn allow_windows_open_and_close_with_their_schedule() {
        // The quickstart's prod: weekdays 08:00 for 9 h.
        let w = [window(WindowKind::Allow, "0 8 * * 1-5", 9, false)];
        // Monday 2026-11-30.
        assert_eq!(gate(&w, at("2026-11-30T09:00:00Z"), false), Gate::Open);
        assert_eq!(gate(&w, at("2026-11-30T16:59:59Z"), false), Gate::Open);
        assert_eq!(
            gate(&w, at("2026-11-30T05:04:00Z"), false),
            Gate::Closed {
                why: "outside every allow sync window".into(),
                opens: Some(at("2026-11-30T08:00:00Z")),
            }
        );
        // Friday evening → Monday morning.
        let Gate::Closed { opens, .. } = gate(&w, at("2026-12-04T18:00:00Z"), false) else {
            panic!("closed on Friday evening");
        };
        assert_eq!(opens, Some(at("2026-12-07T08:00:00Z")));
    }

    #[test]
    fn deny_wins_over_allow_and_manual_sync_needs_the_windows_consent() {
        let w = [
            window(WindowKind::Allow, "0 0 * * *", 24, false),
            window(WindowKind::Deny, "0 12 * * *", 2, false),
        ];
        let noon = at("2026-11-30T13:00:00Z");
        assert_eq!(
            gate(&w, noon, false),
            Gate::Closed {
                why: "a deny sync window is active".into(),
                opens: Some(at("2026-11-30T14:00:00Z")),
            }
        );
        assert!(matches!(gate(&w, noon, true), Gate::Closed { .. }));
        let consenting = [
            window(WindowKind::Allow, "0 0 * * *", 24, false),
            window(WindowKind::Deny, "0 12 * * *", 2, true),
        ];
        assert_eq!(gate(&consenting, noon, true), Gate::Open);
        assert!(matches!(
            gate(&consenting, noon, false),
            Gate::Closed { .. }
        ));
        let allow_manual = [window(WindowKind::Allow, "0 8 * * 1-5", 9, true)];
        assert_eq!(
            gate(&allow_manual, at("2026-11-30T05:04:00Z"), true),
            Gate::Open
        );
    }

    #[test]
    fn no_windows_always_open() {
        assert_eq!(gate(&[], at("2026-11-30T05:04:00Z"), false), Gate::Open);
    }

    #[test]
    fn waits_read_as_people_write_them() {
        let now = at("2026-11-30T05:47:00Z");
        assert_eq!(wait_text(now, at("2026-11-30T08:00:00Z")), "2h13m");
        assert_eq!(wait_text(now, at("2026-11-30T06:32:00Z")), "45m");
        assert_eq!(wait_text(now, at("2026-12-02T08:00:00Z")), "2d2h");
    }
}
