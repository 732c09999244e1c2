//! Request and response shapes of families, and their parsing into
//! checked values.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::queries::MemberRow;
use crate::crypto::BsnVault;
use crate::domain::signals::SignalCode;
use crate::domain::{
    text, Bsn, DomainError, FamilyId, MemberId, MemberRole, MunicipalityCode, PlanId, PlanStatus,
    TeamId, UserId,
};
use crate::error::{checked, ApiResult, ErrorCode, Invalid};

pub const MAX_MEMBERS: usize = 30;

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewFamily {
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: String,
    pub team_id: TeamId,
    #[schema(example = "Familie Jansen", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: String,
    /// At least one member, of whom at least one child.
    #[schema(min_items = 1, max_items = 30)]
    #[validate(nested)]
    pub members: Vec<NewMember>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMember {
    pub role: MemberRole,
    #[schema(example = "Sanne", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub given_name: String,
    #[schema(example = "Jansen", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub family_name: String,
    #[schema(example = "2015-03-14")]
    #[validate(custom(function = "crate::http::validation::birth_date"))]
    pub birth_date: NaiveDate,
    /// Burgerservicenummer: 9 digits passing the 11-proof.
    #[schema(example = "111222333", pattern = "^[0-9]{9}$")]
    #[validate(custom(function = "crate::http::validation::bsn"))]
    pub bsn: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FamilyUpdate {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: Option<String>,
    /// Moves the family to another team of its municipality (team leads only).
    pub team_id: Option<TeamId>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberUpdate {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub given_name: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub family_name: Option<String>,
    #[validate(custom(function = "crate::http::validation::birth_date"))]
    pub birth_date: Option<NaiveDate>,
    /// Sets or corrects the BSN.
    #[schema(pattern = "^[0-9]{9}$")]
    #[validate(custom(function = "crate::http::validation::bsn"))]
    pub bsn: Option<String>,
    /// Ends the membership on this day (not in the future).
    pub ended_on: Option<NaiveDate>,
}

/// A checked member.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub role: MemberRole,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn: Option<Bsn>,
}

impl MemberSpec {
    /// A person whose fields the member rules (those of [`NewMember`])
    /// accepted: names trimmed, BSN parsed.
    pub fn checked(
        role: MemberRole,
        given_name: &str,
        family_name: &str,
        birth_date: NaiveDate,
        bsn: Option<&str>,
    ) -> ApiResult<Self> {
        Ok(Self {
            role,
            given_name: checked(text::required(given_name, 200))?,
            family_name: checked(text::required(family_name, 200))?,
            birth_date,
            bsn: checked(bsn.map(Bsn::parse).transpose())?,
        })
    }
}

impl NewMember {
    /// The member, or 400 naming every field its rules refuse.
    pub fn parse(&self) -> ApiResult<MemberSpec> {
        Invalid::validated(self).into_result()?;
        self.spec()
    }

    /// The member, once its rules accepted it.
    pub fn spec(&self) -> ApiResult<MemberSpec> {
        MemberSpec::checked(
            self.role,
            &self.given_name,
            &self.family_name,
            self.birth_date,
            self.bsn.as_deref(),
        )
    }
}

pub struct FamilySpec {
    pub municipality: MunicipalityCode,
    pub team_id: TeamId,
    pub name: String,
    pub members: Vec<MemberSpec>,
}

/// A plausible birth date: not in the future, not before 1900 (the same
/// bound as the column's CHECK).
pub fn birth_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, DomainError> {
    crate::domain::past_date(date, today, "A birth date")
}

impl NewFamily {
    /// The family, or 400 naming every offending field: the rules of the
    /// fields, then those of the member list as a whole.
    pub fn parse(&self) -> ApiResult<FamilySpec> {
        let mut v = Invalid::validated(self);
        if self.members.is_empty() {
            v.push(
                "members",
                ErrorCode::Required,
                "A family has at least one member.",
            );
        } else if self.members.len() > MAX_MEMBERS {
            v.push("members", ErrorCode::TooMany, "At most 30 members.");
        } else if !self.members.iter().any(|m| m.role == MemberRole::Child) {
            v.push(
                "members",
                ErrorCode::ChildRequired,
                "A family has at least one child.",
            );
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, bsn) in self.members.iter().map(|m| m.bsn.as_deref()).enumerate() {
            let Some(bsn) = bsn.filter(|b| Bsn::parse(b).is_ok()) else {
                continue;
            };
            if seen.contains(&bsn) {
                v.push(
                    format!("members[{i}].bsn"),
                    ErrorCode::Duplicate,
                    "The same BSN appears twice.",
                );
            }
            seen.push(bsn);
        }
        v.into_result()?;
        Ok(FamilySpec {
            municipality: checked(MunicipalityCode::parse(&self.municipality_code))?,
            team_id: self.team_id,
            name: checked(text::required(&self.name, 200))?,
            members: self
                .members
                .iter()
                .map(NewMember::spec)
                .collect::<ApiResult<_>>()?,
        })
    }
}

/// A member as shown to case roles.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: MemberId,
    pub role: MemberRole,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn: Option<String>,
    pub started_on: NaiveDate,
    /// Last day of membership; null while a member.
    pub ended_on: Option<NaiveDate>,
}

impl Member {
    /// The member of a row, its BSN decrypted.
    pub fn from_row(row: MemberRow, vault: &BsnVault) -> anyhow::Result<Self> {
        let bsn = row
            .bsn_ciphertext
            .as_deref()
            .map(|c| vault.decrypt(c))
            .transpose()?;
        Ok(Self {
            id: row.id,
            role: row.role,
            given_name: row.given_name,
            family_name: row.family_name,
            birth_date: row.birth_date,
            bsn,
            started_on: row.started_on,
            ended_on: row.ended_on,
        })
    }
}

/// The family's current (open) plan, in brief.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub plan_id: PlanId,
    pub status: PlanStatus,
    pub director_id: Option<UserId>,
    /// Care level derived from active involvements (0: no care beyond the normal network).
    pub level: i32,
    /// Whether a child protection measure is in force.
    pub protection_measure: bool,
    /// Codes of the signals that hold (open or acknowledged).
    pub signals: Vec<SignalCode>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Family {
    pub id: FamilyId,
    pub municipality_code: String,
    pub team_id: TeamId,
    pub name: String,
    pub members: Vec<Member>,
    pub current_plan: Option<PlanSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A family in a list (members are not listed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilySummary {
    pub id: FamilyId,
    pub municipality_code: String,
    pub team_id: TeamId,
    pub name: String,
    pub current_plan: Option<PlanSummary>,
}

crate::page_type!(FamilyPage, FamilySummary, "A page of families.");

#[derive(Debug, Deserialize, Serialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FamilyQuery {
    /// Part of the family name (case-insensitive).
    #[param(max_length = 200)]
    #[validate(custom(function = "crate::http::validation::optional_text::<200>"))]
    pub name: Option<String>,
    /// Families with an active member with this BSN.
    #[param(pattern = "^[0-9]{9}$")]
    #[validate(custom(function = "crate::http::validation::bsn"))]
    pub bsn: Option<String>,
    pub team_id: Option<TeamId>,
    /// Families whose open plan this user directs.
    pub director_id: Option<UserId>,
    /// Families whose open plan carries this signal (open or acknowledged).
    pub signal: Option<SignalCode>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}
