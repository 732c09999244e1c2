//! Reads and writes of user accounts.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{User, UserChange, UserRow, UserSpec};
use crate::db::schema::{auth_sessions, user_served_municipalities, users};
use crate::domain::{Role, UserId};

/// Inserts an account whose references were checked.
pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    id: UserId,
    spec: &UserSpec,
    password_hash: &str,
) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::username.eq(&spec.username),
            users::display_name.eq(&spec.display_name),
            users::role.eq(spec.role),
            users::municipality_code.eq(spec.municipality.as_ref().map(|m| m.as_str())),
            users::team_id.eq(spec.team_id),
            users::provider_id.eq(spec.provider_id),
            users::password_hash.eq(password_hash),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Records that `user` serves `municipality` besides its home one.
pub async fn add_served(
    conn: &mut AsyncPgConnection,
    user: UserId,
    municipality: &str,
) -> QueryResult<()> {
    diesel::insert_into(user_served_municipalities::table)
        .values((
            user_served_municipalities::user_id.eq(user),
            user_served_municipalities::municipality_code.eq(municipality),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// The accounts of `rows` (a page of [`list_users`]) with the
/// municipalities they serve.
pub async fn accounts(conn: &mut AsyncPgConnection, rows: Vec<UserRow>) -> QueryResult<Vec<User>> {
    let ids: Vec<UserId> = rows.iter().map(|r| r.id).collect();
    let served: Vec<(UserId, String)> = user_served_municipalities::table
        .filter(user_served_municipalities::user_id.eq_any(&ids))
        .select((
            user_served_municipalities::user_id,
            user_served_municipalities::municipality_code,
        ))
        .order(user_served_municipalities::municipality_code)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| User::of(r, &served)).collect())
}

pub async fn user(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    let row: Option<UserRow> = users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match row {
        Some(row) => Ok(accounts(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Rows of a page of accounts after `after`, of `role` and `municipality`
/// when given; [`accounts`] completes them.
pub async fn list_users(
    conn: &mut AsyncPgConnection,
    role: Option<Role>,
    municipality: Option<&str>,
    after: Option<UserId>,
    fetch: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut q = users::table
        .select(UserRow::as_select())
        .order(users::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(users::id.gt(after));
    }
    if let Some(role) = role {
        q = q.filter(users::role.eq(role));
    }
    if let Some(code) = municipality {
        q = q.filter(users::municipality_code.eq(code.to_owned()));
    }
    q.load(conn).await
}

/// Applies `change`, with the new password's hash when it sets one.
pub async fn update_user(
    conn: &mut AsyncPgConnection,
    id: UserId,
    change: &UserChange,
    password_hash: Option<&str>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            change
                .display_name
                .as_ref()
                .map(|d| users::display_name.eq(d)),
            change.active.map(|a| users::active.eq(a)),
            change.team_id.map(|t| users::team_id.eq(t)),
            password_hash.map(|h| users::password_hash.eq(h)),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Ends every open session of `user`.
pub async fn revoke_sessions(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<()> {
    diesel::update(auth_sessions::table)
        .filter(auth_sessions::user_id.eq(user))
        .filter(auth_sessions::revoked_at.is_null())
        .set((
            auth_sessions::revoked_at.eq(diesel::dsl::now),
            auth_sessions::revoked_reason.eq("user_disabled"),
        ))
        .execute(conn)
        .await
        .map(drop)
}
