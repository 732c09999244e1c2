//! Strict extractors: JSON bodies and query strings are deserialised with the
//! path of every failure, so a bad request names its offending field
//! (`members[0].birthDate`) instead of a line and column.

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::objects_only::ObjectsOnly;
use super::MAX_BODY_BYTES;
use crate::error::ErrorCode;
use crate::error::{ApiError, InvalidParam};

/// A JSON request body, limited to 1 MiB, unknown fields refused by the DTOs.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
                return Err(too_large());
            }
            if !content_type_ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::UnsupportedMediaType,
                    "Send the body as application/json.",
                ));
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    ApiError::bad_request(
                        ErrorCode::UnreadableBody,
                        "The request body could not be read.",
                    )
                })?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(ApiJson)
        })
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        "The request body exceeds the limit of 1 MiB.",
    )
}

/// Deserialises a JSON document, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            ErrorCode::BodyRequired,
            "A JSON request body is required.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(ObjectsOnly(&mut de)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::bad_request(
                    ErrorCode::MalformedJson,
                    format!("The body is not valid JSON: {inner}."),
                )
            }
            _ => ApiError::validation(vec![data_error(&path, &inner.to_string())]),
        }
    })?;
    de.end().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::MalformedJson,
            "The body has trailing characters after the JSON document.",
        )
    })?;
    Ok(value)
}

/// Builds an invalid parameter from a serde message and the path it failed at.
fn data_error(path: &str, message: &str) -> InvalidParam {
    // serde_json appends " at line L column C"; the field path says more.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    let quoted = message.split('`').nth(1).map(str::to_owned);
    let join = |field: &str| {
        if path == "." || path.is_empty() {
            field.to_owned()
        } else if path.ends_with(field) {
            path.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let (name, code) = if message.starts_with("unknown field") {
        (
            join(quoted.as_deref().unwrap_or("?")),
            ErrorCode::UnknownField,
        )
    } else if message.starts_with("missing field") {
        (join(quoted.as_deref().unwrap_or("?")), ErrorCode::Required)
    } else if message.starts_with("invalid type") {
        (path.to_owned(), ErrorCode::InvalidType)
    } else {
        (path.to_owned(), ErrorCode::InvalidValue)
    };
    let name = if name == "." || name.is_empty() {
        "body".to_owned()
    } else {
        name
    };
    InvalidParam::new(name, code, message)
}

/// Query parameters, with the failing parameter named.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let result = serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let mut param = data_error(&path, &err.into_inner().to_string());
                if param.name == "body" {
                    param.name = "query".into();
                }
                ApiError::validation(vec![param])
            });
        std::future::ready(result)
    }
}

/// Answer for path segments that do not parse (ids are UUIDs).
pub fn path_error(_err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    let invalid: Vec<InvalidParam> = req
        .match_info()
        .iter()
        .filter(|(_, value)| uuid::Uuid::parse_str(value).is_err())
        .map(|(name, _)| InvalidParam::new(name, ErrorCode::InvalidUuid, "Must be a UUID."))
        .collect();
    let invalid = if invalid.is_empty() {
        vec![InvalidParam::new(
            "path",
            ErrorCode::InvalidValue,
            "A path parameter is invalid.",
        )]
    } else {
        invalid
    };
    ApiError::validation(invalid).into()
}
