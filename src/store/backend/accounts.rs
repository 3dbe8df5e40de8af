//! Settings, users, API keys and refresh tokens.

use super::{SqlBackend, SqlStore};
use crate::domain::user::{NewUser, User, UserStatus};
use crate::store::model::{ApiKey, RefreshUse, UserChange, now};
use crate::store::query::{Page, PageRequest};
use crate::store::sql;
use crate::store::{StoreError, StoreResult};
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

const API_KEY_SELECT_BY_USER: &str = "SELECT key_id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys WHERE user_id = $1 ORDER BY created_at, key_id";
const API_KEY_SELECT_BY_HASH: &str = "SELECT key_id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys WHERE key_hash = $1";
const API_KEY_SELECT_BY_ID: &str =
    "SELECT key_id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys WHERE key_id = $1";

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    key_id: String,
    user_id: String,
    name: String,
    prefix: String,
    scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn into_key(self) -> ApiKey {
        ApiKey {
            key_id: self.key_id,
            user_id: self.user_id,
            name: self.name,
            prefix: self.prefix,
            scopes: self
                .scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

impl<DB: SqlBackend> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'t> String: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> i32: Decode<'t, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    pub(crate) async fn setting_or_init(&self, key: &str, candidate: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO settings (setting_key, setting_value) VALUES ($1, $2) ON CONFLICT (setting_key) DO NOTHING",
        )
        .bind(key)
        .bind(candidate)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT setting_value FROM settings WHERE setting_key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn count_users(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    pub(crate) async fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<User> {
        let at = now();
        let user = User {
            user_id: uuid::Uuid::new_v4().to_string(),
            username: user.username.clone(),
            email: user.email.clone(),
            full_name: user.full_name.clone(),
            role: user.role,
            status: UserStatus::Active,
            created_at: at,
            updated_at: at,
            token_version: 0,
        };
        sql::user_insert::<DB>(&user, password_hash)
            .build()
            .execute(&self.pool)
            .await?;
        Ok(user)
    }

    pub(crate) async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let mut qb = sql::user_lookup::<DB>("user_id", user_id, false);
        let row = qb.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(sql::decode_user::<DB>).transpose()
    }

    pub(crate) async fn find_user(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let mut qb = sql::user_lookup::<DB>("username", &username.trim().to_ascii_lowercase(), true);
        let Some(row) = qb.build().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let hash: String = row.try_get("password_hash")?;
        Ok(Some((sql::decode_user::<DB>(&row)?, hash)))
    }

    pub(crate) async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        let spec = sql::user_spec(page);
        let mut qb = sql::page_query::<DB>(&spec, None, None)?;
        let rows = qb.build().fetch_all(&self.pool).await?;
        let users = rows
            .iter()
            .map(sql::decode_user::<DB>)
            .collect::<StoreResult<Vec<_>>>()?;
        let total = if page.wants_count() {
            Some(self.count_users().await?)
        } else {
            None
        };
        Ok(sql::finish_page(&spec, users, total, |u| {
            (u.username.clone(), u.username.clone())
        }))
    }

    pub(crate) async fn update_user(&self, user_id: &str, change: &UserChange) -> StoreResult<User> {
        let mut qb = sql::user_update::<DB>(user_id, change, &now());
        let done = qb.build().execute(&self.pool).await?;
        DB::changed_any(&done, "user", user_id)?;
        self.get_user(user_id)
            .await?
            .ok_or_else(|| StoreError::not_found("user", user_id))
    }

    pub(crate) async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM users WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        DB::changed_any(&done, "user", user_id)
    }

    pub(crate) async fn create_api_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, user_id, name, prefix, key_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.key_id.as_str())
        .bind(key.user_id.as_str())
        .bind(key.name.as_str())
        .bind(key.prefix.as_str())
        .bind(key_hash)
        .bind(key.scopes.join(","))
        .bind(key.created_at)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(API_KEY_SELECT_BY_USER)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(ApiKeyRow::into_key).collect())
    }

    /// One key by a unique column, selected by one of the `API_KEY_SELECT_BY_*` statements.
    async fn api_key_by(&self, select: &'static str, value: &str) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(select).bind(value).fetch_optional(&self.pool).await?;
        Ok(row.map(ApiKeyRow::into_key))
    }

    pub(crate) async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.api_key_by(API_KEY_SELECT_BY_HASH, key_hash).await
    }

    pub(crate) async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKey>> {
        self.api_key_by(API_KEY_SELECT_BY_ID, key_id).await
    }

    pub(crate) async fn revoke_api_key(&self, key_id: &str, now: i64) -> StoreResult<()> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        DB::changed_any(&done, "api key", key_id)
    }

    pub(crate) async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family_id: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(family_id)
            .bind(user_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn use_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse> {
        let rotated: Option<(String, String)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $3 RETURNING user_id, family_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((user_id, family_id)) = rotated {
            return Ok(RefreshUse::Rotated { user_id, family_id });
        }
        let used: Option<(String, String, Option<i64>)> =
            sqlx::query_as("SELECT family_id, user_id, used_at FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        match used {
            Some((family_id, user_id, Some(_))) => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(family_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE user_id = $1")
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(RefreshUse::Reused { user_id })
            }
            _ => Ok(RefreshUse::Invalid),
        }
    }

    pub(crate) async fn refresh_token_user(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        let user: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(user)
    }

    pub(crate) async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = $2)",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
