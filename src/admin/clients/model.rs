//! Request and response shapes of machine clients, and the rules of their
//! fields.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::auth::client::SCOPES;
use crate::db::schema::clients;
use crate::domain::referrals::ReferrerType;
use crate::domain::{text, AgbCode, ClientId, DomainError, MunicipalityCode};
use crate::error::{checked, validate, ApiResult, ErrorCode, Invalid};

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewClient {
    #[schema(
        example = "Huisartsenpraktijk De Vliet HIS",
        min_length = 1,
        max_length = 200
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub name: String,
    /// iJw referrer type (COD327) the client refers as: 01, 02, 03, 04, 05, 06 or 08.
    #[schema(example = "02")]
    pub referrer_type: String,
    /// AGB code the client refers as; only for referrer types 02 to 05.
    #[schema(example = "01234567", pattern = "^[0-9]{8}$")]
    #[validate(custom(function = "crate::http::validation::agb_code"))]
    pub agb_code: Option<String>,
    #[schema(
        example = "Huisartsenpraktijk De Vliet",
        min_length = 1,
        max_length = 200
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<200>"))]
    pub organisation_name: String,
    /// Municipalities the client may refer families to.
    #[schema(min_items = 1, example = json!(["0546"]))]
    #[validate(custom(function = "crate::admin::clients::model::valid_municipality_codes"))]
    pub municipality_codes: Vec<String>,
    /// `referrals:write` (submit) and/or `referrals:read` (read status).
    #[schema(min_items = 1, example = json!(["referrals:write", "referrals:read"]))]
    #[validate(custom(function = "crate::admin::clients::model::valid_scopes"))]
    pub scopes: Vec<String>,
    /// HTTPS URL that receives signed status notifications (plain HTTP only on loopback).
    #[schema(
        example = "https://his.example.nl/gezinsregie/notifications",
        max_length = 2000
    )]
    #[validate(custom(function = "crate::admin::clients::model::valid_callback_url"))]
    pub callback_url: Option<String>,
}

/// A validated new client.
pub struct ClientSpec {
    pub name: String,
    pub referrer_type: ReferrerType,
    pub agb_code: Option<AgbCode>,
    pub organisation_name: String,
    pub municipality_codes: Vec<String>,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
}

impl NewClient {
    /// Checks the input: the fields by themselves, then the referrer type
    /// and whether it may carry an AGB code.
    pub fn parse(&self) -> ApiResult<ClientSpec> {
        let mut v = Invalid::validated(self);
        let kind = v.check("referrerType", ReferrerType::parse(&self.referrer_type));
        let agb_given = self
            .agb_code
            .as_deref()
            .is_some_and(|a| AgbCode::parse(a).is_ok());
        if kind.is_some_and(|k| agb_given && !k.is_care_professional()) {
            v.push(
                "agbCode",
                ErrorCode::NotAllowed,
                "Only referrer types 02 to 05 carry an AGB code (iJw CD067).",
            );
        }
        let (referrer_type,) = v.finish((kind,))?;
        Ok(ClientSpec {
            name: checked(text::required(&self.name, 200))?,
            referrer_type,
            agb_code: checked(self.agb_code.as_deref().map(AgbCode::parse).transpose())?,
            organisation_name: checked(text::required(&self.organisation_name, 200))?,
            municipality_codes: checked(municipality_codes(&self.municipality_codes))?,
            scopes: checked(scopes(&self.scopes))?,
            callback_url: checked(self.callback_url.as_deref().map(callback_url).transpose())?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientUpdate {
    /// False refuses new tokens and ends the use of issued ones at once.
    pub active: Option<bool>,
    #[schema(max_length = 2000)]
    #[validate(custom(function = "crate::admin::clients::model::valid_callback_url"))]
    pub callback_url: Option<String>,
    #[schema(min_items = 1)]
    #[validate(custom(function = "crate::admin::clients::model::valid_municipality_codes"))]
    pub municipality_codes: Option<Vec<String>>,
    #[schema(min_items = 1)]
    #[validate(custom(function = "crate::admin::clients::model::valid_scopes"))]
    pub scopes: Option<Vec<String>>,
}

/// A change to a client, checked: `None` leaves a field as it is.
pub struct ClientChange {
    pub active: Option<bool>,
    pub callback_url: Option<String>,
    pub municipality_codes: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
}

impl ClientUpdate {
    pub fn parse(&self) -> ApiResult<ClientChange> {
        validate(self)?;
        Ok(ClientChange {
            active: self.active,
            callback_url: checked(self.callback_url.as_deref().map(callback_url).transpose())?,
            municipality_codes: checked(
                self.municipality_codes
                    .as_deref()
                    .map(municipality_codes)
                    .transpose(),
            )?,
            scopes: checked(self.scopes.as_deref().map(scopes).transpose())?,
        })
    }
}

impl ClientChange {
    /// The API names of the fields this change sets, for the audit trail.
    pub fn changed(&self) -> Vec<&'static str> {
        [
            self.active.map(|_| "active"),
            self.callback_url.as_ref().map(|_| "callbackUrl"),
            self.municipality_codes
                .as_ref()
                .map(|_| "municipalityCodes"),
            self.scopes.as_ref().map(|_| "scopes"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A client as stored, without its secrets and municipalities.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: ClientId,
    pub name: String,
    pub referrer_type: ReferrerType,
    pub agb_code: Option<String>,
    pub organisation_name: String,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A registered client (never its secrets).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub referrer_type: String,
    pub agb_code: Option<String>,
    pub organisation_name: String,
    pub municipality_codes: Vec<String>,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Client {
    /// The client of `row`, with its municipalities (`served`: pairs of
    /// client and code, of any clients).
    pub fn of(row: ClientRow, served: &[(ClientId, String)]) -> Self {
        Self {
            municipality_codes: served
                .iter()
                .filter(|(c, _)| *c == row.id)
                .map(|(_, m)| m.clone())
                .collect(),
            id: row.id,
            name: row.name,
            referrer_type: row.referrer_type.code().to_owned(),
            agb_code: row.agb_code,
            organisation_name: row.organisation_name,
            scopes: row.scopes,
            callback_url: row.callback_url,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A new client with its secrets, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    /// The OAuth client_id (equal to `id`).
    pub client_id: ClientId,
    /// The OAuth client secret; only its hash is kept, so store it now.
    pub client_secret: String,
    /// Key for checking notification signatures (Standard Webhooks
    /// `whsec_` format); store it now.
    pub callback_secret: String,
}

crate::page_type!(ClientPage, Client, "A page of clients.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A callback URL notifications may be sent to: absolute, HTTPS (plain
/// HTTP only to a loopback address, for local receivers), without
/// credentials or fragment, at most 2,000 characters.
pub fn callback_url(input: &str) -> Result<String, DomainError> {
    let invalid = |reason: &str| DomainError::new(ErrorCode::InvalidUrl, reason.to_owned());
    if input.len() > 2000 {
        return Err(DomainError::new(
            ErrorCode::TooLong,
            "At most 2000 characters.",
        ));
    }
    let url = url::Url::parse(input).map_err(|_| invalid("Give an absolute https:// URL."))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid("The URL needs a host.")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "Use https:// (plain http only for a loopback address).",
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("Credentials do not belong in the URL."));
    }
    if url.fragment().is_some() {
        return Err(invalid("A fragment is never sent; leave it out."));
    }
    Ok(url.to_string())
}

/// [`callback_url`] as a `validator` rule.
pub fn valid_callback_url(value: &str) -> Result<(), ValidationError> {
    crate::admin::rule(callback_url(value))
}

/// Scopes, each known, without repeats.
pub fn scopes(input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() {
        return Err(DomainError::new(
            ErrorCode::Required,
            "Give at least one scope.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in input {
        if !SCOPES.contains(&s.as_str()) {
            return Err(DomainError::new(
                ErrorCode::UnknownScope,
                "Known scopes: referrals:write, referrals:read.",
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// [`scopes`] as a `validator` rule.
pub fn valid_scopes(value: &[String]) -> Result<(), ValidationError> {
    crate::admin::rule(scopes(value))
}

/// Municipality codes, each well-formed, without repeats.
pub fn municipality_codes(input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() {
        return Err(DomainError::new(
            ErrorCode::Required,
            "Give at least one municipality.",
        ));
    }
    if input.len() > 400 {
        return Err(DomainError::new(
            ErrorCode::TooMany,
            "At most 400 municipalities.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for code in input {
        let code = MunicipalityCode::parse(code)?.as_str().to_owned();
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// [`municipality_codes`] as a `validator` rule.
pub fn valid_municipality_codes(value: &[String]) -> Result<(), ValidationError> {
    crate::admin::rule(municipality_codes(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_are_https_or_loopback_http() {
        assert!(callback_url("https://his.example.nl/hook").is_ok());
        assert!(callback_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(callback_url("http://localhost/hook").is_ok());
        assert!(callback_url("http://[::1]:8000/").is_ok());
        for bad in [
            "http://his.example.nl/hook",
            "ftp://example.nl/",
            "/relative",
            "https://user:pw@example.nl/",
            "https://example.nl/#frag",
            "",
        ] {
            assert!(callback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_known_and_are_deduplicated() {
        let s = |v: &[&str]| scopes(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["referrals:write", "referrals:write"]).unwrap(),
            ["referrals:write"]
        );
        assert!(s(&[]).is_err());
        assert!(s(&["admin"]).is_err());
    }

    #[test]
    fn every_invalid_field_is_named_with_its_code() {
        let input = NewClient {
            name: " ".into(),
            referrer_type: "01".into(),
            agb_code: Some("01234567".into()),
            organisation_name: "Gemeente".into(),
            municipality_codes: vec!["546".into()],
            scopes: vec!["admin".into()],
            callback_url: Some("http://his.example.nl/hook".into()),
        };
        let found: Vec<(String, &str)> = match input.parse() {
            Ok(_) => Vec::new(),
            Err(e) => e
                .invalid_params
                .iter()
                .map(|p| (p.name.clone(), p.code.as_str()))
                .collect(),
        };
        assert_eq!(
            found,
            [
                ("callbackUrl".to_owned(), "invalid_url"),
                ("municipalityCodes".to_owned(), "invalid_municipality_code"),
                ("name".to_owned(), "required"),
                ("scopes".to_owned(), "unknown_scope"),
                ("agbCode".to_owned(), "not_allowed"),
            ]
        );
    }
}
