//! The server side of Aviso, on the `aviso` library: `aviso-rest` takes notifications over
//! HTTP (CloudEvents or plain JSON) and writes them to etcd; `aviso-auth` authenticates and
//! authorises users in front of etcd's range and watch routes; `aviso-admin` keeps etcd at a
//! constant size. pyaviso's names, configuration files, environment variables and answers
//! (../shared/reference/pyaviso-behaviour.md §12), with its bugs fixed (docs/decisions.md).

pub mod admin;
pub mod auth;
pub mod gateway;
pub mod http;
pub mod rest;
pub mod settings;
pub mod telemetry;
