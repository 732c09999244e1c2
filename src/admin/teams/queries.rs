//! Reads and writes of teams.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::Team;
use crate::db::schema::{municipalities, teams};
use crate::domain::TeamId;

/// Whether a municipality with this code is registered.
pub async fn municipality_exists(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(municipalities::table.find(code)))
        .get_result(conn)
        .await
}

pub async fn insert_team(
    conn: &mut AsyncPgConnection,
    id: TeamId,
    municipality: &str,
    name: &str,
) -> QueryResult<Team> {
    diesel::insert_into(teams::table)
        .values((
            teams::id.eq(id),
            teams::municipality_code.eq(municipality),
            teams::name.eq(name),
        ))
        .returning(Team::as_returning())
        .get_result(conn)
        .await
}

/// A page of teams after `after`, of `municipality` when given.
pub async fn list_teams(
    conn: &mut AsyncPgConnection,
    municipality: Option<&str>,
    after: Option<TeamId>,
    fetch: i64,
) -> QueryResult<Vec<Team>> {
    let mut q = teams::table
        .select(Team::as_select())
        .order(teams::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(teams::id.gt(after));
    }
    if let Some(code) = municipality {
        q = q.filter(teams::municipality_code.eq(code));
    }
    q.load(conn).await
}

/// Whether `team_id` is a team of `municipality` (so a record naming both
/// cannot name another municipality's team).
pub async fn team_in_municipality(
    conn: &mut AsyncPgConnection,
    team_id: TeamId,
    municipality: Option<&str>,
) -> QueryResult<bool> {
    let found: Option<String> = teams::table
        .find(team_id)
        .select(teams::municipality_code)
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some() && found.as_deref() == municipality)
}
