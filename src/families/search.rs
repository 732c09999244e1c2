//! The family search: one statement per combination of the caller's reach
//! and the filters in use, each kept prepared (see [`list_statement`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use diesel::prelude::*;
use diesel::sql_types::{Bytea, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::sql::cached;
use crate::domain::signals::SignalCode;
use crate::domain::{FamilyId, TeamId, UserId};

/// How far a caller's search reaches.
#[derive(Debug, Clone)]
pub enum Reach {
    /// A team lead: the whole municipality.
    Municipality(Option<String>),
    /// A JGT worker: its own team, and the families it directs.
    TeamOrDirected {
        municipality: Option<String>,
        team: Option<TeamId>,
    },
    /// Anyone else (a GI worker): the families it directs.
    Directed,
}

/// A search: the caller's reach, the filters given and the page.
#[derive(Debug)]
pub struct Search<'a> {
    pub reach: Reach,
    pub user: UserId,
    pub name: Option<&'a str>,
    pub team: Option<TeamId>,
    pub director: Option<UserId>,
    pub bsn_hash: Option<Vec<u8>>,
    pub signal: Option<SignalCode>,
    pub after: Option<FamilyId>,
    pub fetch: i64,
}

/// The families a search finds, in id order (by the signal index's family
/// order when searching by signal).
pub async fn search(conn: &mut AsyncPgConnection, s: &Search<'_>) -> QueryResult<Vec<ListRow>> {
    let (scope, scope_municipality, scope_team) = match &s.reach {
        Reach::Municipality(m) => (1, m.clone(), None),
        Reach::TeamOrDirected { municipality, team } => (2, municipality.clone(), *team),
        Reach::Directed => (3, None, None),
    };
    // Team leads and JGT workers search their own municipality; the signal
    // index is entered with it.
    let signal_municipality = match (scope, s.signal) {
        (1 | 2, Some(_)) => scope_municipality.clone(),
        _ => None,
    };
    let statement = list_statement(ListShape {
        scope,
        signal: s.signal.is_some(),
        signal_municipality: signal_municipality.is_some(),
        name: s.name.is_some(),
        team: s.team.is_some(),
        director: s.director.is_some(),
        bsn: s.bsn_hash.is_some(),
        after: s.after.is_some(),
    });
    cached(statement)
        .bind::<Int4, _>(scope)
        .bind::<Nullable<Text>, _>(scope_municipality)
        .bind::<Nullable<SqlUuid>, _>(scope_team)
        .bind::<SqlUuid, _>(s.user)
        .bind::<Nullable<Text>, _>(s.name.map(like_pattern))
        .bind::<Nullable<SqlUuid>, _>(s.team)
        .bind::<Nullable<SqlUuid>, _>(s.director)
        .bind::<Nullable<Bytea>, _>(s.bsn_hash.as_deref())
        .bind::<Nullable<SqlUuid>, _>(s.after)
        .bind::<Int8, _>(s.fetch)
        .bind::<Nullable<Text>, _>(s.signal.map(|c| c.as_str()))
        .bind::<Nullable<Text>, _>(signal_municipality)
        .load(conn)
        .await
}

/// A family found by a search.
#[derive(Debug, QueryableByName)]
pub struct ListRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: FamilyId,
    #[diesel(sql_type = Text)]
    pub municipality_code: String,
    #[diesel(sql_type = SqlUuid)]
    pub team_id: TeamId,
    #[diesel(sql_type = Text)]
    pub name: String,
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Which conditions a family search uses: its reach (1 municipality-wide,
/// 2 own team or directed, 3 directed only) and the filters given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ListShape {
    scope: i32,
    signal: bool,
    signal_municipality: bool,
    name: bool,
    team: bool,
    director: bool,
    bsn: bool,
    after: bool,
}

impl ListShape {
    /// The statement with only the conditions in use. Its parameters are
    /// always the same twelve (an unused one is simply not referenced).
    fn sql(self) -> String {
        // Without a signal the families table drives the query; with one,
        // the signal index (municipality, code, family) does, walked in
        // family order, so the first page stays as cheap with a million
        // families as with ten.
        //
        // The director of the family's open plan is joined only when a
        // condition needs it (a team lead's page without a director filter
        // does not).
        let director = self.scope != 1 || self.director;
        let mut sql = String::from("SELECT f.id, f.municipality_code, f.team_id, f.name");
        let order = if self.signal {
            sql.push_str("\n FROM plan_signals s JOIN families f ON f.id = s.family_id");
            if director {
                sql.push_str(
                    "\n LEFT JOIN director_assignments d
                     ON d.plan_id = s.plan_id AND d.ended_at IS NULL",
                );
            }
            sql.push_str("\n WHERE s.code = $11");
            "s.family_id"
        } else {
            sql.push_str("\n FROM families f");
            if director {
                sql.push_str(
                    "\n LEFT JOIN plans p ON p.family_id = f.id AND p.status <> 'closed'
                     LEFT JOIN director_assignments d
                     ON d.plan_id = p.id AND d.ended_at IS NULL",
                );
            }
            sql.push_str("\n WHERE TRUE");
            "f.id"
        };
        let mut and = |used: bool, condition: &str| {
            if used {
                sql.push_str("\n AND ");
                sql.push_str(condition);
            }
        };
        and(self.signal_municipality, "s.municipality_code = $12");
        and(self.scope == 1, "f.municipality_code = $2");
        and(self.scope == 2, "(f.team_id = $3 OR d.user_id = $4)");
        and(self.scope == 3, "d.user_id = $4");
        and(self.name, "f.name ILIKE $5");
        and(self.team, "f.team_id = $6");
        and(self.director, "d.user_id = $7");
        and(
            self.bsn,
            "EXISTS (SELECT 1 FROM family_members m
                     WHERE m.family_id = f.id AND m.bsn_hash = $8 AND m.ended_on IS NULL)",
        );
        and(self.after, &format!("{order} > $9"));
        sql.push_str(&format!("\n ORDER BY {order} LIMIT $10"));
        sql
    }
}

/// The search statement of a shape, built once per process. One statement
/// per shape, rather than one with `$n IS NULL OR ...` for every filter,
/// lets PostgreSQL keep a plan per shape instead of planning the catch-all
/// anew at every search (most of a list page's database time). There are at
/// most 3 × 2⁷ shapes, so the texts kept are bounded.
fn list_statement(shape: ListShape) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashMap<ListShape, &'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    texts
        .entry(shape)
        .or_insert_with(|| Box::leak(shape.sql().into_boxed_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(scope: i32) -> ListShape {
        ListShape {
            scope,
            signal: false,
            signal_municipality: false,
            name: false,
            team: false,
            director: false,
            bsn: false,
            after: false,
        }
    }

    #[test]
    fn a_search_statement_holds_only_the_conditions_in_use() {
        let lead_by_signal = ListShape {
            signal: true,
            signal_municipality: true,
            ..shape(1)
        }
        .sql();
        assert!(lead_by_signal.contains("FROM plan_signals s"));
        assert!(lead_by_signal.contains("s.municipality_code = $12"));
        assert!(lead_by_signal.contains("f.municipality_code = $2"));
        assert!(lead_by_signal.ends_with("ORDER BY s.family_id LIMIT $10"));
        // A team lead's page needs no director: not joined, no filter on it.
        assert!(!lead_by_signal.contains("director_assignments"));
        for unused in ["$3", "$5", "$6", "$7", "$8", "$9"] {
            assert!(
                !lead_by_signal.contains(unused),
                "{unused} in {lead_by_signal}"
            );
        }

        let worker = shape(2).sql();
        assert!(worker.contains("FROM families f"));
        assert!(worker.contains("director_assignments d"));
        assert!(worker.contains("(f.team_id = $3 OR d.user_id = $4)"));
        assert!(!worker.contains("$2"));

        let filtered = ListShape {
            name: true,
            bsn: true,
            director: true,
            after: true,
            ..shape(1)
        }
        .sql();
        for used in [
            "f.name ILIKE $5",
            "m.bsn_hash = $8",
            "d.user_id = $7",
            "f.id > $9",
        ] {
            assert!(filtered.contains(used), "{used} missing from {filtered}");
        }
    }

    #[test]
    fn each_shape_is_built_once() {
        let a = list_statement(shape(3));
        let b = list_statement(shape(3));
        assert!(std::ptr::eq(a, b));
        assert_ne!(list_statement(shape(2)), a);
    }
}
