//! What the report endpoint does, in one repeatable-read transaction.

use chrono::Utc;
use serde_json::json;

use super::model::{summarise, SummaryParams, SummaryReport};
use super::queries;
use crate::admin::queries::exists;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The summary report of a municipality over a period; every answered
/// report and every refusal is audited.
#[tracing::instrument(skip_all, fields(municipality = tracing::field::Empty))]
pub async fn summary_report(
    app: &AppState,
    bearer: &Bearer,
    params: SummaryParams,
) -> ApiResult<SummaryReport> {
    app.transaction(async |tx| {
        queries::repeatable_read(tx.conn).await?;
        let (me, event) = tx.user_doing(bearer, "read", "report", "summary").await?;
        // Roles without reports are refused before their input is looked at.
        tx.enforce(policy::reports(&me), "report", event.clone())
            .await?;
        let (code, period) = params.parse(Utc::now().date_naive())?;
        let code = code.as_str();
        tracing::Span::current().record("municipality", code);
        let event = event.municipality(code).detail(json!({
            "report": "summary",
            "from": period.from,
            "to": period.to,
        }));
        tx.enforce(
            policy::read_report(&me, code),
            "municipality",
            event.clone(),
        )
        .await?;
        if !exists(tx.conn, code).await? {
            return Err(ApiError::not_found("Municipality"));
        }
        let figures = queries::figures(tx.conn, code, period).await?;
        event.record(tx.conn).await?;
        Ok(summarise(code, period, &figures))
    })
    .await
}
