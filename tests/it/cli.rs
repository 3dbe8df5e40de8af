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

fn mdl_stdin(db: &TestDb, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mdl");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

async fn import_export_stats_and_seed(db: &TestDb) {
    let examples = crate::support::examples_dir();
    let path = |name: &str| examples.join(name).display().to_string();
    let out = mdl(db, &["import", &path("sample-metrics.yaml"), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("metrics: 5 created"), "{}", stdout(&out));
    assert!(stdout(&out).contains("nothing was written"));
    let out = mdl(db, &["import", &path("sample-metrics.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("warning: objectives[0].key_results: references metric `METRIC-NPS-MOBILE`"));
    assert_eq!(
        mdl(db, &["import", &path("sample-domains.json")]).status.code(),
        Some(0)
    );

    let out = mdl(db, &["import", &path("template-metric.json")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("metric_id: must not be empty") && err.contains("tier: must not be empty"),
        "{err}"
    );
    assert_eq!(mdl(db, &["import", "/no/such/file.json"]).status.code(), Some(1));

    let out = mdl(db, &["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (stats["total_metrics"].as_u64(), stats["total_domains"].as_u64()),
        (Some(12), Some(6))
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.yaml");
    let out = mdl(db, &["export", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("exported 12 metrics, 6 domains, 1 objectives"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("catalog_version:"), "YAML by extension");
    let out = mdl(db, &["export", "-"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["metrics"].as_array().unwrap().len(), 12);
    // Re-importing the export changes nothing.
    let out = mdl(db, &["import", file.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("metrics: 0 created, 0 updated, 12 unchanged"),
        "{}",
        stdout(&out)
    );

    let out = mdl(db, &["seed", "--synthetic", "40"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("seeded 40 synthetic metrics (40 new)"));
    let out = mdl(db, &["list", "--q", "checkout", "--json"]);
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        items
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["metric_id"].as_str().unwrap().starts_with("SYN-"))
    );
}

async fn user_administration(db: &TestDb) {
    let out = mdl_stdin(
        db,
        &[
            "user",
            "create",
            "Alice",
            "--email",
            "alice@example.com",
            "--role",
            "editor",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !stdout(&out).contains("password:"),
        "a supplied password is never echoed"
    );
    let (user, hash) = db.store.find_user("alice").await.unwrap().expect("stored lower-case");
    assert_eq!(user.role, mdl::domain::user::Role::Editor);
    assert!(mdl::auth::password::verify_password("correct horse battery".into(), hash).await);

    let dup = mdl_stdin(
        db,
        &[
            "user",
            "create",
            "alice",
            "--email",
            "x@example.com",
            "--password-stdin",
        ],
        "another long pw\n",
    );
    assert_eq!(dup.status.code(), Some(1));
    let weak = mdl_stdin(
        db,
        &[
            "user",
            "create",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password: must be at least 10 characters"));

    assert_eq!(mdl(db, &["user", "set-role", "alice", "admin"]).status.code(), Some(0));
    assert_eq!(
        mdl(db, &["user", "set-role", "alice", "emperor"]).status.code(),
        Some(1)
    );
    assert_eq!(mdl(db, &["user", "deactivate", "alice"]).status.code(), Some(0));
    let out = mdl(db, &["user", "set-password", "alice"]);
    let text = stdout(&out);
    let generated = text
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("generated password printed");
    let (user, hash) = db.store.find_user("alice").await.unwrap().unwrap();
    assert_eq!(
        (user.role, user.status),
        (mdl::domain::user::Role::Admin, mdl::domain::user::UserStatus::Inactive)
    );
    assert!(mdl::auth::password::verify_password(generated.to_string(), hash.clone()).await);
    assert!(!mdl::auth::password::verify_password("correct horse battery".into(), hash).await);

    let out = mdl(db, &["user", "list"]);
    assert!(stdout(&out).contains("alice") && stdout(&out).contains("inactive"));
    assert_eq!(mdl(db, &["user", "deactivate", "nobody"]).status.code(), Some(1));
}

backend_tests!(
    migrate_list_show_history,
    failures_use_the_documented_exit_codes,
    import_export_stats_and_seed,
    user_administration,
);
