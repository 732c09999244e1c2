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

use crate::admin::model::UserSpec;
use crate::admin::queries as admin;
use crate::admin::service::insert_user;
use crate::auth::password;
use crate::crypto::keys::PurposeKeys;
use crate::crypto::BsnVault;
use crate::db::schema::{director_assignments, families, municipalities, plans};
use crate::domain::bsn::synthetic;
use crate::domain::{MemberRole, MunicipalityCode, Role, TeamId};
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
    let spec = crate::admin::model::NewClient {
        name: "Demo HIS Huisartsenpraktijk De Vliet".into(),
        referrer_type: "02".into(),
        agb_code: Some(DEMO_CLIENT_AGB.into()),
        organisation_name: "Huisartsenpraktijk De Vliet (demo)".into(),
        municipality_codes: vec!["0546".into()],
        scopes: vec!["referrals:write".into(), "referrals:read".into()],
        callback_url: None,
    }
    .parse()?;
    crate::admin::service::insert_client(conn, sealer, DEMO_CLIENT_ID, &spec, secret_hash, None)
        .await?;
    Ok(())
}

/// (given name, family name, role, birth date, seed of a synthetic BSN)
struct Person(
    &'static str,
    &'static str,
    MemberRole,
    (i32, u32, u32),
    Option<u64>,
);

/// A demo family and its plan.
struct DemoFamily {
    name: &'static str,
    municipality: &'static str,
    team: &'static str,
    members: &'static [Person],
    plan: Option<DemoPlan>,
}

/// A family's open plan: its title, its director (by username; none for
/// an intake) and whether a closed plan precedes it.
struct DemoPlan {
    title: &'static str,
    director: Option<&'static str>,
    closed_before: bool,
}

/// The demo families: every stage of a plan (none, intake, active with a
/// JGT or GI director, one with a closed plan in its history).
const FAMILIES: &[DemoFamily] = &[
    DemoFamily {
        name: "Familie Jansen",
        municipality: "0546",
        team: "JGT Leiden Noord",
        members: &[
            Person(
                "Marieke",
                "Jansen",
                MemberRole::Parent,
                (1984, 5, 2),
                Some(20_100_001),
            ),
            Person(
                "Sanne",
                "Jansen",
                MemberRole::Child,
                (2012, 3, 14),
                Some(20_100_011),
            ),
            Person(
                "Tim",
                "Jansen",
                MemberRole::Child,
                (2015, 9, 30),
                Some(20_100_021),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan Jansen",
            director: Some("anna.jgt"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie El Amrani",
        municipality: "0546",
        team: "JGT Leiden Noord",
        members: &[
            Person(
                "Samira",
                "El Amrani",
                MemberRole::Parent,
                (1988, 1, 20),
                Some(20_100_031),
            ),
            Person(
                "Yassin",
                "El Amrani",
                MemberRole::Child,
                (2016, 6, 8),
                Some(20_100_041),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Aanmelding via huisarts",
            director: None,
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie de Vries",
        municipality: "0546",
        team: "JGT Leiden Zuid",
        members: &[
            Person(
                "Peter",
                "de Vries",
                MemberRole::Parent,
                (1979, 11, 11),
                Some(20_100_051),
            ),
            Person(
                "Lotte",
                "de Vries",
                MemberRole::Child,
                (2010, 2, 1),
                Some(20_100_061),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan de Vries (tweede)",
            director: Some("bram.jgt"),
            closed_before: true,
        }),
    },
    DemoFamily {
        name: "Familie Bakker",
        municipality: "0546",
        team: "JGT Leiden Zuid",
        members: &[
            Person("Kim", "Bakker", MemberRole::Caregiver, (1990, 7, 7), None),
            Person(
                "Noah",
                "Bakker",
                MemberRole::Child,
                (2013, 12, 24),
                Some(20_100_071),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Plan met jeugdbeschermingsmaatregel",
            director: Some("carla.gi"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie Visser",
        municipality: "0546",
        team: "JGT Leiden Noord",
        members: &[Person(
            "Eva",
            "Visser",
            MemberRole::Child,
            (2018, 4, 4),
            Some(20_100_081),
        )],
        plan: None,
    },
    DemoFamily {
        name: "Familie van den Berg",
        municipality: "0537",
        team: "JGT Katwijk",
        members: &[
            Person(
                "Ruud",
                "van den Berg",
                MemberRole::Parent,
                (1982, 8, 19),
                Some(20_100_091),
            ),
            Person(
                "Fenna",
                "van den Berg",
                MemberRole::Child,
                (2011, 10, 3),
                Some(20_100_101),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan van den Berg",
            director: Some("daan.jgt"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie Yilmaz",
        municipality: "0546",
        team: "JGT Leiden Zuid",
        members: &[
            Person(
                "Elif",
                "Yilmaz",
                MemberRole::Parent,
                (1987, 3, 9),
                Some(20_100_111),
            ),
            Person(
                "Emre",
                "Yilmaz",
                MemberRole::Child,
                (2014, 5, 21),
                Some(20_100_121),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan Yilmaz",
            director: Some("bram.jgt"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie Mulder",
        municipality: "0546",
        team: "JGT Leiden Noord",
        members: &[
            Person(
                "Joost",
                "Mulder",
                MemberRole::Parent,
                (1981, 2, 17),
                Some(20_100_131),
            ),
            Person(
                "Daan",
                "Mulder",
                MemberRole::Child,
                (2013, 8, 2),
                Some(20_100_141),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan Mulder",
            director: Some("anna.jgt"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie Hendriks",
        municipality: "0546",
        team: "JGT Leiden Zuid",
        members: &[
            Person(
                "Ilse",
                "Hendriks",
                MemberRole::Parent,
                (1985, 10, 30),
                Some(20_100_151),
            ),
            Person(
                "Milan",
                "Hendriks",
                MemberRole::Child,
                (2016, 1, 12),
                Some(20_100_161),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan Hendriks",
            director: Some("bram.jgt"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie Smit",
        municipality: "0546",
        team: "JGT Leiden Noord",
        members: &[
            Person(
                "Rob",
                "Smit",
                MemberRole::Parent,
                (1976, 4, 25),
                Some(20_100_171),
            ),
            Person(
                "Julia",
                "Smit",
                MemberRole::Child,
                (2009, 9, 9),
                Some(20_100_181),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Gezinsplan Smit",
            director: Some("anna.jgt"),
            closed_before: false,
        }),
    },
    DemoFamily {
        name: "Familie de Groot",
        municipality: "0546",
        team: "JGT Leiden Noord",
        members: &[
            Person(
                "Nina",
                "de Groot",
                MemberRole::Caregiver,
                (1992, 12, 1),
                None,
            ),
            Person(
                "Luuk",
                "de Groot",
                MemberRole::Child,
                (2011, 6, 15),
                Some(20_100_191),
            ),
        ],
        plan: Some(DemoPlan {
            title: "Crisisplan de Groot",
            director: Some("anna.jgt"),
            closed_before: false,
        }),
    },
];

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// Ids of what the demo made, by name.
#[derive(Default)]
struct Named(Vec<(&'static str, Uuid)>);

impl Named {
    fn get(&self, name: &str) -> Option<Uuid> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, id)| *id)
    }
}

async fn load(conn: &mut AsyncPgConnection, vault: &BsnVault, hash: &str) -> Result<(), ApiError> {
    let teams = municipalities_and_teams(conn).await?;
    let users = users(conn, &teams, hash).await?;
    let lead = users.get("teamlead.leiden");
    for family in FAMILIES {
        let family_id = insert_family(conn, vault, family, &teams).await?;
        if let Some(plan) = &family.plan {
            if plan.closed_before {
                closed_plan(conn, family_id, family.municipality, &users, lead).await?;
            }
            let director = plan.director.and_then(|d| users.get(d));
            open_plan(
                conn,
                family_id,
                family.municipality,
                plan.title,
                director,
                lead,
            )
            .await?;
        }
    }
    care::load(conn, hash, lead).await
}

async fn municipalities_and_teams(conn: &mut AsyncPgConnection) -> Result<Named, ApiError> {
    for (code, name) in MUNICIPALITIES {
        admin::insert_municipality(conn, code, name).await?;
    }
    let mut teams = Named::default();
    for (code, name) in TEAMS {
        let team = admin::insert_team(conn, TeamId::new(), code, name).await?;
        teams.0.push((*name, team.id.uuid()));
    }
    Ok(teams)
}

async fn users(conn: &mut AsyncPgConnection, teams: &Named, hash: &str) -> Result<Named, ApiError> {
    let mut users = Named::default();
    for (username, display, role, municipality, team_name, served) in USERS {
        let spec = UserSpec {
            username: (*username).into(),
            display_name: (*display).into(),
            role: *role,
            municipality: municipality.and_then(|m| MunicipalityCode::parse(m).ok()),
            team_id: team_name.and_then(|t| teams.get(t)),
            served: served
                .iter()
                .filter_map(|m| MunicipalityCode::parse(m).ok())
                .collect(),
            provider_id: None,
            password: String::new(),
        };
        let id = insert_user(conn, &spec, hash).await?;
        users.0.push((*username, id));
    }
    Ok(users)
}

async fn insert_family(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    family: &DemoFamily,
    teams: &Named,
) -> Result<Uuid, ApiError> {
    let family_id = Uuid::now_v7();
    diesel::insert_into(families::table)
        .values((
            families::id.eq(family_id),
            families::municipality_code.eq(family.municipality),
            families::team_id.eq(teams.get(family.team).unwrap_or_default()),
            families::name.eq(family.name),
        ))
        .execute(conn)
        .await?;
    for p in family.members {
        let spec = MemberSpec {
            role: p.2,
            given_name: p.0.into(),
            family_name: p.1.into(),
            birth_date: date(p.3),
            bsn: p.4.map(synthetic),
        };
        insert_member(conn, vault, family_id.into(), &spec, "bsn").await?;
    }
    Ok(family_id)
}

/// An earlier plan, closed with its outcome, directed by Bram.
async fn closed_plan(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
    municipality: &str,
    users: &Named,
    lead: Option<Uuid>,
) -> Result<(), ApiError> {
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
            director_assignments::user_id.eq(users.get("bram.jgt").unwrap_or_default()),
            director_assignments::started_at.eq(opened),
            director_assignments::ended_at.eq(Some(closed)),
            director_assignments::assigned_by.eq(lead),
            director_assignments::reason.eq("Eerste regisseur"),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The family's open plan: active with its director, or an intake.
async fn open_plan(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
    municipality: &str,
    title: &str,
    director: Option<Uuid>,
    lead: Option<Uuid>,
) -> Result<(), ApiError> {
    let plan_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(plans::table)
        .values((
            plans::id.eq(plan_id),
            plans::family_id.eq(family_id),
            plans::municipality_code.eq(municipality),
            plans::status.eq(if director.is_some() {
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
            plans::activated_at.eq(director.map(|_| now)),
        ))
        .execute(conn)
        .await?;
    if let Some(director) = director {
        diesel::insert_into(director_assignments::table)
            .values((
                director_assignments::id.eq(Uuid::now_v7()),
                director_assignments::plan_id.eq(plan_id),
                director_assignments::user_id.eq(director),
                director_assignments::started_at.eq(now),
                director_assignments::assigned_by.eq(lead),
                director_assignments::reason.eq("Toegewezen bij intake"),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 item 10: the demo password passes the password policy for
    /// every demo user (the demo inserts its users past the API's checks).
    #[test]
    fn the_demo_password_meets_the_policy_for_every_demo_user() {
        for (username, ..) in USERS {
            assert_eq!(
                crate::auth::password_policy::check(DEMO_PASSWORD, username),
                Ok(()),
                "{username}"
            );
        }
    }
}
