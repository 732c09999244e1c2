//! Request and response shapes of families, and their parsing into
//! validated values.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{text, Bsn, DomainError, MemberRole, MunicipalityCode, PlanStatus};
use crate::error::ErrorCode;
use crate::error::{ApiResult, Invalid};

pub const MAX_MEMBERS: usize = 30;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewFamily {
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    pub municipality_code: String,
    pub team_id: Uuid,
    #[schema(example = "Familie Jansen", min_length = 1, max_length = 200)]
    pub name: String,
    /// At least one member, of whom at least one child.
    #[schema(min_items = 1, max_items = 30)]
    pub members: Vec<NewMember>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMember {
    pub role: MemberRole,
    #[schema(example = "Sanne", min_length = 1, max_length = 200)]
    pub given_name: String,
    #[schema(example = "Jansen", min_length = 1, max_length = 200)]
    pub family_name: String,
    #[schema(example = "2015-03-14")]
    pub birth_date: NaiveDate,
    /// Burgerservicenummer: 9 digits passing the 11-proof.
    #[schema(example = "111222333", pattern = "^[0-9]{9}$")]
    pub bsn: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FamilyUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Moves the family to another team of its municipality (team leads only).
    pub team_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub given_name: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub family_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// Sets or corrects the BSN.
    #[schema(pattern = "^[0-9]{9}$")]
    pub bsn: Option<String>,
    /// Ends the membership on this day (not in the future).
    pub ended_on: Option<NaiveDate>,
}

/// A validated member.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub role: MemberRole,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn: Option<Bsn>,
}

pub struct FamilySpec {
    pub municipality: MunicipalityCode,
    pub team_id: Uuid,
    pub name: String,
    pub members: Vec<MemberSpec>,
}

/// A plausible birth date: not in the future, not before 1900 (the same
/// bound as the column's CHECK).
pub fn birth_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, DomainError> {
    crate::domain::past_date(date, today, "A birth date")
}

impl NewMember {
    pub fn parse_into(
        &self,
        prefix: &str,
        v: &mut Invalid,
        today: NaiveDate,
    ) -> Option<MemberSpec> {
        let given = v.check(
            &format!("{prefix}givenName"),
            text::required(&self.given_name, 200),
        );
        let family = v.check(
            &format!("{prefix}familyName"),
            text::required(&self.family_name, 200),
        );
        let born = v.check(
            &format!("{prefix}birthDate"),
            birth_date(self.birth_date, today),
        );
        let bsn = match &self.bsn {
            None => Some(None),
            Some(b) => v.check(&format!("{prefix}bsn"), Bsn::parse(b)).map(Some),
        };
        Some(MemberSpec {
            role: self.role,
            given_name: given?,
            family_name: family?,
            birth_date: born?,
            bsn: bsn?,
        })
    }

    pub fn parse(&self, today: NaiveDate) -> ApiResult<MemberSpec> {
        let mut v = Invalid::new();
        let spec = self.parse_into("", &mut v, today);
        v.finish((spec,)).map(|(s,)| s)
    }
}

impl NewFamily {
    pub fn parse(&self, today: NaiveDate) -> ApiResult<FamilySpec> {
        let mut v = Invalid::new();
        let municipality = v.check(
            "municipalityCode",
            MunicipalityCode::parse(&self.municipality_code),
        );
        let name = v.check("name", text::required(&self.name, 200));
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
        let mut members = Vec::new();
        for (i, m) in self.members.iter().take(MAX_MEMBERS).enumerate() {
            if let Some(spec) = m.parse_into(&format!("members[{i}]."), &mut v, today) {
                members.push(spec);
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, m) in members.iter().enumerate() {
            if let Some(bsn) = &m.bsn {
                if seen.contains(&bsn.as_str()) {
                    v.push(
                        format!("members[{i}].bsn"),
                        ErrorCode::Duplicate,
                        "The same BSN appears twice.",
                    );
                }
                seen.push(bsn.as_str());
            }
        }
        let (municipality, name) = v.finish((municipality, name))?;
        Ok(FamilySpec {
            municipality,
            team_id: self.team_id,
            name,
            members,
        })
    }
}

/// A member as shown to case roles.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: Uuid,
    pub role: MemberRole,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn: Option<String>,
    pub started_on: NaiveDate,
    /// Last day of membership; null while a member.
    pub ended_on: Option<NaiveDate>,
}

/// The family's current (open) plan, in brief.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub plan_id: Uuid,
    pub status: PlanStatus,
    pub director_id: Option<Uuid>,
    /// Care level derived from active involvements (0: no care beyond the normal network).
    pub level: i32,
    /// Whether a child protection measure is in force.
    pub protection_measure: bool,
    /// Codes of the signals that hold (open or acknowledged).
    pub signals: Vec<crate::domain::signals::SignalCode>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Family {
    pub id: Uuid,
    pub municipality_code: String,
    pub team_id: Uuid,
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
    pub id: Uuid,
    pub municipality_code: String,
    pub team_id: Uuid,
    pub name: String,
    pub current_plan: Option<PlanSummary>,
}

crate::page_type!(FamilyPage, FamilySummary, "A page of families.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FamilyQuery {
    /// Part of the family name (case-insensitive).
    #[param(max_length = 200)]
    pub name: Option<String>,
    /// Families with an active member with this BSN.
    #[param(pattern = "^[0-9]{9}$")]
    pub bsn: Option<String>,
    pub team_id: Option<Uuid>,
    /// Families whose open plan this user directs.
    pub director_id: Option<Uuid>,
    /// Families whose open plan carries this signal (open or acknowledged).
    pub signal: Option<crate::domain::signals::SignalCode>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}
