//! The `mdl` binary against real databases: exit codes and output.

use crate::support::{TestDb, backend_tests, sample_metrics};
use mdl::domain::Metric;
use mdl::store::Expect;
use std::process::{Command, Output};

fn mdl(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run mdl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn load_samples(db: &TestDb) {
    for doc in sample_metrics() {
        db.store
            .save_metric(&Metric::parse(doc).unwrap(), "cli-test", Expect::Absent)
            .await
            .unwrap();
    }
}

async fn migrate_list_show_history(db: &TestDb) {
    let out = mdl(db, &["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    load_samples(db).await;

    let out = mdl(db, &["list", "--category", "Engineering", "--tier", "Tier-2"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("METRIC_ID"), "{text}");
    assert!(text.contains("METRIC-PR-CYCLE-TIME"));
    assert!(!text.contains("METRIC-CSAT"));
    assert!(text.contains("4 shown of 4"), "{text}");

    let out = mdl(db, &["list", "--q", "deployments", "--json"]);
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(items[0]["metric_id"], "METRIC-DEPLOYMENT-FREQUENCY");

    let out = mdl(db, &["list", "--tag", "security", "--tag", "revenue", "--json"]);
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!items.as_array().unwrap().is_empty());

    let out = mdl(db, &["show", "METRIC-CSAT"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("(version 1)"));
    let out = mdl(db, &["show", "METRIC-CSAT", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["created_by"], "cli-test");

    let out = mdl(db, &["history", "METRIC-CSAT"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("create (major)"));
}

async fn failures_use_the_documented_exit_codes(db: &TestDb) {
    let out = mdl(db, &["show", "NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    assert!(out.stdout.is_empty());
    assert_eq!(mdl(db, &["history", "NOPE"]).status.code(), Some(1));
    assert_eq!(mdl(db, &["list", "--q", "%%%"]).status.code(), Some(1));
    assert_eq!(mdl(db, &["list", "--limit", "0"]).status.code(), Some(2));
    assert_eq!(mdl(db, &["list", "--sort", "sideways"]).status.code(), Some(2));
    assert_eq!(mdl(db, &["frobnicate"]).status.code(), Some(2));
}

backend_tests!(migrate_list_show_history, failures_use_the_documented_exit_codes);

#[test]
fn bad_database_url_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(["list"])
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL must start with sqlite: or postgres:"));
}
