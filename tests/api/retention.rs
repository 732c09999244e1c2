//! Retention: dossiers whose last plan closed more than 20 years ago are
//! anonymised once, in full, with an audit event; younger and open ones,
//! and the audit trail, are left alone; a dry run changes nothing.

use chrono::Utc;
use diesel::sql_types::{Date, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use gezinsregie::retention::{self, Options, Summary, PLACEHOLDER};
use serde_json::json;
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;
use crate::referral_world::{key, refer, referral};

fn options(dry_run: bool) -> Options {
    Options {
        dossier_years: 20,
        audit_years: 5,
        // Small batches, so the run crosses a batch boundary.
        batch_size: 1,
        dry_run,
    }
}

async fn run(c: &CareWorld, dry_run: bool) -> Summary {
    let mut conn = c.w.app.conn().await;
    retention::run(&mut conn, &options(dry_run), Utc::now())
        .await
        .unwrap()
}

/// A Leiden family whose one plan (directed by Anna, with care that said
/// why) closed `closed_years_ago` years ago, opened a year before that.
async fn closed_dossier(c: &CareWorld, seed: u64, closed_years_ago: i64) -> (Uuid, Uuid) {
    let (family_id, plan_id, child) = directed_plan(c, seed).await;
    let r = post(
        &c.w.app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        json!({"providerId": c.provider_a, "careFormCode": "ambulant_licht", "memberId": child,
               "status": "active", "reason": "Sanne is angstig op school"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = end(c, &c.w.anna.token, r.id(), "completed").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &c.w.app,
        &format!("/plans/{plan_id}/close"),
        &c.w.lead.token,
        json!({"reason": "Sanne gaat weer naar school", "outcome":
               {"goalRealisation": "achieved", "satisfactionScore": 8, "dropout": false}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    backdate(c, family_id, plan_id, closed_years_ago).await;
    (family_id, plan_id)
}

async fn backdate(c: &CareWorld, family_id: Uuid, plan_id: Uuid, closed_years_ago: i64) {
    let opened = closed_years_ago + 1;
    let app = &c.w.app;
    app.execute(&format!(
        "UPDATE families SET created_at = now() - interval '{opened} years' WHERE id = '{family_id}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE plans SET created_at = now() - interval '{opened} years',
                          closed_at = now() - interval '{closed_years_ago} years'
         WHERE id = '{plan_id}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE director_assignments SET started_at = now() - interval '{opened} years',
                                         ended_at = now() - interval '{closed_years_ago} years'
         WHERE plan_id = '{plan_id}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE referrals SET received_at = now() - interval '{opened} years'
         WHERE family_id = '{family_id}'"
    ))
    .await;
}

#[derive(Debug, PartialEq, QueryableByName)]
struct Member {
    #[diesel(sql_type = Text)]
    given_name: String,
    #[diesel(sql_type = Text)]
    family_name: String,
    #[diesel(sql_type = Text)]
    birth_date: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    has_bsn: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ended: bool,
}

async fn members(c: &CareWorld, family_id: Uuid) -> Vec<Member> {
    diesel::sql_query(
        "SELECT given_name, family_name, birth_date::text AS birth_date,
                bsn_hash IS NOT NULL AS has_bsn, ended_on IS NOT NULL AS ended
         FROM family_members WHERE family_id = $1 ORDER BY role",
    )
    .bind::<SqlUuid, _>(family_id)
    .load(&mut c.w.app.conn().await)
    .await
    .unwrap()
}

#[derive(Debug, PartialEq, QueryableByName)]
struct FamilyState {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    anonymised: bool,
}

async fn family_state(c: &CareWorld, family_id: Uuid) -> FamilyState {
    diesel::sql_query(
        "SELECT name, anonymised_at IS NOT NULL AS anonymised FROM families WHERE id = $1",
    )
    .bind::<SqlUuid, _>(family_id)
    .get_result(&mut c.w.app.conn().await)
    .await
    .unwrap()
}

#[derive(Debug, PartialEq, QueryableByName)]
struct PlanState {
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    goals: String,
    #[diesel(sql_type = Nullable<Text>)]
    close_reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    goal_realisation: Option<String>,
    #[diesel(sql_type = Text)]
    director_reason: String,
    #[diesel(sql_type = Nullable<Text>)]
    involvement_reason: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    started_on: Option<chrono::NaiveDate>,
}

async fn plan_state(c: &CareWorld, plan_id: Uuid) -> PlanState {
    diesel::sql_query(
        "SELECT p.title, p.goals::text AS goals, p.close_reason, p.goal_realisation,
                d.reason AS director_reason, i.reason AS involvement_reason, i.started_on
         FROM plans p JOIN director_assignments d ON d.plan_id = p.id
              JOIN involvements i ON i.plan_id = p.id
         WHERE p.id = $1",
    )
    .bind::<SqlUuid, _>(plan_id)
    .get_result(&mut c.w.app.conn().await)
    .await
    .unwrap()
}

#[actix_web::test]
async fn dossiers_past_twenty_years_are_anonymised_once_and_nothing_else() {
    let c = care_world().await;
    let app = &c.w.app;
    // Closed 21 years ago, with a referral (matched by BSN while the plan
    // was open) naming the child and a parent.
    let (family_id, plan_id, _) = directed_plan(&c, 1).await;
    // The family's own child: a BSN with other details would go to review.
    let mut body = referral(Some(&bsn(1)), "JGT-1");
    body["child"]["givenName"] = json!("Sanne");
    body["child"]["familyName"] = json!("Jansen");
    body["child"]["birthDate"] = json!("2014-03-14");
    let r = refer(app, &c.w.anna.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "matched", "{}", r.body);
    let referral_id = r.id();
    let inv = post(
        app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        json!({"providerId": c.provider_a, "careFormCode": "ambulant_licht",
               "status": "active", "reason": "Sanne is angstig op school"}),
    )
    .await;
    assert_eq!(inv.status, 201, "{}", inv.body);
    assert_eq!(
        end(&c, &c.w.anna.token, inv.id(), "completed").await.status,
        200
    );
    let r = post(
        app,
        &format!("/plans/{plan_id}/close"),
        &c.w.lead.token,
        json!({"reason": "Sanne gaat weer naar school", "outcome":
               {"goalRealisation": "achieved", "satisfactionScore": 8, "dropout": false}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    backdate(&c, family_id, plan_id, 21).await;
    let started_on = plan_state(&c, plan_id).await.started_on;

    // Closed 19 years ago: kept.
    let (young, young_plan) = closed_dossier(&c, 2, 19).await;
    // Closed 21 years ago but with a plan open now: kept.
    let (reopened, _) = closed_dossier(&c, 3, 21).await;
    plan(&c.w, reopened, None).await;
    // Closed 21 years ago and anonymised before: skipped.
    let (done, _) = closed_dossier(&c, 4, 21).await;
    app.execute(&format!(
        "UPDATE families SET anonymised_at = now() - interval '1 year' WHERE id = '{done}'"
    ))
    .await;
    // Registered 21 years ago and never given a plan: anonymised too.
    let planless = family(&c.w, None, Some(&bsn(5))).await;
    app.execute(&format!(
        "UPDATE families SET created_at = now() - interval '21 years' WHERE id = '{planless}'"
    ))
    .await;
    // An audit event older than 5 years (the table refuses UPDATE, so it
    // is inserted with its date).
    app.execute(
        "INSERT INTO audit_events (occurred_at, actor_type, purpose, action, resource_type, outcome)
         VALUES (now() - interval '6 years', 'system', 'care_coordination', 'read', 'family', 'success')",
    )
    .await;
    // A period around the old dossiers' plans (opened 22, closed 21 years ago).
    let from = Utc::now().date_naive() - chrono::Months::new(12 * 22 + 1);
    let old_period = format!(
        "/reports/summary?municipalityCode=0546&from={from}&to={}",
        from + chrono::Months::new(12 * 4)
    );
    let before_report = get(app, &old_period, &c.w.lead.token).await;
    assert_eq!(before_report.status, 200, "{}", before_report.body);
    let kept_members = members(&c, young).await;
    let kept_done = family_state(&c, done).await;

    // Dry run: the selection and its counts, nothing changed.
    let dry = run(&c, true).await;
    // Families: the 21-year dossier and the planless one. Members: 2 + 2
    // (parent and child each). Plans: 1. Referrals: 1.
    assert_eq!(
        (
            dry.families,
            dry.members,
            dry.plans,
            dry.referrals,
            dry.old_audit_events
        ),
        (2, 4, 1, 1, 1),
        "{dry}"
    );
    assert!(dry.dry_run);
    assert!(!family_state(&c, family_id).await.anonymised);
    assert_eq!(members(&c, family_id).await[0].given_name, "Sanne");
    assert!(app.audit_events("anonymise").await.is_empty());

    // The real run: the same counts.
    let done_run = run(&c, false).await;
    assert_eq!(
        (
            done_run.families,
            done_run.members,
            done_run.plans,
            done_run.referrals,
            done_run.old_audit_events
        ),
        (2, 4, 1, 1, 1),
        "{done_run}"
    );

    assert_eq!(
        family_state(&c, family_id).await,
        FamilyState {
            name: PLACEHOLDER.into(),
            anonymised: true
        }
    );
    // Names replaced, BSN gone, birth dates to 1 January, memberships ended.
    assert_eq!(
        members(&c, family_id).await,
        vec![
            Member {
                given_name: PLACEHOLDER.into(),
                family_name: PLACEHOLDER.into(),
                birth_date: "2014-01-01".into(),
                has_bsn: false,
                ended: true,
            },
            Member {
                given_name: PLACEHOLDER.into(),
                family_name: PLACEHOLDER.into(),
                birth_date: "1984-01-01".into(),
                has_bsn: false,
                ended: true,
            },
        ]
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM family_members WHERE family_id = '{family_id}'
               AND bsn_ciphertext IS NOT NULL"
        ))
        .await,
        0
    );
    // Free text cleared; ids, dates and outcomes kept.
    let p = plan_state(&c, plan_id).await;
    assert_eq!(p.title, PLACEHOLDER);
    assert!(!p.goals.contains("Naar school"), "{}", p.goals);
    assert!(p.goals.contains(PLACEHOLDER), "{}", p.goals);
    assert_eq!(p.close_reason.as_deref(), Some(PLACEHOLDER));
    assert_eq!(p.goal_realisation.as_deref(), Some("achieved"));
    assert_eq!(p.director_reason, PLACEHOLDER);
    assert_eq!(p.involvement_reason, None);
    assert_eq!(p.started_on, started_on);
    // The referral: reason and people anonymised, BSN gone, status kept.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM referrals WHERE id = '{referral_id}'
               AND reason = '{PLACEHOLDER}' AND external_reference = '{PLACEHOLDER}'
               AND status = 'matched' AND family_id = '{family_id}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM referral_people WHERE referral_id = '{referral_id}'
               AND (given_name <> '{PLACEHOLDER}' OR family_name <> '{PLACEHOLDER}'
                    OR bsn_hash IS NOT NULL OR extract(doy FROM birth_date) <> 1)"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM referral_people WHERE referral_id = '{referral_id}'"
        ))
        .await,
        2
    );
    // The planless family too.
    assert!(family_state(&c, planless).await.anonymised);
    assert!(members(&c, planless).await.iter().all(|m| !m.has_bsn));

    // The others untouched.
    assert_eq!(members(&c, young).await, kept_members);
    assert_eq!(plan_state(&c, young_plan).await.title, "Gezinsplan");
    assert!(!family_state(&c, young).await.anonymised);
    assert!(!family_state(&c, reopened).await.anonymised);
    assert_eq!(family_state(&c, done).await, kept_done);

    // One audit event per anonymised family, by the system.
    let events = app.audit_events("anonymise").await;
    let mut anonymised: Vec<Uuid> = events.iter().filter_map(|e| e.family_id).collect();
    anonymised.sort();
    let mut want = vec![family_id, planless];
    want.sort();
    assert_eq!(anonymised, want);
    for e in &events {
        assert_eq!(e.actor_type, "system");
        assert_eq!(e.resource_type, "family");
        assert_eq!(e.resource_id, e.family_id.map(|f| f.to_string()));
        assert_eq!(e.municipality_code.as_deref(), Some("0546"));
    }
    // The old audit event is still there.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE occurred_at < now() - interval '5 years'"
        )
        .await,
        1
    );
    // Reports still count the dossier the same way.
    let after_report = get(app, &old_period, &c.w.lead.token).await;
    assert_eq!(after_report.body, before_report.body);

    // A second run finds nothing left to do.
    let again = run(&c, false).await;
    assert_eq!((again.families, again.members, again.plans), (0, 0, 0));
    assert_eq!(app.audit_events("anonymise").await.len(), 2);
}

#[actix_web::test]
async fn the_command_line_runs_retention_and_reports_what_it_did() {
    let c = care_world().await;
    let (family_id, _) = closed_dossier(&c, 7, 21).await;
    let cli = |dry: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"));
        cmd.args(["retention", "run"]);
        if dry {
            cmd.arg("--dry-run");
        }
        // The command writes audit events: with the server's own keys.
        cmd.env("DATABASE_URL", &c.w.app.db_url)
            .envs(crate::helpers::secrets_env())
            .env("GEZINSREGIE__LOG__FILTER", "warn")
            .output()
    };

    let dry = cli(true).await.unwrap();
    let dry_text = String::from_utf8_lossy(&dry.stdout).into_owned();
    let anonymised_after_dry_run = family_state(&c, family_id).await.anonymised;
    let real = cli(false).await.unwrap();
    let real_text = String::from_utf8_lossy(&real.stdout).into_owned();

    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(dry_text.contains("dry run"), "{dry_text}");
    assert!(
        dry_text.contains("families would be anonymised: 1"),
        "{dry_text}"
    );
    assert!(!anonymised_after_dry_run);
    assert!(real.status.success());
    assert!(real_text.contains("families anonymised: 1"), "{real_text}");
    assert!(real_text.contains("members:          2"), "{real_text}");
    assert!(real_text.contains("kept"), "{real_text}");
    assert!(family_state(&c, family_id).await.anonymised);
    println!("{dry_text}\n{real_text}");
}
