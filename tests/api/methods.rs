//! Wrong methods: every path of the API, and the operational paths beside
//! it, answers a method it does not document with 405 problem+json and an
//! `Allow` header naming exactly the documented methods (RFC 9110 15.5.6),
//! whoever asks. Schemathesis' `unsupported_method` check probes the same
//! from outside; this test covers every path and method on every run.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::case_world::{case_world, CaseWorld};

/// Methods the API could be asked; HEAD, OPTIONS, TRACE and QUERY included,
/// since none of them is documented anywhere: HEAD is not served
/// implicitly for GET (a HEAD on an audited read would either write an
/// audit event for data never sent or skip one for a request that did reach
/// the record), and CORS preflights are answered by the CORS middleware
/// before routing (operations.rs tests them), so a plain OPTIONS is just
/// another undocumented method.
const PROBED: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "QUERY",
];

/// A concrete path for a documented template: a fresh UUID for ids, the
/// first allowed value for enumerated parameters (signal codes).
fn concrete(path: &str, item: &Value) -> String {
    path.split('/')
        .map(|segment| {
            let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                return segment.to_owned();
            };
            let schema = item
                .as_object()
                .into_iter()
                .flat_map(|ops| ops.values())
                .filter_map(|op| op["parameters"].as_array())
                .flatten()
                .find(|p| p["in"] == "path" && p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap_or(Value::Null);
            match schema["enum"].get(0).and_then(Value::as_str) {
                Some(value) => value.to_owned(),
                None => uuid::Uuid::now_v7().to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Sends `method` to `url` with `token` and says what is wrong with the
/// answer, if anything, given the methods `allowed` there.
async fn check_refused(
    w: &CaseWorld,
    method: &str,
    url: &str,
    token: &str,
    allowed: &BTreeSet<String>,
) -> Option<String> {
    let res = w
        .app
        .client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = crate::helpers::content_type(&res);
    let allow: BTreeSet<String> = res
        .headers()
        .get_all("allow")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| m.trim().to_uppercase())
        .filter(|m| !m.is_empty())
        .collect();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let mut wrong = Vec::new();
    if status != 405 {
        wrong.push(format!("status {status}"));
    }
    if !content_type.starts_with("application/problem+json") {
        wrong.push(format!("content type {content_type:?}"));
    }
    // A HEAD answer has no body by definition; its headers still say what it is.
    if method != "HEAD" && body["code"] != "method_not_allowed" {
        wrong.push(format!("code {}", body["code"]));
    }
    if &allow != allowed {
        wrong.push(format!("Allow {allow:?}, expected {allowed:?}"));
    }
    (!wrong.is_empty()).then(|| format!("{method} {url}: {}", wrong.join(", ")))
}

#[actix_web::test]
async fn every_path_answers_undocumented_methods_with_405_and_the_allowed_ones() {
    let w = case_world().await;
    let doc: Value = serde_json::from_str(&gezinsregie::openapi::document_json()).unwrap();
    let mut failures = Vec::new();
    let mut probes = 0;

    for (path, item) in doc["paths"].as_object().unwrap() {
        let allowed: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .filter(|m| PROBED.contains(&m.as_str()))
            .collect();
        let url = w.app.api(&concrete(path, item));
        // Admin paths with the admin's token, the rest with the team lead's:
        // a valid token of a role that uses the path, so the 405 is about
        // the method and nothing else.
        let admin_path = item
            .as_object()
            .unwrap()
            .values()
            .any(|op| op["tags"][0] == "Administration");
        let token = if admin_path {
            &w.admin.token
        } else {
            &w.lead.token
        };
        for method in PROBED.iter().filter(|m| !allowed.contains(**m)) {
            probes += 1;
            if let Some(failure) = check_refused(&w, method, &url, token, &allowed).await {
                failures.push(failure);
            }
        }
    }

    assert!(probes > 200, "only {probes} wrong methods probed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[actix_web::test]
async fn the_operational_paths_answer_undocumented_methods_with_405_too() {
    let w = case_world().await;
    let get_only: BTreeSet<String> = ["GET".to_owned()].into();
    let mut failures = Vec::new();

    for path in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/docs/",
        "/docs/index.html",
        "/v1/openapi.json",
    ] {
        let url = format!("{}{path}", w.app.address);
        let served = w.app.client.get(&url).send().await.unwrap().status();
        assert_eq!(served, 200, "GET {path}");
        for method in PROBED.iter().filter(|m| **m != "GET") {
            if let Some(failure) = check_refused(&w, method, &url, &w.lead.token, &get_only).await {
                failures.push(failure);
            }
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
