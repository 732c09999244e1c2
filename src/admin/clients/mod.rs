//! Machine clients: GP, youth-doctor and GI systems that submit referrals.
//! Admins register them; the client secret (for the token endpoint) and the
//! callback secret (for checking notification signatures) are shown once,
//! at creation. The client secret is kept only as an argon2id hash; the
//! callback secret must be used again to sign, so it is kept sealed.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;

pub use model::*;
// The CLI and the demo data register clients the way the API does.
pub use service::insert_client;
