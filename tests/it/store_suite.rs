//! One suite, run against both backends: round trips, versioning, filters, search, pagination.

use crate::support::{TestDb, backend_tests, metrics_batch, sample_metrics};
use mdl::domain::synthetic::synthetic_metric;
use mdl::domain::{Action, BusinessDomain, ChangeType, Metric, Objective};
use mdl::store::model::Provenance;
use mdl::store::{
    Entity, EntityKind, Expect, ImportBatch, MetricFilter, MetricQuery, MetricSort, PageRequest, Store, StoreError,
    Stored, WriteKind,
};
use serde_json::{Value, json};
use std::collections::HashSet;

fn metric(doc: Value) -> Metric {
    Metric::parse(doc).expect("valid metric")
}

async fn seed(store: &dyn Store, n: usize) -> Vec<Value> {
    let docs: Vec<Value> = (0..n).map(synthetic_metric).collect();
    store
        .import(&metrics_batch(docs.clone()), "seeder")
        .await
        .expect("seed");
    docs
}

fn query(filter: MetricFilter, sort: MetricSort, page: PageRequest) -> MetricQuery {
    MetricQuery {
        filter,
        sort,
        page,
        count_search: true,
    }
}

fn ids(items: &[Stored]) -> Vec<String> {
    items.iter().map(|m| m.id.clone()).collect()
}

/// Every id matching `filter`, walking all pages by number.
async fn all_pages(store: &dyn Store, filter: &MetricFilter, sort: MetricSort, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let p = store
            .list_metrics(&query(filter.clone(), sort, PageRequest::offset(page, limit)))
            .await
            .expect("list");
        out.extend(ids(&p.items));
        if !p.has_next {
            break;
        }
    }
    out
}

/// Every id matching `filter`, walking by cursor.
async fn all_cursor(store: &dyn Store, filter: &MetricFilter, sort: MetricSort, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = store
            .list_metrics(&query(
                filter.clone(),
                sort,
                PageRequest::cursor(after.clone(), limit, false),
            ))
            .await
            .expect("list by cursor");
        assert_eq!(p.total, None, "cursor mode does not count unless asked");
        out.extend(ids(&p.items));
        match p.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    out
}

async fn samples_round_trip_unchanged(db: &TestDb) {
    let store = &*db.store;
    for sample in sample_metrics() {
        let saved = store
            .save_metric(&metric(sample.clone()), "alice", Expect::Absent)
            .await
            .expect("create");
        assert_eq!(saved.kind, WriteKind::Created);
        let back = store
            .get_metric(sample["metric_id"].as_str().unwrap())
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(Value::Object(back.doc.clone()), sample, "document changed in storage");
        // Key order survives too, so exports diff cleanly against the source file.
        let keys: Vec<&String> = back.doc.keys().collect();
        let sent: Vec<&String> = sample.as_object().unwrap().keys().collect();
        assert_eq!(keys, sent);
        let json = back.to_json();
        assert_eq!(json["version"], 1);
        assert_eq!(json["created_by"], "alice");
        assert_eq!(json["updated_by"], "alice");
        assert_eq!(back, saved.entity);
    }
    let page = store.list_metrics(&MetricQuery::default()).await.unwrap();
    assert_eq!(page.total, Some(12));
}

async fn create_twice_is_a_conflict(db: &TestDb) {
    let store = &*db.store;
    let m = metric(sample_metrics()[0].clone());
    store.save_metric(&m, "alice", Expect::Absent).await.unwrap();
    let err = store.save_metric(&m, "bob", Expect::Absent).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let stored = store.get_metric(&m.metric_id).await.unwrap().unwrap();
    assert_eq!(stored.created_by, "alice");
}

async fn versions_and_history_follow_the_rules(db: &TestDb) {
    let store = &*db.store;
    let mut doc = sample_metrics()[1].clone();
    let id = doc["metric_id"].as_str().unwrap().to_string();
    store
        .save_metric(&metric(doc.clone()), "alice", Expect::Absent)
        .await
        .unwrap();

    doc["definition"]["formula"] = json!("p95(latency_ms)");
    let saved = store
        .save_metric(&metric(doc.clone()), "bob", Expect::Present(Some(1)))
        .await
        .unwrap();
    assert_eq!((saved.kind, saved.entity.version), (WriteKind::Updated, 2));
    assert_eq!(saved.entity.updated_by, "bob");
    assert_eq!(saved.entity.created_by, "alice");

    doc["name"] = json!("API Latency P95");
    store
        .save_metric(&metric(doc.clone()), "bob", Expect::Present(None))
        .await
        .unwrap();
    doc["tags"] = json!(["latency"]);
    store
        .save_metric(&metric(doc.clone()), "carol", Expect::Any)
        .await
        .unwrap();

    // Writing the same document again changes nothing.
    let same = store
        .save_metric(&metric(doc.clone()), "dave", Expect::Any)
        .await
        .unwrap();
    assert_eq!((same.kind, same.entity.version), (WriteKind::Unchanged, 4));
    assert_eq!(same.entity.updated_by, "carol");

    let history = store.metric_history(&id, &PageRequest::default()).await.unwrap();
    assert_eq!(history.total, Some(4));
    let summary: Vec<(i64, Action, ChangeType, Vec<String>, String)> = history
        .items
        .iter()
        .map(|h| {
            (
                h.version,
                h.action,
                h.change_type,
                h.fields_changed.clone(),
                h.changed_by.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                4,
                Action::Update,
                ChangeType::Patch,
                vec!["tags".into()],
                "carol".into()
            ),
            (3, Action::Update, ChangeType::Minor, vec!["name".into()], "bob".into()),
            (
                2,
                Action::Update,
                ChangeType::Major,
                vec!["definition.formula".into()],
                "bob".into()
            ),
            (1, Action::Create, ChangeType::Major, vec![], "alice".into()),
        ]
    );
    assert_eq!(history.items[0].snapshot["name"], "API Latency P95");
    assert_eq!(history.items[0].snapshot["version"], 4);
    assert_eq!(
        history.items[3].snapshot["definition"]["formula"],
        sample_metrics()[1]["definition"]["formula"]
    );
}

async fn stale_versions_and_missing_ids_are_refused(db: &TestDb) {
    let store = &*db.store;
    let doc = sample_metrics()[2].clone();
    let id = doc["metric_id"].as_str().unwrap().to_string();
    let err = store
        .save_metric(&metric(doc.clone()), "a", Expect::Present(None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store
        .save_metric(&metric(doc.clone()), "a", Expect::Absent)
        .await
        .unwrap();
    let mut changed = doc.clone();
    changed["description"] = json!("changed");
    let err = store
        .save_metric(&metric(changed), "a", Expect::Present(Some(7)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PreconditionFailed {
                expected: 7,
                current: 1
            }
        ),
        "{err:?}"
    );
    let err = store.delete_metric(&id, "a", Some(3)).await.unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed { .. }), "{err:?}");
    assert_eq!(store.get_metric(&id).await.unwrap().unwrap().version, 1);
    let err = store.delete_metric("NOPE", "a", None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
}

async fn delete_keeps_history_and_recreate_continues_numbering(db: &TestDb) {
    let store = &*db.store;
    let doc = sample_metrics()[3].clone();
    let id = doc["metric_id"].as_str().unwrap().to_string();
    store
        .save_metric(&metric(doc.clone()), "alice", Expect::Absent)
        .await
        .unwrap();
    store.delete_metric(&id, "admin", Some(1)).await.unwrap();
    assert!(store.get_metric(&id).await.unwrap().is_none());
    let listed = store.list_metrics(&MetricQuery::default()).await.unwrap();
    assert_eq!(listed.total, Some(0));
    let history = store.metric_history(&id, &PageRequest::default()).await.unwrap();
    assert_eq!(history.items[0].action, Action::Delete);
    assert_eq!(history.items[0].version, 2);
    assert_eq!(history.items[0].changed_by, "admin");
    assert_eq!(history.items[0].snapshot["name"], doc["name"]);

    let again = store.save_metric(&metric(doc), "bob", Expect::Absent).await.unwrap();
    assert_eq!(again.entity.version, 3);
    assert_eq!(again.entity.created_by, "bob");
    let history = store.metric_history(&id, &PageRequest::default()).await.unwrap();
    assert_eq!(history.total, Some(3));
}

/// A restored metric's history starts at its restored version, not at 1: deleted and created
/// again, it still continues from there (a create that only guarded against a history entry of
/// version 1 would number it 1 again).
async fn recreating_a_restored_id_continues_its_numbering(db: &TestDb) {
    let store = &*db.store;
    let doc = sample_metrics()[2].clone();
    let id = doc["metric_id"].as_str().unwrap().to_string();
    let batch = ImportBatch {
        restore: true,
        metrics: vec![(
            metric(doc.clone()),
            Provenance {
                version: Some(5),
                ..Provenance::default()
            },
        )],
        ..Default::default()
    };
    assert!(store.import(&batch, "admin").await.unwrap().restored);
    assert_eq!(store.get_metric(&id).await.unwrap().unwrap().version, 5);
    store.delete_metric(&id, "admin", Some(5)).await.unwrap();

    let again = store.save_metric(&metric(doc), "bob", Expect::Absent).await.unwrap();
    assert_eq!(again.entity.version, 7);
    let history = store.metric_history(&id, &PageRequest::default()).await.unwrap();
    let versions: Vec<i64> = history.items.iter().map(|h| h.version).collect();
    assert_eq!(versions, [7, 6, 5]);
    assert_counts_exact(store, "after the re-create").await;
}

/// Writers racing to create one id: one wins, the others get a conflict, and the metric is
/// written and counted once.
async fn concurrent_creates_of_one_id_make_one_metric(db: &TestDb) {
    let store = db.store.clone();
    seed(&*store, 3).await;
    for round in 0..4 {
        let doc = synthetic_metric(500 + round);
        let tasks: Vec<_> = (0..8)
            .map(|w| {
                let (store, doc) = (store.clone(), doc.clone());
                tokio::spawn(async move { store.save_metric(&metric(doc), &format!("w{w}"), Expect::Absent).await })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(saved) => {
                    assert_eq!(saved.entity.version, 1);
                    created += 1;
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(created, 1, "round {round}");
        let id = doc["metric_id"].as_str().unwrap();
        let history = store.metric_history(id, &PageRequest::default()).await.unwrap();
        assert_eq!(history.total, Some(1), "round {round}");
    }
    assert_counts_exact(&*store, "after racing creates").await;
    assert_eq!(store.stats().await.unwrap().total_metrics, 3 + 4);
}

async fn filters_match_what_they_say(db: &TestDb) {
    let store = &*db.store;
    let docs = seed(store, 300).await;
    let expect = |pred: &dyn Fn(&Value) -> bool| {
        let mut v: Vec<String> = docs
            .iter()
            .filter(|d| pred(d))
            .map(|d| d["metric_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let got = |filter: MetricFilter| async move {
        let mut v = all_pages(store, &filter, MetricSort::MetricId, 100).await;
        v.sort();
        v
    };
    let f = |build: fn(&mut MetricFilter)| {
        let mut filter = MetricFilter::default();
        build(&mut filter);
        filter
    };
    let cat = got(f(|f| f.category = Some("Finance".into()))).await;
    assert!(!cat.is_empty());
    assert_eq!(cat, expect(&|d| d["category"] == "Finance"));
    assert_eq!(
        got(f(|f| f.tier = Some("Tier-1".into()))).await,
        expect(&|d| d["tier"] == "Tier-1")
    );
    assert_eq!(
        got(f(|f| f.business_domain = Some("Revenue".into()))).await,
        expect(&|d| d["business_domain"] == "Revenue")
    );
    assert_eq!(
        got(f(|f| f.metric_type = Some("leading".into()))).await,
        expect(&|d| d["metric_type"] == "leading")
    );
    assert_eq!(
        got(f(|f| f.status = Some("draft".into()))).await,
        expect(&|d| d["governance"]["status"] == "draft")
    );
    assert_eq!(
        got(f(|f| f.owner = Some("SRE".into()))).await,
        expect(&|d| d["governance"]["owner_team"] == "SRE")
    );
    assert_eq!(
        got(f(|f| f.owner = Some("Head of Revenue".into()))).await,
        expect(&|d| d["governance"]["business_owner"] == "Head of Revenue")
    );
    let has_tag = |d: &Value, t: &str| d["tags"].as_array().unwrap().iter().any(|x| x == t);
    let any_of = got(f(|f| f.tags = vec!["churn".into(), "latency".into()])).await;
    assert_eq!(any_of, expect(&|d| has_tag(d, "churn") || has_tag(d, "latency")));
    let combined = got(f(|f| {
        f.tier = Some("Tier-2".into());
        f.tags = vec!["api".into()];
        f.category = Some("KPI".into());
    }))
    .await;
    assert_eq!(
        combined,
        expect(&|d| d["tier"] == "Tier-2" && d["category"] == "KPI" && has_tag(d, "api"))
    );
    assert!(got(f(|f| f.category = Some("No Such".into()))).await.is_empty());
}

async fn full_text_search_stems_and_ranks(db: &TestDb) {
    let store = &*db.store;
    for sample in sample_metrics() {
        store.save_metric(&metric(sample), "a", Expect::Absent).await.unwrap();
    }
    let search = |q: &str| {
        let filter = MetricFilter {
            q: Some(q.to_string()),
            ..Default::default()
        };
        async move {
            store
                .list_metrics(&query(filter, MetricSort::Name, PageRequest::default()))
                .await
        }
    };
    let login = search("login").await.unwrap();
    assert_eq!(
        ids(&login.items)[0],
        "METRIC-LOGIN-SUCCESS-RATE",
        "name match ranks first"
    );
    assert_eq!(login.total, Some(login.items.len() as u64));
    // Stemming: "deployments" finds "Deployment Frequency".
    let deploy = ids(&search("deployments").await.unwrap().items);
    assert!(
        deploy.contains(&"METRIC-DEPLOYMENT-FREQUENCY".to_string()),
        "{deploy:?}"
    );
    // All words must match.
    let both = ids(&search("login success").await.unwrap().items);
    assert!(both.contains(&"METRIC-LOGIN-SUCCESS-RATE".to_string()));
    assert!(!both.contains(&"METRIC-CSAT".to_string()));
    assert!(search("zzzyqx").await.unwrap().items.is_empty());
    // Query syntax characters are just separators, never an error.
    let quoted = ids(&search("\"login\" OR (NEAR* -x:").await.unwrap().items);
    assert!(quoted.is_empty() || quoted.contains(&"METRIC-LOGIN-SUCCESS-RATE".to_string()));
    let err = search("!!!").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // Search combines with filters.
    let filter = MetricFilter {
        q: Some("rate".into()),
        category: Some("Retention".into()),
        ..Default::default()
    };
    let p = store
        .list_metrics(&query(filter, MetricSort::Name, PageRequest::default()))
        .await
        .unwrap();
    assert_eq!(ids(&p.items), vec!["METRIC-CUSTOMER-CHURN-RATE"]);
}

async fn page_and_cursor_walks_agree(db: &TestDb) {
    let store = &*db.store;
    let docs = seed(store, 137).await;
    let filter = MetricFilter::default();
    let mut expected: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["metric_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let paged = all_pages(store, &filter, MetricSort::Name, 20).await;
    assert_eq!(paged, expected, "page walk: ordered, no gaps, no duplicates");
    for sort in [
        MetricSort::Name,
        MetricSort::NameDesc,
        MetricSort::MetricId,
        MetricSort::UpdatedAtDesc,
        MetricSort::UpdatedAt,
    ] {
        let by_page = all_pages(store, &filter, sort, 25).await;
        let by_cursor = all_cursor(store, &filter, sort, 25).await;
        assert_eq!(by_page.len(), 137);
        assert_eq!(by_cursor, by_page, "{sort:?}");
    }
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(all_pages(store, &filter, MetricSort::NameDesc, 50).await, reversed);

    let first = store
        .list_metrics(&query(filter.clone(), MetricSort::Name, PageRequest::offset(1, 20)))
        .await
        .unwrap();
    assert_eq!((first.total, first.has_next), (Some(137), true));
    assert!(first.next_cursor.is_some(), "numbered pages also hand out a cursor");
    let last = store
        .list_metrics(&query(filter.clone(), MetricSort::Name, PageRequest::offset(7, 20)))
        .await
        .unwrap();
    assert_eq!((last.items.len(), last.has_next), (17, false));
    let past = store
        .list_metrics(&query(filter.clone(), MetricSort::Name, PageRequest::offset(99, 20)))
        .await
        .unwrap();
    assert!(past.items.is_empty() && !past.has_next);
    let counted = store
        .list_metrics(&query(
            filter.clone(),
            MetricSort::Name,
            PageRequest::cursor(None, 10, true),
        ))
        .await
        .unwrap();
    assert_eq!(counted.total, Some(137));
    // Filtered cursor walk.
    let tier = MetricFilter {
        tier: Some("Tier-3".into()),
        ..Default::default()
    };
    assert_eq!(
        all_cursor(store, &tier, MetricSort::Name, 7).await,
        all_pages(store, &tier, MetricSort::Name, 100).await
    );
}

async fn cursors_cannot_be_tampered_with_or_reused(db: &TestDb) {
    let store = &*db.store;
    seed(store, 30).await;
    let filter = MetricFilter {
        tier: Some("Tier-1".into()),
        ..Default::default()
    };
    let p = store
        .list_metrics(&query(
            filter.clone(),
            MetricSort::Name,
            PageRequest::cursor(None, 3, false),
        ))
        .await
        .unwrap();
    let cursor = p.next_cursor.expect("more pages");
    let attempt = |filter: MetricFilter, sort: MetricSort, token: String| async move {
        store
            .list_metrics(&query(filter, sort, PageRequest::cursor(Some(token), 3, false)))
            .await
    };
    assert!(attempt(filter.clone(), MetricSort::Name, cursor.clone()).await.is_ok());
    let mut flipped = cursor.clone().into_bytes();
    flipped[2] = if flipped[2] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        "garbage".to_string(),
        String::new(),
        flipped,
        format!("{cursor}x"),
        cursor.replace('.', ""),
    ] {
        let err = attempt(filter.clone(), MetricSort::Name, bad.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
    }
    let other = MetricFilter {
        tier: Some("Tier-2".into()),
        ..Default::default()
    };
    assert!(matches!(
        attempt(other, MetricSort::Name, cursor.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        attempt(filter.clone(), MetricSort::MetricId, cursor.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    let with_q = MetricFilter {
        q: Some("rate".into()),
        ..filter
    };
    assert!(matches!(
        attempt(with_q, MetricSort::Name, cursor).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn cursor_walk_survives_concurrent_inserts(db: &TestDb) {
    let store = &*db.store;
    let docs = seed(store, 60).await;
    let original: HashSet<String> = docs
        .iter()
        .map(|d| d["metric_id"].as_str().unwrap().to_string())
        .collect();
    let mut seen = Vec::new();
    let mut after = None;
    let mut inserted = 0;
    loop {
        let p = store
            .list_metrics(&query(
                MetricFilter::default(),
                MetricSort::MetricId,
                PageRequest::cursor(after, 10, false),
            ))
            .await
            .unwrap();
        seen.extend(ids(&p.items));
        // Between pages, add rows both before and after the current position.
        for i in 0..2 {
            let mut doc = synthetic_metric(1000 + inserted * 2 + i);
            doc["metric_id"] = json!(format!("{}-{inserted}-{i}", if i == 0 { "AAA" } else { "ZZZ" }));
            store.save_metric(&metric(doc), "w", Expect::Absent).await.unwrap();
        }
        inserted += 1;
        match p.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert!(
        original.iter().all(|id| seen.contains(id)),
        "no gaps among rows present at the start"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered");
}

async fn history_pages_by_number_and_cursor(db: &TestDb) {
    let store = &*db.store;
    let mut doc = sample_metrics()[4].clone();
    let id = doc["metric_id"].as_str().unwrap().to_string();
    for i in 0..12 {
        doc["metadata"] = json!({ "notes": format!("edit {i}") });
        store.save_metric(&metric(doc.clone()), "e", Expect::Any).await.unwrap();
    }
    let mut versions = Vec::new();
    let mut after = None;
    loop {
        let p = store
            .metric_history(&id, &PageRequest::cursor(after, 5, false))
            .await
            .unwrap();
        versions.extend(p.items.iter().map(|h| h.version));
        match p.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(versions, (1..=12).rev().collect::<Vec<i64>>());
    let page3 = store.metric_history(&id, &PageRequest::offset(3, 5)).await.unwrap();
    assert_eq!(page3.items.iter().map(|h| h.version).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(page3.total, Some(12));
}

async fn domains_and_objectives_round_trip(db: &TestDb) {
    let store = &*db.store;
    let domain =
        json!({ "domain_id": "DOM-1", "name": "Platform", "owner_team": "SRE", "stakeholders": ["sre", "infra"] });
    let saved = store
        .save_entity(
            &Entity::Domain(BusinessDomain::parse(domain.clone()).unwrap()),
            "a",
            Expect::Absent,
        )
        .await
        .unwrap();
    assert_eq!(saved.entity.version, 1);
    let back = store.get_entity(EntityKind::Domain, "DOM-1").await.unwrap().unwrap();
    assert_eq!(Value::Object(back.doc), domain);
    // Names are unique across domains.
    let clash = BusinessDomain::parse(json!({ "domain_id": "DOM-2", "name": "Platform" })).unwrap();
    let err = store
        .save_entity(&Entity::Domain(clash), "a", Expect::Absent)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let renamed = BusinessDomain::parse(json!({ "domain_id": "DOM-1", "name": "Infrastructure" })).unwrap();
    let saved = store
        .save_entity(&Entity::Domain(renamed), "b", Expect::Present(Some(1)))
        .await
        .unwrap();
    assert_eq!((saved.kind, saved.entity.version), (WriteKind::Updated, 2));

    let objective = json!({
        "objective_id": "OBJ-9", "name": "Reliability", "status": "active",
        "key_results": [{ "kr_id": "KR-1", "baseline_value": 99.0, "target_value": 99.9, "current_value": 99.45, "direction": "increase" }]
    });
    store
        .save_entity(
            &Entity::Objective(Objective::parse(objective).unwrap()),
            "a",
            Expect::Absent,
        )
        .await
        .unwrap();
    let back = store.get_entity(EntityKind::Objective, "OBJ-9").await.unwrap().unwrap();
    assert_eq!(back.doc["key_results"][0]["progress_percentage"], 50.0);
    let list = store
        .list_entities(EntityKind::Objective, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(list.total, Some(1));
    store
        .delete_entity(EntityKind::Objective, "OBJ-9", Some(1))
        .await
        .unwrap();
    assert!(
        store
            .get_entity(EntityKind::Objective, "OBJ-9")
            .await
            .unwrap()
            .is_none()
    );
    let err = store
        .delete_entity(EntityKind::Domain, "DOM-1", Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed { .. }));
    store.delete_entity(EntityKind::Domain, "DOM-1", None).await.unwrap();
    assert_eq!(
        store
            .list_entities(EntityKind::Domain, &PageRequest::default())
            .await
            .unwrap()
            .total,
        Some(0)
    );
}

async fn import_is_all_or_nothing(db: &TestDb) {
    let store = &*db.store;
    let mut batch = ImportBatch {
        metrics: sample_metrics()
            .into_iter()
            .map(|d| (metric(d), Provenance::default()))
            .collect(),
        domains: vec![
            (
                BusinessDomain::parse(json!({ "domain_id": "D1", "name": "Same" })).unwrap(),
                Provenance::default(),
            ),
            (
                BusinessDomain::parse(json!({ "domain_id": "D2", "name": "Same" })).unwrap(),
                Provenance::default(),
            ),
        ],
        catalog: Some(json!({ "catalog_name": "Test" }).as_object().unwrap().clone()),
        ..Default::default()
    };
    let err = store.import(&batch, "i").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.stats().await.unwrap().total_metrics, 0, "nothing landed");
    assert!(store.catalog_info().await.unwrap().is_empty());

    batch.domains.pop();
    batch.dry_run = true;
    let outcome = store.import(&batch, "i").await.unwrap();
    assert_eq!(outcome.metrics.created, 12);
    assert_eq!(store.stats().await.unwrap().total_metrics, 0, "dry run writes nothing");

    batch.dry_run = false;
    let outcome = store.import(&batch, "i").await.unwrap();
    assert_eq!((outcome.metrics.created, outcome.domains.created), (12, 1));
    let again = store.import(&batch, "i").await.unwrap();
    assert_eq!(
        (again.metrics.unchanged, again.metrics.created, again.metrics.updated),
        (12, 0, 0)
    );
    assert_eq!(store.get_metric("METRIC-CSAT").await.unwrap().unwrap().version, 1);
    assert_eq!(store.catalog_info().await.unwrap()["catalog_name"], "Test");
}

async fn stats_count_by_every_dimension(db: &TestDb) {
    let store = &*db.store;
    for sample in sample_metrics() {
        store.save_metric(&metric(sample), "a", Expect::Absent).await.unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.total_metrics, 12);
    assert_eq!(stats.by_tier["Tier-1"], 8);
    assert_eq!(stats.by_tier["Tier-2"], 4);
    assert_eq!(stats.by_category["Engineering"], 4);
    assert_eq!(stats.by_business_domain["Platform"], 3);
    assert_eq!(stats.by_status["active"], 12);
    assert_eq!(stats.by_metric_type.values().sum::<u64>(), 12);
}

async fn concurrent_updates_lose_nothing(db: &TestDb) {
    let store = db.store.clone();
    let doc = sample_metrics()[5].clone();
    store
        .save_metric(&metric(doc.clone()), "a", Expect::Absent)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut doc = doc.clone();
        tasks.push(tokio::spawn(async move {
            doc["metadata"] = json!({ "notes": format!("writer {i}") });
            store.save_metric(&metric(doc), "w", Expect::Any).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every write commits");
    }
    let current = store.get_metric("METRIC-CSAT").await.unwrap().unwrap();
    assert_eq!(current.version, 9);
    let history = store
        .metric_history("METRIC-CSAT", &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(history.total, Some(9));
}

/// List pages sent from the stored text are byte for byte what serialising the parsed
/// documents gives, page metadata included.
async fn raw_pages_serialise_like_parsed_ones(db: &TestDb) {
    let store = &*db.store;
    for sample in sample_metrics() {
        store
            .save_metric(&metric(sample), "alice", Expect::Absent)
            .await
            .unwrap();
    }
    // Escapes, non-ASCII text, floats, and server-field names nested inside the document.
    let mut odd = sample_metrics()[0].clone();
    odd["metric_id"] = json!("METRIC-ODD");
    odd["name"] = json!("Ünïcode \"quoted\" \\ tab\t ☃");
    odd["x_notes"] = json!({ "version": 1.5e-7, "created_by": [0.1, 1e300, -0.0, 12345678901234567_u64] });
    store
        .save_metric(&metric(odd), "bob \"b\"", Expect::Absent)
        .await
        .unwrap();
    // The same without server-field names: spliced, with an actor that needs escaping.
    let mut plain = sample_metrics()[1].clone();
    plain["metric_id"] = json!("METRIC-PLAIN");
    plain["name"] = json!("Ünïcode \"quoted\" \\ ☃ \u{1}");
    store
        .save_metric(&metric(plain), "carol \"c\" \\", Expect::Absent)
        .await
        .unwrap();

    let search = MetricFilter {
        q: Some("revenue".into()),
        ..Default::default()
    };
    let mut queries = vec![query(search, MetricSort::Name, PageRequest::offset(1, 5))];
    for sort in [
        MetricSort::Name,
        MetricSort::NameDesc,
        MetricSort::MetricId,
        MetricSort::UpdatedAtDesc,
    ] {
        queries.push(query(MetricFilter::default(), sort, PageRequest::offset(2, 4)));
        queries.push(query(MetricFilter::default(), sort, PageRequest::cursor(None, 5, true)));
    }
    for q in &queries {
        let parsed = store.list_metrics(q).await.unwrap();
        let raw = store.list_metrics_raw(q).await.unwrap();
        assert_eq!(
            (raw.total, raw.has_next, &raw.next_cursor),
            (parsed.total, parsed.has_next, &parsed.next_cursor),
            "{q:?}"
        );
        assert_eq!(raw.items.len(), parsed.items.len());
        for (r, p) in raw.items.iter().zip(parsed.items) {
            assert_eq!(
                r.to_json_text().unwrap(),
                serde_json::to_string(&p.into_json()).unwrap()
            );
        }
    }
}

/// The count a bundle revision stands on: one per committed transaction that changed metrics,
/// none for anything else.
async fn metric_writes_count_committed_metric_changes_only(db: &TestDb) {
    let store = &*db.store;
    let writes = || async { store.read_catalog().await.unwrap().metric_writes().await.unwrap() };
    assert_eq!(writes().await, 0);
    let doc = synthetic_metric(1);
    store
        .save_metric(&metric(doc.clone()), "a", Expect::Absent)
        .await
        .unwrap();
    assert_eq!(writes().await, 1, "a create");
    store.save_metric(&metric(doc.clone()), "a", Expect::Any).await.unwrap();
    assert_eq!(writes().await, 1, "saving it unchanged");
    let domain = json!({"domain_id": "ops", "name": "Operations", "description": "d", "owner_team": "ops"});
    let domain = Entity::Domain(BusinessDomain::parse(domain).unwrap());
    store.save_entity(&domain, "a", Expect::Absent).await.unwrap();
    assert_eq!(writes().await, 1, "a domain");
    let mut reader = store.read_catalog().await.unwrap();
    let before = reader.metric_writes().await.unwrap();
    let mut batch = ImportBatch {
        dry_run: true,
        ..metrics_batch((2..5).map(synthetic_metric))
    };
    store.import(&batch, "a").await.unwrap();
    assert_eq!(writes().await, 1, "a dry run");
    batch.dry_run = false;
    store.import(&batch, "a").await.unwrap();
    assert!(writes().await > 1, "an import");
    assert_eq!(
        reader.metric_writes().await.unwrap(),
        before,
        "a snapshot keeps its count"
    );
    let after_import = writes().await;
    let id = doc["metric_id"].as_str().unwrap();
    store.delete_metric(id, "a", None).await.unwrap();
    assert_eq!(writes().await, after_import + 1, "a delete");
}

/// What a store's counters must agree with: per facet, the counting queries of the facets
/// (GROUP BY over the table) and the rows of a filtered walk; in all, the rows of a full walk.
async fn assert_counts_exact(store: &dyn Store, context: &str) {
    let everything = all_cursor(store, &MetricFilter::default(), MetricSort::MetricId, 100).await;
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.total_metrics, everything.len() as u64, "{context}: total");
    let counted = |filter: MetricFilter| async move {
        let page = store
            .list_metrics(&query(filter, MetricSort::Name, PageRequest::offset(1, 1)))
            .await
            .unwrap();
        page.total.unwrap()
    };
    assert_eq!(
        counted(MetricFilter::default()).await,
        everything.len() as u64,
        "{context}"
    );
    let facets = store.metric_facets(&MetricFilter::default(), 1000).await.unwrap();
    for facet in facets.iter().filter(|f| f.facet != "tag") {
        let by = match facet.facet {
            "category" => &stats.by_category,
            "tier" => &stats.by_tier,
            "metric_type" => &stats.by_metric_type,
            "business_domain" => &stats.by_business_domain,
            "owner_team" => &stats.by_owner_team,
            _ => &stats.by_status,
        };
        let scanned: u64 = facet.values.iter().map(|(_, n)| n).sum();
        let none = stats.total_metrics - scanned;
        let mut expected: std::collections::BTreeMap<String, u64> = facet.values.iter().cloned().collect();
        if none > 0 {
            expected.insert("(none)".into(), none);
        }
        assert_eq!(by, &expected, "{context}: stats by {}", facet.facet);
        for (value, n) in &facet.values {
            let mut filter = MetricFilter::default();
            match facet.facet {
                "category" => filter.category = Some(value.clone()),
                "tier" => filter.tier = Some(value.clone()),
                "metric_type" => filter.metric_type = Some(value.clone()),
                "business_domain" => filter.business_domain = Some(value.clone()),
                "status" => filter.status = Some(value.clone()),
                _ => continue,
            }
            assert_eq!(counted(filter).await, *n, "{context}: {} = {value}", facet.facet);
        }
    }
    let mut owners = HashSet::new();
    let mut tags: std::collections::BTreeMap<String, u64> = Default::default();
    let mut rows = Vec::new();
    for id in &everything {
        let m = store.get_metric(id).await.unwrap().unwrap();
        for key in ["owner_team", "technical_owner", "business_owner"] {
            if let Some(o) = m.doc.get("governance").and_then(|g| g.get(key)).and_then(Value::as_str) {
                owners.insert(o.to_string());
            }
        }
        let own: HashSet<&str> = m.doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for tag in own {
            *tags.entry(tag.to_string()).or_default() += 1;
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        rows.push([
            text(m.doc.get("category")),
            text(m.doc.get("tier")),
            text(m.doc.get("business_domain")),
            text(m.doc.get("metric_type")),
            text(m.doc.get("governance").and_then(|g| g.get("status"))),
        ]);
    }
    for (tag, n) in tags.into_iter().chain([("no-such-tag".to_string(), 0)]) {
        let filter = MetricFilter {
            tags: vec![tag.clone()],
            ..Default::default()
        };
        assert_eq!(counted(filter).await, n, "{context}: tag = {tag}");
    }
    // Two or more equality filters: every shape of two, three and all five filters, with the
    // values of each row and of a row that matches none.
    let shapes: [&[usize]; 5] = [&[0, 1], &[1, 2], &[2, 3, 4], &[0, 1, 2, 3], &[0, 1, 2, 3, 4]];
    let mut probes: Vec<[Option<String>; 5]> = rows.iter().take(12).cloned().collect();
    probes.push([0, 1, 2, 3, 4].map(|i| Some(format!("nothing-{i}"))));
    for shape in shapes {
        // A probe row without a status has no value to filter that shape by.
        for probe in probes.iter().filter(|p| shape.iter().all(|&i| p[i].is_some())) {
            let expected = rows.iter().filter(|r| shape.iter().all(|&i| r[i] == probe[i])).count() as u64;
            let pick = |i: usize| if shape.contains(&i) { probe[i].clone() } else { None };
            let filter = MetricFilter {
                category: pick(0),
                tier: pick(1),
                business_domain: pick(2),
                metric_type: pick(3),
                status: pick(4),
                ..Default::default()
            };
            assert_eq!(counted(filter.clone()).await, expected, "{context}: {filter:?}");
        }
    }
    for owner in owners {
        let filter = MetricFilter {
            owner: Some(owner.clone()),
            ..Default::default()
        };
        let walked = all_cursor(store, &filter, MetricSort::MetricId, 100).await.len() as u64;
        assert_eq!(counted(filter).await, walked, "{context}: owner = {owner}");
    }
}

/// Stats and list totals come from counters the writes keep: after every kind of write they
/// still equal what counting the rows gives.
async fn counters_follow_every_kind_of_write(db: &TestDb) {
    let store = &*db.store;
    assert_counts_exact(store, "empty").await;
    seed(store, 40).await;
    assert_counts_exact(store, "import").await;

    // Updates that move counted fields (and one owner in two roles), one that moves none.
    let mut doc = synthetic_metric(3);
    doc["category"] = json!("Brand New");
    doc["governance"]["status"] = json!("retired");
    doc["governance"]["technical_owner"] = doc["governance"]["owner_team"].clone();
    doc["tags"] = json!(["brand-new", "web", "brand-new"]);
    store.save_metric(&metric(doc.clone()), "u", Expect::Any).await.unwrap();
    doc["description"] = json!("Only the description changes.");
    store.save_metric(&metric(doc), "u", Expect::Any).await.unwrap();
    let mut doc = synthetic_metric(4);
    doc["governance"].as_object_mut().unwrap().remove("status");
    doc["governance"].as_object_mut().unwrap().remove("owner_team");
    store.save_metric(&metric(doc), "u", Expect::Any).await.unwrap();
    assert_counts_exact(store, "updates").await;

    store.delete_metric("SYN-0000005", "d", None).await.unwrap();
    store.delete_metric("SYN-0000006", "d", None).await.unwrap();
    store
        .save_metric(&metric(synthetic_metric(100)), "c", Expect::Absent)
        .await
        .unwrap();
    store
        .save_metric(&metric(synthetic_metric(5)), "c", Expect::Absent)
        .await
        .unwrap();
    assert_counts_exact(store, "deletes and creates").await;

    // Refused writes and dry runs count nothing.
    let err = store
        .save_metric(&metric(synthetic_metric(7)), "c", Expect::Absent)
        .await;
    assert!(matches!(err, Err(StoreError::Conflict(_))));
    let mut changed = synthetic_metric(8);
    changed["tier"] = json!("Tier-3");
    let mut batch = ImportBatch {
        dry_run: true,
        ..metrics_batch([changed, synthetic_metric(200), synthetic_metric(201)])
    };
    store.import(&batch, "i").await.unwrap();
    assert_counts_exact(store, "dry run").await;
    batch.dry_run = false;
    store.import(&batch, "i").await.unwrap();
    assert_counts_exact(store, "import of updates and creates").await;
}

/// Concurrent writers (creates, updates moving counted fields, deletes) leave the counters exact.
async fn concurrent_writers_keep_counters_exact(db: &TestDb) {
    let store = db.store.clone();
    seed(&*store, 20).await;
    let mut tasks = Vec::new();
    for w in 0..10_usize {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..6 {
                let n = 1000 + w * 10 + i;
                store
                    .save_metric(&metric(synthetic_metric(n)), "w", Expect::Absent)
                    .await
                    .unwrap();
                let mut doc = synthetic_metric(w * 2 + i % 2);
                doc["category"] = json!(format!("Writer {w}"));
                doc["governance"]["status"] = json!(["active", "draft"][i % 2]);
                store.save_metric(&metric(doc), "w", Expect::Any).await.unwrap();
            }
            let gone = format!("SYN-{:07}", 1000 + w * 10);
            store.delete_metric(&gone, "w", None).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_counts_exact(&*store, "after concurrent writers").await;
    assert_eq!(store.stats().await.unwrap().total_metrics, 20 + 10 * 5);
}

/// The migrations creating the counters start them from the rows already there.
async fn counters_start_from_existing_rows(db: &TestDb) {
    seed(&*db.store, 30).await;
    let mut doc = synthetic_metric(2);
    doc["governance"].as_object_mut().unwrap().remove("status");
    doc["governance"]["business_owner"] = doc["governance"]["owner_team"].clone();
    doc["tags"] = json!(["twice", "web", "twice"]);
    db.store.save_metric(&metric(doc), "u", Expect::Any).await.unwrap();
    // The migrations of the counters numbered apart: combinations and tags are 20261204000012
    // and 13 on SQLite, 14 and 15 on PostgreSQL.
    let forget = if db.url.starts_with("sqlite:") {
        "DELETE FROM _sqlx_migrations WHERE version IN (20261203000010, 20261204000012, 20261204000013)"
    } else {
        "DELETE FROM _sqlx_migrations WHERE version IN (20261203000010, 20261204000014, 20261204000015)"
    };
    let undo = [
        "DROP TABLE metric_counts",
        "DROP TABLE metric_combination_counts",
        forget,
    ];
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        for sql in undo {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        for sql in undo {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    db.store.migrate().await.unwrap();
    assert_counts_exact(&*db.store, "migrated").await;
}

/// Large imports take the bulk path (COPY on PostgreSQL): text that needs escaping there comes
/// back exactly, tags included, and every created metric has its history entry.
async fn bulk_import_keeps_odd_text_and_history(db: &TestDb) {
    let store = &*db.store;
    let docs: Vec<Value> = (0..40)
        .map(|i| {
            let mut d = synthetic_metric(i);
            d["name"] = json!(format!("Tab\there, back\\slash \\N, new\nline\r, \"quoted\" ☃ {i}"));
            d["description"] = json!("{braces}, [brackets], 'single' and \"double\" quotes\t\\.");
            d["tags"] = json!(["with space", "comma,inside", "quote\"d", "back\\slash", "{brace}"]);
            d
        })
        .collect();
    let batch = metrics_batch(docs.clone());
    assert_eq!(
        store.import(&batch, "bulk \"actor\"\t").await.unwrap().metrics.created,
        40
    );
    for (i, doc) in docs.iter().enumerate() {
        let id = doc["metric_id"].as_str().unwrap();
        let stored = store.get_metric(id).await.unwrap().unwrap();
        assert_eq!(stored.doc, metric(doc.clone()).doc, "metric {i}");
        assert_eq!(stored.created_by, "bulk \"actor\"\t");
        let history = store.metric_history(id, &PageRequest::default()).await.unwrap();
        assert_eq!(history.total, Some(1));
        assert_eq!(history.items[0].action, Action::Create);
    }
    for tag in ["comma,inside", "quote\"d", "back\\slash", "{brace}"] {
        let filter = MetricFilter {
            tags: vec![tag.to_string()],
            ..Default::default()
        };
        assert_eq!(
            all_pages(store, &filter, MetricSort::Name, 100).await.len(),
            40,
            "tag {tag}"
        );
    }
    assert_counts_exact(store, "bulk import").await;
}

/// A list filtered by an owner or tags reads its matches first when the counters say they are
/// few (`MDL_SEARCH_DENSE_AT`), and walks the list's order otherwise: both must give the
/// same pages, totals and cursors. A store that counts every set as common (a `search_dense_at`
/// of 1) walks; the default one reads these sets' matches. The rare set sits at the end of the
/// name order, some of it without a status, so a filter the reading leaves to a row test
/// (`tier`, `status`, the other of owner and tags) has rows to reject.
async fn owner_and_tag_lists_read_alike_by_walk_and_by_matches(db: &TestDb) {
    let reads = &*db.store;
    let walks = mdl::store::connect(&mdl::config::DbConfig {
        search_dense_at: 1,
        ..mdl::config::DbConfig::new(&db.url)
    })
    .await
    .expect("walking store");
    let mut docs: Vec<Value> = (0..240).map(synthetic_metric).collect();
    for i in 0..36 {
        let mut d = synthetic_metric(1000 + i);
        d["metric_id"] = json!(format!("rare-{i:02}"));
        d["name"] = json!(format!("zz rare {:02}", (i * 7) % 36));
        d["tags"] = json!(if i % 3 == 0 {
            vec!["rarewave", "churn"]
        } else {
            vec!["rarewave"]
        });
        d["governance"]["owner_team"] = json!("Rare Owners");
        if i % 4 == 0 {
            d["governance"].as_object_mut().unwrap().remove("status");
        }
        docs.push(d);
    }
    reads
        .import(&metrics_batch(docs.clone()), "seeder")
        .await
        .expect("seed");

    let some = |v: &str| Some(v.to_string());
    let tags = |t: &[&str]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    let filters = [
        MetricFilter {
            owner: some("Rare Owners"),
            ..Default::default()
        },
        MetricFilter {
            owner: some("SRE"),
            ..Default::default()
        },
        MetricFilter {
            owner: some("Head of Revenue"),
            ..Default::default()
        },
        MetricFilter {
            owner: some("nobody"),
            ..Default::default()
        },
        MetricFilter {
            tags: tags(&["rarewave"]),
            ..Default::default()
        },
        MetricFilter {
            tags: tags(&["rarewave", "latency"]),
            ..Default::default()
        },
        MetricFilter {
            tags: tags(&["no-such-tag"]),
            ..Default::default()
        },
        MetricFilter {
            owner: some("Rare Owners"),
            tier: some("Tier-2"),
            ..Default::default()
        },
        MetricFilter {
            tags: tags(&["rarewave"]),
            status: some("active"),
            ..Default::default()
        },
        MetricFilter {
            owner: some("Rare Owners"),
            tags: tags(&["churn"]),
            ..Default::default()
        },
        MetricFilter {
            owner: some("SRE"),
            tags: tags(&["rarewave"]),
            ..Default::default()
        },
        MetricFilter {
            tags: tags(&["rarewave"]),
            category: docs[250]["category"].as_str().map(str::to_string),
            metric_type: docs[250]["metric_type"].as_str().map(str::to_string),
            ..Default::default()
        },
    ];
    let has_tag = |d: &Value, t: &str| d["tags"].as_array().unwrap().iter().any(|x| x == t);
    let mut read_some = 0;
    for filter in &filters {
        let mut expected: Vec<String> = docs
            .iter()
            .filter(|d| {
                let g = &d["governance"];
                let owner = filter.owner.as_deref().is_none_or(|o| {
                    ["owner_team", "technical_owner", "business_owner"]
                        .iter()
                        .any(|k| g[k] == o)
                });
                let tag = filter.tags.is_empty() || filter.tags.iter().any(|t| has_tag(d, t));
                let eq = |v: &Option<String>, field: &Value| v.as_deref().is_none_or(|v| field == v);
                owner
                    && tag
                    && eq(&filter.tier, &d["tier"])
                    && eq(&filter.status, &g["status"])
                    && eq(&filter.category, &d["category"])
                    && eq(&filter.metric_type, &d["metric_type"])
            })
            .map(|d| d["metric_id"].as_str().unwrap().to_string())
            .collect();
        expected.sort();
        read_some += usize::from(!expected.is_empty());
        for sort in [
            MetricSort::Name,
            MetricSort::NameDesc,
            MetricSort::UpdatedAtDesc,
            MetricSort::MetricId,
        ] {
            let by_reading = all_pages(reads, filter, sort, 7).await;
            assert_eq!(
                by_reading,
                all_pages(&*walks, filter, sort, 7).await,
                "{filter:?} {sort:?}"
            );
            assert_eq!(
                all_cursor(reads, filter, sort, 5).await,
                by_reading,
                "{filter:?} {sort:?} by cursor"
            );
            let mut found = by_reading.clone();
            found.sort();
            assert_eq!(found, expected, "{filter:?} {sort:?}");
        }
        let q = query(filter.clone(), MetricSort::Name, PageRequest::offset(1, 7));
        let a = reads.list_metrics(&q).await.expect("first page");
        let b = walks.list_metrics(&q).await.expect("first page, walking");
        assert_eq!(a.total, Some(expected.len() as u64), "{filter:?}");
        assert_eq!(
            (ids(&a.items), a.has_next, a.total),
            (ids(&b.items), b.has_next, b.total)
        );
    }
    // All but `nobody`, `no-such-tag` and SRE's rare metrics (SRE has none).
    assert_eq!(read_some, filters.len() - 3);
}

backend_tests!(
    bulk_import_keeps_odd_text_and_history,
    counters_follow_every_kind_of_write,
    concurrent_writers_keep_counters_exact,
    counters_start_from_existing_rows,
    metric_writes_count_committed_metric_changes_only,
    samples_round_trip_unchanged,
    raw_pages_serialise_like_parsed_ones,
    create_twice_is_a_conflict,
    versions_and_history_follow_the_rules,
    stale_versions_and_missing_ids_are_refused,
    delete_keeps_history_and_recreate_continues_numbering,
    recreating_a_restored_id_continues_its_numbering,
    concurrent_creates_of_one_id_make_one_metric,
    filters_match_what_they_say,
    full_text_search_stems_and_ranks,
    page_and_cursor_walks_agree,
    cursors_cannot_be_tampered_with_or_reused,
    cursor_walk_survives_concurrent_inserts,
    history_pages_by_number_and_cursor,
    domains_and_objectives_round_trip,
    import_is_all_or_nothing,
    stats_count_by_every_dimension,
    concurrent_updates_lose_nothing,
    owner_and_tag_lists_read_alike_by_walk_and_by_matches,
);

/// SQLite has one write lock and queues no one for it: writers poll for it, up to 100 ms
/// apart. This process's writers take turns instead, so while another process holds the lock,
/// one of them waits inside SQLite on a pooled connection and the rest wait for their turn
/// without one; once the lock is free they all land.
#[tokio::test]
async fn sqlite_writers_take_turns_for_the_write_lock() {
    use sqlx::Connection;
    let db = crate::support::sqlite().await;
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.expect("another process");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("hold the lock");
    let writers: Vec<_> = (0..6)
        .map(|n| {
            let store = db.store.clone();
            tokio::spawn(async move {
                store
                    .save_metric(&metric(synthetic_metric(n)), "writer", Expect::Absent)
                    .await
            })
        })
        .collect();
    let mut most = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        most = most.max(db.store.pool_status().expect("a pool").in_use);
    }
    assert_eq!(most, 1, "one writer waits inside SQLite, the others for their turn");
    sqlx::query("COMMIT").execute(&mut other).await.expect("release");
    for w in writers {
        w.await.expect("join").expect("written once the lock is free");
    }
    assert_eq!(db.store.stats().await.expect("stats").total_metrics, 6);
    db.cleanup().await;
}
