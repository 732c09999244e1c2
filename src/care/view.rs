//! How a plan's care is shown: the lens (the JGT's full view or one
//! provider's), and the views of involvements, scaling events and signals
//! made from their rows.

use super::catalogue::Catalogue;
use super::model::{Involvement, Signal};
use super::queries::{InvolvementRow, SignalRow};
use crate::domain::ProviderId;

/// Who looks at a plan's care: the JGT (everything) or one provider (its own
/// notes, and only names and care forms of the others).
#[derive(Clone, Copy)]
pub struct Lens<'a> {
    pub catalogue: &'a Catalogue,
    pub provider: Option<ProviderId>,
}

impl<'a> Lens<'a> {
    pub fn full(catalogue: &'a Catalogue) -> Self {
        Self {
            catalogue,
            provider: None,
        }
    }

    pub fn provider(catalogue: &'a Catalogue, provider: ProviderId) -> Self {
        Self {
            catalogue,
            provider: Some(provider),
        }
    }

    /// An involvement as this lens shows it.
    pub fn involvement(&self, row: InvolvementRow, provider_name: String) -> Involvement {
        let own = self.provider.is_none_or(|p| p == row.provider_id);
        Involvement {
            id: row.id,
            plan_id: row.plan_id,
            provider_id: row.provider_id,
            provider_name,
            care_form_name: self
                .catalogue
                .get(&row.care_form_code)
                .map(|f| f.name.clone()),
            care_form_code: row.care_form_code,
            segment: row.segment,
            level: row.level,
            product_category: row.product_category,
            member_id: row.member_id,
            status: row.status,
            requested_on: row.requested_on,
            started_on: row.started_on,
            ended_on: row.ended_on,
            end_reason_code: row.end_reason.and_then(|r| r.ijw_code()).map(str::to_owned),
            end_reason: row.end_reason,
            waiting_days: row.started_on.map(|s| (s - row.requested_on).num_days()),
            reason: if own { row.reason } else { None },
            end_note: if own { row.end_note } else { None },
            created_at: row.created_at,
            awaiting_referral_id: row.awaiting_referral_id,
        }
    }

    /// Involvements with their providers' names, as this lens shows them.
    /// A provider does not see care that still waits for a referral's
    /// acceptance (its own or another's): until the municipality accepts
    /// the referral it is no care, and says nothing to a provider.
    pub fn involvements(&self, rows: Vec<(InvolvementRow, String)>) -> Vec<Involvement> {
        rows.into_iter()
            .filter(|(row, _)| self.provider.is_none() || row.awaiting_referral_id.is_none())
            .map(|(row, name)| self.involvement(row, name))
            .collect()
    }
}

impl From<SignalRow> for Signal {
    fn from(row: SignalRow) -> Self {
        Self {
            code: row.code,
            status: row.status,
            raised_at: row.raised_at,
            detail: row.detail,
            acknowledged_at: row.acknowledged_at,
            acknowledged_by: row.acknowledged_by,
            note: row.note,
        }
    }
}
