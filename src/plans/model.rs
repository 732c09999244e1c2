//! Request and response shapes of plans and directors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::domain::{text, FamilyId, GoalRealisation, PlanId, PlanStatus, Role, TeamId, UserId};
use crate::error::{checked, ApiResult, Invalid};

pub const MAX_GOALS: usize = 50;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GoalInput {
    /// Keeps the id of an existing goal when the list is replaced.
    pub id: Option<Uuid>,
    #[schema(
        example = "Sanne gaat weer elke dag naar school",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<2000>"))]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub id: Uuid,
    pub description: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPlan {
    #[schema(example = "Gezinsplan Jansen", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub title: String,
    #[schema(max_items = 50)]
    #[validate(
        custom(function = "crate::http::validation::at_most::<MAX_GOALS, GoalInput>"),
        nested
    )]
    pub goals: Option<Vec<GoalInput>>,
    /// Director to assign at once; the plan then starts `active`.
    pub director_id: Option<UserId>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanUpdate {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub title: Option<String>,
    /// Replaces the list of goals.
    #[schema(max_items = 50)]
    #[validate(
        custom(function = "crate::http::validation::at_most::<MAX_GOALS, GoalInput>"),
        nested
    )]
    pub goals: Option<Vec<GoalInput>>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutcomeInput {
    pub goal_realisation: GoalRealisation,
    /// Client satisfaction, 1 to 10.
    #[schema(minimum = 1, maximum = 10)]
    #[validate(custom(
        function = "crate::http::validation::in_range::<1, 10, i16>",
        message = "A score from 1 to 10."
    ))]
    pub satisfaction_score: Option<i16>,
    /// Whether care ended by dropout (uitval).
    pub dropout: bool,
    #[schema(max_length = 2000)]
    #[validate(custom(function = "crate::http::validation::optional_text::<2000>"))]
    pub dropout_reason: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClosePlan {
    #[schema(
        example = "Doelen bereikt, zorg afgeschaald naar het voorliggend veld",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<2000>"))]
    pub reason: String,
    #[validate(nested)]
    pub outcome: OutcomeInput,
}

pub struct CloseSpec {
    pub reason: String,
    pub goal_realisation: GoalRealisation,
    pub satisfaction_score: Option<i16>,
    pub dropout: bool,
    pub dropout_reason: Option<String>,
}

impl ClosePlan {
    pub fn parse(&self) -> ApiResult<CloseSpec> {
        Invalid::validated(self).into_result()?;
        Ok(CloseSpec {
            reason: checked(text::required(&self.reason, 2000))?,
            goal_realisation: self.outcome.goal_realisation,
            satisfaction_score: self.outcome.satisfaction_score,
            dropout: self.outcome.dropout,
            dropout_reason: checked(text::optional(self.outcome.dropout_reason.as_deref(), 2000))?,
        })
    }
}

/// The goals of a list its rules accepted, keeping given ids and minting
/// new ones.
pub fn goals(input: &[GoalInput]) -> ApiResult<Vec<Goal>> {
    input
        .iter()
        .map(|g| {
            Ok(Goal {
                id: g.id.unwrap_or_else(Uuid::now_v7),
                description: checked(text::required(&g.description, 2000))?,
            })
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectorRef {
    pub user_id: UserId,
    pub display_name: String,
    /// Start of the current assignment.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub goal_realisation: GoalRealisation,
    pub satisfaction_score: Option<i16>,
    pub dropout: bool,
    pub dropout_reason: Option<String>,
}

/// The plan view of DESIGN section 7.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: PlanId,
    pub family_id: FamilyId,
    pub status: PlanStatus,
    pub title: String,
    pub goals: Vec<Goal>,
    pub director: Option<DirectorRef>,
    /// Care level derived from active involvements (0: none beyond the normal network).
    pub level: i32,
    /// Whether a child protection measure is in force (a `safety` involvement).
    pub protection_measure: bool,
    /// Care involvements (providers and care forms) of the plan, ended ones included.
    pub involvements: Vec<crate::care::model::Involvement>,
    /// Open and acknowledged signals (empty in a provider's view).
    pub signals: Vec<crate::care::model::Signal>,
    /// Optimistic-concurrency version; also sent as the ETag.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub outcome: Option<Outcome>,
}

crate::page_type!(PlanPage, Plan, "A page of plans.");

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DirectorChange {
    /// The new director: an active jgt_worker of the plan's municipality or a
    /// gi_worker serving it.
    pub user_id: UserId,
    #[schema(
        example = "Overdracht na verhuizing",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<2000>"))]
    pub reason: String,
}

/// One director assignment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectorAssignment {
    pub user_id: UserId,
    pub display_name: String,
    pub started_at: DateTime<Utc>,
    /// Null for the current director.
    pub ended_at: Option<DateTime<Utc>>,
    pub assigned_by: Option<UserId>,
    pub reason: String,
}

/// A user who may take over a plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibleDirector {
    pub user_id: UserId,
    pub display_name: String,
    pub role: Role,
    pub team_id: Option<TeamId>,
    /// Open plans this user directs now.
    pub caseload: i64,
}

crate::page_type!(
    EligibleDirectorPage,
    EligibleDirector,
    "A page of users who may direct the plan."
);

/// An open plan in a director's caseload.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseloadItem {
    pub plan_id: PlanId,
    pub family_id: FamilyId,
    pub family_name: String,
    pub municipality_code: String,
    pub status: PlanStatus,
    pub title: String,
    /// Start of the assignment.
    pub since: DateTime<Utc>,
}

crate::page_type!(
    CaseloadPage,
    CaseloadItem,
    "A page of a director's open plans."
);

pub use crate::http::pagination::PageParams;
