//! Demo care: providers, a provider user, and involvements with a history on
//! the demo families, so that every level appears and every kind of signal
//! can be seen: stacked care (Jansen), a yo-yo history (de Vries), a long
//! wait (Yilmaz), an intake without a director (El Amrani) and a protection
//! measure (Bakker). Dates lie in the past; the scaling events chain and end
//! at each plan's derived level, as the database checks at commit.

use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::admin::model::UserSpec;
use crate::admin::queries::insert_provider;
use crate::admin::service::insert_user;
use crate::care::catalogue::Catalogue;
use crate::care::state::{derived_state, sync_signals};
use crate::db::schema::{families, family_members, involvements, plans, scaling_events};
use crate::domain::care::{direction, EndReason, InvolvementStatus};
use crate::domain::signals::Thresholds;
use crate::domain::{AgbCode, MunicipalityCode, ProviderId, Role};
use crate::error::{ApiError, ApiResult};

pub const PROVIDER_USER: &str = "zorg.rijnland";
pub const PROVIDER_USER_ORG: &str = "Rijnland Jeugdhulp";

/// (name, AGB code): fictional organisations, AGB codes from a range no
/// real provider has.
const PROVIDERS: &[(&str, &str)] = &[
    ("Rijnland Jeugdhulp", "99990001"),
    ("Duin en Bollen Jeugd-GGZ", "99990002"),
    ("Dyslexiepraktijk Sleutelstad", "99990003"),
    ("Schoolmaatschappelijk Werk Leiden", "99990004"),
    ("Pleegzorg Holland Rijnland", "99990005"),
    ("Gezinshuis De Zeester", "99990006"),
    ("Jeugdbescherming Holland Rijnland (GI)", "99990007"),
    ("Crisisdienst Rijnland", "99990008"),
    ("Dagbehandeling Het Duinhuis", "99990009"),
    ("Jeugd- en Gezinsteams Holland Rijnland", "99990010"),
];

struct Ctx<'a> {
    catalogue: &'a Catalogue,
    today: NaiveDate,
    providers: Vec<(&'static str, Uuid)>,
    decided_by: Option<Uuid>,
}

impl Ctx<'_> {
    fn provider(&self, name: &str) -> Uuid {
        self.providers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
            .unwrap_or_default()
    }

    fn days_ago(&self, days: i64) -> NaiveDate {
        self.today - Duration::days(days)
    }
}

/// One involvement: provider, care form, member (given name), requested
/// and started days ago, and how it ended (days ago, reason).
struct Care {
    provider: &'static str,
    form: &'static str,
    member: Option<&'static str>,
    requested: i64,
    started: Option<i64>,
    ended: Option<(i64, EndReason)>,
}

const fn care(
    provider: &'static str,
    form: &'static str,
    member: Option<&'static str>,
    requested: i64,
    started: Option<i64>,
    ended: Option<(i64, EndReason)>,
) -> Care {
    Care {
        provider,
        form,
        member,
        requested,
        started,
        ended,
    }
}

const RIJNLAND: &str = "Rijnland Jeugdhulp";
const GGZ: &str = "Duin en Bollen Jeugd-GGZ";

/// The care of one demo family: what ran, and the steps of its history
/// (days ago, reason) at which the level may have changed.
struct FamilyCare {
    family: &'static str,
    cares: &'static [Care],
    steps: &'static [(i64, &'static str)],
}

/// Every level, and every kind of signal.
const FAMILY_CARE: &[FamilyCare] = &[
    // Jansen: four providers at once, two of them ambulant for Sanne, and
    // Tim in two segments: many_providers, parallel_same_segment,
    // multiple_segments.
    FamilyCare {
        family: "Familie Jansen",
        cares: &[
            care(
                RIJNLAND,
                "ambulant_intensief",
                Some("Sanne"),
                70,
                Some(60),
                None,
            ),
            care(GGZ, "jeugd_ggz_basis", Some("Sanne"), 50, Some(45), None),
            care(
                "Dyslexiepraktijk Sleutelstad",
                "dyslexiezorg",
                Some("Tim"),
                40,
                Some(30),
                None,
            ),
            care(
                "Schoolmaatschappelijk Werk Leiden",
                "schoolmaatschappelijk_werk",
                Some("Tim"),
                35,
                Some(30),
                None,
            ),
        ],
        steps: &[(60, "Ambulante gezinsbehandeling gestart")],
    },
    // de Vries: up to foster care, down, up to residential, down: yo-yo.
    FamilyCare {
        family: "Familie de Vries",
        cares: &[
            care(
                RIJNLAND,
                "ambulant_licht",
                Some("Lotte"),
                175,
                Some(170),
                Some((140, EndReason::Transferred)),
            ),
            care(
                "Pleegzorg Holland Rijnland",
                "pleegzorg",
                Some("Lotte"),
                145,
                Some(140),
                Some((100, EndReason::StoppedByProvider)),
            ),
            care(
                RIJNLAND,
                "ambulant_intensief",
                Some("Lotte"),
                100,
                Some(100),
                None,
            ),
            care(
                GGZ,
                "klinische_jeugd_ggz",
                Some("Lotte"),
                65,
                Some(60),
                Some((20, EndReason::Completed)),
            ),
        ],
        steps: &[
            (170, "Start ambulante hulp"),
            (140, "Uithuisplaatsing in pleeggezin"),
            (
                100,
                "Pleeggezin gestopt; terug naar huis met intensieve hulp",
            ),
            (60, "Opname klinische jeugd-GGZ"),
            (20, "Ontslag uit de kliniek"),
        ],
    },
    // Yilmaz: ambulant help runs, specialised GGZ requested 55 days ago.
    FamilyCare {
        family: "Familie Yilmaz",
        cares: &[
            care(RIJNLAND, "ambulant_licht", None, 90, Some(80), None),
            care(
                GGZ,
                "jeugd_ggz_specialistisch",
                Some("Emre"),
                55,
                None,
                None,
            ),
        ],
        steps: &[(80, "Opvoedondersteuning gestart")],
    },
    // Bakker: a child protection order and a family home (level 5).
    FamilyCare {
        family: "Familie Bakker",
        cares: &[
            care(
                "Jeugdbescherming Holland Rijnland (GI)",
                "ondertoezichtstelling",
                Some("Noah"),
                200,
                Some(190),
                None,
            ),
            care(
                "Gezinshuis De Zeester",
                "gezinshuis",
                Some("Noah"),
                150,
                Some(120),
                None,
            ),
        ],
        steps: &[(120, "Plaatsing in gezinshuis")],
    },
    // One family at every remaining level.
    FamilyCare {
        family: "Familie van den Berg",
        cares: &[care(
            "Jeugd- en Gezinsteams Holland Rijnland",
            "jgt_ondersteuning",
            None,
            30,
            Some(28),
            None,
        )],
        steps: &[(28, "Ondersteuning door het JGT")],
    },
    FamilyCare {
        family: "Familie Mulder",
        cares: &[care(
            "Schoolmaatschappelijk Werk Leiden",
            "onderwijs_zorgarrangement",
            Some("Daan"),
            40,
            Some(35),
            None,
        )],
        steps: &[(35, "Arrangement op school")],
    },
    FamilyCare {
        family: "Familie Hendriks",
        cares: &[care(
            "Dagbehandeling Het Duinhuis",
            "dagbehandeling",
            Some("Milan"),
            60,
            Some(45),
            None,
        )],
        steps: &[(45, "Dagbehandeling gestart")],
    },
    FamilyCare {
        family: "Familie Smit",
        cares: &[care(
            GGZ,
            "klinische_jeugd_ggz",
            Some("Julia"),
            30,
            Some(14),
            None,
        )],
        steps: &[(14, "Opname klinische jeugd-GGZ")],
    },
    FamilyCare {
        family: "Familie de Groot",
        cares: &[care(
            "Crisisdienst Rijnland",
            "crisisopvang",
            Some("Luuk"),
            3,
            Some(3),
            None,
        )],
        steps: &[(3, "Crisisopvang na melding Veilig Thuis")],
    },
];

pub async fn load(
    conn: &mut AsyncPgConnection,
    password_hash: &str,
    decided_by: Option<Uuid>,
) -> ApiResult<()> {
    let catalogue = Catalogue::load(None).map_err(ApiError::internal)?;
    let mut ctx = Ctx {
        catalogue: &catalogue,
        today: Utc::now().date_naive(),
        providers: Vec::new(),
        decided_by,
    };
    for (name, agb) in PROVIDERS {
        let agb = AgbCode::parse(agb).map_err(ApiError::internal)?;
        let provider = insert_provider(conn, ProviderId::new(), name, &agb).await?;
        ctx.providers.push((name, provider.id.uuid()));
    }
    let spec = UserSpec {
        username: PROVIDER_USER.into(),
        display_name: "Rachid Bouzid (Rijnland Jeugdhulp)".into(),
        role: Role::ProviderUser,
        municipality: MunicipalityCode::parse("0546").ok(),
        team_id: None,
        served: Vec::new(),
        provider_id: Some(ctx.provider(PROVIDER_USER_ORG)),
        password: String::new(),
    };
    insert_user(conn, &spec, password_hash).await?;

    for family in FAMILY_CARE {
        family_care(conn, &ctx, family).await?;
    }
    // El Amrani: in intake for eight days without a director.
    let el_amrani = open_plan_of(conn, "Familie El Amrani").await?;
    diesel::update(plans::table.find(el_amrani.0))
        .set(plans::created_at.eq(Utc::now() - Duration::days(8)))
        .execute(conn)
        .await?;
    sync_signals(conn, &Thresholds::default(), el_amrani.0.into(), Utc::now()).await?;
    Ok(())
}

async fn open_plan_of(conn: &mut AsyncPgConnection, family: &str) -> ApiResult<(Uuid, Uuid)> {
    Ok(plans::table
        .inner_join(families::table)
        .filter(families::name.eq(family))
        .filter(plans::status.ne("closed"))
        .select((plans::id, families::id))
        .first(conn)
        .await?)
}

/// What the history replay needs of an involvement: its id, level, and
/// the days ago it started and ended.
type Ran = (Uuid, i16, Option<i64>, Option<i64>);

/// Adds a family's care to its open plan, and one scaling event at each of
/// its steps where the level the involvements give changes; then the
/// plan's level and signals.
async fn family_care(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx<'_>,
    family: &FamilyCare,
) -> ApiResult<()> {
    let (plan_id, family_id) = open_plan_of(conn, family.family).await?;
    let mut rows = Vec::new();
    for c in family.cares {
        rows.push(insert_care(conn, ctx, plan_id, family_id, c).await?);
    }
    replay_history(conn, ctx, plan_id, &rows, family.steps).await?;
    let state = derived_state(conn, plan_id.into()).await?;
    diesel::update(plans::table.find(plan_id))
        .set((
            plans::level.eq(state.level),
            plans::protection_measure.eq(state.protection_measure),
        ))
        .execute(conn)
        .await?;
    sync_signals(conn, &Thresholds::default(), plan_id.into(), Utc::now()).await?;
    Ok(())
}

async fn insert_care(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx<'_>,
    plan_id: Uuid,
    family_id: Uuid,
    c: &Care,
) -> ApiResult<Ran> {
    let form = ctx
        .catalogue
        .get(c.form)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no care form {}", c.form)))?;
    let member: Option<Uuid> = match c.member {
        Some(given) => Some(
            family_members::table
                .filter(family_members::family_id.eq(family_id))
                .filter(family_members::given_name.eq(given))
                .select(family_members::id)
                .first(conn)
                .await?,
        ),
        None => None,
    };
    let status = match (c.started, c.ended) {
        (_, Some(_)) => InvolvementStatus::Ended,
        (Some(_), None) => InvolvementStatus::Active,
        (None, None) => InvolvementStatus::Requested,
    };
    let id = Uuid::now_v7();
    diesel::insert_into(involvements::table)
        .values((
            involvements::id.eq(id),
            involvements::plan_id.eq(plan_id),
            involvements::family_id.eq(family_id),
            involvements::provider_id.eq(ctx.provider(c.provider)),
            involvements::care_form_code.eq(&form.code),
            involvements::segment.eq(form.segment.as_str()),
            involvements::level.eq(form.level),
            involvements::product_category.eq(&form.product_category),
            involvements::member_id.eq(member),
            involvements::status.eq(status.as_str()),
            involvements::requested_on.eq(ctx.days_ago(c.requested)),
            involvements::started_on.eq(c.started.map(|d| ctx.days_ago(d))),
            involvements::ended_on.eq(c.ended.map(|(d, _)| ctx.days_ago(d))),
            involvements::end_reason.eq(c.ended.map(|(_, r)| r.as_str())),
            involvements::created_by.eq(ctx.decided_by),
        ))
        .execute(conn)
        .await?;
    Ok((
        id,
        form.level.unwrap_or(0),
        c.started,
        c.ended.map(|(d, _)| d),
    ))
}

/// Replays the history: at each step, the level of what ran that day, and
/// a scaling event where it changed.
async fn replay_history(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx<'_>,
    plan_id: Uuid,
    rows: &[Ran],
    steps: &[(i64, &str)],
) -> ApiResult<()> {
    let mut level = 0i16;
    for (days, reason) in steps {
        let to = rows
            .iter()
            .filter(|(_, _, started, ended)| {
                started.is_some_and(|s| s >= *days) && ended.is_none_or(|e| e < *days)
            })
            .map(|r| r.1)
            .max()
            .unwrap_or(0);
        let Some(dir) = direction(level, to) else {
            continue;
        };
        let changed: Vec<Uuid> = rows
            .iter()
            .filter(|(_, _, s, e)| *s == Some(*days) || *e == Some(*days))
            .map(|r| r.0)
            .collect();
        diesel::insert_into(scaling_events::table)
            .values((
                scaling_events::id.eq(Uuid::now_v7()),
                scaling_events::plan_id.eq(plan_id),
                scaling_events::occurred_at.eq(Utc::now() - Duration::days(*days)),
                scaling_events::from_level.eq(level),
                scaling_events::to_level.eq(to),
                scaling_events::direction.eq(dir.as_str()),
                scaling_events::reason.eq(*reason),
                scaling_events::decided_by.eq(ctx.decided_by),
                scaling_events::involvement_ids.eq(changed),
            ))
            .execute(conn)
            .await?;
        level = to;
    }
    Ok(())
}
