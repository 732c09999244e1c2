//! Request and response shapes of referrals, and their parsing into
//! validated values.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::referrals::{self, MatchBasis, ReferralStatus, Referrer, Urgency};
use crate::domain::{
    text, AgbCode, FamilyId, InvolvementId, MemberRole, MunicipalityCode, PlanId, ProviderId,
    ReferralId, UserId,
};
use crate::error::{checked, ApiResult, ErrorCode, Invalid};
use crate::families::model::MemberSpec;

/// Parents named in one referral, at most.
pub const MAX_PARENTS: usize = 4;

/// A person named in a referral.
/// The same rules as a family member's (`families::model::NewMember`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReferralPerson {
    #[schema(example = "Sanne", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub given_name: String,
    #[schema(example = "Jansen", min_length = 1, max_length = 200)]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub family_name: String,
    #[schema(example = "2015-03-14")]
    #[validate(custom(function = "crate::http::validation::birth_date"))]
    pub birth_date: NaiveDate,
    /// Burgerservicenummer: 9 digits passing the 11-proof.
    #[schema(example = "111222333", pattern = "^[0-9]{9}$")]
    #[validate(custom(function = "crate::http::validation::bsn"))]
    pub bsn: Option<String>,
}

impl ReferralPerson {
    fn spec(&self, role: MemberRole) -> ApiResult<MemberSpec> {
        MemberSpec::checked(
            role,
            &self.given_name,
            &self.family_name,
            self.birth_date,
            self.bsn.as_deref(),
        )
    }
}

/// A referral as a referrer sends it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewReferral {
    /// The referrer's own reference (shown back with the status).
    #[schema(example = "HIS-2026-000123", min_length = 1, max_length = 100)]
    #[validate(custom(function = "crate::http::validation::required_text::<100>"))]
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
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: String,
    #[validate(nested)]
    pub child: ReferralPerson,
    #[schema(max_items = 4)]
    #[validate(
        custom(
            function = "crate::http::validation::at_most::<MAX_PARENTS, ReferralPerson>",
            message = "At most 4 parents."
        ),
        nested
    )]
    pub parents: Option<Vec<ReferralPerson>>,
    /// Why help is asked.
    #[schema(min_length = 1, max_length = 4000)]
    #[validate(custom(function = "crate::http::validation::required_text::<4000>"))]
    pub reason: String,
    pub urgency: Urgency,
    /// A care form of the catalogue (`GET /v1/care-forms`).
    #[schema(example = "ambulant_licht")]
    pub requested_care_form_code: Option<String>,
    /// AGB code of a registered provider.
    #[schema(pattern = "^[0-9]{8}$")]
    #[validate(custom(function = "crate::http::validation::agb_code"))]
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

impl NewReferral {
    /// The referral, or 400 naming every offending field; `known_care_form`
    /// says whether a care-form code is in the region's catalogue.
    pub fn parse(&self, known_care_form: impl Fn(&str) -> bool) -> ApiResult<ReferralSpec> {
        let mut v = Invalid::validated(self);
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
        let parents = self.parents.as_deref().unwrap_or_default();
        // One person, one BSN: the same BSN twice cannot be two people.
        let mut seen: Vec<&str> = Vec::new();
        let people = std::iter::once(&self.child).chain(parents);
        for (i, bsn) in people.map(|p| p.bsn.as_deref()).enumerate() {
            let Some(bsn) = bsn else { continue };
            if seen.contains(&bsn) {
                let field = match i {
                    0 => "child.bsn".to_owned(),
                    _ => format!("parents[{}].bsn", i - 1),
                };
                v.push(
                    field,
                    ErrorCode::Duplicate,
                    "The same BSN is given for two people.",
                );
            }
            seen.push(bsn);
        }
        let care_form = self.requested_care_form_code.as_deref();
        if care_form.is_some_and(|code| !known_care_form(code)) {
            v.push(
                "requestedCareFormCode",
                ErrorCode::UnknownCareForm,
                "Not a care form of the catalogue (GET /v1/care-forms).",
            );
        }
        let (referrer,) = v.finish((referrer,))?;
        Ok(ReferralSpec {
            external_reference: checked(text::required(&self.external_reference, 100))?,
            referrer,
            municipality: checked(MunicipalityCode::parse(&self.municipality_code))?,
            child: self.child.spec(MemberRole::Child)?,
            parents: parents
                .iter()
                .map(|p| p.spec(MemberRole::Parent))
                .collect::<ApiResult<_>>()?,
            reason: checked(text::required(&self.reason, 4000))?,
            urgency: self.urgency,
            care_form_code: care_form.map(str::to_owned),
            provider_agb: checked(
                self.requested_provider_agb_code
                    .as_deref()
                    .map(AgbCode::parse)
                    .transpose(),
            )?,
        })
    }
}

/// What a referrer sees of its referral: status and dates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferralStatusView {
    pub id: ReferralId,
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
    pub id: uuid::Uuid,
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
    pub family_id: FamilyId,
    pub family_name: String,
}

/// A referral as the intake queue shows it to the team lead.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Referral {
    pub id: ReferralId,
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
    pub requested_provider_id: Option<ProviderId>,
    /// How the family was found.
    pub match_basis: Option<MatchBasis>,
    pub family_id: Option<FamilyId>,
    pub plan_id: Option<PlanId>,
    /// The requested involvement made from the requested provider and care form.
    pub involvement_id: Option<InvolvementId>,
    /// For `needs_review`: families with a child of the same name and birth date.
    pub candidates: Vec<Candidate>,
    pub decline_reason_code: Option<String>,
    pub decline_note: Option<String>,
    pub decided_by: Option<UserId>,
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

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcceptReferral {
    /// For a referral in `needs_review`: the family it belongs to (one of
    /// the candidates, or any family of the municipality). Without it a new
    /// family with an intake plan is registered.
    pub family_id: Option<FamilyId>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeclineReferral {
    /// iJw WJ759 code `5` (other municipality), `6` (stacked care), `7`
    /// (care content), `8` (residence principle), or `duplicate` or `other`.
    #[schema(example = "6")]
    pub reason_code: String,
    /// Required with `other`.
    #[schema(max_length = 2000)]
    #[validate(custom(function = "crate::http::validation::optional_text::<2000>"))]
    pub note: Option<String>,
}
