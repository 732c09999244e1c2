//! Faults under load. A server process killed with SIGKILL in the middle of
//! writes, and PostgreSQL stopped (fast, then immediate) under a running
//! server and started again. Afterwards the invariant checks find nothing,
//! every write the client saw acknowledged is there with its audit event,
//! and the server serves again without anyone restarting it.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gezinsregie::db::cluster::{ClusterOptions, LocalCluster, StopMode};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::care_world::*;
use crate::case_world::*;
use crate::helpers::{purpose_keys, test_settings, wait_until, TestApp};
use crate::invariant_checks::assert_invariants_clean;

/// Longest a request may take, whatever state the database is in.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A request that got a whole answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    content_type: String,
    request_id: String,
    elapsed: Duration,
}

impl Answer {
    fn id(&self) -> Option<Uuid> {
        self.body["id"].as_str().and_then(|s| s.parse().ok())
    }

    /// A 503 problem document with the stable code.
    fn is_unavailable(&self) -> bool {
        self.status == 503
            && self.content_type == "application/problem+json"
            && self.body["code"] == "service_unavailable"
    }
}

/// Sends a request and keeps the server's id of it (the `X-Request-Id` of
/// the answer, which its audit events carry); `Err` when no complete
/// answer came (the server is gone or the connection broke mid-answer).
async fn send(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Result<Answer, reqwest::Error> {
    let started = Instant::now();
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let content_type = crate::helpers::content_type(&res);
    let bytes = res.bytes().await?;
    Ok(Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        content_type,
        request_id,
        elapsed: started.elapsed(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Family,
    Plan,
    Involvement,
    Handover,
}

/// A write the client saw succeed.
#[derive(Debug, Clone)]
struct Ack {
    write: Write,
    /// The family, plan or involvement written; the plan for a handover.
    id: Uuid,
    request_id: String,
}

/// What the load needs to know about the world.
#[derive(Clone)]
struct Writer {
    client: reqwest::Client,
    lead: String,
    anna: String,
    noord: Uuid,
    anna_id: Uuid,
    bram_id: Uuid,
    provider: Uuid,
}

impl Writer {
    fn of(c: &CareWorld) -> Self {
        Self {
            client: c.w.app.client.clone(),
            lead: c.w.lead.token.clone(),
            anna: c.w.anna.token.clone(),
            noord: c.w.noord,
            anna_id: c.w.anna.id(),
            bram_id: c.w.bram.id(),
            provider: c.provider_a,
        }
    }

    /// One round of case work against `base`: a family, its plan directed
    /// by Anna, care, a handover to Bram. `Ok(false)` when a request got no
    /// answer (the server is gone); every other answer must be a success.
    async fn round(&self, base: &str, seed: u64, acks: &Mutex<Vec<Ack>>) -> Result<bool, String> {
        let ack = |write, answer: &Answer, id: Uuid| {
            acks.lock().unwrap().push(Ack {
                write,
                id,
                request_id: answer.request_id.clone(),
            });
        };
        let expect = |answer: Result<Answer, reqwest::Error>, status: u16| match answer {
            Err(_) => Ok(None),
            Ok(a) if a.status == status => Ok(Some(a)),
            Ok(a) => Err(format!("{} {}", a.status, a.body)),
        };
        let family = send(
            &self.client,
            base,
            Method::POST,
            "/v1/families",
            &self.lead,
            Some(family_body("0546", self.noord, Some(&bsn(seed)))),
        )
        .await;
        let Some(family) = expect(family, 201)? else {
            return Ok(false);
        };
        let family_id = family.id().ok_or("family without id")?;
        ack(Write::Family, &family, family_id);
        let plan = send(
            &self.client,
            base,
            Method::POST,
            &format!("/v1/families/{family_id}/plans"),
            &self.lead,
            Some(json!({"title": "Gezinsplan", "directorId": self.anna_id})),
        )
        .await;
        let Some(plan) = expect(plan, 201)? else {
            return Ok(false);
        };
        let plan_id = plan.id().ok_or("plan without id")?;
        ack(Write::Plan, &plan, plan_id);
        let care = send(
            &self.client,
            base,
            Method::POST,
            &format!("/v1/plans/{plan_id}/involvements"),
            &self.anna,
            Some(involvement_body(
                self.provider,
                "ambulant_licht",
                None,
                "active",
            )),
        )
        .await;
        let Some(care) = expect(care, 201)? else {
            return Ok(false);
        };
        ack(
            Write::Involvement,
            &care,
            care.id().ok_or("care without id")?,
        );
        let handover = send(
            &self.client,
            base,
            Method::PUT,
            &format!("/v1/plans/{plan_id}/director"),
            &self.lead,
            Some(json!({"userId": self.bram_id, "reason": "Overdracht"})),
        )
        .await;
        let Some(handover) = expect(handover, 200)? else {
            return Ok(false);
        };
        ack(Write::Handover, &handover, plan_id);
        Ok(true)
    }
}

#[derive(diesel::QueryableByName)]
struct Checked {
    #[diesel(sql_type = diesel::sql_types::Text)]
    ack: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    stored: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    audited: bool,
}

/// The acknowledged writes that are not stored, or not with their audit
/// event (same request id, action and resource), in one query.
async fn missing_writes(app: &TestApp, acks: &[Ack], bram: Uuid) -> Vec<String> {
    use diesel_async::RunQueryDsl;
    let rows: Vec<String> = acks
        .iter()
        .map(|a| {
            let (kind, action, resource) = match a.write {
                Write::Family => ("family", "create", "family"),
                Write::Plan => ("plan", "create", "plan"),
                Write::Involvement => ("involvement", "create", "involvement"),
                Write::Handover => ("handover", "handover", "plan"),
            };
            format!(
                "('{kind}', '{action}', '{resource}', '{}'::uuid, '{}')",
                a.id, a.request_id
            )
        })
        .collect();
    let checked: Vec<Checked> = diesel::sql_query(format!(
        "SELECT a.kind || ' ' || a.id || ' ' || a.rid AS ack,
                CASE a.kind
                  WHEN 'family' THEN EXISTS (SELECT 1 FROM families WHERE id = a.id)
                  WHEN 'plan' THEN EXISTS (SELECT 1 FROM plans WHERE id = a.id)
                  WHEN 'involvement' THEN EXISTS (
                      SELECT 1 FROM involvements WHERE id = a.id AND status = 'active')
                  ELSE EXISTS (
                      SELECT 1 FROM director_assignments
                       WHERE plan_id = a.id AND user_id = '{bram}' AND ended_at IS NULL)
                END AS stored,
                EXISTS (SELECT 1 FROM audit_events e
                         WHERE e.request_id = a.rid AND e.action = a.action
                           AND e.resource_type = a.resource AND e.resource_id = a.id::text
                           AND e.outcome = 'success') AS audited
           FROM (VALUES {}) AS a(kind, action, resource, id, rid)",
        rows.join(", ")
    ))
    .load(&mut app.conn().await)
    .await
    .expect("checking the acknowledged writes");
    assert_eq!(checked.len(), acks.len());
    checked
        .into_iter()
        .filter(|c| !(c.stored && c.audited))
        .map(|c| format!("{} (stored: {}, audited: {})", c.ack, c.stored, c.audited))
        .collect()
}

#[actix_web::test]
async fn a_server_killed_under_write_load_loses_no_acknowledged_write() {
    let c = care_world().await;
    let mut victim = c.w.app.spawn_server_process().await;
    let writer = Writer::of(&c);
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let running = Arc::new(AtomicUsize::new(0));

    // Four clients doing case work until the server stops answering.
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let (writer, acks, running) = (writer.clone(), acks.clone(), running.clone());
            let base = victim.address.clone();
            actix_web::rt::spawn(async move {
                running.fetch_add(1, Ordering::SeqCst);
                let mut seed = 100_000 + t * 10_000;
                let outcome = loop {
                    match writer.round(&base, seed, &acks).await {
                        Ok(true) => seed += 1,
                        Ok(false) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                };
                running.fetch_sub(1, Ordering::SeqCst);
                outcome
            })
        })
        .collect();
    wait_until(Duration::from_secs(30), async || {
        acks.lock().unwrap().len() >= 60
    })
    .await;
    let still_writing = running.load(Ordering::SeqCst);
    victim.kill().await;
    for task in tasks {
        task.await
            .unwrap()
            .expect("every answer before the kill was a success");
    }
    let restarted = c.w.app.spawn_server_process().await;

    assert_eq!(
        still_writing, 4,
        "the kill came while all clients were writing"
    );
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() >= 60, "{} writes acknowledged", acks.len());
    // The restarted server serves, reads and writes.
    let family = acks.iter().find(|a| a.write == Write::Family).unwrap().id;
    let read = send(
        &writer.client,
        &restarted.address,
        Method::GET,
        &format!("/v1/families/{family}"),
        &writer.lead,
        None,
    )
    .await
    .unwrap();
    assert_eq!(read.status, 200, "{}", read.body);
    let more = writer
        .round(&restarted.address, 1, &Mutex::new(Vec::new()))
        .await;
    assert_eq!(more, Ok(true));
    // Every acknowledged write is there, with its audit event.
    let missing = missing_writes(&c.w.app, &acks, c.w.bram.id()).await;
    assert!(
        missing.is_empty(),
        "acknowledged but lost or unaudited: {missing:?}"
    );
    // What committed without an answer committed whole: no write without
    // its audit event, acknowledged or not.
    for (table, resource) in [
        ("families", "family"),
        ("plans", "plan"),
        ("involvements", "involvement"),
    ] {
        let unaudited =
            c.w.app
                .count(&format!(
                    "SELECT count(*) AS n FROM {table} t WHERE NOT EXISTS (
                     SELECT 1 FROM audit_events e WHERE e.action = 'create'
                        AND e.resource_type = '{resource}' AND e.resource_id = t.id::text)"
                ))
                .await;
        assert_eq!(unaudited, 0, "{table} without a create event");
    }
    assert_invariants_clean(&c.w.app.db_url).await;
    // The trail the killed server left is sealed by the living ones and verifies.
    let mut conn = c.w.app.conn().await;
    let report = gezinsregie::audit::chain::verify(&mut conn, None, None)
        .await
        .unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(
        c.w.app
            .count("SELECT count(*) AS n FROM audit_unsealed")
            .await,
        0
    );
}

/// One answer the load got while PostgreSQL went down and came back.
#[derive(Debug)]
struct Seen {
    /// Stage when the request was sent and when its answer came.
    sent: u8,
    answered: u8,
    status: Option<u16>,
    unavailable: bool,
    elapsed: Duration,
    created: Option<Uuid>,
}

/// Stages of the test: per outage `3 * n` up, `3 * n + 1` down (PostgreSQL
/// stopped), `3 * n + 2` starting again.
fn is_down(stage: u8) -> bool {
    stage % 3 == 1
}

/// Stops PostgreSQL under the running load, checks what the server answers
/// while it is down, starts it again on the same port, and waits for the
/// server to recover by itself.
async fn outage(
    cluster: &LocalCluster,
    options: &ClusterOptions,
    mode: StopMode,
    writer: &Writer,
    base: &str,
    stage: &AtomicU8,
    seen: &Mutex<Vec<Seen>>,
) {
    cluster.stop_with(mode).await.unwrap();
    let down = stage.fetch_add(1, Ordering::SeqCst) + 1;
    let probes = [
        (Method::GET, "/health/ready".to_owned(), None),
        (Method::GET, "/v1/families?limit=5".to_owned(), None),
        (
            Method::POST,
            "/v1/families".to_owned(),
            Some(family_body("0546", writer.noord, None)),
        ),
    ];
    for (method, path, body) in probes {
        let answer = send(&writer.client, base, method, &path, &writer.lead, body)
            .await
            .unwrap_or_else(|e| panic!("{path} while PostgreSQL is down ({mode:?}): {e}"));
        assert!(
            answer.is_unavailable(),
            "{path} while PostgreSQL is down ({mode:?}): {answer:?}"
        );
        assert!(answer.elapsed < ANSWER_WITHIN, "{path}: {answer:?}");
    }
    // Let the load run into the outage: a few of its requests sent and
    // answered while PostgreSQL is down (the caller asserts that some were).
    wait_until(Duration::from_secs(10), async || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.sent == down && s.answered == down)
            .count()
            >= 3
    })
    .await;
    stage.fetch_add(1, Ordering::SeqCst);
    cluster.start_again(options).await.unwrap();
    let recovered = wait_until(Duration::from_secs(20), async || {
        let ready = send(&writer.client, base, Method::GET, "/health/ready", "", None).await;
        let write = send(
            &writer.client,
            base,
            Method::POST,
            "/v1/families",
            &writer.lead,
            Some(family_body("0546", writer.noord, None)),
        )
        .await;
        if let (Ok(ready), Ok(write)) = (&ready, &write) {
            if ready.status == 200 && write.status == 201 {
                return true;
            }
            assert!(ready.status == 200 || ready.is_unavailable(), "{ready:?}");
            assert!(write.status == 201 || write.is_unavailable(), "{write:?}");
        }
        false
    })
    .await;
    assert!(
        recovered,
        "the server did not recover within 20 s after PostgreSQL came back ({mode:?})"
    );
    stage.fetch_add(1, Ordering::SeqCst);
}

#[actix_web::test]
async fn postgres_restarted_under_load_gives_503s_and_the_server_recovers_by_itself() {
    let base_dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base_dir.join(format!("gezinsregie-outage-{}", Uuid::new_v4().simple()));
    // Durable, unlike the suite's shared cluster: with synchronous_commit
    // off an immediate stop loses commits already acknowledged, and this
    // test holds the server to every write it acknowledged. On /dev/shm the
    // fsyncs cost next to nothing.
    let options = ClusterOptions {
        ephemeral: false,
        max_connections: 40,
    };
    // This test may run without the shared cluster, which installs it.
    gezinsregie::audit::chain::install(&purpose_keys()).unwrap();
    let cluster = LocalCluster::start(&dir, &options).await.unwrap();
    cluster
        .remove_when_process_exits(std::process::id())
        .unwrap();
    cluster.ensure_database("outage").await.unwrap();
    let url = cluster.url("outage");
    // The server process manages no cluster: it only knows DATABASE_URL.
    let mut app = TestApp {
        address: String::new(),
        db_url: url.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        // The server process reads the same configuration files.
        auth: test_settings(&url).auth,
        fixtures: Default::default(),
    };
    let server = app
        .spawn_server_process_with(&[("GEZINSREGIE__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "2")])
        .await;
    app.address = server.address.clone();
    let w = case_world_on(app).await;
    let provider = provider(&w, "Rijnland Jeugdhulp", "11111111").await;
    let writer = Writer {
        client: w.app.client.clone(),
        lead: w.lead.token.clone(),
        anna: w.anna.token.clone(),
        noord: w.noord,
        anna_id: w.anna.id(),
        bram_id: w.bram.id(),
        provider,
    };
    let stage = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));

    // Three clients registering families and listing them, throughout.
    let tasks: Vec<_> = (0..3u64)
        .map(|t| {
            let (writer, stage, stop, seen) =
                (writer.clone(), stage.clone(), stop.clone(), seen.clone());
            let base = server.address.clone();
            actix_web::rt::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let (method, path, body) = if n.is_multiple_of(2) {
                        (Method::GET, "/v1/families?limit=5", None)
                    } else {
                        let child = bsn(200_000 + t * 10_000 + n);
                        (
                            Method::POST,
                            "/v1/families",
                            Some(family_body("0546", writer.noord, Some(&child))),
                        )
                    };
                    let sent = stage.load(Ordering::SeqCst);
                    let started = Instant::now();
                    let answer =
                        send(&writer.client, &base, method, path, &writer.lead, body).await;
                    let answered = stage.load(Ordering::SeqCst);
                    seen.lock().unwrap().push(Seen {
                        sent,
                        answered,
                        status: answer.as_ref().ok().map(|a| a.status),
                        unavailable: answer.as_ref().is_ok_and(|a| a.is_unavailable()),
                        elapsed: started.elapsed(),
                        created: answer
                            .as_ref()
                            .ok()
                            .filter(|a| a.status == 201)
                            .and_then(|a| a.id()),
                    });
                    // A client backing off a little, as a 503 asks it to.
                    // This sleep paces the load; it waits for nothing.
                    if answer.is_ok_and(|a| a.status == 503) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    let successes = |stage_now: u8| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.sent == stage_now && matches!(s.status, Some(200 | 201)))
            .count()
    };
    for (cycle, mode) in [StopMode::Fast, StopMode::Immediate]
        .into_iter()
        .enumerate()
    {
        let up = 3 * cycle as u8;
        wait_until(Duration::from_secs(20), async || successes(up) >= 10).await;
        assert!(successes(up) >= 10, "the load runs before outage {cycle}");
        outage(
            &cluster,
            &options,
            mode,
            &writer,
            &server.address,
            &stage,
            &seen,
        )
        .await;
    }
    wait_until(Duration::from_secs(20), async || successes(6) >= 10).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let wrong: Vec<&Seen> = seen
        .iter()
        .filter(|s| {
            s.elapsed >= ANSWER_WITHIN
                || !(matches!(s.status, Some(200 | 201)) || s.unavailable)
                || (is_down(s.sent) && s.sent == s.answered && !s.unavailable)
        })
        .collect();
    assert!(wrong.is_empty(), "{} wrong answers: {wrong:?}", wrong.len());
    for down in [1, 4] {
        let met = seen
            .iter()
            .filter(|s| s.sent == down && s.answered == down)
            .count();
        assert!(met > 0, "the load met outage stage {down}");
    }
    assert!(
        successes_in(&seen, 6) >= 10,
        "the load succeeds again after both outages"
    );
    // Once the server has recovered, nothing fails any more: the pool kept
    // no connection that died with PostgreSQL.
    let failed_after: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.sent == 6 && !matches!(s.status, Some(200 | 201)))
        .collect();
    assert!(failed_after.is_empty(), "{failed_after:?}");
    // Every family the load saw created is there.
    let created: Vec<String> = seen
        .iter()
        .filter_map(|s| s.created.map(|id| format!("'{id}'")))
        .collect();
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) AS n FROM families WHERE id IN ({})",
                created.join(",")
            ))
            .await,
        created.len() as i64
    );
    assert_invariants_clean(&url).await;
    // The server's sealer lived through both outages: it seals what is
    // left, and the trail verifies.
    let sealed = wait_until(Duration::from_secs(10), async || {
        w.app
            .count("SELECT count(*) AS n FROM audit_unsealed")
            .await
            == 0
    })
    .await;
    assert!(sealed, "the audit sealer stopped working");
    let mut conn = w.app.conn().await;
    let report = gezinsregie::audit::chain::verify(&mut conn, None, None)
        .await
        .unwrap();
    assert!(report.valid, "{report:?}");
    drop(conn);
    drop(server);
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn successes_in(seen: &[Seen], stage: u8) -> usize {
    seen.iter()
        .filter(|s| s.sent == stage && matches!(s.status, Some(200 | 201)))
        .count()
}
