//! Gezinsregie: "1 gezin, 1 plan, 1 regisseur". Every family that needs youth
//! care has one plan and one director (procesregisseur) coordinating all care
//! around it. This crate is the HTTP API; `main.rs` is a thin CLI over it.
//!
//! Where things live: `domain/` pure rules, `db/` database and local cluster,
//! `auth/` tokens and policies, `audit/` the trail, `http/` HTTP plumbing,
//! and one folder per resource (`admin/`, `families/`, `plans/`, `care/` for
//! involvements, scaling and signals, `reports/` for aggregate figures);
//! `retention` anonymises dossiers past their retention period.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod care;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod families;
pub mod health;
pub mod http;
pub mod notifications;
pub mod openapi;
pub mod plans;
pub mod referrals;
pub mod reports;
pub mod retention;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tx;
