//! Limits that keep slow or greedy clients from holding the server's
//! connections (issue 15 item 2). actix bounds the time to the first
//! request's headers (`client_request_timeout`) and the connections per
//! worker (`max_connections`), which `startup` sets from
//! `[server.limits]`; this module adds what actix lacks:
//!
//! - a deadline for the request body ([`body_deadline`]): a body that is
//!   not complete within `body_timeout_ms` of the request's start ends in
//!   408 `request_timeout`, and the connection is closed;
//! - the connection is also closed after any response whose request body
//!   was not read to its end (a handler that ignores the body): the
//!   unread rest is never drained, however slowly it comes;
//! - at most `max_connections_per_peer` open connections per TCP peer
//!   address ([`PeerLimit`]); a connection over it is shut at once, before
//!   a byte of it is read.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::rt::time::{sleep, Sleep};
use actix_web::HttpMessage;
use bytes::Bytes;
use futures_util::Stream;

use crate::error::{ApiError, ErrorCode};

/// How far a request's body got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Reading,
    Complete,
    TimedOut,
}

/// The request's payload, shared between the stream handed to the handler
/// and the response: kept alive until the response is written, an unread
/// payload makes actix close the connection after the response instead of
/// draining the rest for as long as the client cares to send it.
type SharedPayload = Rc<RefCell<Payload>>;

/// The body as the handler reads it: the real payload until the deadline,
/// then an error (and nothing more).
struct DeadlinePayload {
    inner: SharedPayload,
    deadline: Pin<Box<Sleep>>,
    state: Rc<Cell<BodyState>>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.state.get() {
            BodyState::Complete | BodyState::TimedOut => return Poll::Ready(None),
            BodyState::Reading => {}
        }
        // The deadline first: a client trickling a byte at a time always
        // has a chunk ready, and must still run out of time.
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.state.set(BodyState::TimedOut);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        let next = match this.inner.try_borrow_mut() {
            Ok(mut payload) => Pin::new(&mut *payload).poll_next(cx),
            // Only this stream reads the payload; the response merely holds it.
            Err(_) => Poll::Ready(None),
        };
        if let Poll::Ready(None) = next {
            this.state.set(BodyState::Complete);
        }
        next
    }
}

/// Whether the request announces a body (a length above 0, or chunks).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    chunked || length.is_some_and(|n| n > 0)
}

/// Middleware: the request body must be complete within `limit` of the
/// request's start (408 `request_timeout` and the connection closed
/// otherwise); a body left unread closes the connection after the response.
pub async fn body_deadline<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
    limit: Duration,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if !has_body(&req) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let shared: SharedPayload = Rc::new(RefCell::new(req.take_payload()));
    let state = Rc::new(Cell::new(BodyState::Reading));
    let stream = DeadlinePayload {
        inner: shared.clone(),
        deadline: Box::pin(sleep(limit)),
        state: state.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(stream) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    // An error here is still a response (actix turns it into one); convert
    // it so the timeout can replace it and the payload can ride along.
    let res = match next.call(req).await {
        Ok(res) => res.map_into_left_body(),
        Err(err) => return Err(err),
    };
    let res = if state.get() == BodyState::TimedOut {
        let (req, _) = res.into_parts();
        let timeout = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!(
                "The request body did not arrive within {} ms.",
                limit.as_millis()
            ),
        );
        ServiceResponse::new(req, actix_web::ResponseError::error_response(&timeout))
            .map_into_right_body()
    } else {
        res
    };
    let mut res = res;
    if state.get() != BodyState::Complete {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        res.response_mut().extensions_mut().insert(shared);
    }
    Ok(res)
}

/// Open connections per TCP peer address, shared by every worker.
#[derive(Clone, Default)]
pub struct PeerLimit {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a peer; dropped with the connection (actix keeps
/// it in the connection's data), which frees the peer's slot.
struct PeerSlot {
    peer: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(n) = open.get_mut(&self.peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.peer);
                }
            }
        }
    }
}

impl PeerLimit {
    /// At most `max` connections per peer; 0 for no limit.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for `peer`, or `None` when it has `max` open already.
    fn acquire(&self, peer: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(peer).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peer,
            open: self.open.clone(),
        })
    }

    /// `HttpServer::on_connect`: counts the new connection against its
    /// peer, or shuts it at once when the peer is over its limit (the
    /// client reads the end of the stream; no request of it is parsed).
    pub fn on_connect(&self, conn: &dyn std::any::Any, data: &mut Extensions) {
        if self.max == 0 {
            return;
        }
        let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = tcp.peer_addr() else {
            return;
        };
        match self.acquire(peer.ip().to_canonical()) {
            Some(slot) => {
                data.insert(slot);
            }
            None => shut(tcp),
        }
    }
}

/// Shuts both directions of the connection: the dispatcher reads its end
/// at once and drops it, the client sees the connection closed. Through a
/// duplicate of the descriptor, as actix owns the stream (shutting a
/// socket acts on the socket, whichever descriptor names it).
fn shut(tcp: &actix_web::rt::net::TcpStream) {
    use std::os::fd::AsFd;
    let Ok(fd) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let _ = std::net::TcpStream::from(fd).shutdown(std::net::Shutdown::Both);
}

/// Connections each worker accepts at most (actix's limit is per worker).
pub fn per_worker(max_connections: usize, workers: usize) -> usize {
    max_connections.div_ceil(workers.max(1)).max(1)
}

/// Logs a warning when the process may open fewer files than the server
/// may accept connections: past that, accepting fails with "Too many open
/// files" and the pool cannot reconnect either.
pub fn warn_if_fd_limit_low(max_connections: usize, pool_size: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    let needed = max_connections + 2 * pool_size + 64;
    if let Some(soft) = soft.filter(|&soft| soft < needed) {
        tracing::warn!(
            open_files = soft,
            needed,
            "the open-file limit is below server.limits.max_connections plus the pools; \
             raise it (LimitNOFILE, ulimit -n) or lower max_connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_slots_back_when_connections_close() {
        let limit = PeerLimit::new(2);
        let peer: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        let a = limit.acquire(peer);
        let b = limit.acquire(peer);
        assert!(a.is_some() && b.is_some());
        assert!(limit.acquire(peer).is_none(), "a third is refused");
        assert!(limit.acquire(other).is_some(), "another peer is not");
        drop(a);
        assert!(limit.acquire(peer).is_some(), "a closed one frees a slot");
    }

    #[test]
    fn per_worker_limits_add_up_to_at_least_the_total() {
        assert_eq!(per_worker(4096, 3), 1366);
        assert_eq!(per_worker(10, 0), 10);
    }
}
