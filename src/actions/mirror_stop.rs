//! `mirror.stop`: stop the MM2 connectors of one flow (`mirror::Flow`).
//!
//! Stopping is a courtesy on top of the ACL fence, not the guarantee: during a failover
//! the Connect cluster may be in the dead DC. When it does not answer, the step says so
//! and succeeds (the `replication-into-backup` fence is what keeps replication out). It
//! uses `PUT /connectors/{c}/stop` (Kafka 3.5+), falling back to pause on older workers,
//! and writes nothing else: no connector is created, reconfigured or deleted here.
//!
//! In MM2 dedicated mode (`replication.mirror_maker`) it runs the flow's `stop` hook
//! instead. A hook that fails or times out (the MM2 host may be in the dead DC) is
//! reported as not confirmed, like an unreachable Connect, and the run goes on: the fence
//! keeps the flow out.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::mirror::*;
use super::{common, ActionError};
use crate::connect::{
    ConnectClient, ConnectError, ConnectorState, ConnectorStatus, Feature, TargetState,
};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;
use crate::topology::Connectors;
pub const STOP: &str = "mirror.stop";

/// How often a wait polls the connector's status.
const POLL: Duration = Duration::from_millis(200);
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    flow: String,
    timeout_seconds: u64,
    task_wait_seconds: u64,
}

/// `mirror.stop`.
#[derive(Debug)]
pub struct Stop {
    flow: Flow,
    timeout: Duration,
    task_wait: Duration,
    /// Set when apply found Connect unreachable, so verify does not fail on it.
    unreachable: Option<String>,
    /// Connectors apply left STOPPED with tasks still shutting down (not confirmed).
    lingering: Vec<String>,
    /// Set by apply when the flow's source did not answer: waits are `task_wait` long.
    bounded: bool,
    /// Dedicated mode: the stop hook ran to success in this process.
    hook_done: bool,
}

/// One connector as the plan found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Found {
    role: String,
    name: String,
    /// None: it does not exist.
    state: Option<String>,
    /// `stop`, `pause` or `none`.
    action: String,
}

impl Stop {
    pub fn new(step: &StepDef) -> Result<Stop, Error> {
        let p: Params = super::params(step, STOP)?;
        let flow = Flow::parse(&p.flow).ok_or_else(|| ActionError::Params {
            step: step.id.clone(),
            action: STOP,
            reason: format!(
                "unknown flow `{}`\nhelp: `flow` must be `forward` (primary -> backup) or `reverse` (backup -> primary)",
                p.flow
            ),
        })?;
        Ok(Stop {
            flow,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            task_wait: Duration::from_secs(p.task_wait_seconds),
            unreachable: None,
            lingering: Vec::new(),
            bounded: false,
            hook_done: false,
        })
    }

    fn placement(&self, ctx: &StepContext<'_>) -> Result<(Connectors, String), Error> {
        let (c, cluster) = self.flow.placement(ctx.topology);
        Ok((c.clone(), cluster.to_string()))
    }
}

/// The status of `name`, None when the connector does not exist.
/// The state a stopped connector of this worker ends in: STOPPED, or PAUSED before 3.5.
async fn wanted_state(
    client: &ConnectClient,
) -> Result<(TargetState, Option<String>), ConnectError> {
    let v = client.connect_version().await?;
    if Feature::Stop.supported_by(&v) {
        Ok((TargetState::Stopped, None))
    } else {
        Ok((
            TargetState::Paused,
            Some(format!(
                "Connect at `{}` runs {v}, which has no stop endpoint (PUT /connectors/<c>/stop needs Kafka 3.5+): the connectors are PAUSED instead (their tasks stay assigned but copy nothing); upgrade the workers to stop them",
                client.url()
            )),
        ))
    }
}

impl Action for Stop {
    fn name(&self) -> &'static str {
        STOP
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        if let Some(d) = super::mirror_dedicated::flow_of(ctx.topology, self.flow) {
            let (_, into) = self.flow.placement(ctx.topology);
            let mut plan = super::mirror_dedicated::hook_plan(
                self.flow,
                "stop",
                &d.stop,
                self.flow.source(ctx.topology),
                into,
            );
            plan.notes.push(
                "if the hook fails or times out, the flow is reported as not confirmed stopped and the run goes on: the fence keeps it out".into(),
            );
            return Ok(plan);
        }
        let (connectors, cluster) = self.placement(ctx)?;
        let mut plan = Plan::default();
        let client = match client_for(ctx.topology, &cluster, self.timeout)? {
            Ok(c) => c,
            Err(why) => {
                plan.notes
                    .push(unreachable_note(self.flow, &cluster, None, &why));
                plan.detail = json!({"flow": self.flow, "cluster": cluster, "reachable": false});
                return Ok(plan);
            }
        };
        let url = client.url().to_string();
        let wanted = match ctx.block_on(wanted_state(&client)) {
            Ok(w) => w,
            Err(ConnectError::Unreachable { detail, .. }) => {
                plan.notes
                    .push(unreachable_note(self.flow, &cluster, Some(&url), &detail));
                plan.detail = json!({
                    "flow": self.flow, "cluster": cluster, "url": url, "reachable": false
                });
                return Ok(plan);
            }
            Err(e) => return Err(e.into()),
        };
        let (target, fallback) = wanted;
        if let Some(f) = fallback {
            plan.notes.push(f);
        }
        let verb = if target == TargetState::Stopped {
            "stop"
        } else {
            "pause"
        };
        let mut found = Vec::new();
        for (role, name) in connector_list(&connectors) {
            let st = ctx.block_on(client.status_if_exists(&name))?;
            let action = match &st {
                None => {
                    plan.notes.push(format!(
                        "{role} connector `{name}` does not exist on Connect `{url}` (cluster `{cluster}`): nothing to {verb}"
                    ));
                    "none"
                }
                Some(s) if s.is_in(target) => {
                    plan.notes.push(format!(
                        "{role} connector `{name}` on Connect `{url}` (cluster `{cluster}`) is already {target}"
                    ));
                    "none"
                }
                Some(s) => {
                    plan.changes.push(format!(
                        "{verb} {role} connector `{name}` on Connect `{url}` (cluster `{cluster}`): now {}",
                        s.summary()
                    ));
                    verb
                }
            };
            found.push(Found {
                role: role.to_string(),
                name,
                state: st.map(|s| s.summary()),
                action: action.to_string(),
            });
        }
        if plan.changes.is_empty() {
            plan.notes.insert(
                0,
                format!(
                    "nothing to do: the {} flow's connectors are not running",
                    self.flow
                ),
            );
        }
        plan.detail = json!({
            "flow": self.flow,
            "cluster": cluster,
            "url": url,
            "reachable": true,
            "target_state": target,
            "connectors": found,
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        self.unreachable = None;
        if let Some(d) = super::mirror_dedicated::flow_of(ctx.topology, self.flow) {
            let hook = d.stop.clone();
            return self.apply_dedicated(ctx, &hook);
        }
        let (connectors, cluster) = self.placement(ctx)?;
        let client = match client_for(ctx.topology, &cluster, self.timeout)? {
            Ok(c) => c,
            Err(why) => return Ok(self.gone(ctx, &cluster, None, why)),
        };
        let (target, fallback) = match ctx.block_on(wanted_state(&client)) {
            Ok(w) => w,
            Err(ConnectError::Unreachable { detail, .. }) => {
                let url = client.url().to_string();
                return Ok(self.gone(ctx, &cluster, Some(&url), detail));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(f) = &fallback {
            ctx.reporter.warn(f);
        }
        self.lingering.clear();
        // Every stop is sent at once and the waits overlap: Connect answers a stop only
        // once its herder has stopped the tasks, and a task blocked on the dead primary
        // holds it for `task.shutdown.graceful.timeout.ms`, so each request is bounded
        // like the wait for the tasks, and the status says whether it took effect.
        let mut to_stop = Vec::new();
        for (role, name) in connector_list(&connectors) {
            let Some(st) = ctx.block_on(client.status_if_exists(&name))? else {
                continue;
            };
            to_stop.push((role, name, !st.is_in(target)));
        }
        // A flow whose source cluster answers stops promptly: wait for the confirmation.
        // One whose source does not (the failover case) may keep Connect busy on tasks
        // blocked on it: bound the wait and let the fence do its job. The probe is the
        // run's first look at the source, which the fence and snapshot steps reuse.
        let source = self.flow.source(ctx.topology);
        let source_down =
            common::kafka_in(ctx, source, self.timeout.min(common::PROBE_TIMEOUT)).is_err();
        let bound = if source_down {
            self.task_wait
        } else {
            self.timeout
        };
        self.bounded = source_down;
        let started = Instant::now();
        let answers = ctx.block_on(join_all(to_stop.iter().map(|(_, name, send)| {
            let client = &client;
            async move {
                if !*send {
                    return Some(Ok(()));
                }
                let request = async {
                    match target {
                        TargetState::Stopped => client.stop(name).await,
                        _ => client.pause(name).await,
                    }
                };
                let answer = tokio::time::timeout(bound, request).await.ok();
                // The stops go out at once: the first to end may leave the others sent or not.
                crate::engine::crash::crash_point("mirror.stop:connector-stopped");
                answer
            }
        })));
        // A replication fence already in force on the flow's target (a failback after a
        // failover) may deny the mirror principal every transactional id there (when it
        // found no Connect worker group, or an older kafka-dr applied it). A worker with
        // exactly-once source support writes its config topic with one (the leader's
        // `connect-cluster-<group.id>`) as that principal, so it cannot record a stop
        // until the fence is lifted: the fence, not the stop, keeps that flow out.
        let fenced = super::fence::active_fence(
            ctx.journal,
            &cluster,
            super::fence::Fence::ReplicationIntoBackup,
        )?
        .is_some();
        let mut sent_to = Vec::new();
        let mut done = Vec::new();
        for ((role, name, _), answer) in to_stop.into_iter().zip(answers) {
            match answer {
                Some(Ok(())) | None => sent_to.push((role, name)),
                // Deleted between the status and the stop: nothing left to stop.
                Some(Err(e)) if e.is_not_found() => {}
                Some(Err(e)) if fenced => {
                    let st = ctx.block_on(client.status(&name)).map_err(Error::from)?;
                    ctx.reporter.warn(&format!(
                        "{role} connector `{name}` on `{cluster}` is {}: Connect did not take the {target} request ({}); the `replication-into-backup` fence in force on `{cluster}` may deny the mirror principal the transactional id a worker with exactly-once source support needs to write its config topic (see `kafka-dr fence status`): not confirmed {target}; the run goes on, and the fence keeps out whatever it still sends",
                        st.summary(),
                        common::first_line(&e.to_string())
                    ));
                    self.lingering.push(name.clone());
                    done.push(json!({
                        "role": role,
                        "name": name,
                        "state": st.summary(),
                        "confirmed": false,
                    }));
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
        for (role, name) in sent_to {
            let (st, confirmed) =
                self.wait(ctx, &client, &cluster, role, &name, target, started)?;
            if !confirmed {
                let why = if st.connector_state == target_connector_state(target) {
                    let tasks: Vec<String> = st
                        .tasks
                        .iter()
                        .map(|t| format!("{} {}", t.id, t.state))
                        .collect();
                    format!(
                        "is {target} but its task(s) {} had not shut down after {}s",
                        tasks.join(", "),
                        self.task_wait.as_secs()
                    )
                } else {
                    format!(
                        "did not confirm the request within {}s and is {}",
                        self.task_wait.as_secs(),
                        st.summary()
                    )
                };
                ctx.reporter.warn(&format!(
                    "{role} connector `{name}` on `{cluster}` {why} (a task blocked on an unreachable cluster keeps Connect busy for `task.shutdown.graceful.timeout.ms`, 5 s by default): not confirmed {target}; the run goes on, and the fence keeps out whatever it still sends"
                ));
                self.lingering.push(name.clone());
            }
            done.push(json!({
                "role": role,
                "name": name,
                "state": st.summary(),
                "confirmed": confirmed,
            }));
        }
        Ok(json!({
            "flow": self.flow,
            "cluster": cluster,
            "url": client.url(),
            "state": target,
            "connectors": done,
            "not_confirmed": self.lingering,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        if super::mirror_dedicated::flow_of(ctx.topology, self.flow).is_some() {
            // The hook ran in apply (and its verify_argv with it); on a resume without
            // apply it is run again, as hooks must be idempotent.
            return Ok(if self.unreachable.is_some() || self.hook_done {
                Verdict::Done
            } else {
                Verdict::NotDone("the stop hook has not run in this process".into())
            });
        }
        let (connectors, cluster) = self.placement(ctx)?;
        let client = match client_for(ctx.topology, &cluster, self.timeout)? {
            Ok(c) => c,
            Err(_) => return Ok(Verdict::Done),
        };
        let target = match ctx.block_on(wanted_state(&client)) {
            Ok((t, _)) => t,
            Err(ConnectError::Unreachable { detail, .. }) => {
                if self.unreachable.is_none() {
                    ctx.reporter.warn(&unreachable_note(
                        self.flow,
                        &cluster,
                        Some(client.url()),
                        &detail,
                    ));
                }
                return Ok(Verdict::Done);
            }
            Err(e) => return Err(e.into()),
        };
        let mut not = Vec::new();
        for (role, name) in connector_list(&connectors) {
            match ctx.block_on(client.status_if_exists(&name))? {
                // Reported by apply as not confirmed: the fence, not the stop, is what
                // keeps it out from here on.
                Some(_) if self.lingering.contains(&name) => {}
                Some(s) if !s.is_in(target) => {
                    not.push(format!("  {role} connector `{name}`: {}", s.summary()))
                }
                _ => {}
            }
        }
        if !not.is_empty() {
            return Ok(Verdict::NotDone(format!(
                "the {} flow's connectors on Connect `{}` (cluster `{cluster}`) are not all {target}:\n{}\nhelp: re-run the step; if a connector keeps running, check the worker's log",
                self.flow,
                client.url(),
                not.join("\n")
            )));
        }
        Ok(Verdict::Done)
    }
}

impl Stop {
    /// Dedicated mode: run the stop hook; a failure is reported, not fatal.
    fn apply_dedicated(
        &mut self,
        ctx: &mut StepContext<'_>,
        hook: &crate::topology::Hook,
    ) -> Result<serde_json::Value, Error> {
        let (_, into) = self.flow.placement(ctx.topology);
        let into = into.to_string();
        let command = super::exec::Exec::from_hook(hook).command();
        match super::mirror_dedicated::run_hook(ctx, hook) {
            Ok(out) => {
                self.hook_done = true;
                Ok(json!({
                    "flow": self.flow,
                    "mode": "dedicated",
                    "cluster": into,
                    "confirmed": true,
                    "hook": out,
                }))
            }
            Err(Error::Action(ActionError::Interrupted { during })) => {
                Err(ActionError::Interrupted { during }.into())
            }
            Err(e) => {
                let note = format!(
                    "the {} flow's MM2 (dedicated mode, writing into `{into}`) is not confirmed stopped: its stop hook `{command}` failed: {}; the run goes on, and the fence keeps out whatever it still sends",
                    self.flow,
                    common::first_line(&e.to_string())
                );
                ctx.reporter.warn(&note);
                self.unreachable = Some(note.clone());
                Ok(json!({
                    "flow": self.flow,
                    "mode": "dedicated",
                    "cluster": into,
                    "confirmed": false,
                    "note": note,
                }))
            }
        }
    }

    /// Connect does not answer: say so and succeed.
    fn gone(
        &mut self,
        ctx: &StepContext<'_>,
        cluster: &str,
        url: Option<&str>,
        why: String,
    ) -> serde_json::Value {
        let note = unreachable_note(self.flow, cluster, url, &why);
        ctx.reporter.warn(&note);
        self.unreachable = Some(note.clone());
        json!({"flow": self.flow, "cluster": cluster, "reachable": false, "note": note})
    }

    /// Poll until `name` is in `target`, with progress; Ctrl-C stops the wait. Returns
    /// its status and whether it was confirmed in `target`. When the flow's source is
    /// down (`bounded`), a connector not confirmed `task_wait` after the stop requests
    /// were sent (its tasks linger, or Connect did not get to the request) is returned
    /// unconfirmed.
    #[allow(clippy::too_many_arguments)]
    fn wait(
        &self,
        ctx: &StepContext<'_>,
        client: &ConnectClient,
        cluster: &str,
        role: &str,
        name: &str,
        target: TargetState,
        started: Instant,
    ) -> Result<(ConnectorStatus, bool), Error> {
        let progress = ctx.reporter.progress(
            "Stopping",
            &format!("{role} connector `{name}` on `{cluster}`"),
            None,
            "",
        );
        loop {
            let st = ctx.block_on(client.status(name)).map_err(Error::from)?;
            let summary = st.summary();
            progress.set(
                0,
                Some(&format!(
                    "{role} connector `{name}` on `{cluster}`: {summary}"
                )),
            );
            if st.is_in(target) {
                drop(progress);
                ctx.reporter.status(
                    "Stopped",
                    &format!(
                        "{role} connector `{name}` on `{cluster}`: {summary} ({})",
                        crate::human::duration(started.elapsed())
                    ),
                );
                return Ok((st, true));
            }
            if self.bounded && started.elapsed() >= self.task_wait {
                return Ok((st, false));
            }
            if started.elapsed() >= self.timeout {
                return Err(ConnectError::WaitTimeout {
                    cluster: cluster.into(),
                    url: client.url().into(),
                    connector: name.to_string(),
                    wanted: target,
                    waited: started.elapsed(),
                    last: Some(Box::new(st)),
                }
                .into());
            }
            if ctx.is_interrupted() {
                return Err(ActionError::Interrupted {
                    during: format!("waiting for connector `{name}` on `{cluster}` to be {target}"),
                }
                .into());
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Runs the futures concurrently on the current task and returns their outputs in order
/// (a handful of REST calls: no need for a task per call).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// The connector state (not counting tasks) a connector in `target` has.
fn target_connector_state(target: TargetState) -> ConnectorState {
    match target {
        TargetState::Running => ConnectorState::Running,
        TargetState::Paused => ConnectorState::Paused,
        TargetState::Stopped => ConnectorState::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};
    use crate::topology::Topology;
    use std::path::Path;

    #[test]
    fn params() {
        let s = Stop::new(&step("s", STOP, serde_json::Value::Null)).unwrap();
        assert_eq!(s.flow, Flow::Forward);
        assert_eq!(s.timeout, Duration::from_secs(120));
        let e = Stop::new(&step("s", STOP, json!({"flow": "sideways"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown flow `sideways`"), "{e}");
        assert!(e.contains("help:"), "{e}");
        assert_eq!(
            Stop::new(&step("s", STOP, json!({"flow": "reverse"})))
                .unwrap()
                .flow,
            Flow::Reverse
        );
    }

    #[test]
    fn placement_is_the_topology_s() {
        let t = Topology::lab_example();
        let (c, cluster) = Flow::Forward.placement(&t);
        assert_eq!(cluster, "dc2");
        assert_eq!(c, &t.replication.forward_connectors);
        let (c, cluster) = Flow::Reverse.placement(&t);
        assert_eq!(cluster, "dc1");
        assert_eq!(c, &t.replication.reverse_connectors);
    }

    /// A fixture whose runtime drives I/O from `Handle::block_on` (a current-thread
    /// runtime only does so inside `Runtime::block_on`).
    fn io_fixture() -> Fixture {
        let mut f = Fixture::new();
        f.runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        f
    }

    #[test]
    fn unreachable_connect_is_a_note_and_the_step_succeeds() {
        let mut f = io_fixture();
        f.topology.clusters.get_mut("dc2").unwrap().connect = Some("http://127.0.0.1:1".into());
        let mut ctx = f.ctx("stop");
        let mut s = Stop::new(&step("stop", STOP, json!({"timeout_seconds": 2}))).unwrap();
        let plan = s.plan(&mut ctx).unwrap();
        assert!(plan.is_noop(), "{plan:?}");
        assert!(
            plan.notes[0].contains("Connect for `dc2` at `http://127.0.0.1:1` is unreachable"),
            "{plan:?}"
        );
        assert!(
            plan.notes[0].contains("the ACL fence is what keeps replication out"),
            "{plan:?}"
        );
        let out = s.apply(&mut ctx, &plan).unwrap();
        assert_eq!(out["reachable"], json!(false));
        assert_eq!(s.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
        let st = status(
            &f.topology,
            &f.journal,
            Flow::Forward,
            f.runtime.handle(),
            Duration::from_secs(2),
        )
        .unwrap();
        assert!(st.unreachable.is_some());
        assert!(st.connectors.is_empty());
    }

    #[test]
    fn no_connect_url_is_a_note_too() {
        let mut f = io_fixture();
        f.topology.clusters.get_mut("dc1").unwrap().connect = None;
        let mut ctx = f.ctx("stop");
        let mut s = Stop::new(&step("stop", STOP, json!({"flow": "reverse"}))).unwrap();
        let plan = s.plan(&mut ctx).unwrap();
        assert!(plan.is_noop());
        assert!(
            plan.notes[0].contains("names no `connect` URL for `dc1`"),
            "{plan:?}"
        );
        assert_eq!(s.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
    }

    /// A Fixture whose topology runs MM2 in dedicated mode, the forward flow stopped by
    /// `stop` (a shell script).
    fn dedicated_fixture(stop: &str) -> Fixture {
        let mut f = Fixture::new();
        let text = crate::topology::LAB_EXAMPLE.replace(
            "  topics:",
            &format!(
                "  mirror_maker:\n    mode: dedicated\n    forward:\n      stop: {{argv: [sh, -c, {}], timeout_seconds: 5}}\n      start: {{argv: [\"true\"]}}\n    reverse:\n      stop: {{argv: [\"true\"]}}\n      start: {{argv: [\"true\"]}}\n  topics:",
                serde_json::Value::String(stop.into())
            ),
        );
        f.topology = Topology::from_str(&text, Path::new("t.yaml")).unwrap();
        f
    }

    #[test]
    fn dedicated_mode_runs_the_stop_hook() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("stopped");
        let f = dedicated_fixture(&format!("echo \"$KAFKA_DR_STEP_ID\" > {}", mark.display()));
        let mut ctx = f.ctx("stop-forward");
        let mut s = Stop::new(&step("stop-forward", STOP, json!({"flow": "forward"}))).unwrap();
        let plan = s.plan(&mut ctx).unwrap();
        assert!(
            plan.changes[0].contains("stop the forward flow's MM2 (dc1 -> dc2, dedicated mode)")
                && plan.changes[0].contains("killed after 5s"),
            "{plan:?}"
        );
        assert!(!mark.exists(), "the plan ran the hook");
        let out = s.apply(&mut ctx, &plan).unwrap();
        assert_eq!(out["confirmed"], true, "{out}");
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "stop-forward\n");
        assert_eq!(s.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
    }

    #[test]
    fn a_failing_stop_hook_is_reported_and_the_run_goes_on() {
        let f = dedicated_fixture("echo 'mm2 host unreachable' >&2; exit 3");
        let mut ctx = f.ctx("stop-forward");
        let mut s = Stop::new(&step("stop-forward", STOP, json!({"flow": "forward"}))).unwrap();
        let plan = s.plan(&mut ctx).unwrap();
        let out = s.apply(&mut ctx, &plan).unwrap();
        assert_eq!(out["confirmed"], false, "{out}");
        let note = out["note"].as_str().unwrap();
        assert!(
            note.contains("not confirmed stopped")
                && note.contains("exit")
                && note.contains("fence"),
            "{note}"
        );
        // Nothing to wait for: the fence is what keeps the flow out now.
        assert_eq!(s.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
        // A resumed run that did not apply runs the hook again.
        let mut fresh = Stop::new(&step("stop-forward", STOP, json!({"flow": "forward"}))).unwrap();
        assert!(matches!(
            fresh.verify(&mut ctx, &plan).unwrap(),
            Verdict::NotDone(_)
        ));
    }
}
