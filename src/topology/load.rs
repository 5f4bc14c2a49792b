//! Turning topology YAML into a validated `Topology`: the schema, checked key by key.
//!
//! The document is parsed into a `serde_yaml::Value` and walked by hand rather than with
//! `#[derive(Deserialize)]`, so that every error can name the file, line, column and field
//! path, suggest the key that was probably meant, and withhold values of secret keys. Rules
//! are checked in document order within each mapping (unknown keys first), so the first error
//! reported is usually the first one in the file. Nothing here resolves a reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::reference::{self, base_dir};
use super::{
    is_secret_key, properties, ClusterDef, ConnectDef, Connectors, DedicatedFlow, DedicatedFlows,
    Hook, MirrorMaker, NameFilter, Policy, Replication, SyncsLocation, Topology, TopologyError,
};
use crate::yamlpos::{describe, list, suggest, Diagnostic, Doc, Seg};

type R<T> = Result<T, TopologyError>;

const TOP_KEYS: &[&str] = &["name", "clusters", "replication"];
const CLUSTER_KEYS: &[&str] = &["bootstrap", "client_properties", "properties", "connect"];
const CONNECT_KEYS: &[&str] = &[
    "url",
    "ca_file",
    "client_cert_file",
    "client_key_file",
    "username",
    "password",
];
const REPLICATION_KEYS: &[&str] = &[
    "primary",
    "backup",
    "policy",
    "mirror_principal",
    "app_principals",
    "offset_syncs_location",
    "deltas_topic",
    "forward_connectors",
    "reverse_connectors",
    "topics",
    "groups",
    "mirror_maker",
];
const MIRROR_MAKER_KEYS: &[&str] = &["mode", "forward", "reverse"];
const DEDICATED_FLOW_KEYS: &[&str] = &["stop", "start", "offsets_topic"];
const HOOK_KEYS: &[&str] = &["argv", "timeout_seconds", "verify_argv"];
/// A hook's timeout when the topology gives none.
const DEFAULT_HOOK_TIMEOUT_SECONDS: u64 = 120;
const CONNECTOR_KEYS: &[&str] = &["source", "checkpoint", "heartbeat"];
const FILTER_KEYS: &[&str] = &["include", "exclude"];

/// Where `deltas record` keeps a copy of what it records, on the backup cluster. The
/// `.internal` suffix keeps it out of MM2's default `topics.exclude`, so it is never mirrored.
pub const DEFAULT_DELTAS_TOPIC: &str = "kafka-dr.deltas.internal";

/// Why `name` cannot be a Kafka topic name (Kafka's `Topic.validate`), if it cannot.
fn invalid_topic_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are reserved")
    } else if name.len() > 249 {
        Some("it is longer than 249 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("it holds a character other than letters, digits, `.`, `_` and `-`")
    } else {
        None
    }
}

/// MM2's own defaults for `groups.exclude` (DefaultGroupFilter), used when `groups` is omitted.
const DEFAULT_GROUP_EXCLUDES: &[&str] = &["console-consumer-.*", "connect-.*", "__.*"];

pub(super) fn build(text: &str, path: &Path) -> R<Topology> {
    let source = path.display().to_string();
    let doc = Doc {
        text,
        source: &source,
    };
    let invalid = TopologyError::Invalid;
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| TopologyError::Syntax(doc.syntax(&e)))?;
    let root = match value {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(invalid(
                doc.at_key(&[], "the topology file is empty")
                    .with_help("a topology needs `name`, `clusters` and `replication`"),
            ))
        }
        other => {
            return Err(invalid(doc.at_key(
                &[],
                format!(
                    "expected a mapping at the top level, found {}",
                    describe(&other)
                ),
            )))
        }
    };
    doc.check_keys(&[], &root, TOP_KEYS).map_err(invalid)?;
    let v = Walker { doc };

    let name = v.req_str(&[], &root, "name")?;
    if !valid_name(name, true) {
        return Err(invalid(
            doc.at_value(
                &crate::ypath!["name"],
                format!("`{name}` is not a valid topology name"),
            )
            .with_help("use letters, digits, `.`, `_` and `-`, starting with a letter or digit"),
        ));
    }

    let clusters = v.clusters(&root, path)?;

    let rep_path = crate::ypath!["replication"];
    let rep = v.req_map(&[], &root, "replication")?;
    doc.check_keys(&rep_path, rep, REPLICATION_KEYS)
        .map_err(invalid)?;
    let known: Vec<&str> = clusters.keys().map(String::as_str).collect();
    let primary = v.cluster_ref(&rep_path, rep, "primary", &known)?;
    let backup = v.cluster_ref(&rep_path, rep, "backup", &known)?;
    if primary == backup {
        return Err(invalid(
            doc.at_value(
                &child(&rep_path, "backup"),
                format!("`{backup}` is both primary and backup"),
            )
            .with_help("primary and backup must be two different clusters"),
        ));
    }
    let policy = match v.req_str(&rep_path, rep, "policy")? {
        "identity" => Policy::Identity,
        "prefix" => Policy::Prefix,
        other => {
            return Err(invalid(
                doc.at_value(&child(&rep_path, "policy"), format!("unknown policy `{other}`"))
                    .with_help("use `identity` (IdentityReplicationPolicy: same topic names) or `prefix` (DefaultReplicationPolicy: `<source>.<topic>`)"),
            ))
        }
    };
    let mirror_principal = v.principal(
        &child(&rep_path, "mirror_principal"),
        v.req_str(&rep_path, rep, "mirror_principal")?,
    )?;
    let app_path = child(&rep_path, "app_principals");
    let app_list = v.req_seq(&rep_path, rep, "app_principals")?;
    if app_list.is_empty() {
        return Err(invalid(
            doc.at_key(&app_path, "at least one application principal is required")
                .with_help("list the principals applications write with, e.g. `[User:app]`"),
        ));
    }
    let mut app_principals = Vec::new();
    for (i, item) in app_list.iter().enumerate() {
        let p = child(&app_path, i);
        app_principals.push(v.principal(&p, v.str_value(&p, item)?)?);
    }
    let offset_syncs_location = match rep.get("offset_syncs_location") {
        None => SyncsLocation::Source,
        Some(val) => {
            let p = child(&rep_path, "offset_syncs_location");
            match v.str_value(&p, val)? {
                "source" => SyncsLocation::Source,
                "target" => SyncsLocation::Target,
                other => {
                    return Err(invalid(
                        doc.at_value(&p, format!("unknown offset-syncs location `{other}`"))
                            .with_help("use `source` (MM2's default) or `target`, as in `offset-syncs.topic.location`"),
                    ))
                }
            }
        }
    };
    let deltas_topic = match rep.get("deltas_topic") {
        None => DEFAULT_DELTAS_TOPIC.to_string(),
        Some(val) => {
            let p = child(&rep_path, "deltas_topic");
            let name = v.str_value(&p, val)?;
            if let Some(why) = invalid_topic_name(name) {
                return Err(invalid(
                    doc.at_value(&p, format!("`{name}` is not a valid topic name: {why}"))
                        .with_help("use at most 249 characters among letters, digits, `.`, `_` and `-`, e.g. `kafka-dr.deltas.internal`"),
                ));
            }
            name.to_string()
        }
    };
    let mirror_maker = v.mirror_maker(&rep_path, rep, path)?;
    let forward_connectors = v.connectors(&rep_path, rep, "forward_connectors", primary, backup)?;
    let reverse_connectors = v.connectors(&rep_path, rep, "reverse_connectors", backup, primary)?;
    let topics = match rep.get("topics") {
        Some(_) => v.filter(&rep_path, rep, "topics")?,
        None => {
            return Err(invalid(
                doc.at_key(&rep_path, "missing required key `topics`")
                    .with_help("say which topics are mirrored, e.g. `topics: { include: [\"orders\", \"payments\\\\..*\"] }`"),
            ))
        }
    };
    let groups = match rep.get("groups") {
        Some(_) => v.filter(&rep_path, rep, "groups")?,
        None => NameFilter::new(
            vec![".*".to_string()],
            DEFAULT_GROUP_EXCLUDES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
        .map_err(|e| {
            invalid(doc.at_key(
                &rep_path,
                format!("internal: default group filter: {}", e.error),
            ))
        })?,
    };

    if topics.matches(&deltas_topic) {
        return Err(invalid(
            doc.at_key(&rep_path, format!("the deltas topic `{deltas_topic}` is in scope of `replication.topics`: it would be mirrored and fenced like an application topic"))
                .with_help("exclude it in `replication.topics.exclude`, or name another one in `replication.deltas_topic`"),
        ));
    }

    Ok(Topology {
        name: name.to_string(),
        path: path.to_path_buf(),
        replication: Replication {
            primary: primary.to_string(),
            backup: backup.to_string(),
            policy,
            mirror_principal,
            app_principals,
            offset_syncs_location,
            deltas_topic,
            forward_connectors,
            reverse_connectors,
            topics,
            groups,
            mirror_maker,
        },
        clusters,
        text: text.to_string(),
        source,
    })
}

fn child(path: &[Seg], seg: impl Into<Seg>) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg.into());
    p
}

/// Cluster names become MM2 aliases and topic prefixes: no dots or spaces.
fn valid_name(name: &str, allow_dot: bool) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dot && c == '.'))
}

struct Walker<'a> {
    doc: Doc<'a>,
}

impl Walker<'_> {
    fn invalid(&self, d: Diagnostic) -> TopologyError {
        TopologyError::Invalid(d)
    }

    fn req<'m>(&self, path: &[Seg], map: &'m Mapping, key: &str) -> R<&'m Value> {
        map.get(key).ok_or_else(|| {
            let msg = if path.is_empty() {
                format!("missing required key `{key}` at the top level")
            } else {
                format!("missing required key `{key}`")
            };
            self.invalid(self.doc.at_key(path, msg))
        })
    }

    fn req_str<'m>(&self, path: &[Seg], map: &'m Mapping, key: &str) -> R<&'m str> {
        let val = self.req(path, map, key)?;
        self.str_value(&child(path, key), val)
    }

    fn str_value<'m>(&self, path: &[Seg], val: &'m Value) -> R<&'m str> {
        match val {
            Value::String(s) if !s.trim().is_empty() => Ok(s),
            Value::String(_) => Err(self.invalid(self.doc.at_key(path, "must not be empty"))),
            other => Err(self.invalid(self.doc.at_value(
                path,
                format!("expected a string, found {}", describe(other)),
            ))),
        }
    }

    fn req_map<'m>(&self, path: &[Seg], map: &'m Mapping, key: &str) -> R<&'m Mapping> {
        let val = self.req(path, map, key)?;
        self.map_value(&child(path, key), val)
    }

    fn map_value<'m>(&self, path: &[Seg], val: &'m Value) -> R<&'m Mapping> {
        match val {
            Value::Mapping(m) => Ok(m),
            other => Err(self.invalid(self.doc.at_value(
                path,
                format!("expected a mapping, found {}", describe(other)),
            ))),
        }
    }

    fn req_seq<'m>(&self, path: &[Seg], map: &'m Mapping, key: &str) -> R<&'m Vec<Value>> {
        let val = self.req(path, map, key)?;
        self.seq_value(&child(path, key), val)
    }

    fn seq_value<'m>(&self, path: &[Seg], val: &'m Value) -> R<&'m Vec<Value>> {
        match val {
            Value::Sequence(s) => Ok(s),
            other => Err(self.invalid(
                self.doc
                    .at_value(path, format!("expected a list, found {}", describe(other)))
                    .with_help("write a list as `[a, b]` or one `- item` per line"),
            )),
        }
    }

    fn clusters(&self, root: &Mapping, topology_path: &Path) -> R<BTreeMap<String, ClusterDef>> {
        let path = crate::ypath!["clusters"];
        let map = self.req_map(&[], root, "clusters")?;
        let mut out = BTreeMap::new();
        for (key, val) in map {
            let Some(name) = key.as_str() else {
                return Err(self.invalid(self.doc.at_key(
                    &path,
                    format!("cluster names must be strings, found {}", describe(key)),
                )));
            };
            let cpath = child(&path, name);
            if !valid_name(name, false) {
                return Err(self.invalid(
                    self.doc
                        .at_key(&cpath, format!("`{name}` is not a valid cluster name"))
                        .with_help(
                            "use letters, digits, `_` and `-` (it becomes the MM2 cluster alias)",
                        ),
                ));
            }
            let def = self.cluster(&cpath, name, val, topology_path)?;
            out.insert(name.to_string(), def);
        }
        if out.len() < 2 {
            return Err(self.invalid(
                self.doc
                    .at_key(
                        &path,
                        format!(
                            "a topology needs at least two clusters, found {}",
                            out.len()
                        ),
                    )
                    .with_help("define the primary and the backup cluster under `clusters`"),
            ));
        }
        Ok(out)
    }

    fn cluster(
        &self,
        cpath: &[Seg],
        name: &str,
        val: &Value,
        topology_path: &Path,
    ) -> R<ClusterDef> {
        let map = self.map_value(cpath, val)?;
        self.doc
            .check_keys(cpath, map, CLUSTER_KEYS)
            .map_err(TopologyError::Invalid)?;

        let bootstrap = self.req_str(cpath, map, "bootstrap")?;
        let bpath = child(cpath, "bootstrap");
        let t = self.template(&bpath, bootstrap, true)?;
        if !t.has_references() {
            if let Err(why) = check_bootstrap(bootstrap) {
                return Err(self.invalid(
                    self.doc
                        .at_value(&bpath, format!("`{bootstrap}` is not a bootstrap list: {why}"))
                        .with_help("write `host:port[,host:port...]`, e.g. `10.0.1.10:9092,10.0.1.11:9092`"),
                ));
            }
        }

        let client_properties = match map.get("client_properties") {
            None => None,
            Some(v) => {
                let ppath = child(cpath, "client_properties");
                let raw = self.str_value(&ppath, v)?;
                if raw.contains("${") {
                    return Err(self.invalid(
                        self.doc
                            .at_value(&ppath, "references are not allowed in `client_properties`")
                            .with_help("write the path of the file; secrets inside it can be overridden with `properties`"),
                    ));
                }
                let file = resolve_path(topology_path, raw);
                match properties::load(&file, name) {
                    Ok(_) => {}
                    Err(properties::PropsError::Invalid(d)) => {
                        return Err(TopologyError::ClientProperties(d))
                    }
                    Err(properties::PropsError::Read(e)) => {
                        return Err(self.invalid(
                            self.doc
                                .at_value(
                                    &ppath,
                                    format!(
                                        "cannot read client properties file `{}`: {e}",
                                        file.display()
                                    ),
                                )
                                .with_help("relative paths start at the topology file's directory"),
                        ))
                    }
                }
                Some(file)
            }
        };

        let mut properties = BTreeMap::new();
        if let Some(v) = map.get("properties") {
            let ppath = child(cpath, "properties");
            let pmap = self.map_value(&ppath, v)?;
            for (k, val) in pmap {
                let Some(key) = k.as_str() else {
                    return Err(self.invalid(self.doc.at_key(
                        &ppath,
                        format!("property names must be strings, found {}", describe(k)),
                    )));
                };
                let kpath = child(&ppath, key);
                if key == "bootstrap.servers" {
                    return Err(self.invalid(
                        self.doc
                            .at_key(&kpath, "`bootstrap.servers` cannot be set in `properties`")
                            .with_help(format!("set it as `bootstrap` of cluster `{name}`")),
                    ));
                }
                // `properties` are librdkafka settings; these Java-only ones would only fail
                // later, at connect time, with "no such configuration property".
                if let Some(help) = java_only_property(key) {
                    return Err(self.invalid(
                        self.doc
                            .at_key(
                                &kpath,
                                format!("`{key}` is a Java client setting, but `properties` take librdkafka settings"),
                            )
                            .with_help(help),
                    ));
                }
                let value = match val {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(self.invalid(self.doc.at_value(
                            &kpath,
                            format!(
                                "expected a string, number or boolean, found {}",
                                describe(other)
                            ),
                        )))
                    }
                };
                let t = self.template(&kpath, &value, !is_secret_key(key))?;
                // librdkafka's own verdict, now rather than at the first connection: the
                // key always, the value when it is written out (a reference is checked
                // when it is resolved).
                let literal = (!t.has_references()).then_some(value.as_str());
                if let Err(why) = crate::kafka::check_client_setting(key, literal) {
                    return Err(self.invalid(librdkafka_refusal(&self.doc, &kpath, name, &why)));
                }
                properties.insert(key.to_string(), value);
            }
        }

        let connect = match map.get("connect") {
            None => None,
            Some(v) => Some(self.connect_def(&child(cpath, "connect"), v, topology_path)?),
        };

        Ok(ClusterDef {
            name: name.to_string(),
            bootstrap: bootstrap.to_string(),
            client_properties,
            properties,
            connect,
        })
    }

    /// `connect:` of a cluster: a URL, or a map with the URL and its TLS and basic-auth
    /// settings (`url`, `ca_file`, `client_cert_file`, `client_key_file`, `username`,
    /// `password`). Files are read when a command connects, not here.
    fn connect_def(&self, upath: &[Seg], v: &Value, topology_path: &Path) -> R<ConnectDef> {
        let (raw_url, url_path, map) = match v {
            Value::Mapping(m) => {
                self.doc
                    .check_keys(upath, m, CONNECT_KEYS)
                    .map_err(TopologyError::Invalid)?;
                (self.req_str(upath, m, "url")?, child(upath, "url"), Some(m))
            }
            other => (self.str_value(upath, other)?, upath.to_vec(), None),
        };
        let t = self.template(&url_path, raw_url, true)?;
        if !t.has_references() {
            if let Err(why) = check_url(raw_url) {
                return Err(self.invalid(
                    self.doc
                        .at_value(
                            &url_path,
                            format!(
                                "`{}` is not a Connect URL: {why}",
                                super::redact_url(raw_url)
                            ),
                        )
                        .with_help("write the Connect REST URL, e.g. `http://connect-dc1:8083`"),
                ));
            }
        }
        let mut def = ConnectDef {
            url: raw_url.to_string(),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            username: None,
            password: None,
            map_form: map.is_some(),
        };
        let Some(map) = map else { return Ok(def) };
        let file = |key: &str| -> R<Option<PathBuf>> {
            let Some(v) = map.get(key) else {
                return Ok(None);
            };
            let kpath = child(upath, key);
            let raw = self.str_value(&kpath, v)?;
            if raw.contains("${") || raw.trim().is_empty() {
                return Err(self.invalid(
                    self.doc
                        .at_value(&kpath, format!("`{key}` must be the path of a PEM file"))
                        .with_help("write the path (relative paths start at the topology file's directory); references are not allowed here"),
                ));
            }
            Ok(Some(resolve_path(topology_path, raw)))
        };
        def.ca_file = file("ca_file")?;
        def.client_cert_file = file("client_cert_file")?;
        def.client_key_file = file("client_key_file")?;
        if def.client_cert_file.is_some() != def.client_key_file.is_some() {
            let (given, missing) = if def.client_cert_file.is_some() {
                ("client_cert_file", "client_key_file")
            } else {
                ("client_key_file", "client_cert_file")
            };
            return Err(self.invalid(
                self.doc
                    .at_key(
                        &child(upath, given),
                        format!("`{given}` is set but `{missing}` is not"),
                    )
                    .with_help("a client certificate needs its private key: set both, or neither"),
            ));
        }
        for (key, secret) in [("username", false), ("password", true)] {
            if let Some(v) = map.get(key) {
                let kpath = child(upath, key);
                let raw = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    // Never echo the value of `password`, whatever its type.
                    _ => {
                        return Err(self.invalid(
                            self.doc
                                .at_value(&kpath, format!("`{key}` must be a string")),
                        ))
                    }
                };
                self.template(&kpath, &raw, !secret)?;
                if key == "username" {
                    def.username = Some(raw);
                } else {
                    def.password = Some(raw);
                }
            }
        }
        if def.username.is_some() != def.password.is_some() {
            let (given, missing) = if def.username.is_some() {
                ("username", "password")
            } else {
                ("password", "username")
            };
            return Err(self.invalid(
                self.doc
                    .at_key(&child(upath, given), format!("`{given}` is set but `{missing}` is not"))
                    .with_help("HTTP basic auth needs both; keep the password in a reference such as `${env:CONNECT_PASSWORD}`"),
            ));
        }
        if def.username.is_some() && super::url_password(raw_url).is_some() {
            return Err(self.invalid(
                self.doc
                    .at_value(
                        &url_path,
                        "the URL holds credentials and `username`/`password` are set too",
                    )
                    .with_help("keep the credentials in `username` and `password` only"),
            ));
        }
        let tls = def.ca_file.is_some() || def.client_cert_file.is_some();
        if tls && !t.has_references() && raw_url.trim().to_ascii_lowercase().starts_with("http://")
        {
            return Err(self.invalid(
                self.doc
                    .at_value(
                        &url_path,
                        "TLS files are set but the URL is plain `http://`",
                    )
                    .with_help("use the worker's `https://` listener"),
            ));
        }
        Ok(def)
    }

    /// Check the reference syntax of a value. `show` is false for secret keys.
    fn template(&self, path: &[Seg], raw: &str, show: bool) -> R<reference::Template> {
        reference::parse(raw).map_err(|e| {
            let (message, help) = e.message(show);
            self.invalid(self.doc.at_value(path, message).with_help(help))
        })
    }

    fn cluster_ref<'m>(
        &self,
        path: &[Seg],
        map: &'m Mapping,
        key: &str,
        known: &[&str],
    ) -> R<&'m str> {
        let name = self.req_str(path, map, key)?;
        if known.contains(&name) {
            return Ok(name);
        }
        let mut d = self.doc.at_value(
            &child(path, key),
            format!(
                "no cluster `{name}` in this topology; known clusters: {}",
                list(known.iter().copied())
            ),
        );
        if let Some(s) = suggest(name, known.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        Err(self.invalid(d))
    }

    fn principal(&self, path: &[Seg], raw: &str) -> R<String> {
        if let Some(name) = raw.strip_prefix("User:") {
            if !name.is_empty() && name.trim() == name {
                return Ok(raw.to_string());
            }
        }
        let bare = raw.split_once(':').map_or(raw, |(_, n)| n).trim();
        Err(self.invalid(
            self.doc
                .at_value(
                    path,
                    format!("`{raw}` is not a principal of the form `User:<name>`"),
                )
                .with_help(format!("did you mean `User:{bare}`?")),
        ))
    }

    fn connectors(
        &self,
        path: &[Seg],
        map: &Mapping,
        key: &str,
        from: &str,
        to: &str,
    ) -> R<Connectors> {
        let mut out = Connectors::default_names(from, to);
        let Some(val) = map.get(key) else {
            return Ok(out);
        };
        let cpath = child(path, key);
        let cmap = self.map_value(&cpath, val)?;
        self.doc
            .check_keys(&cpath, cmap, CONNECTOR_KEYS)
            .map_err(TopologyError::Invalid)?;
        for (field, slot) in [
            ("source", &mut out.source),
            ("checkpoint", &mut out.checkpoint),
            ("heartbeat", &mut out.heartbeat),
        ] {
            if let Some(v) = cmap.get(field) {
                *slot = self.str_value(&child(&cpath, field), v)?.to_string();
            }
        }
        Ok(out)
    }

    /// `replication.mirror_maker`: `mode: connect` (the default) or `mode: dedicated` with
    /// the stop and start hooks of both flows.
    fn mirror_maker(&self, path: &[Seg], map: &Mapping, topology_path: &Path) -> R<MirrorMaker> {
        let Some(val) = map.get("mirror_maker") else {
            return Ok(MirrorMaker::Connect);
        };
        let mpath = child(path, "mirror_maker");
        let mmap = self.map_value(&mpath, val)?;
        self.doc
            .check_keys(&mpath, mmap, MIRROR_MAKER_KEYS)
            .map_err(TopologyError::Invalid)?;
        let mode = match mmap.get("mode") {
            None => "connect",
            Some(m) => self.str_value(&child(&mpath, "mode"), m)?,
        };
        match mode {
            "connect" => {
                for key in ["forward", "reverse"] {
                    if mmap.contains_key(key) {
                        return Err(self.invalid(
                            self.doc
                                .at_key(&child(&mpath, key), format!("`{key}` hooks are for `mode: dedicated`; with `mode: connect` kafka-dr drives the connectors over Connect's REST API"))
                                .with_help("remove it, or set `mode: dedicated` if MM2 runs as `connect-mirror-maker`"),
                        ));
                    }
                }
                Ok(MirrorMaker::Connect)
            }
            "dedicated" => Ok(MirrorMaker::Dedicated(Box::new(DedicatedFlows {
                forward: self.dedicated_flow(&mpath, mmap, "forward", topology_path)?,
                reverse: self.dedicated_flow(&mpath, mmap, "reverse", topology_path)?,
            }))),
            other => Err(self.invalid(
                self.doc
                    .at_value(&child(&mpath, "mode"), format!("unknown MirrorMaker mode `{other}`"))
                    .with_help("use `connect` (MM2 connectors on a Kafka Connect cluster) or `dedicated` (`connect-mirror-maker` with an mm2.properties file)"),
            )),
        }
    }

    fn dedicated_flow(
        &self,
        path: &[Seg],
        map: &Mapping,
        key: &str,
        topology_path: &Path,
    ) -> R<DedicatedFlow> {
        let fpath = child(path, key);
        let Some(val) = map.get(key) else {
            let which = if key == "forward" {
                "primary -> backup"
            } else {
                "backup -> primary"
            };
            return Err(self.invalid(
                self.doc
                    .at_key(path, format!("missing required key `{key}`: how the {which} MM2 is stopped and started"))
                    .with_help(format!("e.g. `{key}: {{ stop: {{ argv: [systemctl, stop, mm2-{key}] }}, start: {{ argv: [systemctl, start, mm2-{key}] }} }}`")),
            ));
        };
        let fmap = self.map_value(&fpath, val)?;
        self.doc
            .check_keys(&fpath, fmap, DEDICATED_FLOW_KEYS)
            .map_err(TopologyError::Invalid)?;
        let offsets_topic = match fmap.get("offsets_topic") {
            None => None,
            Some(v) => {
                let p = child(&fpath, "offsets_topic");
                let name = self.str_value(&p, v)?;
                if let Some(why) = invalid_topic_name(name) {
                    return Err(self.invalid(
                        self.doc
                            .at_value(&p, format!("`{name}` is not a valid topic name: {why}"))
                            .with_help("MM2's own name is `mm2-offsets.<source alias>.internal` (its `offset.storage.topic`)"),
                    ));
                }
                Some(name.to_string())
            }
        };
        Ok(DedicatedFlow {
            stop: self.hook(&fpath, fmap, "stop", topology_path)?,
            start: self.hook(&fpath, fmap, "start", topology_path)?,
            offsets_topic,
        })
    }

    /// A hook: `argv` (a list, no shell; a relative program path with a `/` is taken
    /// from the topology file's directory), `timeout_seconds`, `verify_argv`.
    fn hook(&self, path: &[Seg], map: &Mapping, key: &str, topology_path: &Path) -> R<Hook> {
        let hpath = child(path, key);
        let hmap = self.req_map(path, map, key)?;
        self.doc
            .check_keys(&hpath, hmap, HOOK_KEYS)
            .map_err(TopologyError::Invalid)?;
        let argv = self
            .argv(&hpath, hmap, "argv", topology_path)?
            .ok_or_else(|| {
                self.invalid(
                    self.doc
                        .at_key(&hpath, "missing required key `argv`")
                        .with_help(
                            "the program and its arguments, e.g. `argv: [systemctl, stop, mm2]`",
                        ),
                )
            })?;
        let verify_argv = self.argv(&hpath, hmap, "verify_argv", topology_path)?;
        let timeout_seconds = match hmap.get("timeout_seconds") {
            None => DEFAULT_HOOK_TIMEOUT_SECONDS,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|t| (1..=86_400).contains(&t)) => {
                n.as_u64().unwrap_or(DEFAULT_HOOK_TIMEOUT_SECONDS)
            }
            Some(other) => {
                return Err(self.invalid(
                    self.doc
                        .at_value(
                            &child(&hpath, "timeout_seconds"),
                            format!(
                                "expected whole seconds from 1 to 86400, found {}",
                                describe(other)
                            ),
                        )
                        .with_help("the hook is killed (its whole process group) after this long"),
                ))
            }
        };
        Ok(Hook {
            argv,
            timeout_seconds,
            verify_argv,
        })
    }

    fn argv(
        &self,
        path: &[Seg],
        map: &Mapping,
        key: &str,
        topology_path: &Path,
    ) -> R<Option<Vec<String>>> {
        let Some(val) = map.get(key) else {
            return Ok(None);
        };
        let apath = child(path, key);
        let items = self.seq_value(&apath, val)?;
        if items.is_empty() {
            return Err(self.invalid(
                self.doc
                    .at_key(&apath, format!("`{key}` is empty"))
                    .with_help("give the program and its arguments, e.g. `[systemctl, stop, mm2]`"),
            ));
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = child(&apath, i);
            let arg = match item {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(self.invalid(
                        self.doc
                            .at_value(&p, format!("expected a string, found {}", describe(other))),
                    ))
                }
            };
            if arg.contains('\0') || (i == 0 && arg.trim().is_empty()) {
                return Err(self.invalid(
                    self.doc
                        .at_value(&p, "the program name is empty or holds a NUL byte"),
                ));
            }
            out.push(arg);
        }
        // A relative program path is the topology's own (like client_properties): the
        // hook runs from wherever kafka-dr was started.
        if out[0].contains('/') && !out[0].starts_with('/') {
            let relative = out[0].trim_start_matches("./").to_string();
            out[0] = resolve_path(topology_path, &relative).display().to_string();
        }
        Ok(Some(out))
    }

    fn filter(&self, path: &[Seg], map: &Mapping, key: &str) -> R<NameFilter> {
        let fpath = child(path, key);
        let fmap = self.req_map(path, map, key)?;
        self.doc
            .check_keys(&fpath, fmap, FILTER_KEYS)
            .map_err(TopologyError::Invalid)?;
        let include = self.regex_list(&fpath, fmap, "include", true)?;
        let exclude = self.regex_list(&fpath, fmap, "exclude", false)?;
        NameFilter::new(include, exclude).map_err(|e| {
            let at = child(&child(&fpath, e.list), e.index);
            self.invalid(
                self.doc
                    .at_value(&at, format!("invalid regex: {}", regex_reason(&e.error)))
                    .with_help("regexes use Rust `regex` syntax (no look-around or backreferences) and must match whole names"),
            )
        })
    }

    fn regex_list(&self, path: &[Seg], map: &Mapping, key: &str, required: bool) -> R<Vec<String>> {
        let Some(val) = map.get(key) else {
            if required {
                return Err(self.invalid(
                    self.doc
                        .at_key(path, format!("missing required key `{key}`"))
                        .with_help("e.g. `include: [\"orders\", \"payments\\\\..*\"]`"),
                ));
            }
            return Ok(Vec::new());
        };
        let lpath = child(path, key);
        let items = self.seq_value(&lpath, val)?;
        if required && items.is_empty() {
            return Err(self.invalid(
                self.doc
                    .at_key(
                        &lpath,
                        "the include list is empty, so nothing would be in scope",
                    )
                    .with_help("use `[\".*\"]` to include everything"),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.invalid(
                    self.doc
                        .at_value(
                            &child(&lpath, i),
                            format!("expected a regex string, found {}", describe(other)),
                        )
                        .with_help("quote it"),
                )),
            })
            .collect()
    }
}

/// Java client keys that have a different librdkafka spelling, and what to write instead.
/// The diagnostic for a `properties` setting librdkafka refuses: at the key when the key
/// is unknown, at the value when the value is refused. Never quotes the value.
pub(super) fn librdkafka_refusal(
    doc: &Doc<'_>,
    kpath: &[Seg],
    cluster: &str,
    why: &crate::kafka::ConfigRejection,
) -> Diagnostic {
    use crate::kafka::ConfigRejection;
    match why {
        ConfigRejection::UnknownKey { key } => {
            let d = doc.at_key(kpath, format!("{why} (cluster `{cluster}`)"));
            match librdkafka_suggestion(key) {
                Some(s) => d.with_help(format!("did you mean `{s}`? `properties` take librdkafka settings (see librdkafka's CONFIGURATION.md)")),
                None => d.with_help("`properties` take librdkafka settings (see librdkafka's CONFIGURATION.md); fix the name or remove it"),
            }
        }
        ConfigRejection::InvalidValue { .. } => doc
            .at_value(kpath, format!("{why} (cluster `{cluster}`)"))
            .with_help(
                "fix the value (librdkafka's CONFIGURATION.md lists each setting's type and range)",
            ),
    }
}

/// The librdkafka setting a mistyped name most likely meant (the common ones only).
fn librdkafka_suggestion(key: &str) -> Option<&'static str> {
    const COMMON: &[&str] = &[
        "security.protocol",
        "sasl.mechanism",
        "sasl.mechanisms",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
        "ssl.ca.pem",
        "ssl.certificate.location",
        "ssl.certificate.pem",
        "ssl.key.location",
        "ssl.key.pem",
        "ssl.key.password",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.endpoint.identification.algorithm",
        "client.id",
        "socket.timeout.ms",
        "socket.keepalive.enable",
        "metadata.max.age.ms",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "retry.backoff.ms",
        "client.dns.lookup",
        "broker.address.family",
        "debug",
    ];
    suggest(key, COMMON.iter().copied())
}

/// The reason in a `regex` error, without the drawing of the pattern above it (the
/// diagnostic points at the pattern; its text would be a second copy, over several lines).
fn regex_reason(error: &str) -> &str {
    error
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .or_else(|| error.lines().last())
        .unwrap_or(error)
}

fn java_only_property(key: &str) -> Option<&'static str> {
    match key {
        "sasl.jaas.config" => Some("use `sasl.username` and `sasl.password`, or keep the JAAS line in the `client_properties` file"),
        "ssl.truststore.location" | "ssl.truststore.type" | "ssl.truststore.certificates" | "ssl.truststore.password" => {
            Some("use `ssl.ca.location` (a PEM file) or `ssl.ca.pem`, or keep the truststore settings in the `client_properties` file")
        }
        "ssl.keystore.type" | "ssl.keystore.certificate.chain" | "ssl.keystore.key" => {
            Some("use `ssl.keystore.location` (PKCS12), or `ssl.certificate.location` and `ssl.key.location` (PEM)")
        }
        "request.timeout.ms" => Some("use `socket.timeout.ms`"),
        _ => None,
    }
}

fn resolve_path(topology_path: &Path, raw: &str) -> PathBuf {
    let p = Path::new(raw);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir(topology_path).join(p)
    }
}

/// Check a literal bootstrap list: `host:port[,host:port...]`, ports 1-65535.
pub(super) fn check_bootstrap(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("it is empty".into());
    }
    for entry in s.split(',') {
        let e = entry.trim();
        if e.is_empty() {
            return Err("it has an empty entry".into());
        }
        // librdkafka accepts `PROTOCOL://host:port`.
        let hostport = e.split_once("://").map_or(e, |(_, r)| r);
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            match rest.split_once("]:") {
                Some((h, p)) => (h, p),
                None => return Err(format!("`{e}` has no port")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => return Err(format!("`{e}` has no port")),
            }
        };
        if host.is_empty() {
            return Err(format!("`{e}` has no host"));
        }
        if !hostport.starts_with('[')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(format!("`{host}` is not a host name or address"));
        }
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => {}
            Ok(_) => return Err(format!("port `{port}` is out of range (1-65535)")),
            Err(_) => return Err(format!("port `{port}` is not a number")),
        }
    }
    Ok(())
}

/// Check a Connect REST URL: http or https, with a host and an optional numeric port.
pub(super) fn check_url(s: &str) -> Result<(), String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err("it does not start with `http://` or `https://`".into());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("scheme `{scheme}` is not http or https"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err("unterminated `[` in the host".into()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            _ => return Err(format!("port `{p}` is not a number from 1 to 65535")),
        }
    }
    Ok(())
}
