//! The bulk generator (`gezinsregie demo --families N`): it writes through
//! every database invariant (a violation would fail its commit), so these
//! tests check what the triggers cannot: the spread of the data, the
//! signals, and that a seed reproduces the data set.

use std::collections::BTreeMap;

use diesel::sql_types::{BigInt, Jsonb, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use gezinsregie::care::{refresh, state};
use gezinsregie::demo::generate::{self, Counts, Options};
use gezinsregie::domain::signals::Thresholds;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{fresh_database, purpose_keys};

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<N>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

#[derive(QueryableByName)]
struct PlanId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct StoredSignal {
    #[diesel(sql_type = SqlUuid)]
    plan_id: Uuid,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    facts: String,
    #[diesel(sql_type = Jsonb)]
    detail: Value,
}

/// A fresh database with the demo data loaded.
async fn demo_database() -> AsyncPgConnection {
    let url = fresh_database().await;
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
    gezinsregie::demo::load_if_absent(&mut conn, &purpose_keys())
        .await
        .expect("demo data");
    conn
}

/// Generates in batches smaller than the run, so batch boundaries are crossed.
async fn generate(conn: &mut AsyncPgConnection, families: u64, seed: i64) -> Counts {
    let options = Options {
        batch_size: 120,
        ..Options::new(families, seed)
    };
    let mut batches = 0;
    let summary = generate::run(conn, &options, |_| batches += 1)
        .await
        .expect("generating families");
    assert_eq!(batches, families.div_ceil(120));
    summary.counts
}

#[actix_web::test]
async fn generating_families_adds_them_with_plans_care_and_signals() {
    let mut conn = demo_database().await;
    let before = generate::counts(&mut conn).await.expect("counts");
    let families_before = count(&mut conn, "SELECT count(*) AS n FROM families").await;
    let with_bsn_before = count(
        &mut conn,
        "SELECT count(*) AS n FROM family_members WHERE bsn_hash IS NOT NULL",
    )
    .await;

    generate(&mut conn, 300, 7).await;

    let families_after = count(&mut conn, "SELECT count(*) AS n FROM families").await;
    assert_eq!(families_after, families_before + 300);
    // Generated members carry no BSN.
    let with_bsn_after = count(
        &mut conn,
        "SELECT count(*) AS n FROM family_members WHERE bsn_hash IS NOT NULL OR bsn_ciphertext IS NOT NULL",
    )
    .await;
    assert_eq!(with_bsn_after, with_bsn_before);
    // About 60% in Leiden, and some in every other municipality with a team.
    let leiden = count(
        &mut conn,
        "SELECT count(*) AS n FROM families WHERE municipality_code = '0546'",
    )
    .await;
    assert!((150..=230).contains(&leiden), "{leiden} Leiden families");
    let municipalities_without = count(
        &mut conn,
        "SELECT count(*) AS n FROM municipalities m
         WHERE EXISTS (SELECT 1 FROM teams t WHERE t.municipality_code = m.code)
           AND (SELECT count(*) FROM families f WHERE f.municipality_code = m.code) < 20",
    )
    .await;
    assert_eq!(municipalities_without, 0);

    // Plans at every stage, care in every state, handovers and dropouts:
    // more of each than the demo data had.
    let after = generate::counts(&mut conn).await.expect("counts");
    for status in ["intake", "active", "closed"] {
        let grew = after.plans_by_status.get(status) > before.plans_by_status.get(status);
        assert!(grew, "no new {status} plans: {after:?}");
    }
    for status in ["requested", "active", "ended"] {
        let grew =
            after.involvements_by_status.get(status) > before.involvements_by_status.get(status);
        assert!(grew, "no new {status} involvements: {after:?}");
    }
    let handovers = count(
        &mut conn,
        "SELECT count(*) AS n FROM (SELECT plan_id FROM director_assignments
                                    GROUP BY plan_id HAVING count(*) >= 2) x",
    )
    .await;
    assert!(handovers > 0, "no director handovers");
    let dropouts = count(
        &mut conn,
        "SELECT count(*) AS n FROM plans p WHERE p.dropout AND EXISTS (
             SELECT 1 FROM involvements i WHERE i.plan_id = p.id
             AND i.end_reason IN ('stopped_by_client', 'stopped_by_provider', 'stopped_external'))",
    )
    .await;
    assert!(dropouts > 0, "no closed plan ended in dropout");

    // Signals: the ones the benchmark and the lists need are there, and only
    // on open plans.
    for code in [
        "many_providers",
        "long_wait",
        "intake_without_director",
        "yo_yo",
    ] {
        let n = count(
            &mut conn,
            &format!("SELECT count(*) AS n FROM plan_signals WHERE code = '{code}'"),
        )
        .await;
        assert!(n > 0, "no {code} signal");
    }
    let on_closed_plans = count(
        &mut conn,
        "SELECT count(*) AS n FROM plan_signals s JOIN plans p ON p.id = s.plan_id
         WHERE p.status = 'closed' OR p.municipality_code <> s.municipality_code",
    )
    .await;
    assert_eq!(on_closed_plans, 0);
    // many_providers agrees with the involvements as stored: the same plans,
    // with the sorted provider ids as facts.
    let plans_with_three = count(
        &mut conn,
        "SELECT count(*) AS n FROM (
             SELECT plan_id FROM involvements WHERE status = 'active'
             GROUP BY plan_id HAVING count(DISTINCT provider_id) >= 3) x",
    )
    .await;
    let many = count(
        &mut conn,
        "SELECT count(*) AS n FROM plan_signals s WHERE s.code = 'many_providers' AND s.facts = (
             SELECT string_agg(provider_id::text, ',' ORDER BY provider_id)
             FROM (SELECT DISTINCT provider_id FROM involvements
                   WHERE plan_id = s.plan_id AND status = 'active') d)",
    )
    .await;
    assert_eq!(many, plans_with_three);
    // The generator's hash gives every (row, key) pair its own value: ids
    // and draws of different families never coincide by construction.
    let distinct = count(
        &mut conn,
        "SELECT count(DISTINCT pg_temp.gz_h(n, k)) AS n
         FROM generate_series(1, 2000) AS n, generate_series(0, 300) AS k",
    )
    .await;
    assert_eq!(distinct, 2000 * 301);
    // Every open plan's scaling history chains and ends at its level.
    let broken_chains = count(
        &mut conn,
        "SELECT count(*) AS n FROM (
             SELECT from_level, lag(to_level, 1, 0::smallint) OVER (PARTITION BY plan_id ORDER BY occurred_at, id) AS prev
             FROM scaling_events) x
         WHERE from_level <> prev",
    )
    .await;
    assert_eq!(broken_chains, 0);
}

#[actix_web::test]
async fn the_same_seed_gives_the_same_data_set() {
    let mut first = demo_database().await;
    let mut second = demo_database().await;
    let mut third = demo_database().await;

    let a = generate(&mut first, 300, 11).await;
    let b = generate(&mut second, 300, 11).await;
    let c = generate(&mut third, 300, 12).await;

    assert_eq!(a, b);
    assert_ne!(a, c, "another seed should give another data set");
}

#[actix_web::test]
async fn generated_signals_are_exactly_what_the_application_computes() {
    let mut conn = demo_database().await;
    generate(&mut conn, 300, 7).await;
    let thresholds = Thresholds::default();

    let open: Vec<PlanId> = diesel::sql_query("SELECT id FROM plans WHERE status <> 'closed'")
        .load(&mut conn)
        .await
        .expect("open plans");
    let rows: Vec<StoredSignal> =
        diesel::sql_query("SELECT plan_id, code, facts, detail FROM plan_signals")
            .load(&mut conn)
            .await
            .expect("signals");
    let mut stored: BTreeMap<Uuid, BTreeMap<String, (String, Value)>> = BTreeMap::new();
    for r in rows {
        stored
            .entry(r.plan_id)
            .or_default()
            .insert(r.code, (r.facts, r.detail));
    }
    let mut signalled = 0;
    for PlanId { id } in &open {
        let (_, _, findings) =
            state::evaluate_plan(&conn, &thresholds, (*id).into(), chrono::Utc::now())
                .await
                .expect("evaluating a plan");
        let expected: BTreeMap<String, (String, Value)> = findings
            .into_iter()
            .map(|f| (f.code.as_str().to_owned(), (f.facts, f.detail)))
            .collect();
        signalled += usize::from(!expected.is_empty());
        assert_eq!(
            stored.remove(id).unwrap_or_default(),
            expected,
            "signals of plan {id}"
        );
    }
    assert!(signalled > 20, "only {signalled} plans with signals");
    assert!(stored.is_empty(), "signals of plans not open: {stored:?}");
    // Nothing for the server's periodic refresh to catch up on.
    let due = refresh::due_plans(&mut conn, &thresholds)
        .await
        .expect("due plans");
    assert!(due.is_empty(), "{} plans due for a refresh", due.len());
}
