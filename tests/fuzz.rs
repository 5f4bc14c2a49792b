//! Issue 12: property-based fuzzing of the three parsers that take operator files: the
//! topology, the runbook, and the Java client properties. Inputs are valid documents
//! mutated at random (lines dropped, duplicated or swapped, characters inserted,
//! scalars replaced by hostile ones) and free-form text. For every input:
//!
//! - the parser returns, never panics (proptest reports a panic as a failure, shrunk);
//! - an error carries a location: `<file>:<line>:<column>:` on its first line, with the
//!   line inside the document;
//! - a planted secret (the value of a secret key, a JAAS password, a lone line) never
//!   appears in an error;
//! - a topology that loads also resolves (with a fake environment) without panicking.
//!
//! `cargo test --test fuzz` runs 256 cases per parser (a few seconds). For a longer run:
//! `PROPTEST_CASES=100000 cargo test --release --test fuzz`.

use std::path::Path;

use proptest::prelude::*;

use kafka_dr::topology::{properties, Topology};

const SECRET: &str = "fuzz-Planted-s3cret";

const TOPOLOGY: &str = "\
name: fuzz
clusters:
  dc1:
    bootstrap: 127.0.0.1:19092
    client_properties: none.properties
    properties: { sasl.password: \"fuzz-Planted-s3cret\", client.id: x }
    connect: { url: \"http://127.0.0.1:18083\", username: u, password: \"${env:PW}\" }
  dc2:
    bootstrap: \"${env:DC2}:29092\"
    properties:
      ssl.key.password: fuzz-Planted-s3cret
    connect: http://127.0.0.1:28083
replication:
  primary: dc1
  backup: dc2
  policy: prefix
  mirror_principal: User:mirror
  app_principals: [User:app]
  offset_syncs_location: target
  forward_connectors: { source: a, checkpoint: b, heartbeat: c }
  topics: { include: [\"app\\\\..*\"], exclude: [] }
  groups: { include: [\".*\"] }
";

const PROPERTIES: &str = "\
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
    username=\"admin\" password=\"fuzz-Planted-s3cret\";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/ca.pem
ssl.keystore.password=fuzz-Planted-s3cret
ssl.endpoint.identification.algorithm=https
request.timeout.ms=30000
";

/// Scalars an operator (or an attacker) might put anywhere.
fn hostile_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("9223372036854775807".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"${vault:x}\"".to_string()),
        Just("\"${file:/dev/zero}\"".to_string()),
        Just("\"${env:}\"".to_string()),
        Just("&a [*a]".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("\"\\e[2J\\u202E\"".to_string()),
        // Not the planted secret: values of ordinary keys may be quoted in errors.
        Just("!!int fuzz-value".to_string()),
        Just("!!str".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,8}",
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    DupLine(usize),
    SwapLines(usize, usize),
    Insert(usize, usize, String),
    ReplaceValue(usize, String),
    Indent(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DupLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (
            any::<usize>(),
            any::<usize>(),
            prop_oneof![
                "[:{}\\[\\],'\"#&*!|>%@`$-]{1,3}".prop_map(String::from),
                Just("\n".to_string()),
                Just("\t".to_string()),
                Just("\u{0}".to_string()),
                "\\PC{1,3}",
            ]
        )
            .prop_map(|(l, c, s)| Mutation::Insert(l, c, s)),
        (any::<usize>(), hostile_scalar()).prop_map(|(l, s)| Mutation::ReplaceValue(l, s)),
        (any::<usize>(), 0usize..6).prop_map(|(l, n)| Mutation::Indent(l, n)),
    ]
}

fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in muts {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DropLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DupLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::Insert(i, c, s) => {
                let line = &mut lines[i % n];
                let chars: Vec<char> = line.chars().collect();
                let at = c % (chars.len() + 1);
                let mut out: String = chars[..at].iter().collect();
                out.push_str(s);
                out.extend(&chars[at..]);
                *line = out;
            }
            Mutation::ReplaceValue(i, v) => {
                let line = &mut lines[i % n];
                if let Some(k) = line.find(": ") {
                    line.replace_range(k + 2.., v);
                } else if let Some(k) = line.find('=') {
                    line.replace_range(k + 1.., v);
                }
            }
            Mutation::Indent(i, by) => {
                let line = &mut lines[i % n];
                *line = format!("{}{}", " ".repeat(*by), line.trim_start());
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The error's first line points into `file` at a line of the document.
fn located(msg: &str, file: &str, text: &str) -> Result<(), String> {
    let first = msg.lines().next().unwrap_or("");
    let Some(rest) = first.strip_prefix(&format!("{file}:")) else {
        return Err(format!("does not start with `{file}:`: {msg}"));
    };
    let mut parts = rest.splitn(3, ':');
    let line: usize = parts
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| format!("no line number: {msg}"))?;
    let _col: usize = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no column: {msg}"))?;
    // YAML also breaks lines at CR, NEL, LS and PS (libyaml counts them).
    let lines = text
        .split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .count()
        .max(1)
        + 1;
    if line == 0 || line > lines {
        return Err(format!(
            "line {line} is outside the document ({lines} lines): {msg}"
        ));
    }
    Ok(())
}

fn no_secret(msg: &str) -> Result<(), String> {
    if msg.contains(SECRET) {
        Err(format!("the planted secret is in the error: {msg}"))
    } else {
        Ok(())
    }
}

fn env(name: &str) -> Result<String, std::env::VarError> {
    match name {
        "PW" => Ok(SECRET.into()),
        "DC2" => Ok("127.0.0.1".into()),
        _ => Err(std::env::VarError::NotPresent),
    }
}

fn check_topology(text: &str) -> Result<(), String> {
    let dir = Path::new("/nonexistent-kafka-dr-fuzz");
    let path = dir.join("topology.yaml");
    match Topology::from_str(text, &path) {
        Ok(t) => {
            for name in t.cluster_names() {
                for msg in [
                    t.client_config_with_env(name, &env)
                        .err()
                        .map(|e| e.to_string()),
                    t.connect_endpoint_with_env(name, &env)
                        .err()
                        .map(|e| e.to_string()),
                ]
                .into_iter()
                .flatten()
                {
                    no_secret(&msg)?;
                }
            }
            Ok(())
        }
        Err(e) => {
            let msg = e.to_string();
            no_secret(&msg)?;
            match e.diagnostic() {
                // Errors about the client properties file point into that file.
                Some(d) if d.source.ends_with(".properties") => Ok(()),
                Some(_) => located(&msg, &path.display().to_string(), text),
                None => Err(format!("an error without a location: {msg}")),
            }
        }
    }
}

fn check_runbook(text: &str) -> Result<(), String> {
    match kafka_dr::runbook::load_str(text, "rb.yaml") {
        Ok(rb) => {
            // What the journal keeps of it is computable, whatever it holds.
            let _ = kafka_dr::runbook::journal_text(&rb);
            Ok(())
        }
        Err(e) => {
            let msg = e.to_string();
            no_secret(&msg)?;
            if e.diagnostic().is_none() {
                return Err(format!("an error without a location: {msg}"));
            }
            located(&msg, "rb.yaml", text)
        }
    }
}

fn check_properties(text: &str) -> Result<(), String> {
    match properties::map_to_librdkafka(Path::new("c.properties"), text, "dc1") {
        Ok(_) => Ok(()),
        Err(d) => {
            let msg = d.to_string();
            no_secret(&msg)?;
            located(&msg, "c.properties", text)
        }
    }
}

fn runbook_text() -> String {
    kafka_dr::runbook::embedded_text("failback-reverse")
        .unwrap()
        .to_string()
        + "  - id: hook\n    action: exec\n    params:\n      argv: [\"true\"]\n      env: { TOKEN: fuzz-Planted-s3cret }\n      timeout_seconds: 30\n"
}

proptest! {
    #[test]
    fn topology_parser_never_panics_and_locates_errors(
        muts in proptest::collection::vec(mutation(), 1..6)
    ) {
        let text = apply(TOPOLOGY, &muts);
        check_topology(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn topology_parser_takes_any_text(text in "\\PC{0,200}") {
        check_topology(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn runbook_parser_never_panics_and_locates_errors(
        muts in proptest::collection::vec(mutation(), 1..6)
    ) {
        let text = apply(&runbook_text(), &muts);
        check_runbook(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn runbook_parser_takes_any_text(text in "\\PC{0,200}") {
        check_runbook(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn properties_parser_never_panics_locates_errors_and_hides_secrets(
        muts in proptest::collection::vec(mutation(), 1..6),
        lone in proptest::bool::ANY,
    ) {
        let mut text = apply(PROPERTIES, &muts);
        if lone {
            // A password pasted on a line of its own.
            text.push_str(SECRET);
            text.push('\n');
        }
        check_properties(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn properties_parser_takes_any_text(text in "\\PC{0,200}") {
        check_properties(&text).map_err(TestCaseError::fail)?;
    }
}
