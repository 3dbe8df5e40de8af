//! The one integration-test binary: every suite is a module here.
#![allow(clippy::unwrap_used)]

mod support;

mod cache;
mod cache_grain;
mod cli;
mod contract;
mod domain;
mod fuzz_props;
mod hardening;
mod hostile_auth;
mod hostile_http;
mod hostile_import;
mod http;
mod import_export;
mod observability;
mod policy;
mod policy_http;
mod store_suite;
mod versions;
