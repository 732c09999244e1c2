//! What the team endpoints do, each in one transaction.

use super::model::{NewTeam, Team, TeamPage, TeamQuery};
use super::queries;
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::domain::{MunicipalityCode, Role, TeamId};
use crate::error::{checked, validate, ApiError, ApiResult, ErrorCode};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

/// Registers a team (admins).
#[tracing::instrument(skip_all)]
pub async fn create_team(app: &AppState, bearer: &Bearer, input: NewTeam) -> ApiResult<Team> {
    let id = TeamId::new();
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "create", "team", id);
        tx.enforce(policy::admin(&me), "team", event.clone())
            .await?;
        let spec = input.parse()?;
        let municipality = spec.municipality.as_str();
        if !queries::municipality_exists(tx.conn, municipality).await? {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMunicipality,
                "No municipality has this code.",
            ));
        }
        let team = queries::insert_team(tx.conn, id, municipality, &spec.name).await?;
        event.municipality(municipality).record(tx.conn).await?;
        Ok(team)
    })
    .await
}

/// A page of teams: all of them for admins, their own municipality's for
/// everyone else.
#[tracing::instrument(skip_all)]
pub async fn list_teams(app: &AppState, bearer: &Bearer, query: TeamQuery) -> ApiResult<TeamPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let page = PageRequest::<TeamId>::parse(query.limit, query.cursor.as_deref())?;
        validate(&query)?;
        let asked = query
            .municipality_code
            .as_deref()
            .map(MunicipalityCode::parse)
            .transpose();
        let asked = checked(asked)?;
        let rows = if me.role == Role::Admin {
            let code = asked.as_ref().map(MunicipalityCode::as_str);
            queries::list_teams(tx.conn, code, page.after, page.fetch()).await?
        } else {
            // Someone of one municipality asking for another's sees none.
            match (&me.municipality_code, &asked) {
                (Some(own), Some(asked)) if own != asked.as_str() => Vec::new(),
                (Some(own), _) => {
                    queries::list_teams(tx.conn, Some(own), page.after, page.fetch()).await?
                }
                (None, _) => Vec::new(),
            }
        };
        let (items, next_cursor) = finish(rows, page.limit, |t| t.id);
        Ok(TeamPage { items, next_cursor })
    })
    .await
}

/// 422 for a team that does not belong to the municipality.
pub fn unknown_team() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::UnknownTeam,
        "The team does not exist in this municipality.",
    )
}
