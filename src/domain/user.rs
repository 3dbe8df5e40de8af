//! Users and their roles. Password hashing lives in `auth`; this is the validated shape.

use super::errors::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: &'static [&'static str] = &["viewer", "editor", "admin"];

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Inactive,
    Suspended,
}

impl UserStatus {
    pub const ALL: &'static [&'static str] = &["active", "inactive", "suspended"];

    pub fn parse(s: &str) -> Option<UserStatus> {
        match s {
            "active" => Some(UserStatus::Active),
            "inactive" => Some(UserStatus::Inactive),
            "suspended" => Some(UserStatus::Suspended),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Inactive => "inactive",
            UserStatus::Suspended => "suspended",
        }
    }
}

/// A user as shown to clients: never the password hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped whenever the user's sessions are revoked; access tokens carry the value they were
    /// issued under and are refused once it moved. Internal: never shown to clients.
    #[serde(skip)]
    pub token_version: i64,
}

/// A validated request to create a user (password still in clear; hash before storing).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub password: String,
}

impl NewUser {
    pub fn parse(
        username: &str,
        email: &str,
        full_name: Option<&str>,
        role: &str,
        password: &str,
    ) -> Result<NewUser, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let username = normalise_username(username).unwrap_or_else(|m| {
            errors.add("username", m);
            String::new()
        });
        let email = normalise_email(email).unwrap_or_else(|m| {
            errors.add("email", m);
            String::new()
        });
        let role = Role::parse(role).unwrap_or_else(|| {
            errors.add("role", format!("must be one of {}", Role::ALL.join(", ")));
            Role::Viewer
        });
        if let Err(m) = check_password(password) {
            errors.add("password", m);
        }
        let full_name = full_name.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        if full_name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            errors.add("full_name", "must be at most 200 characters");
        }
        errors.into_result(NewUser {
            username,
            email,
            full_name,
            role,
            password: password.to_string(),
        })
    }
}

/// Usernames are case-insensitive: stored lower-case, 3-64 of `[a-z0-9._-]`.
pub fn normalise_username(s: &str) -> Result<String, String> {
    let u = s.trim().to_ascii_lowercase();
    if u.len() < 3 || u.len() > 64 {
        return Err("must be 3-64 characters".into());
    }
    if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(u)
}

pub fn normalise_email(s: &str) -> Result<String, String> {
    let e = s.trim().to_ascii_lowercase();
    let valid = e.len() <= 254
        && !e.contains(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, host)| {
            !local.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
        });
    if valid {
        Ok(e)
    } else {
        Err("must be an email address".into())
    }
}

pub fn check_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(format!("must be at least {MIN_PASSWORD_LEN} characters"))
    } else if n > MAX_PASSWORD_LEN {
        Err(format!("must be at most {MAX_PASSWORD_LEN} characters"))
    } else {
        Ok(())
    }
}
