//! `ClusterPool`: one Kafka client per cluster for the length of a run, and the memory
//! of which clusters did not answer.
//!
//! A failover runs with the primary dead. Without this, every step that may talk to it
//! (fence, snapshot, translate) would connect afresh and wait for it again, adding its
//! timeout to the RTO each time. Here the first attempt decides: a cluster that answered
//! keeps its connected client (no new handshake per step); a cluster that did not is
//! re-checked only briefly (`COMEBACK_CHECK`) on the client that is still trying to
//! reach it in the background, so a cluster that comes back mid-run is used again, and a
//! cluster still down costs a fraction of a second instead of a timeout.
//!
//! It holds no secrets beyond the clients' own configurations and prints nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{KafkaClient, KafkaError};

/// How long a cluster found down earlier in the run is given to show it is back.
pub const COMEBACK_CHECK: Duration = Duration::from_millis(100);

enum Entry {
    Up(Arc<KafkaClient>),
    Down {
        /// The client of the failed attempt (librdkafka keeps reconnecting with it), when
        /// it could be built.
        client: Arc<KafkaClient>,
        first: KafkaError,
        since: Instant,
    },
}

/// A client configuration (librdkafka pairs): an entry is reused only for the same one.
type Config = Vec<(String, String)>;

/// One connected client per cluster, shared by the steps of a run.
#[derive(Default)]
pub struct ClusterPool {
    entries: Mutex<HashMap<String, (Config, Entry)>>,
}

impl std::fmt::Debug for ClusterPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .entries
            .lock()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("ClusterPool")
            .field("clusters", &names)
            .finish()
    }
}

impl ClusterPool {
    pub fn new() -> ClusterPool {
        ClusterPool::default()
    }

    /// A client of `cluster` that answered, connecting (within `timeout`) on first use.
    ///
    /// A cluster that did not answer before in this run is re-checked for
    /// `COMEBACK_CHECK` only; if it still does not answer, `KafkaError::StillDown` says
    /// so with the first attempt's error. Errors other than "unreachable" (credentials,
    /// TLS, configuration) are not remembered: they come back at once anyway.
    pub fn client(
        &self,
        cluster: &str,
        config: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Arc<KafkaClient>, KafkaError> {
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            // A panic elsewhere while holding the lock: the map is still consistent
            // (entries are replaced whole), so go on with it.
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((known_config, entry)) = entries.get(cluster) {
            if *known_config == config {
                match entry {
                    Entry::Up(client) => return Ok(Arc::clone(client)),
                    Entry::Down {
                        client,
                        first,
                        since,
                    } => {
                        return match client.probe(COMEBACK_CHECK.min(timeout)) {
                            Ok(()) => {
                                let client = Arc::clone(client);
                                entries.insert(
                                    cluster.to_string(),
                                    (config, Entry::Up(Arc::clone(&client))),
                                );
                                Ok(client)
                            }
                            Err(_) => Err(KafkaError::StillDown {
                                cluster: cluster.to_string(),
                                ago: since.elapsed(),
                                first: Box::new(first.clone()),
                            }),
                        };
                    }
                }
            }
        }
        let client = Arc::new(KafkaClient::open(cluster, config.clone())?);
        match client.probe(timeout) {
            Ok(()) => {
                entries.insert(
                    cluster.to_string(),
                    (config, Entry::Up(Arc::clone(&client))),
                );
                Ok(client)
            }
            Err(e @ (KafkaError::Unreachable { .. } | KafkaError::Timeout { .. })) => {
                entries.insert(
                    cluster.to_string(),
                    (
                        config,
                        Entry::Down {
                            client,
                            first: e.clone(),
                            since: Instant::now(),
                        },
                    ),
                );
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// `client`, but a cluster that answered before is asked again (a metadata request
    /// within `timeout`), and one that no longer answers is remembered as down: for a
    /// long-running recorder, whose clusters may go away and come back between passes.
    pub fn client_verified(
        &self,
        cluster: &str,
        config: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Arc<KafkaClient>, KafkaError> {
        let client = self.client(cluster, config.clone(), timeout)?;
        match client.probe(timeout) {
            Ok(()) => Ok(client),
            Err(e @ (KafkaError::Unreachable { .. } | KafkaError::Timeout { .. })) => {
                let mut entries = match self.entries.lock() {
                    Ok(e) => e,
                    Err(poisoned) => poisoned.into_inner(),
                };
                entries.insert(
                    cluster.to_string(),
                    (
                        config,
                        Entry::Down {
                            client,
                            first: e.clone(),
                            since: Instant::now(),
                        },
                    ),
                );
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// True when `cluster` was found unreachable in this run (and has not answered since).
    pub fn known_down(&self, cluster: &str) -> bool {
        self.entries
            .lock()
            .map(|e| matches!(e.get(cluster), Some((_, Entry::Down { .. }))))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_port() -> Vec<(String, String)> {
        vec![("bootstrap.servers".to_string(), "127.0.0.1:1".to_string())]
    }

    #[test]
    fn a_dead_cluster_is_not_waited_on_twice() {
        let pool = ClusterPool::new();
        let first = pool
            .client("dc9", closed_port(), Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(first, KafkaError::Unreachable { .. }), "{first:?}");
        assert!(pool.known_down("dc9"));
        let again = pool
            .client("dc9", closed_port(), Duration::from_secs(30))
            .unwrap_err();
        match &again {
            KafkaError::StillDown { cluster, first, .. } => {
                assert_eq!(cluster, "dc9");
                assert!(matches!(**first, KafkaError::Unreachable { .. }));
            }
            other => panic!("expected StillDown, got {other:?}"),
        }
        let text = again.to_string();
        assert!(text.contains("not waited on again"), "{text}");
        assert_eq!(again.exit_code(), crate::exit_code::ExitCode::Unreachable);
        assert!(!pool.known_down("dc8"));
    }

    #[test]
    fn configuration_errors_are_not_remembered_as_down() {
        let pool = ClusterPool::new();
        let e = pool
            .client("dc9", Vec::new(), Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(e, KafkaError::Config { .. }), "{e:?}");
        assert!(!pool.known_down("dc9"));
    }
}
