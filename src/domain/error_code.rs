//! Every stable error code the API answers with, as one enum: the `code` of
//! a problem document and of each of its `invalidParams`. Front-ends
//! translate them and integrations branch on them, so a code is never
//! renamed; the OpenAPI document publishes the whole list.

crate::string_enum! {
    /// A stable, machine-readable reason why a request was refused.
    ErrorCode {
        // Requests that are not understood or not allowed at all.
        ValidationFailed => "validation_failed",
        MalformedJson => "malformed_json",
        BodyRequired => "body_required",
        UnreadableBody => "unreadable_body",
        UnsupportedMediaType => "unsupported_media_type",
        PayloadTooLarge => "payload_too_large",
        RequestTimeout => "request_timeout",
        NotFound => "not_found",
        MethodNotAllowed => "method_not_allowed",
        HttpError => "http_error",
        Unauthorized => "unauthorized",
        Forbidden => "forbidden",
        IfMatchRequired => "if_match_required",
        VersionMismatch => "version_mismatch",
        ServiceUnavailable => "service_unavailable",
        TooManyRequests => "too_many_requests",
        InternalError => "internal_error",

        // Fields (the `code` of an invalid parameter).
        Required => "required",
        UnknownField => "unknown_field",
        InvalidType => "invalid_type",
        InvalidValue => "invalid_value",
        InvalidUuid => "invalid_uuid",
        InvalidDate => "invalid_date",
        InvalidCursor => "invalid_cursor",
        InvalidUrl => "invalid_url",
        InvalidBsn => "invalid_bsn",
        InvalidAgbCode => "invalid_agb_code",
        InvalidMunicipalityCode => "invalid_municipality_code",
        InvalidUsername => "invalid_username",
        InvalidCharacters => "invalid_characters",
        InvalidAction => "invalid_action",
        InvalidIdempotencyKey => "invalid_idempotency_key",
        TooLong => "too_long",
        TooMany => "too_many",
        OutOfRange => "out_of_range",
        InFuture => "in_future",
        BeforeFrom => "before_from",
        BeforeRequested => "before_requested",
        BeforeStart => "before_start",
        PeriodTooLong => "period_too_long",
        NotAllowed => "not_allowed",
        Duplicate => "duplicate",
        EmptyStep => "empty_step",
        ChildRequired => "child_required",
        PasswordTooShort => "password_too_short",
        UnknownCareForm => "unknown_care_form",
        UnknownSignal => "unknown_signal",
        UnknownScope => "unknown_scope",
        UnknownReasonCode => "unknown_reason_code",
        UnknownReferrerType => "unknown_referrer_type",

        // Authentication.
        InvalidCredentials => "invalid_credentials",
        AccountLocked => "account_locked",
        ClientLocked => "client_locked",
        InvalidRefreshToken => "invalid_refresh_token",
        RefreshTokenReused => "refresh_token_reused",
        ClientNotAllowed => "client_not_allowed",
        InsufficientScope => "insufficient_scope",
        MunicipalityNotServed => "municipality_not_served",
        ReferrerMismatch => "referrer_mismatch",
        // The token endpoint's own codes (RFC 6749 section 5.2), also sent
        // as its `error` member.
        InvalidRequest => "invalid_request",
        InvalidClient => "invalid_client",
        UnsupportedGrantType => "unsupported_grant_type",
        InvalidScope => "invalid_scope",

        // Families, plans and directors.
        BsnInOtherFamily => "bsn_in_other_family",
        MemberAlreadyInFamily => "member_already_in_family",
        PlanAlreadyOpen => "plan_already_open",
        PlanClosed => "plan_closed",
        NoOpenPlan => "no_open_plan",
        DirectorNotEligible => "director_not_eligible",
        DirectorConflict => "director_conflict",
        DirectorChanged => "director_changed",
        UnknownTeam => "unknown_team",
        UnknownMember => "unknown_member",
        UnknownFamily => "unknown_family",

        // Care.
        InvolvementExists => "involvement_exists",
        InvolvementEnded => "involvement_ended",
        InvolvementNotRequested => "involvement_not_requested",
        InvolvementNotInPlan => "involvement_not_in_plan",
        InvolvementsActive => "involvements_active",
        UnknownProvider => "unknown_provider",
        ProviderInactive => "provider_inactive",
        SignalNotFound => "signal_not_found",

        // Referrals.
        IdempotencyKeyReused => "idempotency_key_reused",
        UnknownMunicipality => "unknown_municipality",
        NoTeam => "no_team",
        ReferralDecided => "referral_decided",
        ReferralAlreadyMatched => "referral_already_matched",
        // Care a referral requested waits for the referral's acceptance.
        ReferralNotAccepted => "referral_not_accepted",

        // Administration.
        UsernameTaken => "username_taken",
        MunicipalityExists => "municipality_exists",
        TeamNameTaken => "team_name_taken",
        AgbCodeTaken => "agb_code_taken",
        ClientNameTaken => "client_name_taken",
        // Issue 15 items 8 and 10 (accounts, passwords, callbacks, reports).
        AccountPendingApproval => "account_pending_approval",
        ApprovalNotPending => "approval_not_pending",
        WeakPassword => "weak_password",
        PasswordBlank => "password_blank",
        PasswordContainsUsername => "password_contains_username",
        PasswordTooCommon => "password_too_common",
        CallbackUrlNotAllowed => "callback_url_not_allowed",
        PeriodNotWholeMonths => "period_not_whole_months",

        // The database refused a change.
        ConcurrentUpdate => "concurrent_update",
        ReferenceNotFound => "reference_not_found",
        ConstraintViolated => "constraint_violated",
    }
}

impl ErrorCode {
    /// Conflicts a request can lose against a concurrent change of the same
    /// family; a referral submission then runs its whole transaction again.
    pub fn is_retryable_conflict(self) -> bool {
        matches!(
            self,
            ErrorCode::BsnInOtherFamily
                | ErrorCode::MemberAlreadyInFamily
                | ErrorCode::PlanAlreadyOpen
                | ErrorCode::InvolvementExists
                | ErrorCode::ConcurrentUpdate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(ErrorCode::parse(text), Some(*code));
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::String(text.to_owned()))
            );
        }
    }
}
