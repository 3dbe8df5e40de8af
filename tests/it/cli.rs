//! The `mdl` binary against real databases: exit codes and output.

use crate::support::{TestDb, backend_tests, rendered_at_once, sample_metrics};
use mdl::catalog::Format;
use mdl::domain::Metric;
use mdl::store::{Entity, Expect};
use serde_json::{Value, json};
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
    assert_eq!(text, rendered_at_once(&*db.store, Format::Yaml).await);
    assert!(!dir.path().join("catalog.yaml.partial").exists());
    let out = mdl(db, &["export", "-"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["metrics"].as_array().unwrap().len(), 12);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        rendered_at_once(&*db.store, Format::Json).await
    );
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

/// Batches written side by side (PostgreSQL) land exactly: every metric once, with its history
/// entry, and the maintained counts agree with the documents; a seed over existing ids adds
/// only the new ones.
async fn seed_in_concurrent_batches(db: &TestDb) {
    let out = mdl(db, &["seed", "--synthetic", "230", "--batch", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout(&out).contains("seeded 230 synthetic metrics (230 new)"),
        "{}",
        stdout(&out)
    );
    let out = mdl(db, &["seed", "--synthetic", "60", "--start", "200", "--batch", "7"]);
    assert!(
        stdout(&out).contains("seeded 60 synthetic metrics (30 new)"),
        "{}",
        stdout(&out)
    );

    let mut tiers = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..260 {
        let doc = mdl::domain::synthetic::synthetic_metric(i);
        *tiers.entry(doc["tier"].as_str().unwrap().to_string()).or_default() += 1;
        let id = doc["metric_id"].as_str().unwrap();
        let page = mdl::store::PageRequest::Offset { page: 1, limit: 10 };
        let history = db.store.metric_history(id, &page).await.unwrap();
        assert_eq!(history.items.len(), 1, "history of {id}");
    }
    let out = mdl(db, &["stats", "--json"]);
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["total_metrics"], 260);
    assert_eq!(stats["by_tier"], json!(tiers));
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn delete_and_diff_metrics(db: &TestDb) {
    load_samples(db).await;
    let mut doc = sample_metrics()
        .into_iter()
        .find(|m| m["metric_id"] == "METRIC-CSAT")
        .unwrap();
    doc["name"] = json!("Customer happiness");
    let metric = Metric::parse(doc).unwrap();
    db.store.save_metric(&metric, "cli-test", Expect::Any).await.unwrap();

    // Diff: one operation per line, or the whole answer as JSON.
    let out = mdl(db, &["diff", "METRIC-CSAT", "1", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "replace /name \"Customer happiness\"\n");
    let out = mdl(db, &["diff", "METRIC-CSAT", "2", "1", "--json"]);
    let diff: Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!((diff["from"].as_i64(), diff["to"].as_i64()), (Some(2), Some(1)));
    assert_eq!(diff["operations"][0]["op"], "replace");
    assert_eq!(diff["operations"][0]["path"], "/name");
    assert_ne!(diff["operations"][0]["value"], "Customer happiness");
    assert!(stdout(&mdl(db, &["diff", "METRIC-CSAT", "2", "2"])).contains("no changes"));
    let out = mdl(db, &["diff", "METRIC-CSAT", "1", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no version 9"), "{}", stderr(&out));
    assert_eq!(mdl(db, &["diff", "METRIC-CSAT", "0", "1"]).status.code(), Some(2));

    // Delete: recorded under the actor, guarded by --if-version, history and diffs kept.
    let out = mdl(db, &["delete", "METRIC-CSAT", "--if-version", "1"]);
    assert_eq!(out.status.code(), Some(1), "stale version refused");
    assert_eq!(mdl(db, &["show", "METRIC-CSAT"]).status.code(), Some(0));
    let out = mdl(
        db,
        &["delete", "METRIC-CSAT", "--actor", "ops-bot", "--if-version", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("deleted metric METRIC-CSAT"));
    assert_eq!(mdl(db, &["show", "METRIC-CSAT"]).status.code(), Some(1));
    let out = mdl(db, &["history", "METRIC-CSAT", "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (history[0]["action"].as_str(), history[0]["changed_by"].as_str()),
        (Some("delete"), Some("ops-bot"))
    );
    assert_eq!(mdl(db, &["diff", "METRIC-CSAT", "1", "2"]).status.code(), Some(0));
    let out = mdl(db, &["diff", "METRIC-CSAT", "2", "3"]);
    assert!(stderr(&out).contains("deletion"), "{}", stderr(&out));
    assert_eq!(mdl(db, &["delete", "METRIC-CSAT"]).status.code(), Some(1));
}

async fn domains_and_objectives(db: &TestDb) {
    let domain = json!({ "domain_id": "DOM-CLI", "name": "Command line", "owner_team": "Ops" });
    let domain = mdl::domain::BusinessDomain::parse(domain).unwrap();
    db.store
        .save_entity(&Entity::Domain(domain), "cli-test", Expect::Absent)
        .await
        .unwrap();
    let objective = json!({ "objective_id": "OBJ-CLI", "name": "Ship the CLI", "status": "active" });
    let objective = mdl::domain::Objective::parse(objective).unwrap();
    db.store
        .save_entity(&Entity::Objective(objective), "cli-test", Expect::Absent)
        .await
        .unwrap();

    for (noun, id, name) in [
        ("domain", "DOM-CLI", "Command line"),
        ("objective", "OBJ-CLI", "Ship the CLI"),
    ] {
        let out = mdl(db, &[noun, "list"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(id) && text.contains(name) && text.contains("1 shown of 1"),
            "{text}"
        );
        let out = mdl(db, &[noun, "list", "--json"]);
        let items: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(items.as_array().unwrap().len(), 1);
        let out = mdl(db, &[noun, "show", id]);
        assert!(
            stdout(&out).contains(&format!("{id}  {name}  (version 1)")),
            "{}",
            stdout(&out)
        );
        let out = mdl(db, &[noun, "show", id, "--json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (doc["version"].as_i64(), doc["created_by"].as_str()),
            (Some(1), Some("cli-test"))
        );

        assert_eq!(
            mdl(db, &[noun, "delete", id, "--if-version", "3"]).status.code(),
            Some(1)
        );
        let out = mdl(db, &[noun, "delete", id]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains(&format!("deleted {noun} {id}")));
        let out = mdl(db, &[noun, "show", id]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("not found"));
        assert_eq!(mdl(db, &[noun, "delete", id]).status.code(), Some(1));
        assert!(stdout(&mdl(db, &[noun, "list"])).contains("0 shown of 0"));
    }
}

/// `mdl delete` and `mdl domain delete` write straight to the database; with `REDIS_URL` they
/// tell running servers, which otherwise would serve their cached copies.
async fn cli_deletes_reach_running_servers(db: &TestDb) {
    use crate::cache::{redis_tier_live, wait_for, with_redis, x_cache};
    let Some(redis) = crate::support::redis_url() else {
        return;
    };
    let prefix = crate::support::redis_prefix();
    load_samples(db).await;
    let domain = json!({ "domain_id": "DOM-CLI", "name": "Command line" });
    let domain = mdl::domain::BusinessDomain::parse(domain).unwrap();
    db.store
        .save_entity(&Entity::Domain(domain), "cli-test", Expect::Absent)
        .await
        .unwrap();
    let app = crate::support::spawn_with(db, with_redis(&redis, &prefix)).await;
    let token = app.token().await;
    redis_tier_live(&app).await;
    for path in ["/api/v1/metrics/METRIC-CSAT", "/api/v1/domains/DOM-CLI"] {
        assert_eq!(app.get(path, &token).await.status(), 200);
        assert_eq!(x_cache(&app.get(path, &token).await), "HIT", "{path}");
    }
    for (args, path) in [
        (&["delete", "METRIC-CSAT"][..], "/api/v1/metrics/METRIC-CSAT"),
        (&["domain", "delete", "DOM-CLI"][..], "/api/v1/domains/DOM-CLI"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mdl"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("REDIS_URL", &redis)
            .env("MDL_REDIS_PREFIX", &prefix)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        wait_for(
            "the server sees the CLI's delete",
            std::time::Duration::from_secs(2),
            async || app.get(path, &token).await.status() == 404,
        )
        .await;
    }
}

backend_tests!(
    migrate_list_show_history,
    failures_use_the_documented_exit_codes,
    import_export_stats_and_seed,
    seed_in_concurrent_batches,
    user_administration,
    delete_and_diff_metrics,
    domains_and_objectives,
    cli_deletes_reach_running_servers,
);

/// Every command and every argument says what it is for in `--help` (and so in the man page).
#[test]
fn every_command_and_argument_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() {
            missing.push(format!("command `{path}`"));
        }
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("`{path}` argument `{}`", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut root = mdl::cli::Cli::command();
    root.build();
    let mut missing = Vec::new();
    walk(&root, "mdl", &mut missing);
    assert!(missing.is_empty(), "without help text: {missing:#?}");
    // Built, the tree includes clap's own `help` subcommand: the walk saw nested commands.
    assert!(
        root.find_subcommand("domain")
            .and_then(|d| d.find_subcommand("delete"))
            .is_some()
    );
}

/// The database flags are shown together, under one heading, on every command.
#[test]
fn database_flags_share_one_help_heading() {
    use clap::CommandFactory;
    let flags = [
        "database-url",
        "db-pool-min",
        "db-pool-max",
        "db-statement-timeout-ms",
        "db-connect-timeout-s",
        "db-acquire-timeout-ms",
        "db-idle-timeout-s",
    ];
    let mut root = mdl::cli::Cli::command();
    root.build();
    for cmd in [
        &root,
        root.find_subcommand("serve").unwrap(),
        root.find_subcommand("list").unwrap(),
    ] {
        for flag in flags {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("`{}` lacks --{flag}", cmd.get_name()));
            assert_eq!(
                arg.get_help_heading(),
                Some("Database"),
                "--{flag} on `{}`",
                cmd.get_name()
            );
        }
    }
    // Given after the subcommand, each reaches the database settings (an argument of the same id
    // in `serve` once kept `--db-idle-timeout-s` from it).
    let cli = <mdl::cli::Cli as clap::Parser>::try_parse_from([
        "mdl",
        "serve",
        "--db-idle-timeout-s",
        "7",
        "--idle-timeout",
        "9",
        "--db-pool-max",
        "3",
    ])
    .unwrap();
    assert_eq!((cli.db.idle_timeout_s, cli.db.pool_max), (7, 3));
    let mdl::cli::Command::Serve(serve) = cli.command else {
        panic!("serve")
    };
    assert_eq!(serve.limits.idle_timeout_s, 9);
    let help = Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = stdout(&help);
    let section = help.split("\nDatabase:\n").nth(1).expect("a Database section");
    assert!(flags.iter().all(|f| section.contains(&format!("--{f}"))), "{help}");
}

#[test]
fn completions_and_man_pages_are_generated() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_mdl")).args(args).output().unwrap();
    for (shell, marker) in [("bash", "_mdl()"), ("zsh", "#compdef mdl"), ("fish", "complete -c mdl")] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker) && script.contains("objective"), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));

    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(page.contains(".TH mdl 1") && page.contains("db\\-pool\\-max"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in ["mdl.1", "mdl-diff.1", "mdl-domain.1"] {
        assert!(dir.path().join(page).is_file(), "{page} written");
    }
}

/// `mdl serve` with its database in a fresh temporary directory.
fn serve(bind: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mdl"));
    cmd.args(["serve", "--bind", bind])
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("mdl.db").display()))
        .env("MDL_ADMIN_PASSWORD", "admin-password-for-tests")
        .env("ENABLE_CACHE_WARMING", "false")
        .env_remove("REDIS_URL")
        .env_remove("MDL_BIND")
        .env_remove("RUST_LOG");
    cmd
}

#[test]
fn serve_names_the_address_it_cannot_listen_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = serve(&addr.to_string(), dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot listen on {addr}: Address already in use")),
        "{err}"
    );
    let out = serve("localhost", dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("MDL_BIND must be HOST:PORT"), "{}", stderr(&out));
}

/// Host names and bracketed IPv6 addresses are accepted, resolved when binding.
#[test]
fn serve_binds_host_names_and_ipv6() {
    use std::io::BufRead;
    let mut binds = vec![("localhost:0", "http://")];
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        binds.push(("[::1]:0", "http://[::1]:"));
    } else {
        eprintln!("no IPv6 loopback here: [::1] not tried");
    }
    for (bind, expected) in binds {
        let dir = tempfile::tempdir().unwrap();
        let mut child = serve(bind, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        child.kill().unwrap();
        let _ = child.wait();
        assert!(
            line.starts_with(&format!("MDL listening on {expected}")),
            "{bind}: {line:?}"
        );
    }
}
