//! Care providers (zorgaanbieders), identified by their AGB code. Admins
//! register and change them; every logged-in user may read them, because
//! directors pick providers for involvements and providers see who else
//! is involved.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;

pub use model::*;
