//! The daemon's HTTP server (wiring): accepts connections and serves the router with limits.
//!
//! Input: a bound listener, the router, the shutdown token. Output: requests served until
//! shutdown, then a drain bounded in time. A client cannot hold a connection or the shutdown
//! open: headers must arrive within [`HEADER_TIMEOUT`], body frames within [`BODY_TIMEOUT`]
//! of each other, a request is answered within [`REQUEST_TIMEOUT`], at most
//! [`MAX_CONNECTIONS`] are open, and a shutdown waits at most [`DRAIN`] for requests in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// A client has this long to send the request line and headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause between two parts of a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a request may take from headers to the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once; further clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a shutdown lets requests in flight finish before closing their connections.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown`, then drains for at most [`DRAIN`].
pub async fn run(app: axum::Router, listener: TcpListener, shutdown: CancellationToken) {
    let app = app.layer((
        tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_TIMEOUT),
        tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ),
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // A JoinSet, not a tracker: connections still open after the drain are aborted, since each
    // holds the router's state (and so the state store, which a restarted daemon must open).
    let mut connections = tokio::task::JoinSet::new();
    let drain = CancellationToken::new();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the connection semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        while connections.try_join_next().is_some() {}
        let app = app.clone();
        let drain = drain.clone();
        connections.spawn(async move {
            let _slot = slot;
            connection(app, stream, peer, drain).await;
        });
    }
    drop(listener);
    drain.cancel();
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN + Duration::from_secs(1), drained)
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the drain; closing them");
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

async fn connection(
    app: axum::Router,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    drain: CancellationToken,
) {
    // The manual-sync endpoint accepts loopback callers only: it needs the peer address.
    let service = hyper::service::service_fn(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        },
    );
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "HTTP connection ended");
            }
        }
        () = drain.cancelled() => {
            conn.as_mut().graceful_shutdown();
            if tokio::time::timeout(DRAIN, conn).await.is_err() {
                tracing::debug!(%peer, "HTTP connection closed by the drain");
            }
        }
    }
}
