//! Pure domain types and rules: no actix, no diesel, no IO. Input is parsed
//! into these types at the edge, so code past the handlers cannot hold an
//! unchecked BSN or municipality code.

pub mod bsn;
pub mod care;
pub mod codes;
pub mod error_code;
pub mod ids;
pub mod referrals;
pub mod roles;
pub mod signals;
pub mod text;

pub use bsn::Bsn;
pub use codes::{AgbCode, MunicipalityCode};
pub use error_code::ErrorCode;
pub use ids::*;
pub use roles::Role;

/// Why a value was refused: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError {
    pub code: ErrorCode,
    pub reason: String,
}

impl DomainError {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl std::error::Error for DomainError {}

/// A date of something that has happened: not after `today`, and not
/// before 1900 (earlier dates are typing errors; PostgreSQL would store a
/// year like 0416 without complaint). `what` names it in the reason.
pub fn past_date(
    date: chrono::NaiveDate,
    today: chrono::NaiveDate,
    what: &str,
) -> Result<chrono::NaiveDate, DomainError> {
    if date > today {
        return Err(DomainError::new(
            ErrorCode::InFuture,
            format!("{what} cannot be in the future."),
        ));
    }
    if date < chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(chrono::NaiveDate::MIN) {
        return Err(DomainError::new(
            ErrorCode::OutOfRange,
            format!("{what} before 1900 is not plausible."),
        ));
    }
    Ok(date)
}

/// A closed set of values written as text, in the database and the API
/// alike: statuses, roles and codes. `db::types` maps every implementor to
/// a `text` column, so rows hold the enum and an unknown stored value is a
/// database error at the edge, not a 500 halfway through a handler.
pub trait TextCode: Sized + Copy + 'static {
    /// The stored and sent form.
    fn text(self) -> &'static str;
    /// The value a stored or sent text stands for, if any.
    fn from_text(text: &str) -> Option<Self>;
}

/// Declares a string-backed enum with snake_case names, as stored in the
/// database and sent in the API.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::domain::TextCode for $name {
            fn text(self) -> &'static str {
                self.as_str()
            }

            fn from_text(text: &str) -> Option<Self> {
                Self::parse(text)
            }
        }
    };
}

string_enum! {
    /// Role of a person in a family.
    MemberRole {
        Child => "child",
        Parent => "parent",
        Caregiver => "caregiver",
        Other => "other",
    }
}

string_enum! {
    /// Life cycle of a plan: intake (no director yet), active, closed.
    PlanStatus {
        Intake => "intake",
        Active => "active",
        Closed => "closed",
    }
}

string_enum! {
    /// Goal realisation, one of the three outcome criteria municipalities measure.
    GoalRealisation {
        Achieved => "achieved",
        PartiallyAchieved => "partially_achieved",
        NotAchieved => "not_achieved",
    }
}
