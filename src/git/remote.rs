//! A mirror's side of the wire (stages ①④): the remote as gix sees it, connections (with
//! `TCP_NODELAY` and socket timeouts for `git://`), the ref advertisement, and remote errors
//! with credentials scrubbed and the URL redacted.
//!
//! Input: a [`Mirror`]'s URL, credentials and timeout. Output: connections for fetching, the
//! remote's branch tips, and [`GitError::Remote`]s that name the cause chain.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::remote::Direction;

use super::GitError;
use super::cache::Mirror;

type Connection<'a, 'r> = gix::remote::Connection<
    'a,
    'static,
    'r,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

impl Mirror {
    pub(super) fn remote_error(&self, e: &dyn std::fmt::Display) -> GitError {
        GitError::Remote {
            url: self.shown.clone(),
            message: self
                .credentials
                .scrub(&e.to_string())
                .replace(&self.raw, &self.shown),
        }
    }

    /// `remote_error` with the whole cause chain: gix's top message alone ("Transport handshake
    /// failed") hides the HTTP status that says what is wrong.
    pub(super) fn remote_error_chain(&self, e: &(dyn std::error::Error + 'static)) -> GitError {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            let next = c.to_string();
            if !text.contains(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
            cause = c.source();
        }
        self.remote_error(&text)
    }

    /// The remote's branches and tips (its ref advertisement); fetches nothing.
    pub fn remote_heads(&self) -> Result<BTreeMap<String, ObjectId>, GitError> {
        let repo = self.repo()?;
        let remote = self.remote(&repo)?;
        let connection = self.connect(&remote)?;
        let (map, _) = connection
            .ref_map(
                gix::progress::Discard,
                gix::remote::ref_map::Options::default(),
            )
            .map_err(|e| self.remote_error_chain(&e))?;
        Ok(map
            .remote_refs
            .iter()
            .filter_map(|r| {
                let (name, target, peeled) = r.unpack();
                let branch = name.to_string().strip_prefix("refs/heads/")?.to_string();
                Some((branch, peeled.or(target)?.to_owned()))
            })
            .collect())
    }

    /// Opens a connection for fetching. `git://` gets its own TCP stream: gix's sends each
    /// pkt-line in its own segment, so Nagle's algorithm meets the server's delayed ACK and
    /// every ref advertisement waits ~40 ms; `TCP_NODELAY` removes that, and socket timeouts
    /// stop a hung server from holding a thread forever.
    pub(super) fn connect<'a, 'r>(
        &self,
        remote: &'a gix::Remote<'r>,
    ) -> Result<Connection<'a, 'r>, GitError> {
        let url = remote
            .url(Direction::Fetch)
            .ok_or_else(|| GitError::Remote {
                url: self.shown.clone(),
                message: "no fetch URL".into(),
            })?;
        if url.scheme != gix::url::Scheme::Git {
            return remote
                .connect(Direction::Fetch)
                .map_err(|e| self.remote_error_chain(&e));
        }
        let host = url.host().unwrap_or("localhost").to_string();
        let port = url.port;
        let path = url.path.clone();
        let io = |e: std::io::Error| self.remote_error(&e);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port.unwrap_or(9418)))
            .map_err(io)?
            .next()
            .ok_or_else(|| self.remote_error(&format!("cannot resolve {host}")))?;
        let stream = std::net::TcpStream::connect_timeout(&addr, self.timeout).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let transport = gix::protocol::transport::client::git::blocking_io::Connection::new(
            stream.try_clone().map_err(io)?,
            stream,
            gix::protocol::transport::Protocol::V2,
            path,
            Some((host, port)),
            gix::protocol::transport::client::git::ConnectMode::Daemon,
            false,
        );
        let boxed: Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send> =
            Box::new(transport);
        Ok(remote.to_connection_with_transport(boxed))
    }

    pub(super) fn remote<'r>(
        &self,
        repo: &'r gix::Repository,
    ) -> Result<gix::Remote<'r>, GitError> {
        repo.remote_at(self.raw.as_str())
            .and_then(|r| r.with_refspecs(Some("+refs/heads/*:refs/heads/*"), Direction::Fetch))
            .map(|r| r.with_fetch_tags(gix::remote::fetch::Tags::None))
            .map_err(|e| self.remote_error_chain(&e))
    }
}
