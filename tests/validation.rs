//! Bad-input fixtures: every file in tests/fixtures/bad/{topology,runbook}/*.yaml must be
//! refused, without panicking, with an error that names the file, the line and says what is
//! wrong. Each fixture starts with header comments:
//!
//! ```text
//! # expect: <substring of the error>
//! # at: <line the error must point to>
//! # file: <file the error must name>       (optional; default: the fixture itself)
//! # stage: client_config <cluster>         (topology: fail when resolving, not loading)
//! # stage: against-good-topology           (runbook: fail in validate_against)
//! # secret: <value that must not appear in the error>
//! ```
//!
//! Also: the good topology loads, resolves and never shows its secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kafka_dr::runbook;
use kafka_dr::topology::Topology;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn good(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/good")
        .join(name)
}

/// The `# key: value` header lines at the top of a fixture.
fn headers(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            break;
        };
        if let Some((k, v)) = rest.split_once(": ") {
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    assert!(
        out.contains_key("expect") && out.contains_key("at"),
        "{} needs `# expect:` and `# at:` headers",
        path.display()
    );
    out
}

/// Run `f` and return its error message; a panic or a success is a test failure.
fn error_of(
    path: &Path,
    f: impl FnOnce() -> Result<(), String> + std::panic::UnwindSafe,
) -> String {
    match std::panic::catch_unwind(f) {
        Ok(Ok(())) => panic!("{} was accepted; it must be refused", path.display()),
        Ok(Err(msg)) => msg,
        Err(_) => panic!("{} made the loader panic", path.display()),
    }
}

fn check(path: &Path, h: &BTreeMap<String, String>, msg: &str) -> Result<(), String> {
    let file = h
        .get("file")
        .cloned()
        .unwrap_or_else(|| path.file_name().unwrap().to_string_lossy().into_owned());
    let at = format!(":{}:", h["at"]);
    let first = msg.lines().next().unwrap_or("");
    let mut problems = Vec::new();
    if !first.contains(&file) {
        problems.push(format!("does not name `{file}`"));
    }
    // The position follows the file name on the first line: `<file>:<line>:<column>:`.
    let pos = first
        .find(&file)
        .map(|i| &first[i + file.len()..])
        .unwrap_or("");
    if !pos.starts_with(&at) {
        problems.push(format!("does not point at line {}", h["at"]));
    }
    if !msg.contains(&h["expect"]) {
        problems.push(format!("does not contain `{}`", h["expect"]));
    }
    if let Some(secret) = h.get("secret") {
        if msg.contains(secret.as_str()) {
            problems.push("shows a secret value".to_string());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: the error {}\n--- error was:\n{msg}\n---",
            path.display(),
            problems.join(", ")
        ))
    }
}

#[test]
fn bad_topologies_are_refused_with_file_line_and_reason() {
    let files = fixtures("topology");
    assert!(
        files.len() >= 14,
        "only {} bad topology fixtures",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let h = headers(path);
        let stage = h.get("stage").cloned();
        let p = path.clone();
        let msg = error_of(path, move || {
            let t = Topology::load(&p).map_err(|e| e.to_string())?;
            match stage
                .as_deref()
                .and_then(|s| s.strip_prefix("client_config "))
            {
                Some(cluster) => t
                    .client_config(cluster)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            }
        });
        if let Err(e) = check(path, &h, &msg) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn bad_runbooks_are_refused_with_file_line_and_reason() {
    let files = fixtures("runbook");
    assert!(
        files.len() >= 10,
        "only {} bad runbook fixtures",
        files.len()
    );
    let topology = Topology::load(&good("topology.yaml")).unwrap();
    let mut failures = Vec::new();
    for path in &files {
        let h = headers(path);
        let against = h.get("stage").is_some_and(|s| s == "against-good-topology");
        let p = path.clone();
        let t = topology.clone();
        let msg = error_of(path, move || {
            let rb = runbook::load_file(&p).map_err(|e| e.to_string())?;
            if against {
                runbook::validate_against(&rb, &t).map_err(|e| e.to_string())
            } else {
                Ok(())
            }
        });
        if let Err(e) = check(path, &h, &msg) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn errors_are_usage_errors() {
    let path = fixtures("topology").into_iter().next().unwrap();
    let err = Topology::load(&path).unwrap_err();
    assert_eq!(err.exit_code(), kafka_dr::error::ExitCode::Usage);
    let err: kafka_dr::error::Error = err.into();
    assert_eq!(err.exit_code(), kafka_dr::error::ExitCode::Usage);
    let path = fixtures("runbook").into_iter().next().unwrap();
    let err: kafka_dr::error::Error = runbook::load_file(&path).unwrap_err().into();
    assert_eq!(err.exit_code(), kafka_dr::error::ExitCode::Usage);
}

const DC2_PASSWORD: &str = "good-fixture-dc2-secret";
const DC1_PASSWORD: &str = "good-fixture-dc1-secret";

#[test]
fn good_topology_loads_resolves_and_redacts() {
    // Unique names: nothing else in this process reads them.
    std::env::set_var("KAFKA_DR_GOOD_DC2_BOOTSTRAP", "127.0.0.1:29092");
    std::env::set_var("KAFKA_DR_GOOD_USER", "admin");
    std::env::set_var("KAFKA_DR_GOOD_PASSWORD", DC2_PASSWORD);
    std::env::set_var("KAFKA_DR_GOOD_DC2_CONNECT", "http://127.0.0.1:28083");

    let t = Topology::load(&good("topology.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.name, "lab");
    assert_eq!(t.replication.app_principals.len(), 2);
    assert!(t.replication.topics.matches("orders"));
    assert!(!t.replication.topics.matches("app.scratch-1"));

    let dc1 = t.client_config("dc1").unwrap();
    assert_eq!(
        dc1.get("bootstrap.servers"),
        Some("127.0.0.1:19092,localhost:19093")
    );
    assert_eq!(dc1.get("security.protocol"), Some("SASL_PLAINTEXT"));
    assert_eq!(dc1.get("sasl.mechanism"), Some("PLAIN"));
    assert_eq!(dc1.get("sasl.username"), Some("admin"));
    assert_eq!(dc1.get("sasl.password"), Some(DC1_PASSWORD));
    assert_eq!(dc1.get("client.id"), Some("kafka-dr-lab"));
    assert_eq!(dc1.get("socket.timeout.ms"), Some("30000"));
    assert_eq!(dc1.get("default.api.timeout.ms"), None);

    let dc2 = t.client_config("dc2").unwrap();
    assert_eq!(dc2.get("bootstrap.servers"), Some("127.0.0.1:29092"));
    assert_eq!(dc2.get("sasl.password"), Some(DC2_PASSWORD));
    assert_eq!(
        t.connect_url("dc2").unwrap().as_deref(),
        Some("http://127.0.0.1:28083")
    );

    let secrets = t.secret_values();
    assert!(
        secrets.iter().any(|s| s == DC1_PASSWORD),
        "{}",
        secrets.len()
    );
    assert!(
        secrets.iter().any(|s| s == DC2_PASSWORD),
        "{}",
        secrets.len()
    );

    let shown = format!("{t:?}\n{dc1:?}\n{dc1:#?}\n{dc1}\n{dc2:?}\n{dc2}");
    for s in &secrets {
        assert!(
            !shown.contains(s.as_str()),
            "a secret leaked into:\n{shown}"
        );
    }

    // The embedded runbooks fit the lab topology.
    for name in runbook::embedded_names() {
        let rb = runbook::embedded(name).unwrap();
        runbook::validate_against(&rb, &t).unwrap_or_else(|e| panic!("{e}"));
    }
}
