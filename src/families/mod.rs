//! Families (gezinnen) and their members.
pub mod routes;
