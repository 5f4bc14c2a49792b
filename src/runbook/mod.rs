//! Runbook files: loading, validation against the action catalog, and the embedded defaults.
//!
//! This module owns the runbook YAML format (`name`, `description`, `steps` of `id`, `action`,
//! `params`), its validation with `file:line:column` errors (load.rs), the action catalog
//! (catalog.rs), the runbooks shipped in runbooks/*.yaml (embedded with `include_str!`), and
//! the checksum resume compares. It produces `model::Runbook`, the type the engine executes;
//! it runs nothing and never talks to a cluster.

pub mod catalog;
mod load;
pub mod model;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

pub use model::{Location, Runbook, StepDef};

use crate::exit_code::ExitCode;
use crate::topology::Topology;
use crate::yamlpos::{self, Diagnostic};

/// Everything that can be wrong with a runbook. All of it is bad input: exit code 2.
#[derive(Debug, Error)]
pub enum RunbookError {
    #[error("cannot read runbook `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML.
    #[error("{0}")]
    Syntax(Diagnostic),
    /// YAML, but not a valid runbook (or not valid for this topology).
    #[error("{0}")]
    Invalid(Diagnostic),
    /// `kafka-dr run <name>` with a name that is neither a file nor an embedded runbook.
    #[error("no runbook `{name}`: it is not a file and not one of the built-in runbooks ({})\nhelp: {}", yamlpos::list(known.iter().copied()), unknown_help(.name, .known))]
    NotFound {
        name: String,
        known: Vec<&'static str>,
    },
}

fn unknown_help(name: &str, known: &[&'static str]) -> String {
    match yamlpos::suggest(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "pass the path of a runbook file, or one of the built-in names".into(),
    }
}

impl RunbookError {
    /// Bad input, whatever the variant (the contract in src/error.rs).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }

    /// The diagnostic (file, line, column, field), when the error has one.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            RunbookError::Syntax(d) | RunbookError::Invalid(d) => Some(d),
            RunbookError::Read { .. } | RunbookError::NotFound { .. } => None,
        }
    }
}

/// The runbooks shipped with kafka-dr (runbooks/*.yaml). Add one line per file.
const EMBEDDED: &[(&str, &str)] = &[
    ("snapshot", include_str!("../../runbooks/snapshot.yaml")),
    (
        "failover-promote",
        include_str!("../../runbooks/failover-promote.yaml"),
    ),
    (
        "failback-reverse",
        include_str!("../../runbooks/failback-reverse.yaml"),
    ),
    (
        "failback-reverse-deliver",
        include_str!("../../runbooks/failback-reverse-deliver.yaml"),
    ),
    ("switchover", include_str!("../../runbooks/switchover.yaml")),
];

/// sha256 hex of a runbook's text: what resume compares.
pub fn checksum(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Load and validate a runbook file.
pub fn load_file(path: &Path) -> Result<Runbook, RunbookError> {
    // A FIFO or `/dev/zero` named as a runbook must not hang or fill memory.
    let bytes = crate::topology::reference::read_regular_file(
        path,
        crate::topology::reference::MAX_DOCUMENT_BYTES,
    )
    .map_err(|source| RunbookError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| RunbookError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not valid UTF-8; save it as UTF-8",
        ),
    })?;
    load_str(&text, &path.display().to_string())
}

/// Validate runbook `text`; `source` names it in errors and in `Runbook::source`.
pub fn load_str(text: &str, source: &str) -> Result<Runbook, RunbookError> {
    load::build(text, source)
}

/// The built-in runbook `name`, loaded (source `embedded:<name>`).
pub fn embedded(name: &str) -> Option<Runbook> {
    let text = embedded_text(name)?;
    // Invariant: every embedded runbook is valid; the test `embedded_runbooks_load` pins it.
    load_str(text, &format!("embedded:{name}")).ok()
}

/// The text of the built-in runbook `name`.
pub fn embedded_text(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of the built-in runbooks.
pub fn embedded_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(n, _)| *n).collect()
}

/// What a command-line argument names: an existing file, else a built-in runbook.
pub fn load_named(arg: &str) -> Result<Runbook, RunbookError> {
    let path = Path::new(arg);
    if path.exists() || arg.contains('/') || arg.ends_with(".yaml") || arg.ends_with(".yml") {
        return load_file(path);
    }
    embedded(arg).ok_or_else(|| RunbookError::NotFound {
        name: arg.to_string(),
        known: embedded_names(),
    })
}

/// The runbook's text as the journal keeps it (and `runs show` prints it): `exec` steps'
/// `env` values replaced by `***`. They are hooks' settings and often credentials; the
/// checksum stays the one of the real text, so resume still compares the file.
pub fn journal_text(runbook: &Runbook) -> String {
    let text = &runbook.text;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut leftovers: Vec<String> = Vec::new();
    for (i, step) in runbook.steps.iter().enumerate() {
        let Some(env) = step.params.get("env").and_then(|e| e.as_object()) else {
            continue;
        };
        // Search only the step's own lines, so masking stays linear in the runbook's size.
        let first = step.location.line.saturating_sub(1);
        let end = runbook
            .steps
            .get(i + 1)
            .map_or(lines.len(), |n| n.location.line.saturating_sub(1))
            .max(first);
        let region = text
            .lines()
            .skip(first)
            .take(end - first)
            .collect::<Vec<_>>()
            .join("\n");
        for (key, value) in env {
            let Some(value) = value.as_str().filter(|v| !v.is_empty()) else {
                continue;
            };
            let found = yamlpos::find(&region, &crate::ypath![0, "params", "env", key.as_str()]);
            let masked = found.exact
                && found.value.is_some_and(|at| {
                    lines
                        .get_mut(first + at.line - 1)
                        .is_some_and(|line| mask_scalar(line, at.column - 1, value))
                });
            if !masked {
                leftovers.push(value.to_string());
            }
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    // A value the scan could not place (a block scalar, a value on the next line): mask
    // each of its lines wherever it appears.
    for value in leftovers {
        for part in value.lines().map(str::trim).filter(|p| !p.is_empty()) {
            // As written plain, single-quoted (`''` for `'`) or double-quoted (escapes).
            let single = part.replace('\'', "''");
            let double = serde_json::to_string(part).unwrap_or_default();
            let double = double.trim_matches('"');
            for form in [part, single.as_str(), double] {
                if !form.is_empty() {
                    out = out.replace(form, "***");
                }
            }
        }
    }
    out
}

/// Replace the YAML scalar starting at char `col` of `line` (quoted or plain, holding
/// `value`) with `***`. False when it is not there as expected.
fn mask_scalar(line: &mut String, col: usize, value: &str) -> bool {
    let Some((start, _)) = line.char_indices().nth(col) else {
        return false;
    };
    let rest = &line[start..];
    let len = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let mut end = None;
            let mut chars = rest.char_indices().skip(1).peekable();
            while let Some((j, c)) = chars.next() {
                if q == '"' && c == '\\' {
                    chars.next();
                } else if c == q {
                    if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                    } else {
                        end = Some(j + 1);
                        break;
                    }
                }
            }
            match end {
                Some(e) => e,
                None => return false,
            }
        }
        _ if rest.starts_with(value) => value.len(),
        _ => return false,
    };
    line.replace_range(start..start + len, "\"***\"");
    true
}

/// Check what needs the topology: every cluster a step names exists in it.
pub fn validate_against(runbook: &Runbook, topology: &Topology) -> Result<(), RunbookError> {
    load::validate_against(runbook, topology)
}

#[cfg(test)]
mod tests;
