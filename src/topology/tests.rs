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
    assert_eq!(err.exit_code(), crate::error::ExitCode::Usage);
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
