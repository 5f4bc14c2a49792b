//! Turning runbook YAML into a validated `Runbook`, and checking it against a topology.
//!
//! Like the topology loader, the YAML is walked by hand so each error names the file, line,
//! column and field (`steps[2].params.clusters[1]`) and suggests the likely intended name.
//! Parameters are typed against the catalog and defaults are filled in, so actions get
//! complete `params`. Cluster names are only checked for shape here; whether they exist is
//! `validate_against`'s job, since a runbook can be loaded without a topology.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use serde_yaml::{Mapping, Value};

use super::catalog::{self, ActionSpec, ItemRef, ParamKind, ParamSpec};
use super::{checksum, Runbook, RunbookError, StepDef};
use crate::topology::Topology;
use crate::yamlpos::{self, describe, list, suggest, Doc, Seg};

type R<T> = Result<T, RunbookError>;

const TOP_KEYS: &[&str] = &["name", "description", "steps"];
const STEP_KEYS: &[&str] = &["id", "action", "params"];

pub(super) fn build(text: &str, source: &str) -> R<Runbook> {
    let doc = Doc { text, source };
    let v = Walker { doc };
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| RunbookError::Syntax(doc.syntax(&e)))?;
    let root = match value {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(v.err(
                doc.at_key(&[], "the runbook is empty")
                    .with_help("a runbook needs `name` and a list of `steps`"),
            ))
        }
        other => {
            return Err(v.err(doc.at_key(
                &[],
                format!(
                    "expected a mapping at the top level, found {}",
                    describe(&other)
                ),
            )))
        }
    };
    doc.check_keys(&[], &root, TOP_KEYS)
        .map_err(RunbookError::Invalid)?;

    let name = match root.get("name") {
        Some(val) => v.string(&crate::ypath!["name"], val)?,
        None => return Err(v.err(doc.at_key(&[], "missing required key `name` at the top level"))),
    };
    if !valid_id(&name) {
        return Err(v.err(
            doc.at_value(
                &crate::ypath!["name"],
                format!("`{name}` is not a valid runbook name"),
            )
            .with_help("use lower-case letters, digits and `-`, starting with a letter or digit"),
        ));
    }
    let description = match root.get("description") {
        None | Some(Value::Null) => None,
        Some(val) => Some(v.string(&crate::ypath!["description"], val)?),
    };

    let steps_path = crate::ypath!["steps"];
    let Some(steps_val) = root.get("steps") else {
        return Err(v.err(
            doc.at_key(&[], "missing required key `steps` at the top level")
                .with_help("add `steps:` with at least one `- id: ... action: ...`"),
        ));
    };
    let items = match steps_val {
        Value::Sequence(s) => s,
        Value::Null => &Vec::new(),
        other => {
            return Err(v.err(doc.at_value(
                &steps_path,
                format!("expected a list of steps, found {}", describe(other)),
            )))
        }
    };
    if items.is_empty() {
        return Err(v.err(
            doc.at_key(&steps_path, "the runbook has no steps")
                .with_help("add at least one `- id: ... action: ...`"),
        ));
    }

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut steps = Vec::with_capacity(items.len());
    // Every step's position in one pass over the text: locating each step on its own
    // re-reads the text from the top, which made an 8,000-step runbook take 17 s.
    let item_locations = yamlpos::locate_items(text, &steps_path);
    for (i, item) in items.iter().enumerate() {
        let spath = crate::ypath!["steps", i];
        let map = match item {
            Value::Mapping(m) => m,
            other => {
                return Err(v.err(
                    doc.at_value(
                        &spath,
                        format!("expected a step (a mapping), found {}", describe(other)),
                    )
                    .with_help("write each step as `- id: <id>` followed by `action: <action>`"),
                ))
            }
        };
        doc.check_keys(&spath, map, STEP_KEYS)
            .map_err(RunbookError::Invalid)?;
        let id = match map.get("id") {
            Some(val) => v.string(&child(&spath, "id"), val)?,
            None => return Err(v.err(doc.at_key(&spath, "missing required key `id`"))),
        };
        let id_path = child(&spath, "id");
        if !valid_id(&id) {
            return Err(v.err(
                doc.at_value(&id_path, format!("`{id}` is not a valid step id"))
                    .with_help("use lower-case letters, digits and `-`, starting with a letter or digit (e.g. `fence-mirror`)"),
            ));
        }
        if let Some(&first) = seen.get(&id) {
            let first_at = yamlpos::locate_value(text, &crate::ypath!["steps", first, "id"]);
            return Err(v.err(
                doc.at_value(
                    &id_path,
                    format!(
                        "duplicate step id `{id}`: already used by step {} at line {}",
                        first + 1,
                        first_at.line
                    ),
                )
                .with_help("step ids must be unique within a runbook; rename one of them"),
            ));
        }
        seen.insert(id.clone(), i);

        let action_path = child(&spath, "action");
        let action = match map.get("action") {
            Some(val) => v.string(&action_path, val)?,
            None => {
                return Err(v.err(
                    doc.at_key(&spath, format!("step `{id}` has no `action`"))
                        .with_help(format!("known actions: {}", list(catalog::names()))),
                ))
            }
        };
        let Some(spec) = catalog::action(&action) else {
            let help = match suggest(&action, catalog::names()) {
                Some(s) => format!(
                    "did you mean `{s}`? known actions: {}",
                    list(catalog::names())
                ),
                None => format!("known actions: {}", list(catalog::names())),
            };
            return Err(v.err(
                doc.at_value(&action_path, format!("unknown action `{action}`"))
                    .with_help(help),
            ));
        };
        let params = v.params(&spath, map.get("params"), spec)?;
        steps.push(StepDef {
            id,
            action,
            params,
            location: item_locations
                .as_ref()
                .and_then(|l| l.get(i).copied())
                .unwrap_or_else(|| yamlpos::locate(text, &spath)),
        });
    }
    check_step_refs(&doc, &steps)?;
    check_seed_strategy(&doc, &steps)?;

    Ok(Runbook {
        name,
        source: source.to_string(),
        text: text.to_string(),
        checksum: checksum(text),
        description,
        steps,
    })
}

/// Every `ParamKind::Step` parameter names an EARLIER step running the expected action:
/// a misspelt, missing or later step would otherwise fail only when its reader runs, after
/// the steps before it changed the clusters.
fn check_step_refs(doc: &Doc<'_>, steps: &[StepDef]) -> R<()> {
    let index: BTreeMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for (i, step) in steps.iter().enumerate() {
        let Some(spec) = catalog::action(&step.action) else {
            continue;
        };
        for p in spec.params {
            let ParamKind::Step(wanted) = p.kind else {
                continue;
            };
            // `truncate` with `no_quarantine: true` deletes without reading a quarantine.
            if p.name == "quarantine_step"
                && step.params.get("no_quarantine") == Some(&Json::Bool(true))
            {
                continue;
            }
            let Some(target) = step.params.get(p.name).and_then(Json::as_str) else {
                continue;
            };
            let at = crate::ypath!["steps", i, "params", p.name];
            let earlier: Vec<&str> = steps[..i]
                .iter()
                .filter(|s| s.action == wanted)
                .map(|s| s.id.as_str())
                .collect();
            let help = match (earlier.as_slice(), suggest(target, earlier.iter().copied())) {
                (_, Some(s)) => format!("did you mean `{s}`?"),
                ([], None) => format!(
                    "add a `{wanted}` step before step `{}`, and set `{}` to its id",
                    step.id, p.name
                ),
                (ids, None) => format!(
                    "the earlier `{wanted}` steps are: {}",
                    list(ids.iter().copied())
                ),
            };
            let problem = match index.get(target) {
                None => format!(
                    "step `{}` names step `{target}` in `{}`, but the runbook has no step `{target}`",
                    step.id, p.name
                ),
                Some(&j) if j >= i => format!(
                    "step `{}` names step `{target}` in `{}`, which does not come before it (step {} of {})",
                    step.id,
                    p.name,
                    j + 1,
                    steps.len()
                ),
                Some(&j) if steps[j].action != wanted => format!(
                    "step `{}` names step `{target}` in `{}`, which is a `{}` step, not `{wanted}`",
                    step.id, p.name, steps[j].action
                ),
                Some(_) => continue,
            };
            return Err(RunbookError::Invalid(
                doc.at_value(&at, problem).with_help(help),
            ));
        }
    }
    Ok(())
}

/// A string parameter as the step will see it: given, or the catalog's default.
fn str_param<'a>(step: &'a StepDef, name: &str) -> Option<&'a str> {
    if let Some(v) = step.params.get(name) {
        return v.as_str();
    }
    match catalog::action(&step.action)?.param(name)?.presence {
        catalog::Presence::DefaultStr(d) => Some(d),
        _ => None,
    }
}

/// The seed strategy `mirror.seed` needs after a `truncate` step: `keep` leaves the tail
/// in place and, like `delete-records`, the reverse flow copies from the promotion cut;
/// `recreate` leaves empty topics that must get the whole history back.
pub(super) fn seed_strategy_for(truncate_strategy: &str) -> Option<&'static str> {
    match truncate_strategy {
        "delete-records" | "keep" => Some("delete-records"),
        "recreate" => Some("recreate"),
        _ => None,
    }
}

/// `mirror.seed`'s `strategy` agrees with every `truncate` step of the runbook: a seed
/// from the cut into recreated (empty) topics would lose the history before the cut, and
/// a seed from the earliest offset on top of a kept history would copy it all twice. Found
/// here, at load, before any step has changed a cluster.
fn check_seed_strategy(doc: &Doc<'_>, steps: &[StepDef]) -> R<()> {
    for (i, seed) in steps.iter().enumerate() {
        if seed.action != "mirror.seed" {
            continue;
        }
        let Some(seeds) = str_param(seed, "strategy") else {
            continue;
        };
        for truncate in steps.iter().filter(|s| s.action == "truncate") {
            let Some(t) = str_param(truncate, "strategy") else {
                continue;
            };
            let Some(wanted) = seed_strategy_for(t) else {
                continue;
            };
            if wanted == seeds {
                continue;
            }
            let consequence = if wanted == "recreate" {
                "copy only what came after the promotion into recreated (empty) topics"
            } else {
                "copy the whole history again on top of what the old primary kept"
            };
            let at = crate::ypath!["steps", i, "params", "strategy"];
            return Err(RunbookError::Invalid(
                doc.at_value(
                    &at,
                    format!(
                        "step `{}` (mirror.seed) seeds with strategy `{seeds}`, but step `{}` truncates with `{t}`: the reverse flow would {consequence}",
                        seed.id, truncate.id
                    ),
                )
                .with_help(format!("set `strategy: {wanted}` on step `{}`", seed.id)),
            ));
        }
    }
    Ok(())
}

fn child(path: &[Seg], seg: impl Into<Seg>) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg.into());
    p
}

/// The largest value a positive-integer parameter takes: a duration (`*_seconds`) at most
/// `limits::MAX_SECONDS`, so no deadline built from it can overflow; anything else fits an
/// `i64` (offsets, lags), so actions may convert it without a check.
fn max_int(p: &ParamSpec) -> u64 {
    if p.name.ends_with("_seconds") {
        crate::limits::MAX_SECONDS
    } else {
        i64::MAX as u64
    }
}

fn max_int_help(p: &ParamSpec) -> String {
    if p.name.ends_with("_seconds") {
        format!(
            "durations are at most {} seconds (one week)",
            crate::limits::MAX_SECONDS
        )
    } else {
        format!("`{}`: {}", p.name, p.doc)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: an environment variable name, safe to echo.
fn is_var_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[a-z0-9][a-z0-9-]*`: ids end up in journal rows, file names and command lines.
fn valid_id(s: &str) -> bool {
    let lower_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.chars().next().is_some_and(lower_digit) && s.chars().all(|c| lower_digit(c) || c == '-')
}

/// Cluster names as the topology allows them.
fn valid_cluster_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

struct Walker<'a> {
    doc: Doc<'a>,
}

impl Walker<'_> {
    fn err(&self, d: yamlpos::Diagnostic) -> RunbookError {
        RunbookError::Invalid(d)
    }

    fn string(&self, path: &[Seg], val: &Value) -> R<String> {
        match val {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::String(_) => Err(self.err(self.doc.at_key(path, "must not be empty"))),
            other => Err(self.err(self.doc.at_value(
                path,
                format!("expected a string, found {}", describe(other)),
            ))),
        }
    }

    fn params(&self, spath: &[Seg], val: Option<&Value>, spec: &ActionSpec) -> R<Json> {
        let ppath = child(spath, "params");
        let empty = Mapping::new();
        let given = match val {
            None | Some(Value::Null) => &empty,
            Some(Value::Mapping(m)) => m,
            Some(other) => {
                return Err(self.err(self.doc.at_value(
                    &ppath,
                    format!(
                        "expected a mapping of parameters, found {}",
                        describe(other)
                    ),
                )))
            }
        };
        let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
        for key in given.keys() {
            let Some(k) = key.as_str() else {
                return Err(self.err(self.doc.at_key(
                    &ppath,
                    format!("parameter names must be strings, found {}", describe(key)),
                )));
            };
            if spec.param(k).is_none() {
                let help = if names.is_empty() {
                    format!("`{}` takes no parameters", spec.name)
                } else {
                    match suggest(k, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("`{}` takes {}", spec.name, list(names.iter().copied())),
                    }
                };
                let d = self.doc.at_key(
                    &child(&ppath, k),
                    format!("unknown parameter `{k}` for action `{}`", spec.name),
                );
                return Err(self.err(yamlpos::Diagnostic {
                    field: yamlpos::path_to_string(&ppath),
                    ..d.with_help(help)
                }));
            }
        }
        let mut out = Map::new();
        for p in spec.params {
            let path = child(&ppath, p.name);
            match given.get(p.name) {
                Some(v) => {
                    out.insert(p.name.to_string(), self.param(&path, v, p)?);
                }
                None => {
                    if let Some(d) = p.presence.default_value() {
                        out.insert(p.name.to_string(), d);
                    } else if p.presence == catalog::Presence::Required {
                        let at = if val.is_some() {
                            ppath.clone()
                        } else {
                            spath.to_vec()
                        };
                        return Err(self.err(
                            self.doc
                                .at_key(
                                    &at,
                                    format!(
                                        "missing required parameter `{}` for action `{}`",
                                        p.name, spec.name
                                    ),
                                )
                                .with_help(format!(
                                    "`{}`: {} ({})",
                                    p.name,
                                    p.doc,
                                    p.kind.describe()
                                )),
                        ));
                    }
                }
            }
        }
        if let Some(check) = spec.check {
            if let Err(problem) = check(&out) {
                let mut at = child(&ppath, problem.param);
                match problem.item {
                    Some(ItemRef::Index(i)) => at.push(Seg::Index(i)),
                    Some(ItemRef::Key(k)) => at.push(Seg::Key(k)),
                    None => {}
                }
                let mut d = self.doc.at_value(&at, problem.message);
                d.help = problem.help;
                return Err(self.err(d));
            }
        }
        Ok(Json::Object(out))
    }

    /// Type one parameter value.
    fn param(&self, path: &[Seg], val: &Value, p: &ParamSpec) -> R<Json> {
        let wrong = |what: &Value| {
            let mut d = self.doc.at_value(
                path,
                format!("expected {}, found {}", p.kind.describe(), describe(what)),
            );
            let scalar = matches!(what, Value::Number(_) | Value::Bool(_));
            if scalar
                && matches!(
                    p.kind,
                    ParamKind::String | ParamKind::Cluster | ParamKind::Step(_)
                )
            {
                d = d.with_help("quote the value to make it a string");
            }
            if matches!(what, Value::String(_)) && p.kind == ParamKind::StringList {
                d = d.with_help("write a list, one item per word: `[\"/usr/bin/cmd\", \"--flag\", \"value\"]` (no shell splits it)");
            }
            if matches!(what, Value::String(_)) && p.kind == ParamKind::ClusterList {
                d = d.with_help("write a list: `[dc1, dc2]`");
            }
            self.err(d)
        };
        let empty = |what: &str| {
            self.err(
                self.doc
                    .at_value(path, format!("`{}` must not be {what}", p.name))
                    .with_help(format!("`{}`: {}", p.name, p.doc)),
            )
        };
        let json = match p.kind {
            ParamKind::String => match val {
                Value::String(s) => {
                    if p.non_empty && s.trim().is_empty() {
                        return Err(empty("empty"));
                    }
                    Json::from(s.clone())
                }
                other => return Err(wrong(other)),
            },
            ParamKind::PositiveInt => {
                match val {
                    Value::Number(n) => match n.as_u64() {
                        Some(u) if u > max_int(p) => {
                            return Err(self.err(
                                self.doc
                                    .at_value(
                                        path,
                                        format!(
                                            "`{}` must be at most {}, found `{u}`",
                                            p.name,
                                            max_int(p)
                                        ),
                                    )
                                    .with_help(max_int_help(p)),
                            ))
                        }
                        Some(u) if u >= 1 => Json::from(u),
                        _ => {
                            return Err(self.err(self.doc.at_value(
                                path,
                                format!("expected a positive integer, found `{n}`"),
                            )))
                        }
                    },
                    other => return Err(wrong(other)),
                }
            }
            ParamKind::Bool => match val {
                Value::Bool(b) => Json::Bool(*b),
                other => return Err(wrong(other)),
            },
            ParamKind::Cluster => Json::from(self.cluster_name(path, val)?),
            // Whether the step exists is checked once every step is read (`check_step_refs`).
            ParamKind::Step(_) => match val {
                Value::String(s) if !s.trim().is_empty() => Json::from(s.clone()),
                Value::String(_) => return Err(empty("empty")),
                other => return Err(wrong(other)),
            },
            ParamKind::StringList | ParamKind::ClusterList => {
                let Value::Sequence(items) = val else {
                    return Err(wrong(val));
                };
                if p.non_empty && items.is_empty() {
                    return Err(empty("an empty list"));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let ipath = child(path, i);
                    if p.kind == ParamKind::ClusterList {
                        out.push(Json::from(self.cluster_name(&ipath, item)?));
                        continue;
                    }
                    match item {
                        Value::String(s) => out.push(Json::from(s.clone())),
                        other => {
                            let mut d = self.doc.at_value(
                                &ipath,
                                format!("expected a string, found {}", describe(other)),
                            );
                            if matches!(other, Value::Number(_) | Value::Bool(_)) {
                                d = d.with_help("quote the value to make it a string");
                            }
                            return Err(self.err(d));
                        }
                    }
                }
                Json::Array(out)
            }
            ParamKind::StringMap => {
                let Value::Mapping(m) = val else {
                    return Err(wrong(val));
                };
                if p.non_empty && m.is_empty() {
                    return Err(empty("an empty mapping"));
                }
                let mut out = Map::new();
                for (k, item) in m {
                    let Some(key) = k.as_str() else {
                        return Err(self.err(self.doc.at_value(
                            path,
                            format!("keys must be strings, found {}", describe(k)),
                        )));
                    };
                    match item {
                        Value::String(s) => {
                            out.insert(key.to_string(), Json::from(s.clone()));
                        }
                        other => {
                            // The value is not echoed: `env` values may be sensitive. Nor
                            // is a key that is not a variable name: `TOKEN:!s3cret` (no
                            // space after the colon) is one key holding the value.
                            let mut d = if is_var_name(key) {
                                self.doc.at_value(
                                    &child(path, key),
                                    format!(
                                        "expected a string for `{key}`, found {}",
                                        describe(other)
                                    ),
                                )
                            } else {
                                let mut d = self.doc.at_value(
                                    path,
                                    format!(
                                        "a key of `{}` is not a variable name and has no string value (not shown: it may hold a value whose `: ` is missing)",
                                        p.name
                                    ),
                                );
                                d.location = yamlpos::locate(self.doc.text, &child(path, key));
                                d
                            };
                            if matches!(other, Value::Number(_) | Value::Bool(_)) {
                                d = d.with_help("quote the value to make it a string");
                            }
                            return Err(self.err(d));
                        }
                    }
                }
                Json::Object(out)
            }
        };
        Ok(json)
    }

    fn cluster_name(&self, path: &[Seg], val: &Value) -> R<String> {
        match val {
            Value::String(s) if valid_cluster_name(s) => Ok(s.clone()),
            Value::String(s) => Err(self.err(
                self.doc
                    .at_value(path, format!("`{s}` is not a valid cluster name"))
                    .with_help("use a cluster name from the topology, e.g. `dc1`"),
            )),
            other => {
                let mut d = self.doc.at_value(
                    path,
                    format!("expected a cluster name, found {}", describe(other)),
                );
                if matches!(other, Value::Number(_) | Value::Bool(_)) {
                    d = d.with_help("quote the value to make it a string");
                }
                Err(self.err(d))
            }
        }
    }
}

pub(super) fn validate_against(runbook: &Runbook, topology: &Topology) -> R<()> {
    let doc = Doc {
        text: &runbook.text,
        source: &runbook.source,
    };
    let known = topology.cluster_names();
    for (i, step) in runbook.steps.iter().enumerate() {
        let Some(spec) = catalog::action(&step.action) else {
            // A Runbook built by hand (tests): the loader would have refused it.
            return Err(RunbookError::Invalid(
                doc.at_value(
                    &crate::ypath!["steps", i, "action"],
                    format!("unknown action `{}`", step.action),
                )
                .with_help(format!("known actions: {}", list(catalog::names()))),
            ));
        };
        for p in spec.params {
            let path = crate::ypath!["steps", i, "params", p.name];
            let names: Vec<(Vec<Seg>, &str)> = match (p.kind, step.params.get(p.name)) {
                (ParamKind::Cluster, Some(Json::String(s))) => vec![(path.to_vec(), s.as_str())],
                (ParamKind::ClusterList, Some(Json::Array(items))) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(j, it)| it.as_str().map(|s| (child(&path, j), s)))
                    .collect(),
                _ => Vec::new(),
            };
            for (at, name) in names {
                // The role words mean the clusters holding those roles when the run
                // starts (see actions::common::resolve_cluster).
                if known.contains(&name) || name == "primary" || name == "backup" {
                    continue;
                }
                let mut d = doc.at_value(
                    &at,
                    format!(
                        "step `{}` names cluster `{name}`, which is not in topology `{}`; known clusters: {}",
                        step.id,
                        topology.path.display(),
                        list(known.iter().copied())
                    ) + ", or the role words `primary` and `backup`",
                );
                d.help = Some(match suggest(name, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => {
                        "use the cluster names of the topology this runbook runs against".into()
                    }
                });
                return Err(RunbookError::Invalid(d));
            }
        }
    }
    Ok(())
}
