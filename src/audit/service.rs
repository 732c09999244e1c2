//! What the audit trail's own views do, each in one transaction: the event
//! list, the export, the verification, the review list of emergency
//! accesses and a family's access log. Every use of them is itself an
//! audit event, written in the same transaction, before the answer leaves.

use serde_json::json;

use super::chain::{self, ChainHead, Verification};
use super::export::{self, ExportSpec, ExportStream};
use super::model::{
    checked_period, AccessLogEntry, AccessLogPage, AccessLogQuery, AuditEventPage, AuditEventQuery,
    EmergencyAccess, EmergencyAccessPage, EmergencyAccessQuery, ExportQuery, VerifyQuery,
};
use super::queries::{self, AccessRow, EventFilter};
use super::AuditEvent;
use crate::auth::policy::{self, Denial};
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::domain::{FamilyId, MunicipalityCode, Role};
use crate::error::{checked, ApiError, ApiResult};
use crate::families::queries::{family_facts, FactsOf};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;
use crate::tx::Tx;

/// The municipality whose trail `me` may read (`None`: all, admins only),
/// or the audited refusal. A malformed code names no municipality, so it
/// is decided on as if absent; validation then refuses it.
async fn scope(
    tx: &mut Tx<'_>,
    me: &Principal,
    requested: Option<&str>,
    event: &AuditEvent,
) -> ApiResult<Option<String>> {
    let requested = requested.filter(|code| MunicipalityCode::parse(code).is_ok());
    match policy::read_audit(me, requested) {
        Ok(scope) => Ok(scope),
        Err(denial) => Err(tx
            .refuse(
                event.clone().as_access_denied(),
                denial.into_error("audit log"),
            )
            .await),
    }
}

/// A page of audit events, newest first, filtered (auditors of their own
/// municipality, admins of all).
#[tracing::instrument(skip_all)]
pub async fn list_events(
    app: &AppState,
    bearer: &Bearer,
    q: AuditEventQuery,
) -> ApiResult<AuditEventPage> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "search", "audit_log", "events")
            .await?;
        let municipality = scope(tx, &me, q.municipality_code.as_deref(), &event).await?;
        let page = PageRequest::<i64>::parse(q.limit, q.cursor.as_deref())?;
        let (from, to) = q.checked_period()?;
        let filter = EventFilter {
            municipality: municipality.as_deref(),
            from,
            to,
            family: q.family_id.map(FamilyId::from_uuid),
            actor: q.actor_id,
            action: q.action.as_deref(),
        };
        let rows = queries::list_events(tx.conn, &filter, page.after, page.fetch()).await?;
        let (items, next_cursor) = finish(rows, page.limit, |e| e.seq);
        let mut event = event.detail(json!({
            "filters": q.filters(),
            "familyId": q.family_id,
            "actorId": q.actor_id,
            "resultCount": items.len(),
        }));
        if let Some(m) = &municipality {
            event = event.municipality(m.clone());
        }
        event.record(tx.conn).await?;
        Ok(AuditEventPage { items, next_cursor })
    })
    .await
}

/// An export ready to stream.
pub struct Export {
    /// The chain's newest entry in the export's snapshot.
    pub head: Option<ChainHead>,
    pub content_type: &'static str,
    pub file_name: String,
    pub body: ExportStream,
}

/// Opens an export of the trail of a municipality and period. Authorised,
/// sealed and audited in one pooled transaction, which commits before a
/// byte leaves; the rows then stream from a connection of the export's own,
/// outside the pool (see [`export::open`]). That streaming connection is
/// the named exception to one connection per request: a long download must
/// not hold a pooled one.
#[tracing::instrument(skip_all)]
pub async fn export(app: &AppState, bearer: &Bearer, q: ExportQuery) -> ApiResult<Export> {
    let (spec, municipality, url, slot) = app
        .transaction(async |tx| {
            let (me, event) = tx
                .user_doing(bearer, "export", "audit_log", "export")
                .await?;
            let municipality = scope(tx, &me, q.municipality_code.as_deref(), &event).await?;
            let (from, to) = q.checked_period()?;
            // A place among the exports that may stream at once (429/503
            // beyond), before anything is sealed or recorded.
            let slot = tx.app.exports.admit(me.user_id.uuid())?;
            let spec = ExportSpec {
                municipality: municipality
                    .as_deref()
                    .map(|m| checked(MunicipalityCode::parse(m)))
                    .transpose()?,
                from,
                to,
                format: q.format(),
            };
            let url = tx.app.database_url.clone().ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("no database URL for exports"))
            })?;
            // Seal what is committed, so the head covers every exported
            // event; then record the export itself before it streams.
            chain::seal_all(tx.conn).await?;
            let mut event = event.detail(json!({
                "format": spec.format.extension(),
                "from": q.from,
                "to": q.to,
            }));
            if let Some(m) = &municipality {
                event = event.municipality(m.clone());
            }
            event.record(tx.conn).await?;
            Ok((spec, municipality, url, slot))
        })
        .await?;
    let (head, body) = export::open(&url, &spec, Some(slot), app.export_idle)
        .await
        .map_err(connection_refused)?;
    Ok(Export {
        head,
        content_type: spec.format.content_type(),
        file_name: q.file_name(municipality.as_deref()),
        body,
    })
}

/// An export whose connection PostgreSQL refused (out of connections,
/// say) is answered 503 with Retry-After, never 500.
fn connection_refused(e: anyhow::Error) -> ApiError {
    tracing::warn!(error = %e, "export could not open its connection");
    ApiError::service_unavailable("No database connection for the export; try again shortly.")
}

/// Seals what is waiting, then checks the trail of the period for changed,
/// removed and inserted events.
#[tracing::instrument(skip_all)]
pub async fn verify(app: &AppState, bearer: &Bearer, q: VerifyQuery) -> ApiResult<Verification> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "verify", "audit_log", "verify")
            .await?;
        // Verification reveals sequence numbers only, no content: any
        // auditor may check the one chain all municipalities share.
        scope(tx, &me, None, &event).await?;
        let (from, to) = checked_period(q.from, q.to)?;
        let report = chain::verify(tx.conn, from, to).await?;
        event
            .detail(json!({
                "from": q.from,
                "to": q.to,
                "valid": report.valid,
                "problemCount": report.problem_count,
                "head": report.head,
            }))
            .record(tx.conn)
            .await?;
        Ok(report)
    })
    .await
}

/// The emergency accesses to families of the caller's municipality, newest
/// first: for its team lead to review (with family names) and its auditor
/// (without).
#[tracing::instrument(skip_all)]
pub async fn emergency_accesses(
    app: &AppState,
    bearer: &Bearer,
    q: EmergencyAccessQuery,
) -> ApiResult<EmergencyAccessPage> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "read", "audit_log", "emergency_accesses").await?;
        tx.enforce(policy::review_emergency_access(&me), "audit log", event.clone())
            .await?;
        // The policy admits only callers with a municipality; the list is theirs.
        let Some(municipality) = me.municipality_code.clone() else {
            return Err(ApiError::forbidden(
                "You may not do this with this audit log.",
            ));
        };
        let page = PageRequest::<i64>::parse(q.limit, q.cursor.as_deref())?;
        let period = checked_period(q.from, q.to)?;
        let rows =
            queries::emergency_accesses(tx.conn, &municipality, period, page.after, page.fetch())
                .await?;
        let (rows, next_cursor) = finish(rows, page.limit, |r| r.seq);
        let filters: Vec<&str> = [q.from.map(|_| "from"), q.to.map(|_| "to")]
            .into_iter()
            .flatten()
            .collect();
        event
            .municipality(municipality)
            .detail(json!({"list": "emergency_accesses", "filters": filters, "resultCount": rows.len()}))
            .record(tx.conn)
            .await?;
        let with_names = me.role == Role::TeamLead;
        let items = rows
            .into_iter()
            .map(|r| EmergencyAccess {
                seq: r.seq,
                occurred_at: r.occurred_at,
                actor_id: r.actor_id.map(|id| id.uuid()),
                actor_display_name: r.actor_display_name,
                actor_role: r.actor_role,
                family_id: r.family_id.map(|id| id.uuid()),
                family_name: r.family_name.filter(|_| with_names),
                resource_type: r.resource_type,
                resource_id: r.resource_id,
                reason: r.reason,
            })
            .collect();
        Ok(EmergencyAccessPage { items, next_cursor })
    })
    .await
}

/// Who accessed a family's data, newest first, by organisation and role
/// (the family's right of access): for the team lead and the auditor of
/// its municipality and its current director.
#[tracing::instrument(skip_all, fields(family = %family_id))]
pub async fn access_log(
    app: &AppState,
    bearer: &Bearer,
    family_id: FamilyId,
    q: AccessLogQuery,
) -> ApiResult<AccessLogPage> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "read", "access_log", family_id)
            .await?;
        // Admins never see family data: refused before anything is looked
        // up. (`families::access::authorize` admits case roles only; the
        // auditor reads the log too, so the facts are loaded here.)
        tx.enforce(policy::family_data_role(&me), "family", event.clone())
            .await?;
        let Some(facts) = family_facts(tx.conn, FactsOf::Family(family_id)).await? else {
            return Err(Denial::Hidden.into_error("family"));
        };
        let event = event
            .family(family_id)
            .municipality(facts.municipality_code.clone());
        tx.enforce(
            policy::read_access_log(&me, &facts),
            "family",
            event.clone(),
        )
        .await?;
        let page = PageRequest::<i64>::parse(q.limit, q.cursor.as_deref())?;
        // Audited first, so the log also shows this very reading of it.
        event.record(tx.conn).await?;
        let rows = queries::access_log(tx.conn, family_id, page.after, page.fetch()).await?;
        let (rows, next_cursor) = finish(rows, page.limit, |r| r.seq);
        let items = rows.iter().map(entry).collect();
        Ok(AccessLogPage { items, next_cursor })
    })
    .await
}

fn entry(r: &AccessRow) -> AccessLogEntry {
    AccessLogEntry {
        occurred_at: r.occurred_at,
        organisation: organisation(r),
        role: r.actor_role.clone().unwrap_or_else(|| r.actor_type.clone()),
        action: r.action.clone(),
        resource_type: r.resource_type.clone(),
        emergency_access: r.emergency_access,
        outcome: r.outcome.clone(),
    }
}

/// Shown for GI workers: the system does not model GI organisations yet,
/// and the family needs to know the kind of organisation, not the person.
const GI_ORGANISATION: &str = "Gecertificeerde instelling";
/// Shown for the server's own work (the periodic signal refresh).
const SYSTEM_ORGANISATION: &str = "Gezinsregie (systeem)";
/// Shown for functional administrators.
const ADMIN_ORGANISATION: &str = "Functioneel beheer";

/// The organisation an event is shown under: the actor's current team,
/// municipality or provider, else a label for its kind, never a person.
fn organisation(row: &AccessRow) -> String {
    if let Some(name) = &row.organisation {
        return name.clone();
    }
    match (row.actor_type.as_str(), row.actor_role.as_deref()) {
        ("system", _) => SYSTEM_ORGANISATION,
        (_, Some("gi_worker")) => GI_ORGANISATION,
        (_, Some("admin")) => ADMIN_ORGANISATION,
        _ => "Onbekend",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn row(actor_type: &str, role: Option<&str>, organisation: Option<&str>) -> AccessRow {
        AccessRow {
            seq: 1,
            occurred_at: Utc::now(),
            actor_type: actor_type.into(),
            actor_role: role.map(str::to_owned),
            organisation: organisation.map(str::to_owned),
            action: "read".into(),
            resource_type: "family".into(),
            emergency_access: false,
            outcome: "success".into(),
        }
    }

    #[test]
    fn organisations_without_a_name_in_the_database_get_a_label_not_a_person() {
        assert_eq!(
            organisation(&row("user", Some("jgt_worker"), Some("JGT Noord"))),
            "JGT Noord"
        );
        assert_eq!(
            organisation(&row("user", Some("gi_worker"), None)),
            GI_ORGANISATION
        );
        assert_eq!(
            organisation(&row("system", None, None)),
            SYSTEM_ORGANISATION
        );
        assert_eq!(
            organisation(&row("user", Some("admin"), None)),
            ADMIN_ORGANISATION
        );
    }
}
