//! Request and response shapes of teams.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::db::schema::teams;
use crate::domain::{text, MunicipalityCode, TeamId};
use crate::error::{checked, validate, ApiResult};

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewTeam {
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: String,
    #[schema(example = "JGT Leiden Noord", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: String,
}

/// A team to register, checked.
pub struct TeamSpec {
    pub municipality: MunicipalityCode,
    pub name: String,
}

impl NewTeam {
    pub fn parse(self) -> ApiResult<TeamSpec> {
        validate(&self)?;
        Ok(TeamSpec {
            municipality: checked(MunicipalityCode::parse(&self.municipality_code))?,
            name: checked(text::required(&self.name, 200))?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = teams)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: TeamId,
    pub municipality_code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

crate::page_type!(TeamPage, Team, "A page of teams.");

#[derive(Debug, Deserialize, Serialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TeamQuery {
    /// Only teams of this municipality.
    #[param(pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}
