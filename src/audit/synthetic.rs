//! Synthetic audit trails, for the export benchmark: `gezinsregie demo
//! --audit-events N` writes N authenticated events of one municipality,
//! spread over the past year, and seals them like the server would.

use chrono::{Duration, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

use super::{chain, record_synthetic, AuditEvent};

/// Events per INSERT (17 columns each stays under PostgreSQL's 65,535 binds).
const BATCH: u64 = 2_000;

const KINDS: [(&str, &str); 6] = [
    ("read", "plan"),
    ("read", "family"),
    ("search", "family"),
    ("update", "plan"),
    ("create", "involvement"),
    ("handover", "plan"),
];

/// Writes `count` events for `municipality`, then seals them. `progress` is
/// told how many were written (then, once, how many were sealed).
pub async fn generate(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    count: u64,
    mut progress: impl FnMut(&str, u64),
) -> anyhow::Result<()> {
    let end = Utc::now() - Duration::hours(1);
    let span_us = Duration::days(365).num_microseconds().unwrap_or(i64::MAX);
    let step = span_us / count.max(1) as i64;
    let start = end - Duration::microseconds(span_us);
    let mut written = 0;
    while written < count {
        let n = BATCH.min(count - written);
        let events = (written..written + n)
            .map(|i| {
                let (action, resource) = KINDS[(i % KINDS.len() as u64) as usize];
                let event = AuditEvent::system(action, resource, Uuid::new_v4())
                    .municipality(municipality)
                    .family(Uuid::new_v4())
                    .detail(json!({"synthetic": true, "n": i}));
                (event, start + Duration::microseconds(step * i as i64))
            })
            .collect();
        record_synthetic(conn, events).await?;
        written += n;
        if written % 100_000 == 0 || written == count {
            progress("written", written);
        }
    }
    let sealed = chain::seal_all(conn).await?;
    progress("sealed", sealed as u64);
    Ok(())
}
