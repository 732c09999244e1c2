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
