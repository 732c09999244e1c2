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
const SETUP: &str = r#"
SET TIME ZONE 'UTC';
SET work_mem = '64MB';
DROP TABLE IF EXISTS gz_slot, gz_pool, gz_pool_n, gz_prov, gz_form, gz_fam, gz_plan, gz_inv, gz_scale;
-- hashint8extended folds its 64-bit input to 32 bits (lo ^ hi, so that int4
-- and int8 hash alike): a key mixed into the value would collide across rows.
-- The key goes into the 64-bit seed instead; rows up to 2^32 hash apart.
CREATE OR REPLACE FUNCTION pg_temp.gz_h(n bigint, k integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT hashint8extended(n, hashint8extended(k, :SEED::bigint))';
CREATE OR REPLACE FUNCTION pg_temp.gz_r(n bigint, k integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT (pg_temp.gz_h(n, k) & 2147483647)::double precision / 2147483648.0';
CREATE OR REPLACE FUNCTION pg_temp.gz_i(n bigint, k integer, m integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT floor(pg_temp.gz_r(n, k) * greatest(m, 1))::integer';
CREATE OR REPLACE FUNCTION pg_temp.gz_at(days integer, frac double precision) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$SELECT ((current_date - days) + time '08:00') AT TIME ZONE 'UTC' + frac * interval '9 hours'$$;
CREATE OR REPLACE FUNCTION pg_temp.gz_uuid(ts timestamptz, n bigint, k integer) RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
                 || lpad(to_hex(pg_temp.gz_h(n, k) & 4095), 3, '0')
                 || to_hex(8 + ((pg_temp.gz_h(n, k) >> 12) & 3))
                 || lpad(to_hex(pg_temp.gz_h(n, k + 4194304) & 1152921504606846975), 15, '0'))::uuid$$;
-- A UTC timestamp as chrono serialises it: no, 3 or 6 fraction digits, 'Z'.
CREATE OR REPLACE FUNCTION pg_temp.gz_rfc3339(ts timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                || CASE WHEN extract(microseconds FROM ts)::bigint % 1000000 = 0 THEN ''
                        WHEN extract(microseconds FROM ts)::bigint % 1000 = 0
                        THEN '.' || lpad((extract(microseconds FROM ts)::bigint % 1000000 / 1000)::text, 3, '0')
                        ELSE '.' || lpad((extract(microseconds FROM ts)::bigint % 1000000)::text, 6, '0') END
                || 'Z'$$;

CREATE TEMP TABLE gz_slot (slot integer PRIMARY KEY, municipality_code text NOT NULL, team_id uuid NOT NULL);
CREATE TEMP TABLE gz_pool (municipality_code text, kind text, idx integer, user_id uuid NOT NULL,
                           PRIMARY KEY (municipality_code, kind, idx));
CREATE TEMP TABLE gz_pool_n (municipality_code text PRIMARY KEY, jgt_n integer NOT NULL, gi_n integer NOT NULL);
CREATE TEMP TABLE gz_prov (pool text, idx integer, id uuid NOT NULL, PRIMARY KEY (pool, idx));
CREATE TEMP TABLE gz_form (pool text, slot integer, code text NOT NULL, segment text NOT NULL,
                           level smallint, product_category text NOT NULL, PRIMARY KEY (pool, slot));

CREATE TEMP TABLE gz_fam (
    n bigint PRIMARY KEY, id uuid NOT NULL, municipality_code text NOT NULL, team_id uuid NOT NULL,
    surname text NOT NULL, created_at timestamptz NOT NULL, created_days integer NOT NULL,
    n_children integer NOT NULL, n_parents integer NOT NULL, open_status text, open_days integer,
    yoyo boolean NOT NULL, safety boolean NOT NULL, n_closed integer NOT NULL,
    c1 integer, s1 integer, c2 integer, s2 integer
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE gz_plan (
    id uuid PRIMARY KEY, n bigint NOT NULL, ord integer NOT NULL, family_id uuid NOT NULL,
    municipality_code text NOT NULL, fam_created_at timestamptz NOT NULL, n_children integer NOT NULL,
    surname text NOT NULL, status text NOT NULL, s integer NOT NULL, a integer, c integer,
    created_at timestamptz NOT NULL, activated_at timestamptz, closed_at timestamptz,
    handover_at timestamptz, director1 uuid, director2 uuid,
    yoyo boolean NOT NULL, yoyo_base integer NOT NULL, safety boolean NOT NULL, history boolean NOT NULL,
    n_inv integer NOT NULL, prov_base integer NOT NULL, dropout boolean,
    level smallint NOT NULL DEFAULT 0, protection boolean NOT NULL DEFAULT false
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE gz_inv (
    id uuid, plan_id uuid NOT NULL, family_id uuid NOT NULL, n bigint NOT NULL, ord integer NOT NULL,
    slot integer NOT NULL, provider_id uuid NOT NULL, care_form_code text NOT NULL, segment text NOT NULL,
    level smallint, product_category text NOT NULL, member_id uuid, status text NOT NULL,
    requested_ago integer NOT NULL, started_ago integer, ended_ago integer, end_reason text,
    reason text, created_by uuid, created_at timestamptz, updated_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE INDEX gz_inv_plan ON gz_inv (plan_id);
CREATE TEMP TABLE gz_scale (
    id uuid NOT NULL, plan_id uuid NOT NULL, occurred_at timestamptz NOT NULL, from_level smallint NOT NULL,
    to_level smallint NOT NULL, direction text NOT NULL, reason text NOT NULL, decided_by uuid,
    involvement_ids uuid[] NOT NULL
) ON COMMIT DELETE ROWS;
"#;

/// The families of rows :LO..=:HI and their timelines (in days ago).
/// Keys 1-19 of `gz_r(n, key)` are the family's draws.
const FAMILIES: &str = r#"
INSERT INTO gz_fam (n, id, municipality_code, team_id, surname, created_at, created_days,
                    n_children, n_parents, open_status, open_days, yoyo, safety, n_closed, c1, s1, c2, s2)
SELECT g.n, pg_temp.gz_uuid(t.created_at, g.n, 50), s.municipality_code, s.team_id, @SURNAME,
       t.created_at, l.f,
       CASE WHEN pg_temp.gz_r(g.n, 3) < 0.40 THEN 1 WHEN pg_temp.gz_r(g.n, 3) < 0.78 THEN 2
            WHEN pg_temp.gz_r(g.n, 3) < 0.95 THEN 3 ELSE 4 END,
       CASE WHEN pg_temp.gz_r(g.n, 4) < 0.35 THEN 1 ELSE 2 END,
       c.open_status, e.o, d.yoyo, d.safety, b.n_closed, h.c1, i.s1, j.c2, k.s2
FROM generate_series(:LO::bigint, :HI::bigint) AS g(n)
CROSS JOIN LATERAL (SELECT pg_temp.gz_r(g.n, 5) < 0.08 AS no_plan) a
CROSS JOIN LATERAL (SELECT CASE WHEN a.no_plan THEN 0
                                WHEN pg_temp.gz_r(g.n, 6) < 0.2174
                                THEN CASE WHEN pg_temp.gz_r(g.n, 7) < 0.7 THEN 1 ELSE 2 END
                                ELSE 0 END AS n_closed) b
CROSS JOIN LATERAL (SELECT CASE WHEN a.no_plan OR (b.n_closed > 0 AND pg_temp.gz_r(g.n, 8) < 0.25) THEN NULL
                                WHEN pg_temp.gz_r(g.n, 9) < 0.10 THEN 'intake'
                                ELSE 'active' END AS open_status) c
CROSS JOIN LATERAL (SELECT coalesce(c.open_status = 'active' AND pg_temp.gz_r(g.n, 11) < 0.022, false) AS yoyo,
                           coalesce(c.open_status = 'active' AND pg_temp.gz_r(g.n, 12) < 0.04, false) AS safety) d
CROSS JOIN LATERAL (SELECT CASE c.open_status
                             WHEN 'intake' THEN floor(14 * pg_temp.gz_r(g.n, 10) ^ 2)::integer
                             WHEN 'active' THEN CASE WHEN d.yoyo THEN 210 + pg_temp.gz_i(g.n, 10, 690)
                                                     ELSE 7 + pg_temp.gz_i(g.n, 10, 893) END
                           END AS o) e
CROSS JOIN LATERAL (SELECT CASE WHEN b.n_closed >= 1 THEN
                             CASE WHEN c.open_status IS NULL THEN 5 + pg_temp.gz_i(g.n, 15, 600)
                                  ELSE e.o + 10 + pg_temp.gz_i(g.n, 15, 200) END
                           END AS c1) h
CROSS JOIN LATERAL (SELECT h.c1 + 60 + pg_temp.gz_i(g.n, 16, 600) AS s1) i
CROSS JOIN LATERAL (SELECT CASE WHEN b.n_closed = 2 THEN i.s1 + 30 + pg_temp.gz_i(g.n, 17, 300) END AS c2) j
CROSS JOIN LATERAL (SELECT j.c2 + 60 + pg_temp.gz_i(g.n, 18, 500) AS s2) k
CROSS JOIN LATERAL (SELECT CASE WHEN a.no_plan THEN 1 + pg_temp.gz_i(g.n, 14, 2000)
                                ELSE greatest(e.o, i.s1, k.s2) + 2 + pg_temp.gz_i(g.n, 13, 60) END AS f) l
CROSS JOIN LATERAL (SELECT pg_temp.gz_at(l.f, pg_temp.gz_r(g.n, 19)) AS created_at) t
JOIN gz_slot s ON s.slot = pg_temp.gz_i(g.n, 1, 100)
"#;

/// Plans: ord 0 is the open plan, 1 and 2 the closed ones (most recent
/// first). Keys 20-48 and 600-665 are the plans' draws.
const PLANS: &str = r#"
INSERT INTO gz_plan (id, n, ord, family_id, municipality_code, fam_created_at, n_children, surname,
                     status, s, a, c, created_at, activated_at, closed_at, handover_at, director1, director2,
                     yoyo, yoyo_base, safety, history, n_inv, prov_base, dropout)
SELECT pg_temp.gz_uuid(q.created_at, f.n, 60 + o.ord), f.n, o.ord, f.id, f.municipality_code, f.created_at,
       f.n_children, f.surname, p.status, p.s, q.a, p.c, q.created_at, r.activated_at, r.closed_at,
       CASE WHEN d.handover
            THEN r.activated_at + (now() - r.activated_at) * (0.2 + 0.6 * pg_temp.gz_r(f.n, 39)) END,
       d1.user_id, CASE WHEN d.handover THEN d2.user_id END,
       o.ord = 0 AND f.yoyo, 185 + pg_temp.gz_i(f.n, 45, 15), o.ord = 0 AND f.safety,
       o.ord = 0 AND p.status = 'active' AND NOT f.yoyo AND pg_temp.gz_r(f.n, 43) < 0.25,
       CASE WHEN p.status = 'closed' THEN 1 + pg_temp.gz_i(f.n, 300 + o.ord * 50, 3)
            WHEN p.status = 'intake' THEN 0
            ELSE greatest(CASE WHEN f.yoyo THEN 1 ELSE 0 END, CASE
                 WHEN pg_temp.gz_r(f.n, 42) < 0.25 THEN 0 WHEN pg_temp.gz_r(f.n, 42) < 0.60 THEN 1
                 WHEN pg_temp.gz_r(f.n, 42) < 0.93 THEN 2 WHEN pg_temp.gz_r(f.n, 42) < 0.97 THEN 3
                 WHEN pg_temp.gz_r(f.n, 42) < 0.99 THEN 4 ELSE 5 END)
       END,
       pg_temp.gz_i(f.n, 44, :GEN_N),
       CASE WHEN p.status = 'closed' THEN pg_temp.gz_r(f.n, 46 + o.ord) < 0.15 END
FROM gz_fam f
CROSS JOIN (VALUES (0), (1), (2)) AS o(ord)
CROSS JOIN LATERAL (SELECT CASE o.ord WHEN 0 THEN f.open_status ELSE 'closed' END AS status,
                           CASE o.ord WHEN 0 THEN f.open_days WHEN 1 THEN f.s1 ELSE f.s2 END AS s,
                           CASE o.ord WHEN 1 THEN f.c1 WHEN 2 THEN f.c2 END AS c,
                           pg_temp.gz_i(f.n, 21 + o.ord, 6) AS delay) p
CROSS JOIN LATERAL (SELECT CASE WHEN p.status = 'intake' THEN NULL ELSE p.s - p.delay END AS a,
                           CASE WHEN p.status = 'intake'
                                THEN now() - (p.s * 24 + 1 + 22 * pg_temp.gz_r(f.n, 24)) * interval '1 hour'
                                ELSE pg_temp.gz_at(p.s, pg_temp.gz_r(f.n, 25 + o.ord)) END AS created_at) q
CROSS JOIN LATERAL (SELECT CASE WHEN q.a IS NOT NULL
                                THEN greatest(q.created_at + interval '10 minutes',
                                              pg_temp.gz_at(q.a, pg_temp.gz_r(f.n, 28 + o.ord))) END AS activated_at,
                           CASE WHEN p.status = 'closed'
                                THEN ((current_date - p.c) + time '17:30') AT TIME ZONE 'UTC'
                                     + pg_temp.gz_r(f.n, 31 + o.ord) * interval '30 minutes' END AS closed_at) r
JOIN gz_pool_n pn ON pn.municipality_code = f.municipality_code
CROSS JOIN LATERAL (SELECT CASE WHEN o.ord = 0 AND f.safety AND pn.gi_n > 0 THEN 'gi'
                                WHEN pn.jgt_n > 0 THEN 'jgt' ELSE 'gi' END AS kind) k
CROSS JOIN LATERAL (SELECT CASE k.kind WHEN 'gi' THEN pn.gi_n ELSE pn.jgt_n END AS m) km
CROSS JOIN LATERAL (SELECT pg_temp.gz_i(f.n, 34 + o.ord, km.m) AS i1,
                           o.ord = 0 AND p.status = 'active' AND km.m > 1
                               AND pg_temp.gz_r(f.n, 37) < 0.2 AS handover) d
LEFT JOIN gz_pool d1 ON p.status <> 'intake' AND d1.municipality_code = f.municipality_code
                    AND d1.kind = k.kind AND d1.idx = d.i1
LEFT JOIN gz_pool d2 ON d.handover AND d2.municipality_code = f.municipality_code AND d2.kind = k.kind
                    AND d2.idx = (d.i1 + 1 + pg_temp.gz_i(f.n, 38, km.m - 1)) % km.m
WHERE (o.ord = 0 AND f.open_status IS NOT NULL) OR (o.ord = 1 AND f.n_closed >= 1) OR (o.ord = 2 AND f.n_closed = 2)
"#;

/// Involvements. Slots per family: 0-5 running care of the open plan,
/// 6 its safety involvement, 7 an ended one in its history, 8-9 the yo-yo
/// episodes, 10-12 and 13-15 the care of the closed plans. Keys
/// 1000 + slot * 20 + x are the involvement's draws.
const INVOLVEMENTS_RUNNING: &str = r#"
INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, j, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1002 + j * 20) < 0.6
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1003 + j * 20, p.n_children)) END,
       x.status,
       CASE x.status
            WHEN 'active' THEN least(x.started + pg_temp.gz_i(p.n, 1006 + j * 20, 57), p.s)
            ELSE least(CASE WHEN pg_temp.gz_r(p.n, 1007 + j * 20) < 0.25
                            THEN 43 + pg_temp.gz_i(p.n, 1008 + j * 20, 80)
                            ELSE 1 + pg_temp.gz_i(p.n, 1008 + j * 20, 40) END, p.s) END,
       CASE x.status WHEN 'active' THEN x.started END,
       @CARE_REASON_J, p.director1
FROM gz_plan p
CROSS JOIN LATERAL generate_series(0, p.n_inv - 1) AS j
CROSS JOIN LATERAL (SELECT CASE WHEN (p.yoyo AND j = 0) OR pg_temp.gz_r(p.n, 1004 + j * 20) >= 0.12
                                THEN 'active' ELSE 'requested' END AS status,
                           CASE WHEN p.yoyo THEN p.yoyo_base
                                ELSE 1 + pg_temp.gz_i(p.n, 1005 + j * 20, p.a) END AS started) x
JOIN gz_form fm ON fm.pool = CASE WHEN p.yoyo THEN 'low' ELSE 'care' END
               AND fm.slot = pg_temp.gz_i(p.n, 1000 + j * 20, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = (p.prov_base + j) % :GEN_N
WHERE p.ord = 0 AND p.status = 'active'
"#;

const INVOLVEMENTS_SAFETY: &str = r#"
INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, 6, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1123, p.n_children)),
       'active', least(x.started + pg_temp.gz_i(p.n, 1126, 15), p.s), x.started,
       'Uitspraak kinderrechter', p.director1
FROM gz_plan p
CROSS JOIN LATERAL (SELECT 1 + pg_temp.gz_i(p.n, 1125, p.a) AS started) x
JOIN gz_form fm ON fm.pool = 'safety' AND fm.slot = pg_temp.gz_i(p.n, 1120, 100)
JOIN gz_prov pr ON pr.pool = 'gi' AND pr.idx = pg_temp.gz_i(p.n, 1121, :GI_N)
WHERE p.ord = 0 AND p.status = 'active' AND p.safety
"#;

const INVOLVEMENTS_HISTORY: &str = r#"
INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, ended_ago, end_reason,
                    reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, 7, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1142) < 0.6
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1143, p.n_children)) END,
       'ended', least(x.started + pg_temp.gz_i(p.n, 1147, 30), p.s), x.started,
       1 + pg_temp.gz_i(p.n, 1146, x.started - 1),
       CASE WHEN pg_temp.gz_r(p.n, 1148) < 0.60 THEN 'completed'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.70 THEN 'stopped_by_agreement'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.80 THEN 'transferred'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.90 THEN 'stopped_by_client'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.95 THEN 'stopped_by_provider'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.98 THEN 'stopped_external'
            ELSE 'other_domain' END,
       @CARE_REASON_7, p.director1
FROM gz_plan p
CROSS JOIN LATERAL (SELECT 2 + pg_temp.gz_i(p.n, 1145, p.a - 1) AS started) x
JOIN gz_form fm ON fm.pool = 'care' AND fm.slot = pg_temp.gz_i(p.n, 1140, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = pg_temp.gz_i(p.n, 1141, :GEN_N)
WHERE p.ord = 0 AND p.status = 'active' AND p.history
"#;

/// Two episodes of heavier care within the last 180 days, on top of light
/// care that has run since before the window: up, down, up, down.
const INVOLVEMENTS_YOYO: &str = r#"
INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, ended_ago, end_reason,
                    reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, e.slot, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1002 + e.slot * 20) < 0.7
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1003 + e.slot * 20, p.n_children)) END,
       'ended', least(x.started + pg_temp.gz_i(p.n, 1007 + e.slot * 20, 10), p.s), x.started, x.ended,
       CASE WHEN pg_temp.gz_r(p.n, 1008 + e.slot * 20) < 0.70 THEN 'completed'
            WHEN pg_temp.gz_r(p.n, 1008 + e.slot * 20) < 0.85 THEN 'transferred'
            ELSE 'stopped_by_agreement' END,
       'Crisis thuis, tijdelijk zwaardere zorg', p.director1
FROM gz_plan p
CROSS JOIN (VALUES (8), (9)) AS e(slot)
CROSS JOIN LATERAL (SELECT CASE e.slot WHEN 8 THEN 150 ELSE 60 END + pg_temp.gz_i(p.n, 1005 + e.slot * 20, 20) AS started,
                           CASE e.slot WHEN 8 THEN 100 ELSE 20 END + pg_temp.gz_i(p.n, 1006 + e.slot * 20, 20) AS ended) x
JOIN gz_form fm ON fm.pool = 'high' AND fm.slot = pg_temp.gz_i(p.n, 1000 + e.slot * 20, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = pg_temp.gz_i(p.n, 1001 + e.slot * 20, :GEN_N)
WHERE p.ord = 0 AND p.status = 'active' AND p.yoyo
"#;

/// Care of closed plans: all ended, the first one on the closing day (with
/// a dropout reason when the plan ended in dropout); a few never started.
const INVOLVEMENTS_CLOSED: &str = r#"
INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, ended_ago, end_reason,
                    reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, x.slot, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1002 + x.slot * 20) < 0.6
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1003 + x.slot * 20, p.n_children)) END,
       'ended', y.requested, y.started,
       CASE WHEN y.started IS NULL THEN p.c + pg_temp.gz_i(p.n, 1006 + x.slot * 20, y.requested - p.c)
            WHEN x.j = 0 THEN p.c
            ELSE p.c + pg_temp.gz_i(p.n, 1006 + x.slot * 20, y.started - p.c) END,
       CASE WHEN x.j = 0 AND p.dropout THEN
                 CASE WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.50 THEN 'stopped_by_client'
                      WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.75 THEN 'stopped_by_provider'
                      ELSE 'stopped_external' END
            WHEN y.started IS NULL THEN 'stopped_by_agreement'
            ELSE CASE WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.75 THEN 'completed'
                      WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.85 THEN 'stopped_by_agreement'
                      WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.95 THEN 'transferred'
                      ELSE 'other_domain' END END,
       @CARE_REASON_X, p.director1
FROM gz_plan p
CROSS JOIN LATERAL generate_series(0, p.n_inv - 1) AS j
CROSS JOIN LATERAL (SELECT j, 10 + (p.ord - 1) * 3 + j AS slot,
                           j > 0 AND pg_temp.gz_r(p.n, 1004 + (10 + (p.ord - 1) * 3 + j) * 20) < 0.05 AS never) x
CROSS JOIN LATERAL (SELECT CASE WHEN NOT x.never THEN p.c + 2 + pg_temp.gz_i(p.n, 1005 + x.slot * 20, p.a - p.c - 1) END AS started) z
CROSS JOIN LATERAL (SELECT z.started,
                           CASE WHEN x.never THEN p.c + 1 + pg_temp.gz_i(p.n, 1007 + x.slot * 20, p.s - p.c - 1)
                                ELSE least(z.started + pg_temp.gz_i(p.n, 1007 + x.slot * 20, 40), p.s) END AS requested) y
JOIN gz_form fm ON fm.pool = 'care' AND fm.slot = pg_temp.gz_i(p.n, 1000 + x.slot * 20, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = pg_temp.gz_i(p.n, 1001 + x.slot * 20, :GEN_N)
WHERE p.status = 'closed'
"#;

/// Ids and timestamps of the involvements, then the plans' derived state.
const INVOLVEMENT_IDS: &str = r#"
UPDATE gz_inv SET created_at = pg_temp.gz_at(requested_ago, pg_temp.gz_r(n, 1015 + slot * 20));
UPDATE gz_inv SET id = pg_temp.gz_uuid(created_at, n, 2000 + slot),
                  updated_at = greatest(created_at,
                      pg_temp.gz_at(coalesce(ended_ago, started_ago, requested_ago), pg_temp.gz_r(n, 1016 + slot * 20)));
UPDATE gz_plan p SET level = x.level, protection = x.protection
FROM (SELECT plan_id, coalesce(max(level), 0) AS level, bool_or(segment = 'safety') AS protection
      FROM gz_inv WHERE status = 'active' GROUP BY plan_id) x
WHERE x.plan_id = p.id;
"#;

/// Scaling history derived from the involvements' dates: on every day a
/// leveled involvement starts or ends, the level is the highest among those
/// running that day; an event wherever it differs from the day before.
/// Keys 200000 + ord * 10000 + day: the event's id (+0), time (+3000), reason (+6000).
const SCALINGS: &str = r#"
INSERT INTO gz_scale (id, plan_id, occurred_at, from_level, to_level, direction, reason, decided_by, involvement_ids)
SELECT pg_temp.gz_uuid(t.occurred_at, ch.n, 200000 + ch.ord * 10000 + ch.day_ago), ch.plan_id, t.occurred_at,
       ch.prev, ch.level,
       CASE WHEN ch.level > ch.prev THEN 'up' ELSE 'down' END,
       CASE WHEN ch.level > ch.prev THEN @UP_REASON ELSE @DOWN_REASON END,
       CASE WHEN p.handover_at IS NOT NULL AND t.occurred_at >= p.handover_at THEN p.director2 ELSE p.director1 END,
       ch.ids
FROM (
    SELECT lv.*, lag(lv.level, 1, 0::smallint) OVER (PARTITION BY lv.plan_id ORDER BY lv.day_ago DESC) AS prev
    FROM (
        SELECT d.plan_id, d.n, d.ord, d.day_ago,
               coalesce(max(i.level) FILTER (WHERE i.started_ago >= d.day_ago
                                              AND (i.ended_ago IS NULL OR i.ended_ago < d.day_ago)), 0)::smallint AS level,
               array_agg(i.id ORDER BY i.id) FILTER (WHERE i.started_ago = d.day_ago OR i.ended_ago = d.day_ago) AS ids
        FROM (SELECT plan_id, n, ord, started_ago AS day_ago FROM gz_inv
              WHERE level IS NOT NULL AND started_ago IS NOT NULL
              UNION
              SELECT plan_id, n, ord, ended_ago FROM gz_inv
              WHERE level IS NOT NULL AND started_ago IS NOT NULL AND ended_ago IS NOT NULL) d
        JOIN gz_inv i ON i.plan_id = d.plan_id AND i.level IS NOT NULL AND i.started_ago IS NOT NULL
        GROUP BY d.plan_id, d.n, d.ord, d.day_ago
    ) lv
) ch
JOIN gz_plan p ON p.id = ch.plan_id
CROSS JOIN LATERAL (SELECT pg_temp.gz_at(ch.day_ago, pg_temp.gz_r(ch.n, 203000 + ch.ord * 10000 + ch.day_ago)) AS occurred_at) t
WHERE ch.level <> ch.prev
"#;

/// The real rows, from the scratch tables.
const WRITE_FAMILIES: &str = r#"
INSERT INTO families (id, municipality_code, team_id, name, created_at, updated_at)
SELECT id, municipality_code, team_id, 'Familie ' || surname, created_at, created_at FROM gz_fam;

INSERT INTO family_members (id, family_id, role, given_name, family_name, birth_date, started_on,
                            created_at, updated_at)
SELECT pg_temp.gz_uuid(f.created_at, f.n, 500 + m), f.id,
       CASE WHEN m < f.n_children THEN 'child'
            WHEN pg_temp.gz_r(f.n, 100 + m * 10) < 0.06 THEN 'caregiver' ELSE 'parent' END,
       CASE WHEN m < f.n_children THEN @CHILD_NAME ELSE @ADULT_NAME END,
       CASE WHEN m > f.n_children AND pg_temp.gz_r(f.n, 102 + m * 10) < 0.5 THEN @OTHER_SURNAME
            ELSE f.surname END,
       CASE WHEN m < f.n_children THEN current_date - (f.created_days + 30 + pg_temp.gz_i(f.n, 103 + m * 10, 3300))
            ELSE current_date - (f.created_days + 7300 + pg_temp.gz_i(f.n, 103 + m * 10, 7300)) END,
       current_date - f.created_days, f.created_at, f.created_at
FROM gz_fam f
CROSS JOIN LATERAL generate_series(0, f.n_children + f.n_parents - 1) AS m;
"#;

const WRITE_PLANS: &str = r#"
INSERT INTO plans (id, family_id, municipality_code, status, title, goals, version, created_by, created_at,
                   updated_at, activated_at, closed_at, close_reason, goal_realisation, satisfaction_score,
                   dropout, dropout_reason, level, protection_measure)
SELECT p.id, p.family_id, p.municipality_code, p.status,
       CASE WHEN p.status = 'intake' THEN 'Aanmelding via ' || @REFERRER ELSE 'Gezinsplan ' || p.surname END,
       (SELECT jsonb_agg(jsonb_build_object('id', pg_temp.gz_uuid(p.created_at, p.n, 600 + p.ord * 10 + g),
                                            'description', (@GOALS)[1 + (pg_temp.gz_i(p.n, 625 + p.ord, :GOALS_N) + g) % :GOALS_N])
                         ORDER BY g)
        FROM generate_series(0, pg_temp.gz_i(p.n, 630 + p.ord, 3)) AS g),
       1 + (p.director1 IS NOT NULL)::integer + (p.handover_at IS NOT NULL)::integer + (p.status = 'closed')::integer,
       p.director1, p.created_at,
       greatest(p.created_at, p.activated_at, p.handover_at, p.closed_at),
       p.activated_at, p.closed_at,
       CASE WHEN p.status = 'closed' THEN CASE WHEN p.dropout THEN 'Hulp voortijdig beëindigd' ELSE @CLOSE_REASON END END,
       CASE WHEN p.status = 'closed' THEN
            CASE WHEN p.dropout THEN CASE WHEN pg_temp.gz_r(p.n, 650 + p.ord) < 0.6 THEN 'not_achieved' ELSE 'partially_achieved' END
                 WHEN pg_temp.gz_r(p.n, 650 + p.ord) < 0.50 THEN 'achieved'
                 WHEN pg_temp.gz_r(p.n, 650 + p.ord) < 0.85 THEN 'partially_achieved'
                 ELSE 'not_achieved' END END,
       CASE WHEN p.status = 'closed' AND pg_temp.gz_r(p.n, 653 + p.ord) < 0.75 THEN
            (CASE WHEN p.dropout THEN 3 + pg_temp.gz_i(p.n, 656 + p.ord, 5) ELSE 6 + pg_temp.gz_i(p.n, 656 + p.ord, 4) END)::smallint END,
       p.dropout,
       CASE WHEN p.dropout THEN @DROPOUT_REASON END,
       p.level, p.protection
FROM gz_plan p;

INSERT INTO director_assignments (id, plan_id, user_id, started_at, ended_at, assigned_by, reason)
SELECT pg_temp.gz_uuid(activated_at, n, 70 + ord * 2), id, director1, activated_at,
       coalesce(handover_at, closed_at), NULL,
       CASE WHEN safety THEN 'Regie bij de GI vanwege de beschermingsmaatregel' ELSE 'Toegewezen bij intake' END
FROM gz_plan WHERE status <> 'intake'
UNION ALL
SELECT pg_temp.gz_uuid(handover_at, n, 71), id, director2, handover_at, NULL, director1,
       'Regieoverdracht: wisseling van caseload'
FROM gz_plan WHERE handover_at IS NOT NULL;
"#;

const WRITE_CARE: &str = r#"
INSERT INTO involvements (id, plan_id, family_id, provider_id, care_form_code, segment, level, product_category,
                          member_id, status, requested_on, started_on, ended_on, end_reason, reason, created_by,
                          created_at, updated_at)
SELECT id, plan_id, family_id, provider_id, care_form_code, segment, level, product_category, member_id, status,
       current_date - requested_ago, current_date - started_ago, current_date - ended_ago, end_reason, reason,
       created_by, created_at, updated_at
FROM gz_inv;

INSERT INTO scaling_events (id, plan_id, occurred_at, from_level, to_level, direction, reason, decided_by, involvement_ids)
SELECT id, plan_id, occurred_at, from_level, to_level, direction, reason, decided_by, involvement_ids FROM gz_scale;
"#;

/// Signals of the batch's open plans, by the rules of DESIGN "Signals" with
/// the application's fingerprints. Uuids sort as bytes, which is also the
/// order of their lower-case text; strings compare in "C" order, as Rust
/// compares them.
const SIGNALS: &str = r#"
INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'many_providers', p.family_id, p.municipality_code, 'open',
       string_agg(x.provider_id::text, ',' ORDER BY x.provider_id),
       jsonb_build_object('providerIds', jsonb_agg(x.provider_id ORDER BY x.provider_id),
                          'count', count(*), 'threshold', :MANY_PROVIDERS)
FROM gz_plan p
JOIN (SELECT DISTINCT plan_id, provider_id FROM gz_inv WHERE status = 'active') x ON x.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code
HAVING count(*) >= :MANY_PROVIDERS;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'parallel_same_segment', p.family_id, p.municipality_code, 'open',
       string_agg(e.key, ';' ORDER BY e.key COLLATE "C"),
       jsonb_build_object('entries', jsonb_agg(jsonb_build_object('memberId', e.member_id, 'segment', e.segment,
                                                                  'providerIds', to_jsonb(e.providers))
                                               ORDER BY e.member_id, e.segment COLLATE "C"))
FROM gz_plan p
JOIN (SELECT plan_id, member_id, segment, providers,
             member_id::text || ':' || segment || ':' || array_to_string(providers, '+') AS key
      FROM (SELECT plan_id, member_id, segment, array_agg(DISTINCT provider_id ORDER BY provider_id) AS providers
            FROM gz_inv
            WHERE status = 'active' AND member_id IS NOT NULL AND segment <> 'safety'
            GROUP BY plan_id, member_id, segment) s
      WHERE cardinality(providers) >= 2) e ON e.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'multiple_segments', p.family_id, p.municipality_code, 'open',
       string_agg(e.key, ';' ORDER BY e.key COLLATE "C"),
       jsonb_build_object('entries', jsonb_agg(jsonb_build_object('memberId', e.member_id,
                                                                  'segments', to_jsonb(e.segments))
                                               ORDER BY e.member_id))
FROM gz_plan p
JOIN (SELECT plan_id, member_id, segments,
             member_id::text || ':' || array_to_string(segments, '+') AS key
      FROM (SELECT plan_id, member_id,
                   array_agg(DISTINCT segment COLLATE "C" ORDER BY segment COLLATE "C") AS segments
            FROM gz_inv
            WHERE status = 'active' AND member_id IS NOT NULL AND segment <> 'safety'
            GROUP BY plan_id, member_id) s
      WHERE cardinality(segments) >= 2) e ON e.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'yo_yo', p.family_id, p.municipality_code, 'open',
       (array_agg(e.id ORDER BY e.occurred_at DESC, e.id DESC))[1]::text,
       jsonb_build_object('changes', count(*) FILTER (WHERE e.prev <> e.direction),
                          'windowDays', :YOYO_DAYS,
                          'oldestCountedAt', pg_temp.gz_rfc3339(min(e.occurred_at)))
FROM gz_plan p
JOIN (SELECT plan_id, id, occurred_at, direction,
             lag(direction) OVER (PARTITION BY plan_id ORDER BY occurred_at, id) AS prev
      FROM gz_scale
      WHERE occurred_at >= now() - :YOYO_DAYS * interval '24 hours') e ON e.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code
HAVING count(*) FILTER (WHERE e.prev <> e.direction) >= :YOYO_CHANGES;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'long_wait', p.family_id, p.municipality_code, 'open',
       string_agg(i.id::text, ',' ORDER BY i.id),
       jsonb_build_object('involvementIds', jsonb_agg(i.id ORDER BY i.id),
                          'longestWaitDays', max(i.requested_ago), 'thresholdDays', :LONG_WAIT_DAYS)
FROM gz_plan p
JOIN gz_inv i ON i.plan_id = p.id AND i.status = 'requested' AND i.requested_ago > :LONG_WAIT_DAYS
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT id, 'intake_without_director', family_id, municipality_code, 'open', 'intake',
       jsonb_build_object('thresholdDays', :INTAKE_DAYS)
FROM gz_plan
WHERE status = 'intake' AND now() - created_at > :INTAKE_DAYS * interval '24 hours';
"#;

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
