//! Diesel's view of the tables created by `migrations/`; a test checks that
//! every column named here exists in the migrated database with this type.
// Kept in the shape `diesel print-schema` produces.

diesel::table! {
    /// Tenants: Dutch municipalities, identified by their CBS code.
    municipalities (code) {
        code -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Jeugd- en Gezinsteams.
    teams (id) {
        id -> Uuid,
        municipality_code -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// People who log in.
    users (id) {
        id -> Uuid,
        username -> Text,
        display_name -> Text,
        role -> Text,
        municipality_code -> Nullable<Text>,
        team_id -> Nullable<Uuid>,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        provider_id -> Nullable<Uuid>,
        /// False while an admin-set credential awaits the approval of a team lead of the account's municipality; a login is refused until then.
        approved -> Bool,
    }
}

diesel::table! {
    /// Municipalities a GI worker serves.
    user_served_municipalities (user_id, municipality_code) {
        user_id -> Uuid,
        municipality_code -> Text,
    }
}

diesel::table! {
    /// Login sessions.
    auth_sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    /// Refresh tokens, by hash.
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Failed logins per username.
    login_failures (username_key) {
        username_key -> Text,
        failure_count -> Int4,
        window_started_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        checks_in_flight -> Int4,
    }
}

diesel::table! {
    /// Families.
    families (id) {
        id -> Uuid,
        municipality_code -> Text,
        team_id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        anonymised_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Members of families.
    family_members (id) {
        id -> Uuid,
        family_id -> Uuid,
        role -> Text,
        given_name -> Text,
        family_name -> Text,
        birth_date -> Date,
        bsn_ciphertext -> Nullable<Bytea>,
        bsn_hash -> Nullable<Bytea>,
        started_on -> Date,
        ended_on -> Nullable<Date>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Family plans.
    plans (id) {
        id -> Uuid,
        family_id -> Uuid,
        municipality_code -> Text,
        status -> Text,
        title -> Text,
        goals -> Jsonb,
        version -> Int4,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        activated_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        close_reason -> Nullable<Text>,
        goal_realisation -> Nullable<Text>,
        satisfaction_score -> Nullable<Int2>,
        dropout -> Nullable<Bool>,
        dropout_reason -> Nullable<Text>,
        level -> Int2,
        protection_measure -> Bool,
    }
}

diesel::table! {
    /// Director assignments.
    director_assignments (id) {
        id -> Uuid,
        plan_id -> Uuid,
        user_id -> Uuid,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        assigned_by -> Nullable<Uuid>,
        reason -> Text,
    }
}

diesel::table! {
    /// Append-only audit trail.
    audit_events (seq) {
        seq -> Int8,
        occurred_at -> Timestamptz,
        actor_type -> Text,
        actor_id -> Nullable<Uuid>,
        actor_role -> Nullable<Text>,
        on_behalf_of -> Nullable<Text>,
        purpose -> Text,
        municipality_code -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        family_id -> Nullable<Uuid>,
        outcome -> Text,
        emergency_access -> Bool,
        request_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Jsonb,
        row_mac -> Nullable<Bytea>,
    }
}

diesel::table! {
    /// The last event written before events carried a MAC.
    audit_legacy (max_seq) {
        max_seq -> Int8,
    }
}

diesel::table! {
    /// Committed audit events waiting for the sealer.
    audit_unsealed (seq) {
        seq -> Int8,
    }
}

diesel::table! {
    /// The hash chain over the audit trail, in sealing order.
    audit_chain (position) {
        position -> Int8,
        seq -> Int8,
        occurred_at -> Timestamptz,
        row_mac -> Bytea,
        link -> Bytea,
        sealed_at -> Timestamptz,
        /// Version of the audit_mac key (key_fingerprints.version) that made the event's MAC and this link.
        key_epoch -> Int4,
    }
}

diesel::table! {
    /// Care providers.
    providers (id) {
        id -> Uuid,
        name -> Text,
        agb_code -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Involvements: one provider, one care form, within a plan.
    involvements (id) {
        id -> Uuid,
        plan_id -> Uuid,
        family_id -> Uuid,
        provider_id -> Uuid,
        care_form_code -> Text,
        segment -> Text,
        level -> Nullable<Int2>,
        product_category -> Text,
        member_id -> Nullable<Uuid>,
        status -> Text,
        requested_on -> Date,
        started_on -> Nullable<Date>,
        ended_on -> Nullable<Date>,
        end_reason -> Nullable<Text>,
        reason -> Nullable<Text>,
        end_note -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        awaiting_referral_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    /// Changes of a plan's care level.
    scaling_events (id) {
        id -> Uuid,
        plan_id -> Uuid,
        occurred_at -> Timestamptz,
        from_level -> Int2,
        to_level -> Int2,
        direction -> Text,
        reason -> Text,
        decided_by -> Nullable<Uuid>,
        involvement_ids -> Array<Uuid>,
    }
}

diesel::table! {
    /// Signals that hold now for open plans.
    plan_signals (plan_id, code) {
        plan_id -> Uuid,
        code -> Text,
        family_id -> Uuid,
        municipality_code -> Text,
        status -> Text,
        facts -> Text,
        detail -> Jsonb,
        raised_at -> Timestamptz,
        acknowledged_at -> Nullable<Timestamptz>,
        acknowledged_by -> Nullable<Uuid>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    /// Machine clients (GP, youth doctor, GI systems).
    clients (id) {
        id -> Uuid,
        name -> Text,
        referrer_type -> Text,
        agb_code -> Nullable<Text>,
        organisation_name -> Text,
        scopes -> Array<Text>,
        callback_url -> Nullable<Text>,
        secret_hash -> Text,
        callback_secret -> Bytea,
        active -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Municipalities a client may refer to.
    client_municipalities (client_id, municipality_code) {
        client_id -> Uuid,
        municipality_code -> Text,
    }
}

diesel::table! {
    /// Referrals (verwijzingen).
    referrals (id) {
        id -> Uuid,
        municipality_code -> Text,
        client_id -> Nullable<Uuid>,
        submitted_by -> Nullable<Uuid>,
        external_reference -> Text,
        referrer_type -> Text,
        referrer_agb_code -> Nullable<Text>,
        referrer_name -> Nullable<Text>,
        reason -> Text,
        urgency -> Text,
        requested_care_form_code -> Nullable<Text>,
        requested_provider_agb_code -> Nullable<Text>,
        requested_provider_id -> Nullable<Uuid>,
        status -> Text,
        match_basis -> Nullable<Text>,
        family_id -> Nullable<Uuid>,
        plan_id -> Nullable<Uuid>,
        involvement_id -> Nullable<Uuid>,
        involvement_created -> Bool,
        candidate_family_ids -> Array<Uuid>,
        decline_reason_code -> Nullable<Text>,
        decline_note -> Nullable<Text>,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        received_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// The child and parents named in a referral.
    referral_people (referral_id, position) {
        referral_id -> Uuid,
        position -> Int2,
        role -> Text,
        given_name -> Text,
        family_name -> Text,
        birth_date -> Date,
        bsn_ciphertext -> Nullable<Bytea>,
        bsn_hash -> Nullable<Bytea>,
    }
}

diesel::table! {
    /// Idempotency keys with the response they produced.
    idempotency_keys (principal_id, operation, key) {
        principal_id -> Uuid,
        operation -> Text,
        key -> Text,
        request_hash -> Bytea,
        response_status -> Int2,
        response_body -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Outbox of status notifications to clients.
    notifications (id) {
        id -> Uuid,
        client_id -> Uuid,
        referral_id -> Uuid,
        event_type -> Text,
        body -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Delivery attempts of notifications.
    notification_attempts (id) {
        id -> Int8,
        notification_id -> Uuid,
        attempt -> Int4,
        attempted_at -> Timestamptz,
        duration_ms -> Int4,
        status_code -> Nullable<Int2>,
        error -> Nullable<Text>,
        outcome -> Text,
    }
}

diesel::table! {
    /// One fingerprint per purpose key (HMAC of a fixed text under the key): tells keys apart without revealing them.
    key_fingerprints (purpose, version) {
        /// The purpose of the key: token_signing, bsn_encryption, callback_secrets, bsn_hash or audit_mac.
        purpose -> Text,
        /// HMAC-SHA256 of "gezinsregie key fingerprint" under the key.
        fingerprint -> Bytea,
        /// When the first server with this key started on the database.
        recorded_at -> Timestamptz,
        /// Version of the purpose key: 1 for the first, one more at every rotation. For audit_mac it is the key epoch of audit_chain.
        version -> Int4,
        /// When a rotation replaced this version; NULL for the current one. Tokens of a retired signing key are accepted for one access-token lifetime after it.
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Admin-set credentials of accounts that see personal data (created or password reset), and the team lead who approved each (issue 15 item 8).
    account_approvals (id) {
        /// UUID v7 of the request.
        id -> Uuid,
        /// The account waiting for approval.
        user_id -> Uuid,
        /// The account's municipality: its team leads approve, its team leads and auditors see the request.
        municipality_code -> Text,
        /// created (an admin created the account) or password_reset (an admin set its password).
        reason -> Text,
        /// The admin who set the credential.
        requested_by -> Nullable<Uuid>,
        /// When the admin set it.
        requested_at -> Timestamptz,
        /// pending, approved, or superseded (a later admin change opened a new request).
        status -> Text,
        /// The team lead who approved it.
        decided_by -> Nullable<Uuid>,
        /// When it was approved or superseded.
        decided_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(account_approvals -> municipalities (municipality_code));
diesel::joinable!(teams -> municipalities (municipality_code));
diesel::joinable!(users -> municipalities (municipality_code));
diesel::joinable!(auth_sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> auth_sessions (session_id));
diesel::joinable!(families -> municipalities (municipality_code));
diesel::joinable!(family_members -> families (family_id));
diesel::joinable!(plans -> families (family_id));
diesel::joinable!(director_assignments -> plans (plan_id));
diesel::joinable!(director_assignments -> users (user_id));
diesel::joinable!(involvements -> providers (provider_id));
diesel::joinable!(involvements -> plans (plan_id));
diesel::joinable!(scaling_events -> plans (plan_id));
diesel::joinable!(plan_signals -> plans (plan_id));
diesel::joinable!(client_municipalities -> clients (client_id));
diesel::joinable!(audit_chain -> audit_events (seq));
diesel::joinable!(referrals -> clients (client_id));
diesel::joinable!(referral_people -> referrals (referral_id));
diesel::joinable!(notifications -> clients (client_id));
diesel::joinable!(notification_attempts -> notifications (notification_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_approvals,
    key_fingerprints,
    municipalities,
    teams,
    users,
    user_served_municipalities,
    auth_sessions,
    refresh_tokens,
    login_failures,
    families,
    family_members,
    plans,
    director_assignments,
    audit_events,
    audit_legacy,
    audit_unsealed,
    audit_chain,
    providers,
    involvements,
    scaling_events,
    plan_signals,
    clients,
    client_municipalities,
    referrals,
    referral_people,
    idempotency_keys,
    notifications,
    notification_attempts,
);
