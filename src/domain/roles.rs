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

    /// Every role except admin belongs to a municipality.
    pub fn needs_municipality(self) -> bool {
        self != Role::Admin
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
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
