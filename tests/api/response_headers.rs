//! Issue 15 item 10: response headers for browsers and caches, and
//! `/metrics` behind a token. Personal data and tokens are sent with
//! `Cache-Control: no-store`, every response with `X-Content-Type-Options:
//! nosniff` and a Content-Security-Policy (Swagger UI's own on `/docs`),
//! and with a metrics token set a scrape without it gets 401.

use reqwest::Method;
use serde_json::json;

use crate::case_world::*;
use crate::helpers::{spawn_app_with, PASSWORD};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Issue 15 item 10: nosniff on every response (API, errors, health,
/// docs, metrics, CORS preflight); no-store on every `/v1` response,
/// including the tokens of a login and errors.
#[actix_web::test]
async fn every_response_is_nosniff_and_no_v1_response_is_stored() {
    let w = case_world().await;
    let family = family(&w, None, None).await;
    let app = &w.app;
    let login = json!({"username": w.lead.user.username, "password": PASSWORD});
    let wrong = json!({"username": w.lead.user.username, "password": "wrong-password-1"});
    let requests = [
        (
            Method::GET,
            format!("/v1/families/{family}"),
            Some(w.lead.token.as_str()),
            None,
        ),
        (
            Method::GET,
            "/v1/families".to_owned(),
            Some(w.lead.token.as_str()),
            None,
        ),
        (
            Method::GET,
            "/v1/auth/me".to_owned(),
            Some(w.lead.token.as_str()),
            None,
        ),
        (Method::POST, "/v1/auth/login".to_owned(), None, Some(login)),
        (Method::POST, "/v1/auth/login".to_owned(), None, Some(wrong)),
        (Method::GET, format!("/v1/families/{family}"), None, None),
        (Method::GET, "/v1/no-such-thing".to_owned(), None, None),
        (Method::GET, "/health/live".to_owned(), None, None),
        (Method::GET, "/docs/".to_owned(), None, None),
        (Method::GET, "/metrics".to_owned(), None, None),
        (Method::GET, "/nowhere".to_owned(), None, None),
    ];
    let mut seen = Vec::new();
    for (method, path, token, body) in requests {
        let mut req = app
            .client
            .request(method.clone(), format!("{}{path}", app.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        seen.push((
            format!("{method} {path} {}", res.status()),
            header(&res, "x-content-type-options"),
            header(&res, "cache-control"),
            header(&res, "content-security-policy"),
        ));
    }
    let preflight = app
        .client
        .request(Method::OPTIONS, app.api("/families"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    seen.push((
        format!("OPTIONS /v1/families {}", preflight.status()),
        header(&preflight, "x-content-type-options"),
        header(&preflight, "cache-control"),
        header(&preflight, "content-security-policy"),
    ));

    for (what, nosniff, cache, csp) in &seen {
        assert_eq!(nosniff, "nosniff", "{what}");
        assert!(!csp.is_empty(), "{what} has no CSP");
        if what.contains(" /v1/") {
            assert_eq!(cache, "no-store", "{what}");
            assert_eq!(csp, "default-src 'none'; frame-ancestors 'none'", "{what}");
        }
    }
    assert!(seen
        .iter()
        .any(|s| s.0.starts_with("POST /v1/auth/login 200")));
}

/// Issue 15 item 10: `/docs` gets a CSP that lets Swagger UI load its own
/// files and nothing else: no inline or evaluated script, no other
/// origin; and the page it serves fits it (every script a file of its
/// own, served with the same policy; no external validator badge).
#[actix_web::test]
async fn the_docs_have_a_tight_csp_that_swagger_ui_fits() {
    let w = case_world().await;
    let app = &w.app;
    let page = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .expect("docs");
    let csp = header(&page, "content-security-policy");
    let html = page.text().await.expect("html");

    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{html}");
    let mut files = Vec::new();
    for script in scripts {
        let tag = script.split('>').next().unwrap_or_default();
        let src = tag
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("an inline script: {script}"));
        let inline = script
            .split_once('>')
            .map(|(_, rest)| rest.split("</script>").next().unwrap_or_default().trim())
            .unwrap_or_default();
        assert!(inline.is_empty(), "inline script code: {inline}");
        assert!(src.starts_with("./"), "a script from elsewhere: {src}");
        files.push(src.trim_start_matches("./").to_owned());
    }
    assert!(
        !html.contains("style=\""),
        "inline style in the page itself"
    );
    for file in &files {
        let res = app
            .client
            .get(format!("{}/docs/{file}", app.address))
            .send()
            .await
            .expect("docs file");
        assert_eq!(res.status(), 200, "{file}");
        assert_eq!(header(&res, "content-security-policy"), csp, "{file}");
        if file == "swagger-initializer.js" {
            let js = res.text().await.expect("initializer");
            assert!(js.contains("/v1/openapi.json"), "{js}");
            assert!(js.contains("\"validatorUrl\": \"none\""), "{js}");
        }
    }
    assert!(files.iter().any(|f| f == "swagger-initializer.js"));
}

/// Issue 15 item 10: with a metrics token set, `/metrics` answers 401
/// problem+json without it or with another one, and the metrics with it.
#[actix_web::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    let token = "metrics-token-0123456789-abcdefghijklmnop";
    let app = spawn_app_with(|s| s.secrets.metrics_token = Some(token.to_owned())).await;
    let url = format!("{}/metrics", app.address);
    // A request for the counters to count.
    let live = format!("{}/health/live", app.address);
    app.client.get(&live).send().await.expect("live");

    let none = app.client.get(&url).send().await.expect("metrics");
    let (none_status, none_type) = (none.status(), header(&none, "content-type"));
    let none_body = none.text().await.unwrap_or_default();
    let other = app
        .client
        .get(&url)
        .bearer_auth("metrics-token-0123456789-abcdefghijklmnoq")
        .send()
        .await
        .expect("metrics");
    let right = app
        .client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("metrics");
    let right_status = right.status();
    let body = right.text().await.unwrap_or_default();

    assert_eq!(none_status, 401);
    assert_eq!(none_type, "application/problem+json");
    assert!(!none_body.contains("gezinsregie_"), "{none_body}");
    assert_eq!(other.status(), 401);
    assert_eq!(right_status, 200);
    assert!(body.contains("gezinsregie_http_requests_total"), "{body}");
}
