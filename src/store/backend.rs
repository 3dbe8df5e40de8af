//! The write path and `Store` implementation shared by both backends. Each backend module
//! provides the same few functions over its own connection type (`fetch_stored`, `sync_tags`,
//! `append_history`, `upsert_catalog`, `decode_stored`, `decode_history`, `begin_write`) where the
//! SQL really differs; this macro builds everything else on them, so the transaction logic
//! exists once. (A generic impl over `sqlx::Database` would need executor bounds on every call.)

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:expr, $migrations:literal) => {
        type Conn = <$db as sqlx::Database>::Connection;

        /// Reads the current row (locked), plans the write and applies it to the entity's table.
        async fn write_row(conn: &mut Conn, row: &RowSpec, input: WriteInput<'_>) -> StoreResult<Plan> {
            let current = fetch_stored(conn, row.table, row.id_col, input.id, true).await?;
            let last_version: i64 = if current.is_none() && input.kind == EntityKind::Metric {
                sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM metric_history WHERE metric_id = $1")
                    .bind(input.id)
                    .fetch_one(&mut *conn)
                    .await?
            } else {
                0
            };
            let plan = write::plan(input, current.as_ref(), last_version)?;
            let mut qb = QueryBuilder::<$db>::new("");
            match plan.kind {
                WriteKind::Unchanged => return Ok(plan),
                WriteKind::Created => sql::push_insert(&mut qb, row, &plan.entity),
                WriteKind::Updated => sql::push_update(&mut qb, row, &plan.entity),
            }
            qb.build().execute(&mut *conn).await?;
            Ok(plan)
        }

        async fn write_metric(
            conn: &mut Conn,
            m: &Metric,
            actor: &str,
            expect: Expect,
            provenance: Option<&Provenance>,
        ) -> StoreResult<Saved> {
            let row = sql::metric_row(m);
            let input = WriteInput { kind: EntityKind::Metric, id: &m.metric_id, doc: &m.doc, actor, expect, provenance };
            let plan = write_row(conn, &row, input).await?;
            if plan.kind != WriteKind::Unchanged {
                sync_tags(conn, m).await?;
                append_history(conn, &plan, &plan.entity.to_json()).await?;
            }
            Ok(Saved { kind: plan.kind, entity: plan.entity })
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
            Ok(cur)
        }

        impl $store {
            async fn list(
                &self,
                spec: &sql::ListSpec<'_>,
                filter: Option<&crate::store::MetricFilter>,
            ) -> StoreResult<Page<Stored>> {
                let mut qb = sql::page_query::<$db>(spec, filter)?;
                let rows = qb.build().fetch_all(&self.pool).await?;
                let rows = rows.iter().map(decode_stored).collect::<StoreResult<Vec<_>>>()?;
                let total = if spec.page.wants_count() {
                    let mut qb = sql::count_query::<$db>(spec.table, filter)?;
                    let n: i64 = qb.build_query_scalar().fetch_one(&self.pool).await?;
                    Some(n as u64)
                } else {
                    None
                };
                Ok(sql::finish_page(spec, rows, total))
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
            Ok(Saved { kind: plan.kind, entity: plan.entity })
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

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn get_metric(&self, id: &str) -> StoreResult<Option<Stored>> {
                self.get("metrics", "metric_id", id).await
            }

            async fn list_metrics(&self, query: &MetricQuery) -> StoreResult<Page<Stored>> {
                query.check()?;
                self.list(&sql::metric_spec(query), Some(&query.filter)).await
            }

            async fn save_metric(&self, metric: &Metric, actor: &str, expect: Expect) -> StoreResult<Saved> {
                let mut tx = self.begin_write().await?;
                let saved = write_metric(&mut tx, metric, actor, expect, None).await?;
                tx.commit().await?;
                Ok(saved)
            }

            async fn delete_metric(&self, id: &str, actor: &str, version: Option<i64>) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let cur = delete_row(&mut tx, EntityKind::Metric, "metrics", "metric_id", id, version).await?;
                let plan = write::delete_plan(cur, actor);
                append_history(&mut tx, &plan, &Value::Object(plan.entity.doc.clone())).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn metric_history(&self, id: &str, page: &PageRequest) -> StoreResult<Page<HistoryEntry>> {
                let mut qb = sql::history_query::<$db>(id, page)?;
                let rows = qb.build().fetch_all(&self.pool).await?;
                let rows = rows.iter().map(decode_history).collect::<StoreResult<Vec<_>>>()?;
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

            async fn get_domain(&self, id: &str) -> StoreResult<Option<Stored>> {
                self.get("domains", "domain_id", id).await
            }

            async fn list_domains(&self, page: &PageRequest) -> StoreResult<Page<Stored>> {
                self.list(&sql::named_spec("domains", "domain_id", page), None).await
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
                self.list(&sql::named_spec("objectives", "objective_id", page), None).await
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
                let mut out = ImportOutcome { dry_run: batch.dry_run, ..Default::default() };
                if let Some(info) = &batch.catalog {
                    upsert_catalog(&mut tx, info).await?;
                }
                for (d, prov) in &batch.domains {
                    let row = sql::domain_row(d);
                    let saved = write_plain(&mut tx, row, &d.doc, actor, Expect::Any, Some(prov)).await?;
                    out.domains.add(saved.kind);
                }
                for (m, prov) in &batch.metrics {
                    out.metrics.add(write_metric(&mut tx, m, actor, Expect::Any, Some(prov)).await?.kind);
                }
                for (o, prov) in &batch.objectives {
                    let row = sql::objective_row(o);
                    let saved = write_plain(&mut tx, row, &o.doc, actor, Expect::Any, Some(prov)).await?;
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
