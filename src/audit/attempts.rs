//! Unauthenticated attempts on personal data, counted and audited in
//! aggregate.
//!
//! A request to a protected endpoint without a token, with one that does
//! not verify (malformed, forged, expired) or whose session has ended gets
//! a 401 before anything is read. The attempt is still worth a trace (who
//! is probing which endpoint), but one audit event per request would let
//! a flood of 401s, which cost the server one HMAC each, grow the append-only
//! trail without bound. So attempts are counted in memory per client
//! address and endpoint, and every `audit_attempts.flush_seconds` each
//! address and endpoint seen becomes one event `unauthenticated_access`
//! ("N attempts on GET /v1/families/{id} from 192.0.2.1 between t1 and t2",
//! with the count per reason). At most `audit_attempts.max_keys` distinct
//! keys are kept per interval; attempts beyond that are counted into one
//! overflow event. Memory and the trail therefore grow by at most
//! `max_keys + 1` events per interval, whatever the flood.
//!
//! Nothing of the token is kept: not its value, not its claims.
//!
//! Limits: the counts of the interval under way live in this process only;
//! a crash or stop loses at most one interval's worth. Each server process
//! counts its own attempts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;

use super::failures::Endpoint;
use super::AuditEvent;
use crate::auth::principal::Bearer;
use crate::config::AuditAttemptSettings;
use crate::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::state::AppState;

/// Action of the aggregated event.
pub const UNAUTHENTICATED_ACCESS: &str = "unauthenticated_access";

/// Longest client address kept (an IPv6 address with zone is shorter).
const MAX_ADDRESS: usize = 64;

/// Why an attempt was not authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Reason {
    /// No `Authorization: Bearer` header.
    NoToken,
    /// A token that does not verify: malformed, forged or expired.
    InvalidToken,
    /// A valid token whose session (or client) has ended.
    SessionEnded,
}

/// The attempts of one address on one endpoint in the interval under way.
#[derive(Debug, Clone, Copy)]
struct Tally {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    /// By [`Reason`], in its order.
    by_reason: [u64; 3],
}

impl Tally {
    fn new(at: DateTime<Utc>) -> Self {
        Self {
            first: at,
            last: at,
            by_reason: [0; 3],
        }
    }

    fn add(&mut self, reason: Reason, at: DateTime<Utc>) {
        self.last = at;
        self.by_reason[reason as usize] += 1;
    }

    fn total(&self) -> u64 {
        self.by_reason.iter().sum()
    }
}

/// (client address, `METHOD /route`).
type Key = (Option<String>, String);

#[derive(Debug, Default)]
struct Window {
    tallies: HashMap<Key, Tally>,
    /// Attempts of keys beyond the cap.
    overflow: Option<Tally>,
}

/// The counters of unauthenticated attempts, shared by the HTTP workers.
#[derive(Debug)]
pub struct UnauthenticatedAttempts {
    window: Mutex<Window>,
    max_keys: usize,
    flush_every: Duration,
}

impl UnauthenticatedAttempts {
    pub fn new(settings: &AuditAttemptSettings) -> Self {
        Self {
            window: Mutex::default(),
            max_keys: settings.max_keys,
            flush_every: Duration::from_secs(settings.flush_seconds.max(1)),
        }
    }

    /// Counts an attempt of `request` on `endpoint`.
    pub fn note(&self, request: &RequestContext, endpoint: &Endpoint, reason: Reason) {
        let now = Utc::now();
        let address = request
            .ip
            .as_deref()
            .map(|ip| ip.chars().take(MAX_ADDRESS).collect());
        let key = (address, endpoint.name());
        // A poisoned lock (a panic elsewhere while counting) still holds
        // sane counts: keep counting.
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let room = window.tallies.len() < self.max_keys;
        let tally = match window.tallies.get_mut(&key) {
            Some(tally) => tally,
            None if room => window.tallies.entry(key).or_insert(Tally::new(now)),
            None => window.overflow.get_or_insert(Tally::new(now)),
        };
        tally.add(reason, now);
    }

    /// Counts `error` if it is the 401 of a token whose session or client
    /// has ended (the database said so, in the request's transaction).
    pub fn session_ended(&self, bearer: &Bearer, error: &ApiError) {
        if error.status == StatusCode::UNAUTHORIZED {
            self.note(&bearer.request, &bearer.endpoint, Reason::SessionEnded);
        }
    }

    /// The interval's counts, leaving an empty window for the next one.
    fn take(&self) -> Window {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *window)
    }
}

/// The events of one interval's counts: one per key, one for the overflow.
fn events(window: Window, max_keys: usize) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = window
        .tallies
        .into_iter()
        .map(|((address, endpoint), tally)| {
            let mut event = unauthenticated(&tally, json!({}));
            event.resource_id = Some(endpoint);
            event.ip = address;
            event
        })
        .collect();
    if let Some(tally) = window.overflow {
        events.push(unauthenticated(
            &tally,
            json!({"overflow": true, "maxKeys": max_keys}),
        ));
    }
    events
}

/// The event of `tally`, with `extra` in the detail.
fn unauthenticated(tally: &Tally, extra: serde_json::Value) -> AuditEvent {
    let [no_token, invalid_token, session_ended] = tally.by_reason;
    let mut detail = json!({
        "count": tally.total(),
        "from": tally.first,
        "to": tally.last,
        "noToken": no_token,
        "invalidToken": invalid_token,
        "sessionEnded": session_ended,
    });
    if let (Some(detail), serde_json::Value::Object(extra)) = (detail.as_object_mut(), extra) {
        detail.extend(extra);
    }
    let mut event = AuditEvent::new(
        "anonymous",
        "authentication",
        UNAUTHENTICATED_ACCESS,
        "endpoint",
    )
    .detail(detail);
    event.outcome = "denied";
    event
}

/// Writes the interval's events in one transaction. Returns how many.
pub async fn flush(state: &AppState) -> anyhow::Result<usize> {
    let window = state.attempts.take();
    if window.tallies.is_empty() && window.overflow.is_none() {
        return Ok(0);
    }
    let events = events(window, state.attempts.max_keys);
    let n = events.len();
    let mut conn = state.pool.get().await.context("no database connection")?;
    write(&mut conn, events)
        .await
        .context("recording unauthenticated attempts")?;
    Ok(n)
}

async fn write(conn: &mut AsyncPgConnection, events: Vec<AuditEvent>) -> diesel::QueryResult<()> {
    conn.transaction(async |conn| {
        for event in events {
            event.record(conn).await?;
        }
        Ok(())
    })
    .await
}

/// Flushes the counts every interval for as long as the server runs.
pub fn spawn(state: Arc<AppState>) {
    let every = state.attempts.flush_every;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; there is nothing to flush yet.
        tick.tick().await;
        loop {
            tick.tick().await;
            match flush(&state).await {
                Ok(_) => {}
                // The counts of this interval are lost; the next one counts afresh.
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "unauthenticated attempts could not be audited"
                ),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ip: &str) -> RequestContext {
        RequestContext {
            request_id: "r".into(),
            client_request_id: None,
            path: "/v1/families/x".into(),
            ip: Some(ip.into()),
        }
    }

    fn endpoint(route: &str) -> Endpoint {
        Endpoint {
            method: actix_web::http::Method::GET,
            route: route.into(),
        }
    }

    #[test]
    fn a_flood_is_one_tally_per_key_and_one_overflow_beyond_the_cap() {
        let attempts = UnauthenticatedAttempts::new(&AuditAttemptSettings {
            flush_seconds: 60,
            max_keys: 2,
        });
        for i in 0..1000 {
            let ip = format!("192.0.2.{}", i % 10);
            attempts.note(&ctx(&ip), &endpoint("/v1/families/{id}"), Reason::NoToken);
        }
        let window = attempts.take();
        assert_eq!(window.tallies.len(), 2, "capped");
        let kept: u64 = window.tallies.values().map(Tally::total).sum();
        assert_eq!(kept, 200);
        assert_eq!(window.overflow.map(|t| t.total()), Some(800));
        assert_eq!(events(window, 2).len(), 3);
        assert!(
            attempts.take().tallies.is_empty(),
            "the next interval starts empty"
        );
    }
}
