//! The library's invariant checks (`gezinsregie::db::invariants`, also the
//! `check-invariants` command): silent on data the server wrote, and each
//! one loud on the violation it exists for. Violations are planted as the
//! superuser with `session_replication_role = replica`, which switches off
//! triggers (the deferred invariant triggers and the foreign keys); the
//! invariants held by unique indexes and exclusion constraints need the
//! index dropped first. Each plant runs in a transaction that is rolled
//! back, so one world serves every case.

use std::collections::BTreeSet;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use gezinsregie::db::invariants::{self, Report};
use gezinsregie::domain::signals::Thresholds;
use serde_json::json;
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;
use crate::helpers::{fresh_database, purpose_keys};

/// Runs the checks on `url` and returns the report.
pub async fn check_invariants(url: &str) -> Report {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    invariants::check(&mut conn, &Thresholds::default())
        .await
        .expect("invariant checks run")
}

/// Fails with the whole report when any check found a violation.
pub async fn assert_invariants_clean(url: &str) {
    let report = check_invariants(url).await;
    assert!(report.is_clean(), "invariant violations:\n{report}");
}

/// A world with the derived state in all its forms: plans in intake, active
/// (after a handover) and closed; care requested, active and ended; every
/// fact-based signal, a long wait and a yo-yo; sealed audit events.
struct World {
    c: CareWorld,
    p1: Uuid,
    i1: Uuid,
    i2: Uuid,
    f2: Uuid,
    p2: Uuid,
    child2: Uuid,
    f3: Uuid,
    p3: Uuid,
    p4: Uuid,
}

async fn world() -> World {
    let c = care_world().await;
    // An active plan with care for the child and a handover.
    let (_, p1, child1) = directed_plan(&c, 1).await;
    let i1 = involve(
        &c,
        p1,
        c.provider_a,
        "ambulant_licht",
        Some(child1),
        "active",
    )
    .await;
    let i2 = involve(&c, p1, c.provider_b, "dyslexiezorg", None, "requested").await;
    let r = handover(&c.w, p1, &c.w.lead.token, c.w.bram.id()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A plan in intake.
    let f2 = family(&c.w, None, Some(&bsn(2))).await;
    let p2 = plan(&c.w, f2, None).await.id();
    let child2 = child_of(&c, f2).await;
    // A closed plan.
    let (f3, p3, _) = directed_plan(&c, 3).await;
    close(&c, p3).await;
    // Stacked care for one child: many providers, two in one segment, two
    // segments; a request waiting 60 days.
    let (_, p4, child4) = directed_plan(&c, 4).await;
    involve(
        &c,
        p4,
        c.provider_a,
        "ambulant_licht",
        Some(child4),
        "active",
    )
    .await;
    involve(
        &c,
        p4,
        c.provider_b,
        "jeugd_ggz_basis",
        Some(child4),
        "active",
    )
    .await;
    involve(&c, p4, c.provider_c, "pleegzorg", Some(child4), "active").await;
    let waiting = (chrono::Utc::now().date_naive() - chrono::Duration::days(60)).to_string();
    let mut body = involvement_body(c.provider_d, "dagbehandeling", None, "requested");
    body["requestedOn"] = json!(waiting);
    let r = post(
        &c.w.app,
        &format!("/plans/{p4}/involvements"),
        &c.w.anna.token,
        body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Up, down, up, down: a yo-yo.
    let (_, p5, _) = directed_plan(&c, 5).await;
    for _ in 0..2 {
        let i = involve(&c, p5, c.provider_a, "crisisopvang", None, "active").await;
        let r = end(&c, &c.w.anna.token, i, "completed").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let signals: Vec<String> = [p4, p5]
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>();
    let raised =
        c.w.app
            .count(&format!(
                "SELECT count(DISTINCT code) AS n FROM plan_signals WHERE plan_id IN ({})",
                signals.join(",")
            ))
            .await;
    assert_eq!(
        raised, 5,
        "many_providers, parallel_same_segment, multiple_segments, long_wait, yo_yo"
    );
    // Everything sealed, so the sealer has nothing to do while cases run.
    let mut conn = c.w.app.conn().await;
    gezinsregie::audit::chain::seal_all(&mut conn)
        .await
        .unwrap();
    World {
        c,
        p1,
        i1,
        i2,
        f2,
        p2,
        child2,
        f3,
        p3,
        p4,
    }
}

async fn close(c: &CareWorld, plan_id: Uuid) {
    let r = post(
        &c.w.app,
        &format!("/plans/{plan_id}/close"),
        &c.w.lead.token,
        json!({"reason": "Doelen bereikt", "outcome": {"goalRealisation": "achieved", "dropout": false}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Plants `sql` in a transaction, checks inside it, rolls back.
async fn planted(conn: &mut AsyncPgConnection, sql: &str) -> Report {
    conn.batch_execute(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL session_replication_role = replica",
    )
    .await
    .unwrap();
    if let Err(e) = conn.batch_execute(sql).await {
        conn.batch_execute("ROLLBACK").await.unwrap();
        panic!("planting failed: {e}\n{sql}");
    }
    let report = invariants::check_within(conn, &Thresholds::default()).await;
    conn.batch_execute("ROLLBACK").await.unwrap();
    report.expect("checks run")
}

#[actix_web::test]
async fn data_written_through_the_api_passes_every_invariant_check() {
    let w = world().await;

    let report = check_invariants(&w.c.w.app.db_url).await;

    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.outcomes.len(),
        invariants::checks(&Thresholds::default()).len()
    );
}

#[actix_web::test]
async fn every_invariant_check_names_the_violation_planted_for_it() {
    let w = world().await;
    let (p1, p2, p3, p4, i1, i2, f2, f3) = (w.p1, w.p2, w.p3, w.p4, w.i1, w.i2, w.f2, w.f3);
    let child2 = w.child2;
    let bram = w.c.w.bram.id();
    let lead = w.c.w.lead.id();
    let katwijk_team = w.c.w.katwijk_team;
    let provider = w.c.provider_a;
    let mac = format!("'\\x{}'::bytea", "ab".repeat(32));
    let signal = |plan: Uuid, code: &str, facts: &str| {
        format!(
            "INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts)
             SELECT id, '{code}', family_id, municipality_code, 'open', '{facts}' FROM plans WHERE id = '{plan}'"
        )
    };
    // (check(s) expected to fire, a subject they must name, the plant)
    let cases: Vec<(&[&str], String, String)> = vec![
        (
            &["child_in_one_active_family"],
            f2.to_string(),
            format!(
                "DROP INDEX family_members_one_active_family_per_child;
                 INSERT INTO family_members (id, family_id, role, given_name, family_name, birth_date, bsn_ciphertext, bsn_hash)
                 SELECT gen_random_uuid(), '{f2}', 'child', 'X', 'Y', '2015-01-01', bsn_ciphertext, bsn_hash
                   FROM family_members WHERE family_id = (SELECT family_id FROM plans WHERE id = '{p1}') AND role = 'child'"
            ),
        ),
        (
            &["person_once_per_family"],
            f2.to_string(),
            format!(
                "DROP INDEX family_members_one_active_family_per_child;
                 DROP INDEX family_members_once_per_family;
                 INSERT INTO family_members (id, family_id, role, given_name, family_name, birth_date, bsn_ciphertext, bsn_hash)
                 SELECT gen_random_uuid(), family_id, 'child', 'X', 'Y', '2015-01-01', bsn_ciphertext, bsn_hash
                   FROM family_members WHERE id = '{child2}'"
            ),
        ),
        (
            &["one_open_plan_per_family"],
            f3.to_string(),
            format!(
                "DROP INDEX plans_one_open_plan_per_family;
                 INSERT INTO plans (id, family_id, municipality_code, status, title)
                 SELECT gen_random_uuid(), family_id, municipality_code, 'intake', 'Tweede' FROM plans WHERE id = '{p3}';
                 INSERT INTO plans (id, family_id, municipality_code, status, title)
                 SELECT gen_random_uuid(), family_id, municipality_code, 'intake', 'Derde' FROM plans WHERE id = '{p3}'"
            ),
        ),
        (
            &["one_current_director_per_plan", "director_periods_do_not_overlap"],
            p1.to_string(),
            format!(
                "DROP INDEX director_assignments_one_current_per_plan;
                 ALTER TABLE director_assignments DROP CONSTRAINT director_assignments_no_overlap;
                 INSERT INTO director_assignments (id, plan_id, user_id, started_at, reason)
                 VALUES (gen_random_uuid(), '{p1}', '{lead}', now() + interval '1 hour', 'x')"
            ),
        ),
        (
            &["active_plan_has_director"],
            p1.to_string(),
            format!(
                "UPDATE director_assignments SET ended_at = now() + interval '1 second'
                  WHERE plan_id = '{p1}' AND ended_at IS NULL"
            ),
        ),
        (
            &["director_only_on_active_plan"],
            String::new(),
            format!(
                "INSERT INTO director_assignments (id, plan_id, user_id, started_at, reason)
                 VALUES (gen_random_uuid(), '{p2}', '{bram}', now(), 'x')"
            ),
        ),
        (
            &["director_periods_do_not_overlap"],
            String::new(),
            format!(
                "ALTER TABLE director_assignments DROP CONSTRAINT director_assignments_no_overlap;
                 INSERT INTO director_assignments (id, plan_id, user_id, started_at, ended_at, reason)
                 SELECT gen_random_uuid(), plan_id, user_id, started_at, ended_at, reason
                   FROM director_assignments WHERE plan_id = '{p1}' AND ended_at IS NOT NULL"
            ),
        ),
        (
            &["family_team_in_municipality"],
            f2.to_string(),
            format!("UPDATE families SET team_id = '{katwijk_team}' WHERE id = '{f2}'"),
        ),
        (
            &["plan_in_family_municipality"],
            p2.to_string(),
            format!("UPDATE plans SET municipality_code = '0537' WHERE id = '{p2}'"),
        ),
        (
            &["referral_in_its_family_plan"],
            String::new(),
            format!(
                "INSERT INTO referrals (id, municipality_code, submitted_by, external_reference, referrer_type,
                                        reason, urgency, status, family_id, plan_id)
                 VALUES (gen_random_uuid(), '0546', '{lead}', 'X-1', '06', 'Zorgen', 'regular', 'matched',
                         '{f2}', '{p1}')"
            ),
        ),
        (
            &["referral_care_waits_until_decided"],
            i2.to_string(),
            format!(
                "WITH r AS (
                     INSERT INTO referrals (id, municipality_code, submitted_by, external_reference,
                                            referrer_type, reason, urgency, status,
                                            decline_reason_code, decided_at)
                     VALUES (gen_random_uuid(), '0546', '{lead}', 'X-2', '06', 'Zorgen', 'regular',
                             'declined', '7', now())
                     RETURNING id)
                 UPDATE involvements SET awaiting_referral_id = (SELECT id FROM r)
                  WHERE id = '{i2}'"
            ),
        ),
        (
            &["involvement_level_matches_segment"],
            i2.to_string(),
            format!("UPDATE involvements SET level = 5 WHERE id = '{i2}'"),
        ),
        (
            &["involvement_in_plan_family"],
            i2.to_string(),
            format!("UPDATE involvements SET member_id = '{child2}' WHERE id = '{i2}'"),
        ),
        (
            &["closed_plan_without_running_care"],
            p3.to_string(),
            format!(
                "INSERT INTO involvements (id, plan_id, family_id, provider_id, care_form_code, segment, level,
                                           product_category, status, requested_on)
                 VALUES (gen_random_uuid(), '{p3}', '{f3}', '{provider}', 'ambulant_licht', 'ambulant', 3,
                         '45', 'requested', current_date)"
            ),
        ),
        (
            &["plan_level_derived"],
            p1.to_string(),
            format!(
                "UPDATE involvements SET status = 'ended', ended_on = current_date, end_reason = 'completed'
                  WHERE id = '{i1}'"
            ),
        ),
        (
            &["plan_level_follows_scalings"],
            p1.to_string(),
            format!(
                "INSERT INTO scaling_events (id, plan_id, occurred_at, from_level, to_level, direction, reason, involvement_ids)
                 VALUES (gen_random_uuid(), '{p1}', clock_timestamp(), 3, 5, 'up', 'x', '{{}}')"
            ),
        ),
        (
            &["scaling_steps_connect"],
            String::new(),
            format!("UPDATE scaling_events SET from_level = 1 WHERE plan_id = '{p1}'"),
        ),
        (
            &["signals_only_on_open_plans"],
            p3.to_string(),
            signal(p3, "many_providers", "x"),
        ),
        (
            &["signal_matches_plan"],
            p4.to_string(),
            format!("UPDATE plan_signals SET municipality_code = '0537' WHERE plan_id = '{p4}' AND code = 'many_providers'"),
        ),
        (
            &["signal_many_providers_current"],
            p4.to_string(),
            format!("DELETE FROM plan_signals WHERE plan_id = '{p4}' AND code = 'many_providers'"),
        ),
        (
            &["signal_parallel_same_segment_current"],
            p4.to_string(),
            format!(
                "UPDATE plan_signals SET facts = facts || ';x' WHERE plan_id = '{p4}' AND code = 'parallel_same_segment'"
            ),
        ),
        (
            &["signal_multiple_segments_current"],
            p1.to_string(),
            signal(p1, "multiple_segments", "x"),
        ),
        (
            &["signal_long_wait_still_waiting"],
            p1.to_string(),
            signal(p1, "long_wait", &i1.to_string()),
        ),
        (
            &["signal_intake_without_director_in_intake"],
            p1.to_string(),
            signal(p1, "intake_without_director", "intake"),
        ),
        (
            &["signal_yo_yo_names_a_step"],
            p1.to_string(),
            signal(p1, "yo_yo", &Uuid::new_v4().to_string()),
        ),
        (
            &["audit_event_has_mac"],
            String::new(),
            "UPDATE audit_events SET row_mac = NULL WHERE seq = (SELECT max(seq) FROM audit_events)".into(),
        ),
        (
            &["audit_event_sealed_or_queued"],
            String::new(),
            format!(
                "INSERT INTO audit_events (occurred_at, actor_type, purpose, action, resource_type, outcome, row_mac)
                 VALUES (now(), 'system', 'x', 'create', 'family', 'success', {mac})"
            ),
        ),
        (
            &["audit_queue_names_an_event"],
            "999999999".into(),
            "INSERT INTO audit_unsealed (seq) VALUES (999999999)".into(),
        ),
        (
            &["audit_chain_names_an_event"],
            String::new(),
            format!(
                "INSERT INTO audit_chain (position, seq, occurred_at, row_mac, link)
                 SELECT max(position) + 1, 999999999, now(), {mac}, {mac} FROM audit_chain"
            ),
        ),
        (
            &["audit_chain_matches_event"],
            String::new(),
            format!("UPDATE audit_events SET row_mac = {mac} WHERE seq = (SELECT min(seq) FROM audit_chain)"),
        ),
        (
            &["audit_chain_without_gaps", "audit_event_sealed_or_queued"],
            "3".into(),
            "DELETE FROM audit_chain WHERE position = 2".into(),
        ),
    ];
    let all: BTreeSet<&str> = invariants::checks(&Thresholds::default())
        .iter()
        .map(|c| c.name)
        .collect();
    let covered: BTreeSet<&str> = cases
        .iter()
        .flat_map(|(names, _, _)| names.iter().copied())
        .collect();
    assert_eq!(
        all.difference(&covered).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "every check has a planted violation"
    );

    let mut conn = w.c.w.app.conn().await;
    for (expected, subject, sql) in &cases {
        let report = planted(&mut conn, sql).await;

        for outcome in &report.outcomes {
            let fired = outcome.violations > 0;
            assert_eq!(
                fired,
                expected.contains(&outcome.name),
                "planting for {expected:?}, {} reported {}:\n{report}",
                outcome.name,
                outcome.violations
            );
        }
        let first = report.outcome(expected[0]).unwrap();
        assert!(
            first.examples.iter().any(|e| e.contains(subject.as_str())),
            "{} names {subject}: {:?}",
            first.name,
            first.examples
        );
    }
    // Nothing planted stayed behind.
    assert_invariants_clean(&w.c.w.app.db_url).await;
}

#[actix_web::test]
async fn generated_data_passes_every_invariant_check() {
    let url = fresh_database().await;
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    gezinsregie::demo::load_if_absent(&mut conn, &purpose_keys())
        .await
        .unwrap();

    gezinsregie::demo::generate::run(
        &mut conn,
        &gezinsregie::demo::generate::Options::new(250, 3),
        |_| {},
    )
    .await
    .unwrap();

    assert_invariants_clean(&url).await;
}

/// `gezinsregie check-invariants` on `url`: (exit code, stdout).
async fn check_command(url: &str) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"))
        .arg("check-invariants")
        .env("DATABASE_URL", url)
        .env("GEZINSREGIE__LOG__FILTER", "warn")
        .output()
        .await
        .expect("running check-invariants");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[actix_web::test]
async fn the_check_invariants_command_prints_every_check_and_fails_on_a_violation() {
    let url = fresh_database().await;

    let (clean_code, clean) = check_command(&url).await;
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("INSERT INTO audit_unsealed (seq) VALUES (424242)")
        .execute(&mut conn)
        .await
        .unwrap();
    let (dirty_code, dirty) = check_command(&url).await;

    assert_eq!(clean_code, Some(0), "{clean}");
    for check in invariants::checks(&Thresholds::default()) {
        assert!(clean.contains(check.name), "{clean}");
    }
    assert!(clean.contains("invariant checks passed"), "{clean}");
    assert_eq!(dirty_code, Some(1), "{dirty}");
    assert!(
        dirty.lines().any(|l| l.starts_with("FAIL")
            && l.contains("audit_queue_names_an_event")
            && l.contains("424242")),
        "{dirty}"
    );
}
