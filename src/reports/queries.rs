//! The raw figures of a summary report, as a handful of set-based aggregate
//! queries over the municipality's plans (never a loop per family). The
//! definitions they implement are in the module comment of `reports`.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{Date, Double, Int8, Nullable, Text, Timestamptz};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Figures, Period};

#[derive(QueryableByName)]
struct PlanFigures {
    #[diesel(sql_type = Int8)]
    families: i64,
    #[diesel(sql_type = Int8)]
    open_plans: i64,
    #[diesel(sql_type = Int8)]
    plans_in_intake: i64,
    #[diesel(sql_type = Int8)]
    directed_plans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    median_days_to_director: Option<f64>,
    #[diesel(sql_type = Int8)]
    active_plans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean_providers: Option<f64>,
    #[diesel(sql_type = Int8)]
    closed_plans: i64,
    #[diesel(sql_type = Int8)]
    achieved: i64,
    #[diesel(sql_type = Int8)]
    partially_achieved: i64,
    #[diesel(sql_type = Int8)]
    not_achieved: i64,
    #[diesel(sql_type = Int8)]
    dropouts: i64,
    #[diesel(sql_type = Int8)]
    satisfaction_responses: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean_satisfaction: Option<f64>,
}

/// Every figure about plans in one pass over the municipality's plans:
/// `$1` municipality, `$2` start, `$3` exclusive end of the period, `$4`
/// its last day. "At the end" means the last instant before `$3`: a plan
/// is open then when opened before `$3` and not closed before it, and has
/// a director when an assignment covers it (`[started_at, ended_at)`).
const PLAN_FIGURES: &str = "
WITH p AS (
    SELECT pl.id, pl.family_id, pl.created_at, pl.closed_at,
           pl.goal_realisation, pl.satisfaction_score, pl.dropout,
           (pl.closed_at IS NULL OR pl.closed_at >= $3) AS open_at_end,
           (pl.closed_at IS NULL OR pl.closed_at >= $2) AS open_in_period,
           coalesce(pl.closed_at >= $2 AND pl.closed_at < $3, false) AS closed_in_period,
           EXISTS (SELECT 1 FROM director_assignments d
                   WHERE d.plan_id = pl.id AND d.started_at < $3
                     AND (d.ended_at IS NULL OR d.ended_at >= $3)) AS directed_at_end,
           (SELECT min(d.started_at) FROM director_assignments d WHERE d.plan_id = pl.id)
               AS first_director_at
    FROM plans pl
    WHERE pl.municipality_code = $1 AND pl.created_at < $3
), a AS (
    SELECT p.*,
           coalesce(first_director_at >= $2 AND first_director_at < $3, false) AS first_director_in_period,
           (first_director_at AT TIME ZONE 'UTC')::date - (created_at AT TIME ZONE 'UTC')::date
               AS days_to_director,
           CASE WHEN open_at_end AND directed_at_end THEN
               (SELECT count(DISTINCT i.provider_id) FROM involvements i
                WHERE i.plan_id = p.id AND i.started_on <= $4
                  AND (i.ended_on IS NULL OR i.ended_on > $4))
           END AS providers_at_end
    FROM p
)
SELECT
    count(DISTINCT family_id) FILTER (WHERE open_in_period) AS families,
    count(*) FILTER (WHERE open_at_end) AS open_plans,
    count(*) FILTER (WHERE open_at_end AND NOT directed_at_end) AS plans_in_intake,
    count(*) FILTER (WHERE first_director_in_period) AS directed_plans,
    (percentile_cont(0.5) WITHIN GROUP (ORDER BY days_to_director)
        FILTER (WHERE first_director_in_period))::float8 AS median_days_to_director,
    count(providers_at_end) AS active_plans,
    avg(providers_at_end)::float8 AS mean_providers,
    count(*) FILTER (WHERE closed_in_period) AS closed_plans,
    count(*) FILTER (WHERE closed_in_period AND goal_realisation = 'achieved') AS achieved,
    count(*) FILTER (WHERE closed_in_period AND goal_realisation = 'partially_achieved')
        AS partially_achieved,
    count(*) FILTER (WHERE closed_in_period AND goal_realisation = 'not_achieved') AS not_achieved,
    count(*) FILTER (WHERE closed_in_period AND dropout) AS dropouts,
    count(satisfaction_score) FILTER (WHERE closed_in_period) AS satisfaction_responses,
    (avg(satisfaction_score) FILTER (WHERE closed_in_period))::float8 AS mean_satisfaction
FROM a";

#[derive(QueryableByName)]
struct CodeCount {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Int8)]
    n: i64,
}

/// Open plans per signal code (today's state; signals exist only for open
/// plans, the join makes sure).
const SIGNAL_FIGURES: &str = "
SELECT s.code, count(*) AS n
FROM plan_signals s JOIN plans p ON p.id = s.plan_id
WHERE s.municipality_code = $1 AND p.status <> 'closed'
GROUP BY s.code";

#[derive(QueryableByName)]
struct ScalingFigures {
    #[diesel(sql_type = Int8)]
    up: i64,
    #[diesel(sql_type = Int8)]
    down: i64,
}

const SCALING_FIGURES: &str = "
SELECT count(*) FILTER (WHERE s.direction = 'up') AS up,
       count(*) FILTER (WHERE s.direction = 'down') AS down
FROM scaling_events s JOIN plans p ON p.id = s.plan_id
WHERE p.municipality_code = $1 AND s.occurred_at >= $2 AND s.occurred_at < $3";

#[derive(QueryableByName)]
struct SegmentFigures {
    #[diesel(sql_type = Text)]
    segment: String,
    #[diesel(sql_type = Int8)]
    n: i64,
    #[diesel(sql_type = Nullable<Double>)]
    median: Option<f64>,
}

/// Involvements started in the period (`$2`..`$3` are its first and last
/// day here), per segment, with the median wait in days.
const WAITING_FIGURES: &str = "
SELECT i.segment, count(*) AS n,
       (percentile_cont(0.5) WITHIN GROUP (ORDER BY i.started_on - i.requested_on))::float8 AS median
FROM involvements i JOIN plans p ON p.id = i.plan_id
WHERE p.municipality_code = $1 AND i.started_on BETWEEN $2 AND $3
GROUP BY i.segment";

/// Makes the current transaction repeatable read, so every figure of a
/// report describes the same snapshot. PostgreSQL takes this only before
/// the transaction's first query.
pub async fn repeatable_read(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(conn)
        .await
        .map(drop)
}

/// The raw figures of `municipality` over `period`. Run it in a
/// repeatable-read transaction ([`repeatable_read`]) so every figure
/// describes the same moment.
pub async fn figures(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    period: Period,
) -> QueryResult<Figures> {
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = (period.start(), period.end());
    let plans: PlanFigures = diesel::sql_query(PLAN_FIGURES)
        .bind::<Text, _>(municipality)
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(end)
        .bind::<Date, _>(period.to)
        .get_result(conn)
        .await?;
    let signals: Vec<CodeCount> = diesel::sql_query(SIGNAL_FIGURES)
        .bind::<Text, _>(municipality)
        .load(conn)
        .await?;
    let scalings: ScalingFigures = diesel::sql_query(SCALING_FIGURES)
        .bind::<Text, _>(municipality)
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(end)
        .get_result(conn)
        .await?;
    let waiting: Vec<SegmentFigures> = diesel::sql_query(WAITING_FIGURES)
        .bind::<Text, _>(municipality)
        .bind::<Date, NaiveDate>(period.from)
        .bind::<Date, NaiveDate>(period.to)
        .load(conn)
        .await?;
    Ok(Figures {
        families: plans.families,
        open_plans: plans.open_plans,
        plans_in_intake: plans.plans_in_intake,
        directed_plans: plans.directed_plans,
        median_days_to_director: plans.median_days_to_director,
        active_plans: plans.active_plans,
        mean_providers: plans.mean_providers,
        signals: signals.into_iter().map(|s| (s.code, s.n)).collect(),
        scalings_up: scalings.up,
        scalings_down: scalings.down,
        waiting: waiting
            .into_iter()
            .map(|w| (w.segment, w.n, w.median))
            .collect(),
        closed_plans: plans.closed_plans,
        achieved: plans.achieved,
        partially_achieved: plans.partially_achieved,
        not_achieved: plans.not_achieved,
        dropouts: plans.dropouts,
        satisfaction_responses: plans.satisfaction_responses,
        mean_satisfaction: plans.mean_satisfaction,
    })
}
