//! Request and response shapes of providers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::db::schema::providers;
use crate::domain::{text, AgbCode, ProviderId};
use crate::error::{checked, validate, ApiResult};

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewProvider {
    #[schema(example = "Cardea Jeugdzorg", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: String,
    /// 8-digit AGB code (Vektis).
    #[schema(example = "98123456", pattern = "^[0-9]{8}$")]
    #[validate(custom(function = "crate::http::validation::agb_code"))]
    pub agb_code: String,
}

/// A provider to register, checked.
pub struct ProviderSpec {
    pub name: String,
    pub agb_code: AgbCode,
}

impl NewProvider {
    pub fn parse(&self) -> ApiResult<ProviderSpec> {
        validate(self)?;
        Ok(ProviderSpec {
            name: checked(text::required(&self.name, 200))?,
            agb_code: checked(AgbCode::parse(&self.agb_code))?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderUpdate {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: Option<String>,
    #[schema(pattern = "^[0-9]{8}$")]
    #[validate(custom(function = "crate::http::validation::agb_code"))]
    pub agb_code: Option<String>,
    /// False: no new involvements with this provider.
    pub active: Option<bool>,
}

/// A change to a provider, checked: `None` leaves a field as it is.
pub struct ProviderChange {
    pub name: Option<String>,
    pub agb_code: Option<AgbCode>,
    pub active: Option<bool>,
}

impl ProviderUpdate {
    pub fn parse(&self) -> ApiResult<ProviderChange> {
        validate(self)?;
        Ok(ProviderChange {
            name: checked(text::replacement(self.name.as_deref(), 200))?,
            agb_code: checked(self.agb_code.as_deref().map(AgbCode::parse).transpose())?,
            active: self.active,
        })
    }
}

impl ProviderChange {
    /// The API names of the fields this change sets, for the audit trail.
    pub fn changed(&self) -> Vec<&'static str> {
        [
            self.name.as_ref().map(|_| "name"),
            self.agb_code.as_ref().map(|_| "agbCode"),
            self.active.map(|_| "active"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = providers)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: ProviderId,
    pub name: String,
    pub agb_code: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::page_type!(ProviderPage, Provider, "A page of providers.");

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProviderQuery {
    /// Only the provider with this AGB code.
    #[param(pattern = "^[0-9]{8}$")]
    #[validate(custom(function = "crate::http::validation::agb_code"))]
    pub agb_code: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl ProviderQuery {
    /// The AGB code asked for, if any.
    pub fn agb_code(&self) -> ApiResult<Option<AgbCode>> {
        validate(self)?;
        checked(self.agb_code.as_deref().map(AgbCode::parse).transpose())
    }
}
