//! `tail.deliver` (params `find_step`, `quarantine_step`, `timeout_seconds`): the prefix
//! shape's other answer to the old primary's unreplicated tail. Instead of removing it,
//! deliver it late: append each committed tail record, from the verified quarantine, to
//! the replica topic on the new primary (`<old>.<topic>` with DefaultReplicationPolicy),
//! in the same partition and order, with its key, value, headers and timestamp, right
//! after what MM2 had copied before the promotion. The consumer groups that failover
//! moved onto that replica read it next, once.
//!
//! Only the prefix policy allows this: with identity names the new primary's topic holds
//! the applications' own records past the cut, and the reverse flow would copy the
//! delivered tail back onto the old primary, which still holds it.
//!
//! Idempotent without marking the records: after the promotion nothing writes into the
//! replica (the replication fence holds MM2 off it), so what the replica holds past the
//! promotion cut must be a prefix of the tail (an earlier attempt's work), and only the
//! rest is produced. Anything else there is refused by name, before any write. It reads
//! the old primary not at all and writes only to the new primary's replica topics.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::quarantine_file::{self, io_err, parse_line, Manifest};
use super::tail_find::{load_tail, PartitionTail, TailReport};
use super::{common, tail_quarantine};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::{KafkaClient, ProduceRecord, Record};
use crate::runbook::StepDef;
use crate::topology::Policy;

/// The runbook name of the action.
pub const NAME: &str = "tail.deliver";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    find_step: String,
    quarantine_step: String,
    timeout_seconds: u64,
}

/// The `tail.deliver` action.
#[derive(Debug)]
pub struct Deliver {
    find_step: String,
    quarantine_step: String,
    timeout: Duration,
}

/// What a record is, for "is this the same record": what MM2 copies and a consumer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Content {
    fn of(r: &Record) -> Content {
        Content {
            timestamp_ms: r.timestamp_ms,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        }
    }
}

/// How much of `tail` the replica already holds past the cut (`already`, in offset
/// order): the length of the prefix of `tail` that `already` is. `Err(i)`: `already[i]`
/// is not the tail's record `i` (or `already` is longer than the tail): something else
/// wrote into the replica, and delivering would interleave with it.
pub fn delivered_prefix(already: &[Content], tail: &[Content]) -> Result<usize, usize> {
    for (i, a) in already.iter().enumerate() {
        if tail.get(i) != Some(a) {
            return Err(i);
        }
    }
    Ok(already.len())
}

/// One partition's delivery (plan detail and step output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDelivery {
    /// The topic on the old primary.
    pub topic: String,
    pub partition: i32,
    /// The replica on the new primary that receives the tail.
    pub target_topic: String,
    /// Where the replica ended at the promotion: the first delivered record lands here.
    pub from_offset: i64,
    /// Committed tail records to deliver (aborted and open ones never are).
    pub records: usize,
    /// Of those, already in the replica (an earlier attempt).
    pub already: usize,
}

struct Survey {
    tail: TailReport,
    /// Per partition: the delivery and the records still to produce.
    work: Vec<(PartitionDelivery, Vec<Record>)>,
    /// `--dry-run` before the quarantine exists: the records are stand-ins (offsets only).
    estimated: bool,
}

impl Deliver {
    pub fn new(step: &StepDef) -> Result<Deliver, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Deliver {
            find_step: p.find_step,
            quarantine_step: p.quarantine_step,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// This run's verified quarantine (the records are delivered from it, so what reaches
    /// the new primary is exactly what was checked).
    fn quarantine(&self, ctx: &StepContext<'_>, tail: &TailReport) -> Result<Manifest, Error> {
        let refuse = |why: String| {
            Error::Io(format!(
                "step `{}` ({NAME}): nothing is delivered to `{}`: {why}\nhelp: run the `{}` step first (resume the run)",
                ctx.step_id,
                tail.new_primary,
                tail_quarantine::QUARANTINE
            ))
        };
        quarantine_file::verified_quarantine(
            ctx.journal,
            ctx.run_id,
            &self.quarantine_step,
            tail,
            refuse,
        )
    }

    fn survey(&self, ctx: &StepContext<'_>) -> Result<Survey, Error> {
        if ctx.topology.replication.policy != Policy::Prefix {
            return Err(Error::Usage(format!(
                "step `{}` ({NAME}): topology `{}` has `policy: {}`: the new primary's topics carry the old primary's names, and the reverse flow would copy a delivered tail back onto the old primary, which still holds it\nhelp: quarantine and remove the tail instead (the default `kafka-dr failback reverse`, without `--tail deliver`)",
                ctx.step_id,
                ctx.topology.name,
                ctx.topology.replication.policy.as_str()
            )));
        }
        let tail = load_tail(ctx, &self.find_step, NAME)?;
        let client = common::kafka(ctx.topology, &tail.new_primary, self.timeout)?;
        if ctx.dry_run && !tail.partitions.iter().any(|p| p.has_tail()) {
            return Ok(Survey {
                tail,
                work: Vec::new(),
                estimated: false,
            });
        }
        let records = match self.quarantine(ctx, &tail) {
            Ok(manifest) => Some(read_committed_lines(&manifest)?),
            // Under --dry-run the quarantine step only planned: size the delivery from
            // the tail found (its offsets), and say so.
            Err(_) if ctx.dry_run => None,
            Err(e) => return Err(e),
        };
        let mut work = Vec::new();
        for p in tail.partitions.iter().filter(|p| p.has_tail()) {
            let item = match &records {
                Some(records) => {
                    let want: Vec<Record> = records
                        .get(&(p.topic.clone(), p.partition))
                        .cloned()
                        .unwrap_or_default();
                    self.partition(ctx, &client, &tail, p, want)?
                }
                None => self.estimate(&client, p)?,
            };
            work.push(item);
        }
        Ok(Survey {
            tail,
            work,
            estimated: records.is_none(),
        })
    }

    /// `--dry-run` before the quarantine exists: the tail's offsets stand for its records.
    fn estimate(
        &self,
        client: &KafkaClient,
        p: &PartitionTail,
    ) -> Result<(PartitionDelivery, Vec<Record>), Error> {
        let from = p.new_primary_end.unwrap_or(0);
        let already = match p.new_primary_end {
            Some(from) => client
                .read_records(
                    &p.new_primary_topic,
                    p.partition,
                    from,
                    i64::MAX,
                    self.timeout,
                )?
                .len(),
            None => 0,
        };
        let records = usize::try_from(p.tail_count).unwrap_or(0);
        let stand_in = (p.tail_start()..p.log_end)
            .skip(already)
            .map(|offset| Record {
                topic: p.topic.clone(),
                partition: p.partition,
                offset,
                timestamp_ms: -1,
                timestamp_type: crate::kafka::TimestampType::CreateTime,
                key: None,
                value: None,
                headers: Vec::new(),
            })
            .collect();
        Ok((
            PartitionDelivery {
                topic: p.topic.clone(),
                partition: p.partition,
                target_topic: p.new_primary_topic.clone(),
                from_offset: from,
                records,
                already,
            },
            stand_in,
        ))
    }

    /// What the replica holds past the cut, checked against the tail; the records still
    /// to produce.
    fn partition(
        &self,
        ctx: &StepContext<'_>,
        client: &KafkaClient,
        tail: &TailReport,
        p: &PartitionTail,
        want: Vec<Record>,
    ) -> Result<(PartitionDelivery, Vec<Record>), Error> {
        let target = &p.new_primary_topic;
        let Some(from) = p.new_primary_end else {
            return Err(Error::Io(format!(
                "step `{}` ({NAME}): `{target}`[{}] did not exist on `{}` at the promotion, so there is no replica to deliver the tail of `{}`[{}] into\nhelp: quarantine and remove this tail instead (`kafka-dr failback reverse` without `--tail deliver`)",
                ctx.step_id, p.partition, tail.new_primary, p.topic, p.partition
            )));
        };
        let already = client.read_records(target, p.partition, from, i64::MAX, self.timeout)?;
        let have: Vec<Content> = already.iter().map(Content::of).collect();
        let tail_content: Vec<Content> = want.iter().map(Content::of).collect();
        let done = delivered_prefix(&have, &tail_content).map_err(|i| {
            Error::Io(format!(
                "step `{}` ({NAME}): `{target}`[{}] on `{}` holds a record at offset {} past the promotion cut ({from}) that is not the tail's record {} from `{}`[{}]: something other than this step wrote into the replica, and delivering now would interleave with it; nothing was written\nhelp: find out who writes into `{target}` on `{}` (the replication fence should keep MM2 off it), or quarantine and remove the tail instead",
                ctx.step_id,
                p.partition,
                tail.new_primary,
                already[i].offset,
                i,
                tail.old_primary,
                p.topic,
                tail.new_primary
            ))
        })?;
        let delivery = PartitionDelivery {
            topic: p.topic.clone(),
            partition: p.partition,
            target_topic: target.clone(),
            from_offset: from,
            records: want.len(),
            already: done,
        };
        Ok((delivery, want.into_iter().skip(done).collect()))
    }
}

/// The committed records of a verified quarantine file, by (topic, partition), in offset
/// order. Aborted and open transactions' records were never seen by read_committed
/// consumers: delivering them would publish what was never committed.
fn read_committed_lines(
    manifest: &Manifest,
) -> Result<BTreeMap<(String, i32), Vec<Record>>, Error> {
    let path = Path::new(&manifest.file);
    let file = File::open(path).map_err(|e| io_err("open", path, e))?;
    let mut out: BTreeMap<(String, i32), Vec<Record>> = BTreeMap::new();
    for (i, line) in BufReader::with_capacity(1 << 20, file)
        .split(b'\n')
        .enumerate()
    {
        let line = line.map_err(|e| io_err("read", path, e))?;
        let (r, transaction) = parse_line(&line)
            .map_err(|e| Error::Io(format!("`{}` line {}: {e}", path.display(), i + 1)))?;
        if transaction.is_some_and(|t| !t.replayable()) {
            continue;
        }
        out.entry((r.topic.clone(), r.partition))
            .or_default()
            .push(r);
    }
    for v in out.values_mut() {
        v.sort_by_key(|r| r.offset);
    }
    Ok(out)
}

fn detail(s: &Survey) -> serde_json::Value {
    let parts: Vec<&PartitionDelivery> = s.work.iter().map(|(d, _)| d).collect();
    json!({
        "old_primary": s.tail.old_primary,
        "new_primary": s.tail.new_primary,
        "records": parts.iter().map(|d| d.records).sum::<usize>(),
        "already": parts.iter().map(|d| d.already).sum::<usize>(),
        "partitions": parts,
    })
}

impl Action for Deliver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let s = self.survey(ctx)?;
        let mut plan = Plan::default();
        for (d, rest) in &s.work {
            if rest.is_empty() {
                plan.notes.push(format!(
                    "`{}`[{}] on `{}` already holds the {} tail record(s) of `{}`[{}]",
                    d.target_topic,
                    d.partition,
                    s.tail.new_primary,
                    d.records,
                    d.topic,
                    d.partition
                ));
            } else {
                plan.changes.push(format!(
                    "`{}`: append {} tail record(s) of `{}`[{}] (offsets {}..={} on `{}`) to `{}`[{}] from offset {} (late delivery{})",
                    s.tail.new_primary,
                    rest.len(),
                    d.topic,
                    d.partition,
                    rest[0].offset,
                    rest[rest.len() - 1].offset,
                    s.tail.old_primary,
                    d.target_topic,
                    d.partition,
                    d.from_offset + d.already as i64,
                    if d.already > 0 {
                        format!("; {} already there", d.already)
                    } else {
                        String::new()
                    }
                ));
            }
        }
        if s.estimated {
            plan.notes.push(format!(
                "under --dry-run the quarantine of step `{}` does not exist yet: the records are delivered from it once it verifies (aborted or open transactions' records never are)",
                self.quarantine_step
            ));
        }
        if s.work.is_empty() {
            plan.notes.push(format!(
                "`{}` has no tail: nothing to deliver",
                s.tail.old_primary
            ));
        }
        plan.detail = detail(&s);
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let s = self.survey(ctx)?;
        let client = common::kafka(ctx.topology, &s.tail.new_primary, self.timeout)?;
        let mut produced = 0usize;
        for (d, rest) in &s.work {
            if rest.is_empty() {
                continue;
            }
            // One partition at a time and in offset order, so that the replica keeps the
            // old primary's order.
            let batch: Vec<ProduceRecord> = rest
                .iter()
                .map(|r| ProduceRecord {
                    partition: Some(d.partition),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                    timestamp_ms: (r.timestamp_ms >= 0).then_some(r.timestamp_ms),
                })
                .collect();
            for chunk in batch.chunks(1000) {
                client.produce(&d.target_topic, chunk, self.timeout)?;
            }
            produced += rest.len();
            ctx.reporter.status(
                "Delivered",
                &format!(
                    "{} tail record(s) of `{}`[{}] to `{}`[{}] on `{}`",
                    rest.len(),
                    d.topic,
                    d.partition,
                    d.target_topic,
                    d.partition,
                    s.tail.new_primary
                ),
            );
        }
        let mut out = detail(&s);
        out["produced"] = json!(produced);
        Ok(out)
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let s = self.survey(ctx)?;
        let missing: Vec<String> = s
            .work
            .iter()
            .filter(|(_, rest)| !rest.is_empty())
            .map(|(d, rest)| {
                format!(
                    "{} of `{}`[{}] not in `{}`[{}]",
                    rest.len(),
                    d.topic,
                    d.partition,
                    d.target_topic,
                    d.partition
                )
            })
            .collect();
        if missing.is_empty() {
            Ok(Verdict::Done)
        } else {
            Ok(Verdict::NotDone(format!(
                "tail record(s) not delivered: {}",
                missing.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(n: u8) -> Content {
        Content {
            timestamp_ms: i64::from(n),
            key: Some(vec![n]),
            value: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn what_is_already_delivered() {
        let tail: Vec<Content> = (0..4).map(c).collect();
        assert_eq!(delivered_prefix(&[], &tail), Ok(0));
        assert_eq!(delivered_prefix(&tail[..2], &tail), Ok(2));
        assert_eq!(delivered_prefix(&tail, &tail), Ok(4));
        // Someone else's record, or one out of order: refused at its index.
        assert_eq!(delivered_prefix(&[c(0), c(9)], &tail), Err(1));
        assert_eq!(delivered_prefix(&[c(1)], &tail), Err(0));
        // More than the tail: the extra one is not ours.
        let mut more = tail.clone();
        more.push(c(4));
        assert_eq!(delivered_prefix(&more, &tail), Err(4));
    }

    proptest! {
        /// Delivering the rest after any prefix gives exactly the tail, once: never a
        /// record twice, never one left out.
        #[test]
        fn prefix_then_rest_is_the_tail(n in 0usize..20, k in 0usize..20) {
            let tail: Vec<Content> = (0..n as u8).map(c).collect();
            let k = k.min(n);
            let done = delivered_prefix(&tail[..k], &tail).unwrap();
            prop_assert_eq!(done, k);
            let mut replica = tail[..k].to_vec();
            replica.extend(tail.iter().skip(done).cloned());
            prop_assert_eq!(replica, tail);
        }

        /// A replica past the cut that is not a prefix of the tail is always refused.
        #[test]
        fn foreign_records_are_refused(n in 1usize..20, at in 0usize..20) {
            let tail: Vec<Content> = (0..n as u8).map(c).collect();
            let at = at.min(n - 1);
            let mut replica = tail[..at].to_vec();
            replica.push(c(200));
            prop_assert_eq!(delivered_prefix(&replica, &tail), Err(at));
        }
    }
}
