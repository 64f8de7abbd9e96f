//! `aviso serve`: one long-running service that runs the listeners and plugins of many tenants
//! against the shared notification store, under the site's policy and each tenant's quotas
//! (issue 15, in progress: the service and tenant files are read and checked here; running them
//! comes next).

pub mod config;

pub use config::{
    ApiSettings, Quotas, RefusedTenant, ServiceFile, TenantFolder, TenantScan, TokenHash,
};
