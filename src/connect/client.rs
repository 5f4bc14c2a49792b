//! `ConnectClient`: one Kafka Connect cluster's REST API, async (reqwest), every request
//! bounded by the client's timeout (connect and total).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::error::{parse_error_body, redact_userinfo, ConnectError};
use super::model::{
    comparable_config, ConfigOutcome, ConnectInfo, ConnectorOffset, ConnectorOffsets,
    ConnectorState, ConnectorStatus, InitialState, MirrorSourceOffset, TargetState,
};
use super::version::{self, ConnectVersion};
use crate::topology::ConnectEndpoint;

/// The way out of a [`ConnectError::WrongState`] for offsets changes.
const STOP_FIRST: &str = "stop the connector first (PUT /connectors/<name>/stop) \
     and wait until it reports STOPPED with no tasks";

/// Delays between retries of a request the worker refused because of a rebalance or a
/// stale config (409 "Cannot complete request", or 500 "... a rebalance is expected",
/// seen on the lab while another connector was being created): it applied nothing, so a
/// retry is always safe.
const REBALANCE_RETRY_DELAYS_MS: [u64; 6] = [250, 500, 1000, 2000, 2000, 2000];

/// An endpoint that only some Connect versions have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `GET /connectors/{c}/offsets` (3.5+).
    OffsetsRead,
    /// `PATCH`/`DELETE /connectors/{c}/offsets` (3.6+).
    OffsetsWrite,
    /// `PUT /connectors/{c}/stop` (3.5+).
    Stop,
    /// `initial_state` on `POST /connectors` (3.7+).
    InitialState,
    /// `POST /connectors/{c}/restart?includeTasks=&onlyFailed=` (3.0+).
    RestartTasks,
}

impl Feature {
    /// The first release that has it, as printed.
    fn needs(self) -> &'static str {
        match self {
            Feature::OffsetsRead | Feature::Stop => "3.5",
            Feature::OffsetsWrite => "3.6",
            Feature::InitialState => "3.7",
            Feature::RestartTasks => "3.0",
        }
    }

    fn min(self) -> (u32, u32) {
        match self {
            Feature::OffsetsRead => version::MIN_OFFSETS_READ,
            Feature::OffsetsWrite => version::MIN_OFFSETS_WRITE,
            Feature::Stop => version::MIN_STOP,
            Feature::InitialState => version::MIN_INITIAL_STATE,
            Feature::RestartTasks => version::MIN_RESTART_TASKS,
        }
    }

    fn description(self) -> &'static str {
        match self {
            Feature::OffsetsRead => "connector offsets API (GET /connectors/{c}/offsets)",
            Feature::OffsetsWrite => {
                "connector offsets API (PATCH/DELETE /connectors/{c}/offsets, KIP-875)"
            }
            Feature::Stop => "connector stop endpoint (PUT /connectors/{c}/stop)",
            Feature::InitialState => "way to create a connector already stopped (initial_state)",
            Feature::RestartTasks => "restart of a connector with its tasks (includeTasks)",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Feature::OffsetsRead | Feature::OffsetsWrite => {
                "upgrade the Connect workers, or seed the offsets by hand: delete the \
                 connector, write its source offsets into the workers' offset.storage.topic \
                 (key [\"<connector>\", <partition>], value <offset>), then recreate it"
            }
            Feature::Stop => {
                "upgrade the Connect workers; meanwhile pause the connector, or delete it \
                 (its offsets stay in the workers' offset.storage.topic)"
            }
            Feature::InitialState => {
                "upgrade the Connect workers; meanwhile create it with `topics` matching \
                 nothing, stop it, seed its offsets, then put the real config"
            }
            Feature::RestartTasks => {
                "upgrade the Connect workers, or restart each task with \
                 POST /connectors/{c}/tasks/{t}/restart"
            }
        }
    }

    /// True when a worker of version `v` has this endpoint.
    pub fn supported_by(self, v: &ConnectVersion) -> bool {
        v.at_least(self.min())
    }
}

/// TLS material for an https:// Connect endpoint, PEM. `Debug` never shows the key.
#[derive(Clone, Default)]
pub struct ConnectTls {
    /// CA certificates to trust besides the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain and its private key, concatenated.
    pub identity_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ConnectTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field(
                "identity_pem",
                &self.identity_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Basic-auth credentials taken out of the URL's userinfo. Never printed.
#[derive(Clone)]
struct BasicAuth {
    user: String,
    password: Option<String>,
}

/// The REST client of one Kafka Connect cluster (any worker of it; requests that must
/// run on the leader are forwarded by the worker).
///
/// All methods are async; the engine runs them with `StepContext::block_on`. Reads
/// (and `wait_for_state`) are cancel-safe, so a caller may race them against Ctrl-C.
pub struct ConnectClient {
    cluster: Arc<str>,
    /// The base URL without credentials; requests are built from it.
    base: Url,
    /// `base` as printed in errors (no trailing slash).
    url: Arc<str>,
    auth: Option<BasicAuth>,
    timeout: Duration,
    http: reqwest::Client,
    info: tokio::sync::OnceCell<ConnectInfo>,
}

impl fmt::Debug for ConnectClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectClient")
            .field("cluster", &self.cluster)
            .field("url", &self.url)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One request.
struct Req<'a> {
    method: Method,
    segments: Vec<&'a str>,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// The connector the request is about, so that a 404 says which one is missing.
    connector: Option<&'a str>,
}

impl<'a> Req<'a> {
    fn new(method: Method, segments: &[&'a str]) -> Req<'a> {
        Req {
            method,
            segments: segments.to_vec(),
            query: Vec::new(),
            body: None,
            connector: None,
        }
    }
    fn connector(mut self, name: &'a str) -> Req<'a> {
        self.connector = Some(name);
        self
    }
    fn body(mut self, body: Value) -> Req<'a> {
        self.body = Some(body);
        self
    }
    fn query(mut self, key: &'static str, value: impl Into<String>) -> Req<'a> {
        self.query.push((key, value.into()));
        self
    }
    /// `/connectors/x/status`, for error text.
    fn path(&self) -> String {
        if self.segments.is_empty() {
            "/".into()
        } else {
            format!("/{}", self.segments.join("/"))
        }
    }
}

impl ConnectClient {
    /// A client for the Connect cluster `cluster_name` at `base_url` (`http://host:8083`,
    /// optionally with a path prefix, and with `user:password@` for basic auth). Every
    /// request gives up after `timeout`, connecting included.
    pub fn new(
        cluster_name: impl Into<String>,
        base_url: &str,
        timeout: Duration,
    ) -> Result<ConnectClient, ConnectError> {
        Self::with_tls(cluster_name, base_url, &ConnectTls::default(), timeout)
    }

    /// A client for the endpoint the topology describes: URL, trusted CA, client
    /// certificate and basic-auth credentials (which win over any in the URL).
    pub fn from_endpoint(
        cluster_name: impl Into<String>,
        endpoint: &ConnectEndpoint,
        timeout: Duration,
    ) -> Result<ConnectClient, ConnectError> {
        let tls = ConnectTls {
            ca_pem: endpoint.ca_pem.clone(),
            identity_pem: endpoint.identity_pem.clone(),
        };
        let mut client = Self::with_tls(cluster_name, &endpoint.url, &tls, timeout)?;
        if let Some((user, password)) = &endpoint.basic_auth {
            client.auth = Some(BasicAuth {
                user: user.clone(),
                password: Some(password.clone()),
            });
        }
        Ok(client)
    }

    /// `new` with TLS material: extra trusted CAs and a client identity (PEM).
    pub fn with_tls(
        cluster_name: impl Into<String>,
        base_url: &str,
        tls: &ConnectTls,
        timeout: Duration,
    ) -> Result<ConnectClient, ConnectError> {
        let cluster: Arc<str> = Arc::from(cluster_name.into());
        let invalid = |reason: String| ConnectError::InvalidUrl {
            cluster: cluster.clone(),
            url: Arc::from(redact_userinfo(base_url)),
            reason,
        };
        let mut base = Url::parse(base_url.trim()).map_err(|e| invalid(e.to_string()))?;
        if base.scheme() != "http" && base.scheme() != "https" {
            return Err(invalid(format!(
                "scheme `{}` is not http or https",
                base.scheme()
            )));
        }
        if base.host_str().is_none() || base.cannot_be_a_base() {
            return Err(invalid("no host".into()));
        }
        if timeout.is_zero() {
            return Err(invalid("the timeout is zero".into()));
        }
        let auth = if !base.username().is_empty() || base.password().is_some() {
            let auth = BasicAuth {
                user: percent_decode(base.username()),
                password: base.password().map(percent_decode),
            };
            // Cannot fail for a URL with a host.
            let _ = base.set_username("");
            let _ = base.set_password(None);
            Some(auth)
        } else {
            None
        };
        base.set_query(None);
        base.set_fragment(None);
        let url: Arc<str> = Arc::from(base.as_str().trim_end_matches('/'));
        let tls_setup = |reason: String| ConnectError::TlsSetup {
            cluster: cluster.clone(),
            url: url.clone(),
            reason,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("kafka-dr/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| tls_setup(format!("the CA file is not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(tls_setup("the CA file holds no PEM certificate".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &tls.identity_pem {
            // Never quote the PEM: it holds the private key.
            let identity = reqwest::Identity::from_pem(pem).map_err(|_| {
                tls_setup("the client certificate and key do not form a PEM identity (a certificate chain and its private key)".into())
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| tls_setup(format!("cannot build an HTTPS client: {e}")))?;
        Ok(ConnectClient {
            cluster,
            base,
            url,
            auth,
            timeout,
            http,
            info: tokio::sync::OnceCell::new(),
        })
    }

    /// The topology's name of the Kafka cluster this Connect writes into.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The base URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    // -----------------------------------------------------------------------------------
    // Version and capabilities
    // -----------------------------------------------------------------------------------

    /// `GET /`: the worker's Kafka version, commit and Kafka cluster id. Always asks the
    /// worker (and remembers the first answer for the capability checks).
    pub async fn version(&self) -> Result<ConnectInfo, ConnectError> {
        #[derive(serde::Deserialize)]
        struct Wire {
            version: String,
            #[serde(default)]
            commit: String,
            #[serde(default)]
            kafka_cluster_id: Option<String>,
        }
        let req = Req::new(Method::GET, &[]);
        let w: Wire = self.call_json(req).await?;
        let info = ConnectInfo {
            version: ConnectVersion::parse(&w.version),
            commit: w.commit,
            kafka_cluster_id: w.kafka_cluster_id,
        };
        let _ = self.info.set(info.clone());
        Ok(info)
    }

    /// The worker's version, asked once per client.
    pub async fn connect_version(&self) -> Result<ConnectVersion, ConnectError> {
        let info = self.info.get_or_try_init(|| self.version()).await?;
        Ok(info.version.clone())
    }

    /// Fail with [`ConnectError::Unsupported`] unless the worker has `feature`.
    pub async fn require(&self, feature: Feature) -> Result<(), ConnectError> {
        let v = self.connect_version().await?;
        if feature.supported_by(&v) {
            return Ok(());
        }
        Err(ConnectError::Unsupported {
            cluster: self.cluster.clone(),
            url: self.url.clone(),
            version: v.to_string(),
            feature: feature.description(),
            needs: feature.needs(),
            help: feature.help(),
        })
    }

    // -----------------------------------------------------------------------------------
    // Connectors
    // -----------------------------------------------------------------------------------

    /// `GET /connectors`, sorted.
    pub async fn list_connectors(&self) -> Result<Vec<String>, ConnectError> {
        let mut names: Vec<String> = self
            .call_json(Req::new(Method::GET, &["connectors"]))
            .await?;
        names.sort();
        Ok(names)
    }

    /// True when the connector exists (`GET /connectors/{c}`).
    pub async fn exists(&self, name: &str) -> Result<bool, ConnectError> {
        match self
            .call(Req::new(Method::GET, &["connectors", name]).connector(name))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The status of `name`, `None` when the connector does not exist. One that exists
    /// without a status yet (just created) reads as UNASSIGNED: running nothing yet, but
    /// not stopped either.
    pub async fn status_if_exists(
        &self,
        name: &str,
    ) -> Result<Option<ConnectorStatus>, ConnectError> {
        match self.status(name).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => {
                if !self.exists(name).await? {
                    return Ok(None);
                }
                Ok(Some(ConnectorStatus {
                    name: name.to_string(),
                    connector_state: ConnectorState::Unassigned,
                    worker_id: String::new(),
                    connector_trace: None,
                    tasks: Vec::new(),
                    kind: None,
                }))
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /connectors/{c}/status`.
    pub async fn status(&self, name: &str) -> Result<ConnectorStatus, ConnectError> {
        let req = Req::new(Method::GET, &["connectors", name, "status"]).connector(name);
        let path = req.path();
        let body = self.call(req).await?;
        ConnectorStatus::from_json(&body).map_err(|e| self.invalid_response("GET", &path, e))
    }

    /// `GET /connectors/{c}/config`.
    pub async fn config(&self, name: &str) -> Result<BTreeMap<String, String>, ConnectError> {
        self.call_json(Req::new(Method::GET, &["connectors", name, "config"]).connector(name))
            .await
    }

    /// `POST /connectors`. With `initial_state` PAUSED or STOPPED the worker must support
    /// it (Kafka 3.7+), else this fails before sending anything; RUNNING is the default
    /// and is sent only to workers that know the field.
    pub async fn create(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
        initial_state: Option<InitialState>,
    ) -> Result<(), ConnectError> {
        let mut body = json!({ "name": name, "config": config });
        match initial_state {
            None => {}
            // RUNNING is the default: say it only to workers that know the field.
            Some(TargetState::Running) => {
                let v = self.connect_version().await?;
                if Feature::InitialState.supported_by(&v) {
                    body["initial_state"] = json!("RUNNING");
                }
            }
            Some(state) => {
                self.require(Feature::InitialState).await?;
                body["initial_state"] = json!(state.as_str());
            }
        }
        self.call(
            Req::new(Method::POST, &["connectors"])
                .connector(name)
                .body(body),
        )
        .await?;
        Ok(())
    }

    /// Create or update (`PUT /connectors/{c}/config`), idempotently: when the connector
    /// already has exactly this config (ignoring the `name` key) nothing is sent, so a
    /// running connector is not restarted for nothing.
    pub async fn put_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<ConfigOutcome, ConnectError> {
        match self.config(name).await {
            Ok(current) if comparable_config(&current) == comparable_config(config) => {
                return Ok(ConfigOutcome::Unchanged)
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let req = Req::new(Method::PUT, &["connectors", name, "config"])
            .connector(name)
            .body(json!(config));
        let (status, _) = self.call_with_status(req).await?;
        Ok(if status == StatusCode::CREATED {
            ConfigOutcome::Created
        } else {
            ConfigOutcome::Updated
        })
    }

    /// `PUT /connectors/{c}/pause`.
    pub async fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.call(Req::new(Method::PUT, &["connectors", name, "pause"]).connector(name))
            .await
            .map(drop)
    }

    /// `PUT /connectors/{c}/resume` (also starts a STOPPED connector).
    pub async fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.call(Req::new(Method::PUT, &["connectors", name, "resume"]).connector(name))
            .await
            .map(drop)
    }

    /// `PUT /connectors/{c}/stop` (Kafka 3.5+): shuts the connector and its tasks down
    /// and removes its task configs, which offsets changes require.
    pub async fn stop(&self, name: &str) -> Result<(), ConnectError> {
        self.require(Feature::Stop).await?;
        self.call(Req::new(Method::PUT, &["connectors", name, "stop"]).connector(name))
            .await
            .map(drop)
    }

    /// `POST /connectors/{c}/restart`. Without flags only the connector instance restarts
    /// (204, `None`); with `include_tasks`/`only_failed` (Kafka 3.0+) the worker answers
    /// 202 with the status it is restarting from.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<ConnectorStatus>, ConnectError> {
        let mut req = Req::new(Method::POST, &["connectors", name, "restart"]).connector(name);
        if include_tasks || only_failed {
            self.require(Feature::RestartTasks).await?;
            req = req
                .query("includeTasks", include_tasks.to_string())
                .query("onlyFailed", only_failed.to_string());
        }
        let path = req.path();
        let (status, body) = self.call_with_status(req).await?;
        if status == StatusCode::NO_CONTENT || body.is_empty() {
            return Ok(None);
        }
        ConnectorStatus::from_json(&body)
            .map(Some)
            .map_err(|e| self.invalid_response("POST", &path, e))
    }

    /// `POST /connectors/{c}/tasks/{t}/restart`.
    pub async fn restart_task(&self, name: &str, task: u32) -> Result<(), ConnectError> {
        let task = task.to_string();
        self.call(
            Req::new(
                Method::POST,
                &["connectors", name, "tasks", &task, "restart"],
            )
            .connector(name),
        )
        .await
        .map(drop)
    }

    /// `DELETE /connectors/{c}`. Its offsets stay in the workers' offsets topic.
    pub async fn delete(&self, name: &str) -> Result<(), ConnectError> {
        self.call(Req::new(Method::DELETE, &["connectors", name]).connector(name))
            .await
            .map(drop)
    }

    // -----------------------------------------------------------------------------------
    // Offsets (KIP-875)
    // -----------------------------------------------------------------------------------

    /// `GET /connectors/{c}/offsets` (Kafka 3.5+).
    pub async fn get_offsets(&self, name: &str) -> Result<Vec<ConnectorOffset>, ConnectError> {
        self.require(Feature::OffsetsRead).await?;
        let o: ConnectorOffsets = self
            .call_json(Req::new(Method::GET, &["connectors", name, "offsets"]).connector(name))
            .await?;
        Ok(o.offsets)
    }

    /// `PATCH /connectors/{c}/offsets` (Kafka 3.6+; the connector must be STOPPED with no
    /// tasks). Returns the worker's message. An empty list sends nothing.
    pub async fn patch_offsets(
        &self,
        name: &str,
        offsets: &[ConnectorOffset],
    ) -> Result<String, ConnectError> {
        self.require(Feature::OffsetsWrite).await?;
        if offsets.is_empty() {
            return Ok("no offsets to alter".into());
        }
        self.require_stopped(name, "alter the offsets of").await?;
        let body = json!({ "offsets": offsets });
        let req = Req::new(Method::PATCH, &["connectors", name, "offsets"])
            .connector(name)
            .body(body);
        self.offsets_write(req, name, "alter the offsets of").await
    }

    /// `DELETE /connectors/{c}/offsets` (Kafka 3.6+; the connector must be STOPPED):
    /// forget every offset, so the connector starts from scratch on resume.
    pub async fn reset_offsets(&self, name: &str) -> Result<String, ConnectError> {
        self.require(Feature::OffsetsWrite).await?;
        self.require_stopped(name, "reset the offsets of").await?;
        let req = Req::new(Method::DELETE, &["connectors", name, "offsets"]).connector(name);
        self.offsets_write(req, name, "reset the offsets of").await
    }

    /// The offsets of a MirrorSourceConnector, typed (see [`MirrorSourceOffset`]).
    pub async fn get_mirror_source_offsets(
        &self,
        name: &str,
    ) -> Result<Vec<MirrorSourceOffset>, ConnectError> {
        let mut out = self
            .get_offsets(name)
            .await?
            .iter()
            .map(MirrorSourceOffset::from_connector_offset)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            (&a.source_alias, &a.topic, a.partition).cmp(&(&b.source_alias, &b.topic, b.partition))
        });
        Ok(out)
    }

    // -----------------------------------------------------------------------------------
    // Waiting
    // -----------------------------------------------------------------------------------

    /// Poll the status every `poll` until the connector is in `wanted` (RUNNING/PAUSED:
    /// every task too; STOPPED: no tasks left), calling `on_progress` with each status
    /// read and the time waited so far. Gives up after `timeout` with
    /// [`ConnectError::WaitTimeout`] carrying the last status. When waiting for RUNNING or
    /// PAUSED, a FAILED connector or task ends the wait at once
    /// ([`ConnectError::ConnectorFailed`]). A connector that exists but has no status yet
    /// (just created) is waited for; one that does not exist is [`ConnectError::NotFound`].
    pub async fn wait_for_state<F>(
        &self,
        name: &str,
        wanted: TargetState,
        timeout: Duration,
        poll: Duration,
        mut on_progress: F,
    ) -> Result<ConnectorStatus, ConnectError>
    where
        F: FnMut(&ConnectorStatus, Duration),
    {
        let start = Instant::now();
        let poll = poll.max(Duration::from_millis(50));
        let mut last: Option<ConnectorStatus> = None;
        loop {
            match self.status(name).await {
                Ok(s) => {
                    on_progress(&s, start.elapsed());
                    if s.is_in(wanted) {
                        return Ok(s);
                    }
                    if wanted != TargetState::Stopped && !s.failures().is_empty() {
                        return Err(ConnectError::ConnectorFailed {
                            cluster: self.cluster.clone(),
                            url: self.url.clone(),
                            connector: name.to_string(),
                            wanted,
                            status: Box::new(s),
                        });
                    }
                    last = Some(s);
                }
                Err(e) if e.is_not_found() => {
                    // "No status found" right after creation: wait if the config exists.
                    if !self.exists(name).await? {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(ConnectError::WaitTimeout {
                    cluster: self.cluster.clone(),
                    url: self.url.clone(),
                    connector: name.to_string(),
                    wanted,
                    waited,
                    last: last.map(Box::new),
                });
            }
            tokio::time::sleep(poll.min(timeout - waited)).await;
        }
    }

    // -----------------------------------------------------------------------------------
    // Internals
    // -----------------------------------------------------------------------------------

    /// Offsets PATCH/DELETE need a STOPPED connector without tasks. A connector with no
    /// status yet (created STOPPED a moment ago) is left to the worker to judge.
    async fn require_stopped(
        &self,
        name: &str,
        operation: &'static str,
    ) -> Result<(), ConnectError> {
        let s = match self.status(name).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() && self.exists(name).await? => return Ok(()),
            Err(e) => return Err(e),
        };
        if s.is_in(TargetState::Stopped) {
            return Ok(());
        }
        let help = if s.connector_state == ConnectorState::Stopped {
            "its tasks are still shutting down: wait until it reports STOPPED with no tasks, \
             then retry"
        } else {
            STOP_FIRST
        };
        Err(ConnectError::WrongState {
            cluster: self.cluster.clone(),
            url: self.url.clone(),
            connector: name.to_string(),
            operation,
            state: s.summary(),
            help,
        })
    }

    async fn offsets_write(
        &self,
        req: Req<'_>,
        name: &str,
        operation: &'static str,
    ) -> Result<String, ConnectError> {
        match self.call(req).await {
            Ok(body) => Ok(parse_error_body(&body).1),
            // The worker's own check, if the state changed since ours.
            Err(ConnectError::Http {
                status: 400,
                message,
                ..
            }) if message.contains("STOPPED state") => Err(ConnectError::WrongState {
                cluster: self.cluster.clone(),
                url: self.url.clone(),
                connector: name.to_string(),
                operation,
                state: format!("not stopped (the worker says: {message})"),
                help: STOP_FIRST,
            }),
            Err(e) => Err(e),
        }
    }

    fn invalid_response(
        &self,
        method: &'static str,
        path: &str,
        e: impl fmt::Display,
    ) -> ConnectError {
        ConnectError::InvalidResponse {
            cluster: self.cluster.clone(),
            url: self.url.clone(),
            method,
            path: path.to_string(),
            detail: e.to_string(),
        }
    }

    async fn call_json<T: DeserializeOwned>(&self, req: Req<'_>) -> Result<T, ConnectError> {
        let method = method_name(&req.method);
        let path = req.path();
        let body = self.call(req).await?;
        serde_json::from_slice(&body).map_err(|e| self.invalid_response(method, &path, e))
    }

    async fn call(&self, req: Req<'_>) -> Result<Vec<u8>, ConnectError> {
        self.call_with_status(req).await.map(|(_, body)| body)
    }

    /// Send `req`; a 2xx gives (status, body), anything else a classified error. A 409
    /// "cannot complete request" (rebalance, stale config, no leader yet) and a 500
    /// "rebalance is expected" are retried.
    async fn call_with_status(&self, req: Req<'_>) -> Result<(StatusCode, Vec<u8>), ConnectError> {
        let mut url = self.base.clone();
        {
            // The base was checked to be able to hold a path in `new`.
            let mut path = url.path_segments_mut().map_err(|()| {
                self.invalid_response(method_name(&req.method), "/", "bad base URL")
            })?;
            path.pop_if_empty();
            path.extend(req.segments.iter());
        }
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        let mut attempt = 0;
        loop {
            let mut builder = self.http.request(req.method.clone(), url.clone());
            if let Some(auth) = &self.auth {
                builder = builder.basic_auth(&auth.user, auth.password.as_ref());
            }
            if let Some(body) = &req.body {
                builder = builder.json(body);
            }
            let resp = builder.send().await.map_err(|e| self.transport_error(e))?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?
                .to_vec();
            if status.is_success() {
                return Ok((status, body));
            }
            let (error_code, message) = parse_error_body(&body);
            // Connect refuses a request it cannot handle yet, before acting on it: 409
            // "Cannot complete request" and 500 "... a rebalance is expected".
            let not_yet = (status == StatusCode::CONFLICT
                && message.starts_with("Cannot complete request"))
                || (status == StatusCode::INTERNAL_SERVER_ERROR
                    && message.to_ascii_lowercase().contains("rebalance"));
            if not_yet && attempt < REBALANCE_RETRY_DELAYS_MS.len() {
                tokio::time::sleep(Duration::from_millis(REBALANCE_RETRY_DELAYS_MS[attempt])).await;
                attempt += 1;
                continue;
            }
            return Err(self.status_error(&req, status, error_code, message));
        }
    }

    fn status_error(
        &self,
        req: &Req<'_>,
        status: StatusCode,
        error_code: Option<i32>,
        message: String,
    ) -> ConnectError {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return ConnectError::Unauthorized {
                cluster: self.cluster.clone(),
                url: self.url.clone(),
                method: method_name(&req.method),
                path: req.path(),
                status: status.as_u16(),
                message,
            };
        }
        // Jersey's own 404 for an unknown path is "HTTP 404 Not Found": that is a missing
        // endpoint, not a missing connector.
        if let Some(connector) = req.connector {
            if status == StatusCode::NOT_FOUND && !message.starts_with("HTTP 404") {
                return ConnectError::NotFound {
                    cluster: self.cluster.clone(),
                    url: self.url.clone(),
                    connector: connector.to_string(),
                    message,
                };
            }
            if status == StatusCode::CONFLICT && message.contains("already exists") {
                return ConnectError::AlreadyExists {
                    cluster: self.cluster.clone(),
                    url: self.url.clone(),
                    connector: connector.to_string(),
                };
            }
        }
        ConnectError::Http {
            cluster: self.cluster.clone(),
            url: self.url.clone(),
            method: method_name(&req.method),
            path: req.path(),
            status: status.as_u16(),
            error_code,
            message,
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> ConnectError {
        if !e.is_timeout() {
            if let Some(detail) = tls_failure(&e) {
                return ConnectError::Tls {
                    cluster: self.cluster.clone(),
                    url: self.url.clone(),
                    detail: redact_userinfo(&detail),
                };
            }
        }
        let detail = if e.is_timeout() {
            "no answer in time".to_string()
        } else {
            // reqwest's outer message repeats the URL; the causes say what happened.
            let mut causes = Vec::new();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !causes.iter().any(|c: &String| c.contains(&text)) {
                    causes.push(text);
                }
                source = s.source();
            }
            if causes.is_empty() {
                e.to_string()
            } else {
                causes.join(": ")
            }
        };
        ConnectError::Unreachable {
            cluster: self.cluster.clone(),
            url: self.url.clone(),
            timeout: self.timeout,
            detail: redact_userinfo(&detail),
        }
    }
}

/// The TLS cause of a transport error (rustls' own words), if TLS is what failed: an
/// untrusted or mismatched server certificate, a client certificate the worker wants or
/// refuses, a protocol mismatch (e.g. https:// to a plain-HTTP listener).
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(describe_rustls(tls));
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(describe_rustls(tls));
            }
        }
        source = s.source();
    }
    // The connector may box the error in a type of its own: rustls's Display is stable
    // enough to recognise ("invalid peer certificate: UnknownIssuer", "received fatal
    // alert: CertificateRequired").
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if let Some(rest) = text.strip_prefix("invalid peer certificate: ") {
            return Some(match rest {
                "UnknownIssuer" => describe_rustls(&rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer,
                )),
                r if r.starts_with("NotValidForName") => describe_rustls(
                    &rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
                ),
                r if r.starts_with("Expired") => describe_rustls(
                    &rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
                ),
                other => format!("the worker's certificate is not accepted: {other}"),
            });
        }
        if let Some(rest) = text.strip_prefix("received fatal alert: ") {
            return Some(match rest {
                "CertificateRequired" | "HandshakeFailure" => describe_rustls(
                    &rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
                ),
                "UnknownCA" | "BadCertificate" | "CertificateUnknown" => describe_rustls(
                    &rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
                ),
                other => format!("the worker ended the TLS handshake: {other}"),
            });
        }
        if text.contains("invalid HTTP version parsed") {
            return Some(
                "the worker answered with TLS to a plain http:// request: use its https:// URL"
                    .into(),
            );
        }
        if text.contains("InvalidContentType") || text.contains("corrupt message") {
            return Some("the server did not answer TLS (is the listener plain http://?)".into());
        }
        source = s.source();
    }
    None
}

fn describe_rustls(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the worker's certificate is signed by a CA this client does not trust (unknown issuer)"
                .into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            "the worker's certificate is not valid for the host name in the URL".into()
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "the worker's certificate has expired".into()
        }
        rustls::Error::AlertReceived(A::CertificateRequired)
        | rustls::Error::AlertReceived(A::HandshakeFailure) => {
            "the worker requires a client certificate and got none it accepts".into()
        }
        rustls::Error::AlertReceived(A::UnknownCA)
        | rustls::Error::AlertReceived(A::BadCertificate)
        | rustls::Error::AlertReceived(A::CertificateUnknown) => {
            "the worker refused our client certificate (not signed by a CA it trusts)".into()
        }
        rustls::Error::InvalidMessage(_) => {
            "the server did not answer TLS (is the listener plain http://?)".into()
        }
        other => format!("TLS error: {other}"),
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "request",
    }
}

/// Decode `%XX` escapes of a URL's userinfo (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_strips_credentials() {
        let c = ConnectClient::new(
            "dc1",
            "http://admin:p%40ss@connect.example:8083/",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(c.url(), "http://connect.example:8083");
        let auth = c.auth.as_ref().unwrap();
        assert_eq!(auth.user, "admin");
        assert_eq!(auth.password.as_deref(), Some("p@ss"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("p%40ss") && !dbg.contains("p@ss"), "{dbg}");
        assert_eq!(c.cluster(), "dc1");
    }

    #[test]
    fn new_keeps_a_path_prefix() {
        let c =
            ConnectClient::new("dc2", "https://gw/connect/dc2", Duration::from_secs(1)).unwrap();
        assert_eq!(c.url(), "https://gw/connect/dc2");
    }

    #[test]
    fn new_rejects_bad_urls_without_leaking() {
        for bad in ["connect:8083", "ftp://h/", "http://u:secret@", "not a url"] {
            let e = ConnectClient::new("dc1", bad, Duration::from_secs(1)).unwrap_err();
            assert!(matches!(e, ConnectError::InvalidUrl { .. }), "{bad}: {e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert!(ConnectClient::new("dc1", "http://h:1", Duration::ZERO).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2F"), "a b/");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn features_by_version() {
        let v34 = ConnectVersion::parse("3.4.0");
        let v41 = ConnectVersion::parse("4.1.2");
        for f in [
            Feature::OffsetsRead,
            Feature::OffsetsWrite,
            Feature::Stop,
            Feature::InitialState,
        ] {
            assert!(!f.supported_by(&v34), "{f:?}");
            assert!(f.supported_by(&v41), "{f:?}");
        }
        assert!(Feature::RestartTasks.supported_by(&v34));
    }

    #[test]
    fn status_error_classification() {
        let c = ConnectClient::new("dc1", "http://h:8083", Duration::from_secs(1)).unwrap();
        let req = Req::new(Method::GET, &["connectors", "x", "status"]).connector("x");
        let e = c.status_error(
            &req,
            StatusCode::NOT_FOUND,
            Some(404),
            "No status found for connector x".into(),
        );
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains("connector `x` not found"), "{e}");

        let e = c.status_error(
            &req,
            StatusCode::NOT_FOUND,
            Some(404),
            "HTTP 404 Not Found".into(),
        );
        assert!(matches!(e, ConnectError::Http { status: 404, .. }), "{e}");

        let req = Req::new(Method::POST, &["connectors"]).connector("x");
        let e = c.status_error(
            &req,
            StatusCode::CONFLICT,
            Some(409),
            "Connector x already exists".into(),
        );
        assert!(matches!(e, ConnectError::AlreadyExists { .. }), "{e}");

        let e = c.status_error(
            &req,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(500),
            "boom".into(),
        );
        assert_eq!(
            e.to_string(),
            "Connect at `http://h:8083` (cluster `dc1`) refused POST /connectors: HTTP 500 \
             (error_code 500): boom"
        );
    }
}
