//! Referrals (verwijzingen): the iJw rules for who may refer and how the
//! referrer is named, the status life cycle, and the decline reasons. Pure
//! rules; the matching into a family's plan lives in `crate::referrals`.

use super::ErrorCode;
use super::{AgbCode, DomainError};

/// iJw referrer type (COD327). Code `07` (no longer in use in iJw 3) and any
/// other value are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferrerType {
    /// 01 gemeente
    Municipality,
    /// 02 huisarts
    GeneralPractitioner,
    /// 03 jeugdarts
    YouthDoctor,
    /// 04 gecertificeerde instelling
    CertifiedInstitution,
    /// 05 medisch specialist
    MedicalSpecialist,
    /// 06 zelfverwijzer / geen verwijzer
    SelfReferral,
    /// 08 rechter, officier van justitie of JJI
    Judiciary,
}

impl ReferrerType {
    pub const ALL: &'static [ReferrerType] = &[
        Self::Municipality,
        Self::GeneralPractitioner,
        Self::YouthDoctor,
        Self::CertifiedInstitution,
        Self::MedicalSpecialist,
        Self::SelfReferral,
        Self::Judiciary,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Municipality => "01",
            Self::GeneralPractitioner => "02",
            Self::YouthDoctor => "03",
            Self::CertifiedInstitution => "04",
            Self::MedicalSpecialist => "05",
            Self::SelfReferral => "06",
            Self::Judiciary => "08",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.code() == code)
            .ok_or_else(|| {
                DomainError::new(
                    ErrorCode::UnknownReferrerType,
                    "Not an iJw referrer type (COD327): use 01, 02, 03, 04, 05, 06 or 08.",
                )
            })
    }

    /// iJw CD066-CD068: GPs, youth doctors, GIs and medical specialists are
    /// named by exactly one of an AGB code or a name.
    pub fn is_care_professional(self) -> bool {
        matches!(
            self,
            Self::GeneralPractitioner
                | Self::YouthDoctor
                | Self::CertifiedInstitution
                | Self::MedicalSpecialist
        )
    }
}

impl super::TextCode for ReferrerType {
    fn text(self) -> &'static str {
        self.code()
    }

    fn from_text(text: &str) -> Option<Self> {
        Self::parse(text).ok()
    }
}

/// The referrer as iJw names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub kind: ReferrerType,
    pub agb_code: Option<AgbCode>,
    pub name: Option<String>,
}

/// Which field is wrong and why, for a 400 naming it.
pub type FieldError = (&'static str, DomainError);

/// Applies iJw CD066-CD068 to a referrer: for types 02-05 exactly one of
/// AGB code (8 digits) and name; for other types no AGB code (a name may be
/// given, e.g. the court).
pub fn referrer(
    kind: &str,
    agb_code: Option<&str>,
    name: Option<&str>,
) -> Result<Referrer, Vec<FieldError>> {
    let mut errors = Vec::new();
    let kind = ReferrerType::parse(kind).map_err(|e| vec![("referrerType", e)])?;
    let agb = match agb_code {
        None => None,
        Some(code) => match AgbCode::parse(code) {
            Ok(code) => Some(code),
            Err(e) => {
                errors.push(("referrerAgbCode", e));
                None
            }
        },
    };
    let name = match name.map(|n| super::text::required(n, 200)) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            errors.push(("referrerName", e));
            None
        }
    };
    if kind.is_care_professional() {
        match (agb_code.is_some(), name.is_some() || errors.iter().any(|e| e.0 == "referrerName")) {
            (false, false) => errors.push((
                "referrerAgbCode",
                DomainError::new(
                    ErrorCode::Required,
                    "Referrer types 02 to 05 name the referrer by referrerAgbCode or referrerName (iJw CD066).",
                ),
            )),
            (true, true) => errors.push((
                "referrerName",
                DomainError::new(
                    ErrorCode::NotAllowed,
                    "Give either referrerAgbCode or referrerName, not both (iJw CD068).",
                ),
            )),
            _ => {}
        }
    } else if agb_code.is_some() {
        errors.retain(|e| e.0 != "referrerAgbCode");
        errors.push((
            "referrerAgbCode",
            DomainError::new(
                ErrorCode::NotAllowed,
                "Only referrer types 02 to 05 carry an AGB code (iJw CD067).",
            ),
        ));
    }
    if errors.is_empty() {
        Ok(Referrer {
            kind,
            agb_code: agb,
            name,
        })
    } else {
        Err(errors)
    }
}

crate::string_enum! {
    /// Where a referral is in its life: `received` while it is being matched,
    /// `needs_review` when a person must decide which family it is,
    /// `matched` when it joined a family's plan, then `accepted` or
    /// `declined` by the team lead.
    ReferralStatus {
        Received => "received",
        NeedsReview => "needs_review",
        Matched => "matched",
        Accepted => "accepted",
        Declined => "declined",
    }
}

impl ReferralStatus {
    /// Accepted and declined are final.
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Accepted | Self::Declined)
    }

    /// The status a machine client sees: `received` until the decision.
    /// Whether a referral matched a family or waits for review says whether
    /// the child is known to youth care, which is not the referrer's to
    /// learn (issue 15 item 9); staff see the real status.
    pub fn as_seen_by_client(self) -> Self {
        if self.is_decided() {
            self
        } else {
            Self::Received
        }
    }
}

crate::string_enum! {
    /// How soon the referrer asks for help.
    Urgency {
        Regular => "regular",
        Urgent => "urgent",
    }
}

crate::string_enum! {
    /// How a referral found its family.
    MatchBasis {
        /// The child's BSN is a member of the family.
        Bsn => "bsn",
        /// Nobody matched: a new family was registered.
        NewFamily => "new_family",
        /// No BSN match, but a child of the same name and birth date: review.
        NameAndBirthDate => "name_and_birth_date",
        /// The child's BSN belongs to a family of another municipality: review.
        BsnInOtherMunicipality => "bsn_in_other_municipality",
        /// The team lead chose the family when accepting.
        ChosenByTeamLead => "chosen_by_team_lead",
        /// The child's BSN is known here, but the name or birth date sent
        /// with it disagree with that child's: review, never joined on the
        /// BSN alone (issue 15 item 3: a BSN by itself opens no family).
        BsnDetailsDiffer => "bsn_details_differ",
    }
}

/// Why a referral is declined: iJw WJ759 codes where they fit, and two
/// local codes for what WJ759 has no code for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineReason {
    /// WJ759 5: the child lives in another municipality.
    OtherMunicipality,
    /// WJ759 6: stacking of care (stapeling).
    StackedCare,
    /// WJ759 7: refused on the content of care (zorginhoudelijke afkeur).
    CareContent,
    /// WJ759 8: another municipality is responsible (woonplaatsbeginsel).
    ResidencePrinciple,
    /// The same request is already being handled (local code).
    Duplicate,
    /// Anything else; the note says what (local code).
    Other,
}

impl DeclineReason {
    pub const ALL: &'static [DeclineReason] = &[
        Self::OtherMunicipality,
        Self::StackedCare,
        Self::CareContent,
        Self::ResidencePrinciple,
        Self::Duplicate,
        Self::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::OtherMunicipality => "5",
            Self::StackedCare => "6",
            Self::CareContent => "7",
            Self::ResidencePrinciple => "8",
            Self::Duplicate => "duplicate",
            Self::Other => "other",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        Self::ALL
            .iter()
            .copied()
            .find(|r| r.code() == code)
            .ok_or_else(|| {
                DomainError::new(
                    ErrorCode::UnknownReasonCode,
                    "Use WJ759 code 5 (other municipality), 6 (stacked care), 7 (care content), 8 (residence principle), or duplicate or other.",
                )
            })
    }

    /// `other` says nothing by itself, so it needs a note.
    pub fn needs_note(self) -> bool {
        self == Self::Other
    }
}

impl super::TextCode for DeclineReason {
    fn text(self) -> &'static str {
        self.code()
    }

    fn from_text(text: &str) -> Option<Self> {
        Self::parse(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<Referrer, Vec<FieldError>>) -> Vec<(&'static str, &'static str)> {
        match r {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|(f, e)| (f, e.code.as_str())).collect(),
        }
    }

    #[test]
    fn care_professionals_need_exactly_one_of_agb_code_and_name() {
        for kind in ["02", "03", "04", "05"] {
            assert_eq!(fields(referrer(kind, Some("01234567"), None)), vec![]);
            assert_eq!(fields(referrer(kind, None, Some("Dr. Visser"))), vec![]);
            assert_eq!(
                fields(referrer(kind, None, None)),
                vec![("referrerAgbCode", "required")],
                "{kind}"
            );
            assert_eq!(
                fields(referrer(kind, Some("01234567"), Some("Dr. Visser"))),
                vec![("referrerName", "not_allowed")],
                "{kind}"
            );
            assert_eq!(
                fields(referrer(kind, Some("1234567"), None)),
                vec![("referrerAgbCode", "invalid_agb_code")],
                "{kind}"
            );
        }
    }

    #[test]
    fn other_types_carry_no_agb_code() {
        for kind in ["01", "06", "08"] {
            assert_eq!(fields(referrer(kind, None, None)), vec![]);
            assert_eq!(fields(referrer(kind, None, Some("Rechtbank"))), vec![]);
            assert_eq!(
                fields(referrer(kind, Some("01234567"), None)),
                vec![("referrerAgbCode", "not_allowed")],
                "{kind}"
            );
            assert_eq!(
                fields(referrer(kind, Some("123"), None)),
                vec![("referrerAgbCode", "not_allowed")],
                "{kind}"
            );
        }
    }

    #[test]
    fn unknown_referrer_types_are_refused() {
        for kind in ["07", "00", "09", "2", "", "huisarts"] {
            assert_eq!(
                fields(referrer(kind, None, None)),
                vec![("referrerType", "unknown_referrer_type")],
                "{kind}"
            );
        }
        let codes: Vec<_> = ReferrerType::ALL.iter().map(|t| t.code()).collect();
        assert_eq!(codes, ["01", "02", "03", "04", "05", "06", "08"]);
    }

    #[test]
    fn decline_reasons_round_trip_and_other_needs_a_note() {
        for r in DeclineReason::ALL {
            assert_eq!(DeclineReason::parse(r.code()), Ok(*r));
        }
        assert!(DeclineReason::parse("9").is_err());
        assert!(DeclineReason::Other.needs_note());
        assert!(!DeclineReason::StackedCare.needs_note());
    }

    #[test]
    fn only_accepted_and_declined_are_final() {
        let decided: Vec<_> = ReferralStatus::ALL
            .iter()
            .filter(|s| s.is_decided())
            .collect();
        assert_eq!(
            decided,
            [&ReferralStatus::Accepted, &ReferralStatus::Declined]
        );
    }
}
