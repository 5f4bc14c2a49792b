//! Unit tests of topology loading, resolution and redaction (fixture files with one error
//! each live in tests/fixtures/bad/topology and are driven by tests/validation.rs).

use std::env::VarError;
use std::path::Path;

use super::*;

const PASSWORD: &str = "pw-Zq8!never-print-me";
const FILE_SECRET: &str = "jaas-secret-9f3c";

fn env(name: &str) -> Result<String, VarError> {
    match name {
        "T_BOOTSTRAP" => Ok("10.0.0.1:9092,10.0.0.2:9092".into()),
        "T_USER" => Ok("admin".into()),
        "T_PASSWORD" => Ok(PASSWORD.into()),
        "T_CONNECT" => Ok("https://ops:connect-pw-77@connect.example:8443".into()),
        "T_BAD_BOOTSTRAP" => Ok("nohostport".into()),
        _ => Err(VarError::NotPresent),
    }
}

fn write_fixture(dir: &Path) -> std::path::PathBuf {
    std::fs::write(
        dir.join("dc1-admin.properties"),
        format!(
            "security.protocol=SASL_PLAINTEXT\n\
             sasl.mechanism=PLAIN\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n  \
             username=\"file-user\" password=\"{FILE_SECRET}\";\n\
             client.id=from-file\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let topo = dir.join("topology.yaml");
    std::fs::write(
        &topo,
        "\
name: lab
clusters:
  dc1:
    bootstrap: ${env:T_BOOTSTRAP}
    client_properties: dc1-admin.properties
    properties:
      client.id: from-topology
      ssl.ca.pem: ${file:ca.pem}
    connect: ${env:T_CONNECT}
  dc2:
    bootstrap: 127.0.0.1:29092
    properties: { security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: \"${env:T_USER}\", sasl.password: \"${env:T_PASSWORD}\", socket.timeout.ms: 30000 }
replication:
  primary: dc1
  backup: dc2
  policy: prefix
  mirror_principal: User:mirror
  app_principals: [User:app, \"User:CN=app,OU=payments\"]
  offset_syncs_location: target
  forward_connectors: { source: fwd-src, checkpoint: fwd-cp, heartbeat: fwd-hb }
  topics: { include: [\"app\\\\..*\", orders], exclude: [\"app\\\\.tmp-.*\"] }
",
    )
    .unwrap();
    topo
}

#[test]
fn lab_example_loads() {
    let t = Topology::lab_example();
    assert_eq!(t.name, "lab");
    assert_eq!(t.cluster_names(), vec!["dc1", "dc2"]);
    assert_eq!(t.replication.primary, "dc1");
    assert_eq!(t.replication.policy, Policy::Identity);
    assert_eq!(
        t.replication.reverse_connectors,
        Connectors::default_names("dc2", "dc1")
    );
    assert_eq!(
        t.replication.reverse_connectors.source,
        "mm2-dc2-dc1-source"
    );
    assert!(t.replication.topics.matches("app.orders"));
    assert!(!t.replication.topics.matches("other"));
    let cfg = t.client_config_with_env("dc1", &env).unwrap();
    assert_eq!(cfg.get("bootstrap.servers"), Some("127.0.0.1:19092"));
    assert_eq!(
        t.connect_url_with_env("dc2", &env).unwrap().as_deref(),
        Some("http://127.0.0.1:28083")
    );
}

#[test]
fn loads_and_resolves_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path());
    let t = Topology::load(&path).unwrap();
    assert_eq!(t.replication.policy, Policy::Prefix);
    assert_eq!(t.replication.offset_syncs_location, SyncsLocation::Target);
    assert_eq!(t.replication.forward_connectors.checkpoint, "fwd-cp");
    assert_eq!(
        t.replication.offset_syncs_topic("dc1", "dc2"),
        (
            "dc2".to_string(),
            "mm2-offset-syncs.dc1.internal".to_string()
        )
    );
    assert_eq!(
        t.replication.policy.target_topic("dc1", "orders"),
        "dc1.orders"
    );
    for policy in [Policy::Prefix, Policy::Identity] {
        let target = policy.target_topic("dc1", "orders");
        assert_eq!(policy.source_topic("dc1", &target), Some("orders"));
    }
    // Not a name the prefix policy gives a topic of dc1.
    assert_eq!(Policy::Prefix.source_topic("dc1", "dc1orders"), None);
    assert_eq!(Policy::Prefix.source_topic("dc1", "dc2.orders"), None);
    assert!(t.replication.topics.matches("orders"));
    assert!(!t.replication.topics.matches("app.tmp-1"));
    // Groups default to MM2's own default filter.
    assert!(t.replication.groups.matches("app-consumers"));
    assert!(!t.replication.groups.matches("console-consumer-123"));
    assert_eq!(
        t.clusters["dc1"].client_properties.as_deref(),
        Some(dir.path().join("dc1-admin.properties").as_path())
    );

    let dc1 = t.client_config_with_env("dc1", &env).unwrap();
    assert_eq!(
        dc1.get("bootstrap.servers"),
        Some("10.0.0.1:9092,10.0.0.2:9092")
    );
    assert_eq!(dc1.get("sasl.username"), Some("file-user"));
    assert_eq!(dc1.get("sasl.password"), Some(FILE_SECRET));
    // `properties` win over the client properties file.
    assert_eq!(dc1.get("client.id"), Some("from-topology"));
    // ${file:} is relative to the topology, trailing newline trimmed.
    assert_eq!(
        dc1.get("ssl.ca.pem"),
        Some("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----")
    );

    let dc2 = t.client_config_with_env("dc2", &env).unwrap();
    assert_eq!(dc2.get("sasl.password"), Some(PASSWORD));
    assert_eq!(dc2.get("socket.timeout.ms"), Some("30000"));

    assert_eq!(
        t.connect_url_with_env("dc1", &env).unwrap().as_deref(),
        Some("https://ops:connect-pw-77@connect.example:8443")
    );
    assert_eq!(t.connect_url_with_env("dc2", &env).unwrap(), None);

    let secrets = t.secret_values_with_env(&env);
    for s in [PASSWORD, FILE_SECRET, "connect-pw-77"] {
        assert!(
            secrets.iter().any(|v| v == s),
            "{s} missing from {secrets:?}"
        );
    }
    assert!(!secrets.iter().any(|v| v == "admin" || v == "file-user"));
}

#[test]
fn nothing_prints_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path());
    let t = Topology::load(&path).unwrap();
    let dc1 = t.client_config_with_env("dc1", &env).unwrap();
    let dc2 = t.client_config_with_env("dc2", &env).unwrap();
    let shown = format!("{t:?} {t:#?} {dc1:?} {dc1:#?} {dc1} {dc2:?} {dc2}");
    for s in t.secret_values_with_env(&env) {
        assert!(!shown.contains(&s), "secret leaked into {shown}");
    }
    assert!(shown.contains(REDACTED));

    // Literal secrets in `properties` are redacted in Debug too.
    let lit = LAB_EXAMPLE.replace(
        "    bootstrap: 127.0.0.1:29092\n",
        "    bootstrap: 127.0.0.1:29092\n    properties: { sasl.password: literal-pw-123 }\n",
    );
    let t = Topology::from_str(&lit, Path::new("lit.yaml")).unwrap();
    assert!(!format!("{t:?}").contains("literal-pw-123"));
    assert_eq!(
        t.secret_values_with_env(&env),
        vec!["literal-pw-123".to_string()]
    );
}

#[test]
fn resolution_errors_name_cluster_field_and_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path());
    let t = Topology::load(&path).unwrap();
    let no_env = |_: &str| -> Result<String, VarError> { Err(VarError::NotPresent) };
    let err = t.client_config_with_env("dc2", &no_env).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TopologyError::Resolve(_)), "{msg}");
    assert!(msg.contains("topology.yaml:12:124:"), "{msg}");
    assert!(
        msg.contains("clusters.dc2.properties.sasl.password"),
        "{msg}"
    );
    assert!(msg.contains("`${env:T_PASSWORD}`"), "{msg}");
    assert!(msg.contains("cluster `dc2`"), "{msg}");
    assert!(msg.contains("help: export `T_PASSWORD`"), "{msg}");

    let bad_bootstrap = |n: &str| {
        if n == "T_BOOTSTRAP" {
            env("T_BAD_BOOTSTRAP")
        } else {
            env(n)
        }
    };
    let msg = t
        .client_config_with_env("dc1", &bad_bootstrap)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("topology.yaml:4:16:") && msg.contains("no port"),
        "{msg}"
    );

    std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
    let msg = t
        .client_config_with_env("dc1", &env)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`${file:ca.pem}`") && msg.contains("cluster `dc1`"),
        "{msg}"
    );

    let msg = t.cluster("dc3").unwrap_err().to_string();
    assert!(
        msg.contains("`dc3`") && msg.contains("`dc1`, `dc2`"),
        "{msg}"
    );
    assert!(t
        .cluster("dc1x")
        .unwrap_err()
        .to_string()
        .contains("did you mean"));
}

#[test]
fn sasl_without_mechanism_is_refused_when_resolving() {
    let text = LAB_EXAMPLE.replace(
        "    bootstrap: 127.0.0.1:29092\n",
        "    bootstrap: 127.0.0.1:29092\n    properties: { security.protocol: SASL_SSL }\n",
    );
    let t = Topology::from_str(&text, Path::new("x.yaml")).unwrap();
    let msg = t
        .client_config_with_env("dc2", &env)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sasl.mechanism"), "{msg}");
}

#[test]
fn exit_code_is_usage() {
    let err = Topology::from_str("name: [", Path::new("x.yaml")).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit_code::ExitCode::Usage);
    assert!(err.to_string().starts_with("x.yaml:"), "{err}");
    let err = Topology::load(Path::new("/nonexistent/topology.yaml")).unwrap_err();
    assert!(err.to_string().contains("`/nonexistent/topology.yaml`"));
}

#[test]
fn url_redaction() {
    assert_eq!(redact_url("http://u:p@h:1/x"), "http://u:***@h:1/x");
    assert_eq!(redact_url("http://h:1"), "http://h:1");
    assert_eq!(url_password("https://u:p%40@h"), Some("p%40"));
}

const CONNECT_PW: &str = "connect-basic-pw-31";

fn connect_topology(dir: &Path, connect: &str) -> Result<Topology, TopologyError> {
    let text = format!(
        "\
name: lab
clusters:
  dc1:
    bootstrap: 127.0.0.1:19092
  dc2:
    bootstrap: 127.0.0.1:29092
    connect:
{connect}
replication:
  primary: dc1
  backup: dc2
  policy: identity
  mirror_principal: User:mirror
  app_principals: [User:app]
  topics: {{ include: [\"app\\\\..*\"] }}
"
    );
    let path = dir.join("topology.yaml");
    std::fs::write(&path, &text).unwrap();
    Topology::load(&path)
}

fn connect_env(name: &str) -> Result<String, VarError> {
    match name {
        "T_CONNECT_PW" => Ok(CONNECT_PW.into()),
        _ => Err(VarError::NotPresent),
    }
}

#[test]
fn connect_map_form_reads_tls_files_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "CA-PEM\n").unwrap();
    std::fs::write(dir.path().join("c.pem"), "CERT-PEM").unwrap();
    std::fs::write(dir.path().join("k.pem"), "KEY-PEM\n").unwrap();
    let t = connect_topology(
        dir.path(),
        "      url: https://127.0.0.1:28083\n      ca_file: ca.pem\n      client_cert_file: c.pem\n      client_key_file: k.pem\n      username: ops\n      password: ${env:T_CONNECT_PW}",
    )
    .unwrap();
    let e = t
        .connect_endpoint_with_env("dc2", &connect_env)
        .unwrap()
        .unwrap();
    assert_eq!(e.url, "https://127.0.0.1:28083");
    assert_eq!(e.ca_pem.as_deref(), Some(&b"CA-PEM\n"[..]));
    // The chain, a newline, then the key: one PEM identity.
    assert_eq!(e.identity_pem.as_deref(), Some(&b"CERT-PEM\nKEY-PEM\n"[..]));
    assert_eq!(e.basic_auth, Some(("ops".into(), CONNECT_PW.into())));
    assert!(!format!("{e:?}").contains(CONNECT_PW));
    assert!(!format!("{t:?}").contains(CONNECT_PW));
    assert!(t
        .secret_values_with_env(&connect_env)
        .contains(&CONNECT_PW.to_string()));
    // The string form still works.
    let t = connect_topology(dir.path(), "      http://127.0.0.1:28083")
        .unwrap_or_else(|_| connect_topology(dir.path(), "  http://127.0.0.1:28083").unwrap());
    let e = t
        .connect_endpoint_with_env("dc2", &connect_env)
        .unwrap()
        .unwrap();
    assert!(e.ca_pem.is_none() && e.identity_pem.is_none() && e.basic_auth.is_none());
}

#[test]
fn connect_map_form_errors_name_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, usize)] = &[
        // (connect block, expected text, line)
        (
            "      url: https://h:1\n      client_cert_file: c.pem",
            "`client_key_file` is not",
            9,
        ),
        (
            "      url: https://h:1\n      username: ops",
            "`password` is not",
            9,
        ),
        (
            "      url: http://h:1\n      ca_file: ca.pem",
            "plain `http://`",
            8,
        ),
        (
            "      url: https://u:p@h:1\n      username: a\n      password: b",
            "holds credentials",
            8,
        ),
        ("      url: https://h:1\n      ca_fle: ca.pem", "ca_fle", 9),
        ("      ca_file: ca.pem", "url", 7),
        (
            "      url: https://h:1\n      password: [not, a, string]",
            "must be a string",
            9,
        ),
    ];
    for (block, want, line) in cases {
        let e = connect_topology(dir.path(), block).unwrap_err();
        let d = e
            .diagnostic()
            .unwrap_or_else(|| panic!("no diagnostic: {e}"));
        let text = e.to_string();
        assert!(text.contains(want), "{block:?}: {text}");
        assert_eq!(d.location.line, *line, "{block:?}: {text}");
    }
}

#[test]
fn connect_tls_file_missing_is_located_at_resolve_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = connect_topology(
        dir.path(),
        "      url: https://h:1\n      ca_file: missing.pem",
    )
    .unwrap();
    let e = t
        .connect_endpoint_with_env("dc2", &connect_env)
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("ca_file") && text.contains("missing.pem"),
        "{text}"
    );
    assert_eq!(e.diagnostic().unwrap().location.line, 9, "{text}");
}

#[test]
fn tls_without_a_ca_probes_the_system_roots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.yaml");
    std::fs::write(
        &path,
        "name: x\nclusters:\n  dc1:\n    bootstrap: h:1\n    properties: {security.protocol: SSL}\n  dc2:\n    bootstrap: h:2\n    properties: {security.protocol: SSL, ssl.ca.location: /etc/ca.pem}\n  dc3:\n    bootstrap: h:3\nreplication: {primary: dc1, backup: dc2, policy: identity, mirror_principal: 'User:m', app_principals: ['User:a'], topics: {include: [x]}}\n",
    )
    .unwrap();
    let t = Topology::load(&path).unwrap();
    let c1 = t.client_config_with_env("dc1", &connect_env).unwrap();
    assert_eq!(c1.get("ssl.ca.location"), Some("probe"));
    let c2 = t.client_config_with_env("dc2", &connect_env).unwrap();
    assert_eq!(c2.get("ssl.ca.location"), Some("/etc/ca.pem"));
    let c3 = t.client_config_with_env("dc3", &connect_env).unwrap();
    assert_eq!(c3.get("ssl.ca.location"), None);
}

#[test]
fn file_references_refuse_fifos_devices_and_huge_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let started = std::time::Instant::now();
    let e = reference::read_small_file(&fifo).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let e = reference::read_small_file(Path::new("/dev/zero")).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; (reference::MAX_FILE_BYTES + 1) as usize]).unwrap();
    let e = reference::read_small_file(&big).unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
    let ok = dir.path().join("ok");
    std::fs::write(&ok, "secret\n").unwrap();
    assert_eq!(reference::read_small_file(&ok).unwrap(), b"secret\n");
}

const DEDICATED_BASE: &str = "name: x\nclusters:\n  dc1:\n    bootstrap: h:1\n  dc2:\n    bootstrap: h:2\nreplication:\n  primary: dc1\n  backup: dc2\n  policy: identity\n  mirror_principal: 'User:m'\n  app_principals: ['User:a']\n  topics: {include: [x]}\n";

fn dedicated(dir: &Path, section: &str) -> Result<Topology, TopologyError> {
    let path = dir.join("topology.yaml");
    std::fs::write(&path, format!("{DEDICATED_BASE}{section}")).unwrap();
    Topology::load(&path)
}

#[test]
fn dedicated_mode_reads_both_flows_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let t = dedicated(
        dir.path(),
        "  mirror_maker:\n    mode: dedicated\n    forward:\n      stop: {argv: [./bin/mm2, stop], timeout_seconds: 30, verify_argv: [systemctl, is-active, mm2]}\n      start: {argv: [systemctl, start, mm2]}\n    reverse:\n      stop: {argv: [/usr/bin/true]}\n      start: {argv: [/usr/bin/true]}\n      offsets_topic: mm2-offsets.b.internal\n",
    )
    .unwrap();
    let MirrorMaker::Dedicated(d) = &t.replication.mirror_maker else {
        panic!("not dedicated: {:?}", t.replication.mirror_maker);
    };
    // A relative program is the topology's own; a bare name is found on PATH.
    assert_eq!(
        d.forward.stop.argv[0],
        dir.path().join("bin/mm2").display().to_string()
    );
    assert_eq!(d.forward.start.argv, ["systemctl", "start", "mm2"]);
    assert_eq!(d.forward.stop.timeout_seconds, 30);
    assert_eq!(d.forward.start.timeout_seconds, 120);
    assert_eq!(
        d.forward.stop.verify_argv.as_deref(),
        Some(&["systemctl".to_string(), "is-active".into(), "mm2".into()][..])
    );
    assert_eq!(d.forward.offsets_topic("dc1"), "mm2-offsets.dc1.internal");
    assert_eq!(d.reverse.offsets_topic("dc2"), "mm2-offsets.b.internal");
    assert_eq!(t.replication.mirror_maker.mode(), "dedicated");
    // Without the section, MM2 runs on Connect.
    let t = dedicated(dir.path(), "").unwrap();
    assert_eq!(t.replication.mirror_maker, MirrorMaker::Connect);
}

#[test]
fn dedicated_mode_errors_name_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (section, want) in [
        (
            "  mirror_maker: {mode: dedicated, forward: {stop: {argv: [a]}, start: {argv: [b]}}}\n",
            "missing required key `reverse`",
        ),
        (
            "  mirror_maker: {mode: dedicated, forward: {stop: {argv: []}, start: {argv: [b]}}, reverse: {stop: {argv: [a]}, start: {argv: [b]}}}\n",
            "`argv` is empty",
        ),
        (
            "  mirror_maker: {mode: dedicated, forward: {stop: {argv: [a], timeout_seconds: 0}, start: {argv: [b]}}, reverse: {stop: {argv: [a]}, start: {argv: [b]}}}\n",
            "expected whole seconds",
        ),
        (
            "  mirror_maker: {mode: dedicated, forward: {stop: {argv: [a]}, start: {argv: [b]}, offset_topic: x}, reverse: {stop: {argv: [a]}, start: {argv: [b]}}}\n",
            "offset_topic",
        ),
        (
            "  mirror_maker: {mode: connect, forward: {stop: {argv: [a]}}}\n",
            "for `mode: dedicated`",
        ),
        ("  mirror_maker: {mode: standalone}\n", "unknown MirrorMaker mode `standalone`"),
        (
            "  mirror_maker: {mode: dedicated, forward: {stop: {argv: [a]}, start: {argv: [b]}}, reverse: {stop: {argv: [a]}, start: {argv: [b]}, offsets_topic: 'a b'}}\n",
            "not a valid topic name",
        ),
    ] {
        let e = dedicated(dir.path(), section).unwrap_err().to_string();
        assert!(e.contains(want), "{want} in: {e}");
        assert!(e.contains("topology.yaml:14"), "names the file and line: {e}");
    }
}
