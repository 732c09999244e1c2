//! The audit trail (NEN 7513): who did what to whose data, when, for what
//! purpose and with what result. Events are written in the same transaction
//! as the change they describe (and for reads, before the response leaves),
//! so there is no change without its event and no event without its change.
//! Denied attempts are written in the request's transaction too, which
//! then commits with nothing else in it (see `crate::tx`).

pub mod attempts;
pub mod chain;
pub mod export;
pub mod failures;
pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
pub mod synthetic;

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::schema::audit_events;
use crate::domain::Role;
use crate::http::request_context::RequestContext;

/// One event, ready to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
// `None` is inserted as NULL (what the nullable columns default to anyway),
// not as `DEFAULT`: diesel keeps no prepared statement for an insert with
// `DEFAULT`, and every request records an event.
#[diesel(treat_none_as_default_value = false)]
pub struct AuditEvent {
    /// Set when the event is recorded, to the microsecond PostgreSQL keeps.
    occurred_at: DateTime<Utc>,
    actor_type: &'static str,
    actor_id: Option<Uuid>,
    actor_role: Option<String>,
    on_behalf_of: Option<String>,
    purpose: &'static str,
    municipality_code: Option<String>,
    action: &'static str,
    resource_type: &'static str,
    resource_id: Option<String>,
    family_id: Option<Uuid>,
    outcome: &'static str,
    emergency_access: bool,
    request_id: Option<String>,
    ip: Option<String>,
    detail: Value,
    /// The client's own `X-Request-Id`, kept in `detail.clientRequestId`
    /// when the event is recorded (so a later `detail(..)` keeps it).
    #[diesel(skip_insertion)]
    client_request_id: Option<String>,
    /// See [`chain`]: computed when the event is recorded.
    row_mac: Option<Vec<u8>>,
}

/// Purpose of processing, derived from the actor's role (NEN 7513 asks why).
fn purpose_of(role: Role) -> &'static str {
    match role {
        Role::Admin => "administration",
        Role::Auditor => "accountability",
        Role::ProviderUser => "care_delivery",
        Role::TeamLead | Role::JgtWorker | Role::GiWorker => "care_coordination",
    }
}

impl AuditEvent {
    /// The fields every event starts from; the constructors below name the
    /// actor. `occurred_at` and `row_mac` are set when it is recorded.
    fn new(
        actor_type: &'static str,
        purpose: &'static str,
        action: &'static str,
        resource_type: &'static str,
    ) -> Self {
        Self {
            occurred_at: Utc::now(),
            actor_type,
            actor_id: None,
            actor_role: None,
            on_behalf_of: None,
            purpose,
            municipality_code: None,
            action,
            resource_type,
            resource_id: None,
            family_id: None,
            outcome: "success",
            emergency_access: false,
            request_id: None,
            ip: None,
            detail: Value::Object(Default::default()),
            client_request_id: None,
            row_mac: None,
        }
    }

    /// An event of a logged-in user.
    pub fn by(
        principal: &Principal,
        action: &'static str,
        resource_type: &'static str,
        resource_id: impl ToString,
    ) -> Self {
        Self {
            actor_id: Some(principal.user_id.uuid()),
            actor_role: Some(principal.role.as_str().to_owned()),
            municipality_code: principal.municipality_code.clone(),
            resource_id: Some(resource_id.to_string()),
            request_id: Some(principal.request.request_id.clone()),
            client_request_id: principal.request.client_request_id.clone(),
            ip: principal.request.ip.clone(),
            ..Self::new("user", purpose_of(principal.role), action, resource_type)
        }
    }

    /// An event of a machine client (a GP, youth doctor or GI system), on
    /// behalf of its organisation.
    pub fn by_client(
        client: &crate::auth::client::ClientPrincipal,
        action: &'static str,
        resource_type: &'static str,
        resource_id: impl ToString,
    ) -> Self {
        Self {
            actor_id: Some(client.client_id.uuid()),
            actor_role: Some("client".to_owned()),
            on_behalf_of: Some(client.organisation_name.clone()),
            resource_id: Some(resource_id.to_string()),
            request_id: Some(client.request.request_id.clone()),
            client_request_id: client.request.client_request_id.clone(),
            ip: client.request.ip.clone(),
            ..Self::new("client", "referral", action, resource_type)
        }
    }

    /// The same event, naming the client an anonymous event turned out to be.
    pub fn client(mut self, id: Uuid, organisation: &str) -> Self {
        self.actor_type = "client";
        self.actor_id = Some(id);
        self.actor_role = Some("client".to_owned());
        self.on_behalf_of = Some(organisation.to_owned());
        self
    }

    /// An event without a logged-in user (login attempts).
    pub fn anonymous(
        ctx: &RequestContext,
        action: &'static str,
        resource_type: &'static str,
    ) -> Self {
        Self {
            request_id: Some(ctx.request_id.clone()),
            client_request_id: ctx.client_request_id.clone(),
            ip: ctx.ip.clone(),
            ..Self::new("anonymous", "authentication", action, resource_type)
        }
    }

    /// An event of the server itself (the periodic signal refresh).
    pub fn system(
        action: &'static str,
        resource_type: &'static str,
        resource_id: impl ToString,
    ) -> Self {
        Self {
            resource_id: Some(resource_id.to_string()),
            ..Self::new("system", "care_coordination", action, resource_type)
        }
    }

    /// Names the user an anonymous event turned out to be about.
    pub fn user(mut self, id: Uuid, role: &str, municipality: Option<String>) -> Self {
        self.actor_type = "user";
        self.actor_id = Some(id);
        self.actor_role = Some(role.to_owned());
        self.municipality_code = municipality;
        self
    }

    /// The same actor and request, about another action and resource (a
    /// referral that registers a family records both).
    pub fn on(
        mut self,
        action: &'static str,
        resource_type: &'static str,
        resource_id: impl ToString,
    ) -> Self {
        self.action = action;
        self.resource_type = resource_type;
        self.resource_id = Some(resource_id.to_string());
        self.detail = Value::Object(Default::default());
        self
    }

    /// Whose personal data this is about.
    pub fn family(mut self, family_id: impl Into<Uuid>) -> Self {
        self.family_id = Some(family_id.into());
        self
    }

    /// The municipality whose data was touched.
    pub fn municipality(mut self, code: impl Into<String>) -> Self {
        self.municipality_code = Some(code.into());
        self
    }

    /// Another purpose than the actor's default (the retention run
    /// anonymises for `retention`, not for care coordination).
    pub fn purpose(mut self, purpose: &'static str) -> Self {
        self.purpose = purpose;
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn denied(mut self) -> Self {
        self.outcome = "denied";
        self
    }

    /// The same attempt, recorded as refused: action `access_denied`, with
    /// the attempted action in the detail.
    pub fn as_access_denied(mut self) -> Self {
        let attempted = self.action;
        self.action = "access_denied";
        self.outcome = "denied";
        if let Value::Object(map) = &mut self.detail {
            map.insert("attempted".into(), Value::String(attempted.into()));
        }
        self
    }

    pub fn action(&self) -> &'static str {
        self.action
    }

    /// Takes a shared connection, so the insert can be pipelined with the
    /// request's reads.
    pub async fn record(self, mut conn: &AsyncPgConnection) -> QueryResult<()> {
        #[cfg(feature = "bench-unaudited-reads")]
        if self.action == "read" && self.resource_type == "plan" {
            return Ok(());
        }
        let event = self.finalise(Utc::now())?;
        diesel::insert_into(audit_events::table)
            .values(&event)
            .execute(&mut conn)
            .await
            .map(|_| ())
    }

    /// The event as stored: cleaned, timed and authenticated.
    fn finalise(mut self, at: DateTime<Utc>) -> QueryResult<Self> {
        // Resource ids and details may carry what a caller typed (a refused
        // request is recorded with the id it named): PostgreSQL text and
        // jsonb cannot hold NUL, and the trail need not hold novels.
        self.resource_id = self.resource_id.map(|id| clean(&id, MAX_RESOURCE_ID));
        if let (Some(id), Value::Object(map)) = (self.client_request_id.take(), &mut self.detail) {
            map.insert("clientRequestId".into(), Value::String(id));
        }
        strip_nul(&mut self.detail);
        self.occurred_at = at.trunc_subsecs(6);
        self.row_mac = Some(chain::key()?.row_mac(&self.mac_input()).to_vec());
        Ok(self)
    }

    /// Marks the event as emergency access ("break the glass"), keeping the
    /// stated reason in `detail.accessReason`. Call it last, after any
    /// `detail(..)`, which would replace the reason.
    pub fn emergency_access(mut self, reason: &str) -> Self {
        self.emergency_access = true;
        self.with_access_reason(reason)
    }

    /// Keeps a stated access reason in `detail.accessReason` without
    /// granting anything: a refused attempt to break the glass is recorded
    /// with the reason it gave.
    pub fn with_access_reason(mut self, reason: &str) -> Self {
        if let Value::Object(map) = &mut self.detail {
            map.insert("accessReason".into(), Value::String(reason.to_owned()));
        }
        self
    }
}

impl AuditEvent {
    fn mac_input(&self) -> chain::MacInput<'_> {
        chain::MacInput {
            occurred_at: self.occurred_at,
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            actor_role: self.actor_role.as_deref(),
            on_behalf_of: self.on_behalf_of.as_deref(),
            purpose: self.purpose,
            municipality_code: self.municipality_code.as_deref(),
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id.as_deref(),
            family_id: self.family_id,
            outcome: self.outcome,
            emergency_access: self.emergency_access,
            request_id: self.request_id.as_deref(),
            ip: self.ip.as_deref(),
            detail: &self.detail,
        }
    }
}

/// Longest resource id kept, in characters.
const MAX_RESOURCE_ID: usize = 200;

fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| *c != '\0').take(max).collect()
}

fn strip_nul(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = clean(s, usize::MAX),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => map.values_mut().for_each(strip_nul),
        _ => {}
    }
}

/// Writes synthetic events at the given (past) times in one statement: the
/// data sets of the export benchmark (`gezinsregie demo --audit-events`).
/// Nothing on a request path calls it; requests record at the present.
async fn record_synthetic(
    conn: &mut AsyncPgConnection,
    events: Vec<(AuditEvent, DateTime<Utc>)>,
) -> QueryResult<usize> {
    let rows = events
        .into_iter()
        .map(|(event, at)| event.finalise(at))
        .collect::<QueryResult<Vec<_>>>()?;
    diesel::insert_into(audit_events::table)
        .values(&rows)
        .execute(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_postgresql_cannot_store_is_cleaned() {
        assert_eq!(clean("ab\0c", 200), "abc");
        assert_eq!(clean(&"x".repeat(500), MAX_RESOURCE_ID).len(), 200);
        let mut detail = serde_json::json!({"a": ["x\0y", {"b": "\0"}], "n": 1});
        strip_nul(&mut detail);
        assert_eq!(detail, serde_json::json!({"a": ["xy", {"b": ""}], "n": 1}));
    }
}
