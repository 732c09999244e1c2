//! Bad input on provider, involvement, scaling and signal endpoints: every
//! case a 4xx problem+json with a stable code (and the field, where there
//! is one), never a 500, and nothing written.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::care_world::*;

#[actix_web::test]
async fn bad_care_input_gets_a_problem_answer_naming_the_field() {
    let c = care_world().await;
    let (_, plan_id, child) = directed_plan(&c, 31).await;
    let (other_family, _, other_child) = directed_plan(&c, 32).await;
    let _ = other_family;
    let running = involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        Some(child),
        "active",
    )
    .await;
    let ended = involve(&c, plan_id, c.provider_b, "jeugd_ggz_basis", None, "active").await;
    assert_eq!(
        end(&c, &c.w.anna.token, ended, "completed").await.status,
        200
    );
    let waiting = involve(&c, plan_id, c.provider_c, "pleegzorg", None, "requested").await;
    let admin = c.w.admin.token.clone();
    let anna = c.w.anna.token.clone();
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
    let inv = |p: Uuid, form: &str| involvement_body(p, form, None, "active");
    let with = |mut b: Value, k: &str, v: Value| {
        b[k] = v;
        b
    };
    let plan_path = format!("/plans/{plan_id}/involvements");
    let before =
        c.w.app
            .count("SELECT count(*) AS n FROM involvements")
            .await;
    // (token, method, path, body, status, code, field)
    let cases: Vec<(&str, Method, String, Value, u16, &str, Option<&str>)> = vec![
        (
            &admin,
            Method::POST,
            "/providers".into(),
            json!({"name": "X", "agbCode": "1234567"}),
            400,
            "validation_failed",
            Some("agbCode"),
        ),
        (
            &admin,
            Method::POST,
            "/providers".into(),
            json!({"name": "X", "agbCode": "1234567a"}),
            400,
            "validation_failed",
            Some("agbCode"),
        ),
        (
            &admin,
            Method::POST,
            "/providers".into(),
            json!({"name": "", "agbCode": "12345678"}),
            400,
            "validation_failed",
            Some("name"),
        ),
        (
            &admin,
            Method::POST,
            "/providers".into(),
            json!({"name": "Dubbel", "agbCode": "11111111"}),
            409,
            "agb_code_taken",
            None,
        ),
        (
            &admin,
            Method::POST,
            "/providers".into(),
            json!({"name": "X", "agbCode": "12345678", "extra": 1}),
            400,
            "validation_failed",
            Some("extra"),
        ),
        (
            &admin,
            Method::PATCH,
            format!("/providers/{}", c.provider_a),
            json!({"active": "yes"}),
            400,
            "validation_failed",
            Some("active"),
        ),
        // Found by schemathesis: a blank name was read as "unchanged" (200).
        (
            &admin,
            Method::PATCH,
            format!("/providers/{}", c.provider_a),
            json!({"name": ""}),
            400,
            "validation_failed",
            Some("name"),
        ),
        (
            &admin,
            Method::GET,
            "/providers?agbCode=123".into(),
            Value::Null,
            400,
            "validation_failed",
            Some("agbCode"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            inv(c.provider_a, "no_such_form"),
            400,
            "validation_failed",
            Some("careFormCode"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            json!({"providerId": c.provider_a, "careFormCode": "pleegzorg", "status": "planned"}),
            400,
            "validation_failed",
            Some("status"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            json!({"providerId": "not-a-uuid", "careFormCode": "pleegzorg", "status": "active"}),
            400,
            "validation_failed",
            Some("providerId"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            with(inv(c.provider_a, "pleegzorg"), "startedOn", json!(tomorrow)),
            400,
            "validation_failed",
            Some("startedOn"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            with(
                inv(c.provider_a, "pleegzorg"),
                "startedOn",
                json!("2026-02-30"),
            ),
            400,
            "validation_failed",
            Some("startedOn"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            with(
                with(
                    inv(c.provider_a, "pleegzorg"),
                    "startedOn",
                    json!("2026-01-01"),
                ),
                "requestedOn",
                json!("2026-02-01"),
            ),
            400,
            "validation_failed",
            Some("startedOn"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            with(
                involvement_body(c.provider_a, "pleegzorg", None, "requested"),
                "startedOn",
                json!("2026-01-01"),
            ),
            400,
            "validation_failed",
            Some("startedOn"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            with(
                inv(c.provider_a, "pleegzorg"),
                "requestedOn",
                json!("0416-01-01"),
            ),
            400,
            "validation_failed",
            Some("requestedOn"),
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            inv(Uuid::new_v4(), "pleegzorg"),
            422,
            "unknown_provider",
            None,
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            involvement_body(c.provider_a, "pleegzorg", Some(other_child), "active"),
            422,
            "unknown_member",
            None,
        ),
        (
            &anna,
            Method::POST,
            plan_path.clone(),
            involvement_body(c.provider_a, "ambulant_licht", Some(child), "active"),
            409,
            "involvement_exists",
            None,
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{running}/start"),
            json!({}),
            409,
            "involvement_not_requested",
            None,
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{ended}/end"),
            json!({"endReason": "completed"}),
            409,
            "involvement_ended",
            None,
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{running}/end"),
            json!({"endReason": "completed", "endedOn": "2001-01-01"}),
            400,
            "validation_failed",
            Some("endedOn"),
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{running}/end"),
            json!({"endReason": "finished"}),
            400,
            "validation_failed",
            Some("endReason"),
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{running}/end"),
            json!({}),
            400,
            "validation_failed",
            Some("endReason"),
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{waiting}/start"),
            json!({"startedOn": "1999-01-01"}),
            400,
            "validation_failed",
            Some("startedOn"),
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{waiting}/start"),
            json!({"startedOn": tomorrow}),
            400,
            "validation_failed",
            Some("startedOn"),
        ),
        (
            &anna,
            Method::POST,
            "/involvements/not-a-uuid/start".into(),
            json!({}),
            400,
            "validation_failed",
            Some("id"),
        ),
        (
            &anna,
            Method::POST,
            format!("/involvements/{}/start", Uuid::new_v4()),
            json!({}),
            404,
            "not_found",
            None,
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/scalings"),
            json!({"reason": "r"}),
            400,
            "validation_failed",
            Some("start"),
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/scalings"),
            json!({"reason": "", "start": [{"providerId": c.provider_a, "careFormCode": "pleegzorg"}]}),
            400,
            "validation_failed",
            Some("reason"),
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/scalings"),
            json!({"reason": "r", "start": [{"providerId": c.provider_a, "careFormCode": "bad"}]}),
            400,
            "validation_failed",
            Some("start[0].careFormCode"),
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/scalings"),
            json!({"reason": "r", "end": [{"involvementId": running, "endReason": "completed"}, {"involvementId": running, "endReason": "completed"}]}),
            400,
            "validation_failed",
            Some("end[1].involvementId"),
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/scalings"),
            json!({"reason": "r", "end": [{"involvementId": ended, "endReason": "completed"}]}),
            409,
            "involvement_ended",
            None,
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/signals/stacking/acknowledge"),
            json!({"note": "n"}),
            400,
            "validation_failed",
            Some("code"),
        ),
        (
            &anna,
            Method::POST,
            format!("/plans/{plan_id}/signals/yo_yo/acknowledge"),
            json!({"note": "   "}),
            400,
            "validation_failed",
            Some("note"),
        ),
        (
            &anna,
            Method::GET,
            "/families?signal=stacking".into(),
            Value::Null,
            400,
            "validation_failed",
            Some("signal"),
        ),
    ];
    let mut failures = Vec::new();
    for (token, method, path, body, status, code, field) in cases {
        let mut req =
            c.w.app
                .client
                .request(method.clone(), c.w.app.api(&path))
                .bearer_auth(token);
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("sent");
        let got = res.status().as_u16();
        let problem = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/problem+json"));
        let body: Value = res.json().await.unwrap_or_default();
        let names: Vec<&str> = body["invalidParams"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        let ok = got == status
            && problem
            && body["code"] == code
            && field.is_none_or(|f| names.contains(&f));
        if !ok {
            failures.push(format!(
                "{method} {path}: got {got} {body}; want {status} {code} {field:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing was written by any of them.
    assert_eq!(
        c.w.app
            .count("SELECT count(*) AS n FROM involvements")
            .await,
        before
    );
    assert_eq!(
        c.w.app.count(&format!("SELECT count(*) AS n FROM involvements WHERE id = '{running}' AND status = 'active'")).await,
        1
    );
}
