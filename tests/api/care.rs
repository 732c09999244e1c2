//! Involvements, the derived level, scaling history and signals, against
//! the real server and database.

use diesel_async::RunQueryDsl;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;
use gezinsregie::care::state::evaluate_plan;
use gezinsregie::domain::signals::Thresholds;

fn directions(scalings: &Value) -> Vec<(i64, i64, String)> {
    scalings
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["fromLevel"].as_i64().unwrap(),
                s["toLevel"].as_i64().unwrap(),
                s["direction"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn the_scaling_history_follows_the_involvement_changes() {
    let c = care_world().await;
    let (family_id, plan_id, child) = directed_plan(&c, 1).await;
    let app = &c.w.app;
    // Ambulant care starts: 0 -> 3.
    let ambulant = involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        Some(child),
        "active",
    )
    .await;
    // A request does not move the level.
    let foster = involve(
        &c,
        plan_id,
        c.provider_c,
        "pleegzorg",
        Some(child),
        "requested",
    )
    .await;
    assert_eq!(plan_view(&c, plan_id).await["level"], 3);
    // Foster care starts: 3 -> 5.
    assert_eq!(start(&c, &c.w.anna.token, foster).await.status, 200);
    // Ambulant ends while foster care runs: level stays 5, no event.
    assert_eq!(
        end(&c, &c.w.anna.token, ambulant, "completed").await.status,
        200
    );
    // Foster care ends: 5 -> 0.
    let r = end(&c, &c.w.anna.token, foster, "stopped_by_client").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["endReasonCode"], "32");
    assert_eq!(r.body["waitingDays"], 0);
    let history = get(app, &format!("/plans/{plan_id}/scalings"), &c.w.anna.token).await;
    assert_eq!(history.status, 200);
    assert_eq!(
        directions(&history.body),
        vec![
            (0, 3, "up".to_owned()),
            (3, 5, "up".to_owned()),
            (5, 0, "down".to_owned())
        ]
    );
    assert_eq!(history.body[1]["involvementIds"], json!([foster]));
    assert_eq!(history.body[1]["decidedBy"], json!(c.w.anna.id()));
    let view = plan_view(&c, plan_id).await;
    assert_eq!(view["level"], 0);
    assert_eq!(view["involvements"].as_array().unwrap().len(), 2);
    // Each write left its audit event, naming the family.
    for (action, n) in [("create", 2usize), ("start", 1), ("end", 2)] {
        let events: Vec<_> = app
            .audit_events(action)
            .await
            .into_iter()
            .filter(|e| e.resource_type == "involvement")
            .collect();
        assert_eq!(events.len(), n, "{action}");
        assert!(events.iter().all(|e| e.family_id == Some(family_id)));
    }
    let scaled = app.audit_events("start").await;
    assert_eq!(scaled[0].detail["scaling"]["toLevel"], 5);
    // Closing is refused while care runs, and allowed when none does.
    let close =
        json!({"reason": "Klaar", "outcome": {"goalRealisation": "achieved", "dropout": false}});
    let again = involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        None,
        "requested",
    )
    .await;
    let r = post(
        app,
        &format!("/plans/{plan_id}/close"),
        &c.w.anna.token,
        close.clone(),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "involvements_active"));
    end(&c, &c.w.anna.token, again, "other").await;
    let r = post(
        app,
        &format!("/plans/{plan_id}/close"),
        &c.w.anna.token,
        close,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing changes on a closed plan.
    let r = post(
        app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.lead.token,
        involvement_body(c.provider_a, "ambulant_licht", None, "active"),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "plan_closed"));
}

#[actix_web::test]
async fn safety_sets_the_protection_measure_without_moving_the_level() {
    let c = care_world().await;
    let (_, plan_id, child) = directed_plan(&c, 2).await;
    let ots = involve(
        &c,
        plan_id,
        c.provider_b,
        "ondertoezichtstelling",
        Some(child),
        "active",
    )
    .await;
    let view = plan_view(&c, plan_id).await;
    assert_eq!(
        (view["level"].clone(), view["protectionMeasure"].clone()),
        (json!(0), json!(true))
    );
    let history = get(
        &c.w.app,
        &format!("/plans/{plan_id}/scalings"),
        &c.w.lead.token,
    )
    .await;
    assert_eq!(history.body, json!([]));
    end(&c, &c.w.anna.token, ots, "completed").await;
    assert_eq!(plan_view(&c, plan_id).await["protectionMeasure"], false);
}

#[actix_web::test]
async fn a_scaling_step_is_atomic() {
    let c = care_world().await;
    let app = &c.w.app;
    let (_, plan_id, child) = directed_plan(&c, 3).await;
    let (_, other_plan, _) = directed_plan(&c, 4).await;
    let ambulant = involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        Some(child),
        "active",
    )
    .await;
    let elsewhere = involve(
        &c,
        other_plan,
        c.provider_a,
        "ambulant_licht",
        None,
        "active",
    )
    .await;
    let before = plan_view(&c, plan_id).await;
    let audit_before = app
        .count("SELECT count(*) AS n FROM audit_events WHERE action = 'scale'")
        .await;
    // One id of another plan in the middle: nothing may change.
    let r = post(
        app,
        &format!("/plans/{plan_id}/scalings"),
        &c.w.anna.token,
        json!({
            "reason": "Opschalen naar pleegzorg",
            "end": [{"involvementId": ambulant, "endReason": "transferred"},
                    {"involvementId": elsewhere, "endReason": "transferred"}],
            "start": [{"providerId": c.provider_c, "careFormCode": "pleegzorg", "memberId": child}]
        }),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (422, "involvement_not_in_plan"),
        "{}",
        r.body
    );
    let after = plan_view(&c, plan_id).await;
    assert_eq!(after["involvements"], before["involvements"]);
    assert_eq!(
        (after["level"].clone(), after["version"].clone()),
        (before["level"].clone(), before["version"].clone())
    );
    assert_eq!(
        plan_view(&c, other_plan).await["involvements"][0]["status"],
        "active"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'scale'")
            .await,
        audit_before
    );
    // An unknown provider in the start list: nothing changes either.
    let r = post(
        app,
        &format!("/plans/{plan_id}/scalings"),
        &c.w.anna.token,
        json!({
            "reason": "Opschalen",
            "end": [{"involvementId": ambulant, "endReason": "transferred"}],
            "start": [{"providerId": Uuid::new_v4(), "careFormCode": "pleegzorg"}]
        }),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "unknown_provider"));
    assert_eq!(
        plan_view(&c, plan_id).await["involvements"],
        before["involvements"]
    );
    // The whole step: one event, 3 -> 5, naming both involvements.
    let r = post(
        app,
        &format!("/plans/{plan_id}/scalings"),
        &c.w.anna.token,
        json!({
            "reason": "Opschalen naar pleegzorg",
            "end": [{"involvementId": ambulant, "endReason": "transferred"}],
            "start": [{"providerId": c.provider_c, "careFormCode": "pleegzorg", "memberId": child}]
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["level"], 5);
    let history = get(app, &format!("/plans/{plan_id}/scalings"), &c.w.anna.token).await;
    assert_eq!(
        directions(&history.body).last().cloned(),
        Some((3, 5, "up".to_owned()))
    );
    assert_eq!(
        history.body.as_array().unwrap().last().unwrap()["involvementIds"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        history.body.as_array().unwrap().last().unwrap()["reason"],
        "Opschalen naar pleegzorg"
    );
    let scale_events = app.audit_events("scale").await;
    assert_eq!(scale_events.len(), 1);
    assert_eq!(
        scale_events[0].resource_id.as_deref(),
        Some(plan_id.to_string().as_str())
    );
}

#[actix_web::test]
async fn stacked_care_signals_and_the_acknowledged_one_reopens_when_a_provider_joins() {
    let c = care_world().await;
    let app = &c.w.app;
    let (family_id, plan_id, child) = directed_plan(&c, 5).await;
    involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        Some(child),
        "active",
    )
    .await;
    involve(
        &c,
        plan_id,
        c.provider_b,
        "jeugd_ggz_basis",
        Some(child),
        "active",
    )
    .await;
    let view = plan_view(&c, plan_id).await;
    assert_eq!(signal_codes(&view), vec!["parallel_same_segment"]);
    let third = involve(&c, plan_id, c.provider_c, "pleegzorg", None, "active").await;
    let view = plan_view(&c, plan_id).await;
    assert_eq!(
        signal_codes(&view),
        vec!["many_providers", "parallel_same_segment"]
    );
    // The family list filter finds it, and the summary names the signals.
    let list = get(app, "/families?signal=many_providers", &c.w.lead.token).await;
    assert_eq!(list.status, 200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(family_id));
    assert_eq!(items[0]["currentPlan"]["level"], 5);
    assert_eq!(
        items[0]["currentPlan"]["signals"],
        json!(["many_providers", "parallel_same_segment"])
    );
    let none = get(app, "/families?signal=yo_yo", &c.w.lead.token).await;
    assert_eq!(none.body["items"], json!([]));
    // Katwijk's team lead does not see Leiden's signalled family.
    let katwijk = get(
        app,
        "/families?signal=many_providers",
        &c.w.katwijk_lead.token,
    )
    .await;
    assert_eq!(katwijk.body["items"], json!([]));
    // The director acknowledges it.
    let ack = post(
        app,
        &format!("/plans/{plan_id}/signals/many_providers/acknowledge"),
        &c.w.anna.token,
        json!({"note": "Bewust: pleegzorg en GGZ zijn afgestemd"}),
    )
    .await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    assert_eq!(ack.body["status"], "acknowledged");
    let signals = get(app, &format!("/plans/{plan_id}/signals"), &c.w.anna.token).await;
    let many = signals
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == "many_providers")
        .unwrap()
        .clone();
    assert_eq!(
        (many["status"].clone(), many["note"].clone()),
        (
            json!("acknowledged"),
            json!("Bewust: pleegzorg en GGZ zijn afgestemd")
        )
    );
    assert_eq!(app.audit_events("acknowledge").await.len(), 1);
    // Still acknowledged while its facts stay (an unrelated request).
    involve(&c, plan_id, c.provider_a, "dyslexiezorg", None, "requested").await;
    let signals = get(app, &format!("/plans/{plan_id}/signals"), &c.w.anna.token).await;
    assert_eq!(
        signals
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == "many_providers")
            .unwrap()["status"],
        "acknowledged"
    );
    // A fourth provider joins: the facts changed, the signal re-opens.
    involve(&c, plan_id, c.provider_d, "dagbehandeling", None, "active").await;
    let signals = get(app, &format!("/plans/{plan_id}/signals"), &c.w.anna.token).await;
    let many = signals
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == "many_providers")
        .unwrap()
        .clone();
    assert_eq!(many["status"], "open");
    assert_eq!(many["note"], Value::Null);
    assert_eq!(many["detail"]["count"], 4);
    // Two providers leave: below the threshold, the signal is resolved.
    end(&c, &c.w.anna.token, third, "completed").await;
    let view = plan_view(&c, plan_id).await;
    assert!(signal_codes(&view).contains(&"many_providers".to_owned()));
    let d = view["involvements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["careFormCode"] == "dagbehandeling")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    end(&c, &c.w.anna.token, d, "completed").await;
    let view = plan_view(&c, plan_id).await;
    assert_eq!(signal_codes(&view), vec!["parallel_same_segment"]);
    // Acknowledging a signal that does not hold: 404.
    let r = post(
        app,
        &format!("/plans/{plan_id}/signals/yo_yo/acknowledge"),
        &c.w.anna.token,
        json!({"note": "n"}),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "signal_not_found"));
}

#[actix_web::test]
async fn time_based_signals_come_with_the_refresh() {
    let c = care_world().await;
    let app = &c.w.app;
    let (_, plan_id, child) = directed_plan(&c, 6).await;
    let family_id = family(&c.w, None, Some(&bsn(7))).await;
    let intake = plan(&c.w, family_id, None).await.id();
    let today = chrono::Utc::now().date_naive();
    let at_threshold = (today - chrono::Duration::days(42)).to_string();
    let mut body = involvement_body(
        c.provider_b,
        "jeugd_ggz_specialistisch",
        Some(child),
        "requested",
    );
    body["requestedOn"] = json!(at_threshold);
    let r = post(
        app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let waiting = r.id();
    assert!(signal_codes(&plan_view(&c, plan_id).await).is_empty());
    let t = Thresholds::default();
    let mut conn = app.conn().await;
    assert_eq!(
        gezinsregie::care::refresh::refresh_due(&mut conn, &t)
            .await
            .unwrap(),
        0
    );
    // A day passes for the request and five days and a bit for the intake.
    app.execute(&format!(
        "UPDATE involvements SET requested_on = requested_on - 1 WHERE id = '{waiting}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE plans SET created_at = now() - interval '5 days 1 minute' WHERE id = '{intake}'"
    ))
    .await;
    assert_eq!(
        gezinsregie::care::refresh::refresh_due(&mut conn, &t)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        signal_codes(&plan_view(&c, plan_id).await),
        vec!["long_wait"]
    );
    assert_eq!(
        signal_codes(&plan_view(&c, intake).await),
        vec!["intake_without_director"]
    );
    let system: Vec<_> = app
        .audit_events("update")
        .await
        .into_iter()
        .filter(|e| e.actor_type == "system")
        .collect();
    assert_eq!(system.len(), 2);
    // Nothing more is due: the next round changes nothing.
    assert_eq!(
        gezinsregie::care::refresh::refresh_due(&mut conn, &t)
            .await
            .unwrap(),
        0
    );
    // The wait ends when the care starts; the intake when a director comes.
    assert_eq!(start(&c, &c.w.anna.token, waiting).await.status, 200);
    assert!(signal_codes(&plan_view(&c, plan_id).await).is_empty());
    assert_eq!(
        handover(&c.w, intake, &c.w.lead.token, c.w.bram.id())
            .await
            .status,
        200
    );
    assert!(signal_codes(&plan_view(&c, intake).await).is_empty());
}

#[actix_web::test]
async fn concurrent_starts_and_ends_leave_the_state_a_recomputation_gives() {
    let c = care_world().await;
    let app = &c.w.app;
    let (_, plan_id, child) = directed_plan(&c, 8).await;
    let forms = [
        (c.provider_a, "ambulant_licht"),
        (c.provider_b, "jeugd_ggz_basis"),
        (c.provider_c, "pleegzorg"),
        (c.provider_d, "dagbehandeling"),
        (c.provider_a, "dyslexiezorg"),
        (c.provider_b, "klinische_jeugd_ggz"),
    ];
    let mut requested = Vec::new();
    let mut active = Vec::new();
    for (i, (p, form)) in forms.iter().enumerate() {
        let member = (i % 2 == 0).then_some(child);
        requested.push(involve(&c, plan_id, *p, form, member, "requested").await);
    }
    for (p, form) in [
        (c.provider_c, "crisisopvang"),
        (c.provider_d, "schoolmaatschappelijk_werk"),
    ] {
        active.push(involve(&c, plan_id, p, form, Some(child), "active").await);
    }
    // Every request started twice and every active one ended twice, all at once.
    let calls = requested
        .iter()
        .flat_map(|id| [(*id, "start"), (*id, "start")])
        .chain(active.iter().flat_map(|id| [(*id, "end"), (*id, "end")]))
        .map(|(id, action)| {
            let token = c.w.anna.token.clone();
            async move {
                let body = if action == "end" {
                    json!({"endReason": "completed"})
                } else {
                    json!({})
                };
                call(
                    app,
                    Method::POST,
                    &format!("/involvements/{id}/{action}"),
                    Some(&token),
                    Some(body),
                    &[],
                )
                .await
            }
        });
    let replies = join_all(calls).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let conflicts: Vec<&str> = replies
        .iter()
        .filter(|r| r.status == 409)
        .map(|r| r.code())
        .collect();
    assert_eq!(
        ok,
        requested.len() + active.len(),
        "exactly one of each pair wins"
    );
    assert_eq!(conflicts.len(), requested.len() + active.len());
    assert!(
        conflicts
            .iter()
            .all(|c| *c == "involvement_not_requested" || *c == "involvement_ended"),
        "{conflicts:?}"
    );
    // The stored level and signals equal a recomputation from scratch.
    let view = plan_view(&c, plan_id).await;
    assert_eq!(view["level"], 6);
    let conn = app.conn().await;
    let (_, _, findings) = evaluate_plan(
        &conn,
        &Thresholds::default(),
        plan_id.into(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let mut expected: Vec<String> = findings
        .iter()
        .map(|f| f.code.as_str().to_owned())
        .collect();
    expected.sort();
    assert_eq!(signal_codes(&view), expected);
    assert!(expected.contains(&"many_providers".to_owned()));
    let stored_facts = app
        .count(&format!(
            "SELECT count(*) AS n FROM plan_signals WHERE plan_id = '{plan_id}'"
        ))
        .await;
    assert_eq!(stored_facts as usize, findings.len());
    // The history chains: each event starts where the previous one ended,
    // and the last ends at the plan's level.
    let history = get(app, &format!("/plans/{plan_id}/scalings"), &c.w.anna.token).await;
    let steps = directions(&history.body);
    assert!(steps.windows(2).all(|w| w[0].1 == w[1].0), "{steps:?}");
    assert_eq!(steps.last().map(|s| s.1), Some(6));
    drop(conn);
}

#[actix_web::test]
async fn the_database_refuses_a_level_its_involvements_do_not_give() {
    let c = care_world().await;
    let (_, plan_id, _) = directed_plan(&c, 9).await;
    let mut conn = c.w.app.conn().await;
    // A level without an involvement or a scaling event.
    let r = diesel::sql_query(format!("UPDATE plans SET level = 4 WHERE id = '{plan_id}'"))
        .execute(&mut conn)
        .await;
    let e = r.expect_err("refused at commit");
    assert!(e.to_string().contains("level"), "{e}");
    // An active involvement without moving the plan's level.
    involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        None,
        "requested",
    )
    .await;
    let r = diesel::sql_query(format!(
        "UPDATE involvements SET status = 'active', started_on = current_date WHERE plan_id = '{plan_id}'"
    ))
    .execute(&mut conn)
    .await;
    assert!(r.is_err());
    // Closing a plan with care running.
    let r = diesel::sql_query(format!(
        "UPDATE plans SET status = 'closed', closed_at = now(), close_reason = 'x', goal_realisation = 'achieved', dropout = false WHERE id = '{plan_id}'"
    ))
    .execute(&mut conn)
    .await;
    assert!(r.is_err());
}

#[actix_web::test]
async fn the_demo_data_shows_every_level_and_every_signal() {
    let app = crate::helpers::spawn_app().await;
    let mut conn = app.conn().await;
    let keys = gezinsregie::config::Keys {
        jwt: [1; 32],
        bsn_encryption: [2; 32],
        bsn_hash: [3; 32],
    };
    let keys = gezinsregie::crypto::keys::PurposeKeys::derive(&keys);
    assert!(gezinsregie::demo::load_if_absent(&mut conn, &keys)
        .await
        .unwrap());
    let levels: Vec<i64> = (0..=7).map(|l| l as i64).collect();
    for level in &levels {
        let n = app
            .count(&format!(
                "SELECT count(*) AS n FROM plans WHERE status <> 'closed' AND level = {level}"
            ))
            .await;
        assert!(n > 0, "no open plan at level {level}");
    }
    for (family, code) in [
        ("Familie Jansen", "many_providers"),
        ("Familie Jansen", "parallel_same_segment"),
        ("Familie Jansen", "multiple_segments"),
        ("Familie de Vries", "yo_yo"),
        ("Familie Yilmaz", "long_wait"),
        ("Familie El Amrani", "intake_without_director"),
    ] {
        let n = app.count(&format!(
            "SELECT count(*) AS n FROM plan_signals s JOIN families f ON f.id = s.family_id WHERE f.name = '{family}' AND s.code = '{code}'"
        )).await;
        assert_eq!(n, 1, "{family} {code}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM plans WHERE protection_measure")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM users WHERE role = 'provider_user' AND provider_id IS NOT NULL"
        )
        .await,
        1
    );
}
