//! Referrals: the client-credentials token, idempotent submission under
//! concurrency, matching into the one plan, review, accept and decline,
//! the iJw validation rules, and who sees what.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;
use crate::referral_world::*;

async fn token_request(w: &CaseWorld, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Reply {
    let mut req = w.app.client.post(w.app.api("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

#[actix_web::test]
async fn the_token_endpoint_grants_client_credentials_and_nothing_else() {
    let w = case_world().await;
    let c = client(&w, json!({"scopes": ["referrals:write"]})).await;
    let id = c.id.to_string();

    // Form credentials work as well as Basic; the token carries the scopes.
    let ok = token_request(
        &w,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &c.secret),
        ],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["scope"], "referrals:write");
    assert_eq!(ok.body["expires_in"], 900);
    assert_eq!(ok.headers["cache-control"], "no-store");

    let cases: Vec<(Option<(&str, &str)>, Vec<(&str, &str)>, u16, &str)> = vec![
        (
            Some((&id, "wrong")),
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            Some((&*Uuid::new_v4().to_string().leak(), "x")),
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            Some(("not-a-uuid", "x")),
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            None,
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            Some((&id, &c.secret)),
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        (Some((&id, &c.secret)), vec![], 400, "invalid_request"),
        (
            Some((&id, &c.secret)),
            vec![("grant_type", "client_credentials"), ("client_id", &id)],
            400,
            "invalid_request",
        ),
        (
            Some((&id, &c.secret)),
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "referrals:read"),
            ],
            400,
            "invalid_scope",
        ),
        (
            Some((&id, &c.secret)),
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            400,
            "invalid_request",
        ),
    ];
    for (basic, form, status, error) in cases {
        let r = token_request(&w, basic, &form).await;
        assert_eq!(r.status, status, "{basic:?} {form:?}: {}", r.body);
        assert_eq!(r.body["error"], error, "{basic:?} {form:?}");
        assert_eq!(r.body["status"], status);
    }

    // JSON is not a token request.
    let r = w
        .app
        .client
        .post(w.app.api("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Success and failure are audited against the client, never the secret.
    let logins = w.app.audit_events("login").await;
    assert!(logins
        .iter()
        .any(|e| e.actor_type == "client" && e.actor_id == Some(c.id)));
    let failures = w.app.audit_events("login_failed").await;
    assert!(failures
        .iter()
        .any(|e| e.actor_id == Some(c.id) && e.detail["reason"] == "wrong_secret"));
    let leaked = w
        .app
        .count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE detail::text LIKE '%{}%'",
            c.secret
        ))
        .await;
    assert_eq!(leaked, 0);

    // A disabled client gets no token, and its issued token stops working.
    let r = call(
        &w.app,
        Method::PATCH,
        &format!("/clients/{}", c.id),
        Some(&w.admin.token),
        Some(json!({"active": false})),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = token_request(
        &w,
        Some((&id, &c.secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = refer(&w.app, &c.token, &key(), referral(None, "X-1")).await;
    assert_eq!(r.status, 401, "{}", r.body);
}

#[actix_web::test]
async fn client_secrets_are_argon2id_and_shown_only_once() {
    let w = case_world().await;
    let c = client(&w, json!({})).await;
    let hashes = w
        .app
        .raw_bytes(&format!(
            "SELECT convert_to(secret_hash, 'UTF8') AS bytes FROM clients WHERE id = '{}'",
            c.id
        ))
        .await;
    let hash = String::from_utf8(hashes[0].clone()).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&c.secret));
    let sealed = w
        .app
        .raw_bytes(&format!(
            "SELECT callback_secret AS bytes FROM clients WHERE id = '{}'",
            c.id
        ))
        .await;
    assert!(!sealed[0]
        .windows(c.callback_secret.len())
        .any(|win| win == c.callback_secret.as_bytes()));
    for path in [format!("/clients/{}", c.id), "/clients".to_owned()] {
        let r = get(&w.app, &path, &w.admin.token).await;
        assert_eq!(r.status, 200);
        let text = r.body.to_string();
        assert!(
            !text.contains(&c.secret) && !text.contains("clientSecret"),
            "{path}"
        );
        assert!(!text.contains(&c.callback_secret), "{path}");
    }
    // Only admins manage clients.
    for token in [&w.lead.token, &w.anna.token, &w.auditor.token] {
        assert_eq!(get(&w.app, "/clients", token).await.status, 403);
    }
}

#[actix_web::test]
async fn fifty_concurrent_retries_with_one_key_make_one_referral() {
    let w = case_world().await;
    let c = client(&w, json!({})).await;
    let k = key();
    let body = referral(Some(&bsn(1)), "HIS-1");
    let replies = join_all((0..50).map(|_| refer(&w.app, &c.token, &k, body.clone()))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let id = replies[0].id();
    assert!(replies.iter().all(|r| r.id() == id));
    assert!(replies.iter().all(|r| r.body == replies[0].body));
    assert_eq!(w.app.count("SELECT count(*) AS n FROM referrals").await, 1);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 1);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM plans").await, 1);

    // The same body in another key order and spacing is the same request.
    let reordered: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&body).unwrap()).unwrap();
    let r = refer(&w.app, &c.token, &k, reordered).await;
    assert_eq!((r.status.as_u16(), r.id()), (201, id));

    // Same key, another body: refused, nothing written.
    let mut other = body.clone();
    other["reason"] = json!("Iets anders");
    let r = refer(&w.app, &c.token, &k, other).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.code(), "idempotency_key_reused");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM referrals").await, 1);

    // Keys are per caller: another client's same key is its own request.
    let c2 = client(&w, json!({})).await;
    let r = refer(&w.app, &c2.token, &k, referral(Some(&bsn(1)), "HIS-2")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_ne!(r.id(), id);

    // Without a key, nothing happens.
    let r = call(
        &w.app,
        Method::POST,
        "/referrals",
        Some(&c.token),
        Some(body),
        &[],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["invalidParams"][0]["name"], "Idempotency-Key");
}

#[actix_web::test]
async fn a_bsn_match_joins_the_open_plan_with_the_requested_care() {
    let w = case_world().await;
    let child = bsn(7);
    let f = family(&w, None, Some(&child)).await;
    let p = plan(&w, f, Some(w.anna.id())).await.id();
    let provider = post(
        &w.app,
        "/providers",
        &w.admin.token,
        json!({"name": "Cardea", "agbCode": "98000001"}),
    )
    .await
    .id();
    let c = client(&w, json!({})).await;
    let mut body = referral(Some(&child), "HIS-7");
    body["child"]["givenName"] = json!("Sanne");
    body["child"]["familyName"] = json!("Jansen");
    body["child"]["birthDate"] = json!("2014-03-14");
    body["requestedCareFormCode"] = json!("ambulant_licht");
    body["requestedProviderAgbCode"] = json!("98000001");
    let r = refer(&w.app, &c.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "received"); // the client sees no more (issue 15 item 9)
                                              // The referrer learns status and dates, nothing of the family.
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "decidedAt",
            "externalReference",
            "id",
            "receivedAt",
            "status",
            "updatedAt"
        ]
    );

    let full = get(&w.app, &format!("/referrals/{}", r.id()), &w.lead.token).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.body["matchBasis"], "bsn");
    assert_eq!(full.body["familyId"], json!(f));
    assert_eq!(full.body["planId"], json!(p));
    assert_eq!(full.body["child"]["bsn"], json!(child));
    let involvement = full.body["involvementId"].as_str().unwrap().to_owned();
    let plan_view = get(&w.app, &format!("/plans/{p}"), &w.lead.token).await;
    let inv = plan_view.body["involvements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(involvement))
        .expect("the requested involvement is in the plan")
        .clone();
    assert_eq!(inv["status"], "requested");
    assert_eq!(inv["providerId"], json!(provider));
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 1);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM plans").await, 1);

    // Declining withdraws the care it requested.
    let d = post(
        &w.app,
        &format!("/referrals/{}/decline", r.id()),
        &w.lead.token,
        json!({"reasonCode": "6", "note": "Stapeling: al ambulante hulp"}),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["status"], "declined");
    assert_eq!(d.body["declineReasonCode"], "6");
    let ended = w
        .app
        .count(&format!(
            "SELECT count(*) AS n FROM involvements WHERE id = '{involvement}' AND status = 'ended' AND end_reason = 'other'"
        ))
        .await;
    assert_eq!(ended, 1);
    let again = post(
        &w.app,
        &format!("/referrals/{}/accept", r.id()),
        &w.lead.token,
        json!({}),
    )
    .await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (409, "referral_decided")
    );
    // Found by schemathesis: the referral's status went out as a second
    // `status` member, after the problem's own 409.
    assert_eq!(again.body["status"], 409);
    assert_eq!(again.body["referralStatus"], "declined");
    let mine = get(&w.app, &format!("/referrals/{}", r.id()), &c.token).await;
    assert_eq!(mine.body["status"], "declined");
    assert!(mine.body["decidedAt"].is_string());
    assert!(mine.body.get("declineReasonCode").is_none());
}

#[actix_web::test]
async fn without_a_match_a_new_family_opens_in_intake() {
    let w = case_world().await;
    let c = client(&w, json!({})).await;
    let child = bsn(8);
    let r = refer(&w.app, &c.token, &key(), referral(Some(&child), "HIS-8")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "received");
    let full = get(&w.app, &format!("/referrals/{}", r.id()), &w.lead.token).await;
    assert_eq!(full.body["status"], "matched");
    assert_eq!(full.body["matchBasis"], "new_family");
    let f = full.body["familyId"].as_str().unwrap().to_owned();
    let fam = get(&w.app, &format!("/families/{f}"), &w.lead.token).await;
    assert_eq!(fam.status, 200);
    assert_eq!(fam.body["municipalityCode"], "0546");
    assert_eq!(fam.body["members"].as_array().unwrap().len(), 2);
    let current = get(&w.app, &format!("/families/{f}/plan"), &w.lead.token).await;
    assert_eq!(current.body["status"], "intake");
    assert_eq!(current.body["id"], full.body["planId"]);
    // The family's creation is audited for the client that caused it.
    let created = w.app.audit_events("create").await;
    assert!(created.iter().any(|e| e.resource_type == "family"
        && e.actor_type == "client"
        && e.family_id.map(|x| x.to_string()) == Some(f.clone())));

    // Accepting a matched referral keeps it where it is.
    let a = post(
        &w.app,
        &format!("/referrals/{}/accept", r.id()),
        &w.lead.token,
        json!({}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "accepted");
    assert_eq!(a.body["familyId"], json!(f));
}

#[actix_web::test]
async fn a_name_and_birth_date_match_without_bsn_waits_for_review_and_never_merges() {
    let w = case_world().await;
    let f = family(&w, None, None).await; // Sanne Jansen, 2014-03-14, no BSN
    let c = client(&w, json!({})).await;
    let mut body = referral(None, "HIS-9");
    body["child"] =
        json!({"givenName": "sanne", "familyName": "JANSEN", "birthDate": "2014-03-14"});
    let r = refer(&w.app, &c.token, &key(), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "received");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 1);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM plans").await, 0);

    let queue = get(&w.app, "/referrals?status=needs_review", &w.lead.token).await;
    assert_eq!(queue.status, 200);
    let items = queue.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["candidates"][0]["familyId"], json!(f));
    assert_eq!(items[0]["matchBasis"], "name_and_birth_date");

    // A family of another municipality cannot be chosen.
    let elsewhere = post(
        &w.app,
        "/families",
        &w.katwijk_lead.token,
        family_body("0537", w.katwijk_team, None),
    )
    .await
    .id();
    let bad = post(
        &w.app,
        &format!("/referrals/{}/accept", r.id()),
        &w.lead.token,
        json!({"familyId": elsewhere}),
    )
    .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (422, "unknown_family"));

    let a = post(
        &w.app,
        &format!("/referrals/{}/accept", r.id()),
        &w.lead.token,
        json!({"familyId": f}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "accepted");
    assert_eq!(a.body["matchBasis"], "chosen_by_team_lead");
    assert_eq!(a.body["familyId"], json!(f));
    let current = get(&w.app, &format!("/families/{f}/plan"), &w.lead.token).await;
    assert_eq!(current.body["id"], a.body["planId"]);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 2);
}

#[actix_web::test]
async fn a_bsn_of_another_municipality_is_reviewed_not_duplicated() {
    let w = case_world().await;
    let child = bsn(10);
    post(
        &w.app,
        "/families",
        &w.katwijk_lead.token,
        family_body("0537", w.katwijk_team, Some(&child)),
    )
    .await;
    let c = client(&w, json!({})).await;
    let r = refer(&w.app, &c.token, &key(), referral(Some(&child), "HIS-10")).await;
    assert_eq!(r.body["status"], "received", "{}", r.body);
    let full = get(&w.app, &format!("/referrals/{}", r.id()), &w.lead.token).await;
    assert_eq!(full.body["status"], "needs_review");
    assert_eq!(full.body["matchBasis"], "bsn_in_other_municipality");
    assert_eq!(full.body["candidates"], json!([]));
    // Accepting into a new family would make a second family: refused.
    let a = post(
        &w.app,
        &format!("/referrals/{}/accept", r.id()),
        &w.lead.token,
        json!({}),
    )
    .await;
    assert_eq!((a.status.as_u16(), a.code()), (409, "bsn_in_other_family"));
    let bad_reason = post(
        &w.app,
        &format!("/referrals/{}/decline", r.id()),
        &w.lead.token,
        json!({"reasonCode": "other"}),
    )
    .await;
    assert_eq!(bad_reason.status, 400);
    assert_eq!(bad_reason.body["invalidParams"][0]["name"], "note");
    let d = post(
        &w.app,
        &format!("/referrals/{}/decline", r.id()),
        &w.lead.token,
        json!({"reasonCode": "8"}),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 1);
}

#[actix_web::test]
async fn ijw_rules_refuse_bad_referrals_naming_the_field() {
    let w = case_world().await;
    // A referrer of every type, so only the body decides.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "02 without AGB or name",
            json!({"referrerType": "02", "referrerAgbCode": null}),
            "referrerAgbCode",
            "required",
        ),
        (
            "03 without AGB or name",
            json!({"referrerType": "03", "referrerAgbCode": null}),
            "referrerAgbCode",
            "required",
        ),
        (
            "04 without AGB or name",
            json!({"referrerType": "04", "referrerAgbCode": null}),
            "referrerAgbCode",
            "required",
        ),
        (
            "05 without AGB or name",
            json!({"referrerType": "05", "referrerAgbCode": null}),
            "referrerAgbCode",
            "required",
        ),
        (
            "02 with AGB and name",
            json!({"referrerType": "02", "referrerName": "Dr. Visser"}),
            "referrerName",
            "not_allowed",
        ),
        (
            "01 with AGB",
            json!({"referrerType": "01"}),
            "referrerAgbCode",
            "not_allowed",
        ),
        (
            "06 with AGB",
            json!({"referrerType": "06"}),
            "referrerAgbCode",
            "not_allowed",
        ),
        (
            "08 with AGB",
            json!({"referrerType": "08"}),
            "referrerAgbCode",
            "not_allowed",
        ),
        (
            "7-digit AGB",
            json!({"referrerAgbCode": "0100000"}),
            "referrerAgbCode",
            "invalid_agb_code",
        ),
        (
            "unknown type 07",
            json!({"referrerType": "07"}),
            "referrerType",
            "unknown_referrer_type",
        ),
        (
            "unknown type 99",
            json!({"referrerType": "99"}),
            "referrerType",
            "unknown_referrer_type",
        ),
        (
            "invalid BSN",
            json!({"child": {"givenName": "A", "familyName": "B", "birthDate": "2016-01-01", "bsn": "123456789"}}),
            "child.bsn",
            "invalid_bsn",
        ),
        (
            "birth date in the future",
            json!({"child": {"givenName": "A", "familyName": "B", "birthDate": "2999-01-01"}}),
            "child.birthDate",
            "in_future",
        ),
        ("empty reason", json!({"reason": " "}), "reason", "required"),
        (
            "bad municipality",
            json!({"municipalityCode": "546"}),
            "municipalityCode",
            "invalid_municipality_code",
        ),
        (
            "unknown care form",
            json!({"requestedCareFormCode": "nope"}),
            "requestedCareFormCode",
            "unknown_care_form",
        ),
        (
            "bad provider AGB",
            json!({"requestedProviderAgbCode": "x"}),
            "requestedProviderAgbCode",
            "invalid_agb_code",
        ),
        (
            "unknown urgency",
            json!({"urgency": "asap"}),
            "urgency",
            "invalid_value",
        ),
        (
            "unknown field",
            json!({"priority": 1}),
            "priority",
            "unknown_field",
        ),
    ];
    for (what, change, field, code) in cases {
        let mut body = referral(None, "HIS-V");
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let r = refer(&w.app, &w.lead.token, &key(), body).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.code(), "validation_failed", "{what}");
        let params = r.body["invalidParams"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == field && p["code"] == code),
            "{what}: {params:?}"
        );
    }
    // The referrer named by name instead of AGB is fine for type 02.
    let mut ok = referral(None, "HIS-OK");
    ok.as_object_mut().unwrap().remove("referrerAgbCode");
    ok["referrerName"] = json!("Dr. Visser");
    let r = refer(&w.app, &w.lead.token, &key(), ok).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM referrals").await, 1);
}

#[actix_web::test]
async fn clients_see_only_their_own_referrals_and_only_as_themselves() {
    let w = case_world().await;
    let a = client(&w, json!({})).await;
    let b = client(&w, json!({"agbCode": "01000002"})).await;
    let r = refer(&w.app, &a.token, &key(), referral(None, "A-1")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.id();

    // Another client: 404, as if it did not exist; a random id too.
    assert_eq!(
        get(&w.app, &format!("/referrals/{id}"), &b.token)
            .await
            .status,
        404
    );
    assert_eq!(
        get(&w.app, &format!("/referrals/{}", Uuid::new_v4()), &a.token)
            .await
            .status,
        404
    );
    let mine = get(&w.app, &format!("/referrals/{id}"), &a.token).await;
    assert_eq!(mine.status, 200);
    assert!(mine.body.get("child").is_none() && mine.body.get("familyId").is_none());
    let list = get(&w.app, "/referrals", &b.token).await;
    assert_eq!(list.body["items"], json!([]));
    let list = get(&w.app, "/referrals", &a.token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(list.body["items"][0].get("reason").is_none());

    // Referring as another AGB code, type or municipality: 403.
    let mut as_other = referral(None, "A-2");
    as_other["referrerAgbCode"] = json!("01000002");
    let r = refer(&w.app, &a.token, &key(), as_other).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "referrer_mismatch"));
    let mut as_type = referral(None, "A-3");
    as_type["referrerType"] = json!("03");
    let r = refer(&w.app, &a.token, &key(), as_type).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "referrer_mismatch"));
    let mut elsewhere = referral(None, "A-4");
    elsewhere["municipalityCode"] = json!("0537");
    let r = refer(&w.app, &a.token, &key(), elsewhere).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "municipality_not_served")
    );
    let denied = w.app.audit_events("access_denied").await;
    assert!(denied.iter().filter(|e| e.actor_id == Some(a.id)).count() >= 3);

    // A write-only token cannot read.
    let w_only = client(
        &w,
        json!({"scopes": ["referrals:write"], "agbCode": "01000003"}),
    )
    .await;
    assert_eq!(get(&w.app, "/referrals", &w_only.token).await.status, 403);

    // The client token is refused on JGT endpoints (403) and decisions.
    for path in [
        "/families",
        "/me",
        "/care-forms",
        &format!("/referrals/{id}/accept"),
    ] {
        let method = if path.ends_with("accept") {
            Method::POST
        } else {
            Method::GET
        };
        let r = call(&w.app, method, path, Some(&a.token), Some(json!({})), &[]).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "client_not_allowed"),
            "{path}"
        );
    }

    // JGT roles: the submitter sees status only; others of the
    // municipality 403; other municipalities 404; the team lead in full.
    let own = refer(&w.app, &w.anna.token, &key(), referral(None, "JGT-1")).await;
    assert_eq!(own.status, 201, "{}", own.body);
    let path = format!("/referrals/{}", own.id());
    let seen = get(&w.app, &path, &w.anna.token).await;
    assert_eq!(seen.status, 200);
    assert!(seen.body.get("reason").is_none());
    assert_eq!(get(&w.app, &path, &w.bram.token).await.status, 403);
    assert_eq!(get(&w.app, &path, &w.katwijk_lead.token).await.status, 404);
    assert_eq!(get(&w.app, &path, &w.auditor.token).await.status, 404);
    let full = get(&w.app, &path, &w.lead.token).await;
    assert_eq!(full.body["submittedBy"]["kind"], "user");
    assert_eq!(full.body["reason"], "Angstklachten, school verzuim");
    for token in [&w.anna.token, &w.katwijk_lead.token, &w.admin.token] {
        let r = post(
            &w.app,
            &format!("{path}/decline"),
            token,
            json!({"reasonCode": "7"}),
        )
        .await;
        assert!(r.status == 403 || r.status == 404, "{}", r.status);
    }
    // The Katwijk team lead's queue holds none of Leiden's referrals.
    let queue = get(&w.app, "/referrals", &w.katwijk_lead.token).await;
    assert_eq!(queue.body["items"], json!([]));
    // Admins and auditors do not submit referrals.
    for token in [&w.admin.token, &w.auditor.token] {
        let r = refer(&w.app, token, &key(), referral(None, "X")).await;
        assert_eq!(r.status, 403);
    }
}
