//! `aviso serve`: one long-running service that runs the listeners and plugins of many tenants
//! against the shared notification store, under the site's policy and each tenant's quotas.
//!
//! In progress (issue 15): the service and tenant files are read and checked, each tenant's
//! triggers are confined to what it may use, and every tenant runs from one feed per base key
//! with its own positions, dead letters and tagged log lines; the management API answers
//! health, readiness and tenants' status. Quotas other than the number of listeners, live
//! changes and metrics come next.

pub mod api;
pub mod config;
pub mod service;
pub mod tenant;

pub use config::{
    ApiSettings, Quotas, RefusedTenant, ServiceFile, TenantFolder, TenantScan, TokenHash,
};
pub use service::{Service, TenantState, TenantStatus};
