//! The invariants of DESIGN section 3 that live in the data, as queries that
//! count violations. PostgreSQL enforces them with indexes, constraints and
//! deferred triggers; these checks look at the stored rows themselves, so
//! they also catch what a bypassed trigger, a restored backup, a bulk load
//! or a crash could have left behind. Tests run them after crashes and
//! concurrent load, and `gezinsregie check-invariants` runs them for scripts.
//!
//! Every check is one query returning one row per violation (a `subject`
//! naming the offending rows). All checks run in one read-only
//! `REPEATABLE READ` transaction, so they judge a single consistent snapshot
//! even while servers keep writing: every invariant is maintained inside
//! the transaction that changes its facts, so a snapshot never shows one
//! half-done.
//!
//! Signals are recomputed from the involvements where the rule depends on
//! facts alone (`many_providers`, `parallel_same_segment`,
//! `multiple_segments`), with the application's fingerprints, so a stale or
//! missing signal is found. The time-based ones (`long_wait`,
//! `intake_without_director`, `yo_yo`) may lag the calendar until the
//! periodic refresh; for them only what no clock can excuse is checked: a
//! stored signal whose facts no longer hold.

use std::fmt;

use diesel::sql_types::{Array, BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::domain::care::Segment;
use crate::domain::signals::Thresholds;

/// Offending rows named per check; the count covers all of them.
const EXAMPLES: i64 = 5;

/// One named invariant check.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable name, used by tests and scripts.
    pub name: &'static str,
    /// What must hold, in one sentence.
    pub invariant: &'static str,
    /// One row per violation, with a text column `subject`.
    sql: String,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub name: &'static str,
    pub invariant: &'static str,
    /// Number of violations found.
    pub violations: i64,
    /// Up to five offending subjects (ids), for a person to look at.
    pub examples: Vec<String>,
}

/// The results of every check, in the order of [`checks`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// Violations found by all checks together.
    pub fn violations(&self) -> i64 {
        self.outcomes.iter().map(|o| o.violations).sum()
    }

    pub fn is_clean(&self) -> bool {
        self.violations() == 0
    }

    /// The checks that found something.
    pub fn failed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.violations > 0)
    }

    /// The outcome of the check called `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.name == name)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .outcomes
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        for o in &self.outcomes {
            let verdict = if o.violations == 0 { "ok  " } else { "FAIL" };
            write!(f, "{verdict}  {:<width$}  {:>8}", o.name, o.violations)?;
            if !o.examples.is_empty() {
                write!(f, "  e.g. {}", o.examples.join(", "))?;
            }
            writeln!(f)?;
        }
        let failed = self.failed().count();
        if failed == 0 {
            write!(f, "all {} invariant checks passed", self.outcomes.len())
        } else {
            write!(
                f,
                "{} violation(s) found by {failed} of {} checks",
                self.violations(),
                self.outcomes.len()
            )
        }
    }
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Array<Text>)]
    examples: Vec<String>,
}

/// Runs every check in one read-only snapshot.
pub async fn check(
    conn: &mut AsyncPgConnection,
    thresholds: &Thresholds,
) -> diesel::QueryResult<Report> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(async |conn| check_within(conn, thresholds).await)
        .await
}

/// Runs every check in the caller's transaction (tests plant violations in
/// a transaction they roll back, and check inside it).
pub async fn check_within(
    conn: &mut AsyncPgConnection,
    thresholds: &Thresholds,
) -> diesel::QueryResult<Report> {
    let mut outcomes = Vec::new();
    for c in checks(thresholds) {
        let counted: Counted = diesel::sql_query(format!(
            "SELECT count(*) AS n,
                    coalesce((array_agg(v.subject ORDER BY v.subject))[1:{EXAMPLES}], '{{}}') AS examples
               FROM ({}) v",
            c.sql
        ))
        .get_result(conn)
        .await?;
        outcomes.push(Outcome {
            name: c.name,
            invariant: c.invariant,
            violations: counted.n,
            examples: counted.examples,
        });
    }
    Ok(Report { outcomes })
}

/// `(VALUES ('local_team', 1::smallint), ..., ('safety', NULL))`: the
/// segment levels of the domain, so SQL and Rust cannot disagree.
fn segment_levels() -> String {
    let rows: Vec<String> = Segment::ALL
        .iter()
        .map(|s| match s.level() {
            Some(level) => format!("('{}', {level}::smallint)", s.as_str()),
            None => format!("('{}', NULL::smallint)", s.as_str()),
        })
        .collect();
    format!("(VALUES {}) AS seg(segment, level)", rows.join(", "))
}

/// Stored signals of `code` on open plans against the expected ones (plan
/// id and facts fingerprint): a plan where they differ either way.
fn signal_current(code: &str, expected: &str) -> String {
    format!(
        "WITH expected AS ({expected}),
              stored AS (SELECT s.plan_id, s.facts FROM plan_signals s
                           JOIN plans p ON p.id = s.plan_id AND p.status <> 'closed'
                          WHERE s.code = '{code}')
         SELECT coalesce(e.plan_id, s.plan_id)::text AS subject
           FROM expected e FULL JOIN stored s ON s.plan_id = e.plan_id
          WHERE e.facts IS DISTINCT FROM s.facts"
    )
}

/// Every check, in a stable order.
pub fn checks(t: &Thresholds) -> Vec<Check> {
    let check = |name, invariant, sql: String| Check {
        name,
        invariant,
        sql,
    };
    vec![
        // ------------------------------------------------ 1 gezin
        check(
            "child_in_one_active_family",
            "A child (by BSN) is an active member of at most one family.",
            "SELECT string_agg(family_id::text, '+' ORDER BY family_id) AS subject
               FROM family_members
              WHERE role = 'child' AND ended_on IS NULL AND bsn_hash IS NOT NULL
              GROUP BY bsn_hash HAVING count(DISTINCT family_id) > 1"
                .into(),
        ),
        check(
            "person_once_per_family",
            "Nobody is an active member of one family twice.",
            "SELECT family_id::text AS subject FROM family_members
              WHERE ended_on IS NULL AND bsn_hash IS NOT NULL
              GROUP BY family_id, bsn_hash HAVING count(*) > 1"
                .into(),
        ),
        // ------------------------------------------------ 1 plan
        check(
            "one_open_plan_per_family",
            "A family has at most one plan that is not closed.",
            "SELECT family_id::text AS subject FROM plans WHERE status <> 'closed'
              GROUP BY family_id HAVING count(*) > 1"
                .into(),
        ),
        // ------------------------------------------------ 1 regisseur
        check(
            "one_current_director_per_plan",
            "A plan has at most one current director assignment.",
            "SELECT plan_id::text AS subject FROM director_assignments WHERE ended_at IS NULL
              GROUP BY plan_id HAVING count(*) > 1"
                .into(),
        ),
        check(
            "active_plan_has_director",
            "Every active plan has a current director.",
            "SELECT p.id::text AS subject FROM plans p
              WHERE p.status = 'active'
                AND NOT EXISTS (SELECT 1 FROM director_assignments d
                                 WHERE d.plan_id = p.id AND d.ended_at IS NULL)"
                .into(),
        ),
        check(
            "director_only_on_active_plan",
            "Only active plans have a current director (none in intake or closed).",
            "SELECT d.id::text AS subject FROM director_assignments d
               LEFT JOIN plans p ON p.id = d.plan_id
              WHERE d.ended_at IS NULL AND (p.id IS NULL OR p.status <> 'active')"
                .into(),
        ),
        check(
            "director_periods_do_not_overlap",
            "The director assignments of one plan never overlap in time.",
            "SELECT a.id::text || '+' || b.id::text AS subject
               FROM director_assignments a
               JOIN director_assignments b ON b.plan_id = a.plan_id AND a.id < b.id
              WHERE tstzrange(a.started_at, a.ended_at, '[)') && tstzrange(b.started_at, b.ended_at, '[)')"
                .into(),
        ),
        // ------------------------------------------------ municipality isolation
        check(
            "family_team_in_municipality",
            "A family's team belongs to the family's municipality.",
            "SELECT f.id::text AS subject FROM families f LEFT JOIN teams t ON t.id = f.team_id
              WHERE t.id IS NULL OR t.municipality_code <> f.municipality_code"
                .into(),
        ),
        check(
            "plan_in_family_municipality",
            "A plan belongs to an existing family and carries that family's municipality.",
            "SELECT p.id::text AS subject FROM plans p LEFT JOIN families f ON f.id = p.family_id
              WHERE f.id IS NULL OR f.municipality_code <> p.municipality_code"
                .into(),
        ),
        check(
            "referral_in_its_family_plan",
            "A referral that landed names a family of its own municipality and a plan of that family.",
            "SELECT r.id::text AS subject FROM referrals r
               LEFT JOIN families f ON f.id = r.family_id
               LEFT JOIN plans p ON p.id = r.plan_id
              WHERE (r.family_id IS NOT NULL
                     AND (f.id IS NULL OR f.municipality_code <> r.municipality_code))
                 OR (r.plan_id IS NOT NULL
                     AND (p.id IS NULL OR p.family_id IS DISTINCT FROM r.family_id))"
                .into(),
        ),
        check(
            "referral_care_waits_until_decided",
            "Care a referral requested waits only for an undecided referral, and never runs while it waits.",
            "SELECT i.id::text AS subject FROM involvements i
               JOIN referrals r ON r.id = i.awaiting_referral_id
              WHERE i.status <> 'ended'
                AND (r.status IN ('accepted', 'declined') OR i.status = 'active')"
                .into(),
        ),
        // ------------------------------------------------ care and derived state
        check(
            "involvement_level_matches_segment",
            "An involvement's level is its segment's level (none for safety).",
            format!(
                "SELECT i.id::text AS subject FROM involvements i
                   LEFT JOIN {} ON seg.segment = i.segment
                  WHERE i.level IS DISTINCT FROM seg.level",
                segment_levels()
            ),
        ),
        check(
            "involvement_in_plan_family",
            "An involvement belongs to its plan's family, and names only a member of it.",
            "SELECT i.id::text AS subject FROM involvements i
               LEFT JOIN plans p ON p.id = i.plan_id
               LEFT JOIN family_members m ON m.id = i.member_id
              WHERE p.id IS NULL OR p.family_id <> i.family_id
                 OR (i.member_id IS NOT NULL AND (m.id IS NULL OR m.family_id <> i.family_id))"
                .into(),
        ),
        check(
            "closed_plan_without_running_care",
            "A closed plan has no requested or active involvements.",
            "SELECT DISTINCT p.id::text AS subject FROM plans p
               JOIN involvements i ON i.plan_id = p.id
              WHERE p.status = 'closed' AND i.status <> 'ended'"
                .into(),
        ),
        check(
            "plan_level_derived",
            "A plan's level and protection measure are what its active involvements give.",
            "SELECT p.id::text AS subject FROM plans p
               LEFT JOIN (SELECT plan_id, max(level) AS level,
                                 bool_or(segment = 'safety') AS protection
                            FROM involvements WHERE status = 'active' GROUP BY plan_id) c
                 ON c.plan_id = p.id
              WHERE p.level <> coalesce(c.level, 0)
                 OR p.protection_measure <> coalesce(c.protection, false)"
                .into(),
        ),
        check(
            "plan_level_follows_scalings",
            "A plan's level is where its latest scaling event ended (0 without any).",
            "SELECT p.id::text AS subject FROM plans p
               LEFT JOIN (SELECT DISTINCT ON (plan_id) plan_id, to_level FROM scaling_events
                           ORDER BY plan_id, occurred_at DESC, id DESC) s ON s.plan_id = p.id
              WHERE p.level <> coalesce(s.to_level, 0)"
                .into(),
        ),
        check(
            "scaling_steps_connect",
            "Each scaling event starts at the level the previous one ended at (the first at 0).",
            "SELECT id::text AS subject FROM (
                 SELECT id, from_level,
                        lag(to_level, 1, 0::smallint)
                            OVER (PARTITION BY plan_id ORDER BY occurred_at, id) AS previous
                   FROM scaling_events) s
              WHERE from_level <> previous"
                .into(),
        ),
        // ------------------------------------------------ signals
        check(
            "signals_only_on_open_plans",
            "Only plans that are not closed carry signals.",
            "SELECT s.plan_id::text || ':' || s.code AS subject FROM plan_signals s
               LEFT JOIN plans p ON p.id = s.plan_id
              WHERE p.id IS NULL OR p.status = 'closed'"
                .into(),
        ),
        check(
            "signal_matches_plan",
            "A signal carries its plan's family and municipality.",
            "SELECT s.plan_id::text || ':' || s.code AS subject FROM plan_signals s
               JOIN plans p ON p.id = s.plan_id
              WHERE s.family_id <> p.family_id OR s.municipality_code <> p.municipality_code"
                .into(),
        ),
        check(
            "signal_many_providers_current",
            "many_providers is raised, with its providers, exactly where enough providers are active.",
            signal_current(
                "many_providers",
                &format!(
                    "SELECT x.plan_id, string_agg(x.provider_id::text, ',' ORDER BY x.provider_id) AS facts
                       FROM (SELECT DISTINCT plan_id, provider_id FROM involvements
                              WHERE status = 'active') x
                       JOIN plans p ON p.id = x.plan_id AND p.status <> 'closed'
                      GROUP BY x.plan_id HAVING count(*) >= {}",
                    t.many_providers
                ),
            ),
        ),
        check(
            "signal_parallel_same_segment_current",
            "parallel_same_segment is raised, with its children and providers, exactly where it holds.",
            signal_current(
                "parallel_same_segment",
                "SELECT e.plan_id, string_agg(e.key, ';' ORDER BY e.key COLLATE \"C\") AS facts
                   FROM (SELECT plan_id,
                                member_id::text || ':' || segment || ':'
                                    || array_to_string(
                                        array_agg(DISTINCT provider_id ORDER BY provider_id), '+')
                                    AS key
                           FROM involvements
                          WHERE status = 'active' AND member_id IS NOT NULL AND segment <> 'safety'
                          GROUP BY plan_id, member_id, segment
                         HAVING count(DISTINCT provider_id) >= 2) e
                   JOIN plans p ON p.id = e.plan_id AND p.status <> 'closed'
                  GROUP BY e.plan_id",
            ),
        ),
        check(
            "signal_multiple_segments_current",
            "multiple_segments is raised, with its children and segments, exactly where it holds.",
            signal_current(
                "multiple_segments",
                "SELECT e.plan_id, string_agg(e.key, ';' ORDER BY e.key COLLATE \"C\") AS facts
                   FROM (SELECT plan_id,
                                member_id::text || ':'
                                    || array_to_string(array_agg(DISTINCT segment COLLATE \"C\"
                                                                 ORDER BY segment COLLATE \"C\"), '+')
                                    AS key
                           FROM involvements
                          WHERE status = 'active' AND member_id IS NOT NULL AND segment <> 'safety'
                          GROUP BY plan_id, member_id
                         HAVING count(DISTINCT segment) >= 2) e
                   JOIN plans p ON p.id = e.plan_id AND p.status <> 'closed'
                  GROUP BY e.plan_id",
            ),
        ),
        check(
            "signal_long_wait_still_waiting",
            "A long_wait signal names only involvements of its plan that are still requested.",
            "SELECT s.plan_id::text AS subject FROM plan_signals s
               JOIN plans p ON p.id = s.plan_id AND p.status <> 'closed'
              WHERE s.code = 'long_wait'
                AND EXISTS (SELECT 1 FROM unnest(string_to_array(s.facts, ',')) AS f(id)
                              LEFT JOIN involvements i
                                ON i.id = CASE WHEN f.id ~ '^[0-9a-f-]{36}$' THEN f.id::uuid END
                               AND i.plan_id = s.plan_id
                             WHERE i.id IS NULL OR i.status <> 'requested')"
                .into(),
        ),
        check(
            "signal_intake_without_director_in_intake",
            "intake_without_director is raised only on plans still in intake.",
            "SELECT s.plan_id::text AS subject FROM plan_signals s
               JOIN plans p ON p.id = s.plan_id AND p.status <> 'closed'
              WHERE s.code = 'intake_without_director' AND p.status <> 'intake'"
                .into(),
        ),
        check(
            "signal_yo_yo_names_a_step",
            "A yo_yo signal names a scaling event of its own plan.",
            "SELECT s.plan_id::text AS subject FROM plan_signals s
               JOIN plans p ON p.id = s.plan_id AND p.status <> 'closed'
              WHERE s.code = 'yo_yo'
                AND NOT EXISTS (SELECT 1 FROM scaling_events e
                                 WHERE e.id = CASE WHEN s.facts ~ '^[0-9a-f-]{36}$'
                                                   THEN s.facts::uuid END
                                   AND e.plan_id = s.plan_id)"
                .into(),
        ),
        // ------------------------------------------------ audit trail
        check(
            "audit_event_has_mac",
            "Every audit event written since tamper evidence exists carries its MAC.",
            "SELECT e.seq::text AS subject FROM audit_events e
              WHERE e.row_mac IS NULL
                AND e.seq > coalesce((SELECT max(max_seq) FROM audit_legacy), 0)"
                .into(),
        ),
        check(
            "audit_event_sealed_or_queued",
            "Every audit event is in the hash chain or queued for it (none bypassed or rejected).",
            "SELECT e.seq::text AS subject FROM audit_events e
              WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq)
                AND NOT EXISTS (SELECT 1 FROM audit_unsealed u WHERE u.seq = e.seq)"
                .into(),
        ),
        check(
            "audit_queue_names_an_event",
            "Every queued seq names an audit event.",
            "SELECT u.seq::text AS subject FROM audit_unsealed u
              WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = u.seq)"
                .into(),
        ),
        check(
            "audit_chain_names_an_event",
            "Every chain entry seals an audit event that still exists (none removed).",
            "SELECT c.position::text AS subject FROM audit_chain c
              WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = c.seq)"
                .into(),
        ),
        check(
            "audit_chain_matches_event",
            "A chain entry holds its event's MAC and time as they are now (none changed).",
            "SELECT c.position::text AS subject FROM audit_chain c
               JOIN audit_events e ON e.seq = c.seq
              WHERE e.occurred_at <> c.occurred_at
                 OR (e.row_mac IS NOT NULL AND e.row_mac <> c.row_mac)"
                .into(),
        ),
        check(
            "audit_chain_without_gaps",
            "Chain positions run 1, 2, 3, ... without gaps.",
            "SELECT position::text AS subject FROM (
                 SELECT position, lag(position, 1, 0::bigint) OVER (ORDER BY position) AS previous
                   FROM audit_chain) c
              WHERE position <> previous + 1"
                .into(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_are_unique_and_snake_case() {
        let checks = checks(&Thresholds::default());
        let mut names: Vec<&str> = checks.iter().map(|c| c.name).collect();
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), checks.len());
    }

    #[test]
    fn segment_levels_cover_every_segment_of_the_domain() {
        let values = segment_levels();
        for s in Segment::ALL {
            assert!(values.contains(&format!("('{}', ", s.as_str())), "{values}");
        }
        assert!(values.contains("('crisis', 7::smallint)"), "{values}");
        assert!(values.contains("('safety', NULL::smallint)"), "{values}");
    }

    #[test]
    fn the_many_providers_threshold_reaches_the_query() {
        let t = Thresholds {
            many_providers: 4,
            ..Thresholds::default()
        };
        let sql = checks(&t)
            .into_iter()
            .find(|c| c.name == "signal_many_providers_current")
            .map(|c| c.sql)
            .unwrap_or_default();
        assert!(sql.contains("HAVING count(*) >= 4"), "{sql}");
    }

    #[test]
    fn a_report_counts_and_names_what_failed() {
        let outcome = |name, violations| Outcome {
            name,
            invariant: "",
            violations,
            examples: vec![],
        };
        let report = Report {
            outcomes: vec![outcome("a_check", 0), outcome("b_check", 2)],
        };
        assert_eq!(report.violations(), 2);
        assert!(!report.is_clean());
        let failed: Vec<&str> = report.failed().map(|o| o.name).collect();
        assert_eq!(failed, vec!["b_check"]);
        let text = report.to_string();
        assert!(text.contains("FAIL  b_check"), "{text}");
        assert!(
            text.contains("2 violation(s) found by 1 of 2 checks"),
            "{text}"
        );
    }
}
