//! The users table.

use super::{Dialect, ListSpec};
use crate::domain::user::{Role, User, UserStatus};
use crate::store::error::StoreError;
use crate::store::model::UserChange;
use crate::store::query::PageRequest;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

const USER_COLUMNS: &str =
    "t.user_id, t.username, t.email, t.full_name, t.role, t.status, t.created_at, t.updated_at, t.token_version";

/// Users listed by username (unique, so it is its own tie-breaker).
pub(crate) fn user_spec(page: &PageRequest) -> ListSpec<'_> {
    ListSpec {
        columns: USER_COLUMNS.to_string(),
        table: "users",
        id_col: "username",
        sort_col: "username",
        descending: false,
        page,
        scope: "users|username".to_string(),
        count_search: false,
    }
}

/// `SELECT user columns [, password_hash] FROM users t WHERE <col> = value`.
pub(crate) fn user_lookup<DB: Dialect>(col: &str, value: &str, with_hash: bool) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new(format!("SELECT {USER_COLUMNS}"));
    if with_hash {
        qb.push(", t.password_hash");
    }
    qb.push(format_args!(" FROM users t WHERE t.{col} = "))
        .push_bind(value.to_string());
    qb
}

pub(crate) fn user_insert<DB: Dialect>(user: &User, password_hash: &str) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new(
        "INSERT INTO users (user_id, username, email, full_name, role, status, password_hash, created_at, updated_at) VALUES (",
    );
    let mut values = qb.separated(", ");
    values.push_bind(user.user_id.clone());
    values.push_bind(user.username.clone());
    values.push_bind(user.email.clone());
    values.push_bind(user.full_name.clone());
    values.push_bind(user.role.as_str().to_string());
    values.push_bind(user.status.as_str().to_string());
    values.push_bind(password_hash.to_string());
    qb.push(", ");
    DB::push_time(&mut qb, &user.created_at);
    qb.push(", ");
    DB::push_time(&mut qb, &user.updated_at);
    qb.push(")");
    qb
}

/// `UPDATE users SET <changed fields>, updated_at = now WHERE user_id = id`.
pub(crate) fn user_update<DB: Dialect>(id: &str, change: &UserChange, at: &DateTime<Utc>) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("UPDATE users SET ");
    let text = [
        ("email", change.email.clone()),
        ("role", change.role.map(|r| r.as_str().to_string())),
        ("status", change.status.map(|s| s.as_str().to_string())),
        ("password_hash", change.password_hash.clone()),
    ];
    for (col, value) in text {
        if let Some(v) = value {
            qb.push(format_args!("{col} = ")).push_bind(v).push(", ");
        }
    }
    if let Some(full_name) = &change.full_name {
        qb.push("full_name = ").push_bind(full_name.clone()).push(", ");
    }
    if change.ends_sessions() {
        qb.push("token_version = token_version + 1, ");
    }
    qb.push("updated_at = ");
    DB::push_time(&mut qb, at);
    qb.push(" WHERE user_id = ").push_bind(id.to_string());
    qb
}

pub(crate) fn decode_user<DB: Dialect>(row: &DB::Row) -> Result<User, StoreError>
where
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        full_name: row.try_get("full_name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        status: UserStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        created_at: DB::time(row, "created_at")?,
        updated_at: DB::time(row, "updated_at")?,
        token_version: row.try_get("token_version")?,
    })
}
