//! The invariants live in PostgreSQL: these tests bypass the API and show
//! that the database itself refuses what the application must never do.

use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::case_world::*;

async fn sql_fails(app: &crate::helpers::TestApp, statements: &str) -> String {
    let mut conn = app.conn().await;
    let statements = statements.to_owned();
    let result = conn
        .transaction::<(), diesel::result::Error, _>(async |c| {
            for s in statements.split(";\n") {
                if !s.trim().is_empty() {
                    diesel::sql_query(s).execute(c).await?;
                }
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => panic!("the database accepted: {statements}"),
        Err(e) => e.to_string(),
    }
}

#[actix_web::test]
async fn the_database_refuses_a_second_open_plan() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    plan(&w, f, None).await;

    let err = sql_fails(&w.app, &format!(
        "INSERT INTO plans (id, family_id, municipality_code, status, title) VALUES (gen_random_uuid(), '{f}', '0546', 'intake', 'x')"
    )).await;

    assert!(err.contains("plans_one_open_plan_per_family"), "{err}");
}

#[actix_web::test]
async fn the_database_refuses_overlapping_or_second_current_directors() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await.id();
    let bram = w.bram.id();

    let second_current = sql_fails(&w.app, &format!(
        "INSERT INTO director_assignments (id, plan_id, user_id, started_at, reason) VALUES (gen_random_uuid(), '{p}', '{bram}', now() + interval '1 hour', 'x')"
    )).await;
    let overlapping = sql_fails(&w.app, &format!(
        "INSERT INTO director_assignments (id, plan_id, user_id, started_at, ended_at, reason) VALUES (gen_random_uuid(), '{p}', '{bram}', now() - interval '1 day', now() + interval '1 day', 'x')"
    )).await;

    assert!(
        second_current.contains("director_assignments_one_current_per_plan")
            || second_current.contains("director_assignments_no_overlap"),
        "{second_current}"
    );
    assert!(
        overlapping.contains("director_assignments_no_overlap"),
        "{overlapping}"
    );
}

#[actix_web::test]
async fn the_database_refuses_an_active_plan_without_director_and_a_director_without_active_plan() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let intake = plan(&w, f, None).await.id();
    let f2 = family(&w, None, Some(&bsn(9))).await;
    let active = plan(&w, f2, Some(w.anna.id())).await.id();

    let activate = sql_fails(
        &w.app,
        &format!("UPDATE plans SET status = 'active', activated_at = now() WHERE id = '{intake}'"),
    )
    .await;
    let end_director = sql_fails(&w.app, &format!("UPDATE director_assignments SET ended_at = now() + interval '1 second' WHERE plan_id = '{active}'")).await;

    assert!(
        activate.contains("plans_active_iff_director")
            || activate.contains("has status active but no current director"),
        "{activate}"
    );
    assert!(
        end_director.contains("active but no current director"),
        "{end_director}"
    );
}

#[actix_web::test]
async fn the_database_refuses_one_child_in_two_active_families() {
    let w = case_world().await;
    let f1 = family(&w, None, Some(&bsn(11))).await;
    let f2 = family(&w, None, Some(&bsn(12))).await;

    let err = sql_fails(&w.app, &format!(
        "INSERT INTO family_members (id, family_id, role, given_name, family_name, birth_date, bsn_ciphertext, bsn_hash)
         SELECT gen_random_uuid(), '{f2}', 'child', 'X', 'Y', '2015-01-01', bsn_ciphertext, bsn_hash
         FROM family_members WHERE family_id = '{f1}' AND role = 'child'"
    )).await;

    assert!(
        err.contains("family_members_one_active_family_per_child"),
        "{err}"
    );
}

#[actix_web::test]
async fn the_database_refuses_a_family_whose_team_is_of_another_municipality() {
    let w = case_world().await;
    let team = w.katwijk_team;

    let err = sql_fails(&w.app, &format!(
        "INSERT INTO families (id, municipality_code, team_id, name) VALUES (gen_random_uuid(), '0546', '{team}', 'x')"
    )).await;

    assert!(err.contains("foreign key"), "{err}");
}

#[actix_web::test]
async fn the_audit_trail_refuses_update_and_delete() {
    let w = case_world().await;
    family(&w, None, None).await;

    let update = sql_fails(&w.app, "UPDATE audit_events SET outcome = 'denied'").await;
    let delete = sql_fails(&w.app, "DELETE FROM audit_events").await;

    assert!(update.contains("append-only"), "{update}");
    assert!(delete.contains("append-only"), "{delete}");
}

/// A CHECK that request validation failed to catch is still a client error
/// (422 `constraint_violated`), never a 500: the mapping is in `ApiError`.
#[actix_web::test]
async fn a_check_violation_maps_to_a_client_error() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let mut conn = w.app.conn().await;
    let err = diesel::sql_query(format!(
        "UPDATE family_members SET birth_date = '0416-12-16' WHERE family_id = '{f}'"
    ))
    .execute(&mut conn)
    .await
    .expect_err("the CHECK refuses a birth date before 1900");

    let api = gezinsregie::error::ApiError::from(err);

    assert_eq!(api.status.as_u16(), 422);
    assert_eq!(api.code.as_str(), "constraint_violated");
}
