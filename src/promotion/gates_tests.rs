use super::*;

fn open_facts() -> Facts {
    Facts {
        from: "staging".into(),
        to: "prod".into(),
        health: SourceHealth::Synced {
            health: "Healthy".into(),
        },
        analysis: Check::Passed("request-success-rate 0.999 >= 0.99".into()),
        soaked: Some(Duration::from_hours(3)),
        soak_time: Some(Duration::from_hours(2)),
        scan: Check::Passed("0 critical, 0 high".into()),
        signature: Check::Passed("verified with key 3f9a".into()),
        rejected: None,
        window_closed: None,
    }
}

fn closed(facts: &Facts) -> Vec<GateName> {
    gates(facts)
        .into_iter()
        .filter(|g| !g.open)
        .map(|g| g.name)
        .collect()
}

#[test]
fn every_gate_is_open_on_good_facts() {
    let all = gates(&open_facts());
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|g| g.open), "{all:?}");
    assert_eq!(all[2].reason, "3h in staging (soakTime 2h)");
}

#[test]
fn each_gate_blocks_alone_with_its_reason() {
    type Break = fn(&mut Facts);
    let cases: [(GateName, Break, &str); 10] = [
        (
            GateName::Health,
            |f| {
                f.health = SourceHealth::Synced {
                    health: "Degraded".into(),
                }
            },
            "Degraded in staging, not Healthy",
        ),
        (
            GateName::Health,
            |f| f.health = SourceHealth::NotSynced("failed: render".into()),
            "not yet synced in staging: failed: render",
        ),
        (
            GateName::Health,
            |f| f.health = SourceHealth::Unknown,
            "no sync of it recorded in staging",
        ),
        (
            GateName::Analysis,
            |f| f.analysis = Check::Failed("aborted at step 3".into()),
            "canary analysis in staging: aborted at step 3",
        ),
        (
            GateName::Soak,
            |f| f.soaked = Some(Duration::from_mins(95)),
            "1h 35m of 2h in staging; 25m to go",
        ),
        (
            GateName::Soak,
            |f| f.soaked = None,
            "no gantry commit put it into staging",
        ),
        (
            GateName::Scan,
            |f| f.scan = Check::Failed("2 critical".into()),
            "vulnerability scan in staging: 2 critical",
        ),
        (
            GateName::Signature,
            |f| f.signature = Check::Failed("no signature".into()),
            "signature in staging: no signature",
        ),
        (
            GateName::NotRejected,
            |f| f.rejected = Some("rollback 1234abcd (web: rollback …)".into()),
            "rejected in prod by rollback 1234abcd (web: rollback …)",
        ),
        (
            GateName::SyncWindow,
            |f| f.window_closed = Some("no allow sync window is active".into()),
            "prod: no allow sync window is active",
        ),
    ];
    for (name, spoil, reason) in cases {
        let mut facts = open_facts();
        spoil(&mut facts);
        assert_eq!(closed(&facts), vec![name], "{reason}");
        let gate = gates(&facts).into_iter().find(|g| !g.open).expect("closed");
        assert_eq!(gate.reason, reason);
    }
}

#[test]
fn not_required_checks_are_open() {
    let mut facts = open_facts();
    facts.analysis = Check::NotRequired;
    facts.scan = Check::NotRequired;
    facts.soak_time = None;
    facts.soaked = Some(Duration::ZERO);
    assert!(closed(&facts).is_empty());
}

#[test]
fn decisions_per_mode() {
    let open = gates(&open_facts());
    let ask = Ask::default();
    assert_eq!(decide(PromotionMode::Auto, &open, ask), Decision::Commit);
    assert_eq!(
        decide(PromotionMode::Pr, &open, ask),
        Decision::PullRequest { waits: None }
    );
    assert_eq!(
        decide(PromotionMode::Manual, &open, ask),
        Decision::Possible
    );
    let explicit = Ask {
        explicit: true,
        force: false,
    };
    assert_eq!(
        decide(PromotionMode::Manual, &open, explicit),
        Decision::Commit
    );

    let mut facts = open_facts();
    facts.window_closed = Some("a deny sync window is active".into());
    let windowed = gates(&facts);
    assert_eq!(
        decide(PromotionMode::Pr, &windowed, ask),
        Decision::PullRequest {
            waits: Some("prod: a deny sync window is active".into())
        },
        "a pull request is opened anyway"
    );
    assert!(
        matches!(decide(PromotionMode::Auto, &windowed, ask), Decision::Blocked(g) if g.len() == 1)
    );

    facts.soaked = None;
    let soakless = gates(&facts);
    assert!(
        matches!(decide(PromotionMode::Pr, &soakless, ask), Decision::Blocked(g) if g[0].name == GateName::Soak)
    );
    let force = Ask {
        explicit: true,
        force: true,
    };
    assert_eq!(
        decide(PromotionMode::Auto, &soakless, force),
        Decision::Commit
    );
    assert_eq!(
        skipped(&soakless).as_deref(),
        Some("gates soak,sync-window")
    );
    assert_eq!(skipped(&open), None);
}

#[test]
fn durations_read_as_people_write_them() {
    assert_eq!(human(Duration::from_secs(45)), "45s");
    assert_eq!(human(Duration::from_mins(30)), "30m");
    assert_eq!(human(Duration::from_hours(2)), "2h");
    assert_eq!(human(Duration::from_mins(125)), "2h 5m");
}
