//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations. A modifier adds what every operation shares (problem
//! responses, the API-Version header), so no handler can forget them and the
//! ADR linter's rules hold by construction. `openapi/openapi.json` is this
//! document, committed; a test fails when it is stale.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::AnyOf;
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::{Content, ObjectBuilder, Ref, RefOr, Response, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::error::PROBLEM_JSON;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gezinsregie API",
        version = "1.0.0",
        description = "1 gezin, 1 plan, 1 regisseur: one plan and one director (procesregisseur) for every family in youth care.",
        contact(name = "Gezinsregie", email = "api@gezinsregie.nl", url = "https://gezinsregie.nl"),
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    servers((url = "/v1", description = "This server, version 1")),
    paths(
        crate::auth::routes::login,
        crate::auth::routes::refresh,
        crate::auth::routes::logout,
        crate::auth::routes::me,
        crate::auth::routes::issue_token,
        crate::admin::routes::create_municipality,
        crate::admin::routes::list_municipalities,
        crate::admin::routes::create_team,
        crate::admin::routes::list_teams,
        crate::admin::routes::create_user,
        crate::admin::routes::list_users,
        crate::admin::routes::get_user,
        crate::admin::routes::update_user,
        crate::admin::routes::create_provider,
        crate::admin::routes::list_providers,
        crate::admin::routes::get_provider,
        crate::admin::routes::update_provider,
        crate::admin::routes::create_client,
        crate::admin::routes::list_clients,
        crate::admin::routes::get_client,
        crate::admin::routes::update_client,
        crate::admin::routes::list_notifications,
        crate::admin::routes::list_account_approvals,
        crate::admin::routes::approve_account,
        crate::families::routes::create_family,
        crate::families::routes::list_families,
        crate::families::routes::get_family,
        crate::families::routes::update_family,
        crate::families::routes::add_member,
        crate::families::routes::update_member,
        crate::audit::routes::get_access_log,
        crate::plans::routes::create_plan,
        crate::plans::routes::get_current_plan,
        crate::plans::routes::list_family_plans,
        crate::plans::routes::get_plan,
        crate::plans::routes::update_plan,
        crate::plans::routes::close_plan,
        crate::plans::routes::assign_director,
        crate::plans::routes::director_history,
        crate::plans::routes::eligible_directors,
        crate::plans::routes::caseload,
        crate::care::routes::list_care_forms,
        crate::care::routes::create_involvement,
        crate::care::routes::start_involvement,
        crate::care::routes::end_involvement,
        crate::care::routes::list_own_involvements,
        crate::care::routes::scale_plan,
        crate::care::routes::list_scalings,
        crate::care::routes::list_signals,
        crate::care::routes::acknowledge_signal,
        crate::referrals::routes::create_referral,
        crate::referrals::routes::list_referrals,
        crate::referrals::routes::get_referral,
        crate::referrals::routes::accept_referral,
        crate::referrals::routes::decline_referral,
        crate::audit::routes::list_events,
        crate::audit::routes::export_events,
        crate::audit::routes::verify,
        crate::reports::routes::summary_report,
        crate::audit::routes::list_emergency_accesses,
    ),
    components(schemas(crate::error::Problem, crate::error::InvalidParam)),
    modifiers(&SecurityAndProblems),
    tags(
        (name = "Auth", description = "Login, tokens (users and machine clients), the current user"),
        (name = "Administration", description = "Municipalities, teams, users, providers and machine clients (admin)"),
        (name = "Families", description = "Families and their members"),
        (name = "Plans", description = "The one plan of a family"),
        (name = "Directors", description = "The one director of a plan: handover, history, caseload"),
        (name = "Care", description = "Care forms, involvements of providers, scaling up and down, stacked-care signals"),
        (name = "Referrals", description = "Referrals from GPs, GIs and the JGT, pulled into the family's one plan; the intake queue"),
        (name = "Audit", description = "The NEN 7513 audit trail: events, streaming export, tamper verification"),
        (name = "Reports", description = "Aggregate figures of a municipality, small counts suppressed (auditors, team leads, admins)"),
    )
)]
pub struct ApiDoc;

/// Operations that need no token.
const PUBLIC_OPERATIONS: &[&str] = &["login", "refreshToken", "issueClientToken"];

/// Schemas that are one of several views where a fuller view also matches
/// the leaner one: `anyOf`, since `oneOf` would reject a valid response.
const ANY_OF_SCHEMAS: &[&str] = &["ReferralView"];

struct SecurityAndProblems;

impl Modify for SecurityAndProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "clientCredentials",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/v1/oauth/token",
                    Scopes::from_iter([
                        ("referrals:write", "Submit referrals"),
                        ("referrals:read", "Read the status of your own referrals"),
                    ]),
                ))],
                "Machine clients (GP, youth doctor, GI systems)",
            )),
        );
        components.add_security_scheme(
            "basicClient",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        for name in ANY_OF_SCHEMAS {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get(*name) {
                let mut any_of = AnyOf::new();
                any_of.items = one_of.items.clone();
                any_of.description = one_of.description.clone();
                components
                    .schemas
                    .insert((*name).to_owned(), RefOr::T(Schema::AnyOf(any_of)));
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            let ops = [
                (&mut item.get, false),
                (&mut item.delete, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
            ];
            for (op, writes) in ops {
                if let Some(op) = op.as_mut() {
                    complete_operation(op, writes, has_path_params);
                }
            }
        }
    }
}

fn problem(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
    );
    response
}

fn complete_operation(op: &mut Operation, writes: bool, has_path_params: bool) {
    let public = op
        .operation_id
        .as_deref()
        .is_some_and(|id| PUBLIC_OPERATIONS.contains(&id));
    let has_query = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut standard: Vec<(&str, &str)> = Vec::new();
    if writes || has_query || has_path_params {
        standard.push(("400", "Invalid input; `invalidParams` names the fields"));
    }
    if !public {
        standard.push(("401", "Missing, invalid or expired access token"));
        standard.push(("403", "Not allowed for this user"));
    }
    if has_path_params {
        standard.push(("404", "Not found, or outside your municipality"));
    }
    if writes {
        standard.push(("413", "Body larger than 1 MiB"));
        standard.push(("415", "Body is not application/json"));
    }
    standard.push(("500", "Unexpected error (logged with the request id)"));
    standard.push(("503", "Database unavailable; retry"));
    let responses = &mut op.responses.responses;
    for (status, description) in standard {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(description)));
    }
    if !public && op.security.is_none() {
        op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('2') || status.starts_with('3') {
            response.headers.insert(
                "API-Version".to_owned(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String).build())
                    .description(Some("Version of the API contract (semver)"))
                    .build(),
            );
        } else if !response.content.contains_key(PROBLEM_JSON) {
            response.content.clear();
            response.content.insert(
                PROBLEM_JSON.to_owned(),
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
            );
        }
    }
}

/// The document as pretty JSON, as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
