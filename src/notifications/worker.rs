//! The delivery worker: claims due notifications with a lease, sends them,
//! records each attempt, and schedules retries with exponential backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Bytea, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::address::{self, AddressPolicy, CheckedResolver};
use super::signing;
use crate::config::NotificationSettings;
use crate::db::schema::{notification_attempts, notifications};
use crate::state::AppState;

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    callback_url: Option<String>,
    #[diesel(sql_type = Bytea)]
    callback_secret: Vec<u8>,
    #[diesel(sql_type = Bool)]
    active: bool,
}

/// Claims up to `batch` due notifications for `lease` seconds, counting the
/// attempt now (a worker killed mid-delivery has still made an attempt).
async fn claim(
    conn: &mut AsyncPgConnection,
    s: &NotificationSettings,
) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "WITH due AS (
             SELECT id FROM notifications
             WHERE status = 'pending' AND next_attempt_at <= now()
               AND (lease_until IS NULL OR lease_until <= now())
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         UPDATE notifications n
            SET lease_until = now() + make_interval(secs => $2), attempts = n.attempts + 1
           FROM due, clients c
          WHERE n.id = due.id AND c.id = n.client_id
         RETURNING n.id, n.body, n.attempts, c.callback_url, c.callback_secret, c.active",
    )
    .bind::<Int8, _>(s.batch_size)
    .bind::<Int8, _>(s.lease_seconds as i64)
    .load(conn)
    .await
}

/// Wait before the next attempt after `attempts` failed ones: the base,
/// doubled per further failure, capped, plus up to 10% jitter so receivers
/// that come back are not hit by every sender in the same second.
pub fn backoff(attempts: i32, s: &NotificationSettings) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let base = s.backoff_base_ms.saturating_mul(1u64 << exponent);
    let capped = base.min(s.backoff_max_seconds.saturating_mul(1000));
    let jitter = if capped >= 10 {
        rand::random::<u64>() % (capped / 10)
    } else {
        0
    };
    Duration::from_millis(capped + jitter)
}

/// What one attempt came to.
struct Outcome {
    attempted_at: DateTime<Utc>,
    duration_ms: i32,
    status_code: Option<i16>,
    /// Why it failed, as stored with the attempt and shown to admins.
    error: Option<String>,
    /// The same with its whole cause chain, for the log.
    cause: Option<String>,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// A failed attempt: the receiver's status if it answered, what is stored,
/// and the cause chain that is logged.
struct Failure {
    status: Option<i16>,
    error: String,
    cause: String,
}

impl Failure {
    fn plain(error: &str) -> Self {
        Self {
            status: None,
            error: error.to_owned(),
            cause: error.to_owned(),
        }
    }

    fn of(e: &anyhow::Error) -> Self {
        Self {
            status: None,
            error: e.to_string(),
            cause: format!("{e:#}"),
        }
    }

    /// A transport error: stored in words, logged with its sources, never
    /// with the URL (it may carry a token in its query string, which must
    /// not reach logs or the attempts table).
    fn transport(e: reqwest::Error) -> Self {
        let error = format!("no answer: {}", without_url(&e));
        let e = e.without_url();
        let mut cause = format!("{error}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause.push_str(&format!(": {s}"));
            source = s.source();
        }
        Self {
            status: None,
            error,
            cause,
        }
    }
}

async fn send(state: &AppState, http: &reqwest::Client, n: &Claimed) -> Outcome {
    let attempted_at = Utc::now();
    let started = Instant::now();
    let result = async {
        if !n.active {
            return Err(Failure::plain("the client is disabled"));
        }
        let Some(url) = &n.callback_url else {
            return Err(Failure::plain("the client has no callback URL"));
        };
        // A name is checked by the client's resolver as it connects; an
        // address in the URL never reaches a resolver, so it is checked here.
        let policy =
            AddressPolicy::from_settings(&state.notifications).map_err(|e| Failure::of(&e))?;
        if url_has_ip_host(url) {
            policy
                .check_url(url)
                .await
                .map_err(|r| Failure::plain(r.0))?;
        }
        let secret = state
            .callback_secrets
            .open(&n.callback_secret)
            .map_err(|e| Failure::of(&e))?;
        let secret = String::from_utf8(secret).map_err(|_| Failure::plain("secret is not text"))?;
        let key = signing::key_of(&secret).map_err(|e| Failure::of(&e))?;
        let id = n.id.to_string();
        let timestamp = Utc::now().timestamp();
        let signature =
            signing::sign(&key, &id, timestamp, &n.body).map_err(|e| Failure::of(&e))?;
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(n.body.clone())
            .send()
            .await
            .map_err(Failure::transport)?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16() as i16)
        } else {
            let error = format!("the receiver answered {status}");
            Err(Failure {
                status: Some(status.as_u16() as i16),
                cause: error.clone(),
                error,
            })
        }
    }
    .await;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    match result {
        Ok(code) => Outcome {
            attempted_at,
            duration_ms,
            status_code: Some(code),
            error: None,
            cause: None,
        },
        Err(failure) => Outcome {
            attempted_at,
            duration_ms,
            status_code: failure.status,
            error: Some(failure.error),
            cause: Some(failure.cause),
        },
    }
}

/// A transport error in words, without the URL (it may carry a token in
/// its query string, which must not reach logs or the attempts table).
fn without_url(e: &reqwest::Error) -> String {
    if let Some(refused) = address::refusal_in(e) {
        return refused.0.to_owned();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirects are not followed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// Whether the host of `url` is an IP address (not a name).
fn url_has_ip_host(url: &str) -> bool {
    url::Url::parse(url)
        .map(|u| matches!(u.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))))
        .unwrap_or(true)
}

/// Records an attempt and the notification's new state in one transaction.
async fn record(
    conn: &mut AsyncPgConnection,
    s: &NotificationSettings,
    n: &Claimed,
    outcome: &Outcome,
) -> QueryResult<()> {
    let delay = backoff(n.attempts, s);
    conn.transaction(async |conn| {
        diesel::insert_into(notification_attempts::table)
            .values((
                notification_attempts::notification_id.eq(n.id),
                notification_attempts::attempt.eq(n.attempts),
                notification_attempts::attempted_at.eq(outcome.attempted_at),
                notification_attempts::duration_ms.eq(outcome.duration_ms),
                notification_attempts::status_code.eq(outcome.status_code),
                notification_attempts::error.eq(&outcome.error),
                notification_attempts::outcome.eq(if outcome.delivered() {
                    "delivered"
                } else {
                    "failed"
                }),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if outcome.delivered() {
            diesel::update(notifications::table.find(n.id))
                .set((
                    notifications::status.eq("delivered"),
                    notifications::delivered_at.eq(diesel::dsl::now),
                    notifications::lease_until.eq(None::<DateTime<Utc>>),
                    notifications::last_error.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
        } else {
            let give_up = n.attempts >= s.max_attempts;
            diesel::update(notifications::table.find(n.id))
                .set((
                    notifications::status.eq(if give_up { "failed" } else { "pending" }),
                    notifications::next_attempt_at.eq(Utc::now()
                        + chrono::Duration::from_std(delay)
                            .unwrap_or_else(|_| chrono::Duration::hours(1))),
                    notifications::lease_until.eq(None::<DateTime<Utc>>),
                    notifications::last_error.eq(&outcome.error),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
    .await
}

/// One round: claims what is due, delivers it concurrently, records the
/// outcomes. Returns how many were claimed.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> anyhow::Result<usize> {
    let s = &state.notifications;
    let claimed = {
        let mut conn = state.db().await.context("no connection to claim with")?;
        claim(&mut conn, s)
            .await
            .context("claiming due notifications")?
    };
    let outcomes =
        futures_util::future::join_all(claimed.iter().map(|n| send(state, http, n))).await;
    let mut conn = state.db().await.context("no connection to record with")?;
    for (n, outcome) in claimed.iter().zip(&outcomes) {
        if let Some(error) = &outcome.cause {
            tracing::info!(notification = %n.id, attempt = n.attempts, error, "notification not delivered; will retry");
        }
        record(&mut conn, s, n, outcome).await.with_context(|| {
            format!("recording attempt {} of notification {}", n.attempts, n.id)
        })?;
    }
    Ok(claimed.len())
}

/// The HTTP client of the worker: a timeout, and no redirects (a callback
/// must not bounce notifications to an address nobody registered).
///
/// Names resolve through [`CheckedResolver`]: a name that resolves to an
/// address the settings do not allow is refused before any connection,
/// and the connection goes to the addresses that were checked.
pub fn http_client(s: &NotificationSettings) -> anyhow::Result<reqwest::Client> {
    let policy = Arc::new(AddressPolicy::from_settings(s)?);
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver(policy)))
        .timeout(Duration::from_secs(s.timeout_seconds.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gezinsregie/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("notification HTTP client: {e}"))
}

/// Runs the worker for as long as the server runs: a round whenever a
/// request wrote to the outbox, and at least every poll interval.
pub fn spawn(state: Arc<AppState>) -> anyhow::Result<()> {
    if !state.notifications.enabled {
        return Ok(());
    }
    let http = http_client(&state.notifications)?;
    let poll = Duration::from_millis(state.notifications.poll_interval_ms.max(10));
    tokio::spawn(async move {
        loop {
            match deliver_due(&state, &http).await {
                // A full batch: more may be due, look again at once.
                Ok(n) if n as i64 >= state.notifications.batch_size => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "notification round failed; retrying"
                ),
            }
            tokio::select! {
                _ = state.outbox_wakeup.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let s = NotificationSettings {
            backoff_base_ms: 1000,
            backoff_max_seconds: 10,
            ..Default::default()
        };
        let within = |attempts, ms: u64| {
            let d = backoff(attempts, &s).as_millis() as u64;
            assert!((ms..=ms + ms / 10).contains(&d), "{attempts}: {d}");
        };
        within(1, 1000);
        within(2, 2000);
        within(3, 4000);
        within(4, 8000);
        within(5, 10_000);
        within(40, 10_000);
    }
}
