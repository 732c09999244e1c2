//! Who may do what: every authorisation rule of DESIGN section 6 in one
//! place. Handlers load the facts (the family's municipality and team, the
//! plan's current director) and ask these functions; nothing else decides.
//!
//! Outcomes follow DESIGN section 5: `Hidden` (404) when the resource lies
//! outside the caller's municipality, so ids do not leak; `Forbidden` (403)
//! when the caller can know it exists but lacks the right.

use super::client::{Caller, ClientPrincipal, SCOPE_REFERRALS_READ, SCOPE_REFERRALS_WRITE};
use super::Principal;
use crate::domain::referrals::Referrer;
use crate::domain::{ClientId, FamilyId, ProviderId, Role, TeamId, UserId};
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Forbidden,
    Hidden,
}

impl Denial {
    pub fn into_error(self, what: &str) -> ApiError {
        match self {
            Denial::Forbidden => {
                ApiError::forbidden(format!("You may not do this with this {what}."))
            }
            Denial::Hidden => ApiError::not_found(&capitalise(what)),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub type Decision = Result<(), Denial>;

/// Facts about a family that decide access to it and its plans.
#[derive(Debug, Clone)]
pub struct FamilyFacts {
    pub family_id: FamilyId,
    pub municipality_code: String,
    pub team_id: TeamId,
    /// Director of the family's open plan, if any.
    pub director_id: Option<UserId>,
}

fn is_director(p: &Principal, f: &FamilyFacts) -> bool {
    f.director_id == Some(p.user_id)
}

/// Roles that never see case content get 403 before anything is looked up.
pub fn case_role(p: &Principal) -> Decision {
    if p.role.is_case_role() {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Administration (municipalities, teams, users): admins only.
pub fn admin(p: &Principal) -> Decision {
    if p.role == Role::Admin {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Reading a family, its members and its plans.
pub fn read_family(p: &Principal, f: &FamilyFacts) -> Decision {
    case_role(p)?;
    if is_director(p, f) {
        return Ok(());
    }
    if !p.serves(&f.municipality_code) {
        return Err(Denial::Hidden);
    }
    match p.role {
        Role::TeamLead if p.municipality_code.as_deref() == Some(&f.municipality_code) => Ok(()),
        Role::JgtWorker if p.team_id == Some(f.team_id) => Ok(()),
        _ => Err(Denial::Forbidden),
    }
}

/// How a read of a family was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAccess {
    /// Within the caller's normal reach ([`read_family`]).
    Normal,
    /// Outside it, by breaking the glass with a stated reason: the read is
    /// audited as emergency access and listed for the team lead to review.
    Emergency,
}

/// Who may break the glass on a family: JGT and GI workers, for families of
/// the municipalities they work for (a GI worker: every municipality it
/// serves). Team leads already reach every family of their municipality,
/// so for them there is no glass to break; provider users only ever get
/// their provider's limited view, and auditors and admins no case content.
pub fn may_break_glass(p: &Principal, f: &FamilyFacts) -> bool {
    matches!(p.role, Role::JgtWorker | Role::GiWorker) && p.serves(&f.municipality_code)
}

/// Reading a family and its plans, with emergency access: when the normal
/// rule refuses with 403 and the caller stated a reason, a caller who may
/// break the glass gets in. The reason changes nothing for a caller with
/// normal access (no emergency is recorded), and never opens a family that
/// is hidden (another municipality stays 404).
pub fn read_family_or_break_glass(
    p: &Principal,
    f: &FamilyFacts,
    reason_given: bool,
) -> Result<ReadAccess, Denial> {
    match read_family(p, f) {
        Ok(()) => Ok(ReadAccess::Normal),
        Err(Denial::Forbidden) if reason_given && may_break_glass(p, f) => {
            Ok(ReadAccess::Emergency)
        }
        Err(denial) => Err(denial),
    }
}

/// Changing a family's record and members: whoever may read it, except that
/// a GI worker only does so as the director.
pub fn write_family(p: &Principal, f: &FamilyFacts) -> Decision {
    read_family(p, f)
}

/// Registering a family for a municipality and team.
pub fn create_family(p: &Principal, municipality: &str, team_id: TeamId) -> Decision {
    case_role(p)?;
    match p.role {
        Role::TeamLead if p.municipality_code.as_deref() == Some(municipality) => Ok(()),
        Role::JgtWorker
            if p.municipality_code.as_deref() == Some(municipality)
                && p.team_id == Some(team_id) =>
        {
            Ok(())
        }
        _ => Err(Denial::Forbidden),
    }
}

/// Opening a plan: the team lead, or a JGT worker of the family's team.
pub fn open_plan(p: &Principal, f: &FamilyFacts) -> Decision {
    read_family(p, f)?;
    match p.role {
        Role::TeamLead => Ok(()),
        Role::JgtWorker if p.team_id == Some(f.team_id) => Ok(()),
        _ => Err(Denial::Forbidden),
    }
}

/// Changing a plan (content, closing, handing over): the team lead of the
/// municipality or the plan's current director.
pub fn change_plan(p: &Principal, f: &FamilyFacts) -> Decision {
    read_family(p, f)?;
    if is_director(p, f) || p.role == Role::TeamLead {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// A provider user reads a plan of its own municipality in which its
/// provider has requested or active care (`providers`: care that still
/// waits for a referral's acceptance left out, as it grants nothing).
/// Everything else is hidden (404), so a provider learns nothing about
/// plans it is not part of.
pub fn provider_read_plan(p: &Principal, municipality: &str, providers: &[ProviderId]) -> Decision {
    let own = p.role == Role::ProviderUser
        && p.municipality_code.as_deref() == Some(municipality)
        && p.provider_id.is_some_and(|id| providers.contains(&id));
    if own {
        Ok(())
    } else {
        Err(Denial::Hidden)
    }
}

/// A provider user starts and ends only its own provider's involvements, in
/// its own municipality; other involvements are hidden (404), and so is
/// care a referral requested until the municipality accepts that referral
/// (issue 15 item 3: a referral alone grants its provider nothing).
pub fn provider_change_involvement(
    p: &Principal,
    municipality: &str,
    provider: ProviderId,
    awaiting_referral: bool,
) -> Decision {
    if awaiting_referral {
        return Err(Denial::Hidden);
    }
    provider_read_plan(p, municipality, &[provider])
}

/// The provider work list: provider users only.
pub fn provider_worklist(p: &Principal) -> Decision {
    if p.role == Role::ProviderUser && p.provider_id.is_some() {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Aggregate reports at all: auditors and team leads (of their own
/// municipality, see [`read_report`]) and admins. Other roles are refused
/// before anything about the request is looked at.
pub fn reports(p: &Principal) -> Decision {
    match p.role {
        Role::Admin | Role::Auditor | Role::TeamLead => Ok(()),
        _ => Err(Denial::Forbidden),
    }
}

/// The aggregate report of one municipality: auditors and team leads of
/// that municipality; admins of any, because the figures are aggregates
/// with small counts suppressed, not personal data. Another municipality
/// is hidden (404), like every resource outside the caller's own.
pub fn read_report(p: &Principal, municipality: &str) -> Decision {
    reports(p)?;
    match p.role {
        Role::Admin => Ok(()),
        _ if p.municipality_code.as_deref() == Some(municipality) => Ok(()),
        _ => Err(Denial::Hidden),
    }
}

/// The account-approval requests of a municipality (issue 15 item 8): its
/// team leads and auditors see them, for their own municipality only (the
/// one returned). Everyone else, admins included, is refused.
pub fn list_account_approvals(p: &Principal) -> Result<String, Denial> {
    match p.role {
        Role::TeamLead | Role::Auditor => p.municipality_code.clone().ok_or(Denial::Forbidden),
        _ => Err(Denial::Forbidden),
    }
}

/// Facts about a request to approve an account whose credentials an admin
/// set.
#[derive(Debug, Clone)]
pub struct ApprovalFacts {
    /// The account waiting.
    pub user_id: UserId,
    pub municipality_code: String,
    /// The admin who set the credential.
    pub requested_by: Option<UserId>,
}

/// Approving an account an admin set up: a team lead of the account's
/// municipality, never for their own account, never the admin who asked.
/// Another municipality's request is hidden (404); an auditor of the same
/// municipality may see it but not approve it (403).
pub fn approve_account(p: &Principal, a: &ApprovalFacts) -> Decision {
    list_account_approvals(p)?;
    if p.municipality_code.as_deref() != Some(a.municipality_code.as_str()) {
        return Err(Denial::Hidden);
    }
    let someone_else = p.user_id != a.user_id && Some(p.user_id) != a.requested_by;
    if p.role == Role::TeamLead && someone_else {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Facts about a user whose caseload is asked for.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub user_id: UserId,
    pub municipality_code: Option<String>,
    pub served_municipalities: Vec<String>,
}

/// A caseload: one's own, or, for a team lead, anyone working in the
/// municipality (GI workers serving it included).
pub fn read_caseload(p: &Principal, u: &UserFacts) -> Decision {
    case_role(p)?;
    if p.user_id == u.user_id {
        return Ok(());
    }
    let Some(own) = p.municipality_code.as_deref() else {
        return Err(Denial::Forbidden);
    };
    let works_here = u.municipality_code.as_deref() == Some(own)
        || u.served_municipalities.iter().any(|m| m == own);
    if !works_here {
        return Err(Denial::Hidden);
    }
    if p.role == Role::TeamLead {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Submitting a referral as a user: JGT and GI roles, for a municipality
/// they work for.
pub fn submit_referral(p: &Principal, municipality: &str) -> Decision {
    if p.role.is_case_role() && p.serves(municipality) {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Submitting a referral as a machine client: with the write scope, for a
/// municipality it serves, and only as itself (its own referrer type and
/// AGB code). Refusals name their reason as a stable code.
pub fn client_submit_referral(
    c: &ClientPrincipal,
    municipality: &str,
    referrer: &Referrer,
) -> Result<(), ErrorCode> {
    if !c.has_scope(SCOPE_REFERRALS_WRITE) {
        return Err(ErrorCode::InsufficientScope);
    }
    if !c.serves(municipality) {
        return Err(ErrorCode::MunicipalityNotServed);
    }
    let agb = referrer.agb_code.as_ref().map(|a| a.as_str());
    if referrer.kind != c.referrer_type || agb != c.agb_code.as_deref() {
        return Err(ErrorCode::ReferrerMismatch);
    }
    Ok(())
}

/// Facts about a referral that decide access to it.
#[derive(Debug, Clone)]
pub struct ReferralFacts {
    pub municipality_code: String,
    pub client_id: Option<ClientId>,
    pub submitted_by: Option<UserId>,
}

/// How much of a referral a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferralAccess {
    /// The intake queue's view: the team lead of the municipality.
    Full,
    /// Status and dates: the referrer that submitted it.
    StatusOnly,
}

/// Reading a referral: the municipality's team lead in full, its submitter
/// (client with the read scope, or user) status and dates only. Another
/// client's referral is hidden (404), like another municipality's.
pub fn read_referral(caller: &Caller, r: &ReferralFacts) -> Result<ReferralAccess, Denial> {
    match caller {
        Caller::Client(c) => {
            if r.client_id != Some(c.client_id) {
                Err(Denial::Hidden)
            } else if c.has_scope(SCOPE_REFERRALS_READ) {
                Ok(ReferralAccess::StatusOnly)
            } else {
                Err(Denial::Forbidden)
            }
        }
        Caller::User(p) => {
            if p.role == Role::TeamLead
                && p.municipality_code.as_deref() == Some(r.municipality_code.as_str())
            {
                Ok(ReferralAccess::Full)
            } else if r.submitted_by == Some(p.user_id) {
                Ok(ReferralAccess::StatusOnly)
            } else if p.role.is_case_role() && p.serves(&r.municipality_code) {
                Err(Denial::Forbidden)
            } else {
                Err(Denial::Hidden)
            }
        }
    }
}

/// Accepting and declining: the team lead of the referral's municipality.
pub fn decide_referral(p: &Principal, r: &ReferralFacts) -> Decision {
    if p.role == Role::TeamLead
        && p.municipality_code.as_deref() == Some(r.municipality_code.as_str())
    {
        Ok(())
    } else if p.role.is_case_role() && p.serves(&r.municipality_code) {
        Err(Denial::Forbidden)
    } else {
        Err(Denial::Hidden)
    }
}

/// Whose audit trail a caller may read: admins every municipality's (`None`
/// when they name none), auditors only their own (the default for them;
/// another municipality is hidden). Nobody else: the trail names who looked
/// at which family, which is itself personal data.
pub fn read_audit(p: &Principal, requested: Option<&str>) -> Result<Option<String>, Denial> {
    match p.role {
        Role::Admin => Ok(requested.map(str::to_owned)),
        Role::Auditor => {
            let own = p.municipality_code.as_deref().ok_or(Denial::Forbidden)?;
            match requested {
                Some(code) if code != own => Err(Denial::Hidden),
                _ => Ok(Some(own.to_owned())),
            }
        }
        _ => Err(Denial::Forbidden),
    }
}

/// The list of emergency accesses to review: the team lead and the auditor
/// of a municipality (its own only; the list is filtered by it). Everyone
/// else is refused.
pub fn review_emergency_access(p: &Principal) -> Decision {
    match p.role {
        Role::TeamLead | Role::Auditor if p.municipality_code.is_some() => Ok(()),
        _ => Err(Denial::Forbidden),
    }
}

/// Everyone but admins, who administer the system and never see family
/// data (refused before anything is looked up, so ids do not leak).
pub fn family_data_role(p: &Principal) -> Decision {
    if p.role == Role::Admin {
        Err(Denial::Forbidden)
    } else {
        Ok(())
    }
}

/// Reading a family's access log (its right of access, AVG art. 15): the
/// team lead and the auditor of the family's municipality, who answer such
/// requests, and the family's current director, who may be asked by the
/// family itself. Other case roles of the municipality get 403; provider
/// users and anyone outside it 404. Emergency access does not extend to it.
pub fn read_access_log(p: &Principal, f: &FamilyFacts) -> Decision {
    if is_director(p, f) {
        return Ok(());
    }
    let home = p.municipality_code.as_deref() == Some(f.municipality_code.as_str());
    match p.role {
        Role::TeamLead | Role::Auditor if home => Ok(()),
        Role::Admin => Err(Denial::Forbidden),
        Role::ProviderUser => Err(Denial::Hidden),
        Role::JgtWorker | Role::GiWorker if p.serves(&f.municipality_code) => {
            Err(Denial::Forbidden)
        }
        _ => Err(Denial::Hidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request_context::RequestContext;

    fn principal(role: Role, municipality: &str, team: Option<TeamId>) -> Principal {
        Principal {
            user_id: UserId::new(),
            session_id: crate::domain::SessionId::new(),
            username: "u".into(),
            display_name: "U".into(),
            role,
            municipality_code: (role != Role::Admin).then(|| municipality.to_owned()),
            team_id: team,
            served_municipalities: vec![],
            provider_id: None,
            request: RequestContext {
                request_id: "r".into(),
                client_request_id: None,
                path: "/".into(),
                ip: None,
            },
        }
    }

    fn family(municipality: &str, team: TeamId, director: Option<UserId>) -> FamilyFacts {
        FamilyFacts {
            family_id: FamilyId::new(),
            municipality_code: municipality.into(),
            team_id: team,
            director_id: director,
        }
    }

    #[test]
    fn team_lead_reads_every_family_of_its_municipality_only() {
        let team = TeamId::new();
        let lead = principal(Role::TeamLead, "0546", None);
        assert_eq!(read_family(&lead, &family("0546", team, None)), Ok(()));
        assert_eq!(
            read_family(&lead, &family("0537", team, None)),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn jgt_worker_reads_own_team_or_directed_families() {
        let team = TeamId::new();
        let other_team = TeamId::new();
        let worker = principal(Role::JgtWorker, "0546", Some(team));
        assert_eq!(read_family(&worker, &family("0546", team, None)), Ok(()));
        assert_eq!(
            read_family(&worker, &family("0546", other_team, None)),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            read_family(&worker, &family("0546", other_team, Some(worker.user_id))),
            Ok(())
        );
        assert_eq!(
            read_family(&worker, &family("0537", other_team, None)),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn gi_worker_reads_only_directed_families() {
        let mut gi = principal(Role::GiWorker, "0546", None);
        gi.served_municipalities = vec!["0537".into()];
        let team = TeamId::new();
        assert_eq!(
            read_family(&gi, &family("0537", team, None)),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            read_family(&gi, &family("0999", team, None)),
            Err(Denial::Hidden)
        );
        assert_eq!(
            read_family(&gi, &family("0537", team, Some(gi.user_id))),
            Ok(())
        );
    }

    #[test]
    fn admins_and_auditors_never_see_families() {
        let team = TeamId::new();
        for role in [Role::Admin, Role::Auditor, Role::ProviderUser] {
            let p = principal(role, "0546", None);
            assert_eq!(
                read_family(&p, &family("0546", team, None)),
                Err(Denial::Forbidden),
                "{role}"
            );
        }
    }

    #[test]
    fn only_lead_or_director_change_a_plan() {
        let team = TeamId::new();
        let worker = principal(Role::JgtWorker, "0546", Some(team));
        let lead = principal(Role::TeamLead, "0546", None);
        assert_eq!(
            change_plan(&worker, &family("0546", team, None)),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            change_plan(&worker, &family("0546", team, Some(worker.user_id))),
            Ok(())
        );
        assert_eq!(change_plan(&lead, &family("0546", team, None)), Ok(()));
    }

    #[test]
    fn provider_users_see_only_plans_of_their_provider_in_their_municipality() {
        let own = ProviderId::new();
        let other = ProviderId::new();
        let mut p = principal(Role::ProviderUser, "0546", None);
        p.provider_id = Some(own);
        assert_eq!(provider_read_plan(&p, "0546", &[other, own]), Ok(()));
        assert_eq!(
            provider_read_plan(&p, "0546", &[other]),
            Err(Denial::Hidden)
        );
        assert_eq!(provider_read_plan(&p, "0537", &[own]), Err(Denial::Hidden));
        assert_eq!(provider_change_involvement(&p, "0546", own, false), Ok(()));
        assert_eq!(
            provider_change_involvement(&p, "0546", other, false),
            Err(Denial::Hidden)
        );
        // Care waiting for a referral's acceptance is not the provider's yet.
        assert_eq!(
            provider_change_involvement(&p, "0546", own, true),
            Err(Denial::Hidden)
        );
        // A JGT worker is never let in through the provider rules.
        let worker = principal(Role::JgtWorker, "0546", Some(TeamId::new()));
        assert_eq!(
            provider_read_plan(&worker, "0546", &[own]),
            Err(Denial::Hidden)
        );
        assert_eq!(provider_worklist(&worker), Err(Denial::Forbidden));
        assert_eq!(provider_worklist(&p), Ok(()));
    }

    #[test]
    fn reports_are_for_auditors_and_leads_of_their_municipality_and_admins() {
        for role in [Role::Auditor, Role::TeamLead] {
            let p = principal(role, "0546", None);
            assert_eq!(read_report(&p, "0546"), Ok(()), "{role}");
            assert_eq!(read_report(&p, "0537"), Err(Denial::Hidden), "{role}");
        }
        let admin = principal(Role::Admin, "0546", None);
        assert_eq!(read_report(&admin, "0537"), Ok(()));
        for role in [Role::JgtWorker, Role::GiWorker, Role::ProviderUser] {
            let p = principal(role, "0546", Some(TeamId::new()));
            assert_eq!(reports(&p), Err(Denial::Forbidden), "{role}");
            assert_eq!(read_report(&p, "0546"), Err(Denial::Forbidden), "{role}");
        }
    }

    #[test]
    fn jgt_worker_creates_families_only_for_its_own_team() {
        let team = TeamId::new();
        let worker = principal(Role::JgtWorker, "0546", Some(team));
        assert_eq!(create_family(&worker, "0546", team), Ok(()));
        assert_eq!(
            create_family(&worker, "0546", TeamId::new()),
            Err(Denial::Forbidden)
        );
        assert_eq!(create_family(&worker, "0537", team), Err(Denial::Forbidden));
    }

    #[test]
    fn workers_break_the_glass_only_within_the_municipalities_they_work_for() {
        let team = TeamId::new();
        let other_team = TeamId::new();
        let worker = principal(Role::JgtWorker, "0546", Some(team));
        let leiden_elsewhere = family("0546", other_team, None);
        // Without a reason the normal refusal stands.
        assert_eq!(
            read_family_or_break_glass(&worker, &leiden_elsewhere, false),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            read_family_or_break_glass(&worker, &leiden_elsewhere, true),
            Ok(ReadAccess::Emergency)
        );
        // Another municipality stays hidden, reason or not.
        assert_eq!(
            read_family_or_break_glass(&worker, &family("0537", other_team, None), true),
            Err(Denial::Hidden)
        );
        let mut gi = principal(Role::GiWorker, "0537", None);
        gi.served_municipalities = vec!["0546".into()];
        assert_eq!(
            read_family_or_break_glass(&gi, &leiden_elsewhere, true),
            Ok(ReadAccess::Emergency)
        );
        assert_eq!(
            read_family_or_break_glass(&gi, &family("0537", team, None), true),
            Ok(ReadAccess::Emergency)
        );
        assert_eq!(
            read_family_or_break_glass(&gi, &family("0553", team, None), true),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn a_reason_changes_nothing_for_normal_access_or_for_roles_without_the_glass() {
        let team = TeamId::new();
        let worker = principal(Role::JgtWorker, "0546", Some(team));
        assert_eq!(
            read_family_or_break_glass(&worker, &family("0546", team, None), true),
            Ok(ReadAccess::Normal)
        );
        let lead = principal(Role::TeamLead, "0546", None);
        assert_eq!(
            read_family_or_break_glass(&lead, &family("0546", team, None), true),
            Ok(ReadAccess::Normal)
        );
        for role in [Role::Admin, Role::Auditor, Role::ProviderUser] {
            let p = principal(role, "0546", None);
            assert_eq!(
                read_family_or_break_glass(&p, &family("0546", team, None), true),
                Err(Denial::Forbidden),
                "{role}"
            );
        }
    }

    #[test]
    fn emergency_accesses_are_reviewed_by_team_leads_and_auditors() {
        for (role, expected) in [
            (Role::TeamLead, Ok(())),
            (Role::Auditor, Ok(())),
            (Role::JgtWorker, Err(Denial::Forbidden)),
            (Role::GiWorker, Err(Denial::Forbidden)),
            (Role::ProviderUser, Err(Denial::Forbidden)),
            (Role::Admin, Err(Denial::Forbidden)),
        ] {
            let p = principal(role, "0546", Some(TeamId::new()));
            assert_eq!(review_emergency_access(&p), expected, "{role}");
        }
    }

    #[test]
    fn the_access_log_is_for_lead_auditor_and_director_of_the_family() {
        let team = TeamId::new();
        let worker = principal(Role::JgtWorker, "0546", Some(team));
        let leiden = family("0546", team, None);
        let directed = family("0546", team, Some(worker.user_id));
        assert_eq!(read_access_log(&worker, &leiden), Err(Denial::Forbidden));
        assert_eq!(read_access_log(&worker, &directed), Ok(()));
        let lead = principal(Role::TeamLead, "0546", None);
        let auditor = principal(Role::Auditor, "0546", None);
        assert_eq!(read_access_log(&lead, &leiden), Ok(()));
        assert_eq!(read_access_log(&auditor, &leiden), Ok(()));
        let katwijk = family("0537", team, None);
        assert_eq!(read_access_log(&lead, &katwijk), Err(Denial::Hidden));
        assert_eq!(read_access_log(&auditor, &katwijk), Err(Denial::Hidden));
        let provider = principal(Role::ProviderUser, "0546", None);
        assert_eq!(read_access_log(&provider, &leiden), Err(Denial::Hidden));
        let admin = principal(Role::Admin, "0546", None);
        assert_eq!(read_access_log(&admin, &leiden), Err(Denial::Forbidden));
    }

    /// Issue 15 item 8: only a team lead of the account's municipality
    /// approves, and never their own account or as the requesting admin.
    #[test]
    fn only_another_team_lead_of_the_municipality_approves_an_account() {
        let lead = principal(Role::TeamLead, "0546", None);
        let facts = |user: UserId, municipality: &str| ApprovalFacts {
            user_id: user,
            municipality_code: municipality.into(),
            requested_by: None,
        };
        let other = UserId::new();
        assert_eq!(approve_account(&lead, &facts(other, "0546")), Ok(()));
        assert_eq!(
            approve_account(&lead, &facts(lead.user_id, "0546")),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            approve_account(&lead, &facts(other, "0537")),
            Err(Denial::Hidden)
        );
        let auditor = principal(Role::Auditor, "0546", None);
        assert_eq!(
            approve_account(&auditor, &facts(other, "0546")),
            Err(Denial::Forbidden)
        );
        assert!(list_account_approvals(&auditor).is_ok());
        for role in [
            Role::Admin,
            Role::JgtWorker,
            Role::GiWorker,
            Role::ProviderUser,
        ] {
            let p = principal(role, "0546", None);
            assert_eq!(
                approve_account(&p, &facts(other, "0546")),
                Err(Denial::Forbidden)
            );
            assert_eq!(list_account_approvals(&p), Err(Denial::Forbidden));
        }
    }
}
