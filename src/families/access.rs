//! Loading a family's facts and applying a policy to them, auditing refusals.

use uuid::Uuid;

use super::queries::family_facts;
use crate::audit::AuditEvent;
use crate::auth::policy::{self, Decision, FamilyFacts};
use crate::auth::{enforce, Principal};
use crate::error::ApiResult;
use crate::state::AppState;

/// Facts of the family if `rule` allows `principal` the action described by
/// `event`; otherwise the refusal is audited and answered 403 or 404.
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    family_id: Uuid,
    rule: impl Fn(&Principal, &FamilyFacts) -> Decision,
    event: AuditEvent,
) -> ApiResult<FamilyFacts> {
    authorize_as(state, principal, family_id, rule, event, "family").await
}

/// As [`authorize`], naming the resource `what` in refusals (a plan's
/// access follows its family's).
pub async fn authorize_as(
    state: &AppState,
    principal: &Principal,
    family_id: Uuid,
    rule: impl Fn(&Principal, &FamilyFacts) -> Decision,
    event: AuditEvent,
    what: &str,
) -> ApiResult<FamilyFacts> {
    // Roles without case access are refused before anything is looked up.
    enforce(state, policy::case_role(principal), what, event.clone()).await?;
    let facts = {
        let mut conn = state.db().await?;
        family_facts(&mut conn, family_id).await?
    };
    let Some(facts) = facts else {
        return Err(policy::Denial::Hidden.into_error(what));
    };
    let event = event
        .family(family_id)
        .municipality(facts.municipality_code.clone());
    enforce(state, rule(principal, &facts), what, event).await?;
    Ok(facts)
}
