//! Request and response shapes of user accounts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::auth::password;
use crate::db::schema::users;
use crate::domain::{text, DomainError, MunicipalityCode, ProviderId, Role, TeamId, UserId};
use crate::error::{checked, validate, ApiResult, ErrorCode, Invalid};

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewUser {
    #[schema(example = "anna.devries", pattern = "^[A-Za-z0-9._@-]{3,100}$")]
    #[validate(custom(function = "crate::admin::users::model::valid_username"))]
    pub username: String,
    #[schema(example = "Anna de Vries", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub display_name: String,
    pub role: Role,
    /// Required for every role except admin.
    #[schema(example = "0546")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: Option<String>,
    /// Required for jgt_worker; optional for team_lead.
    pub team_id: Option<Uuid>,
    /// Required for provider_user, refused for other roles.
    pub provider_id: Option<Uuid>,
    /// For gi_worker: further municipalities its GI serves.
    pub served_municipality_codes: Option<Vec<String>>,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// Validated input of a new account.
pub struct UserSpec {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality: Option<MunicipalityCode>,
    pub team_id: Option<Uuid>,
    pub served: Vec<MunicipalityCode>,
    /// Provider of a provider_user; none for other roles.
    pub provider_id: Option<Uuid>,
    pub password: String,
}

/// A username: trimmed and lowercased, 3 to 100 characters of letters,
/// digits and `._-@`.
fn username(input: &str) -> Result<String, DomainError> {
    let name = input.trim().to_lowercase();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !(3..=100).contains(&name.len()) || !ok_chars {
        return Err(DomainError::new(
            ErrorCode::InvalidUsername,
            "3 to 100 characters: letters, digits and . _ - @",
        ));
    }
    Ok(name)
}

/// [`username`] as a `validator` rule.
pub fn valid_username(value: &str) -> Result<(), ValidationError> {
    crate::admin::rule(username(value))
}

impl NewUser {
    /// Checks the input: the fields by themselves, then what the role asks
    /// for and refuses, the served municipalities and the password policy.
    pub fn parse(self) -> ApiResult<UserSpec> {
        let mut v = Invalid::validated(&self);
        self.check_role(&mut v);
        let served = self.served(&mut v);
        v.check("password", password::check_policy(&self.password));
        v.into_result()?;
        Ok(UserSpec {
            username: checked(username(&self.username))?,
            display_name: checked(text::required(&self.display_name, 200))?,
            role: self.role,
            municipality: checked(
                self.municipality_code
                    .as_deref()
                    .map(MunicipalityCode::parse)
                    .transpose(),
            )?,
            team_id: self.team_id,
            served,
            provider_id: self.provider_id,
            password: self.password,
        })
    }

    /// What the role needs and what it may not have.
    fn check_role(&self, v: &mut Invalid) {
        if self.municipality_code.is_none() && self.role.needs_municipality() {
            v.push(
                "municipalityCode",
                ErrorCode::Required,
                "Required for this role.",
            );
        }
        if self.role == Role::JgtWorker && self.team_id.is_none() {
            v.push(
                "teamId",
                ErrorCode::Required,
                "A JGT worker belongs to a team.",
            );
        }
        if self.role == Role::ProviderUser && self.provider_id.is_none() {
            v.push(
                "providerId",
                ErrorCode::Required,
                "A provider user belongs to a provider.",
            );
        }
        if self.role != Role::ProviderUser && self.provider_id.is_some() {
            v.push(
                "providerId",
                ErrorCode::NotAllowed,
                "Only provider users belong to a provider.",
            );
        }
    }

    /// The further municipalities of a GI worker, each named by its index
    /// when it is not a code.
    fn served(&self, v: &mut Invalid) -> Vec<MunicipalityCode> {
        let input = self
            .served_municipality_codes
            .as_deref()
            .unwrap_or_default();
        if self.role != Role::GiWorker && !input.is_empty() {
            v.push(
                "servedMunicipalityCodes",
                ErrorCode::NotAllowed,
                "Only GI workers serve further municipalities.",
            );
        }
        input
            .iter()
            .enumerate()
            .filter_map(|(i, code)| {
                v.check(
                    &format!("servedMunicipalityCodes[{i}]"),
                    MunicipalityCode::parse(code),
                )
            })
            .collect()
    }
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserUpdate {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub display_name: Option<String>,
    /// `false` disables the account and ends its sessions.
    pub active: Option<bool>,
    pub team_id: Option<TeamId>,
    /// Sets a new password (12 to 128 characters).
    #[schema(min_length = 12, max_length = 128)]
    pub password: Option<String>,
}

/// A change to an account, checked: `None` leaves a field as it is.
pub struct UserChange {
    pub display_name: Option<String>,
    pub active: Option<bool>,
    pub team_id: Option<TeamId>,
    pub password: Option<String>,
}

impl UserUpdate {
    pub fn parse(self) -> ApiResult<UserChange> {
        let mut v = Invalid::validated(&self);
        if let Some(new) = &self.password {
            v.check("password", password::check_policy(new));
        }
        v.into_result()?;
        Ok(UserChange {
            display_name: checked(text::replacement(self.display_name.as_deref(), 200))?,
            active: self.active,
            team_id: self.team_id,
            password: self.password,
        })
    }
}

impl UserChange {
    /// Whether the account's sessions end: it is disabled, or its password
    /// changed (whoever held the old one is logged out).
    pub fn ends_sessions(&self) -> bool {
        self.active == Some(false) || self.password.is_some()
    }

    /// The API names of the fields this change sets, for the audit trail.
    pub fn changed(&self) -> Vec<&'static str> {
        [
            self.display_name.as_ref().map(|_| "displayName"),
            self.active.map(|_| "active"),
            self.team_id.map(|_| "teamId"),
            self.password.as_ref().map(|_| "password"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A user account as stored (without its password hash).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<TeamId>,
    pub provider_id: Option<ProviderId>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user account (never with its password).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<TeamId>,
    pub served_municipality_codes: Vec<String>,
    /// Provider of a provider_user.
    pub provider_id: Option<ProviderId>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// The account of `row`, with the municipalities it serves besides its
    /// home one (`served`: pairs of user and code, of any users).
    pub fn of(row: UserRow, served: &[(UserId, String)]) -> Self {
        Self {
            served_municipality_codes: served
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, code)| code.clone())
                .collect(),
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            role: row.role,
            municipality_code: row.municipality_code,
            team_id: row.team_id,
            provider_id: row.provider_id,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

crate::page_type!(UserPage, User, "A page of users.");

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub role: Option<Role>,
    #[param(pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl UserQuery {
    /// The municipality asked for, if any.
    pub fn municipality(&self) -> ApiResult<Option<MunicipalityCode>> {
        validate(self)?;
        checked(
            self.municipality_code
                .as_deref()
                .map(MunicipalityCode::parse)
                .transpose(),
        )
    }
}
