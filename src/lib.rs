//! MDL, the Metrics Definition Library: the whole application as a library, so the binary,
//! the tests and the load tests share one entry point.

pub mod auth;
pub mod breaker;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod counters;
pub mod domain;
pub mod http;
pub mod observability;
pub mod store;
