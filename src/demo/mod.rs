//! Synthetic demo data: a few municipalities of Holland Rijnland, their JGT
//! teams, one user of every role and families at every stage (no plan,
//! intake, active with a JGT or GI director, a closed plan in history).
//! Every name and BSN is made up; BSNs are generated to pass the 11-proof.
//! [`care`] adds providers and care: every level, stacked care, a yo-yo
//! history, a long wait and an intake without a director.

pub mod care;
pub mod generate;

use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::admin::users::{insert_user, UserSpec};
use crate::auth::password;
use crate::crypto::keys::PurposeKeys;
use crate::crypto::BsnVault;
use crate::db::schema::{director_assignments, families, municipalities, plans, teams};
use crate::domain::bsn::synthetic;
use crate::domain::{MemberRole, MunicipalityCode, Role};
use crate::error::ApiError;
use crate::families::model::MemberSpec;
use crate::families::service::insert_member;

/// Client id of the demo GP system (machine-to-machine referrals).
pub const DEMO_CLIENT_ID: Uuid = Uuid::from_u128(0x019ab000_0000_7000_8000_0000000d0001);
/// Client secret of the demo GP system.
pub const DEMO_CLIENT_SECRET: &str = "gezinsregie-demo-client-secret";
/// AGB code the demo GP refers as (fictional).
pub const DEMO_CLIENT_AGB: &str = "01999901";

/// Password of every demo user.
pub const DEMO_PASSWORD: &str = "gezinsregie-demo";

/// (username, display name, role, municipality, team name, served municipalities)
type DemoUser = (
    &'static str,
    &'static str,
    Role,
    Option<&'static str>,
    Option<&'static str>,
    &'static [&'static str],
);
const USERS: &[DemoUser] = &[
    ("admin", "Functioneel beheer", Role::Admin, None, None, &[]),
    (
        "teamlead.leiden",
        "Tessa Leidsma (teamleider)",
        Role::TeamLead,
        Some("0546"),
        Some("JGT Leiden Noord"),
        &[],
    ),
    (
        "anna.jgt",
        "Anna de Vries",
        Role::JgtWorker,
        Some("0546"),
        Some("JGT Leiden Noord"),
        &[],
    ),
    (
        "bram.jgt",
        "Bram Kok",
        Role::JgtWorker,
        Some("0546"),
        Some("JGT Leiden Zuid"),
        &[],
    ),
    (
        "carla.gi",
        "Carla Smit (GI)",
        Role::GiWorker,
        Some("0546"),
        None,
        &["0537"],
    ),
    (
        "auditor.leiden",
        "Ahmed Ouali (auditor)",
        Role::Auditor,
        Some("0546"),
        None,
        &[],
    ),
    (
        "teamlead.katwijk",
        "Karin Duijndam (teamleider)",
        Role::TeamLead,
        Some("0537"),
        Some("JGT Katwijk"),
        &[],
    ),
    (
        "daan.jgt",
        "Daan Guijt",
        Role::JgtWorker,
        Some("0537"),
        Some("JGT Katwijk"),
        &[],
    ),
];

const MUNICIPALITIES: &[(&str, &str)] =
    &[("0546", "Leiden"), ("0537", "Katwijk"), ("0553", "Lisse")];
const TEAMS: &[(&str, &str)] = &[
    ("0546", "JGT Leiden Noord"),
    ("0546", "JGT Leiden Zuid"),
    ("0537", "JGT Katwijk"),
    ("0553", "JGT Lisse"),
];

pub async fn database_is_empty(conn: &mut AsyncPgConnection) -> anyhow::Result<bool> {
    let n: i64 = municipalities::table.count().get_result(conn).await?;
    Ok(n == 0)
}

/// Loads the demo set unless it is there already; true when loaded.
pub async fn load_if_absent(
    conn: &mut AsyncPgConnection,
    keys: &PurposeKeys,
) -> anyhow::Result<bool> {
    let present: i64 = municipalities::table
        .filter(municipalities::code.eq("0546"))
        .count()
        .get_result(conn)
        .await?;
    if present > 0 {
        return Ok(false);
    }
    let vault = BsnVault::new(&keys.bsn_encryption, &keys.bsn_hash)?;
    let hash = password::hash(DEMO_PASSWORD)?;
    let client_hash = password::hash(DEMO_CLIENT_SECRET)?;
    let sealer = crate::crypto::SecretBox::new(&keys.callback_secrets);
    conn.transaction(async |conn| {
        load(conn, &vault, &hash).await?;
        demo_client(conn, &sealer, &client_hash).await
    })
    .await
    .map_err(|e: ApiError| anyhow::anyhow!("loading demo data: {e}"))?;
    Ok(true)
}

/// The demo GP system: refers as a huisarts (02) to Leiden, without a
/// callback URL (set one with PATCH /v1/clients/{id} to see notifications).
async fn demo_client(
    conn: &mut AsyncPgConnection,
    sealer: &crate::crypto::SecretBox,
    secret_hash: &str,
) -> Result<(), ApiError> {
    let spec = crate::admin::clients::NewClient {
        name: "Demo HIS Huisartsenpraktijk De Vliet".into(),
        referrer_type: "02".into(),
        agb_code: Some(DEMO_CLIENT_AGB.into()),
        organisation_name: "Huisartsenpraktijk De Vliet (demo)".into(),
        municipality_codes: vec!["0546".into()],
        scopes: vec!["referrals:write".into(), "referrals:read".into()],
        callback_url: None,
    }
    .parse()?;
    crate::admin::clients::insert_client(conn, sealer, DEMO_CLIENT_ID, &spec, secret_hash, None)
        .await?;
    Ok(())
}

struct Person(
    &'static str,
    &'static str,
    MemberRole,
    NaiveDate,
    Option<u64>,
);

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

async fn load(conn: &mut AsyncPgConnection, vault: &BsnVault, hash: &str) -> Result<(), ApiError> {
    for (code, name) in MUNICIPALITIES {
        diesel::insert_into(municipalities::table)
            .values((municipalities::code.eq(code), municipalities::name.eq(name)))
            .execute(conn)
            .await?;
    }
    let mut team_ids = Vec::new();
    for (code, name) in TEAMS {
        let id = Uuid::now_v7();
        diesel::insert_into(teams::table)
            .values((
                teams::id.eq(id),
                teams::municipality_code.eq(code),
                teams::name.eq(name),
            ))
            .execute(conn)
            .await?;
        team_ids.push((*name, id));
    }
    let team = |name: &str| team_ids.iter().find(|(n, _)| *n == name).map(|(_, id)| *id);
    let mut user_ids = Vec::new();
    for (username, display, role, municipality, team_name, served) in USERS {
        let spec = UserSpec {
            username: (*username).into(),
            display_name: (*display).into(),
            role: *role,
            municipality: municipality.and_then(|m| MunicipalityCode::parse(m).ok()),
            team_id: team_name.and_then(team),
            served: served
                .iter()
                .filter_map(|m| MunicipalityCode::parse(m).ok())
                .collect(),
            provider_id: None,
            password: String::new(),
        };
        let id = insert_user(conn, &spec, hash).await?;
        user_ids.push((*username, id));
    }
    let user = |name: &str| user_ids.iter().find(|(n, _)| *n == name).map(|(_, id)| *id);

    // (family, municipality, team, members, plan: (title, director, closed earlier plan))
    type PlanSpec = Option<(&'static str, Option<&'static str>, bool)>;
    let families_spec: Vec<(&str, &str, &str, Vec<Person>, PlanSpec)> = vec![
        (
            "Familie Jansen",
            "0546",
            "JGT Leiden Noord",
            vec![
                Person(
                    "Marieke",
                    "Jansen",
                    MemberRole::Parent,
                    date(1984, 5, 2),
                    Some(20_100_001),
                ),
                Person(
                    "Sanne",
                    "Jansen",
                    MemberRole::Child,
                    date(2012, 3, 14),
                    Some(20_100_011),
                ),
                Person(
                    "Tim",
                    "Jansen",
                    MemberRole::Child,
                    date(2015, 9, 30),
                    Some(20_100_021),
                ),
            ],
            Some(("Gezinsplan Jansen", Some("anna.jgt"), false)),
        ),
        (
            "Familie El Amrani",
            "0546",
            "JGT Leiden Noord",
            vec![
                Person(
                    "Samira",
                    "El Amrani",
                    MemberRole::Parent,
                    date(1988, 1, 20),
                    Some(20_100_031),
                ),
                Person(
                    "Yassin",
                    "El Amrani",
                    MemberRole::Child,
                    date(2016, 6, 8),
                    Some(20_100_041),
                ),
            ],
            Some(("Aanmelding via huisarts", None, false)),
        ),
        (
            "Familie de Vries",
            "0546",
            "JGT Leiden Zuid",
            vec![
                Person(
                    "Peter",
                    "de Vries",
                    MemberRole::Parent,
                    date(1979, 11, 11),
                    Some(20_100_051),
                ),
                Person(
                    "Lotte",
                    "de Vries",
                    MemberRole::Child,
                    date(2010, 2, 1),
                    Some(20_100_061),
                ),
            ],
            Some(("Gezinsplan de Vries (tweede)", Some("bram.jgt"), true)),
        ),
        (
            "Familie Bakker",
            "0546",
            "JGT Leiden Zuid",
            vec![
                Person(
                    "Kim",
                    "Bakker",
                    MemberRole::Caregiver,
                    date(1990, 7, 7),
                    None,
                ),
                Person(
                    "Noah",
                    "Bakker",
                    MemberRole::Child,
                    date(2013, 12, 24),
                    Some(20_100_071),
                ),
            ],
            Some((
                "Plan met jeugdbeschermingsmaatregel",
                Some("carla.gi"),
                false,
            )),
        ),
        (
            "Familie Visser",
            "0546",
            "JGT Leiden Noord",
            vec![Person(
                "Eva",
                "Visser",
                MemberRole::Child,
                date(2018, 4, 4),
                Some(20_100_081),
            )],
            None,
        ),
        (
            "Familie van den Berg",
            "0537",
            "JGT Katwijk",
            vec![
                Person(
                    "Ruud",
                    "van den Berg",
                    MemberRole::Parent,
                    date(1982, 8, 19),
                    Some(20_100_091),
                ),
                Person(
                    "Fenna",
                    "van den Berg",
                    MemberRole::Child,
                    date(2011, 10, 3),
                    Some(20_100_101),
                ),
            ],
            Some(("Gezinsplan van den Berg", Some("daan.jgt"), false)),
        ),
        (
            "Familie Yilmaz",
            "0546",
            "JGT Leiden Zuid",
            vec![
                Person(
                    "Elif",
                    "Yilmaz",
                    MemberRole::Parent,
                    date(1987, 3, 9),
                    Some(20_100_111),
                ),
                Person(
                    "Emre",
                    "Yilmaz",
                    MemberRole::Child,
                    date(2014, 5, 21),
                    Some(20_100_121),
                ),
            ],
            Some(("Gezinsplan Yilmaz", Some("bram.jgt"), false)),
        ),
        (
            "Familie Mulder",
            "0546",
            "JGT Leiden Noord",
            vec![
                Person(
                    "Joost",
                    "Mulder",
                    MemberRole::Parent,
                    date(1981, 2, 17),
                    Some(20_100_131),
                ),
                Person(
                    "Daan",
                    "Mulder",
                    MemberRole::Child,
                    date(2013, 8, 2),
                    Some(20_100_141),
                ),
            ],
            Some(("Gezinsplan Mulder", Some("anna.jgt"), false)),
        ),
        (
            "Familie Hendriks",
            "0546",
            "JGT Leiden Zuid",
            vec![
                Person(
                    "Ilse",
                    "Hendriks",
                    MemberRole::Parent,
                    date(1985, 10, 30),
                    Some(20_100_151),
                ),
                Person(
                    "Milan",
                    "Hendriks",
                    MemberRole::Child,
                    date(2016, 1, 12),
                    Some(20_100_161),
                ),
            ],
            Some(("Gezinsplan Hendriks", Some("bram.jgt"), false)),
        ),
        (
            "Familie Smit",
            "0546",
            "JGT Leiden Noord",
            vec![
                Person(
                    "Rob",
                    "Smit",
                    MemberRole::Parent,
                    date(1976, 4, 25),
                    Some(20_100_171),
                ),
                Person(
                    "Julia",
                    "Smit",
                    MemberRole::Child,
                    date(2009, 9, 9),
                    Some(20_100_181),
                ),
            ],
            Some(("Gezinsplan Smit", Some("anna.jgt"), false)),
        ),
        (
            "Familie de Groot",
            "0546",
            "JGT Leiden Noord",
            vec![
                Person(
                    "Nina",
                    "de Groot",
                    MemberRole::Caregiver,
                    date(1992, 12, 1),
                    None,
                ),
                Person(
                    "Luuk",
                    "de Groot",
                    MemberRole::Child,
                    date(2011, 6, 15),
                    Some(20_100_191),
                ),
            ],
            Some(("Crisisplan de Groot", Some("anna.jgt"), false)),
        ),
    ];

    let lead = user("teamlead.leiden");
    for (name, municipality, team_name, members, plan) in families_spec {
        let family_id = Uuid::now_v7();
        diesel::insert_into(families::table)
            .values((
                families::id.eq(family_id),
                families::municipality_code.eq(municipality),
                families::team_id.eq(team(team_name).unwrap_or_default()),
                families::name.eq(name),
            ))
            .execute(conn)
            .await?;
        for p in members {
            let spec = MemberSpec {
                role: p.2,
                given_name: p.0.into(),
                family_name: p.1.into(),
                birth_date: p.3,
                bsn: p.4.map(synthetic),
            };
            insert_member(conn, vault, family_id.into(), &spec, "bsn").await?;
        }
        let Some((title, director, with_history)) = plan else {
            continue;
        };
        if with_history {
            // An earlier plan, closed with its outcome, directed by the same worker.
            let old = Uuid::now_v7();
            let opened = Utc::now() - Duration::days(400);
            let closed = Utc::now() - Duration::days(120);
            diesel::insert_into(plans::table)
                .values((
                    plans::id.eq(old),
                    plans::family_id.eq(family_id),
                    plans::municipality_code.eq(municipality),
                    plans::status.eq("closed"),
                    plans::title.eq("Gezinsplan de Vries"),
                    plans::goals.eq(serde_json::json!([{"id": Uuid::now_v7(), "description": "Rust en regelmaat thuis"}])),
                    plans::created_by.eq(lead),
                    plans::created_at.eq(opened),
                    plans::activated_at.eq(opened),
                    plans::closed_at.eq(closed),
                    plans::close_reason.eq("Doelen grotendeels bereikt"),
                    plans::goal_realisation.eq("partially_achieved"),
                    plans::satisfaction_score.eq(Some(7i16)),
                    plans::dropout.eq(false),
                ))
                .execute(conn)
                .await?;
            diesel::insert_into(director_assignments::table)
                .values((
                    director_assignments::id.eq(Uuid::now_v7()),
                    director_assignments::plan_id.eq(old),
                    director_assignments::user_id.eq(user("bram.jgt").unwrap_or_default()),
                    director_assignments::started_at.eq(opened),
                    director_assignments::ended_at.eq(Some(closed)),
                    director_assignments::assigned_by.eq(lead),
                    director_assignments::reason.eq("Eerste regisseur"),
                ))
                .execute(conn)
                .await?;
        }
        let plan_id = Uuid::now_v7();
        let director_id = director.and_then(user);
        let now = Utc::now();
        diesel::insert_into(plans::table)
            .values((
                plans::id.eq(plan_id),
                plans::family_id.eq(family_id),
                plans::municipality_code.eq(municipality),
                plans::status.eq(if director_id.is_some() {
                    "active"
                } else {
                    "intake"
                }),
                plans::title.eq(title),
                plans::goals.eq(serde_json::json!([
                    {"id": Uuid::now_v7(), "description": "Kinderen gaan dagelijks naar school"},
                    {"id": Uuid::now_v7(), "description": "Ouders hebben een steunend netwerk"}
                ])),
                plans::created_by.eq(lead),
                plans::activated_at.eq(director_id.map(|_| now)),
            ))
            .execute(conn)
            .await?;
        if let Some(director_id) = director_id {
            diesel::insert_into(director_assignments::table)
                .values((
                    director_assignments::id.eq(Uuid::now_v7()),
                    director_assignments::plan_id.eq(plan_id),
                    director_assignments::user_id.eq(director_id),
                    director_assignments::started_at.eq(now),
                    director_assignments::assigned_by.eq(lead),
                    director_assignments::reason.eq("Toegewezen bij intake"),
                ))
                .execute(conn)
                .await?;
        }
    }
    care::load(conn, hash, lead).await
}

/// Prints the demo logins (for people, on stdout; never to the log).
pub fn print_logins() {
    println!();
    println!("Demo data loaded. Every demo user has the password: {DEMO_PASSWORD}");
    println!("  {:<18} {:<12} municipality", "username", "role");
    for (username, _, role, municipality, team, served) in USERS {
        let mut place = municipality.unwrap_or("-").to_owned();
        if let Some(team) = team {
            place.push_str(&format!(" ({team})"));
        }
        if !served.is_empty() {
            place.push_str(&format!(", also serves {}", served.join(", ")));
        }
        println!("  {:<18} {:<12} {}", username, role.as_str(), place);
    }
    println!(
        "  {:<18} {:<12} 0546 ({})",
        care::PROVIDER_USER,
        Role::ProviderUser.as_str(),
        care::PROVIDER_USER_ORG
    );
    println!();
    println!("Demo GP system (machine client; refers as huisarts, AGB {DEMO_CLIENT_AGB}, to Leiden 0546):");
    println!("  client_id      {DEMO_CLIENT_ID}");
    println!("  client_secret  {DEMO_CLIENT_SECRET}");
    println!("  token: curl -u {DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET} -d grant_type=client_credentials <server>/v1/oauth/token");
    println!();
}
