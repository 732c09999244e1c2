//! Approval of accounts whose credentials an admin set (issue 15 item 8).
//!
//! An admin manages accounts but must not reach family data. Yet whoever
//! sets an account's password can log in with it: an admin creating a team
//! lead, or resetting one's password, would read BSNs. So an account of a
//! role that sees personal data ([`Role::sees_personal_data`]) whose
//! credentials an admin set stays inert (`users.approved = false`; a login
//! is refused with 403 `account_pending_approval` and the reset ended its
//! sessions) until a team lead of its municipality approves it. The
//! requests are listed for that municipality's team leads and auditors.
//!
//! Accounts made on the host with `gezinsregie create-user` are approved at
//! once: whoever runs commands on the host holds the database anyway. That
//! is also how a new municipality gets its first team lead (or an admin
//! creates it and a team lead of the same municipality approves it; there
//! is none yet in a new one). Approving is a four-eyes check that the
//! account belongs to the colleague it names; the admin still knew the
//! password it set, so the colleague should change it (see
//! docs/security.md).

use serde_json::json;

use super::model::{AccountApproval, AccountApprovalPage, AccountApprovalQuery};
use super::queries;
use crate::auth::policy::{self, ApprovalFacts};
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::domain::roles::{ApprovalReason, ApprovalStatus};
use crate::domain::{AccountApprovalId, Role, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;
use crate::tx::Tx;

/// After `admin` set the credentials of account `user` (of `role` and
/// `municipality`) for `reason`: when the role sees personal data, the
/// account becomes inert until approved, its sessions end, and the id of
/// the request is returned (for the admin's audit event).
pub async fn require_approval(
    tx: &mut Tx<'_>,
    admin: &Principal,
    user: UserId,
    role: Role,
    municipality: Option<&str>,
    reason: ApprovalReason,
) -> ApiResult<Option<AccountApprovalId>> {
    let Some(municipality) = municipality.filter(|_| role.sees_personal_data()) else {
        return Ok(None);
    };
    let id = queries::request_approval(tx.conn, user, municipality, reason, admin.user_id).await?;
    queries::revoke_sessions(tx.conn, user).await?;
    Ok(Some(id))
}

/// A page of the approval requests of the caller's municipality (its team
/// leads and auditors).
#[tracing::instrument(skip_all)]
pub async fn list_account_approvals(
    app: &AppState,
    bearer: &Bearer,
    query: AccountApprovalQuery,
) -> ApiResult<AccountApprovalPage> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "search", "account_approval", "list")
            .await?;
        let decision = policy::list_account_approvals(&me);
        let municipality = decision.clone().unwrap_or_default();
        tx.enforce(decision.map(drop), "account approval", event)
            .await?;
        let page = PageRequest::<AccountApprovalId>::parse(query.limit, query.cursor.as_deref())?;
        let rows = queries::list_approvals(
            tx.conn,
            &municipality,
            query.status,
            page.after,
            page.fetch(),
        )
        .await?;
        let (items, next_cursor) = finish(rows, page.limit, |a| a.id);
        Ok(AccountApprovalPage { items, next_cursor })
    })
    .await
}

/// Approves an account: a team lead of its municipality, not its own.
#[tracing::instrument(skip_all, fields(approval_id = %id))]
pub async fn approve_account(
    app: &AppState,
    bearer: &Bearer,
    id: AccountApprovalId,
) -> ApiResult<AccountApproval> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "approve", "account_approval", id)
            .await?;
        tx.enforce(
            policy::list_account_approvals(&me).map(drop),
            "account approval",
            event.clone(),
        )
        .await?;
        let Some(found) = queries::lock_approval(tx.conn, id).await? else {
            return Err(ApiError::not_found("Account approval"));
        };
        let facts = ApprovalFacts {
            user_id: found.user_id,
            municipality_code: found.municipality_code.clone(),
            requested_by: found.requested_by,
        };
        let event = event.municipality(found.municipality_code.clone());
        tx.enforce(
            policy::approve_account(&me, &facts),
            "account approval",
            event.clone(),
        )
        .await?;
        if found.status != ApprovalStatus::Pending {
            return Err(ApiError::conflict(
                ErrorCode::ApprovalNotPending,
                "This request was already approved or superseded.",
            ));
        }
        queries::approve(tx.conn, id, found.user_id, me.user_id).await?;
        event
            .detail(json!({
                "userId": found.user_id,
                "role": found.role.as_str(),
                "reason": found.reason.as_str(),
            }))
            .record(tx.conn)
            .await?;
        queries::lock_approval(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Account approval"))
    })
    .await
}
