//! Cursor pagination (`?limit=&cursor=` -> `{items, nextCursor}`). Cursors are
//! opaque to clients: base64url of the sort key of the last item served, so
//! pages stay stable while rows are inserted (ids are time-ordered UUID v7).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::error::ErrorCode;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&cursor=` of every paged list, as the client sends it.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Validated `limit` and decoded `cursor`.
pub struct PageRequest<K> {
    pub limit: i64,
    pub after: Option<K>,
}

impl<K: DeserializeOwned> PageRequest<K> {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                ErrorCode::OutOfRange,
                "limit must be between 1 and 200.",
            ));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::invalid_field(
                    "cursor",
                    ErrorCode::InvalidCursor,
                    "Use the nextCursor of a previous page.",
                )
            })?),
        };
        Ok(Self { limit, after })
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Option<K> {
    let bytes = B64URL.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    B64URL.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Cuts the extra row off and produces the cursor of the next page.
pub fn finish<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if has_more {
        rows.last().map(|r| encode_cursor(&key(r)))
    } else {
        None
    };
    (rows, next)
}

/// Declares a `{items, nextCursor}` page type for one item type.
#[macro_export]
macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; null on the last page.
            pub next_cursor: Option<String>,
        }
    };
}
