//! Pushing one commit with the `git` CLI (gix cannot push yet: GitoxideLabs/gitoxide#306).
//!
//! Input: a mirror holding the commit, the commit id and the branch. Output: whether the remote
//! took it, refused it as non-fast-forward (the caller rebases and retries), or refused it for
//! another reason (hook, permissions) with the remote's own words. The push names the URL and
//! an explicit refspec, so no remote-tracking ref or config changes in the mirror.

use std::process::Stdio;
use std::time::Duration;

use gix::ObjectId;

use super::{GitError, Mirror};

/// How the remote answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    Accepted,
    /// Someone else moved the branch first: fetch, redo the edit, try again.
    NotFastForward,
}

pub(super) async fn push(
    mirror: &Mirror,
    commit: ObjectId,
    branch: &str,
    timeout: Duration,
) -> Result<Pushed, GitError> {
    push_refspec(
        mirror,
        &format!("{commit}:refs/heads/{branch}"),
        branch,
        timeout,
    )
    .await
}

/// Pushes one refspec: `+<commit>:refs/heads/<b>` replaces a branch gantry owns (a promotion
/// branch), `:refs/heads/<b>` deletes it.
pub(super) async fn push_refspec(
    mirror: &Mirror,
    refspec: &str,
    branch: &str,
    timeout: Duration,
) -> Result<Pushed, GitError> {
    let creds = mirror.credentials();
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C")
        .arg(mirror.path())
        .args(["push", "--porcelain", "--quiet"])
        .arg(mirror.raw_url())
        .arg(refspec)
        .envs(creds.git_env())
        // Never wait for a password prompt; the C locale keeps the output parseable.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let fail = |message: String| GitError::Push {
        url: mirror.url().to_string(),
        branch: branch.to_string(),
        message: creds
            .scrub(&message)
            .replace(mirror.raw_url(), mirror.url()),
    };
    let child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot run git: {e}")))?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("no answer within {} s", timeout.as_secs())))?
        .map_err(|e| fail(format!("git push did not finish: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = creds
        .scrub(&String::from_utf8_lossy(&output.stderr))
        .replace(mirror.raw_url(), mirror.url());
    match classify(&stdout, &stderr, output.status.success()) {
        Verdict::Accepted => Ok(Pushed::Accepted),
        Verdict::NotFastForward => Ok(Pushed::NotFastForward),
        Verdict::Rejected { reason, remote } => Err(GitError::PushRejected {
            url: mirror.url().to_string(),
            branch: branch.to_string(),
            reason,
            remote,
        }),
        Verdict::Failed => Err(fail(stderr.trim().to_string())),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    NotFastForward,
    Rejected { reason: String, remote: Vec<String> },
    Failed,
}

/// Reads `git push --porcelain`: one line per ref, `<flag>\t<from>:<to>\t<summary>`, where `!`
/// marks a rejection and the summary is `[rejected] (fetch first)`, `[rejected]
/// (non-fast-forward)` or `[remote rejected] (<reason>)`.
fn classify(stdout: &str, stderr: &str, success: bool) -> Verdict {
    let remote: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("remote: "))
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    for line in stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(flag), Some(_), Some(summary)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if flag != "!" {
            continue;
        }
        let reason = summary
            .split_once('(')
            .map_or(summary, |(_, r)| r.trim_end_matches(')'))
            .trim()
            .to_string();
        if summary.starts_with("[rejected]")
            && (reason.contains("fetch first") || reason.contains("non-fast-forward"))
        {
            return Verdict::NotFastForward;
        }
        // Two pushes inside the remote at once: the loser's ref update finds the branch moved
        // under it ("cannot lock ref …: is at X but expected Y"), or finds the other push
        // still holding the ref's lock ("cannot lock ref …: Unable to create '….lock': File
        // exists"). Same remedy as above: fetch, redo the edit, push again.
        if reason == "failed to update ref" && remote.iter().any(|l| l.contains("cannot lock ref"))
        {
            return Verdict::NotFastForward;
        }
        return Verdict::Rejected { reason, remote };
    }
    if success {
        Verdict::Accepted
    } else {
        Verdict::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_output_is_classified() {
        let ok = "To git://h/r\n \tabc:refs/heads/main\tdef..abc\nDone\n";
        assert_eq!(classify(ok, "", true), Verdict::Accepted);
        let behind = "To git://h/r\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        assert_eq!(classify(behind, "", false), Verdict::NotFastForward);
        let diverged = "!\tabc:refs/heads/main\t[rejected] (non-fast-forward)\n";
        assert_eq!(classify(diverged, "", false), Verdict::NotFastForward);
        let hook = "!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\n";
        assert_eq!(
            classify(
                hook,
                "remote: frozen until Monday        \nerror: failed\n",
                false
            ),
            Verdict::Rejected {
                reason: "pre-receive hook declined".into(),
                remote: vec!["frozen until Monday".into()],
            }
        );
        let lost_race = "!\tabc:refs/heads/main\t[remote rejected] (failed to update ref)\n";
        let said =
            "remote: error: cannot lock ref 'refs/heads/main': is at 7f0c but expected 6065\n";
        assert_eq!(classify(lost_race, said, false), Verdict::NotFastForward);
        let locked = "remote: error: cannot lock ref 'refs/heads/main': Unable to create '/r.git/./refs/heads/main.lock': File exists.\n";
        assert_eq!(classify(lost_race, locked, false), Verdict::NotFastForward);
        let denied = "remote: error: refusing to update ref with bad name\n";
        assert!(matches!(
            classify(lost_race, denied, false),
            Verdict::Rejected { .. }
        ));
        assert_eq!(classify("", "fatal: unreachable", false), Verdict::Failed);
    }
}
