//! Account administration from the machine itself, e.g. to recover a lost admin password.

use super::CliError;
use crate::auth::password::{HashCost, hash_password, random_password};
use crate::domain::ValidationErrors;
use crate::domain::user::{NewUser, Role, User, UserStatus, check_password};
use crate::store::{PageRequest, Store, UserChange};
use clap::{Args, Subcommand};
use std::io::{BufRead, Write};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (prints a generated password unless --password-stdin).
    Create(CreateArgs),
    /// List users.
    List,
    /// Set a new password (prints a generated one unless --password-stdin).
    SetPassword(PasswordArgs),
    /// Change a user's role.
    SetRole {
        /// The user's username.
        username: String,
        /// viewer, editor or admin.
        role: String,
    },
    /// Lock a user out (status inactive).
    Deactivate {
        /// The user's username.
        username: String,
    },
    /// Let a deactivated or suspended user in again.
    Activate {
        /// The user's username.
        username: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The new user's username (unique, case-insensitive).
    pub username: String,
    /// The new user's email address (unique).
    #[arg(long)]
    pub email: String,
    /// viewer, editor or admin.
    #[arg(long, default_value = "viewer")]
    pub role: String,
    /// The user's full name, as shown to others.
    #[arg(long)]
    pub full_name: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The user's username.
    pub username: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// The password to set: from stdin when asked, else a random one to print once.
fn choose_password(from_stdin: bool) -> Result<(String, bool), CliError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
    } else {
        Ok((random_password().map_err(CliError::Config)?, true))
    }
}

async fn hash(password: String) -> Result<String, CliError> {
    hash_password(password, HashCost::default())
        .await
        .map_err(CliError::Config)
}

async fn find(store: &dyn Store, username: &str) -> Result<User, CliError> {
    store
        .find_user(username)
        .await?
        .map(|(u, _)| u)
        .ok_or_else(|| CliError::NotFound(format!("user `{username}` not found")))
}

/// Runs a user command; returns the id of a user whose sessions or rights changed, which
/// running servers must hear about.
pub async fn run(store: &dyn Store, cmd: UserCommand, out: &mut impl Write) -> Result<Option<String>, CliError> {
    let changed = match cmd {
        UserCommand::Create(a) => {
            let (password, generated) = choose_password(a.password_stdin)?;
            let new = NewUser::parse(&a.username, &a.email, a.full_name.as_deref(), &a.role, &password)?;
            let user = store.create_user(&new, &hash(password.clone()).await?).await?;
            writeln!(out, "created {} ({}, {})", user.username, user.role, user.user_id)?;
            if generated {
                writeln!(out, "password: {password}")?;
            }
            None
        }
        UserCommand::List => {
            let mut after = None;
            writeln!(
                out,
                "{:<24} {:<32} {:<7} {:<9} USER_ID",
                "USERNAME", "EMAIL", "ROLE", "STATUS"
            )?;
            loop {
                let page = store.list_users(&PageRequest::cursor(after, 100, false)).await?;
                for u in &page.items {
                    writeln!(
                        out,
                        "{:<24} {:<32} {:<7} {:<9} {}",
                        u.username,
                        u.email,
                        u.role.as_str(),
                        u.status.as_str(),
                        u.user_id
                    )?;
                }
                match page.next_cursor {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            None
        }
        UserCommand::SetPassword(a) => {
            let user = find(store, &a.username).await?;
            let (password, generated) = choose_password(a.password_stdin)?;
            check_password(&password).map_err(|m| ValidationErrors::single("password", m))?;
            let change = UserChange {
                password_hash: Some(hash(password.clone()).await?),
                ..Default::default()
            };
            store.update_user(&user.user_id, &change).await?;
            store
                .revoke_user_refresh_tokens(&user.user_id, chrono::Utc::now().timestamp())
                .await?;
            writeln!(out, "password of {} changed; their sessions have ended", user.username)?;
            if generated {
                writeln!(out, "password: {password}")?;
            }
            Some(user.user_id)
        }
        UserCommand::SetRole { username, role } => {
            let user = find(store, &username).await?;
            let role = Role::parse(&role)
                .ok_or_else(|| ValidationErrors::single("role", format!("must be one of {}", Role::ALL.join(", "))))?;
            let change = UserChange {
                role: Some(role),
                ..Default::default()
            };
            store.update_user(&user.user_id, &change).await?;
            writeln!(out, "{} is now {}", user.username, role)?;
            Some(user.user_id)
        }
        UserCommand::Deactivate { username } => Some(set_status(store, &username, UserStatus::Inactive, out).await?),
        UserCommand::Activate { username } => Some(set_status(store, &username, UserStatus::Active, out).await?),
    };
    Ok(changed)
}

async fn set_status(
    store: &dyn Store,
    username: &str,
    status: UserStatus,
    out: &mut impl Write,
) -> Result<String, CliError> {
    let user = find(store, username).await?;
    let change = UserChange {
        status: Some(status),
        ..Default::default()
    };
    store.update_user(&user.user_id, &change).await?;
    if status != UserStatus::Active {
        store
            .revoke_user_refresh_tokens(&user.user_id, chrono::Utc::now().timestamp())
            .await?;
    }
    writeln!(out, "{} is now {}", user.username, status.as_str())?;
    Ok(user.user_id)
}
