//! The summary report: a hand-made Leiden with every figure worked out by
//! hand, small counts suppressed, and who may ask for it.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;

fn shown(n: i64) -> Value {
    json!({"value": n, "suppressed": false})
}

fn number(x: f64) -> Value {
    json!({"value": x, "suppressed": false})
}

fn hidden() -> Value {
    json!({"value": null, "suppressed": true})
}

fn no_cases() -> Value {
    json!({"value": null, "suppressed": false})
}

fn day(days_ago: i64) -> String {
    (Utc::now().date_naive() - Duration::days(days_ago)).to_string()
}

fn summary_path(municipality: &str, from: &str, to: &str) -> String {
    format!("/reports/summary?municipalityCode={municipality}&from={from}&to={to}")
}

/// A plan opened in intake `days` days ago (backdated), then given Anna as
/// director today.
async fn plan_directed_after(c: &CareWorld, days: i64) -> Uuid {
    let family_id = family(&c.w, None, None).await;
    let plan_id = plan(&c.w, family_id, None).await.id();
    c.w.app
        .execute(&format!(
            "UPDATE plans SET created_at = now() - interval '{days} days' WHERE id = '{plan_id}'"
        ))
        .await;
    let r = handover(&c.w, plan_id, &c.w.lead.token, c.w.anna.id()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    plan_id
}

/// Active care of `provider` started 5 days ago after waiting `wait` days.
async fn care(c: &CareWorld, plan_id: Uuid, provider: Uuid, form: &str, wait: i64) -> Uuid {
    let r = post(
        &c.w.app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        json!({"providerId": provider, "careFormCode": form, "status": "active",
               "requestedOn": day(5 + wait), "startedOn": day(5)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.id()
}

async fn close(c: &CareWorld, token: &str, plan_id: Uuid, outcome: Value) {
    let r = post(
        &c.w.app,
        &format!("/plans/{plan_id}/close"),
        token,
        json!({"reason": "Afgerond", "outcome": outcome}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// An intake plan of a new Leiden family, closed today with `outcome`.
async fn closed_plan(c: &CareWorld, outcome: Value) -> (Uuid, Uuid) {
    let family_id = family(&c.w, None, None).await;
    let plan_id = plan(&c.w, family_id, None).await.id();
    close(c, &c.w.lead.token, plan_id, outcome).await;
    (family_id, plan_id)
}

#[actix_web::test]
async fn the_summary_counts_a_hand_made_municipality_and_suppresses_small_cells() {
    let c = care_world().await;
    let (a, b, cc, d) = (c.provider_a, c.provider_b, c.provider_c, c.provider_d);

    // Five active plans. Days from opening to the first director: 2, 3, 0,
    // 4, 10 (A3 was opened with its director).
    let a1 = plan_directed_after(&c, 2).await;
    let a2 = plan_directed_after(&c, 3).await;
    let f3 = family(&c.w, None, None).await;
    let a3 = plan(&c.w, f3, Some(c.w.anna.id())).await.id();
    let a4 = plan_directed_after(&c, 4).await;
    let _a5 = plan_directed_after(&c, 10).await;

    // Care, each started 5 days ago, waits in days as the last argument.
    care(&c, a1, a, "ambulant_licht", 10).await; // up 0 -> 3 (moved out of the period below)
    care(&c, a1, b, "jeugd_ggz_basis", 20).await; // level stays 3
    care(&c, a1, cc, "dagbehandeling", 7).await; // up 3 -> 4
    care(&c, a2, a, "ambulant_licht", 30).await; // up 0 -> 3
    care(&c, a2, b, "jgt_ondersteuning", 3).await; // level stays 3
    let a3_b = care(&c, a3, b, "ambulant_intensief", 40).await; // up 0 -> 3
    care(&c, a4, d, "ambulant_licht", 14).await; // up 0 -> 3
                                                 // A3 steps up: B's care ends (transferred) and C's foster care starts
                                                 // today (requested today: wait 0): one event up 3 -> 5.
    let r = post(
        &c.w.app,
        &format!("/plans/{a3}/scalings"),
        &c.w.anna.token,
        json!({"reason": "Thuis gaat het niet meer",
               "end": [{"involvementId": a3_b, "endReason": "transferred"}],
               "start": [{"providerId": cc, "careFormCode": "pleegzorg"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A1's first step up happened long before the period.
    c.w.app
        .execute(&format!(
            "UPDATE scaling_events SET occurred_at = now() - interval '100 days'
             WHERE id = (SELECT id FROM scaling_events WHERE plan_id = '{a1}'
                         ORDER BY occurred_at, id LIMIT 1)"
        ))
        .await;

    // Seven plans closed today (all in intake, so no director figures):
    // goals 5 achieved, 2 partially; dropouts 3 (C5, C6, C7); scores 6, 7,
    // 8, 8, 9 on C1..C5.
    let mut families_c1 = None;
    for (goal, score, dropout) in [
        ("achieved", Some(6), false),
        ("achieved", Some(7), false),
        ("achieved", Some(8), false),
        ("achieved", Some(8), false),
        ("achieved", Some(9), true),
        ("partially_achieved", None, true),
        ("partially_achieved", None, true),
    ] {
        let mut outcome = json!({"goalRealisation": goal, "dropout": dropout});
        if let Some(s) = score {
            outcome["satisfactionScore"] = json!(s);
        }
        let (family_id, _) = closed_plan(&c, outcome).await;
        families_c1.get_or_insert(family_id);
    }
    // Three plans in intake; the first in C1's family, which is therefore
    // counted once.
    plan(&c.w, families_c1.unwrap(), None).await;
    for _ in 0..2 {
        let f = family(&c.w, None, None).await;
        plan(&c.w, f, None).await;
    }

    // Outside the report: a plan closed 100 days ago (opened 200 days ago)
    // and a Katwijk plan closed today.
    let (_, old) = closed_plan(
        &c,
        json!({"goalRealisation": "not_achieved", "satisfactionScore": 1, "dropout": true}),
    )
    .await;
    c.w.app
        .execute(&format!(
            "UPDATE plans SET created_at = now() - interval '200 days',
                              closed_at = now() - interval '100 days' WHERE id = '{old}'"
        ))
        .await;
    let r = post(
        &c.w.app,
        "/families",
        &c.w.katwijk_lead.token,
        family_body("0537", c.w.katwijk_team, None),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let katwijk_plan = post(
        &c.w.app,
        &format!("/families/{}/plans", r.id()),
        &c.w.katwijk_lead.token,
        json!({"title": "Gezinsplan"}),
    )
    .await
    .id();
    close(
        &c,
        &c.w.katwijk_lead.token,
        katwijk_plan,
        json!({"goalRealisation": "not_achieved", "satisfactionScore": 2, "dropout": true}),
    )
    .await;

    let (from, to) = (day(60), day(0));
    let r = get(
        &c.w.app,
        &summary_path("0546", &from, &to),
        &c.w.auditor.token,
    )
    .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let expected = json!({
        "municipalityCode": "0546",
        "from": from,
        "to": to,
        "suppressionThreshold": 5,
        // A1..A5 (5) + C1's family with I1 (1) + I2, I3 (2) + C2..C7 (6) = 14;
        // the old plan's family had nothing open in the period.
        "families": shown(14),
        // A1..A5 + I1..I3 = 8
        "openPlans": shown(8),
        // I1..I3 = 3: suppressed
        "plansInIntake": hidden(),
        // days 0, 2, 3, 4, 10 -> median 3
        "medianDaysToDirector": number(3.0),
        // providers at the end: A1 3 (a, b, c), A2 2 (a, b), A3 1 (c; b's
        // care ended today), A4 1 (d), A5 0 -> 7 / 5 = 1.4
        "averageProvidersPerActivePlan": number(1.4),
        "plansBySignal": {
            // A1 only (3 providers): 1, suppressed
            "manyProviders": hidden(),
            // no care names a child, no intake is old, nobody waits
            "parallelSameSegment": shown(0),
            "multipleSegments": shown(0),
            "yoYo": shown(0),
            "longWait": shown(0),
            "intakeWithoutDirector": shown(0),
        },
        // up: A1 3->4, A2 0->3, A3 0->3 and 3->5, A4 0->3 = 5 (A1's 0->3 is
        // 100 days old); down: none
        "scalings": {"up": shown(5), "down": shown(0)},
        "waitingBySegment": [
            // jgt_ondersteuning (A2): 1
            {"segment": "local_team", "startedInvolvements": hidden(), "medianWaitingDays": hidden()},
            {"segment": "school", "startedInvolvements": shown(0), "medianWaitingDays": no_cases()},
            // waits 10, 20, 30, 40, 14 -> sorted 10, 14, 20, 30, 40 -> median 20
            {"segment": "ambulant", "startedInvolvements": shown(5), "medianWaitingDays": number(20.0)},
            // dagbehandeling (A1): 1
            {"segment": "day_care", "startedInvolvements": hidden(), "medianWaitingDays": hidden()},
            // pleegzorg (A3): 1
            {"segment": "housing", "startedInvolvements": hidden(), "medianWaitingDays": hidden()},
            {"segment": "residential", "startedInvolvements": shown(0), "medianWaitingDays": no_cases()},
            {"segment": "crisis", "startedInvolvements": shown(0), "medianWaitingDays": no_cases()},
            {"segment": "safety", "startedInvolvements": shown(0), "medianWaitingDays": no_cases()},
        ],
        "outcomes": {
            // 7, but partially achieved (2) is suppressed, so 7 - 5 - 0
            // would reveal it: the total is suppressed too
            "closedPlans": hidden(),
            "goalRealisation": {
                "achieved": shown(5),
                "partiallyAchieved": hidden(),
                "notAchieved": shown(0),
            },
            // C5, C6, C7 = 3
            "dropouts": hidden(),
            "satisfactionResponses": shown(5),
            // (6 + 7 + 8 + 8 + 9) / 5 = 38 / 5 = 7.6
            "meanSatisfaction": number(7.6),
        },
    });
    assert_eq!(r.body, expected, "{:#}", r.body);
    assert_eq!(
        r.headers.get("cache-control").unwrap().to_str().unwrap(),
        "no-store"
    );
    // No ids of people or anything else in the answer.
    let text = r.body.to_string();
    assert!(!text.contains(&c.w.anna.id().to_string()));
    assert!(!text.contains(&a1.to_string()));

    // A period before all of it: nothing open, nothing closed, and the old
    // plan's closing 100 days ago counts there (1: suppressed).
    let r = get(
        &c.w.app,
        &summary_path("0546", &day(150), &day(90)),
        &c.w.lead.token,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["families"], hidden(), "{}", r.body);
    assert_eq!(r.body["openPlans"], shown(0));
    assert_eq!(
        r.body["outcomes"]["goalRealisation"]["notAchieved"],
        hidden()
    );
    assert_eq!(r.body["outcomes"]["closedPlans"], hidden());
    assert_eq!(r.body["scalings"]["up"], hidden(), "A1's old step");
}

#[actix_web::test]
async fn who_may_read_the_summary_and_every_read_is_audited() {
    let w = case_world().await;
    let (from, to) = (day(30), day(0));
    let leiden = summary_path("0546", &from, &to);
    let katwijk = summary_path("0537", &from, &to);

    let own = get(&w.app, &leiden, &w.auditor.token).await;
    let lead = get(&w.app, &leiden, &w.lead.token).await;
    let admin = get(&w.app, &katwijk, &w.admin.token).await;
    let other = get(&w.app, &katwijk, &w.auditor.token).await;
    let other_lead = get(&w.app, &leiden, &w.katwijk_lead.token).await;
    let worker = get(&w.app, &leiden, &w.anna.token).await;
    let gi = get(&w.app, &leiden, &w.gi.token).await;
    let unknown = get(&w.app, &summary_path("0999", &from, &to), &w.admin.token).await;

    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["municipalityCode"], "0546");
    assert_eq!(lead.status, 200, "{}", lead.body);
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert_eq!(admin.body["municipalityCode"], "0537");
    for r in [&other, &other_lead, &unknown] {
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    for r in [&worker, &gi] {
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.code(), "forbidden");
    }

    let reads: Vec<_> = w
        .app
        .audit_events("read")
        .await
        .into_iter()
        .filter(|e| e.resource_type == "report")
        .collect();
    let by = |id: Uuid| reads.iter().filter(move |e| e.actor_id == Some(id));
    let auditor_read = by(w.auditor.id()).next().expect("auditor's read");
    assert_eq!(auditor_read.municipality_code.as_deref(), Some("0546"));
    assert_eq!(auditor_read.outcome, "success");
    assert_eq!(auditor_read.detail["from"], from.as_str());
    assert_eq!(auditor_read.detail["to"], to.as_str());
    assert_eq!(
        by(w.admin.id())
            .next()
            .unwrap()
            .municipality_code
            .as_deref(),
        Some("0537")
    );
    assert_eq!(reads.len(), 3, "one read per answered report");

    let denied: Vec<_> = w
        .app
        .audit_events("access_denied")
        .await
        .into_iter()
        .filter(|e| e.resource_type == "report")
        .collect();
    let worker_denied = denied
        .iter()
        .find(|e| e.actor_id == Some(w.anna.id()))
        .expect("the worker's refusal is audited");
    assert_eq!(worker_denied.outcome, "denied");
    assert_eq!(worker_denied.detail["attempted"], "read");
    let hidden_denied = denied
        .iter()
        .find(|e| e.actor_id == Some(w.auditor.id()))
        .expect("asking for another municipality is audited");
    assert_eq!(hidden_denied.municipality_code.as_deref(), Some("0537"));
    assert!(denied.iter().any(|e| e.actor_id == Some(w.gi.id())));
}

#[actix_web::test]
async fn bad_report_parameters_are_named_in_invalid_params() {
    let w = case_world().await;
    let token = &w.auditor.token;
    let cases: &[(String, &[(&str, &str)])] = &[
        (
            "/reports/summary".to_owned(),
            &[
                ("municipalityCode", "required"),
                ("from", "required"),
                ("to", "required"),
            ],
        ),
        (
            summary_path("0546", &day(10), &day(20)),
            &[("to", "before_from")],
        ),
        (
            summary_path("0546", &day(5 * 366), &day(0)),
            &[("to", "period_too_long")],
        ),
        (
            summary_path("546", "2026-02-30", "gisteren"),
            &[
                ("municipalityCode", "invalid_municipality_code"),
                ("from", "invalid_date"),
                ("to", "invalid_date"),
            ],
        ),
        (
            summary_path("0546", &day(10), &day(-1)),
            &[("to", "in_future")],
        ),
        (
            format!("{}&team=x", summary_path("0546", &day(10), &day(0))),
            &[("team", "unknown_field")],
        ),
    ];
    for (path, expected) in cases {
        let r = get(&w.app, path, token).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{path}"
        );
        assert_eq!(r.code(), "validation_failed", "{path}");
        let got: Vec<(String, String)> = r.body["invalidParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want, "{path}");
    }
    // A refused request reads nothing, so nothing is recorded as read.
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM audit_events WHERE resource_type = 'report'")
            .await,
        0
    );
}
