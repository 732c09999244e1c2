//! Request and response shapes of municipalities, teams, providers, users
//! and machine clients, with the rules of their fields.

use crate::auth::client::SCOPES;
use crate::auth::password_policy;
use crate::db::schema::{
    clients, municipalities, notification_attempts, notifications, providers, teams, users,
};
use crate::domain::referrals::ReferrerType;
use crate::domain::roles::{ApprovalReason, ApprovalStatus};
use crate::domain::{
    text, AccountApprovalId, AgbCode, ClientId, DomainError, MunicipalityCode, NotificationId,
    ProviderId, ReferralId, Role, TeamId, UserId,
};
use crate::error::{checked, validate, ApiResult, ErrorCode, Invalid};
use crate::notifications::DeliveryStatus;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

// ---------------------------------------------------------------- Municipalities

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

pub use crate::http::pagination::PageParams;

// ---------------------------------------------------------------- Teams

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

// ---------------------------------------------------------------- Providers

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

// ---------------------------------------------------------------- Users

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewUser {
    #[schema(example = "anna.devries", pattern = "^[A-Za-z0-9._@-]{3,100}$")]
    #[validate(custom(function = "crate::admin::model::valid_username"))]
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
    /// 12 to 128 characters, at least 12 of them not whitespace; not
    /// containing the username, not a common password (else 422
    /// `weak_password`).
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
    crate::http::validation::rule(username(value))
}

impl NewUser {
    /// Checks the input: the fields by themselves, then what the role asks
    /// for and refuses, the served municipalities and the password policy.
    pub fn parse(self) -> ApiResult<UserSpec> {
        let mut v = Invalid::validated(&self);
        self.check_role(&mut v);
        let served = self.served(&mut v);
        v.into_result()?;
        password_policy::enforce("password", &self.password, &self.username)?;
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
    /// Sets a new password (the policy of `NewUser.password`). The account
    /// then waits for a team lead's approval, unless it is an admin.
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
        // The password policy needs the account's username: the service
        // checks it (`password_policy::enforce`).
        validate(&self)?;
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
    pub approved: bool,
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
    /// False while credentials an admin set wait for a team lead's
    /// approval (`GET /v1/account-approvals`); the account cannot log in
    /// until then.
    pub approved: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The municipality codes of `id` among `(owner, code)` pairs (a user's
/// served municipalities, a client's), in their order.
fn codes_of<I: PartialEq>(id: I, pairs: &[(I, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(owner, _)| *owner == id)
        .map(|(_, code)| code.clone())
        .collect()
}

impl User {
    /// The account of `row`, with the municipalities it serves besides its
    /// home one (`served`: pairs of user and code, of any users).
    pub fn of(row: UserRow, served: &[(UserId, String)]) -> Self {
        Self {
            served_municipality_codes: codes_of(row.id, served),
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            role: row.role,
            municipality_code: row.municipality_code,
            team_id: row.team_id,
            provider_id: row.provider_id,
            active: row.active,
            approved: row.approved,
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

// ---------------------------------------------------------------- Account approvals

/// A request to approve an account whose credentials an admin set (issue
/// 15 item 8), with the account it is about.
#[derive(Debug, Serialize, ToSchema, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct AccountApproval {
    pub id: AccountApprovalId,
    /// The account waiting for approval.
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: String,
    pub reason: ApprovalReason,
    pub status: ApprovalStatus,
    /// The admin who set the credential.
    pub requested_by: Option<UserId>,
    pub requested_at: DateTime<Utc>,
    /// The team lead who approved it.
    pub decided_by: Option<UserId>,
    /// When it was approved or superseded.
    pub decided_at: Option<DateTime<Utc>>,
}

crate::page_type!(
    AccountApprovalPage,
    AccountApproval,
    "A page of account-approval requests."
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AccountApprovalQuery {
    /// Only requests in this state (e.g. `pending`, the ones to decide).
    pub status: Option<ApprovalStatus>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

// ---------------------------------------------------------------- Machine clients

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewClient {
    #[schema(
        example = "Huisartsenpraktijk De Vliet HIS",
        min_length = 1,
        max_length = 200
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: String,
    /// iJw referrer type (COD327) the client refers as: 01, 02, 03, 04, 05, 06 or 08.
    #[schema(example = "02")]
    pub referrer_type: String,
    /// AGB code the client refers as; only for referrer types 02 to 05.
    #[schema(example = "01234567", pattern = "^[0-9]{8}$")]
    #[validate(custom(function = "crate::http::validation::agb_code"))]
    pub agb_code: Option<String>,
    #[schema(
        example = "Huisartsenpraktijk De Vliet",
        min_length = 1,
        max_length = 200
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub organisation_name: String,
    /// Municipalities the client may refer families to.
    #[schema(min_items = 1, example = json!(["0546"]))]
    #[validate(custom(function = "crate::admin::model::valid_municipality_codes"))]
    pub municipality_codes: Vec<String>,
    /// `referrals:write` (submit) and/or `referrals:read` (read status).
    #[schema(min_items = 1, example = json!(["referrals:write", "referrals:read"]))]
    #[validate(custom(function = "crate::admin::model::valid_scopes"))]
    pub scopes: Vec<String>,
    /// HTTPS URL that receives signed status notifications (plain HTTP only on loopback).
    #[schema(
        example = "https://his.example.nl/gezinsregie/notifications",
        max_length = 2000
    )]
    #[validate(custom(function = "crate::admin::model::valid_callback_url"))]
    pub callback_url: Option<String>,
}

/// A validated new client.
pub struct ClientSpec {
    pub name: String,
    pub referrer_type: ReferrerType,
    pub agb_code: Option<AgbCode>,
    pub organisation_name: String,
    pub municipality_codes: Vec<String>,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
}

impl NewClient {
    /// Checks the input: the fields by themselves, then the referrer type
    /// and whether it may carry an AGB code.
    pub fn parse(&self) -> ApiResult<ClientSpec> {
        let mut v = Invalid::validated(self);
        let kind = v.check("referrerType", ReferrerType::parse(&self.referrer_type));
        let agb_given = self
            .agb_code
            .as_deref()
            .is_some_and(|a| AgbCode::parse(a).is_ok());
        if kind.is_some_and(|k| agb_given && !k.is_care_professional()) {
            v.push(
                "agbCode",
                ErrorCode::NotAllowed,
                "Only referrer types 02 to 05 carry an AGB code (iJw CD067).",
            );
        }
        let (referrer_type,) = v.finish((kind,))?;
        Ok(ClientSpec {
            name: checked(text::required(&self.name, 200))?,
            referrer_type,
            agb_code: checked(self.agb_code.as_deref().map(AgbCode::parse).transpose())?,
            organisation_name: checked(text::required(&self.organisation_name, 200))?,
            municipality_codes: checked(municipality_codes(&self.municipality_codes))?,
            scopes: checked(scopes(&self.scopes))?,
            callback_url: checked(self.callback_url.as_deref().map(callback_url).transpose())?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientUpdate {
    /// False refuses new tokens and ends the use of issued ones at once.
    pub active: Option<bool>,
    #[schema(max_length = 2000)]
    #[validate(custom(function = "crate::admin::model::valid_callback_url"))]
    pub callback_url: Option<String>,
    #[schema(min_items = 1)]
    #[validate(custom(function = "crate::admin::model::valid_municipality_codes"))]
    pub municipality_codes: Option<Vec<String>>,
    #[schema(min_items = 1)]
    #[validate(custom(function = "crate::admin::model::valid_scopes"))]
    pub scopes: Option<Vec<String>>,
}

/// A change to a client, checked: `None` leaves a field as it is.
pub struct ClientChange {
    pub active: Option<bool>,
    pub callback_url: Option<String>,
    pub municipality_codes: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
}

impl ClientUpdate {
    pub fn parse(&self) -> ApiResult<ClientChange> {
        validate(self)?;
        Ok(ClientChange {
            active: self.active,
            callback_url: checked(self.callback_url.as_deref().map(callback_url).transpose())?,
            municipality_codes: checked(
                self.municipality_codes
                    .as_deref()
                    .map(municipality_codes)
                    .transpose(),
            )?,
            scopes: checked(self.scopes.as_deref().map(scopes).transpose())?,
        })
    }
}

impl ClientChange {
    /// The API names of the fields this change sets, for the audit trail.
    pub fn changed(&self) -> Vec<&'static str> {
        [
            self.active.map(|_| "active"),
            self.callback_url.as_ref().map(|_| "callbackUrl"),
            self.municipality_codes
                .as_ref()
                .map(|_| "municipalityCodes"),
            self.scopes.as_ref().map(|_| "scopes"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A client as stored, without its secrets and municipalities.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: ClientId,
    pub name: String,
    pub referrer_type: ReferrerType,
    pub agb_code: Option<String>,
    pub organisation_name: String,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A registered client (never its secrets).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub referrer_type: String,
    pub agb_code: Option<String>,
    pub organisation_name: String,
    pub municipality_codes: Vec<String>,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Client {
    /// The client of `row`, with its municipalities (`served`: pairs of
    /// client and code, of any clients).
    pub fn of(row: ClientRow, served: &[(ClientId, String)]) -> Self {
        Self {
            municipality_codes: codes_of(row.id, served),
            id: row.id,
            name: row.name,
            referrer_type: row.referrer_type.code().to_owned(),
            agb_code: row.agb_code,
            organisation_name: row.organisation_name,
            scopes: row.scopes,
            callback_url: row.callback_url,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A new client with its secrets, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    /// The OAuth client_id (equal to `id`).
    pub client_id: ClientId,
    /// The OAuth client secret; only its hash is kept, so store it now.
    pub client_secret: String,
    /// Key for checking notification signatures (Standard Webhooks
    /// `whsec_` format); store it now.
    pub callback_secret: String,
}

crate::page_type!(ClientPage, Client, "A page of clients.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

// ---------------------------------------------------------------- Notifications of a client

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = notification_attempts)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    #[serde(skip)]
    pub notification_id: NotificationId,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// HTTP status of the receiver's answer; null when it did not answer.
    pub status_code: Option<i16>,
    pub error: Option<String>,
    /// `delivered` or `failed`.
    pub outcome: String,
}

/// A notification as stored.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: NotificationId,
    pub referral_id: ReferralId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A notification and its delivery attempts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivery_attempts: Vec<DeliveryAttempt>,
}

impl Notification {
    /// The notification of `row` with its attempts, taken from `attempts`
    /// (ordered by notification and attempt, of any notifications).
    pub fn of(row: NotificationRow, attempts: &mut Vec<DeliveryAttempt>) -> Self {
        let (mine, rest) = std::mem::take(attempts)
            .into_iter()
            .partition(|a| a.notification_id == row.id);
        *attempts = rest;
        Self {
            id: row.id.uuid(),
            referral_id: row.referral_id.uuid(),
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            last_error: row.last_error,
            delivery_attempts: mine,
        }
    }
}

crate::page_type!(
    NotificationPage,
    Notification,
    "A page of notifications, oldest first."
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only notifications in this delivery state.
    pub status: Option<DeliveryStatus>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A callback URL notifications may be sent to: absolute, HTTPS (plain
/// HTTP only to a loopback address, for local receivers), without
/// credentials or fragment, at most 2,000 characters.
pub fn callback_url(input: &str) -> Result<String, DomainError> {
    let invalid = |reason: &str| DomainError::new(ErrorCode::InvalidUrl, reason.to_owned());
    if input.len() > 2000 {
        return Err(DomainError::new(
            ErrorCode::TooLong,
            "At most 2000 characters.",
        ));
    }
    let url = url::Url::parse(input).map_err(|_| invalid("Give an absolute https:// URL."))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid("The URL needs a host.")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "Use https:// (plain http only for a loopback address).",
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("Credentials do not belong in the URL."));
    }
    if url.fragment().is_some() {
        return Err(invalid("A fragment is never sent; leave it out."));
    }
    Ok(url.to_string())
}

/// [`callback_url`] as a `validator` rule.
pub fn valid_callback_url(value: &str) -> Result<(), ValidationError> {
    crate::http::validation::rule(callback_url(value))
}

/// Scopes, each known, without repeats.
pub fn scopes(input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() {
        return Err(DomainError::new(
            ErrorCode::Required,
            "Give at least one scope.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in input {
        if !SCOPES.contains(&s.as_str()) {
            return Err(DomainError::new(
                ErrorCode::UnknownScope,
                "Known scopes: referrals:write, referrals:read.",
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// [`scopes`] as a `validator` rule.
pub fn valid_scopes(value: &[String]) -> Result<(), ValidationError> {
    crate::http::validation::rule(scopes(value))
}

/// Municipality codes, each well-formed, without repeats.
pub fn municipality_codes(input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() {
        return Err(DomainError::new(
            ErrorCode::Required,
            "Give at least one municipality.",
        ));
    }
    if input.len() > 400 {
        return Err(DomainError::new(
            ErrorCode::TooMany,
            "At most 400 municipalities.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for code in input {
        let code = MunicipalityCode::parse(code)?.as_str().to_owned();
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// [`municipality_codes`] as a `validator` rule.
pub fn valid_municipality_codes(value: &[String]) -> Result<(), ValidationError> {
    crate::http::validation::rule(municipality_codes(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_are_https_or_loopback_http() {
        assert!(callback_url("https://his.example.nl/hook").is_ok());
        assert!(callback_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(callback_url("http://localhost/hook").is_ok());
        assert!(callback_url("http://[::1]:8000/").is_ok());
        for bad in [
            "http://his.example.nl/hook",
            "ftp://example.nl/",
            "/relative",
            "https://user:pw@example.nl/",
            "https://example.nl/#frag",
            "",
        ] {
            assert!(callback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_known_and_are_deduplicated() {
        let s = |v: &[&str]| scopes(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["referrals:write", "referrals:write"]).unwrap(),
            ["referrals:write"]
        );
        assert!(s(&[]).is_err());
        assert!(s(&["admin"]).is_err());
    }

    #[test]
    fn every_invalid_field_is_named_with_its_code() {
        let input = NewClient {
            name: " ".into(),
            referrer_type: "01".into(),
            agb_code: Some("01234567".into()),
            organisation_name: "Gemeente".into(),
            municipality_codes: vec!["546".into()],
            scopes: vec!["admin".into()],
            callback_url: Some("http://his.example.nl/hook".into()),
        };
        let found: Vec<(String, &str)> = match input.parse() {
            Ok(_) => Vec::new(),
            Err(e) => e
                .invalid_params
                .iter()
                .map(|p| (p.name.clone(), p.code.as_str()))
                .collect(),
        };
        assert_eq!(
            found,
            [
                ("callbackUrl".to_owned(), "invalid_url"),
                ("municipalityCodes".to_owned(), "invalid_municipality_code"),
                ("name".to_owned(), "required"),
                ("scopes".to_owned(), "unknown_scope"),
                ("agbCode".to_owned(), "not_allowed"),
            ]
        );
    }
}
