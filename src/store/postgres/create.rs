//! A create of a metric id that has never existed, in one statement: one round trip.
//!
//! The general write path reads the id's row (locked) and its last version, then writes the
//! row, its history entry, its search-block row, the counters and the count of metric
//! writes, in a transaction: ten round trips, each a wake-up of this process and of a
//! PostgreSQL backend, and most of a create's cost with a 3.6 KB definition
//! (docs/benchmarks.md, "Creates in one statement"). Most creates are of ids never used, so
//! `POST /metrics` tries this statement first.
//!
//! It writes only if, in its snapshot, the id has no history, and no concurrent writer inserts
//! the id first: `ON CONFLICT DO NOTHING` waits for that writer and then inserts nothing. Every
//! write of a row records history in the same transaction, so "no history" also means no row,
//! not even one a concurrent delete is removing, and no past version (a restored id's history
//! starts at its restored version, so version 1 is not the test). Every other write of the
//! statement reads the insert's RETURNING, so it writes nothing when the insert did not; the
//! caller then takes the general path, which answers 409 or continues the id's numbering.
//!
//! The writes go in the general path's order (`apply_tally`): the metric, its history and its
//! search-block row, then the counters in key order, facets before combinations, then the
//! count of metric writes. Each later step waits on the ones before through a condition on
//! their results, since PostgreSQL runs the parts of a statement in no promised order (an
//! unread part runs last). The order matters beyond deadlocks: the counters are the rows
//! every writer takes, so they are held only for the end of the statement; a search-block
//! insert that happened to flush its GIN index's pending list while holding them stalled the
//! other writers past their statement timeout. Outside a transaction the statement commits
//! on its own, before its answer comes back.

use super::blocks::COVER_INSERTED;
use crate::store::StoreResult;
use crate::store::backend::Fresh;
use crate::store::sql;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// True when the metric was written, false when nothing was (the id exists or existed, or a
/// concurrent writer holds it).
pub(super) async fn fresh(pool: &PgPool, f: &Fresh<'_>) -> StoreResult<bool> {
    let mut qb = statement(f);
    let inserted: i64 = match qb.build_query_scalar().fetch_one(pool).await {
        Ok(n) => n,
        // The id was created and deleted by others after this statement's snapshot was
        // taken: its history has version 1 now. The general path reads what they wrote.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    Ok(inserted == 1)
}

fn statement(f: &Fresh<'_>) -> QueryBuilder<Postgres> {
    let stored = &f.plan.entity;
    let mut qb = QueryBuilder::<Postgres>::new("WITH ins AS (INSERT INTO metrics (metric_id");
    for (col, _) in &f.row.columns {
        qb.push(format_args!(", {col}"));
    }
    qb.push(", tags, version, created_at, created_by, updated_at, updated_by, doc) SELECT ");
    qb.push_bind(stored.id.as_str());
    for (_, value) in &f.row.columns {
        qb.push(", ").push_bind(value.as_deref());
    }
    qb.push(", ").push_bind(&f.metric.tags).push("::text[], ");
    sql::bind_server(&mut qb, stored);
    qb.push(" WHERE NOT EXISTS (SELECT 1 FROM metric_history WHERE metric_id = ")
        .push_bind(stored.id.as_str())
        .push(") ON CONFLICT (metric_id) DO NOTHING RETURNING metric_id, name, search), ");

    qb.push(
        "hist AS (INSERT INTO metric_history (metric_id, version, action, change_type, fields_changed, \
         changed_by, changed_at, snapshot) SELECT ins.metric_id, ",
    )
    .push_bind(stored.version)
    .push(", ")
    .push_bind(f.plan.action.as_str())
    .push(", ")
    .push_bind(f.plan.change_type.as_str())
    .push(", ")
    .push_bind(serde_json::Value::from(f.plan.fields_changed.clone()))
    .push("::jsonb, ")
    .push_bind(f.plan.changed_by.as_str())
    .push(", ")
    .push_bind(f.plan.changed_at)
    .push(", ")
    .push_bind(f.snapshot)
    .push("::json FROM ins RETURNING 1), ");

    qb.push("blk AS (").push(COVER_INSERTED).push(" RETURNING 1), ");

    let (facets, values, deltas): (Vec<&str>, Vec<&str>, Vec<i64>) = f.tally.facet_deltas().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut fs, mut vs, mut ns), (facet, value, n)| {
            fs.push(facet);
            vs.push(value);
            ns.push(n);
            (fs, vs, ns)
        },
    );
    qb.push("cnt AS (INSERT INTO metric_counts (facet, value, shard, n) SELECT d.facet, d.value, ")
        .push_bind(f.count_shard)
        .push(", d.n FROM ins, unnest(")
        .push_bind(facets)
        .push("::text[], ")
        .push_bind(values)
        .push("::text[], ")
        .push_bind(deltas)
        .push(
            "::bigint[]) WITH ORDINALITY AS d(facet, value, n, i) \
             WHERE (SELECT count(*) FROM hist) + (SELECT count(*) FROM blk) >= 0 ORDER BY d.i \
             ON CONFLICT (facet, value, shard) DO UPDATE SET n = metric_counts.n + excluded.n RETURNING 1), ",
        );

    let mut columns: [Vec<&str>; 5] = Default::default();
    let mut deltas = Vec::new();
    for (key, n) in f.tally.combination_deltas() {
        for (column, part) in columns.iter_mut().zip(key) {
            column.push(part.as_str());
        }
        deltas.push(n);
    }
    qb.push(
        "cmb AS (INSERT INTO metric_combination_counts \
         (category, business_domain, metric_type, tier, status, shard, n) \
         SELECT d.category, d.business_domain, d.metric_type, d.tier, d.status, ",
    )
    .push_bind(f.count_shard)
    .push(", d.n FROM ins, unnest(");
    for column in columns {
        qb.push_bind(column).push("::text[], ");
    }
    qb.push_bind(deltas).push(
        "::bigint[]) WITH ORDINALITY AS d(category, business_domain, metric_type, tier, status, n, i) \
         WHERE (SELECT count(*) FROM cnt) >= 0 ORDER BY d.i \
         ON CONFLICT (category, business_domain, metric_type, tier, status, shard) \
         DO UPDATE SET n = metric_combination_counts.n + excluded.n RETURNING 1), ",
    );

    qb.push("wr AS (UPDATE metric_writes SET writes = writes + 1 WHERE shard = ")
        .push_bind(f.write_shard)
        .push(
            " AND EXISTS (SELECT 1 FROM ins) AND (SELECT count(*) FROM cmb) >= 0 RETURNING 1) \
             SELECT count(*) FROM ins",
        );
    qb
}
