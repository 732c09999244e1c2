//! The case world plus care: three providers (two in Leiden's plans, one
//! never involved), provider users of each (one of provider A in Katwijk),
//! and helpers to register and change involvements.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;

pub struct CareWorld {
    pub w: CaseWorld,
    pub provider_a: Uuid,
    pub provider_b: Uuid,
    pub provider_c: Uuid,
    pub provider_d: Uuid,
    /// Provider A's user in Leiden.
    pub pu_a: Actor,
    /// Provider B's user in Leiden.
    pub pu_b: Actor,
    /// Provider A's user in Katwijk.
    pub pu_a_katwijk: Actor,
}

pub async fn provider(w: &CaseWorld, name: &str, agb: &str) -> Uuid {
    let r = post(
        &w.app,
        "/providers",
        &w.admin.token,
        json!({"name": name, "agbCode": agb}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.id()
}

async fn provider_actor(w: &CaseWorld, municipality: &str, provider: Uuid) -> Actor {
    let user = w.app.provider_user(municipality, provider).await;
    let token = w.app.session(&user).await;
    Actor { user, token }
}

pub async fn care_world() -> CareWorld {
    let w = case_world().await;
    let provider_a = provider(&w, "Rijnland Jeugdhulp", "11111111").await;
    let provider_b = provider(&w, "Duin en Bollen GGZ", "22222222").await;
    let provider_c = provider(&w, "Pleegzorg Rijnland", "33333333").await;
    let provider_d = provider(&w, "Dagbehandeling Duinhuis", "44444444").await;
    let pu_a = provider_actor(&w, "0546", provider_a).await;
    let pu_b = provider_actor(&w, "0546", provider_b).await;
    let pu_a_katwijk = provider_actor(&w, "0537", provider_a).await;
    CareWorld {
        w,
        provider_a,
        provider_b,
        provider_c,
        provider_d,
        pu_a,
        pu_b,
        pu_a_katwijk,
    }
}

/// A Leiden family (team Noord) with an active plan directed by Anna:
/// (family id, plan id, child member id).
pub async fn directed_plan(c: &CareWorld, seed: u64) -> (Uuid, Uuid, Uuid) {
    let family_id = family(&c.w, None, Some(&bsn(seed))).await;
    let plan_id = plan(&c.w, family_id, Some(c.w.anna.id())).await.id();
    let child = child_of(c, family_id).await;
    (family_id, plan_id, child)
}

/// The first child of a family, as the team lead sees it.
pub async fn child_of(c: &CareWorld, family_id: Uuid) -> Uuid {
    let f = get(&c.w.app, &format!("/families/{family_id}"), &c.w.lead.token).await;
    f.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "child")
        .and_then(|m| m["id"].as_str())
        .and_then(|s| s.parse().ok())
        .unwrap()
}

pub fn involvement_body(provider: Uuid, form: &str, member: Option<Uuid>, status: &str) -> Value {
    let mut b = json!({"providerId": provider, "careFormCode": form, "status": status});
    if let Some(m) = member {
        b["memberId"] = json!(m);
    }
    b
}

/// Registers an involvement as Anna (the director); returns its id.
pub async fn involve(
    c: &CareWorld,
    plan_id: Uuid,
    provider: Uuid,
    form: &str,
    member: Option<Uuid>,
    status: &str,
) -> Uuid {
    let r = post(
        &c.w.app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        involvement_body(provider, form, member, status),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.id()
}

pub async fn end(c: &CareWorld, token: &str, involvement: Uuid, reason: &str) -> Reply {
    post(
        &c.w.app,
        &format!("/involvements/{involvement}/end"),
        token,
        json!({"endReason": reason}),
    )
    .await
}

pub async fn start(c: &CareWorld, token: &str, involvement: Uuid) -> Reply {
    post(
        &c.w.app,
        &format!("/involvements/{involvement}/start"),
        token,
        json!({}),
    )
    .await
}

pub async fn plan_view(c: &CareWorld, plan_id: Uuid) -> Value {
    let r = get(&c.w.app, &format!("/plans/{plan_id}"), &c.w.lead.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

pub fn signal_codes(plan: &Value) -> Vec<String> {
    plan["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_owned())
        .collect()
}
