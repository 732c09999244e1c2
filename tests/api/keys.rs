//! The purpose keys a database was written with are remembered, so a server
//! started with other secrets refuses to start rather than write data that
//! cannot be read back (see `src/crypto/keys.rs`).

use diesel_async::AsyncPgConnection;
use gezinsregie::config::Keys;
use gezinsregie::crypto::keys::{check_against, PurposeKeys};

use crate::helpers::{spawn_app, test_keys};

async fn check(conn: &mut AsyncPgConnection, keys: &Keys) -> Result<(), String> {
    check_against(conn, &PurposeKeys::derive(keys))
        .await
        .map_err(|e| e.to_string())
}

#[actix_web::test]
async fn a_database_remembers_its_keys_and_refuses_others() {
    let app = spawn_app().await;
    let mut conn = app.conn().await;

    assert_eq!(check(&mut conn, &test_keys()).await, Ok(()));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM key_fingerprints")
            .await,
        5
    );
    assert_eq!(check(&mut conn, &test_keys()).await, Ok(()));

    let other_jwt = Keys {
        jwt: [42; 32],
        ..test_keys()
    };
    let refused = check(&mut conn, &other_jwt).await.unwrap_err();
    assert!(refused.contains("token_signing"), "{refused}");
    assert!(!refused.contains("bsn_encryption"), "{refused}");

    let other_hash = Keys {
        bsn_hash: [43; 32],
        ..test_keys()
    };
    let refused = check(&mut conn, &other_hash).await.unwrap_err();
    assert!(
        refused.contains("bsn_hash") && refused.contains("audit_mac"),
        "{refused}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM key_fingerprints")
            .await,
        5
    );
}

#[actix_web::test]
async fn bsns_written_before_the_fingerprints_are_not_read_with_unknown_keys() {
    let app = spawn_app().await;
    app.execute("DELETE FROM key_fingerprints").await;
    app.municipality("0546", "Leiden").await;
    let team = app.team("0546", "JGT").await;
    app.execute(&format!(
        "INSERT INTO families (id, municipality_code, team_id, name)
         VALUES ('{team}', '0546', '{team}', 'Familie Oud')"
    ))
    .await;
    app.execute(&format!(
        "INSERT INTO family_members (id, family_id, role, given_name, family_name, birth_date,
                                     bsn_ciphertext, bsn_hash)
         VALUES (gen_random_uuid(), '{team}', 'child', 'Oud', 'Oud', '2015-01-01',
                 '\\x00112233445566778899aabbccddeeff0011'::bytea, '\\x00'::bytea)"
    ))
    .await;
    let mut conn = app.conn().await;

    let refused = check(&mut conn, &test_keys()).await.unwrap_err();

    assert!(refused.contains("earlier derivation"), "{refused}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM key_fingerprints")
            .await,
        0
    );
}

/// The binary in production mode with `secrets`, on a database it cannot
/// reach: what it says and whether it stopped.
async fn production_start(secrets: [[u8; 32]; 3]) -> (bool, String) {
    use base64::Engine;
    let b64 = |k: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let data_dir = std::env::temp_dir().join(format!("gezinsregie-weak-{}", uuid::Uuid::new_v4()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"))
        .arg("serve")
        .env("GEZINSREGIE_ENV", "production")
        // Nothing listens there: a server that reached the database would
        // fail with a connection error, not with the key's name.
        .env("DATABASE_URL", "postgres://gezinsregie@127.0.0.1:1/nowhere")
        .env("GEZINSREGIE__SERVER__HOST", "127.0.0.1")
        .env("GEZINSREGIE__SERVER__PORT", "0")
        .env(
            "GEZINSREGIE__SECRETS__METRICS_TOKEN",
            "a-metrics-token-of-at-least-32-characters",
        )
        .env("GEZINSREGIE__DATA_DIR", &data_dir)
        .env("GEZINSREGIE__SECRETS__JWT_KEY", b64(&secrets[0]))
        .env("GEZINSREGIE__SECRETS__BSN_ENCRYPTION_KEY", b64(&secrets[1]))
        .env("GEZINSREGIE__SECRETS__BSN_HASH_KEY", b64(&secrets[2]))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), out)
        .await
        .expect("the binary stops by itself")
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&data_dir);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Issue 15 item 10: production refuses weak secrets (all zero, a repeated
/// pattern) and one secret used for two purposes, naming them, before it
/// touches the database.
#[actix_web::test]
async fn production_refuses_weak_and_shared_secrets_before_the_database() {
    let strong = || -> [u8; 32] { rand::random() };
    let (a, b, c) = (strong(), strong(), strong());

    let (ok, said) = production_start([[0; 32], b, c]).await;
    assert!(!ok && said.contains("jwt_key is weak"), "{said}");

    let mut pattern = [0u8; 32];
    for (i, byte) in pattern.iter_mut().enumerate() {
        *byte = [0x13, 0x37][i % 2];
    }
    let (ok, said) = production_start([a, b, pattern]).await;
    assert!(!ok && said.contains("bsn_hash_key is weak"), "{said}");

    let (ok, said) = production_start([a, b, a]).await;
    assert!(
        !ok && said.contains("jwt_key and bsn_hash_key have the same value"),
        "{said}"
    );

    // Strong, distinct secrets get past the check, to the database.
    let (ok, said) = production_start([a, b, c]).await;
    assert!(
        !ok && !said.contains("weak") && !said.contains("same value"),
        "{said}"
    );
}
