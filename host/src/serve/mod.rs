//! `aviso serve`: one long-running service that runs the listeners and plugins of many tenants
//! against the shared notification store, under the site's policy and each tenant's quotas.
//!
//! The service and tenant files are read and checked (`config`), each tenant's triggers are
//! confined to what it may use (`tenant`), every tenant runs from one feed per base key with
//! its own positions, dead letters, quotas and tagged log lines, and a tenant's changed files
//! restart that tenant alone (`service`); the management API (`api`, over HTTPS with `https`)
//! answers health, readiness, metrics and tenants' status, and takes listener files and
//! plugins.

pub mod api;
pub mod config;
mod https;
pub mod service;
pub mod tenant;

pub use config::{
    ApiSettings, Quotas, RefusedTenant, ServiceFile, TenantFolder, TenantScan, TokenHash,
};
pub use service::{Service, TenantState, TenantStatus};
