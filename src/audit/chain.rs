//! Tamper evidence for the audit trail, without one lock that every request
//! waits on.
//!
//! A plain hash chain written by the requests themselves (each event hashing
//! its predecessor) serialises every audited request, reads included, on the
//! chain's head row. Instead the work is split in two:
//!
//! 1. **Each event authenticates itself.** When the server writes an event it
//!    computes `row_mac = HMAC-SHA256(audit key, canonical content)`, the
//!    content including the server-set `occurred_at`. The audit key is
//!    derived from the data key and never reaches PostgreSQL, so someone with
//!    database access alone (a superuser, a stolen backup) can neither edit
//!    an event nor forge a new one without the MAC failing. This costs the
//!    request a microsecond of CPU and no extra statement.
//! 2. **A sealer orders them.** An `AFTER INSERT` trigger queues each event's
//!    `seq` in `audit_unsealed`, in the event's own transaction, so the queue
//!    holds exactly the committed events, whatever order transactions commit
//!    in (identity values are drawn before commit, so `seq` order is not
//!    commit order and `seq` has gaps from rollbacks; neither matters here).
//!    A background task in every server process takes the queue under a
//!    transaction-scoped advisory lock (`pg_try_advisory_xact_lock`, so one
//!    sealer works at a time and the others skip a round), checks each
//!    event's MAC, and appends `link(n) = HMAC(key, link(n-1) || n || seq ||
//!    row_mac)` to `audit_chain`. Requests never touch that lock.
//!
//! Verification (`verify`) recomputes every MAC and link in a period and
//! names each event that was changed (MAC differs), removed (chain entry
//! without event), inserted (event that never entered the chain because its
//! MAC failed, or that bypassed the queue), and every altered or missing
//! chain entry. Both tables refuse UPDATE, DELETE and TRUNCATE by trigger,
//! for the application's own role as for anyone; only someone who can lift
//! the triggers can change rows, and then the check names what they did.
//!
//! What it cannot see, stated so nobody relies on it: an event removed in the
//! second between its commit and its sealing, and the removal of the newest
//! entries of chain and trail together. The chain head (position and link)
//! goes out with every export and verification, so a head kept elsewhere
//! covers the latter.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::schema::{audit_chain, audit_events, audit_legacy, audit_unsealed};
use crate::db::sql::cached;

type HmacSha256 = Hmac<Sha256>;

/// Advisory lock key of the sealer ("gzseal" in ASCII).
const SEAL_LOCK: i64 = 0x677a_7365_616c;
/// Events sealed per transaction.
pub const SEAL_BATCH: i64 = 5_000;
/// Problems listed by one verification; the count goes on.
const MAX_PROBLEMS: usize = 1_000;

/// The key that authenticates events and links the chain.
#[derive(Clone)]
pub struct AuditKey {
    mac: HmacSha256,
    /// SHA-256 of the derived key: tells two keys apart without exposing one.
    fingerprint: [u8; 32],
}

impl AuditKey {
    /// The audit key: a purpose key of its own
    /// ([`crate::crypto::keys::PurposeKeys::audit_mac`]).
    pub fn new(key: &[u8; 32]) -> anyhow::Result<Self> {
        let mac = <HmacSha256 as Mac>::new_from_slice(key)
            .map_err(|_| anyhow::anyhow!("invalid audit key"))?;
        Ok(Self {
            mac,
            fingerprint: Sha256::digest(key).into(),
        })
    }

    /// The MAC of one event's content.
    pub fn row_mac(&self, e: &MacInput<'_>) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(b"gezinsregie audit event v1");
        mac.update(&e.occurred_at.timestamp_micros().to_be_bytes());
        for field in [
            Some(e.actor_type),
            e.actor_role,
            e.on_behalf_of,
            Some(e.purpose),
            e.municipality_code,
            Some(e.action),
            Some(e.resource_type),
            e.resource_id,
            Some(e.outcome),
            e.request_id,
            e.ip,
        ] {
            put(&mut mac, field.map(str::as_bytes));
        }
        for id in [e.actor_id, e.family_id] {
            put(&mut mac, id.as_ref().map(|u| u.as_bytes().as_slice()));
        }
        mac.update(&[u8::from(e.emergency_access)]);
        let mut detail = Vec::with_capacity(64);
        canonical_json(e.detail, &mut detail);
        put(&mut mac, Some(&detail));
        mac.finalize().into_bytes().into()
    }

    /// The chain link of the event at `position`.
    pub fn link(&self, previous: &[u8], position: i64, seq: i64, row_mac: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(b"gezinsregie audit link v1");
        mac.update(previous);
        mac.update(&position.to_be_bytes());
        mac.update(&seq.to_be_bytes());
        mac.update(row_mac);
        mac.finalize().into_bytes().into()
    }
}

/// Length-prefixed, so no two different field lists hash alike.
fn put(mac: &mut HmacSha256, field: Option<&[u8]>) {
    match field {
        None => mac.update(&[0]),
        Some(bytes) => {
            mac.update(&[1]);
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        }
    }
}

/// JSON with object keys sorted: `jsonb` reorders keys, and the server may
/// build them in any order, so the MAC must not depend on it.
fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(&Value::String(key.clone()), out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    canonical_json(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

static KEY: OnceLock<AuditKey> = OnceLock::new();
static EPOCHS: OnceLock<Epochs> = OnceLock::new();

/// How long after a rotation events MACed with the retired key are still
/// sealed (servers started before the rotation still write them); after
/// that such an event is refused as a forgery.
pub const EPOCH_OVERLAP: chrono::Duration = chrono::Duration::hours(1);

/// The key epochs this process knows: the current one (the version of the
/// `audit_mac` key) and the retired ones whose keys are configured, so the
/// chain verifies across every rotation.
struct Epochs {
    current: i32,
    retired: Vec<(i32, AuditKey, DateTime<Utc>)>,
}

impl Epochs {
    fn key<'a>(&'a self, current: &'a AuditKey, epoch: i32) -> Option<&'a AuditKey> {
        if epoch == self.current {
            return Some(current);
        }
        self.retired
            .iter()
            .find(|(e, _, _)| *e == epoch)
            .map(|(_, key, _)| key)
    }

    fn retired_at(&self, epoch: i32) -> Option<DateTime<Utc>> {
        self.retired
            .iter()
            .find(|(e, _, _)| *e == epoch)
            .map(|(_, _, at)| *at)
    }
}

/// Installs the process's audit key (at start, before any event is written)
/// with the key epochs checked at start (`crypto::keys::status`).
/// Installing the same key again is harmless; another key is an error, since
/// events would then fail verification.
pub fn install(keys: &crate::crypto::keys::PurposeKeys) -> anyhow::Result<()> {
    let key = AuditKey::new(&keys.audit_mac)?;
    let installed = KEY.get_or_init(|| key.clone());
    if installed.fingerprint != key.fingerprint {
        anyhow::bail!("another audit key is already installed in this process");
    }
    let status = crate::crypto::keys::status();
    let mut retired = Vec::new();
    for old in status.retired("audit_mac") {
        retired.push((old.version, AuditKey::new(&old.key)?, old.retired_at));
    }
    EPOCHS.get_or_init(|| Epochs {
        current: status.version("audit_mac"),
        retired,
    });
    Ok(())
}

fn epochs() -> &'static Epochs {
    EPOCHS.get_or_init(|| Epochs {
        current: 1,
        retired: Vec::new(),
    })
}

/// The installed key; writing an event without one is a programming error
/// that must fail the request rather than write an unverifiable event.
pub fn key() -> Result<&'static AuditKey, diesel::result::Error> {
    KEY.get().ok_or_else(|| {
        diesel::result::Error::QueryBuilderError("the audit key is not installed".into())
    })
}

/// The content an event's MAC covers (every column except `seq` and the MAC).
pub struct MacInput<'a> {
    pub occurred_at: DateTime<Utc>,
    pub actor_type: &'a str,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<&'a str>,
    pub on_behalf_of: Option<&'a str>,
    pub purpose: &'a str,
    pub municipality_code: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
    pub family_id: Option<Uuid>,
    pub outcome: &'a str,
    pub emergency_access: bool,
    pub request_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: &'a Value,
}

/// One audit event (NEN 7513), as stored and as listed.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditEventView)]
pub struct StoredEvent {
    /// Place in the trail.
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    /// `user`, `client`, `system` or `anonymous`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    /// The organisation the actor acted for, when not itself.
    pub on_behalf_of: Option<String>,
    /// Purpose of the processing.
    pub purpose: String,
    pub municipality_code: Option<String>,
    /// `read`, `search`, `create`, `update`, `handover`, `close`, `export`,
    /// `login`, `login_failed`, `access_denied`, ...
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The family whose data was involved.
    pub family_id: Option<Uuid>,
    /// `success`, `denied` or `error`.
    pub outcome: String,
    /// Access by breaking the glass (`X-Access-Reason`).
    pub emergency_access: bool,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    /// Action-specific detail (ids, codes, field names; never case content).
    #[schema(value_type = Object)]
    pub detail: Value,
    /// HMAC of the content (hex), for tamper evidence; see `/audit/verify`.
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>)]
    pub row_mac: Option<Vec<u8>>,
}

fn hex_opt<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&hex(b)),
        None => s.serialize_none(),
    }
}

impl StoredEvent {
    pub fn mac_input(&self) -> MacInput<'_> {
        MacInput {
            occurred_at: self.occurred_at,
            actor_type: &self.actor_type,
            actor_id: self.actor_id,
            actor_role: self.actor_role.as_deref(),
            on_behalf_of: self.on_behalf_of.as_deref(),
            purpose: &self.purpose,
            municipality_code: self.municipality_code.as_deref(),
            action: &self.action,
            resource_type: &self.resource_type,
            resource_id: self.resource_id.as_deref(),
            family_id: self.family_id,
            outcome: &self.outcome,
            emergency_access: self.emergency_access,
            request_id: self.request_id.as_deref(),
            ip: self.ip.as_deref(),
            detail: &self.detail,
        }
    }
}

/// The newest chain entry: publish it, and later verifications can prove
/// nothing before it was cut off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    /// Position of the newest entry (the number of sealed events).
    pub position: i64,
    /// The event it seals.
    pub seq: i64,
    /// Its link, 64 hex digits.
    pub link: String,
}

impl ChainHead {
    /// `position=<n>; seq=<n>; link=<hex>`, for a response header.
    pub fn header_value(&self) -> String {
        format!(
            "position={}; seq={}; link={}",
            self.position, self.seq, self.link
        )
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The newest chain entry, if any.
pub async fn head(conn: &mut AsyncPgConnection) -> QueryResult<Option<ChainHead>> {
    audit_chain::table
        .order(audit_chain::position.desc())
        .select((audit_chain::position, audit_chain::seq, audit_chain::link))
        .first::<(i64, i64, Vec<u8>)>(conn)
        .await
        .optional()
        .map(|row| {
            row.map(|(position, seq, link)| ChainHead {
                position,
                seq,
                link: hex(&link),
            })
        })
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// What one sealing round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub sealed: usize,
    /// Queued events whose MAC failed: never sealed, so `verify` names them.
    pub rejected: Vec<i64>,
    /// False when another sealer held the lock and `wait` was false.
    pub ran: bool,
}

/// Seals up to [`SEAL_BATCH`] queued events in one transaction. With `wait`
/// it queues behind a running sealer (verification and export want every
/// committed event sealed); without, it gives way.
pub async fn seal_batch(conn: &mut AsyncPgConnection, wait: bool) -> QueryResult<Sealed> {
    let key = key()?;
    conn.transaction(async |conn| {
        let lock = if wait {
            "SELECT true AS locked FROM (SELECT pg_advisory_xact_lock($1)) l"
        } else {
            "SELECT pg_try_advisory_xact_lock($1) AS locked"
        };
        let locked: Locked = cached(lock)
            .bind::<BigInt, _>(SEAL_LOCK)
            .get_result(conn)
            .await?;
        if !locked.locked {
            return Ok(Sealed::default());
        }
        let queued: Vec<i64> = audit_unsealed::table
            .select(audit_unsealed::seq)
            .order(audit_unsealed::seq)
            .limit(SEAL_BATCH)
            .load(conn)
            .await?;
        let sealed = if queued.is_empty() {
            Sealed::default()
        } else {
            seal_queued(conn, key, &queued).await?
        };
        Ok(Sealed {
            ran: true,
            ..sealed
        })
    })
    .await
}

/// Appends the authentic events of `queued` to the chain and empties the
/// queue of them (the caller holds the sealer's lock).
async fn seal_queued(
    conn: &mut AsyncPgConnection,
    key: &AuditKey,
    queued: &[i64],
) -> QueryResult<Sealed> {
    let events: Vec<StoredEvent> = audit_events::table
        .filter(audit_events::seq.eq_any(queued))
        .order(audit_events::seq)
        .select(StoredEvent::as_select())
        .load(conn)
        .await?;
    let legacy_max: i64 = audit_legacy::table
        .select(audit_legacy::max_seq)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0);
    let previous: Option<(i64, Vec<u8>)> = audit_chain::table
        .order(audit_chain::position.desc())
        .select((audit_chain::position, audit_chain::link))
        .first(conn)
        .await
        .optional()?;
    let (entries, rejected) = chain_entries(key, epochs(), &events, legacy_max, previous);
    insert_entries(conn, &entries).await?;
    // A server started before a rotation does not hold the new epoch's
    // key: what it cannot check it leaves queued for a server that can,
    // rather than condemn genuine events as forgeries.
    let outdated = !rejected.is_empty() && newer_epoch_exists(conn).await?;
    let done: Vec<i64> = if outdated {
        entries.iter().map(|e| e.seq).collect()
    } else {
        queued.to_vec()
    };
    diesel::delete(audit_unsealed::table.filter(audit_unsealed::seq.eq_any(&done)))
        .execute(conn)
        .await?;
    if outdated {
        tracing::warn!(
            count = rejected.len(),
            "audit events of a newer key epoch were left for a server with the new key"
        );
        return Ok(Sealed {
            sealed: entries.len(),
            rejected: Vec::new(),
            ran: true,
        });
    }
    if !rejected.is_empty() {
        tracing::error!(
            seqs = ?rejected,
            "audit events with an invalid MAC were not sealed: the trail was tampered with"
        );
    }
    Ok(Sealed {
        sealed: entries.len(),
        rejected,
        ran: true,
    })
}

/// Appends `entries` to the chain, a thousand rows per statement.
async fn insert_entries(conn: &mut AsyncPgConnection, entries: &[Entry]) -> QueryResult<()> {
    for chunk in entries.chunks(1_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|e| {
                (
                    audit_chain::position.eq(e.position),
                    audit_chain::seq.eq(e.seq),
                    audit_chain::occurred_at.eq(e.occurred_at),
                    audit_chain::row_mac.eq(e.row_mac.to_vec()),
                    audit_chain::link.eq(e.link.to_vec()),
                    audit_chain::key_epoch.eq(e.epoch),
                )
            })
            .collect();
        diesel::insert_into(audit_chain::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Whether the database knows an audit key epoch after this process's.
async fn newer_epoch_exists(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    use crate::db::schema::key_fingerprints;
    let newest: Option<i32> = key_fingerprints::table
        .filter(key_fingerprints::purpose.eq("audit_mac"))
        .select(diesel::dsl::max(key_fingerprints::version))
        .first(conn)
        .await?;
    Ok(newest.is_some_and(|v| v > epochs().current))
}

/// One new entry of the chain.
struct Entry {
    position: i64,
    seq: i64,
    occurred_at: DateTime<Utc>,
    row_mac: [u8; 32],
    link: [u8; 32],
    epoch: i32,
}

/// The chain entries of `events` after `previous` (position and link; the
/// start of the chain when none), and the events refused because their MAC
/// is wrong. Events from before MACs (up to `legacy_max`) are sealed as
/// found.
fn chain_entries(
    key: &AuditKey,
    epochs: &Epochs,
    events: &[StoredEvent],
    legacy_max: i64,
    previous: Option<(i64, Vec<u8>)>,
) -> (Vec<Entry>, Vec<i64>) {
    let (mut position, mut link) = previous.unwrap_or((0, vec![0; 32]));
    let mut entries = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for event in events {
        let Some((epoch, key, computed)) = authentic_under(key, epochs, event, legacy_max) else {
            rejected.push(event.seq);
            continue;
        };
        position += 1;
        let next = key.link(&link, position, event.seq, &computed);
        entries.push(Entry {
            position,
            seq: event.seq,
            occurred_at: event.occurred_at,
            row_mac: computed,
            link: next,
            epoch,
        });
        link = next.to_vec();
    }
    (entries, rejected)
}

/// The epoch whose key made `event`'s MAC, with that key and the MAC: the
/// current one, or a retired one within [`EPOCH_OVERLAP`] of its rotation.
/// Events from before MACs (up to `legacy_max`) belong to the current one.
fn authentic_under<'a>(
    current: &'a AuditKey,
    epochs: &'a Epochs,
    event: &StoredEvent,
    legacy_max: i64,
) -> Option<(i32, &'a AuditKey, [u8; 32])> {
    let computed = current.row_mac(&event.mac_input());
    let Some(stored) = &event.row_mac else {
        return (event.seq <= legacy_max).then_some((epochs.current, current, computed));
    };
    if stored.as_slice() == computed.as_slice() {
        return Some((epochs.current, current, computed));
    }
    let now = Utc::now();
    epochs
        .retired
        .iter()
        .filter(|(_, _, retired_at)| now < *retired_at + EPOCH_OVERLAP)
        .find_map(|(epoch, key, _)| {
            let mac = key.row_mac(&event.mac_input());
            (stored.as_slice() == mac.as_slice()).then_some((*epoch, key, mac))
        })
}

/// Seals until the queue is empty (waiting for a running sealer).
pub async fn seal_all(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let round = seal_batch(conn, true).await?;
        total += round.sealed;
        if round.sealed + round.rejected.len() < SEAL_BATCH as usize {
            return Ok(total);
        }
    }
}

/// Seals committed events about twice a second, in every server process; the
/// advisory lock lets one work while the others skip the round.
pub fn spawn(state: std::sync::Arc<crate::state::AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(mut conn) = state.pool.get().await else {
                continue;
            };
            loop {
                match seal_batch(&mut conn, false).await {
                    Ok(round)
                        if round.ran
                            && round.sealed + round.rejected.len() >= SEAL_BATCH as usize => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "sealing audit events failed; retrying");
                        break;
                    }
                }
            }
        }
    });
}

/// What verification found wrong with one event or chain entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The event's content no longer matches its MAC.
    Changed,
    /// The chain seals an event that is no longer there.
    Removed,
    /// An event that is not in the chain: written behind the server's back,
    /// or altered before it was sealed.
    Inserted,
    /// A chain entry whose link does not follow from its predecessor.
    ChainAltered,
    /// Positions missing from the chain.
    ChainEntryMissing,
    /// A chain entry of a key epoch whose key this server does not hold
    /// (configure the retired `bsn_hash_key` in `bsn_hash_previous_keys`),
    /// or of a retired epoch, dated after that epoch's overlap.
    KeyEpoch,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub kind: ProblemKind,
    /// The event concerned.
    pub seq: Option<i64>,
    /// The chain position concerned.
    pub position: Option<i64>,
    pub message: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// True when nothing was found wrong.
    pub valid: bool,
    /// Start of the period checked (inclusive), if limited.
    pub from: Option<DateTime<Utc>>,
    /// End of the period checked (exclusive), if limited.
    pub to: Option<DateTime<Utc>>,
    /// Chain entries checked (with their events).
    pub checked_entries: i64,
    pub head: Option<ChainHead>,
    /// Every problem found, up to 1,000.
    pub problems: Vec<Problem>,
    /// Number of problems found in all.
    pub problem_count: i64,
}

impl Verification {
    fn problem(
        &mut self,
        kind: ProblemKind,
        seq: Option<i64>,
        position: Option<i64>,
        message: String,
    ) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                kind,
                seq,
                position,
                message,
            });
        }
    }
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = Nullable<BigInt>)]
    lo: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    hi: Option<i64>,
}

/// Checks the trail in `[from, to)` (all of it without bounds): seals what is
/// waiting, then recomputes every MAC and link, streaming, so its memory does
/// not grow with the trail.
pub async fn verify(
    conn: &mut AsyncPgConnection,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> QueryResult<Verification> {
    let key = key()?;
    seal_all(conn).await?;
    let mut report = Verification {
        valid: true,
        from,
        to,
        checked_entries: 0,
        head: head(conn).await?,
        problems: Vec::new(),
        problem_count: 0,
    };
    // The chain runs in sealing order, which follows time to within the
    // sealer's delay: check the positions from the first entry of the
    // period to its last (a few neighbours outside it do no harm).
    let span: Span = diesel::sql_query(
        "SELECT min(position) AS lo, max(position) AS hi FROM audit_chain
          WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)
            AND ($2::timestamptz IS NULL OR occurred_at < $2)",
    )
    .bind::<Nullable<Timestamptz>, _>(from)
    .bind::<Nullable<Timestamptz>, _>(to)
    .get_result(conn)
    .await?;
    if let (Some(lo), Some(hi)) = (span.lo, span.hi) {
        check_chain(conn, key, lo, hi, &mut report).await?;
    }
    find_strays(conn, from, to, &mut report).await?;
    report.valid = report.problem_count == 0;
    Ok(report)
}

/// A chain entry (position, seq, MAC, link, key epoch) with the event it
/// seals, if that is still there.
type ChainRow = (i64, i64, Vec<u8>, Vec<u8>, i32, Option<StoredEvent>);

/// Walks chain positions `lo..=hi`, checking each link and each event.
async fn check_chain(
    conn: &mut AsyncPgConnection,
    key: &AuditKey,
    lo: i64,
    hi: i64,
    report: &mut Verification,
) -> QueryResult<()> {
    // The links an entry may follow from: its predecessor's stored link
    // and, after an altered entry, the link it should have had, so one
    // altered entry is reported once rather than with its successor.
    let mut previous: Vec<Vec<u8>> = if lo == 1 {
        vec![vec![0; 32]]
    } else {
        audit_chain::table
            .find(lo - 1)
            .select(audit_chain::link)
            .first::<Vec<u8>>(conn)
            .await
            .optional()?
            .into_iter()
            .collect()
    };
    if previous.is_empty() {
        report.problem(
            ProblemKind::ChainEntryMissing,
            None,
            Some(lo - 1),
            format!("chain entry {} before the period is missing", lo - 1),
        );
    }
    let mut expected = lo;
    let mut rows = audit_chain::table
        .left_join(audit_events::table)
        .filter(audit_chain::position.between(lo, hi))
        .order(audit_chain::position)
        .select((
            audit_chain::position,
            audit_chain::seq,
            audit_chain::row_mac,
            audit_chain::link,
            audit_chain::key_epoch,
            Option::<StoredEvent>::as_select(),
        ))
        .load_stream::<ChainRow>(conn)
        .await?;
    while let Some(row) = rows.next().await {
        let row = row?;
        report.checked_entries += 1;
        if row.0 != expected {
            report.problem(
                ProblemKind::ChainEntryMissing,
                None,
                Some(expected),
                format!("chain positions {expected} to {} are missing", row.0 - 1),
            );
            previous.clear();
        }
        expected = row.0 + 1;
        previous = check_entry(key, row, &previous, report);
    }
    Ok(())
}

/// Checks one chain entry against the links it may follow from, and the
/// event it seals against its MAC; returns the links its successor may
/// follow from.
fn check_entry(
    current: &AuditKey,
    (position, seq, sealed_mac, link, epoch, event): ChainRow,
    previous: &[Vec<u8>],
    report: &mut Verification,
) -> Vec<Vec<u8>> {
    let Some(key) = epoch_key(current, epoch, position, seq, event.as_ref(), report) else {
        return vec![link];
    };
    let computed: Vec<[u8; 32]> = previous
        .iter()
        .map(|prev| key.link(prev, position, seq, &sealed_mac))
        .collect();
    let follows = computed.iter().any(|c| c.as_slice() == link.as_slice());
    if !follows && !computed.is_empty() {
        report.problem(
            ProblemKind::ChainAltered,
            Some(seq),
            Some(position),
            format!("chain entry {position} does not follow from its predecessor"),
        );
    }
    match event {
        None => report.problem(
            ProblemKind::Removed,
            Some(seq),
            Some(position),
            format!("event {seq} was sealed but is gone"),
        ),
        Some(event) => {
            let mac = key.row_mac(&event.mac_input());
            let stored_ok = event
                .row_mac
                .as_deref()
                .is_none_or(|m| m == sealed_mac.as_slice());
            if mac.as_slice() != sealed_mac.as_slice() || !stored_ok {
                report.problem(
                    ProblemKind::Changed,
                    Some(seq),
                    Some(position),
                    format!("event {seq} was changed after it was written"),
                );
            }
        }
    }
    match <[_]>::first(&computed) {
        Some(should) if !follows => vec![link, should.to_vec()],
        _ => vec![link],
    }
}

/// The key of `epoch` for the entry at `position`; a problem when this
/// server does not hold it, or when the entry's event is dated after the
/// epoch's key was retired and its overlap ended (a forgery with an old key).
fn epoch_key<'a>(
    current: &'a AuditKey,
    epoch: i32,
    position: i64,
    seq: i64,
    event: Option<&StoredEvent>,
    report: &mut Verification,
) -> Option<&'a AuditKey> {
    let epochs = epochs();
    let Some(key) = epochs.key(current, epoch) else {
        report.problem(
            ProblemKind::KeyEpoch,
            Some(seq),
            Some(position),
            format!("chain entry {position} is of key epoch {epoch}, whose key is not configured"),
        );
        return None;
    };
    let late = epochs
        .retired_at(epoch)
        .zip(event)
        .is_some_and(|(retired_at, e)| e.occurred_at >= retired_at + EPOCH_OVERLAP);
    if late {
        report.problem(
            ProblemKind::KeyEpoch,
            Some(seq),
            Some(position),
            format!("event {seq} is sealed with the key of epoch {epoch}, retired before it"),
        );
    }
    Some(key)
}

/// Events of the period that never entered the chain. Everything committed
/// was just sealed, so only events committed during this check may still be
/// queued; those are left for the next one.
async fn find_strays(
    conn: &mut AsyncPgConnection,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    report: &mut Verification,
) -> QueryResult<()> {
    let strays: Vec<SeqRow> = diesel::sql_query(
        "SELECT e.seq FROM audit_events e
          WHERE ($1::timestamptz IS NULL OR e.occurred_at >= $1)
            AND ($2::timestamptz IS NULL OR e.occurred_at < $2)
            AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq)
            AND NOT EXISTS (SELECT 1 FROM audit_unsealed u WHERE u.seq = e.seq)
          ORDER BY e.seq LIMIT 1001",
    )
    .bind::<Nullable<Timestamptz>, _>(from)
    .bind::<Nullable<Timestamptz>, _>(to)
    .load(conn)
    .await?;
    for SeqRow { seq } in strays {
        report.problem(
            ProblemKind::Inserted,
            Some(seq),
            None,
            format!(
                "event {seq} is not in the chain: it was not written by the server as it stands"
            ),
        );
    }
    Ok(())
}

#[derive(QueryableByName)]
struct SeqRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> AuditKey {
        AuditKey::new(&[8; 32]).unwrap()
    }

    fn input(detail: &Value) -> MacInput<'_> {
        MacInput {
            occurred_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            actor_type: "user",
            actor_id: Some(Uuid::nil()),
            actor_role: Some("team_lead"),
            on_behalf_of: None,
            purpose: "care_coordination",
            municipality_code: Some("0546"),
            action: "read",
            resource_type: "plan",
            resource_id: Some("abc"),
            family_id: None,
            outcome: "success",
            emergency_access: false,
            request_id: Some("r1"),
            ip: None,
            detail,
        }
    }

    #[test]
    fn the_mac_ignores_key_order_but_not_content() {
        let k = key();
        let a = json!({"a": 1, "b": ["x", {"d": true, "c": null}]});
        let b = json!({"b": ["x", {"c": null, "d": true}], "a": 1});
        assert_eq!(k.row_mac(&input(&a)), k.row_mac(&input(&b)));
        let c = json!({"a": 2, "b": ["x", {"d": true, "c": null}]});
        assert_ne!(k.row_mac(&input(&a)), k.row_mac(&input(&c)));
    }

    #[test]
    fn every_field_counts_and_fields_do_not_run_together() {
        let k = key();
        let detail = json!({});
        let base = k.row_mac(&input(&detail));
        let mut moved = input(&detail);
        // "abc" + "r1" must differ from "ab" + "cr1".
        moved.resource_id = Some("ab");
        moved.request_id = Some("cr1");
        assert_ne!(base, k.row_mac(&moved));
        let mut flagged = input(&detail);
        flagged.emergency_access = true;
        assert_ne!(base, k.row_mac(&flagged));
        let mut later = input(&detail);
        later.occurred_at += chrono::Duration::microseconds(1);
        assert_ne!(base, k.row_mac(&later));
        let mut none = input(&detail);
        none.ip = Some("");
        assert_ne!(base, k.row_mac(&none), "empty and absent differ");
    }

    #[test]
    fn another_key_gives_other_macs_and_links() {
        let other = AuditKey::new(&[9; 32]).unwrap();
        let detail = json!({});
        assert_ne!(
            key().row_mac(&input(&detail)),
            other.row_mac(&input(&detail))
        );
        assert_ne!(
            key().link(&[0; 32], 1, 1, &[1; 32]),
            other.link(&[0; 32], 1, 1, &[1; 32])
        );
        assert_ne!(
            key().link(&[0; 32], 1, 2, &[1; 32]),
            key().link(&[0; 32], 2, 1, &[1; 32])
        );
        assert_ne!(key().fingerprint, other.fingerprint);
    }
}
