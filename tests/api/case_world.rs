//! A small world for family, plan and director tests: Leiden with two teams
//! and one user of every case role, Katwijk with a team lead and a worker,
//! and request helpers that return status and JSON.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use gezinsregie::domain::Role;

pub struct Actor {
    pub user: TestUser,
    pub token: String,
}

impl Actor {
    pub fn id(&self) -> Uuid {
        self.user.id
    }
}

pub struct CaseWorld {
    pub app: TestApp,
    pub noord: Uuid,
    pub zuid: Uuid,
    pub katwijk_team: Uuid,
    pub admin: Actor,
    pub lead: Actor,
    pub anna: Actor,
    pub bram: Actor,
    pub gi: Actor,
    pub gi_elsewhere: Actor,
    pub auditor: Actor,
    pub katwijk_lead: Actor,
    pub katwijk_worker: Actor,
}

async fn actor(
    app: &TestApp,
    role: Role,
    municipality: Option<&str>,
    team: Option<Uuid>,
    served: &[&str],
) -> Actor {
    let user = app.user_with(role, municipality, team, served).await;
    let token = app.session(&user).await;
    Actor { user, token }
}

pub async fn case_world() -> CaseWorld {
    case_world_on(spawn_app().await).await
}

/// The same world on an app spawned with other settings.
pub async fn case_world_on(app: TestApp) -> CaseWorld {
    app.municipality("0546", "Leiden").await;
    app.municipality("0537", "Katwijk").await;
    app.municipality("0553", "Lisse").await;
    let noord = app.team("0546", "JGT Leiden Noord").await;
    let zuid = app.team("0546", "JGT Leiden Zuid").await;
    let katwijk_team = app.team("0537", "JGT Katwijk").await;
    let admin = actor(&app, Role::Admin, None, None, &[]).await;
    let lead = actor(&app, Role::TeamLead, Some("0546"), Some(noord), &[]).await;
    let anna = actor(&app, Role::JgtWorker, Some("0546"), Some(noord), &[]).await;
    let bram = actor(&app, Role::JgtWorker, Some("0546"), Some(zuid), &[]).await;
    let gi = actor(&app, Role::GiWorker, Some("0537"), None, &["0546"]).await;
    let gi_elsewhere = actor(&app, Role::GiWorker, Some("0553"), None, &[]).await;
    let auditor = actor(&app, Role::Auditor, Some("0546"), None, &[]).await;
    let katwijk_lead = actor(&app, Role::TeamLead, Some("0537"), Some(katwijk_team), &[]).await;
    let katwijk_worker = actor(&app, Role::JgtWorker, Some("0537"), Some(katwijk_team), &[]).await;
    CaseWorld {
        app,
        noord,
        zuid,
        katwijk_team,
        admin,
        lead,
        anna,
        bram,
        gi,
        gi_elsewhere,
        auditor,
        katwijk_lead,
        katwijk_worker,
    }
}

/// A valid BSN, different for every seed.
pub fn bsn(seed: u64) -> String {
    gezinsregie::domain::bsn::synthetic(30_000_000 + seed * 13)
        .as_str()
        .to_owned()
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("response has an id")
    }

    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("ETag header")
            .to_owned()
    }
}

/// Sends a request to `/v1{path}` with an optional token, JSON body and extra headers.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = app.client.request(method, app.api(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> Reply {
    call(app, Method::GET, path, Some(token), None, &[]).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    call(app, Method::POST, path, Some(token), Some(body), &[]).await
}

pub fn family_body(municipality: &str, team: Uuid, child_bsn: Option<&str>) -> Value {
    let mut child = json!({"role": "child", "givenName": "Sanne", "familyName": "Jansen", "birthDate": "2014-03-14"});
    if let Some(b) = child_bsn {
        child["bsn"] = json!(b);
    }
    json!({
        "municipalityCode": municipality,
        "teamId": team,
        "name": "Familie Jansen",
        "members": [
            {"role": "parent", "givenName": "Marieke", "familyName": "Jansen", "birthDate": "1984-05-02"},
            child
        ]
    })
}

/// Registers a family in Leiden (team Noord unless given) as the team lead.
pub async fn family(w: &CaseWorld, team: Option<Uuid>, child_bsn: Option<&str>) -> Uuid {
    let r = post(
        &w.app,
        "/families",
        &w.lead.token,
        family_body("0546", team.unwrap_or(w.noord), child_bsn),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.id()
}

/// Opens a plan for a family as the team lead, with an optional director.
pub async fn plan(w: &CaseWorld, family_id: Uuid, director: Option<Uuid>) -> Reply {
    let mut body = json!({"title": "Gezinsplan", "goals": [{"description": "Naar school"}]});
    if let Some(d) = director {
        body["directorId"] = json!(d);
    }
    let r = post(
        &w.app,
        &format!("/families/{family_id}/plans"),
        &w.lead.token,
        body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r
}

pub async fn handover(w: &CaseWorld, plan_id: Uuid, token: &str, to: Uuid) -> Reply {
    call(
        &w.app,
        Method::PUT,
        &format!("/plans/{plan_id}/director"),
        Some(token),
        Some(json!({"userId": to, "reason": "Overdracht"})),
        &[],
    )
    .await
}

/// Generous per-address limits and queue, for tests of something else
/// than those limits.
pub fn without_address_limit(s: &mut gezinsregie::config::Settings) {
    s.auth.login_per_address_burst = 100_000;
    s.auth.login_per_address_per_minute = 100_000;
    s.auth.login_queue_length = 1_000;
    s.auth.login_queue_wait_ms = 60_000;
}

/// A login with these credentials, as a client sends it.
pub async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    call(
        app,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
        &[],
    )
    .await
}
