//! Reads and writes of municipalities.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::Municipality;
use crate::db::schema::municipalities;

pub async fn insert_municipality(
    conn: &mut AsyncPgConnection,
    code: &str,
    name: &str,
) -> QueryResult<Municipality> {
    diesel::insert_into(municipalities::table)
        .values((municipalities::code.eq(code), municipalities::name.eq(name)))
        .returning(Municipality::as_returning())
        .get_result(conn)
        .await
}

/// A page of municipalities after `after`; only those of `visible` when
/// given.
pub async fn list_municipalities(
    conn: &mut AsyncPgConnection,
    visible: Option<&[String]>,
    after: Option<&str>,
    fetch: i64,
) -> QueryResult<Vec<Municipality>> {
    let mut q = municipalities::table
        .select(Municipality::as_select())
        .order(municipalities::code)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(municipalities::code.gt(after.to_owned()));
    }
    if let Some(visible) = visible {
        q = q.filter(municipalities::code.eq_any(visible.to_vec()));
    }
    q.load(conn).await
}

/// Whether a municipality with this code is registered.
pub async fn exists(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(municipalities::table.find(code)))
        .get_result(conn)
        .await
}

/// How many of `codes` (without repeats) are registered.
pub async fn count_registered(conn: &mut AsyncPgConnection, codes: &[String]) -> QueryResult<i64> {
    municipalities::table
        .filter(municipalities::code.eq_any(codes))
        .count()
        .get_result(conn)
        .await
}
