//! The committed OpenAPI document is the one the code generates, it is
//! served, and every operation it documents is routed and protected.

use serde_json::Value;

use crate::helpers::spawn_app;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn the_committed_openapi_document_is_up_to_date() {
    let generated = gezinsregie::openapi::document_json();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all("openapi").unwrap();
        std::fs::write(COMMITTED, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is stale; regenerate it with `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

#[actix_web::test]
async fn the_document_and_the_interactive_docs_are_served() {
    let app = spawn_app().await;

    let served: Value = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let docs = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();

    let generated: Value = serde_json::from_str(&gezinsregie::openapi::document_json()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["servers"][0]["url"], "/v1");
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "Swagger UI is bundled, not fetched"
    );
}

#[actix_web::test]
async fn every_documented_operation_is_routed_and_protected() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(&gezinsregie::openapi::document_json()).unwrap();
    let public = ["login", "refreshToken", "issueClientToken"];
    let mut failures = Vec::new();
    let mut operations = 0;

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            operations += 1;
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        seg.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let res = app
                .client
                .request(method.clone(), app.api(&concrete))
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let id = op["operationId"].as_str().unwrap_or_default();
            let documented = op["responses"].get(status.to_string()).is_some();
            let ok = if public.contains(&id) {
                status != 404 && status != 405 && status < 500
            } else {
                status == 401
            };
            if !ok || !documented {
                failures.push(format!(
                    "{method} {path} ({id}): {status}, documented: {documented}"
                ));
            }
        }
    }
    assert!(operations >= 28, "only {operations} operations documented");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
