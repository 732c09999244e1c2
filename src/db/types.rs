//! How domain types are stored: every [`TextCode`] enum as `text`, every
//! typed id as `uuid`. With these, diesel rows hold `PlanStatus` and
//! `PlanId` instead of strings and bare UUIDs, and a stored value the enum
//! does not know fails when the row is read (a deserialisation error), not
//! at some later `parse` that had to choose an answer.
//!
//! The impls are what `#[derive(AsExpression, FromSqlRow)]` would generate;
//! they live here so `domain/` stays free of diesel.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::internal::derives::as_expression::Bound;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};

use crate::domain::care::{Direction, EndReason, InvolvementStatus, Segment};
use crate::domain::referrals::{DeclineReason, MatchBasis, ReferralStatus, ReferrerType, Urgency};
use crate::domain::roles::{ApprovalReason, ApprovalStatus};
use crate::domain::signals::{SignalCode, SignalStatus};
use crate::domain::*;
use crate::notifications::DeliveryStatus;

/// `AsExpression` for a type, its reference and its double reference, as
/// `$sql` and as `Nullable<$sql>`.
macro_rules! as_expression {
    ($t:ty, $sql:ty) => {
        impl diesel::expression::AsExpression<$sql> for $t {
            type Expression = Bound<$sql, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
        impl diesel::expression::AsExpression<Nullable<$sql>> for $t {
            type Expression = Bound<Nullable<$sql>, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
        impl<'a> diesel::expression::AsExpression<$sql> for &'a $t {
            type Expression = Bound<$sql, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
        impl<'a> diesel::expression::AsExpression<Nullable<$sql>> for &'a $t {
            type Expression = Bound<Nullable<$sql>, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
        impl<'a, 'b> diesel::expression::AsExpression<$sql> for &'a &'b $t {
            type Expression = Bound<$sql, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
        impl ToSql<Nullable<$sql>, Pg> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                ToSql::<$sql, Pg>::to_sql(self, out)
            }
        }
        impl Queryable<$sql, Pg> for $t {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }
    };
}

/// A [`TextCode`] enum as `text`.
macro_rules! text_columns {
    ($($t:ty),+ $(,)?) => {$(
        as_expression!($t, Text);

        impl ToSql<Text, Pg> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                ToSql::<Text, Pg>::to_sql(TextCode::text(*self), out)
            }
        }

        impl FromSql<Text, Pg> for $t {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(value.as_bytes())?;
                <$t as TextCode>::from_text(text).ok_or_else(|| {
                    format!("{text:?} is not a {}", stringify!($t)).into()
                })
            }
        }
    )+};
}

/// A typed id as `uuid`.
macro_rules! uuid_columns {
    ($($(#[$doc:meta])* $t:ty),+ $(,)?) => {$(
        as_expression!($t, SqlUuid);

        impl ToSql<SqlUuid, Pg> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                ToSql::<SqlUuid, Pg>::to_sql(self.as_uuid(), out)
            }
        }

        impl FromSql<SqlUuid, Pg> for $t {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                <uuid::Uuid as FromSql<SqlUuid, Pg>>::from_sql(value).map(<$t>::from_uuid)
            }
        }
    )+};
}

text_columns!(
    Role,
    MemberRole,
    PlanStatus,
    GoalRealisation,
    Segment,
    InvolvementStatus,
    EndReason,
    Direction,
    SignalCode,
    SignalStatus,
    ReferralStatus,
    ReferrerType,
    Urgency,
    MatchBasis,
    DeclineReason,
    DeliveryStatus,
    ApprovalReason,
    ApprovalStatus,
);

crate::domain::ids::every_id!(uuid_columns);
