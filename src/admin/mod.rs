//! Administration: municipalities (tenants), JGT teams, user accounts, care
//! providers and machine clients. Functional administrators manage these;
//! they never see family data. One room, in the four layers of every
//! resource: `routes` (handlers), `service` (one transaction each),
//! `queries` (reads and writes), `model` (request and response shapes).

pub mod approvals;
pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
