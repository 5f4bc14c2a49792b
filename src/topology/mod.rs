//! The topology file: which clusters exist, how to reach them, and how they are mirrored.
//!
//! This module owns the topology YAML (ARCHITECTURE.md section 5): its types, loading and
//! validation with `file:line:column` errors (load.rs), secret references `${env:...}` and
//! `${file:...}` (reference.rs), the Java client properties files operators already keep
//! (properties.rs), and the resolved librdkafka configuration with redaction (config.rs).
//! Loading validates everything it can without secrets; references are resolved only by
//! `client_config` / `connect_url`, when a command is about to connect. It does not connect
//! to anything itself, and no resolved secret ever reaches an error, `Debug` or `Display`.

pub mod config;
pub mod filter;
mod load;
pub mod properties;
pub mod reference;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use config::{is_secret_key, ClientConfig, REDACTED};
pub use load::DEFAULT_DELTAS_TOPIC;

pub use filter::NameFilter;

use crate::exit_code::ExitCode;
use crate::yamlpos::{self, Diagnostic, Doc, Seg};
use reference::EnvLookup;

/// Everything that can be wrong with a topology. All of it is bad input: exit code 2.
#[derive(Debug, Error)]
pub enum TopologyError {
    #[error("cannot read topology file `{}`: {source}\nhelp: pass the topology with `--topology <file>`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML.
    #[error("{0}")]
    Syntax(Diagnostic),
    /// YAML, but not a valid topology.
    #[error("{0}")]
    Invalid(Diagnostic),
    /// A client properties file (the diagnostic points into that file).
    #[error("{0}")]
    ClientProperties(Diagnostic),
    /// A `${env:...}` or `${file:...}` reference that could not be resolved.
    #[error("{0}")]
    Resolve(Diagnostic),
    #[error("{}", unknown_cluster(.topology, .name, .known))]
    UnknownCluster {
        topology: PathBuf,
        name: String,
        known: Vec<String>,
    },
}

fn unknown_cluster(topology: &Path, name: &str, known: &[String]) -> String {
    let mut msg = format!(
        "no cluster `{name}` in topology `{}`; known clusters: {}",
        topology.display(),
        yamlpos::list(known.iter().map(String::as_str))
    );
    if let Some(s) = yamlpos::suggest(name, known.iter().map(String::as_str)) {
        msg.push_str(&format!("\nhelp: did you mean `{s}`?"));
    }
    msg
}

impl TopologyError {
    /// Bad input, whatever the variant (the contract in src/error.rs).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }

    /// The diagnostic (file, line, column, field), when the error has one.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            TopologyError::Syntax(d)
            | TopologyError::Invalid(d)
            | TopologyError::ClientProperties(d)
            | TopologyError::Resolve(d) => Some(d),
            TopologyError::Read { .. } | TopologyError::UnknownCluster { .. } => None,
        }
    }
}

/// A loaded, validated topology. References are kept unresolved.
#[derive(Clone)]
pub struct Topology {
    /// `name:`, e.g. `payments`.
    pub name: String,
    /// The file it was loaded from (as given; used in messages and to resolve relative paths).
    pub path: PathBuf,
    pub clusters: BTreeMap<String, ClusterDef>,
    pub replication: Replication,
    /// The source text, to point errors found after loading (resolution) at a line.
    text: String,
    /// `path` as printed in messages.
    source: String,
}

/// One cluster, as written (references unresolved).
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterDef {
    pub name: String,
    /// `host:port[,host:port]`, or a template holding `${env:...}` references.
    pub bootstrap: String,
    /// A Java client properties file, already joined to the topology's directory if relative.
    pub client_properties: Option<PathBuf>,
    /// librdkafka overrides (like kcat `-X`); values may hold references; win over the file.
    pub properties: BTreeMap<String, String>,
    /// The Kafka Connect REST endpoint of the Connect cluster that writes INTO this cluster.
    pub connect: Option<ConnectDef>,
}

/// `connect:` of a cluster, as written (references unresolved, paths joined to the
/// topology's directory).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectDef {
    /// The REST URL; may hold references and `user:password@`.
    pub url: String,
    /// PEM CA certificates to trust for an https:// worker (besides the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for a worker that asks for one.
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key of `client_cert_file` (unencrypted).
    pub client_key_file: Option<PathBuf>,
    /// HTTP basic auth (Connect's BasicAuthSecurityRestExtension); may hold references.
    pub username: Option<String>,
    /// A secret: a reference such as `${env:CONNECT_PASSWORD}` or a literal.
    pub password: Option<String>,
    /// Written as a map (`connect: {url: ...}`), not as a bare URL: where errors point.
    pub map_form: bool,
}

impl ConnectDef {
    /// A plain URL endpoint (no TLS files, no separate credentials).
    pub fn url(url: impl Into<String>) -> ConnectDef {
        ConnectDef {
            url: url.into(),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            username: None,
            password: None,
            map_form: false,
        }
    }
}

impl From<&str> for ConnectDef {
    fn from(url: &str) -> ConnectDef {
        ConnectDef::url(url)
    }
}

impl fmt::Debug for ConnectDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectDef")
            .field("url", &redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// A Connect endpoint resolved for use: the URL, the PEM material read from its files,
/// and the basic-auth credentials. Holds secrets: `Debug` redacts them.
#[derive(Clone)]
pub struct ConnectEndpoint {
    pub url: String,
    pub ca_pem: Option<Vec<u8>>,
    /// `client_cert_file` then `client_key_file`, concatenated.
    pub identity_pem: Option<Vec<u8>>,
    pub basic_auth: Option<(String, String)>,
}

impl fmt::Debug for ConnectEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectEndpoint")
            .field("url", &redact_url(&self.url))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field(
                "identity_pem",
                &self.identity_pem.as_ref().map(|_| REDACTED),
            )
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(u, _)| (u, REDACTED)),
            )
            .finish()
    }
}

/// Literal secrets may sit in `properties`: Debug redacts them like `ClientConfig` does.
impl fmt::Debug for ClusterDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let props: BTreeMap<&String, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_key(k) {
                    REDACTED
                } else {
                    v.as_str()
                };
                (k, shown)
            })
            .collect();
        f.debug_struct("ClusterDef")
            .field("name", &self.name)
            .field("bootstrap", &self.bootstrap)
            .field("client_properties", &self.client_properties)
            .field("properties", &props)
            .field("connect", &self.connect)
            .finish()
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("clusters", &self.clusters)
            .field("replication", &self.replication)
            .finish_non_exhaustive()
    }
}

/// Topic naming on the target side (MM2 `replication.policy.class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// IdentityReplicationPolicy: same topic names on both sides.
    Identity,
    /// DefaultReplicationPolicy: `<source alias>.<topic>` on the target.
    Prefix,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Identity => "identity",
            Policy::Prefix => "prefix",
        }
    }

    /// The name `topic` (from cluster `source_alias`) has on the target cluster.
    pub fn target_topic(self, source_alias: &str, topic: &str) -> String {
        match self {
            Policy::Identity => topic.to_string(),
            Policy::Prefix => format!("{source_alias}.{topic}"),
        }
    }

    /// The name on cluster `source_alias` of `target` (a topic of the target cluster),
    /// if this policy could have named it so: the inverse of `target_topic`.
    pub fn source_topic<'t>(self, source_alias: &str, target: &'t str) -> Option<&'t str> {
        match self {
            Policy::Identity => Some(target),
            Policy::Prefix => target
                .strip_prefix(source_alias)
                .and_then(|rest| rest.strip_prefix('.')),
        }
    }
}

/// Where MM2 keeps the offset-syncs topic (`offset-syncs.topic.location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncsLocation {
    #[default]
    Source,
    Target,
}

impl SyncsLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncsLocation::Source => "source",
            SyncsLocation::Target => "target",
        }
    }
}

/// The three MM2 connectors of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connectors {
    pub source: String,
    pub checkpoint: String,
    pub heartbeat: String,
}

impl Connectors {
    /// `mm2-<from>-<to>-source` etc.: the names used when the topology gives none.
    pub fn default_names(from: &str, to: &str) -> Self {
        Connectors {
            source: format!("mm2-{from}-{to}-source"),
            checkpoint: format!("mm2-{from}-{to}-checkpoint"),
            heartbeat: format!("mm2-{from}-{to}-heartbeat"),
        }
    }
}

/// How the clusters are mirrored, as seeded from the topology (current roles live in the
/// journal).
#[derive(Debug, Clone)]
pub struct Replication {
    pub primary: String,
    pub backup: String,
    pub policy: Policy,
    /// The principal MM2 writes with (`User:mirror`): fenced on failover.
    pub mirror_principal: String,
    /// The principals applications write with: fenced on the old primary.
    pub app_principals: Vec<String>,
    pub offset_syncs_location: SyncsLocation,
    /// The compacted topic on the backup cluster where `deltas record` keeps a copy of
    /// what it records (`replication.deltas_topic`, default `kafka-dr.deltas.internal`).
    pub deltas_topic: String,
    /// primary -> backup.
    pub forward_connectors: Connectors,
    /// backup -> primary (used after failover).
    pub reverse_connectors: Connectors,
    pub topics: NameFilter,
    pub groups: NameFilter,
    /// How MM2 runs its flows (`replication.mirror_maker`, default Connect).
    pub mirror_maker: MirrorMaker,
}

/// How MM2 runs the topology's two flows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MirrorMaker {
    /// Connectors on Kafka Connect clusters (`clusters.<c>.connect`), driven over REST.
    #[default]
    Connect,
    /// MM2 dedicated mode (`connect-mirror-maker mm2.properties`): no REST. Whatever runs
    /// it (systemd, Kubernetes) stops and starts each flow through the hooks; kafka-dr
    /// seeds the reverse flow by writing its source offsets into its offsets topic.
    Dedicated(Box<DedicatedFlows>),
}

impl MirrorMaker {
    /// `connect` or `dedicated`, as the topology spells it.
    pub fn mode(&self) -> &'static str {
        match self {
            MirrorMaker::Connect => "connect",
            MirrorMaker::Dedicated(_) => "dedicated",
        }
    }
}

/// The hooks of both flows of a dedicated-mode MM2, named like the connectors: `forward`
/// copies the topology's primary into its backup, `reverse` the other way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedicatedFlows {
    pub forward: DedicatedFlow,
    pub reverse: DedicatedFlow,
}

/// One dedicated-mode flow: how to stop and start the MM2 that runs it, and where its
/// source offsets live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedicatedFlow {
    pub stop: Hook,
    pub start: Hook,
    /// The Connect offsets topic on the flow's target; `None`: MM2's own name,
    /// `mm2-offsets.<source alias>.internal`.
    pub offsets_topic: Option<String>,
}

impl DedicatedFlow {
    /// The flow's offsets topic on its target cluster, for source alias `source`.
    pub fn offsets_topic(&self, source: &str) -> String {
        self.offsets_topic
            .clone()
            .unwrap_or_else(|| format!("mm2-offsets.{source}.internal"))
    }
}

/// A command kafka-dr runs (no shell): `argv`, killed after `timeout_seconds`; done when
/// it exits 0, or, with `verify_argv`, when that exits 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub argv: Vec<String>,
    pub timeout_seconds: u64,
    pub verify_argv: Option<Vec<String>>,
}

impl Replication {
    /// The offset-syncs topic of the flow `source -> target`: (cluster it lives on, name).
    pub fn offset_syncs_topic(&self, source: &str, target: &str) -> (String, String) {
        match self.offset_syncs_location {
            SyncsLocation::Source => (
                source.to_string(),
                format!("mm2-offset-syncs.{target}.internal"),
            ),
            SyncsLocation::Target => (
                target.to_string(),
                format!("mm2-offset-syncs.{source}.internal"),
            ),
        }
    }
}

/// A two-cluster lab topology on localhost (dc1 -> dc2, identity policy, `app.*` topics),
/// for tests and examples across the crate.
pub const LAB_EXAMPLE: &str = "\
name: lab
clusters:
  dc1:
    bootstrap: 127.0.0.1:19092
    connect: http://127.0.0.1:18083
  dc2:
    bootstrap: 127.0.0.1:29092
    connect: http://127.0.0.1:28083
replication:
  primary: dc1
  backup: dc2
  policy: identity
  mirror_principal: User:mirror
  app_principals: [User:app]
  topics: { include: [\"app\\\\..*\"], exclude: [] }
  groups: { include: [\"app\\\\..*\"], exclude: [] }
";

impl Topology {
    /// Read, parse and validate `path`. References are checked for syntax, not resolved.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let bytes = reference::read_regular_file(path, reference::MAX_DOCUMENT_BYTES).map_err(
            |source| TopologyError::Read {
                path: path.to_path_buf(),
                source,
            },
        )?;
        let text = String::from_utf8(bytes).map_err(|e| {
            TopologyError::Invalid(Diagnostic {
                source: path.display().to_string(),
                location: utf8_error_location(e.as_bytes(), e.utf8_error().valid_up_to()),
                field: String::new(),
                message: "the file is not valid UTF-8".into(),
                help: Some("save it as UTF-8".into()),
            })
        })?;
        Self::from_str(&text, path)
    }

    /// Parse and validate `text`; `path_for_messages` names it in errors and anchors
    /// relative paths (client properties, `${file:...}`).
    pub fn from_str(text: &str, path_for_messages: &Path) -> Result<Topology, TopologyError> {
        let topology = load::build(text, path_for_messages)?;
        topology.register_literal_secrets();
        Ok(topology)
    }

    /// Secrets written literally in the topology are known without resolving anything:
    /// mask them from the start (references are registered when resolved).
    fn register_literal_secrets(&self) {
        let literal = |raw: &str| {
            reference::parse(raw)
                .ok()
                .filter(|t| !t.has_references())
                .map(|_| raw.to_string())
        };
        let mut values = Vec::new();
        for def in self.clusters.values() {
            for (k, raw) in &def.properties {
                if is_secret_key(k) {
                    values.extend(literal(raw));
                }
            }
            if let Some(connect) = &def.connect {
                values.extend(url_password(&connect.url).map(str::to_string));
                values.extend(connect.password.as_deref().and_then(literal));
            }
        }
        crate::redact::register(values);
    }

    /// The lab example (`LAB_EXAMPLE`), for tests.
    pub fn lab_example() -> Topology {
        // Invariant: LAB_EXAMPLE is valid; the unit test `lab_example_loads` pins it.
        #[allow(clippy::expect_used)]
        Self::from_str(LAB_EXAMPLE, Path::new("lab.yaml")).expect("LAB_EXAMPLE is valid")
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Result<&ClusterDef, TopologyError> {
        self.clusters
            .get(name)
            .ok_or_else(|| TopologyError::UnknownCluster {
                topology: self.path.clone(),
                name: name.to_string(),
                known: self.clusters.keys().cloned().collect(),
            })
    }

    /// Cluster names, sorted.
    pub fn cluster_names(&self) -> Vec<&str> {
        self.clusters.keys().map(String::as_str).collect()
    }

    /// The directory relative paths start from.
    pub fn base_dir(&self) -> PathBuf {
        reference::base_dir(&self.path)
    }

    /// The librdkafka configuration for `cluster`: `bootstrap.servers`, then the mapped
    /// client properties file, then `properties` (which win), references resolved from the
    /// process environment and files.
    pub fn client_config(&self, cluster: &str) -> Result<ClientConfig, TopologyError> {
        self.client_config_with_env(cluster, &|name| std::env::var(name))
    }

    /// `client_config` with a custom environment (tests).
    pub fn client_config_with_env(
        &self,
        cluster: &str,
        env: EnvLookup<'_>,
    ) -> Result<ClientConfig, TopologyError> {
        let def = self.cluster(cluster)?;
        let mut cfg = ClientConfig::new();
        if let Some(path) = &def.client_properties {
            let mapped = properties::load(path, cluster).map_err(|e| match e {
                properties::PropsError::Invalid(d) => TopologyError::ClientProperties(d),
                properties::PropsError::Read(err) => TopologyError::Resolve(self.doc().at_value(
                    &crate::ypath!["clusters", cluster, "client_properties"],
                    format!(
                        "cannot read client properties file `{}` of cluster `{cluster}`: {err}",
                        path.display()
                    ),
                )),
            })?;
            for (k, v) in mapped {
                cfg.set(k, v);
            }
        }
        for (k, raw) in &def.properties {
            let field = crate::ypath!["clusters", cluster, "properties", k];
            let value = self.resolve(cluster, &field, raw, env)?;
            // Loading checked the key, and the value when written out; a value that came
            // from a reference is librdkafka's to judge now, before any connection.
            let referenced = reference::parse(raw).is_ok_and(|t| t.has_references());
            if referenced {
                if let Err(why) = crate::kafka::check_client_setting(k, Some(&value)) {
                    return Err(TopologyError::Resolve(load::librdkafka_refusal(
                        &self.doc(),
                        &field,
                        cluster,
                        &why,
                    )));
                }
            }
            cfg.set(k.clone(), value);
        }
        // Resolved now, so masked in everything printed or journaled from here on (the
        // last `error:` line included).
        crate::redact::register(cfg.secret_values());
        let field = crate::ypath!["clusters", cluster, "bootstrap"];
        let bootstrap = self.resolve(cluster, &field, &def.bootstrap, env)?;
        if let Err(why) = load::check_bootstrap(&bootstrap) {
            return Err(TopologyError::Resolve(
                self.doc()
                    .at_value(
                        &field,
                        format!(
                            "`{}` resolves to `{bootstrap}`, which is not a bootstrap list: {why}",
                            def.bootstrap
                        ),
                    )
                    .with_help("the value must look like `host:port[,host:port...]`"),
            ));
        }
        cfg.set("bootstrap.servers", bootstrap);

        let protocol = cfg
            .get("security.protocol")
            .map(str::to_ascii_uppercase)
            .unwrap_or_default();
        // OpenSSL is built into kafka-dr, so its default CA directory is not the system's:
        // without a CA of the operator's own, let librdkafka find the system's roots (as
        // a Java client uses the JDK's cacerts).
        if protocol.ends_with("SSL")
            && ["ssl.ca.location", "ssl.ca.pem", "ssl.ca.certificate.stores"]
                .iter()
                .all(|k| cfg.get(k).is_none())
        {
            cfg.set("ssl.ca.location", "probe");
        }
        let sasl = protocol.starts_with("SASL_");
        let mechanism_set =
            cfg.get("sasl.mechanism").is_some() || cfg.get("sasl.mechanisms").is_some();
        if sasl && !mechanism_set && !cfg!(feature = "gssapi") {
            return Err(TopologyError::Invalid(
                self.doc()
                    .at_key(
                        &crate::ypath!["clusters", cluster],
                        format!("cluster `{cluster}` uses SASL but sets no `sasl.mechanism` (librdkafka would try GSSAPI, which this build does not support)"),
                    )
                    .with_help("set `sasl.mechanism` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) in `properties` or in the client properties file"),
            ));
        }
        Ok(cfg)
    }

    /// The Kafka Connect REST URL for `cluster`, resolved; None when the topology has none.
    pub fn connect_url(&self, cluster: &str) -> Result<Option<String>, TopologyError> {
        self.connect_url_with_env(cluster, &|name| std::env::var(name))
    }

    /// `connect_url` with a custom environment (tests).
    pub fn connect_url_with_env(
        &self,
        cluster: &str,
        env: EnvLookup<'_>,
    ) -> Result<Option<String>, TopologyError> {
        let def = self.cluster(cluster)?;
        let Some(connect) = &def.connect else {
            return Ok(None);
        };
        let raw = &connect.url;
        let field = self.connect_field(cluster, "url");
        let url = self.resolve(cluster, &field, raw, env)?;
        if let Some(pw) = url_password(&url) {
            crate::redact::register([pw.to_string()]);
        }
        if let Err(why) = load::check_url(&url) {
            return Err(TopologyError::Resolve(
                self.doc()
                    .at_value(
                        &field,
                        format!("`{raw}` does not resolve to a Connect URL: {why}"),
                    )
                    .with_help(
                        "the value must look like `http://host:8083` or `https://host:8083`",
                    ),
            ));
        }
        Ok(Some(url))
    }

    /// The Connect endpoint of `cluster` resolved for use (URL, TLS files read, basic-auth
    /// credentials); None when the topology names no Connect for it.
    pub fn connect_endpoint(
        &self,
        cluster: &str,
    ) -> Result<Option<ConnectEndpoint>, TopologyError> {
        self.connect_endpoint_with_env(cluster, &|name| std::env::var(name))
    }

    /// `connect_endpoint` with a custom environment (tests).
    pub fn connect_endpoint_with_env(
        &self,
        cluster: &str,
        env: EnvLookup<'_>,
    ) -> Result<Option<ConnectEndpoint>, TopologyError> {
        let Some(url) = self.connect_url_with_env(cluster, env)? else {
            return Ok(None);
        };
        let def = self.cluster(cluster)?;
        let Some(connect) = &def.connect else {
            return Ok(None);
        };
        let read = |key: &str, path: &Option<PathBuf>| -> Result<Option<Vec<u8>>, TopologyError> {
            let Some(path) = path else { return Ok(None) };
            let field = self.connect_field(cluster, key);
            reference::read_small_file(path)
                .map(Some)
                .map_err(|why| {
                    TopologyError::Resolve(
                        self.doc()
                            .at_value(
                                &field,
                                format!("cannot read `{key}` `{}` (cluster `{cluster}`): {why}", path.display()),
                            )
                            .with_help("give the path of a readable PEM file; relative paths start at the topology file's directory"),
                    )
                })
        };
        let ca_pem = read("ca_file", &connect.ca_file)?;
        let identity_pem = match (
            read("client_cert_file", &connect.client_cert_file)?,
            read("client_key_file", &connect.client_key_file)?,
        ) {
            (Some(mut cert), Some(key)) => {
                if !cert.ends_with(b"\n") {
                    cert.push(b'\n');
                }
                cert.extend_from_slice(&key);
                Some(cert)
            }
            _ => None,
        };
        let basic_auth = match (&connect.username, &connect.password) {
            (Some(u), Some(p)) => Some((
                self.resolve(cluster, &self.connect_field(cluster, "username"), u, env)?,
                self.resolve(cluster, &self.connect_field(cluster, "password"), p, env)?,
            )),
            _ => None,
        };
        if let Some((_, pw)) = &basic_auth {
            crate::redact::register([pw.clone()]);
        }
        Ok(Some(ConnectEndpoint {
            url,
            ca_pem,
            identity_pem,
            basic_auth,
        }))
    }

    /// The YAML path of `connect` (string form) or of `connect.<key>` (map form).
    fn connect_field(&self, cluster: &str, key: &str) -> Vec<Seg> {
        let mut path = crate::ypath!["clusters", cluster, "connect"].to_vec();
        let map_form = self
            .cluster(cluster)
            .ok()
            .and_then(|d| d.connect.as_ref())
            .is_some_and(|c| c.map_form);
        if map_form || key != "url" {
            path.push(Seg::Key(key.to_string()));
        }
        path
    }

    /// Every secret value this topology resolves to (passwords, keys, tokens, credentials in
    /// Connect URLs), so reports can redact them and tests can prove none leaks. Best effort:
    /// what cannot be resolved is not a value that can leak.
    pub fn secret_values(&self) -> Vec<String> {
        self.secret_values_with_env(&|name| std::env::var(name))
    }

    /// `secret_values` with a custom environment (tests).
    pub fn secret_values_with_env(&self, env: EnvLookup<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for (name, def) in &self.clusters {
            if let Some(path) = &def.client_properties {
                if let Ok(mapped) = properties::load(path, name) {
                    out.extend(
                        mapped
                            .into_iter()
                            .filter(|(k, v)| is_secret_key(k) && !v.is_empty())
                            .map(|(_, v)| v),
                    );
                }
            }
            for (k, raw) in &def.properties {
                if !is_secret_key(k) {
                    continue;
                }
                if let Ok(t) = reference::parse(raw) {
                    if let Ok(v) = t.resolve(env, &self.base_dir()) {
                        if !v.is_empty() {
                            out.push(v);
                        }
                    }
                }
            }
            if let Some(connect) = &def.connect {
                if let Ok(t) = reference::parse(&connect.url) {
                    if let Ok(url) = t.resolve(env, &self.base_dir()) {
                        if let Some(pw) = url_password(&url) {
                            out.push(pw.to_string());
                        }
                    }
                }
                if let Some(raw) = &connect.password {
                    if let Ok(t) = reference::parse(raw) {
                        if let Ok(v) = t.resolve(env, &self.base_dir()) {
                            if !v.is_empty() {
                                out.push(v);
                            }
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn doc(&self) -> Doc<'_> {
        Doc {
            text: &self.text,
            source: &self.source,
        }
    }

    fn resolve(
        &self,
        cluster: &str,
        field: &[Seg],
        raw: &str,
        env: EnvLookup<'_>,
    ) -> Result<String, TopologyError> {
        // Load already parsed every template; a failure here means the struct was edited
        // after loading, which is reported the same way as at load.
        let template = reference::parse(raw).map_err(|e| {
            let (message, help) = e.message(
                !field
                    .iter()
                    .any(|s| matches!(s, Seg::Key(k) if is_secret_key(k))),
            );
            TopologyError::Invalid(self.doc().at_value(field, message).with_help(help))
        })?;
        template.resolve(env, &self.base_dir()).map_err(|e| {
            let (message, help) = e.message_and_help();
            let mut d = self
                .doc()
                .at_value(field, format!("{message} (cluster `{cluster}`)"));
            d.help = help;
            TopologyError::Resolve(d)
        })
    }
}

/// `http://user:pass@host` -> `http://user:***@host`.
pub fn redact_url(url: &str) -> String {
    match url_password(url) {
        Some(pw) => url.replacen(&format!(":{pw}@"), ":***@", 1),
        None => url.to_string(),
    }
}

/// The password in a URL's userinfo, if any.
pub(crate) fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let pw = userinfo.split_once(':')?.1;
    (!pw.is_empty()).then_some(pw)
}

fn utf8_error_location(bytes: &[u8], valid_up_to: usize) -> crate::yamlpos::Location {
    let before = &bytes[..valid_up_to];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    crate::yamlpos::Location { line, column }
}

#[cfg(test)]
mod tests;
