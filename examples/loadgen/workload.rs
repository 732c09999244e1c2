//! The requests of each workload. Request `n` of a run is a pure function
//! of `n` and the fixture, so concurrent workers never pick the same new
//! involvement or hand the same plan over at once.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::{json, Value};

use crate::fixture::Fixture;
use crate::Workload;

/// Which token a request carries.
pub enum Auth {
    /// The team lead's session.
    User,
    /// The GP system's client-credentials token.
    Client,
}

pub struct Request {
    pub method: Method,
    pub url: String,
    pub body: Option<Value>,
    pub auth: Auth,
    pub idempotency_key: Option<String>,
    /// For a handover: the plan and the director it moves to, recorded
    /// once the server has accepted it.
    pub handover: Option<(usize, usize)>,
    /// What the request is about, by role (`--once` prints them for the
    /// pgbench script generator): subjects by id, `fresh_*` for made-up text.
    pub roles: Vec<(&'static str, Value)>,
}

impl Request {
    fn get(url: String) -> Self {
        Request {
            method: Method::GET,
            url,
            body: None,
            auth: Auth::User,
            idempotency_key: None,
            handover: None,
            roles: Vec::new(),
        }
    }
}

/// Shares of the mix, out of 20: what a JGT team does over a day is mostly
/// reading plans and worklists; changes and new referrals are the minority.
const MIX: [(Workload, u64); 5] = [
    (Workload::PlanView, 12),
    (Workload::FamilySignal, 4),
    (Workload::CreateInvolvement, 2),
    (Workload::DirectorHandover, 1),
    (Workload::ReferralIntake, 1),
];

/// Request `n` of the workload. Each workload of the mix counts its own
/// requests, so the mix walks plans and combinations like the pure runs do.
pub fn request(workload: Workload, n: u64, api: &str, fixture: &Fixture) -> Request {
    match workload {
        Workload::Mix => {
            let slot = n % 20;
            let mut upto = 0;
            for (kind, share) in MIX {
                if slot < upto + share {
                    let own = (n / 20) * share + (slot - upto);
                    return request(kind, own, api, fixture);
                }
                upto += share;
            }
            unreachable!("the shares add up to 20")
        }
        Workload::FamilySignal => {
            Request::get(format!("{api}/families?signal=many_providers&limit=50"))
        }
        Workload::PlanView => {
            let plans = &fixture.read_plans;
            let plan = &plans[n as usize % plans.len()];
            Request {
                roles: vec![("plan_id", json!(plan))],
                ..Request::get(format!("{api}/plans/{plan}"))
            }
        }
        Workload::CreateInvolvement => {
            // Plans vary fastest, so each plan gets one more involvement per
            // round over all plans rather than many at once.
            let plans = fixture.write_plans.len() as u64;
            let providers = fixture.providers.len() as u64;
            let forms = fixture.care_forms.len() as u64;
            let plan = &fixture.write_plans[(n % plans) as usize];
            let provider = &fixture.providers[((n / plans) % providers) as usize];
            let form = &fixture.care_forms[((n / plans / providers) % forms) as usize];
            Request {
                method: Method::POST,
                url: format!("{api}/plans/{}/involvements", plan.id),
                body: Some(json!({
                    "providerId": provider,
                    "careFormCode": form,
                    "status": "requested",
                    "reason": "Aangevraagd vanuit het benchmark",
                })),
                roles: vec![
                    ("plan_id", json!(plan.id)),
                    ("provider_id", json!(provider)),
                ],
                ..Request::get(String::new())
            }
        }
        Workload::DirectorHandover => {
            let index = n as usize % fixture.write_plans.len();
            let plan = &fixture.write_plans[index];
            let current = plan.director.load(Ordering::Relaxed);
            let next = if current == usize::MAX {
                n as usize % fixture.directors.len()
            } else {
                (current + 1) % fixture.directors.len()
            };
            Request {
                method: Method::PUT,
                url: format!("{api}/plans/{}/director", plan.id),
                body: Some(json!({
                    "userId": fixture.directors[next],
                    "reason": "Overdracht (benchmark)",
                })),
                handover: Some((index, next)),
                roles: vec![
                    ("plan_id", json!(plan.id)),
                    ("target_user", json!(fixture.directors[next])),
                    ("directors", json!(fixture.directors)),
                ],
                ..Request::get(String::new())
            }
        }
        Workload::ReferralIntake => {
            // A child nobody knows yet (no BSN: generated people never get
            // one), so each referral becomes a new family with an intake plan.
            let name = letters(n);
            let reference = format!("bench-{}-{n}", fixture.run_tag);
            let given = format!("Kind {name}");
            let family = format!(
                "Bench {}",
                letters(u64::from_str_radix(&fixture.run_tag, 16).unwrap_or(0))
            );
            Request {
                method: Method::POST,
                url: format!("{api}/referrals"),
                body: Some(json!({
                    "externalReference": reference,
                    "referrerType": "02",
                    "referrerAgbCode": gezinsregie::demo::DEMO_CLIENT_AGB,
                    "municipalityCode": "0546",
                    "child": {
                        "givenName": given,
                        "familyName": family,
                        "birthDate": format!("{}-{:02}-{:02}", 2008 + n % 14, 1 + n % 12, 1 + n % 28),
                    },
                    "parents": [{"givenName": "Ouder", "familyName": format!("Bench {name}"), "birthDate": "1985-03-14"}],
                    "reason": "Zorgen over ontwikkeling en gedrag",
                    "urgency": "regular",
                })),
                auth: Auth::Client,
                idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
                roles: vec![
                    ("fresh_reference", json!(reference)),
                    ("fresh_given_name", json!(given)),
                    ("fresh_family_name", json!(family)),
                ],
                ..Request::get(String::new())
            }
        }
    }
}

/// Records an accepted handover so the next one for that plan moves on.
pub fn accepted(request: &Request, fixture: &Fixture) {
    if let Some((plan, director)) = request.handover {
        fixture.write_plans[plan]
            .director
            .store(director, Ordering::Relaxed);
    }
}

/// `n` written in lowercase letters (names allow no digits).
fn letters(mut n: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
