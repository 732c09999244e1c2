//! Issue 15 item 5: what keeps a login flood from starving everyone else.
//!
//! - A bounded login queue ([`LoginGate::admit`]): at most
//!   `auth.login_concurrent_checks` password (or secret) checks run at once
//!   and at most `auth.login_queue_length` more wait, each for at most
//!   `auth.login_queue_wait_ms`; any further request is answered 503
//!   `service_unavailable` with `Retry-After` at once, before it touches
//!   the database. Without it a flood queued without bound on the blocking
//!   pool and every other request waited behind it.
//! - A per-address limit ([`LoginGate::allow_address`]): a token bucket per
//!   client address (`auth.login_per_address_burst` attempts at once,
//!   refilled at `auth.login_per_address_per_minute`); beyond it 429
//!   `too_many_requests` with `Retry-After`, answered after a short delay
//!   (`auth.login_refusal_delay_ms`) so the flood slows down. The address is the one
//!   [`crate::http::request_context`] determined (the peer, or the
//!   forwarded client behind a trusted proxy).
//!
//! Both are per server process (in memory): behind a load balancer each
//! server admits its own share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::AuthSettings;
use crate::error::{ApiError, ErrorCode};

/// Addresses remembered before full buckets are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// The login queue and the per-address buckets of one server.
pub struct LoginGate {
    checks: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_length: usize,
    queue_wait: Duration,
    refusal_delay: Duration,
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A running password check's place; the next waiter gets it when dropped.
pub struct CheckSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl LoginGate {
    pub fn new(settings: &AuthSettings) -> Self {
        let concurrent = match settings.login_concurrent_checks {
            // Half the cores: hashing never takes the CPU from every
            // other request.
            0 => (std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                / 2)
            .clamp(1, 8),
            n => n,
        };
        Self {
            checks: std::sync::Arc::new(Semaphore::new(concurrent)),
            waiting: AtomicUsize::new(0),
            queue_length: settings.login_queue_length,
            queue_wait: Duration::from_millis(settings.login_queue_wait_ms),
            refusal_delay: Duration::from_millis(settings.login_refusal_delay_ms),
            burst: f64::from(settings.login_per_address_burst.max(1)),
            per_second: f64::from(settings.login_per_address_per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// A place to check a password: at once when one is free, after a
    /// bounded wait in a bounded queue, or 503 when the queue is full or
    /// the wait too long.
    pub async fn admit(&self) -> Result<CheckSlot, ApiError> {
        if let Ok(permit) = self.checks.clone().try_acquire_owned() {
            return Ok(CheckSlot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue_length {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let waited =
            tokio::time::timeout(self.queue_wait, self.checks.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(permit)) => Ok(CheckSlot(permit)),
            _ => Err(busy()),
        }
    }

    /// [`LoginGate::allow_address`], answering a refusal only after
    /// `auth.login_refusal_delay_ms`: a flood from one address that is
    /// answered at once just asks again, and its cheap refusals alone
    /// would keep the workers busy; slowed, it costs next to nothing.
    pub async fn limit_address(&self, address: Option<&str>) -> Result<(), ApiError> {
        let refusal = self.allow_address(address);
        if refusal.is_err() {
            // Jittered, so the refusals of a burst do not return (and come
            // back) as one wave.
            let jitter = rand::random::<f64>().mul_add(0.5, 0.5);
            tokio::time::sleep(self.refusal_delay.mul_f64(jitter)).await;
        }
        refusal
    }

    /// Takes one attempt from the bucket of `address`, or 429 with the
    /// seconds until the next one. A request without an address (not over
    /// TCP) is not limited here.
    pub fn allow_address(&self, address: Option<&str>) -> Result<(), ApiError> {
        let Some(address) = address else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(address) {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| refilled(*b, now, burst, rate) < burst);
        }
        let bucket = buckets.entry(address.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = refilled(*bucket, now, self.burst, self.per_second);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            return Ok(());
        }
        let wait = ((1.0 - tokens) / self.per_second).ceil().max(1.0) as u64;
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyRequests,
            "Too many login attempts from this address; try again later.",
        )
        .with_retry_after(wait))
    }
}

/// The tokens of `bucket` at `now`.
fn refilled(bucket: Bucket, now: Instant, burst: f64, per_second: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

fn busy() -> ApiError {
    ApiError::service_unavailable("Too many logins at once; try again shortly.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(burst: u32, per_minute: u32) -> AuthSettings {
        AuthSettings {
            issuer: "t".into(),
            access_token_ttl_seconds: 900,
            session_ttl_hours: 12,
            lockout_threshold: 5,
            lockout_window_minutes: 15,
            lockout_minutes: 15,
            login_concurrent_checks: 1,
            login_queue_length: 1,
            login_queue_wait_ms: 50,
            login_per_address_burst: burst,
            login_per_address_per_minute: per_minute,
            login_refusal_delay_ms: 0,
        }
    }

    #[test]
    fn an_address_gets_its_burst_and_then_429() {
        let gate = LoginGate::new(&settings(3, 60));
        for _ in 0..3 {
            assert!(gate.allow_address(Some("192.0.2.1")).is_ok());
        }
        let refused = gate.allow_address(Some("192.0.2.1")).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, ErrorCode::TooManyRequests);
        assert_eq!(refused.retry_after, Some(1));
        assert!(gate.allow_address(Some("192.0.2.2")).is_ok(), "per address");
    }

    #[actix_web::test]
    async fn a_full_queue_answers_503_at_once() {
        let gate = LoginGate::new(&settings(3, 60));
        let running = gate.admit().await.unwrap();
        let started = Instant::now();
        let (waiter, refused) = futures::join!(gate.admit(), async {
            tokio::task::yield_now().await;
            gate.admit().await
        });
        assert_eq!(
            refused.err().unwrap().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(waiter.is_err(), "the waiter gives up after its wait");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(running);
        assert!(gate.admit().await.is_ok());
    }
}
