//! Issue 14: sync windows are enforced (Argo CD's rules) and the prune guard holds a prune
//! instead of failing the sync, with `gantry sync --allow-large-prune` to approve it. Real git
//! remote, request-level API server, the real `gantry sync` binary.

use serde_json::Value;

use crate::daemon::{GANTRY_YAML, deployed, dev, overlay, start, until};
use crate::harness::git::Remote;

async fn gantry_sync(addr: std::net::SocketAddr, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .arg("sync")
        .args(args)
        .args(["--server", &format!("http://{addr}"), "--wait", "20s"]);
    tokio::task::spawn_blocking(move || command.output().expect("gantry sync"))
        .await
        .expect("join")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A deny window active all the time (every minute, for an hour).
fn windowed(manual_sync: bool) -> String {
    GANTRY_YAML.replace(
        "    namespace: shop-dev\n",
        &format!(
            "    namespace: shop-dev\n    syncWindows:\n      - kind: deny\n        schedule: \"* * * * *\"\n        duration: 1h\n        manualSync: {manual_sync}\n"
        ),
    )
}

/// A commit to an environment inside a deny window is not applied; the status says it waits
/// and until when. A manual sync passes only where the window says `manualSync: true`. (The
/// old daemon validated windows and then synced regardless.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_sync_windows_hold_automatic_syncs() {
    for manual_sync in [false, true] {
        let remote = Remote::new();
        let work = remote.clone_work();
        work.write("gantry.yaml", &windowed(manual_sync)).write(
            "apps/web/overlays/dev/a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  value: \"1\"\n",
        );
        overlay(&work, &["a"]);
        let first = work.commit_all("web: first deploy, in a deny window");
        work.push();
        let cluster = crate::fake_cluster::Cluster::default();
        let data = tempfile::tempdir().expect("data dir");
        let d = start(&remote.url(), data.path(), cluster.client()).await;
        let status = until(d.addr, "held", |s| dev(s)["phase"] == "waiting").await;
        let row = dev(&status);
        assert_eq!(row["desired"], first.as_str());
        assert_eq!(row["revision"], Value::Null, "nothing applied");
        let note = row["note"].as_str().expect("note");
        assert!(
            note.starts_with(
                "waiting for its sync window (a deny sync window is active; opens in "
            ),
            "{note}"
        );
        assert!(
            cluster.store.lock().expect("store").is_empty(),
            "nothing applied"
        );

        let out = gantry_sync(d.addr, &["web", "--env", "dev"]).await;
        if manual_sync {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            assert!(text(&out).contains("web/dev: synced at"), "{}", text(&out));
            assert_eq!(cluster.store.lock().expect("store").len(), 1);
        } else {
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            assert!(
                text(&out).contains("waiting for its sync window"),
                "{}",
                text(&out)
            );
            assert!(cluster.store.lock().expect("store").is_empty());
        }
        d.shutdown.cancel();
        d.task.await.expect("daemon stopped");
    }
}

/// Dropping 3 of 4 objects is more than the guard's 50 %: everything else still applies, the
/// prune is held and reported with how to approve it, and `gantry sync --allow-large-prune`
/// approves it. (The old daemon failed the whole sync and told the user to use an override
/// only `gantry apply` had.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_a_large_prune_is_held_and_approved_with_gantry_sync() {
    let (remote, work, first) = deployed(&["a", "b", "c", "d"]);
    let cluster = crate::fake_cluster::Cluster::default();
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&remote.url(), data.path(), cluster.client()).await;
    until(d.addr, "first sync", |s| {
        dev(s)["revision"] == first.as_str()
    })
    .await;

    work.write(
        "apps/web/overlays/dev/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  value: \"2\"\n",
    );
    overlay(&work, &["a"]);
    let dropped = work.commit_all("web: keep only a (a=2)");
    work.push();
    let status = until(d.addr, "synced", |s| dev(s)["revision"] == dropped.as_str()).await;
    let row = dev(&status);
    assert_eq!(row["phase"], "synced");
    assert_eq!(row["error"], Value::Null);
    let note = row["note"].as_str().expect("note");
    assert!(
        note.starts_with("prune held: 3 of 4 objects (75%) are no longer rendered")
            && note.contains("gantry sync web --env dev --allow-large-prune"),
        "{note}"
    );
    let live = |name: &str| {
        cluster
            .store
            .lock()
            .expect("store")
            .get(&("shop-dev".to_owned(), name.to_owned()))
            .filter(|o| o["metadata"]["deletionTimestamp"].is_null())
            .cloned()
    };
    assert_eq!(
        live("a").expect("a")["data"]["value"],
        "2",
        "the rest applied"
    );
    assert!(live("b").is_some() && live("d").is_some(), "nothing pruned");

    let out = gantry_sync(d.addr, &["web", "--env", "dev", "--allow-large-prune"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(live("b").is_none() && live("c").is_none() && live("d").is_none());
    assert!(live("a").is_some());
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}
