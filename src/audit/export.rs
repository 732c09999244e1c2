//! Streaming export of the audit trail (NDJSON or CSV after RFC 4180).
//!
//! PostgreSQL renders the rows itself with `COPY (SELECT ...) TO STDOUT` on a
//! connection of the export's own, and the server passes the bytes on as
//! they come: memory stays constant whatever the size, the pace is the
//! client's (the HTTP body is polled only when the socket takes more), and
//! the throughput is COPY's. The rows and the chain head sent with them come
//! from one repeatable-read snapshot, taken after every committed event was
//! sealed, so the head covers every exported event.
//!
//! COPY takes no bind parameters; the only values spliced into it are a
//! parsed municipality code (four digits) and timestamps chrono formatted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::chain::{hex, ChainHead};
use crate::domain::MunicipalityCode;
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8; header=present",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
        }
    }
}

/// What to export: one municipality (or all, for admins) and a period.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    pub municipality: Option<MunicipalityCode>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub format: ExportFormat,
}

/// Timestamps as RFC 3339 in UTC with microseconds, in both formats.
const OCCURRED_AT: &str =
    r#"to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#;

/// Text a caller could have chosen (an id in a URL, a request id), made
/// harmless for spreadsheets: a leading `=`, `+`, `-`, `@`, tab or CR would
/// make Excel run it as a formula (OWASP "CSV injection"), so such values get
/// a leading apostrophe. The NDJSON export keeps values as they are.
fn csv_text(column: &str) -> String {
    format!(
        "CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') \
         THEN '''' || {column} ELSE {column} END"
    )
}

impl ExportSpec {
    fn filter(&self) -> String {
        let mut conditions = vec!["true".to_owned()];
        if let Some(code) = &self.municipality {
            conditions.push(format!("municipality_code = '{}'", code.as_str()));
        }
        if let Some(from) = self.from {
            conditions.push(format!(
                "occurred_at >= '{}'::timestamptz",
                from.to_rfc3339_opts(SecondsFormat::Micros, true)
            ));
        }
        if let Some(to) = self.to {
            conditions.push(format!(
                "occurred_at < '{}'::timestamptz",
                to.to_rfc3339_opts(SecondsFormat::Micros, true)
            ));
        }
        conditions.join(" AND ")
    }

    /// The COPY statement of this export.
    pub fn copy_statement(&self) -> String {
        let filter = self.filter();
        match self.format {
            // One JSON text per row. CSV mode with a delimiter and quote
            // character that JSON text never holds raw (PostgreSQL escapes
            // every control character in JSON) passes each line verbatim;
            // text mode would double every backslash.
            ExportFormat::Ndjson => format!(
                "COPY (SELECT json_build_object(\
                 'seq', seq, 'occurredAt', {OCCURRED_AT}, 'actorType', actor_type, \
                 'actorId', actor_id, 'actorRole', actor_role, 'onBehalfOf', on_behalf_of, \
                 'purpose', purpose, 'municipalityCode', municipality_code, 'action', action, \
                 'resourceType', resource_type, 'resourceId', resource_id, 'familyId', family_id, \
                 'outcome', outcome, 'emergencyAccess', emergency_access, 'requestId', request_id, \
                 'ip', ip, 'detail', detail, 'rowMac', encode(row_mac, 'hex'))::text \
                 FROM audit_events WHERE {filter} ORDER BY seq) \
                 TO STDOUT (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
            ),
            ExportFormat::Csv => format!(
                "COPY (SELECT seq AS \"seq\", {OCCURRED_AT} AS \"occurredAt\", \
                 actor_type AS \"actorType\", actor_id AS \"actorId\", actor_role AS \"actorRole\", \
                 {} AS \"onBehalfOf\", purpose AS \"purpose\", \
                 municipality_code AS \"municipalityCode\", action AS \"action\", \
                 resource_type AS \"resourceType\", {} AS \"resourceId\", \
                 family_id AS \"familyId\", outcome AS \"outcome\", \
                 CASE WHEN emergency_access THEN 'true' ELSE 'false' END AS \"emergencyAccess\", {} AS \"requestId\", ip AS \"ip\", \
                 detail::text AS \"detail\", encode(row_mac, 'hex') AS \"rowMac\" \
                 FROM audit_events WHERE {filter} ORDER BY seq) \
                 TO STDOUT (FORMAT csv, HEADER true)",
                csv_text("on_behalf_of"),
                csv_text("resource_id"),
                csv_text("request_id"),
            ),
        }
    }
}

/// RFC 4180 ends records with CRLF; COPY writes LF. Line feeds inside a
/// quoted field are data and stay as they are, so the converter follows the
/// quoting across chunks (a doubled quote toggles twice, which is right).
#[derive(Debug, Default)]
pub struct CrlfRecords {
    in_quotes: bool,
}

impl CrlfRecords {
    pub fn convert(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(chunk.len() + chunk.len() / 16 + 2);
        for &b in chunk {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => out.extend_from_slice(b"\r"),
                _ => {}
            }
            out.extend_from_slice(&[b]);
        }
        out.freeze()
    }
}

pub type ExportStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>>>>;

/// Rows per chunk handed to the HTTP layer: COPY sends a message per row,
/// and a chunk per row would spend more on framing than on data.
const ROWS_PER_CHUNK: usize = 512;

/// Opens the export: seals nothing itself (the caller seals first), takes a
/// repeatable-read snapshot on a connection of its own, reads the chain head
/// in it and starts COPY. The stream owns the connection; dropping it (a
/// client that goes away) closes the connection and ends the query.
///
/// Issue 15 item 6: the connection's task holds the export's `slot` (see
/// [`ExportGate`]) and ends, closing the connection, when the stream is
/// dropped, or when the client has not read for `idle` (the HTTP body is
/// polled only when the client takes more, so an unread export would
/// otherwise hold a PostgreSQL connection for as long as its socket stays
/// open). The stream then ends in an error and the response is aborted.
pub async fn open(
    url: &str,
    spec: &ExportSpec,
    slot: Option<ExportSlot>,
    idle: Duration,
) -> anyhow::Result<(Option<ChainHead>, ExportStream)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let polled = Arc::new(Polled::default());
    let started = Instant::now();
    let watched = polled.clone();
    tokio::spawn(async move {
        let _slot = slot;
        tokio::select! {
            ended = connection => if let Err(e) = ended {
                tracing::debug!(error = %e, "export connection ended");
            },
            () = idle_for(&watched, started, idle) => {
                tracing::info!(idle_seconds = idle.as_secs(), "export cut: its client stopped reading");
            }
        }
    });
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let head = chain_head(&client).await?;
    let copy = client.copy_out(spec.copy_statement().as_str()).await?;
    let mut crlf = (spec.format == ExportFormat::Csv).then(CrlfRecords::default);
    let stream = copy
        .map_err(std::io::Error::other)
        .ready_chunks(ROWS_PER_CHUNK)
        .map(move |rows| {
            // The client lives as long as the stream.
            let _connection = &client;
            let mut chunk = BytesMut::new();
            for row in rows {
                let row = row?;
                match crlf.as_mut() {
                    Some(c) => chunk.extend_from_slice(&c.convert(&row)),
                    None => chunk.extend_from_slice(&row),
                }
            }
            Ok(chunk.freeze())
        });
    Ok((head, watch_polls(stream, polled, started)))
}

/// The newest chain entry, read in the export's snapshot.
async fn chain_head(client: &tokio_postgres::Client) -> anyhow::Result<Option<ChainHead>> {
    Ok(client
        .query_opt(
            "SELECT position, seq, link FROM audit_chain ORDER BY position DESC LIMIT 1",
            &[],
        )
        .await?
        .map(|row| ChainHead {
            position: row.get(0),
            seq: row.get(1),
            link: hex(row.get::<_, &[u8]>(2)),
        }))
}

/// `stream`, recording in `polled` when the HTTP layer last took from it.
fn watch_polls(
    stream: impl Stream<Item = std::io::Result<Bytes>> + 'static,
    polled: Arc<Polled>,
    started: Instant,
) -> ExportStream {
    let mut stream = Box::pin(stream);
    // Opening (the snapshot, the head, starting COPY) is not the client's
    // idleness either: its clock starts now.
    polled.at.store(millis_since(started), Ordering::Relaxed);
    // Every poll is the client taking more; a poll that found nothing yet
    // waits for PostgreSQL, not for the client, and is no idleness of its.
    Box::pin(futures_util::stream::poll_fn(move |cx| {
        polled.at.store(millis_since(started), Ordering::Relaxed);
        let next = stream.as_mut().poll_next(cx);
        polled
            .waiting_for_database
            .store(next.is_pending(), Ordering::Relaxed);
        next
    }))
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// When the export's stream was last polled, and whether that poll left it
/// waiting for PostgreSQL (a slow query is not a client that stopped
/// reading: the HTTP layer polls again as soon as rows arrive).
#[derive(Default)]
struct Polled {
    /// Milliseconds since the export started.
    at: AtomicU64,
    waiting_for_database: AtomicBool,
}

/// Returns once the stream has not been polled for `idle` while it had
/// rows to give.
async fn idle_for(polled: &Polled, started: Instant, idle: Duration) {
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        let last = polled.at.load(Ordering::Relaxed);
        let now = millis_since(started);
        if polled.waiting_for_database.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(idle_ms.clamp(1, 1_000))).await;
            continue;
        }
        if now.saturating_sub(last) >= idle_ms {
            return;
        }
        tokio::time::sleep(Duration::from_millis(idle_ms - now.saturating_sub(last))).await;
    }
}

/// Issue 15 item 6: how many exports stream at once, overall and per user.
/// Each holds a PostgreSQL connection of its own, outside the pool; without
/// a bound 110 unread exports took every connection PostgreSQL had.
pub struct ExportGate {
    overall: Arc<Semaphore>,
    per_user: usize,
    running: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// One running export's place; given back when dropped.
pub struct ExportSlot {
    _overall: OwnedSemaphorePermit,
    user: Uuid,
    running: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.user);
            }
        }
    }
}

impl ExportGate {
    pub fn new(overall: usize, per_user: usize) -> Self {
        Self {
            overall: Arc::new(Semaphore::new(overall.max(1))),
            per_user: per_user.max(1),
            running: Arc::default(),
        }
    }

    /// A place for one more export of `user`: 429 `too_many_requests` when
    /// the user has its share running, 503 `service_unavailable` when the
    /// server has; both at once, with `Retry-After`.
    pub fn admit(&self, user: Uuid) -> Result<ExportSlot, ApiError> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = running.entry(user).or_insert(0);
        if *mine >= self.per_user {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                "You have as many exports running as allowed; finish one first.",
            )
            .with_retry_after(RETRY_AFTER_SECONDS));
        }
        let Ok(permit) = self.overall.clone().try_acquire_owned() else {
            if *mine == 0 {
                running.remove(&user);
            }
            return Err(ApiError::service_unavailable(
                "The server runs as many exports as it can; try again shortly.",
            )
            .with_retry_after(RETRY_AFTER_SECONDS));
        };
        *mine += 1;
        Ok(ExportSlot {
            _overall: permit,
            user,
            running: self.running.clone(),
        })
    }
}

/// Retry-After of a refused export: about the time a small export takes.
const RETRY_AFTER_SECONDS: u64 = 10;

/// The export from the command line (`gezinsregie audit export`): sealed
/// first and audited as the system acting for accountability, like the HTTP
/// export, then written to `out`. Returns the chain head and the byte count.
pub async fn export_to(
    url: &str,
    spec: &ExportSpec,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> anyhow::Result<(Option<ChainHead>, u64)> {
    use tokio::io::AsyncWriteExt;

    let mut conn = crate::db::connect(url).await?;
    super::chain::seal_all(&mut conn).await?;
    let mut event = super::AuditEvent::system("export", "audit_log", "export")
        .purpose("accountability")
        .detail(serde_json::json!({
            "format": spec.format.extension(),
            "from": spec.from,
            "to": spec.to,
            "commandLine": true,
        }));
    if let Some(code) = &spec.municipality {
        event = event.municipality(code.as_str());
    }
    event.record(&conn).await?;
    let (head, mut stream) = open(url, spec, None, Duration::from_secs(u64::MAX / 4)).await?;
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    out.flush().await?;
    Ok((head, written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_in_crlf_but_quoted_line_feeds_stay() {
        let mut c = CrlfRecords::default();
        let a = c.convert(b"seq,detail\n1,\"a\nb\"\"");
        let b = c.convert(b"c\"\n2,x\n");
        let all = [a.as_ref(), b.as_ref()].concat();
        assert_eq!(all, b"seq,detail\r\n1,\"a\nb\"\"c\"\r\n2,x\r\n");
    }

    #[test]
    fn only_parsed_values_reach_the_statement() {
        let spec = ExportSpec {
            municipality: MunicipalityCode::parse("0546").ok(),
            from: DateTime::from_timestamp(1_767_225_600, 0),
            to: None,
            format: ExportFormat::Csv,
        };
        let sql = spec.copy_statement();
        assert!(sql.contains("municipality_code = '0546'"));
        assert!(sql.contains("occurred_at >= '2026-01-01T00:00:00.000000Z'::timestamptz"));
        assert!(sql.contains("HEADER true"));
        assert!(!sql.contains("occurred_at <"));
    }
}
