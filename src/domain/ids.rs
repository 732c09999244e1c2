//! Typed ids: a plan id cannot be passed where a family id is expected.
//! Each is a UUID (version 7 for new rows, so ids sort by creation), sent
//! and stored as one; `db::types` maps them to PostgreSQL's `uuid`.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! ids {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        #[expect(clippy::new_without_default, reason = "a new id is fresh each time, not a default")]
        impl $name {
            /// A new id (UUID version 7: time-ordered).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn uuid(self) -> Uuid {
                self.0
            }

            /// The UUID by reference (what the database mapping writes).
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    )+};
}

/// Every typed id, once, handed to `$apply`: this module defines them with
/// `ids!`, and `db::types` maps them to `uuid` from the same list, so a new
/// id cannot be defined without its database mapping.
macro_rules! every_id {
    ($apply:ident) => {
        $apply! {
        /// Id of a family.
        FamilyId,
        /// Id of a family member (a membership of one person in one family).
        MemberId,
        /// Id of a plan.
        PlanId,
        /// Id of a user account.
        UserId,
        /// Id of a JGT team.
        TeamId,
        /// Id of a care provider.
        ProviderId,
        /// Id of an involvement (one provider's care in a plan).
        InvolvementId,
        /// Id of a scaling event.
        ScalingId,
        /// Id of a referral.
        ReferralId,
        /// Id of a machine client (a GP, youth doctor or GI system).
        ClientId,
        /// Id of a login session.
        SessionId,
        /// Id of a director assignment.
        AssignmentId,
        /// Id of a notification to a client.
        NotificationId,
        /// Id of a request to approve an account an admin set up.
        AccountApprovalId,
            }
    };
}
pub(crate) use every_id;

every_id!(ids);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_travel_as_plain_uuids() {
        let id = PlanId::new();
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", id.uuid()));
        let back: Option<PlanId> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(id));
        assert_eq!(id.to_string().parse::<PlanId>().ok(), Some(id));
        assert!(serde_json::from_str::<PlanId>("\"not-a-uuid\"").is_err());
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let first = FamilyId::new();
        let second = FamilyId::new();
        assert!(first < second);
    }
}
