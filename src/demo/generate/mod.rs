//! Bulk synthetic data for load tests: `gezinsregie demo --families N`
//! generates N more families, with members, plan history, directors, care
//! involvements, scaling history and signals, on top of the demo data.
//!
//! Why it is built this way:
//!
//! - **Set-based SQL, not Rust loops.** A million families are some ten
//!   million rows. Row-by-row inserts through the API or diesel would take
//!   hours; `INSERT ... SELECT` over `generate_series` lets PostgreSQL do the
//!   work in a few statements per batch. Every random choice is a
//!   deterministic function of the family's row number, a key per
//!   decision and the seed (`hashint8extended` of the row under a seed
//!   derived from key and seed, in `pg_temp` helper functions the planner
//!   inlines), so the same seed on the same database gives the same data,
//!   and ids are UUID v7 built from the row's own timestamp plus hash bits. Row numbers continue after the families already present, so a
//!   top-up run (100k, then 900k more) adds new families and never collides.
//! - **Batches of [`DEFAULT_BATCH`] families per transaction.** The care
//!   invariants are deferred constraint triggers that run at commit, one
//!   queued event per inserted plan, assignment, involvement and scaling
//!   event; a bounded batch keeps that queue (and a failed batch) small.
//!   Nothing bypasses the triggers (no `session_replication_role`): every
//!   generated plan is checked exactly like one written through the API.
//! - **History is derived, not invented.** Involvements get start and end
//!   dates first; the scaling events are then computed from those dates (the
//!   level on each day a leveled involvement starts or ends, one event where
//!   it changes), so they chain, alternate up and down correctly and end at
//!   the level the active involvements give: the database's
//!   level/last-scaling-event check holds by construction.
//! - **Signals are computed by the same rules as the application**
//!   (`domain::signals`, with the configured thresholds: by default 3
//!   providers, 42 days, 5 days, 3 direction changes in 180 days),
//!   set-based over the batch's open plans, with the same `facts`
//!   fingerprints and `detail` the Rust rules produce, so the server's own
//!   recomputation finds nothing to change.
//! - **No BSNs.** Generated members have no BSN (`bsn_ciphertext` and
//!   `bsn_hash` NULL): millions of numbers passing the 11-proof would be
//!   real people's BSNs, and encrypting and hashing them would only slow
//!   the load. BSN search is not what these data sets are for. Names come from
//!   small lists of common Dutch given and family names.
//!
//! Distributions (per family; "about", because they are drawn per row):
//! - 60% Leiden (0546) when present, the rest evenly over the other
//!   municipalities; teams evenly within the municipality. 1-4 children,
//!   1-2 parents (some caregivers).
//! - 8% without any plan. 20% with one (70%) or two closed plans in history;
//!   a quarter of those have no open plan now. Closed plans carry outcome
//!   fields (15% dropout); their involvements are all ended with iJw end
//!   reasons: the last one with `stopped_by_client`/`_provider`/`_external`
//!   on dropout, otherwise mostly `completed`.
//! - Open plans: 10% intake without director (0-13 days old, skewed to
//!   recent: about 40% older than 5 days), the rest active with a director
//!   (JGT worker of the municipality; a GI worker under a protection
//!   measure when one serves it); 20% of those had a handover (two
//!   assignments).
//! - Running involvements per active plan: 0 (25%), 1 (35%), 2 (33%),
//!   3 (4%), 4 (2%), 5 (1%), each with a distinct provider, so about 5%
//!   of families carry `many_providers`. 12% of them are still `requested`,
//!   a quarter of those waiting more than 42 days. 60% are for one child,
//!   the rest for the whole family. 4% of active plans have a protection
//!   measure (a safety involvement by a GI provider). A quarter of active
//!   plans have one ended involvement in their history.
//! - 2.2% of active plans (about 2% of open plans) have a yo-yo history:
//!   light care running for over half a year and two episodes of heavier
//!   care started and ended within the last 180 days: up, down, up, down,
//!   three changes of direction.
//! - All dates lie in the past and are consistent: family before its plans,
//!   closed plans before the open one, requests before starts before ends,
//!   scaling events on the days care started or ended.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, SmallInt, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use crate::care::catalogue::{CareForm, Catalogue};
use crate::domain::care::Segment;
use crate::domain::signals::Thresholds;

/// Families per transaction.
pub const DEFAULT_BATCH: u64 = 50_000;

/// Number of synthetic providers; AGB codes 99000001..=99000060, a range no
/// real provider has. The first [`GI_PROVIDERS`] are certified institutions
/// (GI) that carry the safety involvements.
const PROVIDERS: u32 = 60;
const GI_PROVIDERS: u32 = 4;
const AGB_PREFIX: u32 = 9900_0000;

/// Synthetic JGT workers created for a municipality without any
/// director-capable user.
const SYNTHETIC_DIRECTORS: usize = 5;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub families: u64,
    pub seed: i64,
    pub batch_size: u64,
    /// The signal thresholds the server applies (config `[signals]`), so
    /// the generated signals are the ones it would compute itself.
    pub thresholds: Thresholds,
    /// The region's care-form catalogue (config `care.catalogue_file`);
    /// the embedded Holland Rijnland one when `None`.
    pub catalogue_file: Option<PathBuf>,
}

impl Options {
    /// `families` families with the default thresholds and catalogue.
    pub fn new(families: u64, seed: i64) -> Self {
        Self {
            families,
            seed,
            batch_size: DEFAULT_BATCH,
            thresholds: Thresholds::default(),
            catalogue_file: None,
        }
    }
}

/// Progress after one committed batch.
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub done: u64,
    pub total: u64,
    pub elapsed_seconds: f64,
}

/// Counts in the whole database after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub families: i64,
    pub members: i64,
    pub plans_by_status: BTreeMap<String, i64>,
    pub director_assignments: i64,
    pub involvements_by_status: BTreeMap<String, i64>,
    pub scaling_events: i64,
    pub signals_by_code: BTreeMap<String, i64>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub generated: u64,
    pub seed: i64,
    pub counts: Counts,
    pub generation_seconds: f64,
    pub elapsed_seconds: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counts;
        let list = |m: &BTreeMap<String, i64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "generated {} families (seed {}) in {:.1} s ({:.1} s with ANALYZE and counting)",
            self.generated, self.seed, self.generation_seconds, self.elapsed_seconds
        )?;
        writeln!(f, "database now holds:")?;
        writeln!(f, "  families              {}", c.families)?;
        writeln!(f, "  members               {}", c.members)?;
        writeln!(f, "  plans                 {}", list(&c.plans_by_status))?;
        writeln!(f, "  director assignments  {}", c.director_assignments)?;
        writeln!(
            f,
            "  involvements          {}",
            list(&c.involvements_by_status)
        )?;
        writeln!(f, "  scaling events        {}", c.scaling_events)?;
        write!(f, "  open signals          {}", list(&c.signals_by_code))
    }
}

// ------------------------------------------------------------------ names

const SURNAMES: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "van Dam",
    "Prins",
    "Blom",
    "Huisman",
    "El Amrani",
    "Yilmaz",
    "Kaya",
    "Bouzid",
    "Guijt",
    "van Duijn",
    "Haasnoot",
];

const CHILD_NAMES: &[&str] = &[
    "Noah", "Sem", "Liam", "Lucas", "Daan", "Finn", "Levi", "Luuk", "Mees", "Jesse", "Milan",
    "Bram", "Sam", "Thomas", "Adam", "Mohamed", "Emma", "Julia", "Mila", "Tess", "Sophie", "Zoë",
    "Sara", "Nora", "Yara", "Eva", "Liv", "Lotte", "Saar", "Nina", "Fenna", "Anna", "Lieke", "Isa",
    "Fleur", "Ayla",
];

const ADULT_NAMES: &[&str] = &[
    "Marieke", "Sanne", "Linda", "Ingrid", "Petra", "Esther", "Mariska", "Femke", "Karin",
    "Samira", "Fatima", "Anouk", "Kim", "Judith", "Monique", "Peter", "Mark", "Jeroen", "Dennis",
    "Martijn", "Erik", "Bas", "Ruud", "Michiel", "Sander", "Hassan", "Ahmed", "Mustafa", "Jan",
    "Kees",
];

const GOALS: &[&str] = &[
    "Kinderen gaan dagelijks naar school",
    "Ouders hebben een steunend netwerk",
    "Rust en regelmaat in huis",
    "Schulden zijn in beeld en onder controle",
    "Ouders overleggen zonder ruzie over de kinderen",
    "De kinderen wonen veilig thuis",
    "Passende dagbesteding voor de oudste",
    "Minder angstklachten bij de jongste",
    "Het gezin heeft een stabiele woning",
    "Ouders kennen hun eigen opvoedvaardigheden",
];

const REFERRERS: &[&str] = &[
    "huisarts",
    "jeugdarts",
    "school",
    "wijkagent",
    "het gezin zelf",
];

const CARE_REASONS: &[&str] = &[
    "Verwijzing huisarts",
    "Hulpvraag van de ouders",
    "Signaal van school",
    "Advies jeugdarts",
    "Afspraak in het gezinsplan",
];

const UP_REASONS: &[&str] = &[
    "Zorgen nemen toe",
    "Nieuwe hulpvraag",
    "Crisissituatie thuis",
    "Onvoldoende voortgang",
];

const DOWN_REASONS: &[&str] = &[
    "Doelen behaald, afschalen",
    "Hulp afgerond",
    "Situatie is stabiel",
    "Zwaardere zorg beëindigd",
];

const CLOSE_REASONS: &[&str] = &[
    "Doelen bereikt",
    "Doelen grotendeels bereikt",
    "Hulp afgerond, verder in het voorliggend veld",
    "Gezin verhuisd binnen de regio, zorg afgerond",
];

const DROPOUT_REASONS: &[&str] = &[
    "Gezin trok zich terug",
    "Aanbieder stopte de hulp",
    "Contact met het gezin verloren",
    "Verhuisd naar een andere regio",
];

const PROVIDER_KINDS: &[&str] = &[
    "Jeugdhulp",
    "Gezinscoaching",
    "Jeugd-ggz",
    "Kindcentrum",
    "Pleegzorg",
    "Dagbehandeling",
    "Jeugdzorg Plus",
    "Opvoedpoli",
];

const PROVIDER_PLACES: &[&str] = &[
    "Leiden",
    "Katwijk",
    "Lisse",
    "Rijnland",
    "Bollenstreek",
    "Oegstgeest",
    "Leiderdorp",
];

const GI_NAMES: &[&str] = &[
    "Jeugdbescherming Rijnland (GI)",
    "Jeugdreclassering Holland (GI)",
    "GI Kust en Bollenstreek",
    "GI Leidse Regio",
];

/// Segment weights of ordinary care, light care (under yo-yo episodes) and
/// the heavier episodes themselves.
const CARE_WEIGHTS: &[(Segment, f64)] = &[
    (Segment::LocalTeam, 26.0),
    (Segment::School, 10.0),
    (Segment::Ambulant, 40.0),
    (Segment::DayCare, 9.0),
    (Segment::Housing, 7.0),
    (Segment::Residential, 5.0),
    (Segment::Crisis, 3.0),
];
const LOW_WEIGHTS: &[(Segment, f64)] = &[
    (Segment::LocalTeam, 35.0),
    (Segment::School, 15.0),
    (Segment::Ambulant, 50.0),
];
const HIGH_WEIGHTS: &[(Segment, f64)] = &[
    (Segment::DayCare, 35.0),
    (Segment::Housing, 30.0),
    (Segment::Residential, 20.0),
    (Segment::Crisis, 15.0),
];
const SAFETY_WEIGHTS: &[(Segment, f64)] = &[(Segment::Safety, 1.0)];

/// Spreads `slots` slots over weighted groups (in proportion to the
/// weights, empty groups left out), cycling through each group's items.
fn weighted_slots<T: Clone>(groups: &[(f64, Vec<T>)], slots: usize) -> Vec<T> {
    let groups: Vec<&(f64, Vec<T>)> = groups
        .iter()
        .filter(|(w, items)| *w > 0.0 && !items.is_empty())
        .collect();
    let total: f64 = groups.iter().map(|(w, _)| w).sum();
    let mut used = vec![0usize; groups.len()];
    let mut out = Vec::with_capacity(slots);
    if groups.is_empty() {
        return out;
    }
    for i in 0..slots {
        let point = (i as f64 + 0.5) / slots as f64 * total;
        let mut cumulative = 0.0;
        let mut chosen = groups.len() - 1;
        for (g, (w, _)) in groups.iter().enumerate() {
            cumulative += w;
            if point < cumulative {
                chosen = g;
                break;
            }
        }
        let items = &groups[chosen].1;
        out.push(items[used[chosen] % items.len()].clone());
        used[chosen] += 1;
    }
    out
}

fn sql_array(items: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect();
    format!("(ARRAY[{}]::text[])", quoted.join(", "))
}

/// `(ARRAY[...])[1 + gz_i(n, key, len)]`: one item of a list, by hash.
fn pick(items: &[&str], n: &str, key: &str) -> String {
    format!(
        "{}[1 + pg_temp.gz_i({n}, {key}, {})]",
        sql_array(items),
        items.len()
    )
}

// ------------------------------------------------------------------ SQL

/// Session setup: UTC dates (signals count days in UTC, like the Rust
/// rules), the hash helpers, and the scratch tables of one batch.
const SETUP: &str = include_str!("sql/setup.sql");

/// The families of rows :LO..=:HI and their timelines (in days ago).
/// Keys 1-19 of `gz_r(n, key)` are the family's draws.
const FAMILIES: &str = include_str!("sql/families.sql");

/// Plans: ord 0 is the open plan, 1 and 2 the closed ones (most recent
/// first). Keys 20-48 and 600-665 are the plans' draws.
const PLANS: &str = include_str!("sql/plans.sql");

/// Involvements. Slots per family: 0-5 running care of the open plan,
/// 6 its safety involvement, 7 an ended one in its history, 8-9 the yo-yo
/// episodes, 10-12 and 13-15 the care of the closed plans. Keys
/// 1000 + slot * 20 + x are the involvement's draws.
const INVOLVEMENTS_RUNNING: &str = include_str!("sql/involvements_running.sql");

const INVOLVEMENTS_SAFETY: &str = include_str!("sql/involvements_safety.sql");

const INVOLVEMENTS_HISTORY: &str = include_str!("sql/involvements_history.sql");

/// Two episodes of heavier care within the last 180 days, on top of light
/// care that has run since before the window: up, down, up, down.
const INVOLVEMENTS_YOYO: &str = include_str!("sql/involvements_yoyo.sql");

/// Care of closed plans: all ended, the first one on the closing day (with
/// a dropout reason when the plan ended in dropout); a few never started.
const INVOLVEMENTS_CLOSED: &str = include_str!("sql/involvements_closed.sql");

/// Ids and timestamps of the involvements, then the plans' derived state.
const INVOLVEMENT_IDS: &str = include_str!("sql/involvement_ids.sql");

/// Scaling history derived from the involvements' dates: on every day a
/// leveled involvement starts or ends, the level is the highest among those
/// running that day; an event wherever it differs from the day before.
/// Keys 200000 + ord * 10000 + day: the event's id (+0), time (+3000), reason (+6000).
const SCALINGS: &str = include_str!("sql/scalings.sql");

/// The real rows, from the scratch tables.
const WRITE_FAMILIES: &str = include_str!("sql/write_families.sql");

const WRITE_PLANS: &str = include_str!("sql/write_plans.sql");

const WRITE_CARE: &str = include_str!("sql/write_care.sql");

/// Signals of the batch's open plans, by the rules of DESIGN "Signals" with
/// the application's fingerprints. Uuids sort as bytes, which is also the
/// order of their lower-case text; strings compare in "C" order, as Rust
/// compares them.
const SIGNALS: &str = include_str!("sql/signals.sql");

// ------------------------------------------------------------------ run

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TeamRow {
    #[diesel(sql_type = Text)]
    municipality_code: String,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct HashRow {
    #[diesel(sql_type = Text)]
    password_hash: String,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    let row: CountRow = diesel::sql_query(sql).get_result(conn).await?;
    Ok(row.n)
}

async fn key_counts(
    conn: &mut AsyncPgConnection,
    sql: &str,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<KeyCount> = diesel::sql_query(sql).load(conn).await?;
    Ok(rows.into_iter().map(|r| (r.key, r.n)).collect())
}

/// Counts of what the generator writes, over the whole database.
pub async fn counts(conn: &mut AsyncPgConnection) -> anyhow::Result<Counts> {
    Ok(Counts {
        families: count(conn, "SELECT count(*) AS n FROM families").await?,
        members: count(conn, "SELECT count(*) AS n FROM family_members").await?,
        plans_by_status: key_counts(
            conn,
            "SELECT status AS key, count(*) AS n FROM plans GROUP BY status",
        )
        .await?,
        director_assignments: count(conn, "SELECT count(*) AS n FROM director_assignments").await?,
        involvements_by_status: key_counts(
            conn,
            "SELECT status AS key, count(*) AS n FROM involvements GROUP BY status",
        )
        .await?,
        scaling_events: count(conn, "SELECT count(*) AS n FROM scaling_events").await?,
        signals_by_code: key_counts(
            conn,
            "SELECT code AS key, count(*) AS n FROM plan_signals GROUP BY code",
        )
        .await?,
    })
}

/// Generates `options.families` more families into the database, which must
/// hold at least one municipality with a team (the demo data does).
/// `on_batch` hears about every committed batch.
pub async fn run(
    conn: &mut AsyncPgConnection,
    options: &Options,
    mut on_batch: impl FnMut(&BatchReport),
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    conn.batch_execute(&SETUP.replace(":SEED", &options.seed.to_string()))
        .await
        .context("preparing the generator session")?;
    prepare_slots(conn).await?;
    prepare_directors(conn).await?;
    let (gen_n, gi_n) = prepare_providers(conn).await?;
    prepare_forms(conn, options.catalogue_file.as_deref()).await?;

    let statements = batch_statements(gen_n, gi_n, &options.thresholds);
    let first = count(conn, "SELECT count(*) AS n FROM families").await? + 1;
    let total = options.families;
    let batch = options.batch_size.max(1);
    let mut done = 0u64;
    while done < total {
        let size = batch.min(total - done);
        let lo = first + done as i64;
        let hi = lo + size as i64 - 1;
        conn.transaction(async |conn| {
            for (name, sql) in &statements {
                let sql = sql
                    .replace(":LO", &lo.to_string())
                    .replace(":HI", &hi.to_string());
                let step = Instant::now();
                conn.batch_execute(&sql)
                    .await
                    .with_context(|| format!("generating {name} for rows {lo}..={hi}"))?;
                tracing::debug!(
                    step = name,
                    ms = step.elapsed().as_millis() as u64,
                    "generated"
                );
            }
            let step = Instant::now();
            // The deferred invariant checks run at the commit that follows.
            conn.batch_execute("SET CONSTRAINTS ALL IMMEDIATE")
                .await
                .with_context(|| format!("checking the invariants of rows {lo}..={hi}"))?;
            tracing::debug!(
                step = "invariant checks",
                ms = step.elapsed().as_millis() as u64,
                "generated"
            );
            Ok::<(), anyhow::Error>(())
        })
        .await
        .with_context(|| format!("committing the batch of rows {lo}..={hi}"))?;
        done += size;
        on_batch(&BatchReport {
            done,
            total,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        });
    }
    let generation_seconds = started.elapsed().as_secs_f64();
    conn.batch_execute("ANALYZE")
        .await
        .context("analysing the database")?;
    let counts = counts(conn).await?;
    Ok(Summary {
        generated: total,
        seed: options.seed,
        counts,
        generation_seconds,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The statements of one batch, in order, with the lists and pool sizes
/// filled in (row bounds are filled per batch).
fn batch_statements(gen_n: i32, gi_n: i32, t: &Thresholds) -> Vec<(&'static str, String)> {
    let fill = |sql: &str| {
        sql.replace(":GEN_N", &gen_n.max(1).to_string())
            .replace(":MANY_PROVIDERS", &t.many_providers.to_string())
            .replace(":LONG_WAIT_DAYS", &t.long_wait_days.to_string())
            .replace(":INTAKE_DAYS", &t.intake_without_director_days.to_string())
            .replace(":YOYO_CHANGES", &t.yo_yo_changes.to_string())
            .replace(":YOYO_DAYS", &t.yo_yo_window_days.to_string())
            .replace(":GI_N", &gi_n.max(1).to_string())
            .replace(":GOALS_N", &GOALS.len().to_string())
            .replace("@SURNAME", &pick(SURNAMES, "g.n", "2"))
            .replace("@OTHER_SURNAME", &pick(SURNAMES, "f.n", "104 + m * 10"))
            .replace("@CHILD_NAME", &pick(CHILD_NAMES, "f.n", "101 + m * 10"))
            .replace("@ADULT_NAME", &pick(ADULT_NAMES, "f.n", "101 + m * 10"))
            .replace("@REFERRER", &pick(REFERRERS, "p.n", "640"))
            .replace("@GOALS", &sql_array(GOALS))
            .replace("@CLOSE_REASON", &pick(CLOSE_REASONS, "p.n", "660 + p.ord"))
            .replace(
                "@DROPOUT_REASON",
                &pick(DROPOUT_REASONS, "p.n", "663 + p.ord"),
            )
            .replace(
                "@CARE_REASON_J",
                &pick(CARE_REASONS, "p.n", "1009 + j * 20"),
            )
            .replace("@CARE_REASON_7", &pick(CARE_REASONS, "p.n", "1149"))
            .replace(
                "@CARE_REASON_X",
                &pick(CARE_REASONS, "p.n", "1009 + x.slot * 20"),
            )
            .replace(
                "@UP_REASON",
                &pick(UP_REASONS, "ch.n", "206000 + ch.ord * 10000 + ch.day_ago"),
            )
            .replace(
                "@DOWN_REASON",
                &pick(DOWN_REASONS, "ch.n", "206000 + ch.ord * 10000 + ch.day_ago"),
            )
    };
    vec![
        ("families", fill(FAMILIES)),
        ("plans", fill(PLANS)),
        ("running care", fill(INVOLVEMENTS_RUNNING)),
        ("protection measures", fill(INVOLVEMENTS_SAFETY)),
        ("ended care", fill(INVOLVEMENTS_HISTORY)),
        ("yo-yo episodes", fill(INVOLVEMENTS_YOYO)),
        ("care of closed plans", fill(INVOLVEMENTS_CLOSED)),
        ("involvement ids", fill(INVOLVEMENT_IDS)),
        ("scaling history", fill(SCALINGS)),
        ("families and members", fill(WRITE_FAMILIES)),
        ("plans and directors", fill(WRITE_PLANS)),
        ("involvements and scaling events", fill(WRITE_CARE)),
        ("signals", fill(SIGNALS)),
    ]
}

/// 100 slots of (municipality, team): 60 for Leiden's teams when Leiden is
/// there, the rest spread evenly over the other municipalities.
async fn prepare_slots(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let teams: Vec<TeamRow> = diesel::sql_query(
        "SELECT municipality_code, id FROM teams ORDER BY municipality_code, name, id",
    )
    .load(conn)
    .await?;
    if teams.is_empty() {
        bail!("the database has no teams to put families in; load the demo data first");
    }
    let mut by_municipality: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for t in teams {
        by_municipality
            .entry(t.municipality_code)
            .or_default()
            .push(t.id);
    }
    let others = by_municipality.keys().filter(|m| *m != "0546").count();
    let groups: Vec<(f64, Vec<(String, Uuid)>)> = by_municipality
        .iter()
        .map(|(code, ids)| {
            let weight = match (code.as_str(), others) {
                (_, 0) => 1.0,
                ("0546", _) => 60.0,
                _ if by_municipality.contains_key("0546") => 40.0 / others as f64,
                _ => 1.0,
            };
            let items = ids.iter().map(|id| (code.clone(), *id)).collect();
            (weight, items)
        })
        .collect();
    // Interleave a municipality's teams rather than filling them in turn.
    let slots = weighted_slots(&groups, 100);
    let (codes, ids): (Vec<String>, Vec<Uuid>) = slots.into_iter().unzip();
    let idx: Vec<i32> = (0..codes.len() as i32).collect();
    diesel::sql_query(
        "INSERT INTO gz_slot (slot, municipality_code, team_id)
         SELECT * FROM unnest($1::integer[], $2::text[], $3::uuid[])",
    )
    .bind::<Array<Integer>, _>(idx)
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<SqlUuid>, _>(ids)
    .execute(conn)
    .await?;
    Ok(())
}

const DIRECTOR_CANDIDATES: &str = "
    SELECT count(*) AS n FROM users u
    WHERE u.active AND (
        (u.role = 'jgt_worker' AND u.municipality_code = $1)
        OR (u.role = 'gi_worker' AND (u.municipality_code = $1 OR EXISTS (
            SELECT 1 FROM user_served_municipalities s
            WHERE s.user_id = u.id AND s.municipality_code = $1))))";

/// Director pools per municipality: its active JGT workers, and the GI
/// workers serving it. A municipality with neither gets a few synthetic
/// JGT workers (with the password hash of an existing user).
async fn prepare_directors(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Code {
        #[diesel(sql_type = Text)]
        municipality_code: String,
    }
    let codes: Vec<Code> =
        diesel::sql_query("SELECT DISTINCT municipality_code FROM gz_slot ORDER BY 1")
            .load(conn)
            .await?;
    for Code { municipality_code } in codes {
        let candidates: CountRow = diesel::sql_query(DIRECTOR_CANDIDATES)
            .bind::<Text, _>(&municipality_code)
            .get_result(conn)
            .await?;
        if candidates.n == 0 {
            create_synthetic_directors(conn, &municipality_code).await?;
        }
    }
    conn.batch_execute(
        "INSERT INTO gz_pool (municipality_code, kind, idx, user_id)
         SELECT s.municipality_code, 'jgt', row_number() OVER (PARTITION BY s.municipality_code ORDER BY u.id) - 1, u.id
         FROM (SELECT DISTINCT municipality_code FROM gz_slot) s
         JOIN users u ON u.active AND u.role = 'jgt_worker' AND u.municipality_code = s.municipality_code;
         INSERT INTO gz_pool (municipality_code, kind, idx, user_id)
         SELECT s.municipality_code, 'gi', row_number() OVER (PARTITION BY s.municipality_code ORDER BY u.id) - 1, u.id
         FROM (SELECT DISTINCT municipality_code FROM gz_slot) s
         JOIN users u ON u.active AND u.role = 'gi_worker' AND (u.municipality_code = s.municipality_code
              OR EXISTS (SELECT 1 FROM user_served_municipalities x
                         WHERE x.user_id = u.id AND x.municipality_code = s.municipality_code));
         INSERT INTO gz_pool_n (municipality_code, jgt_n, gi_n)
         SELECT s.municipality_code,
                (SELECT count(*) FROM gz_pool p WHERE p.municipality_code = s.municipality_code AND p.kind = 'jgt'),
                (SELECT count(*) FROM gz_pool p WHERE p.municipality_code = s.municipality_code AND p.kind = 'gi')
         FROM (SELECT DISTINCT municipality_code FROM gz_slot) s;",
    )
    .await
    .context("collecting directors")?;
    let empty = count(
        conn,
        "SELECT count(*) AS n FROM gz_pool_n WHERE jgt_n + gi_n = 0",
    )
    .await?;
    if empty > 0 {
        bail!("{empty} municipalities have no active JGT or GI worker to direct plans");
    }
    Ok(())
}

async fn create_synthetic_directors(
    conn: &mut AsyncPgConnection,
    municipality: &str,
) -> anyhow::Result<()> {
    let teams: Vec<TeamRow> = diesel::sql_query(
        "SELECT municipality_code, id FROM teams WHERE municipality_code = $1 ORDER BY name, id",
    )
    .bind::<Text, _>(municipality)
    .load(conn)
    .await?;
    if teams.is_empty() {
        bail!("municipality {municipality} has no team for its synthetic JGT workers");
    }
    let existing: Option<HashRow> =
        diesel::sql_query("SELECT password_hash FROM users ORDER BY created_at, id LIMIT 1")
            .get_result(conn)
            .await
            .map(Some)
            .or_else(|e| match e {
                diesel::result::Error::NotFound => Ok(None),
                e => Err(e),
            })?;
    let hash = match existing {
        Some(row) => row.password_hash,
        None => {
            tokio::task::spawn_blocking(|| crate::auth::password::hash(crate::demo::DEMO_PASSWORD))
                .await
                .context("hashing a password")??
        }
    };
    let mut created = 0;
    let mut i = 0;
    while created < SYNTHETIC_DIRECTORS && i < 100 {
        i += 1;
        let username = format!("gen.regisseur.{municipality}.{i}");
        let given = ADULT_NAMES[(i * 7) % ADULT_NAMES.len()];
        let surname = SURNAMES[(i * 11 + municipality.len()) % SURNAMES.len()];
        let team = &teams[created % teams.len()];
        let inserted = diesel::sql_query(
            "INSERT INTO users (id, username, display_name, role, municipality_code, team_id, password_hash)
             VALUES ($1, $2, $3, 'jgt_worker', $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<Text, _>(&username)
        .bind::<Text, _>(format!("{given} {surname}"))
        .bind::<Text, _>(municipality)
        .bind::<SqlUuid, _>(team.id)
        .bind::<Text, _>(&hash)
        .execute(conn)
        .await?;
        created += inserted;
    }
    Ok(())
}

/// Inserts the synthetic providers (once) and fills the provider pools:
/// GI providers for safety care, every other active provider for the rest.
async fn prepare_providers(conn: &mut AsyncPgConnection) -> anyhow::Result<(i32, i32)> {
    let mut ids = Vec::new();
    let mut names = Vec::new();
    let mut agbs = Vec::new();
    for i in 0..PROVIDERS {
        let name = if i < GI_PROVIDERS {
            GI_NAMES[i as usize % GI_NAMES.len()].to_owned()
        } else {
            let k = (i - GI_PROVIDERS) as usize;
            format!(
                "{} {}",
                PROVIDER_KINDS[k % PROVIDER_KINDS.len()],
                PROVIDER_PLACES[(k / PROVIDER_KINDS.len()) % PROVIDER_PLACES.len()]
            )
        };
        ids.push(Uuid::now_v7());
        names.push(name);
        agbs.push(format!("{:08}", AGB_PREFIX + i + 1));
    }
    diesel::sql_query(
        "INSERT INTO providers (id, name, agb_code)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
         ON CONFLICT (agb_code) DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(names)
    .bind::<Array<Text>, _>(agbs)
    .execute(conn)
    .await
    .context("inserting the synthetic providers")?;
    let gi_last = format!("{:08}", AGB_PREFIX + GI_PROVIDERS);
    let gi_first = format!("{:08}", AGB_PREFIX + 1);
    diesel::sql_query(
        "INSERT INTO gz_prov (pool, idx, id)
         SELECT CASE WHEN agb_code BETWEEN $1 AND $2 THEN 'gi' ELSE 'care' END,
                row_number() OVER (PARTITION BY agb_code BETWEEN $1 AND $2 ORDER BY agb_code) - 1, id
         FROM providers WHERE active",
    )
    .bind::<Text, _>(gi_first)
    .bind::<Text, _>(gi_last)
    .execute(conn)
    .await
    .context("collecting providers")?;
    let gen_n = count(
        conn,
        "SELECT count(*) AS n FROM gz_prov WHERE pool = 'care'",
    )
    .await?;
    let gi_n = count(conn, "SELECT count(*) AS n FROM gz_prov WHERE pool = 'gi'").await?;
    // Running care of one plan uses consecutive providers: five must differ.
    if gen_n < 5 {
        bail!("too few active providers ({gen_n}) to spread care over");
    }
    Ok((
        i32::try_from(gen_n).unwrap_or(i32::MAX),
        i32::try_from(gi_n).unwrap_or(i32::MAX),
    ))
}

/// Care forms of the catalogue in four pools of 100 weighted slots: all
/// care, light care, heavy care (yo-yo episodes) and safety.
async fn prepare_forms(
    conn: &mut AsyncPgConnection,
    catalogue_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let catalogue = Catalogue::load(catalogue_file)?;
    let forms = catalogue.all();
    let mut pools: Vec<String> = Vec::new();
    let mut slots: Vec<i32> = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    let mut segments: Vec<String> = Vec::new();
    let mut levels: Vec<Option<i16>> = Vec::new();
    let mut categories: Vec<String> = Vec::new();
    for (pool, weights) in [
        ("care", CARE_WEIGHTS),
        ("low", LOW_WEIGHTS),
        ("high", HIGH_WEIGHTS),
        ("safety", SAFETY_WEIGHTS),
    ] {
        let groups: Vec<(f64, Vec<&CareForm>)> = weights
            .iter()
            .map(|(segment, w)| {
                let in_segment = forms
                    .iter()
                    .copied()
                    .filter(|f| f.segment == *segment)
                    .collect();
                (*w, in_segment)
            })
            .collect();
        for (slot, form) in weighted_slots(&groups, 100).into_iter().enumerate() {
            pools.push(pool.to_owned());
            slots.push(slot as i32);
            codes.push(form.code.clone());
            segments.push(form.segment.as_str().to_owned());
            levels.push(form.level);
            categories.push(form.product_category.clone());
        }
    }
    diesel::sql_query(
        "INSERT INTO gz_form (pool, slot, code, segment, level, product_category)
         SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::smallint[], $6::text[])",
    )
    .bind::<Array<Text>, _>(pools)
    .bind::<Array<Integer>, _>(slots)
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<Text>, _>(segments)
    .bind::<Array<Nullable<SmallInt>>, _>(levels)
    .bind::<Array<Text>, _>(categories)
    .execute(conn)
    .await
    .context("loading care forms")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_slots_follow_the_weights_and_skip_empty_groups() {
        let groups = vec![
            (60.0, vec!["a1", "a2"]),
            (20.0, vec!["b"]),
            (20.0, vec![]),
            (20.0, vec!["c"]),
        ];
        let slots = weighted_slots(&groups, 100);
        assert_eq!(slots.len(), 100);
        let n = |x: &str| slots.iter().filter(|s| **s == x).count();
        assert_eq!(n("a1") + n("a2"), 60);
        assert_eq!(n("a1"), 30);
        assert_eq!(n("b"), 20);
        assert_eq!(n("c"), 20);
    }

    #[test]
    fn list_items_are_quoted_for_sql() {
        assert_eq!(sql_array(&["a", "b'c"]), "(ARRAY['a', 'b''c']::text[])");
    }
}
