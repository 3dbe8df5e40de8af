//! The Redis tier on a Redis Cluster: private three-master clusters, two instances on each.

use crate::cache::{pair, wait_for, x_cache};
use crate::support::{RedisCluster, TestApp, load, redis_prefix, sqlite};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const LOGIN: &str = "METRIC-LOGIN-SUCCESS-RATE";

async fn version_of(app: &TestApp, token: &str) -> (i64, String) {
    let r = app.get(&format!("/api/v1/metrics/{LOGIN}"), token).await;
    let outcome = x_cache(&r);
    let body: Value = r.json().await.unwrap();
    (body["data"]["version"].as_i64().unwrap_or(-1), outcome)
}

/// The version of the login metric as a listing shows it.
async fn listed_version(app: &TestApp, token: &str) -> i64 {
    let body: Value = app.get("/api/v1/metrics?limit=100", token).await.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric_id"] == LOGIN)
        .and_then(|m| m["version"].as_i64())
        .unwrap_or(-1)
}

async fn patch(app: &TestApp, token: &str, description: &str) {
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/metrics/{LOGIN}"),
            token,
            Some(&json!({ "description": description })),
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// Where the counters live: every generation key shares the tag `{PREFIX:gen}`.
fn generation_key(prefix: &str) -> String {
    format!("{{{prefix}:gen}}:metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_one_instance_reach_the_other_at_once() {
    let Some(cluster) = RedisCluster::start() else { return };
    let db = sqlite().await;
    load(&db).await;
    let (a, b) = pair(&db, &cluster.url(), &redis_prefix()).await;
    let (ta, tb) = (a.token().await, b.token().await);

    // A fills the shared tier; B's first read is a hit from it.
    assert_eq!(x_cache(&a.get("/api/v1/metrics?tier=Tier-2", &ta).await), "MISS");
    wait_for("entry reaches the cluster", Duration::from_secs(2), async || {
        x_cache(&b.get("/api/v1/metrics?tier=Tier-2", &tb).await) == "HIT"
    })
    .await;

    // B caches the metric and a listing; A changes the metric; B follows every time.
    assert_eq!(version_of(&b, &tb).await.0, 1);
    assert_eq!(version_of(&b, &tb).await.1, "HIT");
    assert_eq!(listed_version(&b, &tb).await, 1);
    for round in 2..=4 {
        patch(&a, &ta, &format!("round {round}")).await;
        assert_eq!(version_of(&a, &ta).await.0, round, "the writer sees its write at once");
        wait_for("B sees the write", Duration::from_secs(2), async || {
            version_of(&b, &tb).await.0 == round
        })
        .await;
        assert_eq!(listed_version(&b, &tb).await, round, "B's listing moved too");
        for _ in 0..5 {
            assert_eq!(version_of(&b, &tb).await.0, round, "no stale read after the message");
        }
    }
    let stats: Value = b.get("/api/v1/stats/cache", &tb).await.json().await.unwrap();
    assert_eq!(stats["data"]["l2"]["status"], "up", "{stats}");

    // A plain PUBLISH (not from a script, so on whichever node) reaches B as well.
    let viewer = b.user(&db, "vic", "viewer").await;
    assert_eq!(b.get("/api/v1/metrics", &viewer).await.status(), 200);
    let vic = a.user_id(&ta, "vic").await;
    let body = json!({"status": "inactive"});
    let r = a
        .send(Method::PATCH, &format!("/api/v1/users/{vic}"), &ta, Some(&body))
        .await;
    assert_eq!(r.status(), 200);
    wait_for("B refuses the deactivated user", Duration::from_secs(2), async || {
        b.get("/api/v1/metrics", &viewer).await.status() == 401
    })
    .await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_spread_over_the_masters_and_counters_share_one_slot() {
    let Some(cluster) = RedisCluster::start() else { return };
    let db = sqlite().await;
    load(&db).await;
    let prefix = redis_prefix();
    let (a, _b) = pair(&db, &cluster.url(), &prefix).await;
    let token = a.token().await;
    let ids: Vec<String> = {
        let body: Value = a.get("/api/v1/metrics?limit=100", &token).await.json().await.unwrap();
        let metrics = body["data"].as_array().unwrap();
        metrics
            .iter()
            .map(|m| m["metric_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids.len() >= 10, "{ids:?}");
    for id in &ids {
        assert_eq!(a.get(&format!("/api/v1/metrics/{id}"), &token).await.status(), 200);
    }
    let entries = format!("{prefix}:entry:*");
    let per_node = || {
        (0..RedisCluster::SIZE)
            .map(|i| cluster.keys(i, &entries).len())
            .collect::<Vec<_>>()
    };
    wait_for("every entry stored", Duration::from_secs(5), async || {
        per_node().iter().sum::<usize>() > ids.len()
    })
    .await;
    let counts = per_node();
    assert!(
        counts.iter().filter(|n| **n > 0).count() >= 2,
        "entries should land on more than one master: {counts:?}"
    );

    // A write bumps several counters in one script: they must all be on one node, in one slot.
    patch(&a, &token, "spread").await;
    let counters = format!("{{{prefix}:gen}}:*");
    let found: Vec<Vec<String>> = (0..RedisCluster::SIZE).map(|i| cluster.keys(i, &counters)).collect();
    let holders: Vec<usize> = (0..RedisCluster::SIZE).filter(|i| !found[*i].is_empty()).collect();
    assert_eq!(holders.len(), 1, "counters on one node: {found:?}");
    let keys = &found[holders[0]];
    assert!(keys.len() >= 3, "a metric write bumps several counters: {keys:?}");
    let slots: Vec<i64> = keys
        .iter()
        .map(|k| {
            let slot = cluster.command(holders[0], redis::cmd("CLUSTER").arg("KEYSLOT").arg(k));
            redis::from_redis_value(slot.unwrap()).unwrap()
        })
        .collect();
    assert!(slots.iter().all(|s| *s == slots[0]), "{keys:?} in slots {slots:?}");
    assert_eq!(holders[0], cluster.owner(&generation_key(&prefix)));
    let stats: Value = a.get("/api/v1/stats/cache", &token).await.json().await.unwrap();
    assert_eq!(stats["data"]["l2"]["status"], "up", "the scripts ran: {stats}");
    db.cleanup().await;
}

/// Both instances follow invalidations through the first node listed; it dies. Its slots are
/// gone with it (no replicas), so reads of entries there fall back to memory or the database;
/// the subscribers move on to the next node, and writes still reach both instances because the
/// counters live elsewhere. Then the node returns and the shared tier serves from all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_followed_node_degrades_and_recovers() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let db = sqlite().await;
    load(&db).await;
    let prefix = redis_prefix();
    let counters = cluster.owner(&generation_key(&prefix));
    let followed = (counters + 1) % RedisCluster::SIZE;
    let (a, b) = pair(&db, &cluster.url_from(followed), &prefix).await;
    let (ta, tb) = (a.token().await, b.token().await);
    assert_eq!(version_of(&b, &tb).await.0, 1);
    assert_eq!(version_of(&b, &tb).await.1, "HIT");

    cluster.stop(followed);
    // Reads go on, without server errors and without hanging on the dead node.
    for i in 0..30 {
        let url = format!("/api/v1/metrics?limit={}", i % 10 + 1);
        let started = Instant::now();
        let r = a.get(&url, &ta).await;
        assert_eq!(r.status(), 200, "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{url}: {:?}",
            started.elapsed()
        );
        assert_eq!(b.get(&url, &tb).await.status(), 200, "{url}");
    }
    // B's old subscription died with the node, so this can only reach it through another one.
    patch(&a, &ta, "while a node is down").await;
    assert_eq!(version_of(&a, &ta).await.0, 2);
    wait_for(
        "B sees the write while the node is down",
        Duration::from_secs(10),
        async || version_of(&b, &tb).await.0 == 2,
    )
    .await;

    assert!(cluster.restart(followed), "the node comes back");
    patch(&a, &ta, "after the node returned").await;
    wait_for(
        "B sees the write after the node returned",
        Duration::from_secs(10),
        async || version_of(&b, &tb).await.0 == 3,
    )
    .await;
    wait_for("the shared tier serves again", Duration::from_secs(10), async || {
        for app in [&a, &b] {
            if app.health().await["components"]["cache"]["l2"] != "up" {
                return false;
            }
        }
        true
    })
    .await;
    // Entries on every node work again: pages A fills (some in the returned node's slots) are
    // hits on B.
    for limit in 11..=20 {
        let url = format!("/api/v1/metrics?limit={limit}");
        assert_eq!(a.get(&url, &ta).await.status(), 200);
        wait_for("B hits A's page", Duration::from_secs(5), async || {
            x_cache(&b.get(&url, &tb).await) == "HIT"
        })
        .await;
    }
    db.cleanup().await;
}

/// `mdl import` announces its write through the same `REDIS_URL`, cluster form included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_reach_servers_on_a_cluster() {
    let Some(cluster) = RedisCluster::start() else { return };
    let db = sqlite().await;
    let prefix = redis_prefix();
    let app = crate::support::spawn_with(&db, crate::cache::with_redis(&cluster.url(), &prefix)).await;
    crate::cache::redis_tier_live(&app).await;
    let token = app.token().await;
    let total = async || -> u64 {
        let stats: Value = app.get("/api/v1/stats", &token).await.json().await.unwrap();
        stats["data"]["total_metrics"].as_u64().unwrap()
    };
    assert_eq!(total().await, 0);
    assert_eq!(x_cache(&app.get("/api/v1/stats", &token).await), "HIT");
    let file = crate::support::examples_dir().join("sample-metrics.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(["import", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", cluster.url())
        .env("MDL_REDIS_PREFIX", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("the server sees the CLI's import", Duration::from_secs(2), async || {
        total().await == 12
    })
    .await;
    db.cleanup().await;
}

/// A cluster URL that names nothing reachable degrades like an absent single server.
#[tokio::test]
async fn unreachable_cluster_degrades_without_waiting() {
    let db = sqlite().await;
    load(&db).await;
    let config = crate::cache::with_redis("redis+cluster://127.0.0.1:1,127.0.0.1:2", &redis_prefix());
    let app = crate::support::spawn_with(&db, config).await;
    let token = app.token().await;
    let started = Instant::now();
    assert_eq!(x_cache(&app.get("/api/v1/metrics", &token).await), "MISS");
    assert_eq!(x_cache(&app.get("/api/v1/metrics", &token).await), "HIT");
    patch(&app, &token, "no cluster").await;
    assert_eq!(version_of(&app, &token).await.0, 2);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let h: Value = app.health().await;
    assert_eq!(h["status"], "degraded", "{h}");
    db.cleanup().await;
}

#[test]
fn cluster_urls_name_their_nodes() {
    use mdl::config::RedisTarget;
    assert_eq!(
        RedisTarget::parse("redis+cluster://10.0.0.1:7000,10.0.0.2:7001/"),
        Ok(RedisTarget::Cluster(vec![
            "redis://10.0.0.1:7000".into(),
            "redis://10.0.0.2:7001".into()
        ]))
    );
    assert_eq!(
        RedisTarget::parse("redis+cluster://mdl:s3cret@a:1,b:2"),
        Ok(RedisTarget::Cluster(vec![
            "redis://mdl:s3cret@a:1".into(),
            "redis://mdl:s3cret@b:2".into()
        ]))
    );
    assert_eq!(
        RedisTarget::parse("redis://cache:6379/2"),
        Ok(RedisTarget::Single("redis://cache:6379/2".into()))
    );
    for bad in ["redis+cluster://a:1,,b:2", "redis+cluster://a:1/2", "http://a:1"] {
        let problem = RedisTarget::parse(bad).unwrap_err();
        assert!(problem.contains("REDIS_URL"), "{bad}: {problem}");
    }
    let problem = RedisTarget::parse("redis+cluster://u:hunter2@a:1/?x=1").unwrap_err();
    assert!(!problem.contains("hunter2"), "{problem}");
}

/// A rolling upgrade from the single-server layout: old instances announce numbers from the old
/// counters on the same channel, above the new counters. A write on a new instance must still
/// reach the others (through the resync that raises the shared counters past what was seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_layout_announcements_do_not_hide_new_writes() {
    let Some(redis) = crate::support::redis_url() else {
        return;
    };
    let db = sqlite().await;
    load(&db).await;
    let prefix = redis_prefix();
    let (a, b) = pair(&db, &redis, &prefix).await;
    let (ta, tb) = (a.token().await, b.token().await);
    assert_eq!(version_of(&b, &tb).await, (1, "MISS".into()));

    // What an old instance's write looks like on the channel: every counter at 50.
    let values: Vec<String> = mdl::cache::keys::Collection::every()
        .map(|c| format!("{c}=50"))
        .collect();
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("PUBLISH")
        .arg(format!("{prefix}:events"))
        .arg(format!("g {}", values.join(" ")))
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    for (app, token) in [(&a, &ta), (&b, &tb)] {
        wait_for("the old numbers applied", Duration::from_secs(2), async || {
            let stats: Value = app.get("/api/v1/stats/cache", token).await.json().await.unwrap();
            stats["data"]["generations"]["metrics"] == 50
        })
        .await;
    }
    assert_eq!(
        version_of(&b, &tb).await,
        (1, "MISS".into()),
        "new generations, new keys"
    );
    assert_eq!(version_of(&b, &tb).await.1, "HIT");

    for round in 2..=3 {
        patch(&a, &ta, &format!("after the old announcement {round}")).await;
        assert_eq!(version_of(&a, &ta).await.0, round);
        wait_for("B sees the new instance's write", Duration::from_secs(3), async || {
            version_of(&b, &tb).await.0 == round
        })
        .await;
    }
    crate::cache::redis_tier_live(&a).await;
    let stats: Value = a.get("/api/v1/stats/cache", &ta).await.json().await.unwrap();
    assert!(
        stats["data"]["generations"]["metrics"].as_u64().unwrap() > 50,
        "{stats}"
    );
    db.cleanup().await;
}
