//! Real git repositories for tests: a bare "remote" and working clones, driven by the git CLI.
//! Global and system git config are ignored so a developer's settings cannot change results.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs git in `dir` with a clean, deterministic environment and returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .output()
        .expect("run git (install the Debian package `git`)");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git prints UTF-8 here")
}

/// A bare repository standing in for a forge-hosted remote.
pub struct Remote {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Remote {
    pub fn new() -> Self {
        let dir = TempDir::new().expect("temp dir for bare remote");
        let path = dir.path().join("remote.git");
        std::fs::create_dir(&path).expect("create bare repo dir");
        git(
            &path,
            &["init", "--bare", "--quiet", "--initial-branch=main"],
        );
        Self { _dir: dir, path }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// A fresh working clone of the remote.
    pub fn clone_work(&self) -> Work {
        let dir = TempDir::new().expect("temp dir for clone");
        let path = dir.path().join("work");
        git(dir.path(), &["clone", "--quiet", &self.url(), "work"]);
        git(&path, &["checkout", "--quiet", "-B", "main"]);
        Work { _dir: dir, path }
    }
}

/// `git daemon` serving one bare remote over git:// on 127.0.0.1, pushes enabled; killed on
/// drop. The network path gantry uses against forges, minus TLS.
pub struct Daemon {
    child: std::process::Child,
    pub port: u16,
}

impl Daemon {
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/remote.git", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Remote {
    /// Serves this remote with `git daemon --enable=receive-pack`.
    pub fn serve(&self) -> Daemon {
        // `git daemon` would run git-daemon as a child that outlives a kill of `git`: start
        // the real binary so drop stops it.
        let exec_path = git(Path::new("/"), &["--exec-path"]);
        let binary = Path::new(exec_path.trim()).join("git-daemon");
        super::require_binary(&binary.display().to_string(), "git");
        let base = self.path.parent().expect("remote has a parent dir");
        for _ in 0..5 {
            let port = super::free_port();
            let mut child = Command::new(&binary)
                .args([
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    "--listen=127.0.0.1",
                    "--informative-errors",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start git daemon");
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_secs(5) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Daemon { child, port };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break; // lost the port race; try another
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start on 127.0.0.1");
    }

    /// Installs a pre-receive hook that prints `message` and refuses every push.
    pub fn reject_pushes(&self, message: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let hook = self.path.join("hooks/pre-receive");
        std::fs::write(&hook, format!("#!/bin/sh\necho '{message}'\nexit 1\n"))
            .expect("write hook");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .expect("chmod hook");
    }

    /// Commit ids of `branch`, newest first, with their parent counts.
    pub fn log(&self, branch: &str) -> Vec<(String, usize)> {
        git(&self.path, &["log", "--format=%H %P", branch])
            .lines()
            .map(|l| {
                let mut f = l.split(' ');
                let sha = f.next().unwrap_or_default().to_string();
                (sha, f.filter(|p| !p.is_empty()).count())
            })
            .collect()
    }
}

/// One commit as `git log` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub sha: String,
    pub subject: String,
    pub body: String,
}

/// A working clone where tests write files, commit and push like a user would.
pub struct Work {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Work {
    pub fn write(&self, rel: &str, contents: &str) -> &Self {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("file has a parent")).expect("create dirs");
        std::fs::write(p, contents).expect("write file");
        self
    }

    /// Commits everything in the work tree; returns the new commit id.
    pub fn commit_all(&self, message: &str) -> String {
        git(&self.path, &["add", "--all"]);
        git(
            &self.path,
            &["commit", "--quiet", "--no-gpg-sign", "-m", message],
        );
        git(&self.path, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    pub fn push(&self) {
        git(&self.path, &["push", "--quiet", "origin", "HEAD:main"]);
    }

    /// Newest first.
    pub fn log(&self) -> Vec<LogEntry> {
        let raw = git(&self.path, &["log", "--format=%H%x1f%s%x1f%b%x1e"]);
        raw.split('\x1e')
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                let mut f = r.trim_start_matches('\n').splitn(3, '\x1f');
                LogEntry {
                    sha: f.next().unwrap_or_default().to_owned(),
                    subject: f.next().unwrap_or_default().to_owned(),
                    body: f.next().unwrap_or_default().trim().to_owned(),
                }
            })
            .collect()
    }
}

#[test]
fn commit_push_and_read_log_through_a_real_remote() {
    let remote = Remote::new();
    let a = remote.clone_work();
    a.write("apps/web/base/kustomization.yaml", "resources: []\n");
    let first = a.commit_all("add web base");
    a.write("gantry.yaml", "apiVersion: gantry.dev/v1alpha1\n");
    let second = a.commit_all("add config\n\nGantry-Action: deploy");
    a.push();

    let b = remote.clone_work();
    let log = b.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].sha, second);
    assert_eq!(log[0].subject, "add config");
    assert_eq!(log[0].body, "Gantry-Action: deploy");
    assert_eq!(log[1].sha, first);
    assert_eq!(
        std::fs::read_to_string(b.path.join("apps/web/base/kustomization.yaml"))
            .expect("cloned file"),
        "resources: []\n"
    );
}
