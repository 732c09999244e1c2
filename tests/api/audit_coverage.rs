//! Audit coverage (issue 5): every endpoint that touches family, plan or
//! referral data writes its audit event, for a successful call and for a
//! refused one. Each row of the table is one request; the events are found
//! by the request's `X-Request-Id`, so a row fails when its request wrote
//! no event, the wrong one, or one about the wrong resource or actor. A new
//! endpoint belongs in this table.

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;
use crate::helpers::{TestApp, AUDIT_ROW_COLUMNS};
use crate::referral_world::{client, key, referral};

pub use crate::helpers::AuditRow as Event;

/// The events one request wrote, found by the `X-Request-Id` it was answered with.
pub async fn events_of(app: &TestApp, reply: &Reply) -> Vec<Event> {
    let request_id = reply
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every response carries X-Request-Id")
        .to_owned();
    diesel::sql_query(format!(
        "SELECT {AUDIT_ROW_COLUMNS} FROM audit_events WHERE request_id = $1 ORDER BY seq"
    ))
    .bind::<Text, _>(request_id)
    .load(&mut app.conn().await)
    .await
    .expect("audit query")
}

/// Which resource id the event must name.
#[derive(Clone, Debug)]
enum Id {
    Is(String),
    /// The `id` of the response body (a created resource).
    FromResponse,
    /// Not known to the caller (an id generated for a refused create).
    Any,
}

fn is(id: impl ToString) -> Id {
    Id::Is(id.to_string())
}

/// One row: a request and the one event it must write.
struct Case<'a> {
    label: &'a str,
    method: Method,
    path: String,
    token: &'a str,
    body: Option<Value>,
    headers: Vec<(&'a str, String)>,
    status: u16,
    actor: Uuid,
    action: &'a str,
    resource_type: &'a str,
    id: Id,
    family: Option<Uuid>,
}

// A table row reads best as one call with every column in place.
#[expect(clippy::too_many_arguments)]
fn case<'a>(
    label: &'a str,
    method: Method,
    path: impl Into<String>,
    who: (&'a str, Uuid),
    status: u16,
    (action, resource_type): (&'a str, &'a str),
    id: Id,
    family: Option<Uuid>,
) -> Case<'a> {
    Case {
        label,
        method,
        path: path.into(),
        token: who.0,
        body: None,
        headers: Vec::new(),
        status,
        actor: who.1,
        action,
        resource_type,
        id,
        family,
    }
}

impl<'a> Case<'a> {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

fn who(a: &Actor) -> (&str, Uuid) {
    (&a.token, a.id())
}

/// Sends the request and asserts its status and its one matching event: a
/// success writes `action` with outcome `success` and nothing denied; a
/// refusal (403/404) writes `access_denied` with the attempted action and
/// nothing successful.
async fn check(app: &TestApp, c: Case<'_>) -> Reply {
    let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = call(
        app,
        c.method.clone(),
        &c.path,
        Some(c.token),
        c.body.clone(),
        &headers,
    )
    .await;
    assert_eq!(
        reply.status.as_u16(),
        c.status,
        "{}: {} {}: {}",
        c.label,
        c.method,
        c.path,
        reply.body
    );
    let events = events_of(app, &reply).await;
    let denied = c.status == 403 || c.status == 404;
    let (action, outcome) = if denied {
        ("access_denied", "denied")
    } else {
        (c.action, "success")
    };
    assert!(
        events.iter().all(|e| e.outcome == outcome),
        "{}: every event of the request has outcome {outcome}: {events:#?}",
        c.label
    );
    let matching: Vec<&Event> = events
        .iter()
        .filter(|e| e.action == action && e.resource_type == c.resource_type)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{}: exactly one {action} event on {}: {events:#?}",
        c.label,
        c.resource_type
    );
    let e = matching[0];
    assert_eq!(e.actor_id, Some(c.actor), "{}: actor", c.label);
    let expected_id = match &c.id {
        Id::Is(id) => Some(id.clone()),
        Id::FromResponse => Some(reply.body["id"].as_str().expect("id").to_owned()),
        Id::Any => None,
    };
    if let Some(id) = expected_id {
        assert_eq!(
            e.resource_id.as_deref(),
            Some(id.as_str()),
            "{}: resource id",
            c.label
        );
    }
    if c.family.is_some() {
        assert_eq!(e.family_id, c.family, "{}: family", c.label);
    }
    if denied {
        assert_eq!(
            e.detail["attempted"], c.action,
            "{}: attempted action",
            c.label
        );
    }
    reply
}

// One row per line, so the table stays a table.
#[rustfmt::skip]
#[actix_web::test]
async fn every_endpoint_on_personal_data_audits_its_successes_and_its_refusals() {
    let cw = care_world().await;
    let w = &cw.w;
    let app = &w.app;
    let lead = who(&w.lead);
    let anna = who(&w.anna);
    let bram = who(&w.bram);
    let auditor = who(&w.auditor);
    let admin = who(&w.admin);
    let katwijk_lead = who(&w.katwijk_lead);
    use Method as M;

    // ---- families
    check(app, case("create family refused", M::POST, "/families", auditor, 403, ("create", "family"), Id::Any, None)
        .body(family_body("0546", w.noord, None))).await;
    let created = check(app, case("create family", M::POST, "/families", lead, 201, ("create", "family"), Id::FromResponse, None)
        .body(family_body("0546", w.noord, Some(&bsn(901))))).await;
    let f = created.id();
    check(app, case("list families", M::GET, "/families", anna, 200, ("search", "family"), is("search"), None)).await;
    check(app, case("list families refused", M::GET, "/families", auditor, 403, ("search", "family"), is("search"), None)).await;
    check(app, case("search families", M::GET, "/families?name=Jansen", lead, 200, ("search", "family"), is("search"), None)).await;
    check(app, case("search families refused", M::GET, "/families?name=Jansen", admin, 403, ("search", "family"), is("search"), None)).await;
    check(app, case("get family", M::GET, format!("/families/{f}"), lead, 200, ("read", "family"), is(f), Some(f))).await;
    check(app, case("get family refused", M::GET, format!("/families/{f}"), bram, 403, ("read", "family"), is(f), Some(f))).await;
    check(app, case("get family elsewhere", M::GET, format!("/families/{f}"), katwijk_lead, 404, ("read", "family"), is(f), Some(f))).await;
    check(app, case("update family", M::PATCH, format!("/families/{f}"), lead, 200, ("update", "family"), is(f), Some(f))
        .body(json!({"name": "Familie Jansen-de Wit"}))).await;
    check(app, case("update family refused", M::PATCH, format!("/families/{f}"), bram, 403, ("update", "family"), is(f), Some(f))
        .body(json!({"name": "X"}))).await;
    let member_body = json!({"role": "parent", "givenName": "Joost", "familyName": "de Wit", "birthDate": "1980-01-01"});
    let member = check(app, case("add member", M::POST, format!("/families/{f}/members"), lead, 201, ("create", "member"), Id::FromResponse, Some(f))
        .body(member_body.clone())).await.id();
    check(app, case("add member refused", M::POST, format!("/families/{f}/members"), bram, 403, ("create", "member"), is(f), Some(f))
        .body(member_body)).await;
    check(app, case("update member", M::PATCH, format!("/families/{f}/members/{member}"), lead, 200, ("update", "member"), is(member), Some(f))
        .body(json!({"givenName": "Joost Jan"}))).await;
    check(app, case("update member refused", M::PATCH, format!("/families/{f}/members/{member}"), bram, 403, ("update", "member"), is(member), Some(f))
        .body(json!({"givenName": "X"}))).await;

    // ---- plans
    let plan_body = json!({"title": "Gezinsplan", "directorId": w.anna.id()});
    check(app, case("create plan refused", M::POST, format!("/families/{f}/plans"), bram, 403, ("create", "plan"), Id::Any, Some(f))
        .body(plan_body.clone())).await;
    let created = check(app, case("create plan", M::POST, format!("/families/{f}/plans"), lead, 201, ("create", "plan"), Id::FromResponse, Some(f))
        .body(plan_body)).await;
    let p = created.id();
    check(app, case("current plan", M::GET, format!("/families/{f}/plan"), anna, 200, ("read", "plan"), is(p), Some(f))).await;
    check(app, case("current plan refused", M::GET, format!("/families/{f}/plan"), bram, 403, ("read", "plan"), is("current"), Some(f))).await;
    check(app, case("plan history", M::GET, format!("/families/{f}/plans"), anna, 200, ("read", "plan"), is("history"), Some(f))).await;
    check(app, case("plan history refused", M::GET, format!("/families/{f}/plans"), bram, 403, ("read", "plan"), is("history"), Some(f))).await;
    let read = check(app, case("get plan", M::GET, format!("/plans/{p}"), anna, 200, ("read", "plan"), is(p), Some(f))).await;
    check(app, case("get plan refused", M::GET, format!("/plans/{p}"), bram, 403, ("read", "plan"), is(p), Some(f))).await;
    check(app, case("update plan", M::PATCH, format!("/plans/{p}"), anna, 200, ("update", "plan"), is(p), Some(f))
        .body(json!({"title": "Gezinsplan 2"})).header("If-Match", read.etag())).await;
    check(app, case("update plan refused", M::PATCH, format!("/plans/{p}"), bram, 403, ("update", "plan"), is(p), Some(f))
        .body(json!({"title": "X"})).header("If-Match", "\"1\"")).await;

    // ---- directors and caseload
    check(app, case("director history", M::GET, format!("/plans/{p}/director-history"), lead, 200, ("read", "director_history"), is(p), Some(f))).await;
    check(app, case("director history refused", M::GET, format!("/plans/{p}/director-history"), bram, 403, ("read", "director_history"), is(p), Some(f))).await;
    check(app, case("caseload", M::GET, format!("/users/{}/caseload", w.anna.id()), lead, 200, ("read", "caseload"), is(w.anna.id()), None)).await;
    check(app, case("caseload refused", M::GET, format!("/users/{}/caseload", w.anna.id()), bram, 403, ("read", "caseload"), is(w.anna.id()), None)).await;

    // ---- involvements, signals, scaling
    let inv_path = format!("/plans/{p}/involvements");
    check(app, case("create involvement refused", M::POST, inv_path.clone(), bram, 403, ("create", "involvement"), Id::Any, Some(f))
        .body(involvement_body(cw.provider_a, "ambulant_licht", None, "active"))).await;
    let inv_a = check(app, case("create involvement", M::POST, inv_path.clone(), lead, 201, ("create", "involvement"), Id::FromResponse, Some(f))
        .body(involvement_body(cw.provider_a, "ambulant_licht", None, "active"))).await.id();
    let inv_b = involve(&cw, p, cw.provider_b, "jeugd_ggz_basis", None, "requested").await;
    let inv_c = involve(&cw, p, cw.provider_c, "dyslexiezorg", None, "active").await;
    check(app, case("start involvement refused", M::POST, format!("/involvements/{inv_b}/start"), bram, 403, ("start", "involvement"), is(inv_b), Some(f))
        .body(json!({}))).await;
    check(app, case("start involvement", M::POST, format!("/involvements/{inv_b}/start"), lead, 200, ("start", "involvement"), is(inv_b), Some(f))
        .body(json!({}))).await;
    // Three providers active at once: the many_providers signal holds.
    check(app, case("signals", M::GET, format!("/plans/{p}/signals"), lead, 200, ("read", "signals"), is(p), Some(f))).await;
    check(app, case("signals refused", M::GET, format!("/plans/{p}/signals"), bram, 403, ("read", "signals"), is(p), Some(f))).await;
    let ack = format!("/plans/{p}/signals/many_providers/acknowledge");
    check(app, case("acknowledge signal", M::POST, ack.clone(), lead, 200, ("acknowledge", "signal"), is(format!("{p}/many_providers")), Some(f))
        .body(json!({"note": "Bewust: drie aanbieders tijdelijk"}))).await;
    check(app, case("acknowledge signal refused", M::POST, ack, bram, 403, ("acknowledge", "signal"), is(format!("{p}/many_providers")), Some(f))
        .body(json!({"note": "X"}))).await;
    check(app, case("end involvement refused", M::POST, format!("/involvements/{inv_b}/end"), bram, 403, ("end", "involvement"), is(inv_b), Some(f))
        .body(json!({"endReason": "completed"}))).await;
    check(app, case("end involvement", M::POST, format!("/involvements/{inv_b}/end"), lead, 200, ("end", "involvement"), is(inv_b), Some(f))
        .body(json!({"endReason": "completed"}))).await;
    let scale = json!({"reason": "Thuis gaat het niet meer",
        "end": [{"involvementId": inv_a, "endReason": "transferred"}],
        "start": [{"providerId": cw.provider_a, "careFormCode": "pleegzorg"}]});
    check(app, case("scale refused", M::POST, format!("/plans/{p}/scalings"), bram, 403, ("scale", "plan"), is(p), Some(f))
        .body(scale.clone())).await;
    check(app, case("scale", M::POST, format!("/plans/{p}/scalings"), lead, 200, ("scale", "plan"), is(p), Some(f))
        .body(scale)).await;
    check(app, case("scaling history", M::GET, format!("/plans/{p}/scalings"), lead, 200, ("read", "scaling_history"), is(p), Some(f))).await;
    check(app, case("scaling history refused", M::GET, format!("/plans/{p}/scalings"), bram, 403, ("read", "scaling_history"), is(p), Some(f))).await;

    // ---- handover and closing
    check(app, case("handover refused", M::PUT, format!("/plans/{p}/director"), bram, 403, ("handover", "plan"), is(p), Some(f))
        .body(json!({"userId": w.gi.id(), "reason": "Overdracht"}))).await;
    check(app, case("handover", M::PUT, format!("/plans/{p}/director"), lead, 200, ("handover", "plan"), is(p), Some(f))
        .body(json!({"userId": w.gi.id(), "reason": "Ondertoezichtstelling"}))).await;
    let running: Vec<Uuid> = plan_view(&cw, p).await["involvements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "ended")
        .map(|i| i["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(running.contains(&inv_c));
    for inv in running {
        let r = end(&cw, &w.lead.token, inv, "completed").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let close = json!({"reason": "Doelen bereikt", "outcome": {"goalRealisation": "achieved", "dropout": false}});
    check(app, case("close plan refused", M::POST, format!("/plans/{p}/close"), bram, 403, ("close", "plan"), is(p), Some(f))
        .body(close.clone())).await;
    check(app, case("close plan", M::POST, format!("/plans/{p}/close"), lead, 200, ("close", "plan"), is(p), Some(f))
        .body(close)).await;

    // ---- the audit trail's own views
    let log = format!("/families/{f}/access-log");
    check(app, case("access log", M::GET, log.clone(), lead, 200, ("read", "access_log"), is(f), Some(f))).await;
    check(app, case("access log refused", M::GET, log.clone(), bram, 403, ("read", "access_log"), is(f), Some(f))).await;
    check(app, case("access log elsewhere", M::GET, log, katwijk_lead, 404, ("read", "access_log"), is(f), Some(f))).await;
    let review = "/audit/emergency-accesses";
    check(app, case("emergency accesses", M::GET, review, lead, 200, ("read", "audit_log"), is("emergency_accesses"), None)).await;
    check(app, case("emergency accesses refused", M::GET, review, anna, 403, ("read", "audit_log"), is("emergency_accesses"), None)).await;

    // ---- referrals
    let gp = client(w, json!({})).await;
    let gp_write_only = client(w, json!({"scopes": ["referrals:write"]})).await;
    let gp_actor = (gp.token.as_str(), gp.id);
    check(app, case("refer refused", M::POST, "/referrals", auditor, 403, ("create", "referral"), Id::Any, None)
        .body(referral(Some(&bsn(902)), "HIS-A0")).header("Idempotency-Key", key())).await;
    let r1 = check(app, case("refer", M::POST, "/referrals", gp_actor, 201, ("create", "referral"), Id::FromResponse, None)
        .body(referral(Some(&bsn(903)), "HIS-A1")).header("Idempotency-Key", key())).await.id();
    let mut second = referral(Some(&bsn(904)), "HIS-A2");
    second["child"]["givenName"] = json!("Mila");
    let r2 = check(app, case("refer again", M::POST, "/referrals", gp_actor, 201, ("create", "referral"), Id::FromResponse, None)
        .body(second).header("Idempotency-Key", key())).await.id();
    check(app, case("intake queue", M::GET, "/referrals", lead, 200, ("search", "referral"), is("intake_queue"), None)).await;
    check(app, case("intake queue refused", M::GET, "/referrals", (gp_write_only.token.as_str(), gp_write_only.id), 403, ("search", "referral"), is("intake_queue"), None)).await;
    check(app, case("get referral", M::GET, format!("/referrals/{r1}"), lead, 200, ("read", "referral"), is(r1), None)).await;
    check(app, case("get referral elsewhere", M::GET, format!("/referrals/{r1}"), katwijk_lead, 404, ("read", "referral"), is(r1), None)).await;
    check(app, case("accept referral refused", M::POST, format!("/referrals/{r1}/accept"), anna, 403, ("accept", "referral"), is(r1), None)
        .body(json!({}))).await;
    check(app, case("accept referral", M::POST, format!("/referrals/{r1}/accept"), lead, 200, ("accept", "referral"), is(r1), None)
        .body(json!({}))).await;
    check(app, case("decline referral refused", M::POST, format!("/referrals/{r2}/decline"), anna, 403, ("decline", "referral"), is(r2), None)
        .body(json!({"reasonCode": "6"}))).await;
    check(app, case("decline referral", M::POST, format!("/referrals/{r2}/decline"), lead, 200, ("decline", "referral"), is(r2), None)
        .body(json!({"reasonCode": "6"}))).await;
}
