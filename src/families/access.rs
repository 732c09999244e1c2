//! Access to a family and its plans, decided in the request's transaction:
//! load the family's facts, apply a rule of `auth::policy`, and audit a
//! refusal. A plan's access follows its family's.

use super::queries::{family_facts, FactsOf};
use crate::audit::AuditEvent;
use crate::auth::policy::{self, Decision, Denial, FamilyFacts, ReadAccess};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::http::access_reason::AccessReason;
use crate::tx::Tx;

/// Facts of the family (or of the plan's family) if `rule` allows `me` the
/// action described by `event`; otherwise the refusal is audited and
/// answered 403 or 404, naming the resource `what`.
pub async fn authorize(
    tx: &mut Tx<'_>,
    me: &Principal,
    of: FactsOf,
    rule: impl Fn(&Principal, &FamilyFacts) -> Decision,
    event: AuditEvent,
    what: &str,
) -> ApiResult<FamilyFacts> {
    let (facts, ()) = authorize_with(tx, me, of, rule, event, what).await?;
    Ok(facts)
}

/// A granted read of a family or one of its plans: the family's facts, and
/// the reason when the glass was broken to get in.
#[derive(Debug, Clone)]
pub struct ReadGrant {
    pub facts: FamilyFacts,
    emergency_reason: Option<String>,
}

impl ReadGrant {
    /// The read's audit event, about this family, marked as emergency
    /// access when it was one. Apply it last, after any `detail(..)`.
    pub fn stamp(&self, event: AuditEvent) -> AuditEvent {
        let event = event
            .family(self.facts.family_id)
            .municipality(self.facts.municipality_code.clone());
        match &self.emergency_reason {
            Some(reason) => event.emergency_access(reason),
            None => event,
        }
    }
}

/// Authorises reading a family (or a plan of it, `what`) by the normal rule
/// or, with a stated `reason`, by breaking the glass. A refused attempt is
/// audited with the reason it gave.
pub async fn authorize_read(
    tx: &mut Tx<'_>,
    me: &Principal,
    of: FactsOf,
    reason: &AccessReason,
    event: AuditEvent,
    what: &str,
) -> ApiResult<ReadGrant> {
    let event = match reason.as_deref() {
        Some(r) => event.with_access_reason(r),
        None => event,
    };
    let given = reason.as_deref().is_some();
    let rule = |p: &Principal, f: &FamilyFacts| policy::read_family_or_break_glass(p, f, given);
    let (facts, access) = authorize_with(tx, me, of, rule, event, what).await?;
    let emergency_reason = match access {
        ReadAccess::Normal => None,
        ReadAccess::Emergency => reason.as_deref().map(str::to_owned),
    };
    Ok(ReadGrant {
        facts,
        emergency_reason,
    })
}

async fn authorize_with<T>(
    tx: &mut Tx<'_>,
    me: &Principal,
    of: FactsOf,
    rule: impl Fn(&Principal, &FamilyFacts) -> Result<T, Denial>,
    event: AuditEvent,
    what: &str,
) -> ApiResult<(FamilyFacts, T)> {
    // Roles without case access are refused before anything is looked up.
    tx.enforce(policy::case_role(me), what, event.clone())
        .await?;
    let Some(facts) = family_facts(tx.conn, of).await? else {
        return Err(Denial::Hidden.into_error(what));
    };
    let event = event
        .family(facts.family_id)
        .municipality(facts.municipality_code.clone());
    let decision = rule(me, &facts);
    tx.enforce(decision.as_ref().map(drop).map_err(|d| *d), what, event)
        .await?;
    let value = decision.map_err(|d| d.into_error(what))?;
    Ok((facts, value))
}
