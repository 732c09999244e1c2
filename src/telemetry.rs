//! Logging: human-readable locally, JSON lines in production. Every request
//! runs in a span from `tracing-actix-web` ([`RequestSpan`]) carrying its
//! request id, method and route; services add `#[instrument]` spans with
//! the ids they work on. Nothing logs names, BSNs, passwords or tokens: the
//! request span holds the path without its query string (a family search
//! may carry a BSN there), and error chains are logged, never bodies.

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::config::LogSettings;
use crate::http::request_context::{RequestContext, Started};

/// Installs the global subscriber; `RUST_LOG` overrides the configured filter.
/// The server logs to stdout; one-off commands (`to_stderr`) log to stderr,
/// because their stdout is their output (an audit export, a verification).
pub fn init(settings: &LogSettings, to_stderr: bool) {
    let writer = if to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if settings.format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .compact(),
            )
            .try_init()
    };
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = result;
}

/// The root span of a request, and its one `handled` line with status and
/// time. Unlike the library's default span it keeps the query string out
/// (it may hold a BSN) and uses the request id of
/// [`crate::http::request_context`], which the problem documents and audit
/// events carry too, and the client's own id apart as `client_request_id`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let (request_id, client_request_id) = request
            .extensions()
            .get::<RequestContext>()
            .map(|c| (c.request_id.clone(), c.client_request_id.clone()))
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            request_id = %request_id,
            client_request_id = client_request_id.as_deref(),
            method = %request.method(),
            path = %request.path(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, started) = match outcome {
            Ok(res) => (
                res.status().as_u16(),
                res.request().extensions().get::<Started>().copied(),
            ),
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        span.record("status", status);
        let elapsed_ms = started.map(|s| s.0.elapsed().as_secs_f64() * 1000.0);
        span.in_scope(|| match elapsed_ms {
            Some(ms) => tracing::info!(status, elapsed_ms = format!("{ms:.1}"), "handled"),
            None => tracing::info!(status, "handled"),
        });
    }
}
