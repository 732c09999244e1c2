//! Roles of DESIGN section 6 and the capabilities that follow from a role
//! alone (what follows from relations to a family lives in `auth::policy`).

crate::string_enum! {
    /// What a user is, and therefore may do.
    Role {
        Admin => "admin",
        TeamLead => "team_lead",
        JgtWorker => "jgt_worker",
        GiWorker => "gi_worker",
        ProviderUser => "provider_user",
        Auditor => "auditor",
    }
}

impl Role {
    /// May direct a plan (be its procesregisseur).
    pub fn is_director_capable(self) -> bool {
        matches!(self, Role::JgtWorker | Role::GiWorker)
    }

    /// May see case content (families, plans, BSNs) at all; which families
    /// depends on municipality, team and relation to the plan.
    pub fn is_case_role(self) -> bool {
        matches!(self, Role::TeamLead | Role::JgtWorker | Role::GiWorker)
    }

    /// Sees personal data of a municipality (case content, a provider's
    /// plans, the audit trail): every role but admin. An admin who sets
    /// the credentials of such an account must not be able to use it, so
    /// the account waits for a team lead's approval (issue 15 item 8).
    pub fn sees_personal_data(self) -> bool {
        self != Role::Admin
    }

    /// Every role except admin belongs to a municipality.
    pub fn needs_municipality(self) -> bool {
        self != Role::Admin
    }
}

crate::string_enum! {
    /// Why an account waits for approval: an admin created it, or set its
    /// password.
    ApprovalReason {
        Created => "created",
        PasswordReset => "password_reset",
    }
}

crate::string_enum! {
    /// Where an approval request stands.
    ApprovalStatus {
        Pending => "pending",
        Approved => "approved",
        /// A later admin change opened a new request for the same account.
        Superseded => "superseded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jgt_and_gi_workers_can_direct() {
        let capable: Vec<_> = Role::ALL
            .iter()
            .filter(|r| r.is_director_capable())
            .collect();
        assert_eq!(capable, [&Role::JgtWorker, &Role::GiWorker]);
    }

    #[test]
    fn admins_and_auditors_see_no_case_content() {
        assert!(!Role::Admin.is_case_role());
        assert!(!Role::Auditor.is_case_role());
        assert!(!Role::ProviderUser.is_case_role());
        assert!(Role::TeamLead.is_case_role());
    }

    #[test]
    fn every_role_but_admin_sees_personal_data() {
        for role in Role::ALL {
            assert_eq!(role.sees_personal_data(), *role != Role::Admin);
        }
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
