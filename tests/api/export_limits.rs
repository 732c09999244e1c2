//! Issue 15 item 6: exports exhaust PostgreSQL. 110 unread
//! `GET /v1/audit/export` used to take every PostgreSQL connection (each
//! export streams from a connection of its own, held for as long as the
//! client keeps its socket open), and the next one got a 500.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, RunQueryDsl};
use gezinsregie::domain::Role;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::case_world::*;
use crate::helpers::{eventually, spawn_app_with, TestApp};

const MAX_CONCURRENT: usize = 3;
const PER_USER: usize = 2;
const IDLE: Duration = Duration::from_secs(2);
/// About 20 MB of NDJSON: far more than the socket buffers between an
/// unread client (a 16 KiB receive buffer) and the server (at most 4 MiB)
/// hold, so an unread export cannot finish by itself.
const EVENTS: u64 = 45_000;

/// The export's own connections, seen from PostgreSQL.
const COPY_BACKENDS: &str = "SELECT count(*) AS n FROM pg_stat_activity \
     WHERE datname = current_database() AND query LIKE 'COPY (SELECT%'";
const ALL_BACKENDS: &str =
    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()";

/// An export whose body is not read: the status, the headers, and the
/// socket, open.
struct Held {
    status: u16,
    headers: String,
    socket: TcpStream,
    /// Body bytes read with the headers.
    body: Vec<u8>,
}

impl Held {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// Reads on until the server closes (or resets) the connection; returns
    /// the whole body as received, chunk framing included.
    async fn rest(mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 64 * 1024];
        let read_all = async {
            loop {
                match self.socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => self.body.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read_all)
            .await
            .expect("the cut export's connection closes");
        self.body
    }
}

/// `GET /v1/audit/export` over a socket with a small receive buffer; reads
/// only up to the end of the headers.
async fn open_export(app: &TestApp, token: &str) -> Held {
    let addr = app.address.trim_start_matches("http://").to_owned();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut socket = socket.connect(addr.parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /v1/audit/export HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = tokio::time::timeout(Duration::from_secs(15), socket.read(&mut buf))
            .await
            .expect("headers in time")
            .unwrap();
        assert!(n > 0, "closed before the headers");
        received.extend_from_slice(&buf[..n]);
    };
    let headers = String::from_utf8_lossy(&received[..end]).into_owned();
    let status = headers[9..12].parse().unwrap();
    let mut held = Held {
        status,
        headers,
        socket,
        body: received[end + 4..].to_vec(),
    };
    // A refusal is small and has a length: read it whole.
    if let Some(length) = held.header("content-length") {
        let length: usize = length.parse().unwrap();
        while held.body.len() < length {
            let n = held.socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the body");
            held.body.extend_from_slice(&buf[..n]);
        }
    }
    held
}

fn assert_refused(held: &Held, status: u16, code: &str) {
    assert_eq!(held.status, status, "{}", held.headers);
    assert!(
        held.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "Retry-After: {}",
        held.headers
    );
    let body: Value = serde_json::from_slice(&held.body).unwrap_or_default();
    assert_eq!(
        body["code"],
        code,
        "{}",
        String::from_utf8_lossy(&held.body)
    );
}

async fn auditor(app: &TestApp) -> String {
    let user = app.user(Role::Auditor, Some("0546"), None).await;
    app.session(&user).await
}

/// Issue 15 item 6: exports use a bounded number of PostgreSQL connections,
/// overall (`exports.max_concurrent`, beyond it 503) and per auditor
/// (`exports.per_user`, beyond it 429), both with Retry-After and never 500;
/// other requests keep answering while exports are held; an export whose
/// client stops reading is cut after `exports.idle_seconds` and its place
/// freed; an export PostgreSQL refuses a connection answers 503, not 500.
/// On 97473d3 (no limits) every one of the unread exports got 200 and held
/// a connection of its own, and the refused connection answered 500.
#[actix_web::test]
async fn unread_exports_are_bounded_cut_when_idle_and_never_500() {
    let app = spawn_app_with(|s| {
        s.exports.max_concurrent = MAX_CONCURRENT;
        s.exports.per_user = PER_USER;
        s.exports.idle_seconds = IDLE.as_secs();
        // Far off, so that no connection timer of the server, only the
        // export's own idle cut, can be what ends an unread export.
        s.server.limits.keep_alive_seconds = 120;
    })
    .await;
    let w = case_world_on(app).await;
    let app = &w.app;
    let mut conn = app.conn().await;
    gezinsregie::audit::synthetic::generate(&mut conn, "0546", EVENTS, |_, _| {})
        .await
        .expect("synthetic trail");
    drop(conn);
    let (a, b, c) = (auditor(app).await, auditor(app).await, auditor(app).await);

    // `a` takes its share, `b` the last place overall.
    let mut held = Vec::new();
    for token in [&a, &a, &b] {
        let export = open_export(app, token).await;
        assert_eq!(export.status, 200, "{}", export.headers);
        held.push(export);
    }
    // Beyond the share of `a`: 429; beyond the server's: 503.
    assert_refused(&open_export(app, &a).await, 429, "too_many_requests");
    assert_refused(&open_export(app, &b).await, 503, "service_unavailable");
    assert_refused(&open_export(app, &c).await, 503, "service_unavailable");

    // The server still answers, and PostgreSQL holds the three exports'
    // connections beside the pool (12) and this test's, no more.
    let started = Instant::now();
    let r = get(app, "/families", &w.lead.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(app.count(COPY_BACKENDS).await, MAX_CONCURRENT as i64);
    let all = app.count(ALL_BACKENDS).await;
    assert!(all <= (12 + MAX_CONCURRENT + 3) as i64, "{all} connections");

    // Not read for the idle time: cut, their connections closed.
    eventually(
        "the unread exports cut",
        IDLE + Duration::from_secs(8),
        async || app.count(COPY_BACKENDS).await == 0,
    )
    .await;
    // Their places are free again: `a` exports, completely.
    let full = app
        .client
        .get(app.api("/audit/export"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), 200);
    let full = full.bytes().await.expect("the whole export").len();
    assert!(full > 15_000_000, "{full} bytes");
    // The unread ones were cut short: no closing chunk, less than the whole.
    for export in held {
        let body = export.rest().await;
        assert!(!body.ends_with(b"0\r\n\r\n"), "a cut export ended cleanly");
        assert!(body.len() < full / 2, "{} of {full} bytes", body.len());
    }

    refused_connection_answers_503(&w, &a).await;
}

/// An export whose own connection PostgreSQL refuses: 503 with Retry-After
/// (the pooled transaction before it still runs on a pooled connection).
async fn refused_connection_answers_503(w: &CaseWorld, token: &str) {
    let (server, database) = w.app.db_url.rsplit_once('/').unwrap();
    let mut admin = diesel_async::AsyncPgConnection::establish(&format!("{server}/postgres"))
        .await
        .unwrap();
    let allow = |yes: bool| format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {yes}");
    // Connections in the pool before the door closes.
    let r = get(&w.app, "/families", &w.lead.token).await;
    assert_eq!(r.status, 200);
    diesel::sql_query(allow(false))
        .execute(&mut admin)
        .await
        .unwrap();
    let refused = open_export(&w.app, token).await;
    diesel::sql_query(allow(true))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_refused(&refused, 503, "service_unavailable");
    assert!(
        String::from_utf8_lossy(&refused.body).contains("No database connection for the export"),
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
}
