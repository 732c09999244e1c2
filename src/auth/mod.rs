//! Authentication and authorisation: password hashing, tokens, the
//! [`Principal`] extractor every protected handler takes, and the policies
//! that decide what a principal may do (all in [`policy`], nowhere else).

pub mod client;
mod legacy;
pub mod model;
pub mod password;
pub mod policy;
pub mod principal;
pub mod queries;
pub mod routes;
pub mod service;
pub mod tokens;

pub use principal::Principal;

use crate::audit::AuditEvent;
use crate::error::ApiResult;
use crate::state::AppState;

/// Applies a policy decision: on refusal the attempt is audited as
/// `access_denied` and the matching 403/404 returned.
pub async fn enforce(
    state: &AppState,
    decision: policy::Decision,
    what: &str,
    event: AuditEvent,
) -> ApiResult<()> {
    match decision {
        Ok(()) => Ok(()),
        Err(denial) => {
            crate::audit::record_alone(state, event.as_access_denied()).await?;
            Err(denial.into_error(what))
        }
    }
}
