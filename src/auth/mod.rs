//! Authentication primitives: password hashing and random secrets.

pub mod password;
