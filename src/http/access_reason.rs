//! The `X-Access-Reason` header: a caller breaking the glass states why it
//! opens a family outside its normal reach (DESIGN section 7, emergency
//! access). Parsed at the edge, so a handler only sees a valid reason or none.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorCode, InvalidParam};

/// Name of the header, as documented and as named in validation errors.
pub const HEADER: &str = "X-Access-Reason";

/// Longest reason kept, in characters: a sentence or two, not a report.
pub const MAX_REASON_CHARS: usize = 500;

/// The stated reason for emergency access, if the request sends one.
#[derive(Debug, Clone, Default)]
pub struct AccessReason(Option<String>);

impl AccessReason {
    /// The trimmed reason, when one was sent.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Parses the raw header value: absent is no reason; present, it must
    /// be UTF-8 (Dutch text has accents), non-blank and at most
    /// [`MAX_REASON_CHARS`] characters after trimming.
    pub fn parse(raw: Option<&[u8]>) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(Self(None));
        };
        let invalid = |code: ErrorCode, reason: &str| {
            ApiError::validation(vec![InvalidParam::new(HEADER, code, reason)])
        };
        let text = std::str::from_utf8(raw)
            .map_err(|_| invalid(ErrorCode::InvalidValue, "The reason must be UTF-8 text."))?
            .trim();
        if text.is_empty() {
            return Err(invalid(
                ErrorCode::Required,
                "State why you open this family, or leave the header out.",
            ));
        }
        if text.chars().count() > MAX_REASON_CHARS {
            return Err(invalid(
                ErrorCode::TooLong,
                "The reason may be at most 500 characters.",
            ));
        }
        Ok(Self(Some(text.to_owned())))
    }
}

impl FromRequest for AccessReason {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.headers().get(HEADER).map(|v| v.as_bytes());
        std::future::ready(Self::parse(raw))
    }
}

/// Documents the header on the operations that honour it.
impl IntoParams for AccessReason {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name(HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Emergency access (break the glass): why you open a family outside your normal \
                 reach within your own municipality. JGT and GI workers only; the read is then \
                 allowed, audited with `emergencyAccess: true` and this reason, and listed for \
                 the team lead to review. Changes nothing when you already have access; never \
                 opens another municipality's family. 1 to 500 characters.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_REASON_CHARS))
                    .examples([serde_json::json!(
                        "Crisismelding politie, gezinsregisseur niet bereikbaar"
                    )]),
            ))
            .build()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_no_reason_and_a_present_one_is_trimmed() {
        assert_eq!(AccessReason::parse(None).unwrap().as_deref(), None);
        let r = AccessReason::parse(Some("  Crisis, regisseur onbereikbaar ".as_bytes())).unwrap();
        assert_eq!(r.as_deref(), Some("Crisis, regisseur onbereikbaar"));
        let accented = AccessReason::parse(Some("Spoed: één kind vermist".as_bytes())).unwrap();
        assert_eq!(accented.as_deref(), Some("Spoed: één kind vermist"));
    }

    #[test]
    fn blank_long_or_binary_reasons_are_refused_naming_the_header() {
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        for (raw, code) in [
            (&b"   "[..], "required"),
            (&b""[..], "required"),
            (long.as_bytes(), "too_long"),
            (&[0xff, 0xfe][..], "invalid_value"),
        ] {
            let err = AccessReason::parse(Some(raw)).unwrap_err();
            assert_eq!(err.code.as_str(), "validation_failed");
            assert_eq!(err.invalid_params.len(), 1);
            assert_eq!(err.invalid_params[0].name, HEADER);
            assert_eq!(err.invalid_params[0].code.as_str(), code);
        }
        let max = "é".repeat(MAX_REASON_CHARS);
        assert!(AccessReason::parse(Some(max.as_bytes())).is_ok());
    }
}
