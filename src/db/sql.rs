//! Raw SQL that each connection prepares once.
//!
//! diesel never keeps the prepared statement of a `sql_query`, of an
//! `UPDATE` or of an insert with a `DEFAULT` value: every run costs an extra
//! round trip (Parse and Describe), a fresh parse and plan in PostgreSQL and
//! a Close. For the statements of the hot requests (the family's access
//! facts, the version bump of a plan, the family list) that was two to four
//! extra round trips per request and most of the gap to the same statements
//! run by pgbench with `-M prepared` (docs/benchmarks.md).
//!
//! [`cached`] is `sql_query` for SQL of fixed text: diesel-async keeps its
//! statement per connection, keyed by the text. Only `&'static str` is
//! accepted, so a statement built at run time (whose text could grow the
//! cache without bound) cannot slip in.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;

/// A raw SQL statement of fixed text; bind its parameters with
/// [`CachedSql::bind`] in the order of `$1`, `$2`, ...
#[derive(Debug, Clone, Copy)]
#[must_use = "Queries are only executed when calling `load`, `get_result` or similar."]
pub struct CachedSql(&'static str);

/// The statement `sql`, prepared once per connection.
pub fn cached(sql: &'static str) -> CachedSql {
    CachedSql(sql)
}

impl CachedSql {
    pub fn bind<ST, V>(self, value: V) -> Bound<Self, V, ST> {
        Bound::new(self, value)
    }
}

/// A statement with one more parameter bound (diesel's `UncheckedBind`,
/// which is not exported).
#[derive(Debug, Clone, Copy)]
#[must_use = "Queries are only executed when calling `load`, `get_result` or similar."]
pub struct Bound<Q, V, ST> {
    query: Q,
    value: V,
    sql_type: PhantomData<ST>,
}

impl<Q, V, ST> Bound<Q, V, ST> {
    fn new(query: Q, value: V) -> Self {
        Self {
            query,
            value,
            sql_type: PhantomData,
        }
    }

    pub fn bind<ST2, V2>(self, value: V2) -> Bound<Self, V2, ST2> {
        Bound::new(self, value)
    }
}

impl QueryFragment<Pg> for CachedSql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Unlike `SqlQuery`, no `unsafe_to_cache_prepared()`: the text is
        // fixed, so the statement cache may key on it.
        out.push_sql(self.0);
        Ok(())
    }
}

impl<Q, V, ST> QueryFragment<Pg> for Bound<Q, V, ST>
where
    Q: QueryFragment<Pg>,
    Pg: HasSqlType<ST>,
    V: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        // The value only: its `$n` is already in the text. (Public through
        // diesel's backend-implementer feature, see Cargo.toml.)
        out.push_bind_param_value_only(&self.value)
    }
}

/// No static id: the cache keys the statement by its SQL text.
impl QueryId for CachedSql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, V, ST> QueryId for Bound<Q, V, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for CachedSql {
    type SqlType = Untyped;
}

impl<Q, V, ST> Query for Bound<Q, V, ST> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{Int4, Text};

    #[test]
    fn renders_text_and_binds_in_order_and_may_be_cached() {
        let query = cached("SELECT $1::int4, $2::text")
            .bind::<Int4, _>(7)
            .bind::<Text, _>("x");
        let sql = diesel::debug_query::<Pg, _>(&query).to_string();
        assert_eq!(sql, "SELECT $1::int4, $2::text -- binds: [7, \"x\"]");
        assert!(
            query.is_safe_to_cache_prepared(&Pg).expect("cache check"),
            "a fixed statement is kept prepared"
        );
        let raw = diesel::sql_query("SELECT 1");
        assert!(
            !raw.is_safe_to_cache_prepared(&Pg).expect("cache check"),
            "diesel's sql_query is not: the reason this type exists"
        );
    }
}
