//! `gezinsregie create-user` and `create-client`: accounts made on the
//! command line, checked by the same rules as through the API.

use std::io::BufRead;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::admin::service::insert_user;
use crate::auth::password;
use crate::crypto::keys::PurposeKeys;
use crate::db;
use crate::domain::Role;
use crate::error::ApiError;

/// A user to create, as the command line names it.
pub struct NewAccount {
    pub username: String,
    pub role: Role,
    pub municipality: Option<String>,
    pub team: Option<Uuid>,
    pub display_name: Option<String>,
}

/// Creates a user; the password comes from `GEZINSREGIE_PASSWORD` or stdin.
pub async fn create_user(url: &str, account: NewAccount) -> anyhow::Result<()> {
    let password = match std::env::var("GEZINSREGIE_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            eprintln!("password (from stdin):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let mut conn = db::connect(url).await?;
    let id = insert_account(
        &mut conn,
        &account.username,
        account.role,
        account.municipality,
        account.team,
        account.display_name,
        password,
    )
    .await?;
    println!(
        "created user {} ({}) with id {id}",
        account.username,
        account.role.as_str()
    );
    Ok(())
}

/// Registers a machine client and prints its id, secret and callback
/// secret, once.
pub async fn create_client(
    url: &str,
    keys: &PurposeKeys,
    spec: crate::admin::model::NewClient,
) -> anyhow::Result<()> {
    let name = spec.name.clone();
    let mut conn = db::connect(url).await?;
    let (id, secret, callback_secret) = insert_client(&mut conn, keys, spec).await?;
    println!("created client {name}; store these now, they are not shown again:");
    println!("  client_id        {id}");
    println!("  client_secret    {secret}");
    println!("  callback_secret  {callback_secret}");
    Ok(())
}

/// `gezinsregie create-user`.
async fn insert_account(
    conn: &mut AsyncPgConnection,
    username: &str,
    role: Role,
    municipality: Option<String>,
    team: Option<Uuid>,
    display_name: Option<String>,
    password_text: String,
) -> anyhow::Result<Uuid> {
    let spec = crate::admin::model::NewUser {
        username: username.to_owned(),
        display_name: display_name.unwrap_or_else(|| username.to_owned()),
        role,
        municipality_code: municipality,
        team_id: team,
        provider_id: None,
        served_municipality_codes: None,
        password: password_text,
    }
    .parse()
    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let hash = password::hash(&spec.password)?;
    conn.transaction(async |conn| insert_user(conn, &spec, &hash).await)
        .await
        .map_err(|e: ApiError| anyhow::anyhow!("{}", describe(&e)))
}

/// `gezinsregie create-client`: registers a machine client and returns its
/// id, secret and callback secret (to print once).
async fn insert_client(
    conn: &mut AsyncPgConnection,
    keys: &PurposeKeys,
    spec: crate::admin::model::NewClient,
) -> anyhow::Result<(Uuid, String, String)> {
    let spec = spec
        .parse()
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let secret = crate::auth::tokens::random_token();
    let hash = password::hash(&secret)?;
    let sealer = crate::crypto::SecretBox::new(&keys.callback_secrets);
    let id = Uuid::now_v7();
    let (_, callback_secret) = conn
        .transaction(async |conn| {
            crate::admin::service::insert_client(conn, &sealer, id, &spec, &hash, None).await
        })
        .await
        .map_err(|e: ApiError| anyhow::anyhow!("{}", describe(&e)))?;
    Ok((id, secret, callback_secret))
}

fn describe(e: &ApiError) -> String {
    let mut text = e.detail.clone();
    for p in &e.invalid_params {
        text.push_str(&format!("\n  {}: {}", p.name, p.reason));
    }
    text
}
