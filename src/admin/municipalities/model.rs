//! Request and response shapes of municipalities.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::db::schema::municipalities;
use crate::domain::{text, MunicipalityCode};
use crate::error::{checked, validate, ApiResult};

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMunicipality {
    /// 4-digit CBS code.
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub code: String,
    #[schema(example = "Leiden", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: String,
}

/// A municipality to register, checked.
pub struct MunicipalitySpec {
    pub code: MunicipalityCode,
    pub name: String,
}

impl NewMunicipality {
    pub fn parse(&self) -> ApiResult<MunicipalitySpec> {
        validate(self)?;
        Ok(MunicipalitySpec {
            code: checked(MunicipalityCode::parse(&self.code))?,
            name: checked(text::required(&self.name, 200))?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = municipalities)]
#[serde(rename_all = "camelCase")]
pub struct Municipality {
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

crate::page_type!(MunicipalityPage, Municipality, "A page of municipalities.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}
