//! The HTTP API end to end, one file per resource or concern: a real server on 127.0.0.1:0
//! (`crate::support::TestApp`), a real client.

mod access;
mod api_keys;
mod auth;
mod catalog;
mod errors;
mod headers;
mod merge_patches;
mod metric_writes;
mod metrics;
mod openapi;
mod pagination;
mod report;
mod users;
mod versions;
