//! End-to-end tests of aviso-rest, aviso-auth and aviso-admin: the binaries against real etcd,
//! with real HTTP clients (raw requests, ours, pyaviso 1.0.1).

mod admin;
mod auth;
mod common;
mod demo;
mod rest;
