//! Referrals as an attacker uses them (issue 15 items 3, 9 and 10): a
//! known BSN with made-up details, a referral that tries to open a plan to
//! a provider before the municipality has said yes, a decline that must
//! take back what the referral brought, the referral status as an oracle
//! of who is known to youth care, and hostile names.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;
use crate::invariant_checks::assert_invariants_clean;
use crate::referral_world::*;

/// A GP referral of the case world's child (Sanne Jansen, 2014-03-14) by
/// BSN, asking provider A (AGB 11111111) for `form`.
fn referral_of_sanne(child_bsn: &str, external: &str, form: &str) -> Value {
    let mut body = referral(Some(child_bsn), external);
    body["child"] = json!({
        "givenName": "Sanne", "familyName": "Jansen", "birthDate": "2014-03-14", "bsn": child_bsn,
    });
    body["requestedCareFormCode"] = json!(form);
    body["requestedProviderAgbCode"] = json!("11111111");
    body
}

/// The referral as the team lead sees it.
async fn full(c: &CareWorld, referral: Uuid) -> Value {
    let r = get(&c.w.app, &format!("/referrals/{referral}"), &c.w.lead.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The involvement ids on provider A's work list.
async fn worklist_of_a(c: &CareWorld) -> Vec<Value> {
    let r = get(&c.w.app, "/involvements", &c.pu_a.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect()
}

async fn decide(c: &CareWorld, referral: Uuid, action: &str, body: Value) -> Reply {
    post(
        &c.w.app,
        &format!("/referrals/{referral}/{action}"),
        &c.w.lead.token,
        body,
    )
    .await
}

/// Issue 15 item 3: a GP client that knows a child's BSN but sends another
/// name and birth date does not get into that child's family: the referral
/// waits for review with the family as the only candidate, no care is
/// requested in the plan, and the requested provider sees nothing. The same
/// child with its name written differently (case, diacritics, spacing)
/// still matches.
#[actix_web::test]
async fn a_known_bsn_with_another_name_and_birth_date_goes_to_review_not_into_the_family() {
    let c = care_world().await;
    let child = bsn(31);
    let (family_id, plan_id, _) = directed_plan(&c, 31).await;
    let gp = client(&c.w, json!({})).await;

    let mut attack = referral(Some(&child), "HIS-ATTACK");
    attack["requestedCareFormCode"] = json!("ambulant_licht");
    attack["requestedProviderAgbCode"] = json!("11111111");
    let r = refer(&c.w.app, &gp.token, &key(), attack).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let seen = full(&c, r.id()).await;
    assert_eq!(seen["status"], "needs_review", "{seen}");
    assert_eq!(seen["matchBasis"], "bsn_details_differ");
    assert_eq!(seen["familyId"], Value::Null);
    assert_eq!(seen["candidates"][0]["familyId"], json!(family_id));
    assert_eq!(plan_view(&c, plan_id).await["involvements"], json!([]));
    let read = get(&c.w.app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(read.status, 404, "{}", read.body);
    assert!(worklist_of_a(&c).await.is_empty());

    // The real child, its name spelled another way, still matches.
    let mut honest = referral_of_sanne(&child, "HIS-HONEST", "ambulant_licht");
    honest["child"]["givenName"] = json!("  SÁNNE ");
    honest["child"]["familyName"] = json!("jansen");
    let r = refer(&c.w.app, &gp.token, &key(), honest).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let seen = full(&c, r.id()).await;
    assert_eq!(
        (&seen["status"], &seen["matchBasis"], &seen["familyId"]),
        (&json!("matched"), &json!("bsn"), &json!(family_id))
    );
}

/// Issue 15 item 3: care a referral requests grants its provider nothing
/// until the team lead accepts the referral: no plan read, no start, no
/// work-list entry (404, as for any plan the provider is not part of), and
/// not even the director can start it (409 `referral_not_accepted`). After
/// acceptance it is the provider's like any care.
#[actix_web::test]
async fn care_a_referral_requests_grants_its_provider_nothing_until_accepted() {
    let c = care_world().await;
    let child = bsn(32);
    let (_, plan_id, _) = directed_plan(&c, 32).await;
    let gp = client(&c.w, json!({})).await;
    let body = referral_of_sanne(&child, "HIS-32", "ambulant_licht");
    let r = refer(&c.w.app, &gp.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let referral = r.id();
    let seen = full(&c, referral).await;
    assert_eq!(seen["status"], "matched");
    let inv: Uuid = seen["involvementId"].as_str().unwrap().parse().unwrap();

    // The JGT sees the care waiting for the referral.
    let jgt_view = plan_view(&c, plan_id).await;
    assert_eq!(jgt_view["involvements"][0]["id"], json!(inv));
    assert_eq!(
        jgt_view["involvements"][0]["awaitingReferralId"],
        json!(referral)
    );
    // The provider gets nothing from it.
    let read = get(&c.w.app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(read.status, 404, "{}", read.body);
    assert_eq!(start(&c, &c.pu_a.token, inv).await.status, 404);
    assert_eq!(end(&c, &c.pu_a.token, inv, "completed").await.status, 404);
    assert!(worklist_of_a(&c).await.is_empty());
    let director = start(&c, &c.w.anna.token, inv).await;
    assert_eq!(
        (director.status.as_u16(), director.code()),
        (409, "referral_not_accepted"),
        "{}",
        director.body
    );
    assert_eq!(
        c.w.app
            .count(&format!(
                "SELECT count(*) AS n FROM involvements WHERE id = '{inv}' AND status = 'requested'"
            ))
            .await,
        1
    );

    // Accepted: now it is the provider's.
    let a = decide(&c, referral, "accept", json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let read = get(&c.w.app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["involvements"][0]["id"], json!(inv));
    assert_eq!(worklist_of_a(&c).await, [json!(inv)]);
    let s = start(&c, &c.pu_a.token, inv).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(plan_view(&c, plan_id).await["level"], 3);
    assert_invariants_clean(&c.w.app.db_url).await;
}

/// Issue 15 item 3: a provider already involved in the plan learns nothing
/// of the care a pending referral asks of it (the plan it can read does not
/// show it, it cannot start it), and the decline withdraws that care while
/// the provider's own earlier care stays.
#[actix_web::test]
async fn a_provider_already_in_the_plan_cannot_use_a_pending_referral_and_the_decline_withdraws_it()
{
    let c = care_world().await;
    let child = bsn(33);
    let (_, plan_id, _) = directed_plan(&c, 33).await;
    let own = involve(&c, plan_id, c.provider_a, "ambulant_licht", None, "active").await;
    let gp = client(&c.w, json!({})).await;
    let body = referral_of_sanne(&child, "HIS-33", "dagbehandeling");
    let r = refer(&c.w.app, &gp.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let referral = r.id();
    let inv: Uuid = full(&c, referral).await["involvementId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let read = get(&c.w.app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let shown: Vec<&Value> = read.body["involvements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(shown, [&json!(own)]);
    assert_eq!(start(&c, &c.pu_a.token, inv).await.status, 404);
    assert_eq!(worklist_of_a(&c).await, [json!(own)]);

    let d = decide(&c, referral, "decline", json!({"reasonCode": "6"})).await;
    assert_eq!(d.status, 200, "{}", d.body);
    let after = plan_view(&c, plan_id).await;
    let withdrawn = after["involvements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(inv))
        .unwrap()
        .clone();
    assert_eq!(withdrawn["status"], "ended");
    assert_eq!(withdrawn["endReason"], "other");
    assert_eq!(after["level"], 3, "the provider's own care stays");
    assert_eq!(worklist_of_a(&c).await, [json!(own)]);
    assert_invariants_clean(&c.w.app.db_url).await;
}

/// Issue 15 item 3: care that a provider started under a referral the
/// municipality never accepted (possible before the grants waited for
/// acceptance, and still in the data) ends with the decline: the level
/// drops with a scaling event as when care ends normally, and the provider
/// loses the plan.
#[actix_web::test]
async fn a_decline_ends_care_started_under_the_referral_and_the_access_it_gave() {
    let c = care_world().await;
    let child = bsn(34);
    let (_, plan_id, _) = directed_plan(&c, 34).await;
    let gp = client(&c.w, json!({})).await;
    let body = referral_of_sanne(&child, "HIS-34", "ambulant_licht");
    let r = refer(&c.w.app, &gp.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let referral = r.id();
    let inv: Uuid = full(&c, referral).await["involvementId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // As the old code let the provider do: start it before any decision.
    c.w.app
        .execute(&format!(
            "WITH started AS (
                 UPDATE involvements SET awaiting_referral_id = NULL, status = 'active',
                        started_on = requested_on WHERE id = '{inv}' RETURNING plan_id),
                  levelled AS (UPDATE plans SET level = 3 WHERE id = '{plan_id}' RETURNING id)
             INSERT INTO scaling_events (id, plan_id, from_level, to_level, direction, reason, involvement_ids)
             VALUES (gen_random_uuid(), '{plan_id}', 0, 3, 'up', 'started', ARRAY['{inv}'::uuid])"
        ))
        .await;
    let read = get(&c.w.app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(read.status, 200, "the provider got in: {}", read.body);

    let d = decide(&c, referral, "decline", json!({"reasonCode": "7"})).await;
    assert_eq!(d.status, 200, "{}", d.body);

    let after = plan_view(&c, plan_id).await;
    assert_eq!(after["level"], 0);
    assert_eq!(after["involvements"][0]["status"], "ended");
    let scalings = get(
        &c.w.app,
        &format!("/plans/{plan_id}/scalings"),
        &c.w.lead.token,
    )
    .await;
    let last = scalings.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["fromLevel"], &last["toLevel"], &last["direction"]),
        (&json!(3), &json!(0), &json!("down"))
    );
    assert_eq!(last["involvementIds"], json!([inv]));
    let read = get(&c.w.app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(read.status, 404, "{}", read.body);
    assert!(worklist_of_a(&c).await.is_empty());
    let audited =
        c.w.app
            .count(&format!(
                "SELECT count(*) AS n FROM audit_events
              WHERE action = 'decline' AND detail->>'withdrawnInvolvementId' = '{inv}'"
            ))
            .await;
    assert_eq!(audited, 1);
    assert_invariants_clean(&c.w.app.db_url).await;
}

/// The status, dates and reference of a client's view of a referral, the
/// id and times left out: what could tell two referrals apart.
fn what_a_client_learns(view: &Value) -> (Value, Value) {
    (view["status"].clone(), view["decidedAt"].clone())
}

/// Issue 15 item 9: a GP client cannot tell from the status whether a
/// child is known to youth care. A known child (matched), a known BSN with
/// other details (review) and an unknown child (new family) all read
/// `received` to the client, in the answer, on GET, in its list (also when
/// it filters by the intermediate statuses) and in notifications (none
/// before the decision); the team lead and a referring worker see the real
/// status; the decision is what the client learns.
#[actix_web::test]
async fn clients_see_received_until_the_decision_whatever_matching_found() {
    let c = care_world().await;
    let known = bsn(41);
    directed_plan(&c, 41).await;
    let gp = client(&c.w, json!({"callbackUrl": "http://127.0.0.1:9/hook"})).await;
    let bodies = [
        referral_of_sanne(&known, "HIS-KNOWN", "ambulant_licht"),
        referral(Some(&known), "HIS-PROBE"),
        referral(Some(&bsn(42)), "HIS-NEW"),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let r = refer(&c.w.app, &gp.token, &key(), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            what_a_client_learns(&r.body),
            (json!("received"), Value::Null)
        );
        ids.push(r.id());
    }
    let real: Vec<Value> = futures::future::join_all(ids.iter().map(|id| full(&c, *id)))
        .await
        .into_iter()
        .map(|v| v["status"].clone())
        .collect();
    assert_eq!(
        real,
        [json!("matched"), json!("needs_review"), json!("matched")]
    );
    for id in &ids {
        let mine = get(&c.w.app, &format!("/referrals/{id}"), &gp.token).await;
        assert_eq!(mine.status, 200);
        assert_eq!(
            what_a_client_learns(&mine.body),
            (json!("received"), Value::Null)
        );
    }
    let list = get(&c.w.app, "/referrals", &gp.token).await;
    let statuses: Vec<&Value> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["status"])
        .collect();
    assert_eq!(statuses, [&json!("received"); 3]);
    for (filter, expected) in [("matched", 0), ("needs_review", 0), ("received", 3)] {
        let r = get(&c.w.app, &format!("/referrals?status={filter}"), &gp.token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["items"].as_array().unwrap().len(),
            expected,
            "{filter}"
        );
    }
    assert_eq!(
        c.w.app
            .count("SELECT count(*) AS n FROM notifications")
            .await,
        0
    );

    // The decision is news, and the client hears of it.
    let d = decide(&c, ids[1], "decline", json!({"reasonCode": "7"})).await;
    assert_eq!(d.status, 200, "{}", d.body);
    let mine = get(&c.w.app, &format!("/referrals/{}", ids[1]), &gp.token).await;
    assert_eq!(mine.body["status"], "declined");
    let sent =
        c.w.app
            .count(&format!(
                "SELECT count(*) AS n FROM notifications
              WHERE referral_id = '{}' AND body::jsonb->'data'->>'status' = 'declined'
                AND body::jsonb->'data'->>'previousStatus' = 'received'",
                ids[1]
            ))
            .await;
    assert_eq!(sent, 1);
    assert_eq!(
        c.w.app
            .count("SELECT count(*) AS n FROM notifications")
            .await,
        1
    );

    // Staff who refer see the real status.
    let body = referral_of_sanne(&known, "JGT-41", "ambulant_licht");
    let r = refer(&c.w.app, &c.w.anna.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "matched");
}

/// Issue 15 item 9: a client gets `referrals.per_client_per_hour`
/// referrals an hour, also when it sends them all at once; the next is 429
/// `too_many_requests` with Retry-After, as problem+json. A retry of an
/// earlier submission still gets its answer, other clients and staff are
/// not held back.
#[actix_web::test]
async fn referrals_per_client_are_limited_per_hour() {
    let app = crate::helpers::spawn_app_with(|s| s.referrals.per_client_per_hour = 3).await;
    let w = case_world_on(app).await;
    let gp = client(&w, json!({})).await;
    let first_key = key();
    let first = refer(&w.app, &gp.token, &first_key, referral(None, "HIS-R0")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let keys: Vec<String> = (1..8).map(|_| key()).collect();
    let burst = futures::future::join_all(keys.iter().enumerate().map(|(i, k)| {
        refer(
            &w.app,
            &gp.token,
            k,
            referral(None, &format!("HIS-R{}", i + 1)),
        )
    }))
    .await;
    let created = burst.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        2,
        "{:?}",
        burst.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let refused = burst.iter().find(|r| r.status == 429).expect("a 429");
    assert_eq!(refused.code(), "too_many_requests");
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) AS n FROM referrals WHERE client_id = '{}'",
                gp.id
            ))
            .await,
        3
    );

    // A retry of the first still gets its answer.
    let again = refer(&w.app, &gp.token, &first_key, referral(None, "HIS-R0")).await;
    assert_eq!((again.status.as_u16(), again.id()), (201, first.id()));
    // Another client and a worker are not held back.
    let other = client(&w, json!({})).await;
    let r = refer(&w.app, &other.token, &key(), referral(None, "HIS-O1")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    for i in 0..4 {
        let body = referral(None, &format!("JGT-{i}"));
        let r = refer(&w.app, &w.anna.token, &key(), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}
