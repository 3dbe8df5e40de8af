//! The write path and `Store` implementation shared by both backends. Each backend module
//! provides its `Dialect` and the few functions whose SQL really differs (`sync_tags`,
//! `upsert_catalog`, `begin_write`, `connect`); this macro builds everything else on them, so the transaction logic
//! exists once. (A generic impl over `sqlx::Database` would need executor bounds on every call.)

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:expr, $migrations:literal) => {
        const API_KEY_SELECT_BY_USER: &str =
            "SELECT key_id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys WHERE user_id = $1 ORDER BY created_at, key_id";
        const API_KEY_SELECT_BY_HASH: &str =
            "SELECT key_id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys WHERE key_hash = $1";
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
            fn into_key(self) -> crate::store::ApiKey {
                crate::store::ApiKey {
                    key_id: self.key_id,
                    user_id: self.user_id,
                    name: self.name,
                    prefix: self.prefix,
                    scopes: self.scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                    created_at: self.created_at,
                    expires_at: self.expires_at,
                    revoked_at: self.revoked_at,
                }
            }
        }

        type Conn = <$db as sqlx::Database>::Connection;

        /// Reads one row by id (locked when about to be written).
        async fn fetch_stored(
            conn: &mut Conn,
            table: &str,
            id_col: &str,
            id: &str,
            lock: bool,
        ) -> StoreResult<Option<Stored>> {
            let mut qb = sql::fetch_many::<$db>(table, id_col, &[id], lock);
            let row = qb.build().fetch_optional(&mut *conn).await?;
            row.as_ref().map(sql::decode_stored::<$db>).transpose()
        }

        /// Reads the current row (locked), plans the write and applies it to the entity's table.
        async fn write_row(conn: &mut Conn, row: &RowSpec, input: WriteInput<'_>) -> StoreResult<Plan> {
            let current = fetch_stored(conn, row.table, row.id_col, input.id, true).await?;
            let last_version: i64 = if current.is_none() {
                sqlx::query_scalar("SELECT last_version FROM tombstones WHERE entity = $1 AND entity_id = $2")
                    .bind(row.kind.noun())
                    .bind(input.id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .unwrap_or(0)
            } else {
                0
            };
            let plan = write::plan(input, current.as_ref(), last_version)?;
            match plan.kind {
                WriteKind::Unchanged => {}
                WriteKind::Created => {
                    if let Some(mut qb) = sql::insert_many::<$db>(&[(row, &plan.entity)]) {
                        qb.build().execute(&mut *conn).await?;
                    }
                }
                WriteKind::Updated => {
                    let mut qb = QueryBuilder::<$db>::new("");
                    sql::push_update(&mut qb, row, &plan.entity);
                    qb.build().execute(&mut *conn).await?;
                }
            }
            Ok(plan)
        }

        /// True when no catalog entity and no history exist, i.e. nothing a restored version
        /// or author could contradict. Emptiness is only lost, never regained (deletes leave
        /// history and tombstones), so "not empty" needs no lock; "empty" is re-checked once
        /// the backend has stopped other writers until this transaction ends.
        async fn empty_for_restore(conn: &mut Conn) -> StoreResult<bool> {
            const ANY_ROW: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM metrics) OR EXISTS (SELECT 1 FROM domains) \
                 OR EXISTS (SELECT 1 FROM objectives) OR EXISTS (SELECT 1 FROM metric_history) \
                 OR EXISTS (SELECT 1 FROM tombstones) THEN 1 ELSE 0 END";
            let any: i32 = sqlx::query_scalar(ANY_ROW).fetch_one(&mut *conn).await?;
            if any != 0 {
                return Ok(false);
            }
            lock_catalog_writes(conn).await?;
            let any: i32 = sqlx::query_scalar(ANY_ROW).fetch_one(&mut *conn).await?;
            Ok(any == 0)
        }

        async fn insert_history(conn: &mut Conn, entries: &[(&Plan, String)]) -> StoreResult<()> {
            if let Some(mut qb) = sql::history_many::<$db>(entries)? {
                // Multi-row statements vary in size: do not fill the statement cache with them.
                qb.build().persistent(entries.len() == 1).execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// Writes metrics with a few statements per chunk of `sql::CHUNK`: one read of the
        /// current rows, one of past versions, one multi-row insert, the updates, one tag sync
        /// and one history insert. Ids must be unique within `items`.
        async fn write_metrics(
            conn: &mut Conn,
            items: &[(&Metric, Option<&Provenance>)],
            actor: &str,
            expect: Expect,
        ) -> StoreResult<Vec<Saved>> {
            let mut saved = Vec::with_capacity(items.len());
            for chunk in items.chunks(sql::CHUNK) {
                let ids: Vec<&str> = chunk.iter().map(|(m, _)| m.metric_id.as_str()).collect();
                let mut qb = sql::fetch_many::<$db>("metrics", "metric_id", &ids, true);
                let mut current = std::collections::HashMap::new();
                let single = chunk.len() == 1;
                for row in qb.build().persistent(single).fetch_all(&mut *conn).await? {
                    let stored = sql::decode_stored::<$db>(&row)?;
                    current.insert(stored.id.clone(), stored);
                }
                let absent: Vec<&str> = ids.iter().copied().filter(|id| !current.contains_key(*id)).collect();
                let mut last = std::collections::HashMap::new();
                if !absent.is_empty() {
                    let mut qb = sql::last_versions::<$db>(&absent);
                    let rows: Vec<(String, i64)> = qb.build_query_as().persistent(single).fetch_all(&mut *conn).await?;
                    last.extend(rows);
                }
                let mut plans = Vec::with_capacity(chunk.len());
                for (m, provenance) in chunk {
                    let input = WriteInput {
                        kind: EntityKind::Metric,
                        id: &m.metric_id,
                        doc: &m.doc,
                        actor,
                        expect,
                        provenance: *provenance,
                    };
                    let last_version = last.get(&m.metric_id).copied().unwrap_or(0);
                    plans.push((*m, write::plan(input, current.get(&m.metric_id), last_version)?));
                }
                let mut creates: Vec<(RowSpec, &Stored)> = plans
                    .iter()
                    .filter(|(_, p)| p.kind == WriteKind::Created)
                    .map(|(m, p)| (sql::metric_row(m), &p.entity))
                    .collect();
                // Insert in id order, like the row locks, so concurrent writers queue up
                // instead of deadlocking on each other's new keys.
                creates.sort_by(|a, b| a.1.id.cmp(&b.1.id));
                let creates: Vec<(&RowSpec, &Stored)> = creates.iter().map(|(r, s)| (r, *s)).collect();
                if let Some(mut qb) = sql::insert_many::<$db>(&creates) {
                    qb.build().persistent(creates.len() == 1).execute(&mut *conn).await?;
                }
                for (m, plan) in plans.iter().filter(|(_, p)| p.kind == WriteKind::Updated) {
                    let mut qb = QueryBuilder::<$db>::new("");
                    sql::push_update(&mut qb, &sql::metric_row(m), &plan.entity);
                    qb.build().execute(&mut *conn).await?;
                }
                let changed: Vec<&(&Metric, Plan)> =
                    plans.iter().filter(|(_, p)| p.kind != WriteKind::Unchanged).collect();
                if !changed.is_empty() {
                    let metrics: Vec<&Metric> = changed.iter().map(|(m, _)| *m).collect();
                    sync_tags(conn, &metrics).await?;
                    let entries = changed
                        .iter()
                        .map(|(_, p)| Ok((p, p.entity.to_json_string()?)))
                        .collect::<StoreResult<Vec<(&Plan, String)>>>()?;
                    insert_history(conn, &entries).await?;
                }
                saved.extend(plans.into_iter().map(|(_, p)| Saved::from(p)));
            }
            Ok(saved)
        }

        async fn delete_row(
            conn: &mut Conn,
            kind: EntityKind,
            table: &str,
            id_col: &str,
            id: &str,
            version: Option<i64>,
        ) -> StoreResult<Stored> {
            let current = fetch_stored(conn, table, id_col, id, true).await?;
            let cur = write::check_delete(kind, id, current.as_ref(), version)?;
            let mut qb = QueryBuilder::<$db>::new(format!("DELETE FROM {table} WHERE {id_col} = "));
            qb.push_bind(id.to_string());
            qb.build().execute(&mut *conn).await?;
            if kind != EntityKind::Metric {
                sqlx::query(
                    "INSERT INTO tombstones (entity, entity_id, last_version) VALUES ($1, $2, $3) \
                     ON CONFLICT (entity, entity_id) DO UPDATE SET last_version = excluded.last_version",
                )
                .bind(kind.noun())
                .bind(id)
                .bind(cur.version)
                .execute(&mut *conn)
                .await?;
            }
            Ok(cur)
        }

        /// Every row of a table in `sort_col, id` order, by keyset pages on one connection.
        async fn read_all(
            conn: &mut Conn,
            table: &'static str,
            id_col: &'static str,
            sort_col: &'static str,
        ) -> StoreResult<Vec<Stored>> {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = PageRequest::Cursor { after: after.take(), limit: 1000, count: false };
                let spec = sql::ListSpec {
                    columns: <$db as Dialect>::select_stored(id_col),
                    table,
                    id_col,
                    sort_col,
                    descending: false,
                    page: &page,
                    scope: format!("snapshot|{table}"),
                };
                let mut qb = sql::page_query::<$db>(&spec, None)?;
                let rows = qb.build().fetch_all(&mut *conn).await?;
                let rows = rows.iter().map(sql::decode_stored::<$db>).collect::<StoreResult<Vec<_>>>()?;
                let page = sql::finish_page(&spec, rows, None, |s| sql::stored_key(sort_col, s));
                out.extend(page.items);
                match page.next_cursor {
                    Some(c) => after = Some(c),
                    None => return Ok(out),
                }
            }
        }

        impl $store {
            async fn list(
                &self,
                spec: &sql::ListSpec<'_>,
                filter: Option<&crate::store::MetricFilter>,
            ) -> StoreResult<Page<Stored>> {
                let mut qb = sql::page_query::<$db>(spec, filter)?;
                let rows = qb.build().fetch_all(&self.pool).await?;
                let rows = rows.iter().map(sql::decode_stored::<$db>).collect::<StoreResult<Vec<_>>>()?;
                let total = if spec.page.wants_count() {
                    let mut qb = sql::count_query::<$db>(spec.table, filter)?;
                    let n: i64 = qb.build_query_scalar().fetch_one(&self.pool).await?;
                    Some(n as u64)
                } else {
                    None
                };
                Ok(sql::finish_page(spec, rows, total, |s| sql::stored_key(spec.sort_col, s)))
            }

            async fn get(&self, table: &str, id_col: &str, id: &str) -> StoreResult<Option<Stored>> {
                fetch_stored(&mut *self.pool.acquire().await?, table, id_col, id, false).await
            }
        }

        async fn write_plain(
            conn: &mut Conn,
            row: RowSpec,
            doc: &Map<String, Value>,
            actor: &str,
            expect: Expect,
            provenance: Option<&Provenance>,
        ) -> StoreResult<Saved> {
            let input = WriteInput { kind: row.kind, id: &row.id, doc, actor, expect, provenance };
            let plan = write_row(conn, &row, input).await?;
            Ok(Saved::from(plan))
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn migrate(&self) -> StoreResult<()> {
                sqlx::migrate!($migrations)
                    .run(&self.pool)
                    .await
                    .map_err(|e| StoreError::Database(format!("migration failed: {e}")))
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn pool_status(&self) -> Option<$crate::store::PoolStatus> {
                let size = self.pool.size();
                let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
                Some($crate::store::PoolStatus {
                    size,
                    idle,
                    in_use: size.saturating_sub(idle),
                    max: self.pool.options().get_max_connections(),
                })
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn get_metric(&self, id: &str) -> StoreResult<Option<Stored>> {
                self.get("metrics", "metric_id", id).await
            }

            async fn list_metrics(&self, query: &MetricQuery) -> StoreResult<Page<Stored>> {
                query.check()?;
                self.list(&sql::metric_spec::<$db>(query), Some(&query.filter)).await
            }

            async fn save_metric(&self, metric: &Metric, actor: &str, expect: Expect) -> StoreResult<Saved> {
                let mut tx = self.begin_write().await?;
                let mut saved = write_metrics(&mut tx, &[(metric, None)], actor, expect).await?;
                tx.commit().await?;
                saved.pop().ok_or_else(|| StoreError::Database("write returned nothing".into()))
            }

            async fn delete_metric(&self, id: &str, actor: &str, version: Option<i64>) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let cur = delete_row(&mut tx, EntityKind::Metric, "metrics", "metric_id", id, version).await?;
                // The last state as it was stored, server fields included.
                let snapshot = cur.to_json_string()?;
                let plan = write::delete_plan(cur, actor)?;
                insert_history(&mut tx, &[(&plan, snapshot)]).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn metric_history(&self, id: &str, page: &PageRequest) -> StoreResult<Page<HistoryEntry>> {
                let mut qb = sql::history_query::<$db>(id, page)?;
                let rows = qb.build().fetch_all(&self.pool).await?;
                let rows = rows.iter().map(sql::decode_history::<$db>).collect::<StoreResult<Vec<_>>>()?;
                let total = if page.wants_count() {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_history WHERE metric_id = $1")
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                    Some(n as u64)
                } else {
                    None
                };
                Ok(sql::finish_history(id, page, rows, total))
            }

            async fn metric_version(&self, id: &str, version: i64) -> StoreResult<Option<HistoryEntry>> {
                let mut qb = QueryBuilder::<$db>::new("SELECT ");
                qb.push(<$db as Dialect>::HISTORY_COLUMNS)
                    .push(" FROM metric_history WHERE metric_id = ")
                    .push_bind(id.to_string())
                    .push(" AND version = ")
                    .push_bind(version);
                let row = qb.build().fetch_optional(&self.pool).await?;
                row.as_ref().map(sql::decode_history::<$db>).transpose()
            }

            async fn get_domain(&self, id: &str) -> StoreResult<Option<Stored>> {
                self.get("domains", "domain_id", id).await
            }

            async fn list_domains(&self, page: &PageRequest) -> StoreResult<Page<Stored>> {
                self.list(&sql::named_spec::<$db>("domains", "domain_id", page), None).await
            }

            async fn save_domain(&self, d: &BusinessDomain, actor: &str, expect: Expect) -> StoreResult<Saved> {
                let mut tx = self.begin_write().await?;
                let row = sql::domain_row(d);
                let saved = write_plain(&mut tx, row, &d.doc, actor, expect, None).await?;
                tx.commit().await?;
                Ok(saved)
            }

            async fn delete_domain(&self, id: &str, version: Option<i64>) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                delete_row(&mut tx, EntityKind::Domain, "domains", "domain_id", id, version).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_objective(&self, id: &str) -> StoreResult<Option<Stored>> {
                self.get("objectives", "objective_id", id).await
            }

            async fn list_objectives(&self, page: &PageRequest) -> StoreResult<Page<Stored>> {
                self.list(&sql::named_spec::<$db>("objectives", "objective_id", page), None).await
            }

            async fn save_objective(&self, o: &Objective, actor: &str, expect: Expect) -> StoreResult<Saved> {
                let mut tx = self.begin_write().await?;
                let row = sql::objective_row(o);
                let saved = write_plain(&mut tx, row, &o.doc, actor, expect, None).await?;
                tx.commit().await?;
                Ok(saved)
            }

            async fn delete_objective(&self, id: &str, version: Option<i64>) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                delete_row(&mut tx, EntityKind::Objective, "objectives", "objective_id", id, version).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn import(&self, batch: &ImportBatch, actor: &str) -> StoreResult<ImportOutcome> {
                let mut tx = self.begin_write().await?;
                lock_for_import(&mut tx).await?;
                let restored = batch.restore && empty_for_restore(&mut tx).await?;
                let prov = |p| restored.then_some(p);
                let mut out = ImportOutcome { dry_run: batch.dry_run, restored, ..Default::default() };
                if let Some(info) = &batch.catalog {
                    upsert_catalog(&mut tx, info).await?;
                }
                for (d, p) in &batch.domains {
                    let row = sql::domain_row(d);
                    let saved = write_plain(&mut tx, row, &d.doc, actor, Expect::Any, prov(p)).await?;
                    out.domains.add(saved.kind);
                }
                let metrics: Vec<(&Metric, Option<&Provenance>)> = batch.metrics.iter().map(|(m, p)| (m, prov(p))).collect();
                for saved in write_metrics(&mut tx, &metrics, actor, Expect::Any).await? {
                    out.metrics.add(saved.kind);
                }
                for (o, p) in &batch.objectives {
                    let row = sql::objective_row(o);
                    let saved = write_plain(&mut tx, row, &o.doc, actor, Expect::Any, prov(p)).await?;
                    out.objectives.add(saved.kind);
                }
                if batch.dry_run {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(out)
            }

            async fn catalog_info(&self) -> StoreResult<Map<String, Value>> {
                let mut qb = QueryBuilder::<$db>::new("SELECT ");
                qb.push(<$db as Dialect>::CATALOG_DOC).push(" FROM catalog_info WHERE catalog_info_id = 1");
                let doc: Option<String> = qb.build_query_scalar().fetch_optional(&self.pool).await?;
                Ok(match doc {
                    Some(text) => serde_json::from_str(&text)?,
                    None => Map::new(),
                })
            }

            async fn setting_or_init(&self, key: &str, candidate: &str) -> StoreResult<String> {
                sqlx::query(
                    "INSERT INTO settings (setting_key, setting_value) VALUES ($1, $2) ON CONFLICT (setting_key) DO NOTHING",
                )
                .bind(key)
                .bind(candidate)
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT setting_value FROM settings WHERE setting_key = $1")
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn count_users(&self) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?;
                Ok(n as u64)
            }

            async fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<User> {
                let at = crate::store::model::now();
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
                sql::user_insert::<$db>(&user, password_hash).build().execute(&self.pool).await?;
                Ok(user)
            }

            async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
                let mut qb = sql::user_lookup::<$db>("user_id", user_id, false);
                let row = qb.build().fetch_optional(&self.pool).await?;
                row.as_ref().map(sql::decode_user::<$db>).transpose()
            }

            async fn find_user(&self, username: &str) -> StoreResult<Option<(User, String)>> {
                let mut qb = sql::user_lookup::<$db>("username", &username.trim().to_ascii_lowercase(), true);
                let Some(row) = qb.build().fetch_optional(&self.pool).await? else {
                    return Ok(None);
                };
                let hash: String = row.try_get("password_hash")?;
                Ok(Some((sql::decode_user::<$db>(&row)?, hash)))
            }

            async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
                let spec = sql::user_spec(page);
                let mut qb = sql::page_query::<$db>(&spec, None)?;
                let rows = qb.build().fetch_all(&self.pool).await?;
                let users = rows.iter().map(sql::decode_user::<$db>).collect::<StoreResult<Vec<_>>>()?;
                let total = if page.wants_count() {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?;
                    Some(n as u64)
                } else {
                    None
                };
                Ok(sql::finish_page(&spec, users, total, |u| (u.username.clone(), u.username.clone())))
            }

            async fn update_user(&self, user_id: &str, change: &UserChange) -> StoreResult<User> {
                let mut qb = sql::user_update::<$db>(user_id, change, &crate::store::model::now());
                let done = qb.build().execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("user", user_id));
                }
                self.get_user(user_id).await?.ok_or_else(|| StoreError::not_found("user", user_id))
            }

            async fn snapshot(&self) -> StoreResult<crate::store::CatalogSnapshot> {
                let mut tx = self.pool.begin().await?;
                begin_snapshot(&mut tx).await?;
                let mut qb = QueryBuilder::<$db>::new("SELECT ");
                qb.push(<$db as Dialect>::CATALOG_DOC).push(" FROM catalog_info WHERE catalog_info_id = 1");
                let doc: Option<String> = qb.build_query_scalar().fetch_optional(&mut *tx).await?;
                let snapshot = crate::store::CatalogSnapshot {
                    catalog: match doc {
                        Some(text) => serde_json::from_str(&text)?,
                        None => Map::new(),
                    },
                    metrics: read_all(&mut tx, "metrics", "metric_id", "metric_id").await?,
                    domains: read_all(&mut tx, "domains", "domain_id", "name").await?,
                    objectives: read_all(&mut tx, "objectives", "objective_id", "name").await?,
                };
                tx.rollback().await?;
                Ok(snapshot)
            }

            async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
                let done = sqlx::query("DELETE FROM users WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("user", user_id));
                }
                Ok(())
            }

            async fn create_api_key(&self, key: &crate::store::ApiKey, key_hash: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_keys (key_id, user_id, name, prefix, key_hash, scopes, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&key.key_id)
                .bind(&key.user_id)
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(key_hash)
                .bind(key.scopes.join(","))
                .bind(key.created_at)
                .bind(key.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<crate::store::ApiKey>> {
                let rows: Vec<ApiKeyRow> = sqlx::query_as(API_KEY_SELECT_BY_USER).bind(user_id).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(ApiKeyRow::into_key).collect())
            }

            async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<crate::store::ApiKey>> {
                let row: Option<ApiKeyRow> = sqlx::query_as(API_KEY_SELECT_BY_HASH).bind(key_hash).fetch_optional(&self.pool).await?;
                Ok(row.map(ApiKeyRow::into_key))
            }

            async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<crate::store::ApiKey>> {
                let row: Option<ApiKeyRow> = sqlx::query_as(API_KEY_SELECT_BY_ID).bind(key_id).fetch_optional(&self.pool).await?;
                Ok(row.map(ApiKeyRow::into_key))
            }

            async fn revoke_api_key(&self, key_id: &str, now: i64) -> StoreResult<()> {
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(key_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("api key", key_id));
                }
                Ok(())
            }

            async fn insert_refresh_token(&self, token_hash: &str, family_id: &str, user_id: &str, expires_at: i64) -> StoreResult<()> {
                sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(token_hash)
                    .bind(family_id)
                    .bind(user_id)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn use_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<crate::store::RefreshUse> {
                use crate::store::RefreshUse;
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
                            .bind(&family_id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE user_id = $1")
                            .bind(&user_id)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok(RefreshUse::Reused { user_id })
                    }
                    _ => Ok(RefreshUse::Invalid),
                }
            }

            async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<()> {
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

            async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn stats(&self) -> StoreResult<CatalogStats> {
                let mut stats = CatalogStats::default();
                for col in sql::STAT_COLUMNS {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT COALESCE({col}, '(none)') AS k, COUNT(*) AS n FROM metrics GROUP BY 1"
                    ));
                    let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&self.pool).await?;
                    sql::fill_stat(&mut stats, col, rows);
                }
                let (m, d, o): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM metrics), (SELECT COUNT(*) FROM domains), (SELECT COUNT(*) FROM objectives)",
                )
                .fetch_one(&self.pool)
                .await?;
                stats.total_metrics = m as u64;
                stats.total_domains = d as u64;
                stats.total_objectives = o as u64;
                Ok(stats)
            }
        }
    };
}

pub(crate) use impl_store;
