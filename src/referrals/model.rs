//! Request and response shapes of referrals, and their parsing into
//! validated values.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::referrals::{self, MatchBasis, ReferralStatus, Referrer, Urgency};
use crate::domain::{text, AgbCode, MemberRole, MunicipalityCode};
use crate::error::ErrorCode;
use crate::error::{ApiResult, Invalid};
use crate::families::model::{MemberSpec, NewMember};

/// Parents named in one referral, at most.
pub const MAX_PARENTS: usize = 4;

/// A person named in a referral.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReferralPerson {
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

/// A referral as a referrer sends it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewReferral {
    /// The referrer's own reference (shown back with the status).
    #[schema(example = "HIS-2026-000123", min_length = 1, max_length = 100)]
    pub external_reference: String,
    /// iJw referrer type (COD327): 01, 02, 03, 04, 05, 06 or 08.
    #[schema(example = "02")]
    pub referrer_type: String,
    /// For types 02 to 05: the referrer's AGB code, or else `referrerName`.
    #[schema(example = "01234567", pattern = "^[0-9]{8}$")]
    pub referrer_agb_code: Option<String>,
    /// For types 02 to 05 without AGB code: the referrer's name.
    #[schema(max_length = 200)]
    pub referrer_name: Option<String>,
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    pub municipality_code: String,
    pub child: ReferralPerson,
    #[schema(max_items = 4)]
    pub parents: Option<Vec<ReferralPerson>>,
    /// Why help is asked.
    #[schema(min_length = 1, max_length = 4000)]
    pub reason: String,
    pub urgency: Urgency,
    /// A care form of the catalogue (`GET /v1/care-forms`).
    #[schema(example = "ambulant_licht")]
    pub requested_care_form_code: Option<String>,
    /// AGB code of a registered provider.
    #[schema(pattern = "^[0-9]{8}$")]
    pub requested_provider_agb_code: Option<String>,
}

/// A validated referral.
#[derive(Debug, Clone)]
pub struct ReferralSpec {
    pub external_reference: String,
    pub referrer: Referrer,
    pub municipality: MunicipalityCode,
    /// The child (role `child`).
    pub child: MemberSpec,
    /// The parents (role `parent`).
    pub parents: Vec<MemberSpec>,
    pub reason: String,
    pub urgency: Urgency,
    pub care_form_code: Option<String>,
    pub provider_agb: Option<AgbCode>,
}

/// A person of a referral, validated by the same rules as a family member
/// (`prefix` names its fields, e.g. `child.`).
fn person(
    p: &ReferralPerson,
    role: MemberRole,
    prefix: &str,
    v: &mut Invalid,
    today: NaiveDate,
) -> Option<MemberSpec> {
    let _ = today;
    let member = NewMember {
        role,
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        birth_date: p.birth_date,
        bsn: p.bsn.clone(),
    };
    if v.absorb(prefix, Invalid::validated(&member)) {
        member.spec().ok()
    } else {
        None
    }
}

impl NewReferral {
    /// Parses the referral; `known_care_form` says whether a care-form code
    /// is in the region's catalogue.
    pub fn parse(
        &self,
        today: NaiveDate,
        known_care_form: impl Fn(&str) -> bool,
    ) -> ApiResult<ReferralSpec> {
        let mut v = Invalid::new();
        let external = v.check(
            "externalReference",
            text::required(&self.external_reference, 100),
        );
        let referrer = match referrals::referrer(
            &self.referrer_type,
            self.referrer_agb_code.as_deref(),
            self.referrer_name.as_deref(),
        ) {
            Ok(r) => Some(r),
            Err(errors) => {
                for (field, e) in errors {
                    v.push(field, e.code, &e.reason);
                }
                None
            }
        };
        let municipality = v.check(
            "municipalityCode",
            MunicipalityCode::parse(&self.municipality_code),
        );
        let child = person(&self.child, MemberRole::Child, "child.", &mut v, today);
        let parents_in = self.parents.as_deref().unwrap_or_default();
        if parents_in.len() > MAX_PARENTS {
            v.push("parents", ErrorCode::TooMany, "At most 4 parents.");
        }
        let parents: Vec<Option<MemberSpec>> = parents_in
            .iter()
            .take(MAX_PARENTS)
            .enumerate()
            .map(|(i, p)| {
                person(
                    p,
                    MemberRole::Parent,
                    &format!("parents[{i}]."),
                    &mut v,
                    today,
                )
            })
            .collect();
        // One person, one BSN: the same BSN twice cannot be two people.
        let mut seen: Vec<&str> = Vec::new();
        for (i, bsn) in std::iter::once(&self.child.bsn)
            .chain(parents_in.iter().map(|p| &p.bsn))
            .enumerate()
        {
            if let Some(bsn) = bsn.as_deref() {
                if seen.contains(&bsn) {
                    let field = if i == 0 {
                        "child.bsn".to_owned()
                    } else {
                        format!("parents[{}].bsn", i - 1)
                    };
                    v.push(
                        field,
                        ErrorCode::Duplicate,
                        "The same BSN is given for two people.",
                    );
                }
                seen.push(bsn);
            }
        }
        let reason = v.check("reason", text::required(&self.reason, 4000));
        let care_form = match self.requested_care_form_code.as_deref() {
            None => Some(None),
            Some(code) if known_care_form(code) => Some(Some(code.to_owned())),
            Some(_) => {
                v.push(
                    "requestedCareFormCode",
                    ErrorCode::UnknownCareForm,
                    "Not a care form of the catalogue (GET /v1/care-forms).",
                );
                None
            }
        };
        let provider = v.check_opt(
            "requestedProviderAgbCode",
            self.requested_provider_agb_code.as_deref(),
            AgbCode::parse,
        );
        let parents = if parents.iter().all(Option::is_some) {
            Some(parents.into_iter().flatten().collect::<Vec<_>>())
        } else {
            None
        };
        let (external, referrer, municipality, child, parents, reason, care_form, provider) = v
            .finish((
                external,
                referrer,
                municipality,
                child,
                parents,
                reason,
                care_form,
                provider,
            ))?;
        Ok(ReferralSpec {
            external_reference: external,
            referrer,
            municipality,
            child,
            parents,
            reason,
            urgency: self.urgency,
            care_form_code: care_form,
            provider_agb: provider,
        })
    }
}

/// What a referrer sees of its referral: status and dates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferralStatusView {
    pub id: Uuid,
    /// The referrer's own reference.
    pub external_reference: String,
    pub status: ReferralStatus,
    pub received_at: DateTime<Utc>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was accepted or declined.
    pub decided_at: Option<DateTime<Utc>>,
}

/// Who submitted a referral.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Submitter {
    /// `client` (a GP, youth doctor or GI system) or `user`.
    pub kind: String,
    pub id: Uuid,
    /// The client's organisation, or the user's display name.
    pub name: String,
}

/// A person named in a referral, as the team lead sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferralPersonView {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn: Option<String>,
}

/// A family that may be the referred child's, for review.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub family_id: Uuid,
    pub family_name: String,
}

/// A referral as the intake queue shows it to the team lead.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Referral {
    pub id: Uuid,
    pub external_reference: String,
    pub status: ReferralStatus,
    pub municipality_code: String,
    pub referrer_type: String,
    pub referrer_agb_code: Option<String>,
    pub referrer_name: Option<String>,
    pub submitted_by: Submitter,
    pub child: ReferralPersonView,
    pub parents: Vec<ReferralPersonView>,
    pub reason: String,
    pub urgency: Urgency,
    pub requested_care_form_code: Option<String>,
    pub requested_provider_agb_code: Option<String>,
    pub requested_provider_id: Option<Uuid>,
    /// How the family was found.
    pub match_basis: Option<MatchBasis>,
    pub family_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    /// The requested involvement made from the requested provider and care form.
    pub involvement_id: Option<Uuid>,
    /// For `needs_review`: families with a child of the same name and birth date.
    pub candidates: Vec<Candidate>,
    pub decline_reason_code: Option<String>,
    pub decline_note: Option<String>,
    pub decided_by: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

crate::page_type!(
    ReferralPage,
    Referral,
    "A page of the intake queue, oldest first."
);
crate::page_type!(
    ReferralStatusPage,
    ReferralStatusView,
    "A page of your own referrals, oldest first."
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// Only referrals in this status.
    pub status: Option<ReferralStatus>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcceptReferral {
    /// For a referral in `needs_review`: the family it belongs to (one of
    /// the candidates, or any family of the municipality). Without it a new
    /// family with an intake plan is registered.
    pub family_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeclineReferral {
    /// iJw WJ759 code `5` (other municipality), `6` (stacked care), `7`
    /// (care content), `8` (residence principle), or `duplicate` or `other`.
    #[schema(example = "6")]
    pub reason_code: String,
    /// Required with `other`.
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}
