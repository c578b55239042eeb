//! The git layer against real repositories: a bare remote served by `git daemon` on 127.0.0.1,
//! gix mirrors, the git CLI for pushes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry::git::{
    CommitOutcome, CommitRequest, Credentials, GitError, Identity, Mirror, RepoCache, TreeFs,
};
use gantry::manifest::{self, DiskFs, Reorder};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::harness::git::{Daemon, Remote, Work, git};
use crate::validate::{copy_tree, quickstart_dir};

/// A remote holding the quickstart config repo, and the clone that pushed it.
pub fn quickstart_remote() -> (Remote, Work) {
    crate::harness::logs::capture();
    let remote = Remote::new();
    let work = remote.clone_work();
    copy_tree(&quickstart_dir(), &work.path);
    work.commit_all("quickstart");
    work.push();
    (remote, work)
}

/// A quickstart remote served over git:// and a fresh mirror of it; all live as long as this.
pub struct Served {
    pub remote: Remote,
    pub work: Work,
    pub mirror: Arc<Mirror>,
    _daemon: Daemon,
    _data: TempDir,
}

pub fn served() -> Served {
    let (remote, work) = quickstart_remote();
    let daemon = remote.serve();
    let data = TempDir::new().expect("data dir");
    let cache = RepoCache::new(data.path(), Duration::from_secs(20));
    let mirror = cache
        .mirror(&daemon.url(), Credentials::Anonymous)
        .expect("mirror");
    Served {
        remote,
        work,
        mirror,
        _daemon: daemon,
        _data: data,
    }
}

fn request(message: &str, trailers: &[(&str, &str)]) -> CommitRequest {
    CommitRequest {
        branch: "main".into(),
        message: message.into(),
        trailers: trailers
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        identity: Identity::default(),
    }
}

/// An edit that appends `line` to `log.txt`: each run derives its change from the tip it sees.
fn append(line: String) -> Arc<gantry::git::write::EditFn> {
    Arc::new(move |tree| {
        let mut text = tree.read(Path::new("log.txt")).unwrap_or_default();
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        tree.write("log.txt", text);
        Ok(())
    })
}

#[tokio::test]
async fn change_detection_fetches_only_when_a_watched_branch_moved() {
    let served = served();
    let (remote, mirror) = (&served.remote, &served.mirror);
    let work = &served.work;
    let cancel = CancellationToken::new();

    let first = mirror
        .changes(vec!["main".into()], &cancel)
        .await
        .expect("changes");
    let head = git(&remote.path, &["rev-parse", "main"]).trim().to_string();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].old, first[0].new.map(|o| o.to_string())),
        (None, Some(head.clone()))
    );
    assert_eq!(
        mirror.tip("main").expect("tip").map(|o| o.to_string()),
        Some(head.clone())
    );

    assert!(
        mirror
            .changes(vec!["main".into()], &cancel)
            .await
            .expect("changes")
            .is_empty()
    );
    // Another branch moving does not concern a watcher of main.
    git(
        &work.path,
        &["push", "--quiet", "origin", "HEAD:refs/heads/other"],
    );
    assert!(
        mirror
            .changes(vec!["main".into()], &cancel)
            .await
            .expect("changes")
            .is_empty()
    );

    work.write("apps/web/overlays/dev/extra.txt", "x\n");
    let next = work.commit_all("user change");
    work.push();
    let moved = mirror
        .changes(vec!["main".into()], &cancel)
        .await
        .expect("changes");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].old.map(|o| o.to_string()), Some(head));
    assert_eq!(moved[0].new.map(|o| o.to_string()), Some(next.clone()));
    assert_eq!(
        mirror.tip("main").expect("tip").map(|o| o.to_string()),
        Some(next)
    );
}

#[tokio::test]
async fn a_tree_at_a_commit_renders_like_the_checkout() {
    let (remote, work) = quickstart_remote();
    let old = git(&work.path, &["rev-parse", "HEAD"]).trim().to_string();
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        "resources:\n- ../../base\nnamePrefix: changed-\n",
    );
    work.commit_all("change dev overlay");
    work.push();

    let repo = gix::open(&remote.path).expect("open remote");
    let at_old = TreeFs::at(&repo, &old).expect("tree at old commit");
    let from_git = manifest::render(&at_old, Path::new("apps/web/overlays/dev"), Reorder::Legacy)
        .expect("render from git");
    let disk = DiskFs::new(&quickstart_dir()).expect("disk fs");
    let from_disk = manifest::render(&disk, Path::new("apps/web/overlays/dev"), Reorder::Legacy)
        .expect("render from disk");
    assert_eq!(manifest::to_yaml(&from_git), manifest::to_yaml(&from_disk));

    let at_main = TreeFs::at(&repo, "main").expect("tree at main");
    let rendered = manifest::to_yaml(
        &manifest::render(
            &at_main,
            Path::new("apps/web/overlays/dev"),
            Reorder::Legacy,
        )
        .expect("render main"),
    );
    assert!(rendered.contains("name: changed-"), "{rendered}");

    let err = TreeFs::at(&repo, "no-such-rev").expect_err("unknown revision");
    assert!(err.to_string().contains("no-such-rev"), "{err}");
}

#[tokio::test]
async fn a_commit_carries_the_edit_the_identity_and_the_trailers() {
    let served = served();
    let (remote, mirror) = (&served.remote, &served.mirror);
    let cancel = CancellationToken::new();
    let before = remote.log("main").len();

    let req = request(
        "deploy web to dev",
        &[
            ("Gantry-Action", "deploy"),
            ("Gantry-App", "web"),
            ("Gantry-Env", "dev"),
        ],
    );
    let outcome = mirror
        .commit(req.clone(), append("one".into()), &cancel)
        .await
        .expect("commit");
    let CommitOutcome::Committed { id, attempts } = outcome else {
        panic!("expected a commit, got {outcome:?}");
    };
    assert_eq!(attempts, 1);
    assert_eq!(
        git(&remote.path, &["rev-parse", "main"]).trim(),
        id.to_string()
    );
    assert_eq!(mirror.tip("main").expect("tip"), Some(id));
    assert_eq!(
        git(
            &remote.path,
            &["log", "-1", "--format=%an <%ae>|%cn|%B", "main"]
        ),
        "gantry <gantry@localhost>|gantry|deploy web to dev\n\nGantry-Action: deploy\nGantry-App: web\nGantry-Env: dev\n\n"
    );
    assert_eq!(
        git(
            &remote.path,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Gantry-App,valueonly)",
                "main"
            ]
        )
        .trim(),
        "web"
    );
    assert_eq!(git(&remote.path, &["show", "main:log.txt"]), "one\n");
    // The rest of the tree is untouched.
    assert_eq!(
        git(&remote.path, &["diff", "--name-only", "main~1", "main"]).trim(),
        "log.txt"
    );

    // An edit that changes nothing makes no commit.
    let same: Arc<gantry::git::write::EditFn> = Arc::new(|tree| {
        let text = tree.read(Path::new("log.txt")).unwrap_or_default();
        tree.write("log.txt", text);
        Ok(())
    });
    let outcome = mirror
        .commit(req, same, &cancel)
        .await
        .expect("no-op commit");
    assert_eq!(outcome, CommitOutcome::Unchanged { tip: id });
    assert_eq!(remote.log("main").len(), before + 1);
}

/// Acceptance: 5 writers, 50 commits to one branch, racing through separate mirrors (as five
/// daemons would) → exactly 50 new commits, none lost, history linear.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_5_fifty_racing_commits_all_land_in_a_linear_history() {
    let (remote, _work) = quickstart_remote();
    let daemon = remote.serve();
    let before = remote.log("main").len();
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut dirs = Vec::new();
    // What the mirrors report to a push observer (the daemon's metrics).
    let events: Arc<std::sync::Mutex<Vec<gantry::git::PushEvent>>> = Arc::default();
    for writer in 0..5 {
        let data = TempDir::new().expect("data dir");
        let cache = RepoCache::new(data.path(), Duration::from_secs(30));
        dirs.push(data);
        let mirror = cache
            .mirror(&daemon.url(), Credentials::Anonymous)
            .expect("mirror");
        let seen = Arc::clone(&events);
        assert!(
            mirror.observe_pushes(gantry::git::PushObserver(Arc::new(move |e| {
                seen.lock().expect("events").push(e.clone());
            })))
        );
        tasks.push(tokio::spawn(async move {
            let cancel = CancellationToken::new();
            let mut retries = 0;
            for n in 0..10 {
                let line = format!("writer {writer} commit {n}");
                let outcome = mirror
                    .commit(
                        request(&line, &[("Gantry-Run", &format!("w{writer}-{n}"))]),
                        append(line.clone()),
                        &cancel,
                    )
                    .await
                    .expect("commit lands");
                let CommitOutcome::Committed { attempts, .. } = outcome else {
                    panic!("appending always changes the tree");
                };
                retries += attempts - 1;
            }
            retries
        }));
    }
    let mut retries = 0;
    for t in tasks {
        retries += t.await.expect("writer task");
    }
    let log = remote.log("main");
    assert_eq!(log.len(), before + 50, "exactly 50 new commits");
    assert!(
        log.iter().all(|(_, parents)| *parents <= 1),
        "history is linear"
    );
    let text = git(&remote.path, &["show", "main:log.txt"]);
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 50, "every edit survived the retries");
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 50);
    println!(
        "50 racing commits from 5 mirrors: {} ms, {retries} non-fast-forward retries",
        started.elapsed().as_millis()
    );
    assert!(
        retries > 0,
        "the writers never raced; the test proves nothing"
    );
    let events = events.lock().expect("events");
    assert_eq!(events.len(), 50, "one event per commit");
    assert!(
        events
            .iter()
            .all(|e| e.result == "pushed" && e.seconds > 0.0)
    );
    assert_eq!(events.iter().map(|e| e.retries).sum::<u32>(), retries);
}

#[tokio::test]
async fn writers_sharing_one_mirror_are_serialised_without_retries() {
    let served = served();
    let (remote, mirror) = (&served.remote, &served.mirror);
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let mirror = Arc::clone(mirror);
        tasks.push(tokio::spawn(async move {
            let cancel = CancellationToken::new();
            for n in 0..3 {
                let line = format!("w{writer}-{n}");
                let outcome = mirror
                    .commit(request(&line, &[]), append(line.clone()), &cancel)
                    .await
                    .expect("commit");
                assert!(
                    matches!(outcome, CommitOutcome::Committed { attempts: 1, .. }),
                    "{outcome:?}"
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    assert_eq!(
        git(&remote.path, &["show", "main:log.txt"]).lines().count(),
        12
    );
}

#[tokio::test]
async fn a_push_refused_by_a_hook_reports_the_remote_and_leaves_nothing_behind() {
    let served = served();
    let (remote, mirror) = (&served.remote, &served.mirror);
    remote.reject_pushes("config repo is frozen until Monday");
    let cancel = CancellationToken::new();
    let before = git(&remote.path, &["rev-parse", "main"]);

    let started = Instant::now();
    let err = mirror
        .commit(request("deploy", &[]), append("x".into()), &cancel)
        .await
        .expect_err("the hook refuses");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not retried: {:?}",
        started.elapsed()
    );
    let GitError::PushRejected {
        reason,
        remote: said,
        ..
    } = &err
    else {
        panic!("expected PushRejected, got {err:?}");
    };
    assert_eq!(reason, "pre-receive hook declined");
    assert_eq!(
        said,
        &vec!["config repo is frozen until Monday".to_string()]
    );
    assert!(err.to_string().contains("frozen until Monday"), "{err}");
    assert_eq!(git(&remote.path, &["rev-parse", "main"]), before);
    // The mirror's branch still points at the remote's tip; no ref holds the refused commit.
    assert_eq!(
        mirror.tip("main").expect("tip").map(|o| o.to_string()),
        Some(before.trim().to_string())
    );
    let refs = git(
        mirror.path(),
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );
    assert_eq!(refs.trim(), format!("refs/heads/main {}", before.trim()));
}

#[tokio::test]
async fn a_silent_remote_times_out_and_cancellation_stops_a_fetch() {
    crate::harness::logs::capture();
    // Accepts connections and never answers, like a hung server; it lets go after 3 s so the
    // abandoned blocking reads end and the runtime can shut down.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(3);
        let mut held = Vec::new();
        while Instant::now() < until {
            if let Ok((stream, _)) = listener.accept() {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let data = TempDir::new().expect("data dir");
    let cache = RepoCache::new(data.path(), Duration::from_millis(500));
    let url = format!("git://127.0.0.1:{port}/hung.git");
    let mirror = cache.mirror(&url, Credentials::Anonymous).expect("mirror");
    let started = Instant::now();
    let err = mirror
        .fetch(&CancellationToken::new())
        .await
        .expect_err("times out");
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    let slow = RepoCache::new(data.path(), Duration::from_mins(1));
    let mirror = slow.mirror(&url, Credentials::Anonymous).expect("mirror");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let err = mirror.fetch(&cancel).await.expect_err("cancelled");
    assert!(matches!(err, GitError::Cancelled { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn render_rev_renders_a_past_commit_without_touching_the_checkout() {
    let (_remote, work) = quickstart_remote();
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        "resources:\n- ../../base\nnamePrefix: changed-\n",
    );
    work.commit_all("change dev overlay");
    std::fs::remove_dir_all(work.path.join("apps/web/overlays/dev")).expect("remove overlay");
    let dir = work.path.join("apps/web/overlays/dev");
    let dir = dir.to_str().expect("utf-8");

    let past = crate::cli::gantry(&["render", dir, "--rev", "HEAD~1"]);
    assert_eq!(
        past.status.code(),
        Some(0),
        "{}",
        crate::cli::text(&past.stderr)
    );
    let expected = crate::cli::gantry(&[
        "render",
        quickstart_dir()
            .join("apps/web/overlays/dev")
            .to_str()
            .expect("utf-8"),
    ]);
    assert_eq!(
        crate::cli::text(&past.stdout),
        crate::cli::text(&expected.stdout)
    );

    let now = crate::cli::gantry(&["render", dir, "--rev", "HEAD"]);
    assert!(crate::cli::text(&now.stdout).contains("name: changed-"));
    assert!(
        !work.path.join("apps/web/overlays/dev").exists(),
        "the checkout was not touched"
    );

    let bad = crate::cli::gantry(&["render", dir, "--rev", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        crate::cli::text(&bad.stderr).contains("cannot resolve revision nope"),
        "{}",
        crate::cli::text(&bad.stderr)
    );
}

#[tokio::test]
async fn the_poller_reports_a_push_and_stops_on_cancel() {
    use gantry::trigger::{Forge, TriggerEvent, poll};
    let served = served();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let cancel = CancellationToken::new();
    let watch = poll::Watch {
        mirror: Arc::clone(&served.mirror),
        branches: vec!["main".into()],
        interval: Duration::from_millis(100),
    };
    let task = tokio::spawn(poll::run(watch, tx, cancel.clone()));
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("first poll reports the branch")
        .expect("event");
    let head = git(&served.remote.path, &["rev-parse", "main"])
        .trim()
        .to_string();
    assert!(
        matches!(&first, TriggerEvent::RepoChanged { from: Forge::Poll, after, git_ref, .. } if *after == head && git_ref == "refs/heads/main"),
        "{first:?}"
    );

    served.work.write("apps/web/overlays/dev/extra.txt", "x\n");
    let next = served.work.commit_all("user change");
    served.work.push();
    let moved = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the push is noticed")
        .expect("event");
    assert!(
        matches!(&moved, TriggerEvent::RepoChanged { after, .. } if *after == next),
        "{moved:?}"
    );
    assert!(moved.is_about(served.mirror.url()));

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("poller stops on cancel")
        .expect("poller task");
}

/// A branch that moves before every push is given up on after 10 attempts once the contention
/// window has passed (zero here), not retried forever.
#[tokio::test]
async fn a_branch_that_always_moves_is_given_up_after_ten_attempts() {
    let served = served();
    let remote_path = served.remote.path.clone();
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = Arc::clone(&runs);
    let edit: Arc<gantry::git::write::EditFn> = Arc::new(move |tree| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Someone else commits between our fetch and our push, every time.
        let tree_id = git(&remote_path, &["rev-parse", "main^{tree}"]);
        let other = git(
            &remote_path,
            &[
                "commit-tree",
                tree_id.trim(),
                "-p",
                "main",
                "-m",
                "competing",
            ],
        );
        git(
            &remote_path,
            &["update-ref", "refs/heads/main", other.trim()],
        );
        tree.write("ours.txt", "ours\n");
        Ok(())
    });
    served.mirror.set_contention_window(Duration::ZERO);
    let err = served
        .mirror
        .commit(request("ours", &[]), edit, &CancellationToken::new())
        .await
        .expect_err("contended");
    assert!(
        matches!(err, GitError::Contended { attempts: 10, .. }),
        "{err:?}"
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 10);
    assert!(err.to_string().contains("after 10 attempts"), "{err}");
    let files = git(&served.remote.path, &["ls-tree", "--name-only", "main"]);
    assert!(!files.contains("ours.txt"));
}

/// A commit at a fixed time (`GIT_AUTHOR_DATE`/`GIT_COMMITTER_DATE`), for `landed`.
fn commit_at(dir: &Path, args: &[&str], seconds: i64) -> String {
    let date = format!("@{seconds} +0000");
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// Issue 19: a promotion merged by pull request soaks from the merge, not from the commit on
/// the branch: `landed` finds the merge that brought a commit onto the branch.
#[test]
fn regression_issue_19_a_commit_lands_when_its_merge_does() {
    let dir = TempDir::new().expect("dir");
    let path = dir.path();
    git(path, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(path.join("a"), "1").expect("write");
    git(path, &["add", "a"]);
    commit_at(path, &["commit", "--quiet", "-m", "base"], 1_000);
    git(
        path,
        &["checkout", "--quiet", "-b", "gantry/promote/web/prod"],
    );
    std::fs::write(path.join("b"), "1").expect("write");
    git(path, &["add", "b"]);
    let proposed = commit_at(path, &["commit", "--quiet", "-m", "web: promote"], 2_000);
    git(path, &["checkout", "--quiet", "main"]);
    std::fs::write(path.join("c"), "1").expect("write");
    git(path, &["add", "c"]);
    let direct = commit_at(path, &["commit", "--quiet", "-m", "direct"], 3_000);
    let stray = {
        git(path, &["checkout", "--quiet", "-b", "stray", "HEAD~1"]);
        std::fs::write(path.join("d"), "1").expect("write");
        git(path, &["add", "d"]);
        let id = commit_at(path, &["commit", "--quiet", "-m", "never merged"], 3_500);
        git(path, &["checkout", "--quiet", "main"]);
        id
    };
    let repo = gix::open(path).expect("open");
    assert_eq!(
        gantry::git::log::landed(&repo, "main", &proposed).expect("landed"),
        None,
        "not on main before the merge"
    );
    commit_at(
        path,
        &[
            "merge",
            "--no-ff",
            "--quiet",
            "-m",
            "Merge pull request #1",
            "gantry/promote/web/prod",
        ],
        5_000,
    );
    let repo = gix::open(path).expect("open");
    let landed = |c: &str| gantry::git::log::landed(&repo, "main", c).expect("landed");
    assert_eq!(landed(&proposed), Some(5_000), "landed with its merge");
    assert_eq!(
        landed(&direct),
        Some(3_000),
        "a direct commit lands as itself"
    );
    assert_eq!(landed(&stray), None, "not reachable from main");
}
