//! Issue 12: the hostile-input corpus. Every case runs the real binary on malformed or
//! hostile input (topologies, runbooks, properties files, arguments, journals) in a
//! directory of its own, and asserts:
//!
//! - the exit code (a panic is 101: always a failure);
//! - no hang: each case is killed after `CASE_TIMEOUT` and fails if it had to be;
//! - the message names the file and line (`file:line:`) or the flag it is about;
//! - none of the planted secrets appears in stdout, stderr, or any file the run wrote
//!   (the journal included).
//!
//! No Kafka lab: bootstraps and Connect URLs are closed ports (127.0.0.1:1). The cases
//! are grown from the classes of issue 12 and from tests/fixtures/bad; the counts are
//! printed at the end (`cargo test --test hostile -- --nocapture`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any case may take; every case is expected to finish in a few seconds.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// Secret values planted in the inputs; none may ever be printed or written.
const PLANTED: &[&str] = &[
    "pl4nted-env-Secret",
    "pl4nted-literal-Secret",
    "pl4nted-file-Secret",
    "pl4nted-jaas-Secret",
    "pl4nted-exec-env-Secret",
    "pl4nted-connect-Secret",
    "pl4nted-oauth-Secret",
];

/// The environment every case runs with (the `${env:...}` secrets).
const ENV: &[(&str, &str)] = &[
    ("KDR_H_PW", "pl4nted-env-Secret"),
    ("KDR_H_CONNECT_PW", "pl4nted-connect-Secret"),
    ("KDR_H_NOT_A_NUMBER", "soon"),
];

/// A valid offline topology: closed ports, a SASL password from the environment, a
/// literal secret, a Connect password. Cases replace pieces of it.
const TOPOLOGY: &str = "\
name: hostile
clusters:
  dc1:
    bootstrap: 127.0.0.1:1
    properties: { security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: admin, sasl.password: \"${env:KDR_H_PW}\" }
    connect: { url: \"http://127.0.0.1:1\", username: dr, password: \"${env:KDR_H_CONNECT_PW}\" }
  dc2:
    bootstrap: 127.0.0.1:2
    properties: { ssl.key.password: pl4nted-literal-Secret }
    connect: http://127.0.0.1:2
replication:
  primary: dc1
  backup: dc2
  policy: identity
  mirror_principal: User:mirror
  app_principals: [User:app]
  topics: { include: [\"app\\\\..*\"] }
";

/// A further assertion on a case's outcome (its directory, what it printed).
type Check = fn(&Path, &Outcome) -> Result<(), String>;

#[derive(Clone)]
struct Case {
    name: String,
    /// Files written into the case's directory before the run (relative path, bytes).
    files: Vec<(String, Vec<u8>)>,
    /// Arguments after `--topology <dir>/topology.yaml` (`{dir}` is the case's directory).
    args: Vec<String>,
    /// Pass no `--topology` (the arguments carry their own).
    no_topology: bool,
    code: i32,
    /// Substrings stderr must contain (`{dir}` replaced): the file:line or the flag.
    at: Vec<String>,
    /// Something to prepare that is not a plain file (a FIFO, a link...).
    setup: Option<fn(&Path)>,
    /// Further assertions on the outcome.
    check: Option<Check>,
    /// stdout must be exactly one JSON document.
    json: bool,
    /// The location is not a file:line or flag (e.g. a journal path); counted apart.
    unlocated: bool,
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Case {
    fn new(name: impl Into<String>, code: i32) -> Case {
        Case {
            name: name.into(),
            files: vec![("topology.yaml".into(), TOPOLOGY.as_bytes().to_vec())],
            args: Vec::new(),
            no_topology: false,
            code,
            at: Vec::new(),
            setup: None,
            check: None,
            json: false,
            unlocated: false,
        }
    }
    fn file(mut self, name: &str, text: impl AsRef<[u8]>) -> Case {
        self.files.retain(|(n, _)| n != name);
        self.files.push((name.into(), text.as_ref().to_vec()));
        self
    }
    fn topology(self, text: &str) -> Case {
        self.file("topology.yaml", text)
    }
    fn args(mut self, args: &[&str]) -> Case {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }
    fn at(mut self, s: impl Into<String>) -> Case {
        self.at.push(s.into());
        self
    }
    fn setup(mut self, f: fn(&Path)) -> Case {
        self.setup = Some(f);
        self
    }
    fn check(mut self, f: Check) -> Case {
        self.check = Some(f);
        self
    }
    fn json(mut self) -> Case {
        self.json = true;
        self
    }
    fn unlocated(mut self) -> Case {
        self.unlocated = true;
        self
    }
}

/// Run one case; Err says what went wrong.
fn run_case(case: &Case) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path();
    for (name, bytes) in &case.files {
        let p = d.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
    }
    if let Some(setup) = case.setup {
        setup(d);
    }
    let before = listing(d);
    let sub = |s: &str| s.replace("{dir}", &d.display().to_string());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafka-dr"));
    if !case.no_topology {
        cmd.arg("--topology").arg(d.join("topology.yaml"));
    }
    cmd.args(case.args.iter().map(|a| sub(a)))
        .current_dir(d)
        .env_remove("KAFKA_DR_TOPOLOGY")
        .env_remove("KAFKA_DR_JOURNAL")
        .env_remove("RUST_BACKTRACE")
        .envs(ENV.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut out_pipe = child.stdout.take().ok_or("no stdout")?;
    let mut err_pipe = child.stderr.take().ok_or("no stderr")?;
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if started.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("HANG: killed after {CASE_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let outcome = Outcome {
        code: status.code(),
        stdout,
        stderr,
        elapsed,
    };
    let mut problems = Vec::new();
    if outcome.code == Some(101) {
        problems.push("PANIC (exit 101)".to_string());
    }
    if outcome.code != Some(case.code) {
        problems.push(format!(
            "exit code {:?}, expected {}",
            outcome.code, case.code
        ));
    }
    for want in &case.at {
        let want = sub(want);
        if !outcome.stderr.contains(&want) {
            problems.push(format!("stderr does not contain `{want}`"));
        }
    }
    if outcome.stderr.contains("stack backtrace")
        || outcome.stderr.contains("RUST_BACKTRACE=1` environment")
    {
        problems.push("a backtrace was printed".into());
    }
    // Raw terminal controls never reach the terminal.
    for (what, c) in [
        ("ESC", '\u{1b}'),
        ("CR", '\r'),
        ("U+202E", '\u{202e}'),
        ("NEL", '\u{85}'),
        ("U+2028", '\u{2028}'),
        ("U+2029", '\u{2029}'),
    ] {
        if outcome.stderr.contains(c) || outcome.stdout.contains(c) {
            problems.push(format!("a raw {what} was printed"));
        }
    }
    // A line break inside a name is escaped: no name starts a line of its own.
    for line in outcome.stderr.lines().chain(outcome.stdout.lines()) {
        if line
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .starts_with("error: forged")
        {
            problems.push(format!("a forged line was printed: {line:?}"));
        }
    }
    // Secrets: output, and every file the run created or changed.
    let mut leaks = Vec::new();
    for s in PLANTED {
        if outcome.stdout.contains(s) {
            leaks.push(format!("`{s}` in stdout"));
        }
        if outcome.stderr.contains(s) {
            leaks.push(format!("`{s}` in stderr"));
        }
    }
    let after = listing(d);
    for (path, stamp) in &after {
        let written = !before.iter().any(|(p, s)| p == path && s == stamp);
        if !written {
            continue;
        }
        if let Ok(bytes) = std::fs::read(path) {
            for s in PLANTED {
                if contains(&bytes, s.as_bytes()) {
                    leaks.push(format!("`{s}` in {}", path.display()));
                }
            }
        }
    }
    if !leaks.is_empty() {
        problems.push(format!("LEAK: {}", leaks.join(", ")));
    }
    if case.json {
        match serde_json::from_str::<serde_json::Value>(&outcome.stdout) {
            Ok(v) if v.is_object() => {}
            _ => problems.push(format!(
                "stdout is not one JSON document: {:?}",
                outcome.stdout
            )),
        }
    }
    if let Some(check) = case.check {
        if let Err(e) = check(d, &outcome) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(outcome)
    } else {
        Err(format!(
            "{}\n--- stdout:\n{}\n--- stderr:\n{}",
            problems.join("; "),
            outcome.stdout,
            outcome.stderr
        ))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, (u64, Option<std::time::SystemTime>))> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                out.push((p, (meta.len(), meta.modified().ok())));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The corpus.

fn runbook_case(name: &str, runbook: &str, line: usize) -> Case {
    Case::new(name, 2)
        .file("rb.yaml", runbook)
        .args(&["plan", "{dir}/rb.yaml"])
        .at(format!("rb.yaml:{line}:"))
}

fn topology_case(name: &str, topology: &str, line: usize) -> Case {
    Case::new(name, 2)
        .topology(topology)
        .args(&["runs", "list"])
        .at(format!("topology.yaml:{line}:"))
}

/// TOPOLOGY with `from` replaced by `to` (which must occur).
fn topo_with(from: &str, to: &str) -> String {
    assert!(TOPOLOGY.contains(from), "{from}");
    TOPOLOGY.replacen(from, to, 1)
}

const DC2_PROPS: &str = "    properties: { ssl.key.password: pl4nted-literal-Secret }\n";

/// dc2 with a client properties file `c.properties` holding `props`.
fn props_case(name: &str, props: &str, line: usize, code: i32) -> Case {
    Case::new(name, code)
        .topology(&topo_with(
            DC2_PROPS,
            "    client_properties: c.properties\n",
        ))
        .file("c.properties", props)
        .args(&["runs", "list"])
        .at(format!("c.properties:{line}:"))
}

/// Every action of the catalog that takes `timeout_seconds`, with its required params.
const TIMED_ACTIONS: &[(&str, &str)] = &[
    ("exec", "argv: [\"true\"], "),
    ("watermarks.snapshot", "clusters: [dc1], "),
    ("fence.apply", "fence: app-writes, cluster: dc1, "),
    ("fence.lift", "fence: app-writes, cluster: dc1, "),
    ("mirror.stop", ""),
    ("roles.promote", ""),
    ("deltas.record", ""),
    ("groups.translate", ""),
    ("tail.find", ""),
    ("mirror.seed", ""),
    ("truncate", "no_quarantine: true, "),
];

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();

    // --- 1. Durations: bounded at parse time, located, never a panic.
    for (action, params) in TIMED_ACTIONS {
        for (label, n) in [
            ("i64-max", "9223372036854775807"),
            ("u64-max", "18446744073709551615"),
            ("over-u64", "18446744073709551616"),
        ] {
            let needs_find = *action == "truncate";
            let pre = if needs_find {
                "  - id: tail-find\n    action: tail.find\n"
            } else {
                ""
            };
            let line = if needs_find { 5 } else { 3 };
            cases.push(
                runbook_case(
                    &format!("duration {action} {label}"),
                    &format!(
                        "name: t\nsteps:\n{pre}  - id: s\n    action: {action}\n    params: {{ {params}timeout_seconds: {n} }}\n"
                    ),
                    line + 2,
                )
                .at("timeout_seconds"),
            );
        }
    }
    cases.push(
        runbook_case(
            "duration observe_seconds huge",
            "name: t\nsteps:\n  - id: s\n    action: fence.apply\n    params:\n      fence: replication-into-backup\n      cluster: dc2\n      observe_seconds: 9223372036854775807\n",
            8,
        )
        .at("at most 604800"),
    );
    for (cmd, flag) in [
        (&["check"][..], "--timeout"),
        (&["deltas", "record"][..], "--timeout"),
        (&["deltas", "record"][..], "--interval"),
        (&["fence", "status"][..], "--timeout"),
        (
            &["fence", "apply", "app-writes", "--cluster", "dc1"][..],
            "--observe",
        ),
        (&["mirror", "status"][..], "--timeout"),
        (&["mirror", "stop"][..], "--timeout"),
        (&["watermarks", "snapshot"][..], "--timeout"),
        (&["failback", "reverse"][..], "--timeout"),
    ] {
        for n in ["18446744073709551615", "604801", "0", "-5", "ten"] {
            let mut args: Vec<&str> = cmd.to_vec();
            args.extend([flag, n]);
            cases.push(
                Case::new(format!("flag {} {flag} {n}", cmd.join(" ")), 2)
                    .args(&args)
                    .at(format!("'{flag} <SECONDS>'")),
            );
        }
    }

    // --- 2. Secrets never in a message.
    let jaas = |v: &str| {
        format!("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config={v}\n")
    };
    for (label, v) in [
        (
            "word after options",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" pl4nted-jaas-Secret;",
        ),
        (
            "flag is the password",
            "org.apache.kafka.common.security.plain.PlainLoginModule pl4nted-jaas-Secret;",
        ),
        ("module is the password", "pl4nted-jaas-Secret required;"),
        ("module then password", "pl4nted-jaas-Secret"),
        (
            "unterminated quote",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"pl4nted-jaas-Secret;",
        ),
        (
            "missing value",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" pl4nted-jaas-Secret=;",
        ),
        (
            "no semicolon",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"pl4nted-jaas-Secret\"",
        ),
        (
            "symbol in options",
            "org.apache.kafka.common.security.plain.PlainLoginModule required = pl4nted-jaas-Secret;",
        ),
        (
            "two modules",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"pl4nted-jaas-Secret\"; org.apache.kafka.common.security.plain.PlainLoginModule required username=\"b\" password=\"pl4nted-jaas-Secret\";",
        ),
    ] {
        cases.push(props_case(&format!("jaas {label}"), &jaas(v), 3, 2));
    }
    for (label, text, line) in [
        (
            "only a password",
            "security.protocol=PLAINTEXT\npl4nted-file-Secret\n",
            2,
        ),
        ("password then spaces", "pl4nted-file-Secret   \n", 1),
        ("mistyped key", "sasl.passwd=pl4nted-file-Secret\n", 1),
        (
            "continued password",
            "security.protocol=PLAINTEXT\n\\\npl4nted-file-Secret\n",
            2,
        ),
        (
            "a continued path swallows a password (found by tests/fuzz.rs)",
            "ssl.truststore.type=JKS\nssl.truststore.location=/etc/ca.jks\\\nssl.keystore.password=pl4nted-file-Secret\n",
            1,
        ),
        (
            "a continuation swallows the JAAS line (found by tests/fuzz.rs)",
            "sasl.mechanism=\\\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"pl4nted-file-Secret\";\n",
            1,
        ),
    ] {
        cases.push(props_case(&format!("properties {label}"), text, line, 2));
    }
    for (label, value) in [
        ("unknown scheme", "\"${vault:pl4nted-literal-Secret}\""),
        ("scheme-like password", "\"pl4nted-literal-Secret${x:y}\""),
        ("no scheme", "\"${pl4nted-literal-Secret}\""),
        ("bad env name", "\"${env:pl4nted-literal-Secret}\""),
        ("unterminated", "\"pl4nted-literal-Secret${oops\""),
        ("tagged int", "!!int pl4nted-literal-Secret"),
        ("tagged float", "!!float pl4nted-literal-Secret"),
        ("a list", "[pl4nted-literal-Secret]"),
        ("a map", "{ a: pl4nted-literal-Secret }"),
    ] {
        cases.push(topology_case(
            &format!("secret key {label}"),
            &topo_with(
                DC2_PROPS,
                &format!("    properties: {{ ssl.key.password: {value} }}\n"),
            ),
            9,
        ));
    }
    for (label, value) in [
        (
            "connect password unknown scheme",
            "\"${vault:pl4nted-connect-Secret}\"",
        ),
        ("connect password a list", "[pl4nted-connect-Secret]"),
    ] {
        cases.push(topology_case(
            label,
            &topo_with(
                "password: \"${env:KDR_H_CONNECT_PW}\"",
                &format!("password: {value}"),
            ),
            6,
        ));
    }
    // librdkafka refuses a mistyped key: exit 2, the value never shown (nor journaled).
    cases.push(
        Case::new("librdkafka rejects a mistyped secret key", 2)
            .topology(&topo_with(
                DC2_PROPS,
                "    properties: { sasl.passwd: pl4nted-literal-Secret }\n",
            ))
            .args(&[
                "watermarks",
                "snapshot",
                "--timeout",
                "1",
                "--cluster",
                "dc2",
            ])
            .at("sasl.passwd"),
    );
    // librdkafka's refusals come when the topology loads, before anything is written:
    // an unknown key (even with its value a reference), a value it does not take.
    for (label, props, at) in [
        (
            "unknown secret key",
            "{ sasl.passwd: pl4nted-literal-Secret }",
            "`sasl.passwd` is not a librdkafka configuration property",
        ),
        (
            "unknown key with a reference",
            "{ sasl.passwd: \"${env:KDR_H_PW}\" }",
            "`sasl.passwd` is not a librdkafka configuration property",
        ),
        (
            "unknown key, value quoted by librdkafka",
            "{ ssl.key.password: pl4nted-literal-Secret, socket.timeout.ms: pl4nted-literal-Secret }",
            "librdkafka refuses the value of `socket.timeout.ms`",
        ),
        (
            "value out of range",
            "{ socket.timeout.ms: 1 }",
            "librdkafka refuses the value of `socket.timeout.ms`",
        ),
    ] {
        for cmd in [&["runs", "list"][..], &["--yes", "run", "snapshot"][..]] {
            cases.push(
                Case::new(format!("librdkafka at load: {label}: {}", cmd.join(" ")), 2)
                    .topology(&topo_with(DC2_PROPS, &format!("    properties: {props}\n")))
                    .args(cmd)
                    .at("topology.yaml:9:")
                    .at(at)
                    .check(|d, _| {
                        if d.join("topology.journal.db").exists() {
                            return Err("the journal was written before the refusal".into());
                        }
                        Ok(())
                    }),
            );
        }
    }
    cases.push(
        Case::new("librdkafka at load: a properties file value", 2)
            .topology(&topo_with(
                DC2_PROPS,
                "    client_properties: c.properties\n",
            ))
            .file(
                "c.properties",
                "security.protocol=PLAINTEXT\nreconnect.backoff.ms=pl4nted-file-Secret\n",
            )
            .args(&["--yes", "run", "snapshot"])
            .at("c.properties:2:")
            .at("librdkafka refuses the value of `reconnect.backoff.ms`")
            .check(|d, _| {
                if d.join("topology.journal.db").exists() {
                    return Err("the journal was written before the refusal".into());
                }
                Ok(())
            }),
    );
    // A value only known when resolved is checked then, before connecting.
    cases.push(
        Case::new("librdkafka at resolve: a referenced value", 2)
            .topology(&topo_with(
                DC2_PROPS,
                "    properties: { socket.timeout.ms: \"${env:KDR_H_NOT_A_NUMBER}\" }\n",
            ))
            .args(&[
                "watermarks",
                "snapshot",
                "--timeout",
                "1",
                "--cluster",
                "dc2",
            ])
            .at("topology.yaml:9:")
            .at("librdkafka refuses the value of `socket.timeout.ms`"),
    );
    // `check` does not call a cluster reachable when its configuration was refused.
    cases.push(
        Case::new("check: refused configuration is not reachable", 3)
            .topology(&topo_with(
                DC2_PROPS,
                "    properties: { socket.timeout.ms: \"${env:KDR_H_NOT_A_NUMBER}\" }\n",
            ))
            .args(&["-o", "json", "check", "--timeout", "1"])
            .json()
            .unlocated()
            .check(|_, o| {
                let v: serde_json::Value =
                    serde_json::from_str(&o.stdout).map_err(|e| e.to_string())?;
                let dc2 = v["clusters"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["name"] == "dc2"))
                    .ok_or("no dc2 in the report")?;
                if dc2["reachable"] != false {
                    return Err(format!("dc2 reported reachable: {dc2}"));
                }
                Ok(())
            }),
    );
    // The final `error:` line knows the secrets resolved during the run.
    cases.push(
        Case::new("oauthbearer config on the last error line", 2)
            .topology(&topo_with(
                DC2_PROPS,
                "    properties: { sasl.oauthbearer.config: \"pl4nted-oauth-Secret\", no.such.property: \"pl4nted-oauth-Secret\" }\n",
            ))
            .args(&["watermarks", "snapshot", "--timeout", "1", "--cluster", "dc2"])
            .at("no.such.property"),
    );
    // A value glued to its key (found by tests/fuzz.rs): the key is not echoed.
    for (label, env, line) in [
        (
            "no space after the colon",
            "      env:\n        TOKEN:!pl4nted-exec-env-Secret\n",
            7,
        ),
        (
            "an equals sign",
            "      env:\n        \"TOKEN=pl4nted-exec-env-Secret\": x\n",
            7,
        ),
        (
            "flow, no space",
            "      env: { TOKEN:pl4nted-exec-env-Secret }\n",
            7,
        ),
    ] {
        cases.push(runbook_case(
            &format!("exec env key holding its value: {label}"),
            &format!("name: t\nsteps:\n  - id: a\n    action: exec\n    params:\n      argv: [\"true\"]\n{env}"),
            line,
        ));
    }
    // `exec` env values: not in the journal's runbook text, not in `runs show`.
    let exec_env = "name: hooks\nsteps:\n  - id: hook\n    action: exec\n    params:\n      argv: [\"true\"]\n      env: { TOKEN: pl4nted-exec-env-Secret, OTHER: \"pl4nted-exec-env-Secret\" }\n  - id: hook2\n    action: exec\n    params:\n      argv: [\"true\"]\n      env:\n        TOKEN: 'pl4nted-exec-env-Secret'\n        BLOCK: |\n          pl4nted-exec-env-Secret\n";
    cases.push(
        Case::new("exec env values not journaled", 0)
            .file("rb.yaml", exec_env)
            .args(&["run", "{dir}/rb.yaml"])
            .check(|d, _| {
                let out = Command::new(env!("CARGO_BIN_EXE_kafka-dr"))
                    .arg("--topology")
                    .arg(d.join("topology.yaml"))
                    .args(["-o", "json", "runs", "show", "1"])
                    .output()
                    .map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&out.stdout);
                if !text.contains("TOKEN") {
                    return Err(format!("runs show lost the runbook text: {text}"));
                }
                if PLANTED.iter().any(|s| text.contains(s)) {
                    return Err(format!("runs show shows an env value: {text}"));
                }
                Ok(())
            }),
    );
    cases.push(
        Case::new("exec env value in a plan", 0)
            .file("rb.yaml", exec_env)
            .args(&["-o", "json", "plan", "{dir}/rb.yaml"])
            .json(),
    );

    // --- 3. The journal.
    cases.push(
        Case::new("journal is a directory", 7)
            .setup(|d| std::fs::create_dir(d.join("j.db")).unwrap())
            .args(&["--journal", "{dir}/j.db", "runs", "list"])
            .at("`{dir}/j.db` is a directory")
            .unlocated(),
    );
    for cmd in [
        &["runs", "list"][..],
        &["runs", "show", "1"][..],
        &["plan", "snapshot"][..],
    ] {
        let mut args = vec!["--journal", "/dev/null"];
        args.extend(cmd);
        cases.push(
            Case::new(format!("journal is /dev/null: {}", cmd.join(" ")), 7)
                .args(&args)
                .at("`/dev/null` is a device")
                .unlocated(),
        );
    }
    cases.push(
        Case::new("journal is a FIFO", 7)
            .setup(|d| mkfifo(&d.join("j.db")))
            .args(&["--journal", "{dir}/j.db", "runs", "list"])
            .at("is a device, FIFO or socket")
            .unlocated(),
    );
    cases.push(
        Case::new("journal is a symlink (not followed, target untouched)", 7)
            .file("target.db", "precious")
            .setup(|d| {
                use std::os::unix::fs::PermissionsExt;
                let t = d.join("target.db");
                std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o644)).unwrap();
                std::os::unix::fs::symlink(&t, d.join("j.db")).unwrap();
            })
            .args(&["--journal", "{dir}/j.db", "run", "snapshot"])
            .at("is a symbolic link")
            .unlocated()
            .check(|d, _| {
                use std::os::unix::fs::PermissionsExt;
                let t = d.join("target.db");
                let mode = std::fs::metadata(&t).unwrap().permissions().mode() & 0o777;
                let text = std::fs::read_to_string(&t).unwrap();
                if mode != 0o644 || text != "precious" {
                    return Err(format!(
                        "the link's target was changed: mode {mode:o}, {text:?}"
                    ));
                }
                Ok(())
            }),
    );
    cases.push(
        Case::new("journal is not SQLite", 7)
            .file("j.db", "this is not a database, just text that is long enough to have a header.........................................")
            .args(&["--journal", "{dir}/j.db", "runs", "list"])
            .at("j.db")
            .unlocated(),
    );
    cases.push(
        Case::new("read commands create no journal", 0)
            .args(&["runs", "list"])
            .check(|d, _| {
                if d.join("topology.journal.db").exists() {
                    return Err("runs list created the journal".into());
                }
                Ok(())
            }),
    );
    // Every command that only reads the journal opens it read-only: it creates none, and
    // a journal it may not write (0444 in a 0555 directory) is read as it is, never
    // narrowed or migrated.
    for (cmd, missing, read_only) in READ_COMMANDS {
        cases.push(
            Case::new(
                format!("read commands create no journal: {}", cmd.join(" ")),
                *missing,
            )
            .args(cmd)
            .unlocated()
            .check(|d, _| {
                let left: Vec<String> = std::fs::read_dir(d)
                    .map_err(|e| e.to_string())?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains("journal"))
                    .collect();
                if !left.is_empty() {
                    return Err(format!("a journal was created: {left:?}"));
                }
                Ok(())
            }),
        );
        cases.push(
            Case::new(format!("read-only journal: {}", cmd.join(" ")), *read_only)
                .setup(read_only_journal)
                .args(cmd)
                .unlocated()
                .check(|d, _| {
                    use std::os::unix::fs::PermissionsExt;
                    let j = d.join("topology.journal.db");
                    let mode = std::fs::metadata(&j)
                        .map_err(|e| e.to_string())?
                        .permissions()
                        .mode()
                        & 0o777;
                    let now = std::fs::read(&j).map_err(|e| e.to_string())?;
                    let before =
                        std::fs::read(d.join("journal.orig")).map_err(|e| e.to_string())?;
                    // Writable again, so the temporary directory can be removed.
                    let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
                    if mode != 0o444 {
                        return Err(format!("the journal was opened for writing: mode {mode:o}"));
                    }
                    if now != before {
                        return Err("the journal's bytes changed".into());
                    }
                    Ok(())
                }),
        );
    }
    cases.push(
        Case::new("runs show on no journal", 2)
            .args(&["runs", "show", "3"])
            .at("run 3 not found")
            .unlocated(),
    );

    // --- 4. Half-done runs: every step reference checked before any step runs.
    for (param, action, wanted) in [
        ("translate_step", "groups.commit", "groups.translate"),
        ("find_step", "tail.quarantine", "tail.find"),
        ("seed_step", "mirror.start", "mirror.seed"),
    ] {
        for (label, target, defined) in [
            (
                "misspelt",
                "nope",
                format!("  - id: right\n    action: {wanted}\n"),
            ),
            ("later", "later", String::new()),
            ("wrong action", "marker", String::new()),
        ] {
            let later = if label == "later" {
                format!("  - id: later\n    action: {wanted}\n")
            } else {
                String::new()
            };
            let text = format!(
                "name: t\nsteps:\n  - id: marker\n    action: exec\n    params: {{ argv: [touch, marker-ran] }}\n{defined}  - id: reader\n    action: {action}\n    params: {{ {param}: {target} }}\n{later}"
            );
            let line = 8 + defined.lines().count();
            cases.push(
                Case::new(format!("step ref {param} {label}"), 2)
                    .file("rb.yaml", &text)
                    .args(&["--yes", "run", "{dir}/rb.yaml"])
                    .at(format!("rb.yaml:{line}:"))
                    .at(param)
                    .check(|d, _| {
                        if d.join("marker-ran").exists() {
                            return Err("step 1 ran before the runbook was refused".into());
                        }
                        Ok(())
                    }),
            );
        }
    }
    cases.push(runbook_case(
        "step ref default missing",
        "name: t\nsteps:\n  - id: commit\n    action: groups.commit\n",
        3,
    ));

    // --- 5. Wrong answers.
    cases.push(
        Case::new("mirror status with Connect unreachable", 6)
            .args(&["mirror", "status", "--timeout", "1"])
            .at("did not answer")
            .unlocated(),
    );
    cases.push(
        Case::new("mirror status json with Connect unreachable", 6)
            .args(&["-o", "json", "mirror", "status", "--timeout", "1"])
            .json()
            .unlocated(),
    );
    cases.push(
        Case::new("json: one document on a bad topology", 2)
            .topology("name: [x\n")
            .args(&["-o", "json", "runs", "list"])
            .at("topology.yaml:")
            .json(),
    );
    cases.push(
        Case::new("json: one document on a bad flag", 2)
            .args(&["-o", "json", "check", "--timeout", "99999999999"])
            .at("'--timeout <SECONDS>'")
            .json(),
    );
    cases.push(
        Case::new("json: one document on a bad runbook", 2)
            .file("rb.yaml", "name: t\nsteps: 3\n")
            .args(&["--output=json", "plan", "{dir}/rb.yaml"])
            .at("rb.yaml:2:")
            .json(),
    );
    for (label, evil) in [
        ("ESC clear screen", "\\e[2J\\e[Herror: forged"),
        ("CR overwrite", "ok\\rerror: forged"),
        ("RTL override", "\\u202Edlrow"),
        ("C1 CSI", "\\u009B2J"),
        ("LF forged line", "ok\\nerror: forged"),
        ("CRLF forged line", "ok\\r\\nerror: forged"),
        ("NEL forged line", "ok\\u0085error: forged"),
        ("LS forged line", "ok\\u2028error: forged"),
        ("PS forged line", "ok\\u2029error: forged"),
    ] {
        cases.push(topology_case(
            &format!("control chars in topology name: {label}"),
            &topo_with("name: hostile", &format!("name: \"{evil}\"")),
            1,
        ));
        cases.push(runbook_case(
            &format!("control chars in step id: {label}"),
            &format!("name: t\nsteps:\n  - id: \"{evil}\"\n    action: exec\n    params: {{ argv: [\"true\"] }}\n"),
            3,
        ));
        cases.push(runbook_case(
            &format!("control chars in an action name: {label}"),
            &format!("name: t\nsteps:\n  - id: a\n    action: \"{evil}\"\n"),
            4,
        ));
        cases.push(
            Case::new(format!("control chars in a hook's argv plan: {label}"), 0)
                .file(
                    "rb.yaml",
                    format!("name: t\nsteps:\n  - id: a\n    action: exec\n    params: {{ argv: [echo, \"{evil}\"] }}\n"),
                )
                .args(&["plan", "{dir}/rb.yaml"]),
        );
        // (An escaped key is located at its mapping, not its own line: the file is named.)
        cases.push(
            Case::new(format!("control chars in an unknown key: {label}"), 2)
                .file("rb.yaml", format!("name: t\n\"{evil}\": 1\nsteps: []\n"))
                .args(&["plan", "{dir}/rb.yaml"])
                .at("rb.yaml:"),
        );
        cases.push(runbook_case(
            &format!("control chars in an unknown parameter: {label}"),
            &format!("name: t\nsteps:\n  - id: a\n    action: exec\n    params: {{ argv: [\"true\"], \"{evil}\": 1 }}\n"),
            5,
        ));
        cases.push(
            Case::new(
                format!("control chars in an unknown cluster key: {label}"),
                2,
            )
            .topology(&topo_with(
                "    bootstrap: 127.0.0.1:2\n",
                &format!("    bootstrap: 127.0.0.1:2\n    \"{evil}\": 1\n"),
            ))
            .args(&["runs", "list"])
            .at("topology.yaml:"),
        );
        cases.push(
            Case::new(format!("control chars in a hook's argv, then runs show: {label}"), 0)
                .file(
                    "rb.yaml",
                    format!("name: t\nsteps:\n  - id: a\n    action: exec\n    params: {{ argv: [echo, \"{evil}\"] }}\n"),
                )
                .args(&["run", "{dir}/rb.yaml"])
                .check(|d, _| {
                    let out = Command::new(env!("CARGO_BIN_EXE_kafka-dr"))
                        .arg("--topology")
                        .arg(d.join("topology.yaml"))
                        .args(["runs", "show", "1"])
                        .envs(ENV.iter().copied())
                        .output()
                        .map_err(|e| e.to_string())?;
                    let text = String::from_utf8_lossy(&out.stdout);
                    for line in text.lines() {
                        if line.trim_start_matches(|c: char| !c.is_alphanumeric()).starts_with("error: forged") {
                            return Err(format!("runs show printed a forged line: {text}"));
                        }
                    }
                    if ['\u{2028}', '\u{2029}', '\u{85}', '\r'].iter().any(|c| text.contains(*c)) {
                        return Err(format!("runs show printed a raw line break: {text:?}"));
                    }
                    Ok(())
                }),
        );
    }

    // --- 6. Hangs and memory: references and files that are not small regular files.
    for (label, target) in [
        ("FIFO", "fifo"),
        ("/dev/zero", "/dev/zero"),
        ("directory", "."),
        ("missing", "nope"),
    ] {
        cases.push(
            Case::new(format!("file reference to {label}"), 2)
                .topology(&topo_with(
                    DC2_PROPS,
                    &format!("    properties: {{ ssl.key.password: \"${{file:{target}}}\" }}\n"),
                ))
                .setup(|d| mkfifo(&d.join("fifo")))
                .args(&[
                    "watermarks",
                    "snapshot",
                    "--timeout",
                    "1",
                    "--cluster",
                    "dc2",
                ])
                .at("topology.yaml:9:"),
        );
        cases.push(
            Case::new(
                format!("file reference to {label}: runs list does not read it"),
                0,
            )
            .topology(&topo_with(
                DC2_PROPS,
                &format!("    properties: {{ ssl.key.password: \"${{file:{target}}}\" }}\n"),
            ))
            .setup(|d| mkfifo(&d.join("fifo")))
            .args(&["runs", "list"]),
        );
    }
    cases.push(
        Case::new("client properties file is a FIFO", 2)
            .topology(&topo_with(DC2_PROPS, "    client_properties: fifo\n"))
            .setup(|d| mkfifo(&d.join("fifo")))
            .args(&["runs", "list"])
            .at("topology.yaml:9:"),
    );
    cases.push(
        Case::new("topology is a FIFO", 2)
            .setup(|d| {
                std::fs::remove_file(d.join("topology.yaml")).unwrap();
                mkfifo(&d.join("topology.yaml"));
            })
            .args(&["runs", "list"])
            .at("topology.yaml")
            .unlocated(),
    );
    cases.push(
        Case::new("runbook is a FIFO", 2)
            .setup(|d| mkfifo(&d.join("rb.yaml")))
            .args(&["plan", "{dir}/rb.yaml"])
            .at("rb.yaml")
            .unlocated(),
    );
    cases.push(
        Case::new("runbook is /dev/zero", 2)
            .args(&["plan", "/dev/zero"])
            .at("/dev/zero")
            .unlocated(),
    );

    // --- 7. Garbage.
    cases.push(topology_case(
        "topology is binary",
        "\u{0}\u{1}\u{2}garbage\u{0}",
        1,
    ));
    cases.push(
        Case::new("topology is not UTF-8", 2)
            .file("topology.yaml", b"name: \xff\xfe\n".as_slice())
            .args(&["runs", "list"])
            .at("topology.yaml:1:"),
    );
    cases.push(topology_case("topology is empty", "", 1));
    cases.push(topology_case(
        "topology nested 5000 deep",
        &format!("name: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
        1,
    ));
    cases.push(topology_case(
        "topology alias bomb",
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
        1,
    ));
    cases.push(runbook_case(
        "runbook nested 5000 deep",
        &format!("name: t\nsteps: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
        2,
    ));
    cases.push(
        Case::new("runbook is not UTF-8", 2)
            .file("rb.yaml", b"name: t\nsteps:\n  - id: \xff\n".as_slice())
            .args(&["plan", "{dir}/rb.yaml"])
            .at("rb.yaml")
            .unlocated(),
    );
    cases.push(runbook_case(
        "runbook with a 1 MiB line",
        &format!("name: t\ndescription: {}\nsteps: []\n", "x".repeat(1 << 20)),
        3,
    ));
    for (label, args, at) in [
        ("runs show negative", &["runs", "show", "-1"][..], "'-1'"),
        (
            "runs show too big",
            &["runs", "show", "99999999999999999999"][..],
            "'99999999999999999999'",
        ),
        ("resume not a number", &["resume", "abc"][..], "'abc'"),
        (
            "output format unknown",
            &["--output", "xml", "runs", "list"][..],
            "'xml'",
        ),
        ("unknown subcommand", &["frobnicate"][..], "'frobnicate'"),
        (
            "fence name unknown",
            &["fence", "apply", "nope", "--cluster", "dc1"][..],
            "'nope'",
        ),
        (
            "completions shell unknown",
            &["completions", "tcsh"][..],
            "'tcsh'",
        ),
    ] {
        cases.push(Case::new(format!("args {label}"), 2).args(args).at(at));
    }
    cases.push(
        Case::new("no runbook of that name", 2)
            .args(&["plan", "snapshop"])
            .at("`snapshop`")
            .unlocated(),
    );

    // --- 8. Every bad-input fixture, through the binary.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    for kind in ["topology", "runbook"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let header = |k: &str| {
                text.lines()
                    .take_while(|l| l.starts_with("# "))
                    .find_map(|l| l.strip_prefix(&format!("# {k}: ")))
                    .map(str::to_string)
            };
            let line = header("at").unwrap();
            let named = header("file")
                .unwrap_or_else(|| f.file_name().unwrap().to_string_lossy().into_owned());
            let fname = f.display().to_string();
            let mut case = Case::new(
                format!(
                    "fixture {kind}/{}",
                    f.file_name().unwrap().to_string_lossy()
                ),
                2,
            );
            case.no_topology = true;
            if kind == "topology" {
                let stage = header("stage");
                let args: Vec<&str> = match stage
                    .as_deref()
                    .and_then(|s| s.strip_prefix("client_config "))
                {
                    Some(cluster) => vec![
                        "watermarks",
                        "snapshot",
                        "--timeout",
                        "1",
                        "--cluster",
                        cluster,
                    ],
                    None => vec!["runs", "list"],
                };
                case.args = ["--topology", fname.as_str(), "--journal", "{dir}/j.db"]
                    .iter()
                    .chain(args.iter())
                    .map(|s| s.to_string())
                    .collect();
            } else {
                let good = root.join("../good/topology.yaml").display().to_string();
                case.args = [
                    "--topology",
                    good.as_str(),
                    "--journal",
                    "{dir}/j.db",
                    "plan",
                    fname.as_str(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
            }
            cases.push(case.at(format!("{named}:{line}:")));
        }
    }
    cases
}

/// The commands that only read the journal, and their exit codes offline (Connect on a
/// closed port: 6; `tail show` without a failback run: 2).
const READ_COMMANDS: &[(&[&str], i32, i32)] = &[
    // (arguments, exit code with no journal, exit code on the read-only journal)
    (&["runs", "list"], 0, 0),
    (&["runs", "show", "1"], 2, 0),
    (&["tail", "show"], 2, 2),
    (&["fence", "status"], 0, 0),
    (&["fence", "status", "--cluster", "backup"], 0, 0),
    (&["mirror", "status", "--timeout", "1"], 6, 6),
    (
        &["mirror", "status", "--flow", "reverse", "--timeout", "1"],
        6,
        6,
    ),
];

/// A journal with one finished run (written by the binary itself), then made read-only:
/// the file 0444 in a 0555 directory.
fn read_only_journal(d: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        d.join("rb.yaml"),
        "name: t\nsteps:\n  - id: a\n    action: exec\n    params: { argv: [\"true\"] }\n",
    )
    .unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_kafka-dr"))
        .arg("--topology")
        .arg(d.join("topology.yaml"))
        .arg("run")
        .arg(d.join("rb.yaml"))
        .envs(ENV.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let j = d.join("topology.journal.db");
    assert!(j.exists());
    std::fs::copy(&j, d.join("journal.orig")).unwrap();
    std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o555)).unwrap();
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

#[test]
fn hostile_corpus() {
    let cases = corpus();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let only = std::env::var("HOSTILE_ONLY").ok();
    let mut failures = Vec::new();
    let (mut ran, mut located, mut panics, mut hangs, mut leaks) = (0, 0, 0, 0, 0);
    let mut slowest = (Duration::ZERO, String::new());
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
    let todo: Vec<&Case> = cases
        .iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.name.contains(o)))
        .collect();
    // Two at a time: the cases mostly wait on process start-up and closed ports.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, Result<Outcome, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(case) = todo.get(i) else { break };
                        out.push((i, run_case(case)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut results = results;
    results.sort_by_key(|(i, _)| *i);
    for (i, result) in results {
        let case = todo[i];
        ran += 1;
        match result {
            Ok(o) => {
                if case.code != 0 && !case.unlocated && !case.at.is_empty() {
                    located += 1;
                }
                if o.elapsed > slowest.0 {
                    slowest = (o.elapsed, case.name.clone());
                }
            }
            Err(e) => {
                panics += usize::from(e.contains("PANIC"));
                hangs += usize::from(e.starts_with("HANG"));
                leaks += usize::from(e.contains("LEAK"));
                failures.push(format!("[{}] {e}", case.name));
            }
        }
    }
    let errors = cases.iter().filter(|c| c.code != 0).count();
    println!(
        "hostile corpus: {ran} cases ({errors} must fail), {located} clear located errors, {} failed, panics {panics}, hangs {hangs}, leaks {leaks}; slowest {:?} ({})",
        failures.len(),
        slowest.0,
        slowest.1
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Issue 12: loading a runbook is linear-ish in its size (8,000 steps took 17.5 s).
#[test]
fn a_big_runbook_loads_fast() {
    let mut text = String::from("name: big\nsteps:\n");
    for i in 0..8000 {
        text.push_str(&format!(
            "  - id: s{i}\n    action: exec\n    params: {{ argv: [\"true\"], env: {{ A: x{i} }} }}\n"
        ));
    }
    let started = Instant::now();
    let rb = kafka_dr::runbook::load_str(&text, "big.yaml").unwrap();
    let took = started.elapsed();
    assert_eq!(rb.steps.len(), 8000);
    assert_eq!(rb.steps[7999].location.line, 3 * 7999 + 3);
    // Generous for a debug build on a busy 2-core machine; quadratic took 17 s.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Issue 12: a panic (a bug) marks the run failed in the journal instead of leaving it
/// `running` forever, prints one `error:` line and where to look, and no backtrace.
#[test]
fn a_panic_marks_the_run_failed_and_says_where_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("topology.yaml"), TOPOLOGY).unwrap();
    std::fs::write(
        d.join("rb.yaml"),
        "name: t\nsteps:\n  - id: first\n    action: exec\n    params: { argv: [\"true\"] }\n  - id: boom\n    action: exec\n    params: { argv: [\"true\"] }\n",
    )
    .unwrap();
    let run = |args: &[&str], panic_at: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kafka-dr"));
        c.arg("--topology")
            .arg(d.join("topology.yaml"))
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .env_remove("KAFKA_DR_PANIC_AT")
            .stdin(Stdio::null());
        if let Some(p) = panic_at {
            c.env("KAFKA_DR_PANIC_AT", p);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let rb = d.join("rb.yaml");
    let rb = rb.to_str().unwrap();
    let (code, _, err) = run(&["run", rb], Some("boom"));
    assert_eq!(code, Some(101), "{err}");
    assert!(
        err.contains("error: kafka-dr crashed (internal error at "),
        "{err}"
    );
    assert!(
        err.contains("run 1 is marked failed in the journal"),
        "{err}"
    );
    assert!(err.contains("kafka-dr runs show 1"), "{err}");
    assert!(
        !err.contains("stack backtrace") && !err.contains("note: run with"),
        "{err}"
    );
    let (code, out, err) = run(&["-o", "json", "runs", "show", "1"], None);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "failed", "{v:#}");
    assert!(v["error"].as_str().unwrap().contains("crashed"), "{v:#}");
    assert_eq!(v["steps"][0]["state"], "finished", "{v:#}");
    // The failed run resumes where it stopped.
    let (code, _, err) = run(&["resume", "1"], None);
    assert_eq!(code, Some(0), "{err}");
}
