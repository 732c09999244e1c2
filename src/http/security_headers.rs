//! Response headers that keep browsers and caches from mishandling what
//! the API sends (issue 15 item 10):
//!
//! - `X-Content-Type-Options: nosniff` on every response: a JSON body is
//!   never taken for HTML or script;
//! - `Cache-Control: no-store` on every `/v1` response (personal data and
//!   tokens) that does not set its own: no shared or browser cache keeps a
//!   copy;
//! - a Content-Security-Policy on every response: `/docs` gets what Swagger
//!   UI needs and no more ([`DOCS_CSP`]), everything else nothing at all
//!   ([`API_CSP`]), since a JSON answer never loads anything.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;

/// Swagger UI as utoipa-swagger-ui serves it: its HTML loads scripts and
/// styles from files next to it (no inline script; the configuration is
/// the file `swagger-initializer.js`), so scripts need `'self'` only and no
/// `eval`. Styles allow inline ones because Swagger UI sets `style`
/// attributes in the markup it renders (a style cannot run code); its CSS
/// draws icons from `data:` images. It fetches the OpenAPI document from
/// this origin; the external validator badge is switched off (startup).
pub const DOCS_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Everything else is JSON (or plain text on `/metrics`): nothing to load,
/// nothing to frame.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Which rules a path falls under.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Area {
    Docs,
    Api,
    Other,
}

fn area(path: &str) -> Area {
    if path == "/docs" || path.starts_with("/docs/") {
        Area::Docs
    } else if path == "/v1" || path.starts_with("/v1/") {
        Area::Api
    } else {
        Area::Other
    }
}

fn apply(headers: &mut HeaderMap, area: Area) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let csp = if area == Area::Docs {
        DOCS_CSP
    } else {
        API_CSP
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    if area == Area::Api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Middleware: the headers above on every response. (Handlers' errors
/// arrive here as responses; the request cannot be kept aside for the
/// rarer errors a middleware returns, as routing needs it unshared.)
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let area = area(req.path());
    let mut res = next.call(req).await?;
    apply(res.headers_mut(), area);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_in_their_area() {
        assert!(area("/docs/") == Area::Docs);
        assert!(area("/docs") == Area::Docs);
        assert!(area("/docsx") == Area::Other);
        assert!(area("/v1/families") == Area::Api);
        assert!(area("/v1x") == Area::Other);
        assert!(area("/health/live") == Area::Other);
    }
}
