//! Retention (DESIGN "Audit and reports"): a jeugdhulp dossier is kept 20
//! years after the plan closes (Jeugdwet art. 7.3.8) and then anonymised;
//! audit events are kept at least 5 years. `gezinsregie retention run`
//! calls [`run`].
//!
//! Which families: those not anonymised yet, with no open plan, whose last
//! activity lies more than `dossier_years` before now. Last activity is the
//! latest of: the family's registration, any plan closing, any referral
//! received for it. A family without plans is therefore anonymised
//! `dossier_years` after its registration (or its last referral): a
//! registration that never became a plan is no reason to keep personal data
//! longer than a dossier that did.
//!
//! What anonymising does: names of the family, its members and the people
//! named in its referrals become a fixed placeholder; BSNs (ciphertext and
//! keyed hash) are removed; birth dates become 1 January of their year (the
//! columns are NOT NULL, and the year keeps age-group figures possible);
//! memberships still running are ended (the person can no longer be
//! recognised, so must not match new referrals by name and birth date);
//! free text that can hold personal data is cleared or replaced (plan
//! titles, goal descriptions, close and dropout reasons, director and
//! scaling reasons, involvement reasons and end notes, signal notes,
//! referral reasons, decline notes and external references), and stored
//! replays of the referral submissions are dropped. Ids, dates, levels,
//! segments and outcomes stay, so reports keep counting the dossier. The
//! family is marked `anonymised_at`, so a second run skips it.
//!
//! Audit events are never deleted: the trail is append-only (the database
//! refuses it) and the rule is *at least* 5 years; the run only reports how
//! many are older than that. Each anonymised family gets one audit event
//! (`system`, `anonymise`, `family`) in the transaction that anonymises it.
//!
//! Families are handled in batches, each in its own transaction, so a crash
//! leaves no half-anonymised family and a large backlog does not hold locks
//! for long. A dry run makes the same selection in one read-only
//! transaction and changes nothing.

use chrono::{DateTime, Months, Utc};
use diesel::sql_types::{Array, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::config::RetentionSettings;

/// What replaces names and free text.
pub const PLACEHOLDER: &str = "Geanonimiseerd";

/// What a run does.
#[derive(Debug, Clone)]
pub struct Options {
    pub dossier_years: u32,
    pub audit_years: u32,
    /// Families per transaction.
    pub batch_size: i64,
    /// Select and count, change nothing.
    pub dry_run: bool,
}

impl Options {
    pub fn new(settings: &RetentionSettings, dry_run: bool) -> Self {
        Self {
            dossier_years: settings.dossier_years,
            audit_years: settings.audit_years,
            batch_size: settings.batch_size.max(1),
            dry_run,
        }
    }
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub dry_run: bool,
    pub dossier_years: u32,
    pub audit_years: u32,
    /// Dossiers whose last activity is before this are anonymised.
    pub dossier_cutoff: Option<DateTime<Utc>>,
    /// Audit events before this are past their minimum retention.
    pub audit_cutoff: Option<DateTime<Utc>>,
    pub families: i64,
    pub members: i64,
    pub plans: i64,
    pub referrals: i64,
    /// Audit events older than `audit_years`: reported, never deleted.
    pub old_audit_events: i64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = |at: Option<DateTime<Utc>>| {
            at.map(|a| a.date_naive().to_string())
                .unwrap_or_else(|| "?".into())
        };
        let verb = if self.dry_run {
            "would be anonymised"
        } else {
            "anonymised"
        };
        if self.dry_run {
            writeln!(f, "retention run (dry run: nothing was changed)")?;
        } else {
            writeln!(f, "retention run")?;
        }
        writeln!(
            f,
            "  dossiers: last activity before {} ({} years)",
            day(self.dossier_cutoff),
            self.dossier_years
        )?;
        writeln!(f, "  families {verb}: {}", self.families)?;
        writeln!(f, "    members:          {}", self.members)?;
        writeln!(f, "    plans:            {}", self.plans)?;
        writeln!(f, "    referrals:        {}", self.referrals)?;
        write!(
            f,
            "  audit events older than {} years (before {}): {}, kept \
             (the audit trail is append-only; {} years is a minimum)",
            self.audit_years,
            day(self.audit_cutoff),
            self.old_audit_events,
            self.audit_years
        )
    }
}

/// `now` minus `years` calendar years (29 February becomes 28 February).
pub fn cutoff(now: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    municipality_code: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Int8)]
    n: i64,
}

/// Families due for anonymisation after `$2` (keyset: ids above it), at
/// most `$3`; `$1` is the cut-off.
const DUE: &str = "
SELECT f.id, f.municipality_code
FROM families f
WHERE f.anonymised_at IS NULL
  AND ($2::uuid IS NULL OR f.id > $2)
  AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.family_id = f.id AND p.status <> 'closed')
  AND greatest(
        f.created_at,
        (SELECT max(p.closed_at) FROM plans p WHERE p.family_id = f.id),
        (SELECT max(r.received_at) FROM referrals r WHERE r.family_id = f.id)
      ) < $1
ORDER BY f.id
LIMIT $3";

/// The same test for families already chosen, run again after they are
/// locked: a plan opened or a referral matched meanwhile has committed by
/// then (their foreign keys wait for our lock), and this statement's fresh
/// snapshot sees it.
const STILL_DUE: &str = "
SELECT f.id, f.municipality_code
FROM families f
WHERE f.id = ANY($2)
  AND f.anonymised_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.family_id = f.id AND p.status <> 'closed')
  AND greatest(
        f.created_at,
        (SELECT max(p.closed_at) FROM plans p WHERE p.family_id = f.id),
        (SELECT max(r.received_at) FROM referrals r WHERE r.family_id = f.id)
      ) < $1
ORDER BY f.id";

/// Runs retention at `now`.
pub async fn run(
    conn: &mut AsyncPgConnection,
    options: &Options,
    now: DateTime<Utc>,
) -> anyhow::Result<Summary> {
    let dossier_cutoff = cutoff(now, options.dossier_years);
    let audit_cutoff = cutoff(now, options.audit_years);
    let mut summary = Summary {
        dry_run: options.dry_run,
        dossier_years: options.dossier_years,
        audit_years: options.audit_years,
        dossier_cutoff: Some(dossier_cutoff),
        audit_cutoff: Some(audit_cutoff),
        ..Summary::default()
    };
    if options.dry_run {
        let counted = conn
            .build_transaction()
            .read_only()
            .repeatable_read()
            .run(async |conn| count_all(conn, options, dossier_cutoff).await)
            .await?;
        let mut summary = counted.merged_into(summary);
        summary.old_audit_events = old_audit_events(conn, audit_cutoff).await?;
        return Ok(summary);
    }
    let mut after: Option<Uuid> = None;
    loop {
        let batch = conn
            .transaction(async |conn| anonymise_batch(conn, options, dossier_cutoff, after).await)
            .await?;
        let Some(last) = batch.last else {
            break;
        };
        after = Some(last);
        summary.families += batch.families;
        summary.members += batch.members;
        summary.plans += batch.plans;
        summary.referrals += batch.referrals;
    }
    summary.old_audit_events = old_audit_events(conn, audit_cutoff).await?;
    Ok(summary)
}

#[derive(Debug, Default)]
struct Batch {
    /// Last id looked at; none when there was nothing left.
    last: Option<Uuid>,
    families: i64,
    members: i64,
    plans: i64,
    referrals: i64,
}

impl Batch {
    fn merged_into(self, summary: Summary) -> Summary {
        Summary {
            families: self.families,
            members: self.members,
            plans: self.plans,
            referrals: self.referrals,
            ..summary
        }
    }
}

async fn due(
    conn: &mut AsyncPgConnection,
    dossier_cutoff: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
    lock: bool,
) -> diesel::QueryResult<Vec<Due>> {
    let sql = if lock {
        format!("{DUE} FOR UPDATE OF f")
    } else {
        DUE.to_owned()
    };
    diesel::sql_query(sql)
        .bind::<Timestamptz, _>(dossier_cutoff)
        .bind::<Nullable<SqlUuid>, _>(after)
        .bind::<Int8, _>(limit)
        .load(conn)
        .await
}

async fn count(conn: &mut AsyncPgConnection, sql: &str, ids: &[Uuid]) -> diesel::QueryResult<i64> {
    let row: Count = diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(ids)
        .get_result(conn)
        .await?;
    Ok(row.n)
}

const COUNT_MEMBERS: &str = "SELECT count(*) AS n FROM family_members WHERE family_id = ANY($1)";
const COUNT_PLANS: &str = "SELECT count(*) AS n FROM plans WHERE family_id = ANY($1)";
const COUNT_REFERRALS: &str = "SELECT count(*) AS n FROM referrals WHERE family_id = ANY($1)";

/// The dry run: the same selection, counted, nothing changed.
async fn count_all(
    conn: &mut AsyncPgConnection,
    options: &Options,
    dossier_cutoff: DateTime<Utc>,
) -> diesel::QueryResult<Batch> {
    let mut total = Batch::default();
    let mut after = None;
    loop {
        let families = due(conn, dossier_cutoff, after, options.batch_size, false).await?;
        let Some(last) = families.last() else {
            break;
        };
        after = Some(last.id);
        let ids: Vec<Uuid> = families.iter().map(|f| f.id).collect();
        total.families += ids.len() as i64;
        total.members += count(conn, COUNT_MEMBERS, &ids).await?;
        total.plans += count(conn, COUNT_PLANS, &ids).await?;
        total.referrals += count(conn, COUNT_REFERRALS, &ids).await?;
    }
    Ok(total)
}

async fn old_audit_events(
    conn: &mut AsyncPgConnection,
    audit_cutoff: DateTime<Utc>,
) -> diesel::QueryResult<i64> {
    let row: Count =
        diesel::sql_query("SELECT count(*) AS n FROM audit_events WHERE occurred_at < $1")
            .bind::<Timestamptz, _>(audit_cutoff)
            .get_result(conn)
            .await?;
    Ok(row.n)
}

/// Statements that anonymise the families `$1`; each returns how many rows
/// it changed where that is reported.
const ANONYMISE_FAMILIES: &str = "
UPDATE families SET name = $2, anonymised_at = now(), updated_at = now()
WHERE id = ANY($1)";

const ANONYMISE_MEMBERS: &str = "
UPDATE family_members
SET given_name = $2, family_name = $2,
    birth_date = make_date(extract(year FROM birth_date)::int, 1, 1),
    bsn_ciphertext = NULL, bsn_hash = NULL,
    ended_on = coalesce(ended_on, greatest(started_on, current_date)),
    updated_at = now()
WHERE family_id = ANY($1)";

const ANONYMISE_PLANS: &str = "
UPDATE plans
SET title = $2,
    goals = (SELECT coalesce(jsonb_agg(
                 CASE WHEN jsonb_typeof(g) = 'object' AND g ? 'description'
                      THEN jsonb_set(g, '{description}', to_jsonb($2::text))
                      ELSE g END ORDER BY n), '[]'::jsonb)
             FROM jsonb_array_elements(goals) WITH ORDINALITY AS e(g, n)),
    close_reason = CASE WHEN close_reason IS NULL THEN NULL ELSE $2 END,
    dropout_reason = NULL,
    version = version + 1,
    updated_at = now()
WHERE family_id = ANY($1)";

const ANONYMISE_DIRECTORS: &str = "
UPDATE director_assignments SET reason = $2
WHERE plan_id IN (SELECT id FROM plans WHERE family_id = ANY($1))";

const ANONYMISE_SCALINGS: &str = "
UPDATE scaling_events SET reason = $2
WHERE plan_id IN (SELECT id FROM plans WHERE family_id = ANY($1))";

const ANONYMISE_INVOLVEMENTS: &str = "
UPDATE involvements SET reason = NULL, end_note = NULL, updated_at = now()
WHERE family_id = ANY($1)";

const ANONYMISE_SIGNALS: &str = "
UPDATE plan_signals SET note = CASE WHEN note IS NULL THEN NULL ELSE $2 END
WHERE family_id = ANY($1)";

const ANONYMISE_REFERRAL_PEOPLE: &str = "
UPDATE referral_people
SET given_name = $2, family_name = $2,
    birth_date = make_date(extract(year FROM birth_date)::int, 1, 1),
    bsn_ciphertext = NULL, bsn_hash = NULL
WHERE referral_id IN (SELECT id FROM referrals WHERE family_id = ANY($1))";

/// Idempotency replays of the referrals: a user's replay holds the full
/// referral view, and twenty years on no client retries anyway.
const DROP_REFERRAL_REPLAYS: &str = "
DELETE FROM idempotency_keys
WHERE operation = 'createReferral'
  AND response_body ->> 'id' IN (SELECT id::text FROM referrals WHERE family_id = ANY($1))";

const ANONYMISE_REFERRALS: &str = "
UPDATE referrals
SET reason = $2, external_reference = $2,
    decline_note = CASE WHEN decline_note IS NULL THEN NULL ELSE $2 END,
    updated_at = now()
WHERE family_id = ANY($1)";

async fn apply(conn: &mut AsyncPgConnection, sql: &str, ids: &[Uuid]) -> diesel::QueryResult<i64> {
    let n = diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Text, _>(PLACEHOLDER)
        .execute(conn)
        .await?;
    Ok(n as i64)
}

/// One batch, in the caller's transaction: lock the next due families,
/// re-check them, anonymise them and write their audit events.
async fn anonymise_batch(
    conn: &mut AsyncPgConnection,
    options: &Options,
    dossier_cutoff: DateTime<Utc>,
    after: Option<Uuid>,
) -> anyhow::Result<Batch> {
    let locked = due(conn, dossier_cutoff, after, options.batch_size, true).await?;
    let Some(last) = locked.last() else {
        return Ok(Batch::default());
    };
    let last = last.id;
    let locked_ids: Vec<Uuid> = locked.iter().map(|f| f.id).collect();
    let families: Vec<Due> = diesel::sql_query(STILL_DUE)
        .bind::<Timestamptz, _>(dossier_cutoff)
        .bind::<Array<SqlUuid>, _>(&locked_ids)
        .load(conn)
        .await?;
    let ids: Vec<Uuid> = families.iter().map(|f| f.id).collect();
    let mut batch = Batch {
        last: Some(last),
        ..Batch::default()
    };
    if ids.is_empty() {
        return Ok(batch);
    }
    // Replays first: they are found through the referrals' ids.
    apply(conn, DROP_REFERRAL_REPLAYS, &ids).await?;
    batch.families = apply(conn, ANONYMISE_FAMILIES, &ids).await?;
    batch.members = apply(conn, ANONYMISE_MEMBERS, &ids).await?;
    batch.plans = apply(conn, ANONYMISE_PLANS, &ids).await?;
    apply(conn, ANONYMISE_DIRECTORS, &ids).await?;
    apply(conn, ANONYMISE_SCALINGS, &ids).await?;
    apply(conn, ANONYMISE_INVOLVEMENTS, &ids).await?;
    apply(conn, ANONYMISE_SIGNALS, &ids).await?;
    apply(conn, ANONYMISE_REFERRAL_PEOPLE, &ids).await?;
    batch.referrals = apply(conn, ANONYMISE_REFERRALS, &ids).await?;
    for family in &families {
        AuditEvent::system("anonymise", "family", family.id)
            .purpose("retention")
            .family(family.id)
            .municipality(family.municipality_code.clone())
            .detail(json!({
                "reason": "retention_period_expired",
                "dossierYears": options.dossier_years,
                "cutoff": dossier_cutoff,
            }))
            .record(conn)
            .await?;
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_cutoff_is_the_same_moment_so_many_calendar_years_ago() {
        assert_eq!(
            cutoff(at("2026-11-23T10:15:00Z"), 20),
            at("2006-11-23T10:15:00Z")
        );
        assert_eq!(
            cutoff(at("2026-11-23T10:15:00Z"), 5),
            at("2021-11-23T10:15:00Z")
        );
        // A leap day has no counterpart in most years: the day before.
        assert_eq!(
            cutoff(at("2028-02-29T00:00:00Z"), 5),
            at("2023-02-28T00:00:00Z")
        );
        assert_eq!(
            cutoff(at("2028-02-29T00:00:00Z"), 20),
            at("2008-02-29T00:00:00Z")
        );
        assert_eq!(
            cutoff(at("2026-01-01T00:00:00Z"), 0),
            at("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn the_summary_says_what_was_done_and_that_audit_events_are_kept() {
        let summary = Summary {
            dry_run: true,
            dossier_years: 20,
            audit_years: 5,
            dossier_cutoff: Some(at("2006-11-23T10:15:00Z")),
            audit_cutoff: Some(at("2021-11-23T10:15:00Z")),
            families: 2,
            members: 5,
            plans: 3,
            referrals: 1,
            old_audit_events: 7,
        };
        let text = summary.to_string();
        assert!(text.contains("dry run"), "{text}");
        assert!(text.contains("families would be anonymised: 2"), "{text}");
        assert!(text.contains("before 2006-11-23 (20 years)"), "{text}");
        assert!(text.contains("(before 2021-11-23): 7, kept"), "{text}");
    }
}
