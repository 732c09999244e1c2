//! Operational promises: the schema is documented, CORS follows the
//! configuration, logs are JSON in production and never hold secrets, and
//! the command line creates users that can log in.

use std::time::Duration;

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::case_world::*;
use crate::helpers::{eventually, spawn_app, test_keys};

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[actix_web::test]
async fn every_table_and_column_is_commented_and_known_to_schema_rs() {
    let app = spawn_app().await;
    let mut conn = app.conn().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name
         FROM information_schema.columns c
         WHERE c.table_schema = 'public' AND c.table_name <> '__diesel_schema_migrations'
         ORDER BY 1, 2",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let uncommented: Vec<Column> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, coalesce(a.attname::text, '') AS column_name
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relkind = 'r' AND c.relname <> '__diesel_schema_migrations'
           AND (obj_description(c.oid, 'pg_class') IS NULL
                OR (a.attname IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL))",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let schema_rs = std::fs::read_to_string("src/db/schema.rs").unwrap();

    assert!(
        uncommented.is_empty(),
        "missing COMMENT ON: {uncommented:?}"
    );
    let mut missing = Vec::new();
    for c in &columns {
        let table_block = schema_rs
            .split("diesel::table! {")
            .find(|block| block.contains(&format!(" {} (", c.table_name)))
            .unwrap_or_default();
        if !table_block.contains(&format!("        {} -> ", c.column_name)) {
            missing.push(format!("{}.{}", c.table_name, c.column_name));
        }
    }
    assert!(
        missing.is_empty(),
        "columns missing from schema.rs: {missing:?}"
    );
    let declared = schema_rs
        .lines()
        .filter(|l| l.starts_with("        ") && l.contains(" -> "))
        .count();
    assert_eq!(
        declared,
        columns.len(),
        "schema.rs declares columns the database does not have"
    );
}

#[actix_web::test]
async fn cors_admits_the_configured_origin_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.api("/families"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type,if-match",
            )
            .send()
    };

    let allowed = preflight("http://localhost:5173").await.unwrap();
    let other = preflight("https://evil.example").await.unwrap();

    assert!(allowed.status().is_success());
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "http://localhost:5173"
    );
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn production_logs_are_json_with_request_ids_and_hold_no_secrets() {
    let w = case_world().await;
    let (server, log_path) = w.app.spawn_logging_server_process().await;
    let child_bsn = bsn(77);
    let base = format!("{}/v1", server.address);
    let client = &w.app.client;

    let login: serde_json::Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": w.lead.user.username, "password": w.lead.user.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let refresh = login["refreshToken"].as_str().unwrap().to_owned();
    let created = client
        .post(format!("{base}/families"))
        .bearer_auth(&token)
        .header("X-Request-Id", "trace-me-123")
        .json(&family_body("0546", w.noord, Some(&child_bsn)))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let server_id = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    client
        .get(format!("{base}/families?bsn={child_bsn}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "x", "password": "SuperGeheim-999"}))
        .send()
        .await
        .unwrap();
    // Until the server process has logged the last request (its `handled`
    // line, written when the answer is sent).
    eventually(
        "the failed login's `handled` line",
        Duration::from_secs(10),
        async || {
            std::fs::read_to_string(&log_path).is_ok_and(|log| {
                log.lines().any(|l| {
                    l.contains("\"handled\"")
                        && l.contains("\"/v1/auth/login\"")
                        && l.contains("\"status\":401")
                })
            })
        },
    )
    .await;
    drop(server);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    // The server's own id is the request id; the client's is kept apart
    // (issue 15 item 10).
    assert!(
        lines.iter().any(|l| {
            let l = l.to_string();
            l.contains(&format!("\"request_id\":\"{server_id}\""))
                && l.contains("\"client_request_id\":\"trace-me-123\"")
        }),
        "the request ids are in the log"
    );
    for secret in [
        child_bsn.as_str(),
        w.lead.user.password.as_str(),
        "SuperGeheim-999",
        token.as_str(),
        refresh.as_str(),
    ] {
        assert!(!log.contains(secret), "the log holds a secret");
    }
    let _ = std::fs::remove_file(log_path);
    let _ = test_keys();
}

#[actix_web::test]
async fn the_command_line_creates_a_user_who_can_log_in() {
    let w = case_world().await;

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"))
        .args([
            "create-user",
            "--username",
            "piet.cli",
            "--role",
            "jgt_worker",
            "--municipality",
            "0546",
            "--team",
        ])
        .arg(w.noord.to_string())
        .env("DATABASE_URL", &w.app.db_url)
        .envs(crate::helpers::secrets_env())
        .env("GEZINSREGIE_PASSWORD", "een-lang-cli-wachtwoord")
        .env("GEZINSREGIE__LOG__FILTER", "warn")
        .output()
        .await
        .unwrap();
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"))
        .args([
            "create-user",
            "--username",
            "kees.cli",
            "--role",
            "jgt_worker",
            "--municipality",
            "0546",
        ])
        .env("DATABASE_URL", &w.app.db_url)
        .envs(crate::helpers::secrets_env())
        .env("GEZINSREGIE_PASSWORD", "een-lang-cli-wachtwoord")
        .env("GEZINSREGIE__LOG__FILTER", "warn")
        .output()
        .await
        .unwrap();
    let login = call(
        &w.app,
        reqwest::Method::POST,
        "/auth/login",
        None,
        Some(json!({"username": "piet.cli", "password": "een-lang-cli-wachtwoord"})),
        &[],
    )
    .await;

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(login.status, 200);
    assert!(
        !refused.status.success(),
        "a JGT worker without a team is refused"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("teamId"));
}

#[actix_web::test]
async fn metrics_label_unknown_paths_as_one_series_so_probing_cannot_grow_them() {
    // Every path nobody routes (a scanner, a fuzzer, a typo) used to become
    // its own time series, labelled with the raw path: memory and /metrics
    // grew with every distinct probe, and the paths were there for anyone
    // reading the metrics.
    let app = spawn_app().await;
    let probe = uuid::Uuid::new_v4().simple().to_string();
    for i in 0..3 {
        let res = app
            .client
            .get(format!("{}/v1/no-such-{probe}-{i}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let family = app
        .client
        .get(app.api(&format!("/families/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();

    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(family.status(), 401);
    assert!(!metrics.contains(&probe), "{metrics}");
    assert!(metrics.contains(r#"endpoint="UNKNOWN",method="GET",status="404""#));
    assert!(metrics.contains(r#"endpoint="/v1/families/{id}",method="GET",status="401""#));
}
