//! Issue 15 item 7: other keys on the same database are refused, and every
//! key can be rotated: the token key with an overlap window, the audit MAC
//! key by key epochs recorded in the chain. Each server here is the real
//! binary, so the check at start (`crypto::keys::check_and_install`) runs
//! as in production.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel_async::SimpleAsyncConnection;
use gezinsregie::config::Keys;
use gezinsregie::crypto::keys::{check_against, key_id, PurposeKeys};
use gezinsregie::domain::Role;
use uuid::Uuid;

use crate::case_world::{bsn, case_world, family, family_body, get, post, CaseWorld};
use crate::helpers::{eventually, purpose_keys, spawn_app, test_keys, TestApp};
use gezinsregie::crypto::BsnVault;

/// The environment of a process with `keys` and the previous keys given.
fn secrets(keys: &Keys, previous: &[(&'static str, [u8; 32])]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GEZINSREGIE__SECRETS__JWT_KEY", B64.encode(keys.jwt)),
        (
            "GEZINSREGIE__SECRETS__BSN_ENCRYPTION_KEY",
            B64.encode(keys.bsn_encryption),
        ),
        (
            "GEZINSREGIE__SECRETS__BSN_HASH_KEY",
            B64.encode(keys.bsn_hash),
        ),
    ];
    for (name, key) in previous {
        env.push((name, B64.encode(key)));
    }
    env
}

fn binary(app: &TestApp, env: &[(&'static str, String)]) -> tokio::process::Command {
    let data_dir =
        std::env::temp_dir().join(format!("gezinsregie-keys-{}", Uuid::new_v4().simple()));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"));
    command
        .env("DATABASE_URL", &app.db_url)
        .env("GEZINSREGIE__SERVER__HOST", "127.0.0.1")
        .env("GEZINSREGIE__DATA_DIR", &data_dir)
        .env("GEZINSREGIE__LOG__FILTER", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true);
    command
}

/// Runs a command of the binary to its end: whether it succeeded, and what
/// it printed.
async fn run(app: &TestApp, env: &[(&'static str, String)], args: &[&str]) -> (bool, String) {
    let out = binary(app, env).args(args).output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the command ends")
        .expect("the binary runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// A serving process; killed when dropped.
struct Server {
    address: String,
    _child: tokio::process::Child,
}

async fn serve(app: &TestApp, env: &[(&'static str, String)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let child = binary(app, env)
        .arg("serve")
        .env("GEZINSREGIE__SERVER__PORT", port.to_string())
        .env("GEZINSREGIE__SERVER__WORKERS", "2")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting the server");
    let address = format!("http://127.0.0.1:{port}");
    eventually(
        "the rotated server to be ready",
        Duration::from_secs(60),
        async || {
            app.client
                .get(format!("{address}/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    Server {
        address,
        _child: child,
    }
}

async fn me(app: &TestApp, address: &str, token: &str) -> u16 {
    app.client
        .get(format!("{address}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

/// A database that has recorded the test keys, as after a first start.
async fn recorded() -> TestApp {
    let app = spawn_app().await;
    check_against(&mut app.conn().await, &purpose_keys())
        .await
        .expect("the test keys are recorded");
    app
}

fn kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).expect("a JWT").kid
}

/// Issue 15 item 7: a second server process with another value for any of
/// the three secrets refuses to start, naming the keys, and the first
/// server's audit chain stays intact (nothing was sealed with other keys).
#[actix_web::test]
async fn a_second_server_with_other_keys_refuses_to_start_and_the_chain_stays_intact() {
    let app = recorded().await;
    app.municipality("0546", "Leiden").await;
    let lead = app.user(Role::TeamLead, Some("0546"), None).await;
    let token = app.session(&lead).await;
    assert_eq!(me(&app, &app.address, &token).await, 200);

    let other = || -> [u8; 32] { rand::random() };
    for (keys, named) in [
        (
            Keys {
                jwt: other(),
                ..test_keys()
            },
            vec!["token_signing"],
        ),
        (
            Keys {
                bsn_encryption: other(),
                ..test_keys()
            },
            vec!["bsn_encryption", "callback_secrets"],
        ),
        (
            Keys {
                bsn_hash: other(),
                ..test_keys()
            },
            vec!["bsn_hash", "audit_mac"],
        ),
    ] {
        let (ok, said) = run(&app, &secrets(&keys, &[]), &["serve"]).await;
        assert!(!ok, "{said}");
        assert!(said.contains("refusing to start"), "{said}");
        for purpose in named {
            assert!(said.contains(purpose), "{purpose}: {said}");
        }
    }

    let mut conn = app.conn().await;
    let report = gezinsregie::audit::chain::verify(&mut conn, None, None)
        .await
        .expect("verify");
    assert!(report.valid && report.checked_entries > 0, "{report:?}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM key_fingerprints")
            .await,
        5
    );
}

/// Issue 15 item 7: the token key rotates with an overlap window. A server
/// with the new key and the old one as previous starts (the old version is
/// retired with a date), accepts tokens of the old key during the overlap,
/// signs new ones with the new key's `kid`; after the overlap the old
/// tokens fail, and a server with only the old key cannot start again.
#[actix_web::test]
async fn a_rotated_token_key_accepts_old_tokens_during_the_overlap_only() {
    let app = recorded().await;
    app.municipality("0546", "Leiden").await;
    let lead = app.user(Role::TeamLead, Some("0546"), None).await;
    let old_token = app.session(&lead).await;
    let new_jwt: [u8; 32] = rand::random();
    let rotated = secrets(
        &Keys {
            jwt: new_jwt,
            ..test_keys()
        },
        &[("GEZINSREGIE__SECRETS__JWT_PREVIOUS_KEYS", test_keys().jwt)],
    );

    let server = serve(&app, &rotated).await;
    assert_eq!(
        me(&app, &server.address, &old_token).await,
        200,
        "during the overlap"
    );
    let login = app
        .client
        .post(format!("{}/v1/auth/login", server.address))
        .json(&serde_json::json!({"username": lead.username, "password": lead.password}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let body: serde_json::Value = login.json().await.expect("tokens");
    let new_token = body["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned();
    let new_kid = key_id(
        &PurposeKeys::derive(&Keys {
            jwt: new_jwt,
            ..test_keys()
        })
        .token_signing,
    );
    assert_eq!(kid(&new_token), Some(new_kid.clone()));
    assert_eq!(kid(&old_token), Some(key_id(&purpose_keys().token_signing)));
    assert_ne!(kid(&old_token), Some(new_kid));
    assert_eq!(me(&app, &server.address, &new_token).await, 200);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM key_fingerprints
              WHERE purpose = 'token_signing' AND version = 1 AND retired_at IS NOT NULL"
        )
        .await,
        1
    );
    drop(server);

    // The rotation as if it were 16 minutes ago: the overlap (one access
    // token lifetime, 15 minutes) is over.
    app.execute(
        "UPDATE key_fingerprints SET retired_at = now() - interval '16 minutes'
          WHERE purpose = 'token_signing' AND retired_at IS NOT NULL",
    )
    .await;
    let server = serve(&app, &rotated).await;
    assert_eq!(
        me(&app, &server.address, &old_token).await,
        401,
        "after the overlap"
    );
    assert_eq!(me(&app, &server.address, &new_token).await, 200);

    let (ok, said) = run(&app, &secrets(&test_keys(), &[]), &["serve"]).await;
    assert!(!ok && said.contains("retired"), "{said}");
    let (ok, listed) = run(&app, &rotated, &["keys", "list"]).await;
    assert!(ok && listed.contains("overlap ended"), "{listed}");
}

/// Issue 15 item 7: the audit MAC key rotates by key epochs recorded in the
/// chain. Events before the rotation stay in epoch 1, events after it are
/// sealed in epoch 2, `audit verify` with the new key and the old one as
/// previous is clean across the boundary, and a changed event is found in
/// either epoch.
#[actix_web::test]
async fn the_audit_chain_verifies_across_a_key_epoch_and_tampering_is_found_in_both() {
    let app = recorded().await;
    app.municipality("0546", "Leiden").await;
    let lead = app.user(Role::TeamLead, Some("0546"), None).await;
    let token = app.session(&lead).await;
    assert_eq!(me(&app, &app.address, &token).await, 200);
    let mut conn = app.conn().await;
    gezinsregie::audit::chain::seal_all(&mut conn)
        .await
        .expect("sealed");

    let new_hash: [u8; 32] = rand::random();
    let rotated = secrets(
        &Keys {
            bsn_hash: new_hash,
            ..test_keys()
        },
        &[(
            "GEZINSREGIE__SECRETS__BSN_HASH_PREVIOUS_KEYS",
            test_keys().bsn_hash,
        )],
    );
    let server = serve(&app, &rotated).await;
    for _ in 0..3 {
        let res = app
            .client
            .post(format!("{}/v1/auth/login", server.address))
            .json(&serde_json::json!({"username": lead.username, "password": "wrong password"}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 401);
    }
    let (ok, said) = run(&app, &rotated, &["audit", "verify"]).await;
    assert!(ok, "{said}");
    let first_epoch = app
        .count("SELECT count(*) AS n FROM audit_chain WHERE key_epoch = 1")
        .await;
    let second_epoch = app
        .count("SELECT count(*) AS n FROM audit_chain WHERE key_epoch = 2")
        .await;
    assert!(
        first_epoch > 0 && second_epoch >= 3,
        "{first_epoch} {second_epoch}"
    );

    let seq_in = |epoch: i32| {
        format!("(SELECT seq FROM audit_chain WHERE key_epoch = {epoch} ORDER BY position LIMIT 1)")
    };
    let old = app.count(&format!("SELECT {} AS n", seq_in(1))).await;
    let new = app.count(&format!("SELECT {} AS n", seq_in(2))).await;
    conn.batch_execute(&format!(
        "SET session_replication_role = replica;
         UPDATE audit_events SET resource_type = resource_type || '-x' WHERE seq IN ({old}, {new});
         SET session_replication_role = origin;"
    ))
    .await
    .expect("tampered");
    let (ok, said) = run(&app, &rotated, &["audit", "verify"]).await;
    assert!(!ok, "{said}");
    assert!(said.contains(&format!("event {old} was changed")), "{said}");
    assert!(said.contains(&format!("event {new} was changed")), "{said}");
    drop(server);
}

/// Every family reads back with its child's BSN, is found by it, and the
/// BSN cannot join a second family (409), on the server at `at`.
async fn bsns_hold(w: &CaseWorld, at: &TestApp, families: &[(Uuid, String)], when: &str) {
    for (family_id, child) in families {
        let read = get(at, &format!("/families/{family_id}"), &w.lead.token).await;
        assert_eq!(read.status, 200, "{when}: {}", read.body);
        assert!(
            read.body["members"]
                .as_array()
                .expect("members")
                .iter()
                .any(|m| m["bsn"] == child.as_str()),
            "{when}: {}",
            read.body
        );
        let found = get(at, &format!("/families?bsn={child}"), &w.lead.token).await;
        assert_eq!(
            found.body["items"][0]["id"],
            family_id.to_string(),
            "{when}"
        );
        let again = post(
            at,
            "/families",
            &w.lead.token,
            family_body("0546", w.zuid, Some(child)),
        )
        .await;
        assert_eq!(again.status, 409, "{when}: {}", again.body);
        assert_eq!(again.code(), "bsn_in_other_family", "{when}");
    }
}

/// Issue 15 item 7: the BSN encryption key rotates while serving. A server
/// with the new key and the old one as previous reads, finds and guards
/// (409) the BSNs of both keys; `keys rotate-bsn` re-encrypts the old ones
/// in batches, after which every row decrypts with the new key only and a
/// second run finds nothing left.
#[actix_web::test]
async fn bsns_stay_readable_and_findable_while_the_encryption_key_rotates() {
    let w = case_world().await;
    check_against(&mut w.app.conn().await, &purpose_keys())
        .await
        .expect("recorded");
    let mut families = Vec::new();
    for i in 0..3 {
        let child = bsn(900 + i);
        families.push((family(&w, None, Some(&child)).await, child));
    }
    let new_enc: [u8; 32] = rand::random();
    let new_keys = Keys {
        bsn_encryption: new_enc,
        ..test_keys()
    };
    let rotated = secrets(
        &new_keys,
        &[(
            "GEZINSREGIE__SECRETS__BSN_ENCRYPTION_PREVIOUS_KEYS",
            test_keys().bsn_encryption,
        )],
    );
    let server = serve(&w.app, &rotated).await;
    let at = TestApp {
        address: server.address.clone(),
        db_url: w.app.db_url.clone(),
        client: w.app.client.clone(),
        auth: w.app.auth.clone(),
        fixtures: Default::default(),
    };
    // One family written under the new key while the others are old.
    let child = bsn(950);
    let r = post(
        &at,
        "/families",
        &w.lead.token,
        family_body("0546", w.noord, Some(&child)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    families.push((r.id(), child));
    bsns_hold(&w, &at, &families, "during the rotation").await;

    let (ok, said) = run(&w.app, &rotated, &["keys", "rotate-bsn", "--batch", "1"]).await;
    assert!(
        ok && said.contains("re-encrypted 3 family member BSNs"),
        "{said}"
    );
    bsns_hold(&w, &at, &families, "after re-encryption").await;

    let new = PurposeKeys::derive(&new_keys);
    let new_vault = BsnVault::new(&new.bsn_encryption, &new.bsn_hash).expect("vault");
    let old_vault =
        BsnVault::new(&purpose_keys().bsn_encryption, &purpose_keys().bsn_hash).expect("vault");
    let stored = w
        .app
        .raw_bytes(
            "SELECT bsn_ciphertext AS bytes FROM family_members WHERE bsn_ciphertext IS NOT NULL",
        )
        .await;
    assert_eq!(stored.len(), 4);
    for row in &stored {
        assert!(new_vault.decrypt(row).is_ok() && old_vault.decrypt(row).is_err());
    }
    let (ok, said) = run(&w.app, &rotated, &["keys", "rotate-bsn"]).await;
    assert!(
        ok && said.contains("re-encrypted 0 family member BSNs"),
        "{said}"
    );
}
