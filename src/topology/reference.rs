//! Secret references in topology values: `${env:NAME}` and `${file:PATH}`.
//!
//! A value is a template: literal text with any number of references, e.g.
//! `${env:DC1_HOST}:9092`. `$${` writes a literal `${`. Parsing happens at load (so a
//! malformed reference is a load error with file:line); resolution happens only when a
//! client configuration is built, so `validate` never needs the secrets. This module never
//! formats a resolved value into a message.

use std::env::VarError;
use std::path::{Path, PathBuf};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// `${env:NAME}`
    Env(String),
    /// `${file:PATH}`: the whole file, trailing newlines trimmed; relative to the topology.
    File(String),
}

impl Part {
    /// The reference as written (`${env:NAME}`), safe to show: it names, never holds, a value.
    pub fn reference(&self) -> Option<String> {
        match self {
            Part::Literal(_) => None,
            Part::Env(n) => Some(format!("${{env:{n}}}")),
            Part::File(p) => Some(format!("${{file:{p}}}")),
        }
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// Why a value's references are malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// `${` without a closing `}`.
    Unterminated,
    /// `${NAME}`: no scheme.
    NoScheme { inner: String },
    /// `${vault:x}`: a scheme other than env and file.
    UnknownScheme { scheme: String },
    /// `${env:}` or `${file:}`.
    Empty { scheme: &'static str },
    /// `${env:not a name}`.
    BadEnvName { name: String },
}

impl RefError {
    /// The message; `show` says whether the reference text may be echoed (it is withheld
    /// for secret keys, where a malformed "reference" may really be a literal password).
    pub fn message(&self, show: bool) -> (String, String) {
        let help_syntax = "write `${env:NAME}` or `${file:PATH}`; use `$${` for a literal `${`";
        match self {
            RefError::Unterminated => (
                "unterminated reference: `${` has no closing `}`".into(),
                help_syntax.into(),
            ),
            RefError::NoScheme { inner } if show => (
                format!("reference `${{{inner}}}` has no scheme"),
                format!("did you mean `${{env:{inner}}}`?"),
            ),
            RefError::NoScheme { .. } => ("reference has no scheme".into(), help_syntax.into()),
            RefError::UnknownScheme { scheme } if show => (
                format!("unknown reference scheme `{scheme}`: only `env` and `file` are supported"),
                help_syntax.into(),
            ),
            RefError::UnknownScheme { .. } => (
                "unknown reference scheme (not shown: the value is a secret's): only `env` and `file` are supported".into(),
                help_syntax.into(),
            ),
            RefError::Empty { scheme } => (
                format!("empty `${{{scheme}:}}` reference"),
                help_syntax.into(),
            ),
            RefError::BadEnvName { name } if show => (
                format!("`{name}` is not an environment variable name"),
                "names are letters, digits and `_`, not starting with a digit".into(),
            ),
            RefError::BadEnvName { .. } => (
                "malformed environment variable name in `${env:...}`".into(),
                "names are letters, digits and `_`, not starting with a digit".into(),
            ),
        }
    }
}

/// Why a reference could not be resolved. Carries the reference, never the value.
#[derive(Debug)]
pub enum ResolveError {
    EnvUnset {
        reference: String,
        name: String,
    },
    EnvNotUnicode {
        reference: String,
        name: String,
    },
    File {
        reference: String,
        path: PathBuf,
        error: std::io::Error,
    },
    FileNotUnicode {
        reference: String,
        path: PathBuf,
    },
}

impl ResolveError {
    pub fn message_and_help(&self) -> (String, Option<String>) {
        match self {
            ResolveError::EnvUnset { reference, name } => (
                format!("cannot resolve `{reference}`: environment variable `{name}` is not set"),
                Some(format!("export `{name}` in the environment kafka-dr runs in")),
            ),
            ResolveError::EnvNotUnicode { reference, name } => (
                format!("cannot resolve `{reference}`: environment variable `{name}` is not valid UTF-8"),
                None,
            ),
            ResolveError::File { reference, path, error } => (
                format!(
                    "cannot resolve `{reference}`: cannot read `{}`: {error}",
                    path.display()
                ),
                Some("check the path (relative paths start at the topology file's directory) and its permissions".into()),
            ),
            ResolveError::FileNotUnicode { reference, path } => (
                format!(
                    "cannot resolve `{reference}`: `{}` is not valid UTF-8",
                    path.display()
                ),
                None,
            ),
        }
    }
}

/// Parse a value into literal text and references.
pub fn parse(s: &str) -> Result<Template, RefError> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            lit.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(RefError::Unterminated)?;
            let inner = &tail[..end];
            rest = &tail[end + 1..];
            let part = parse_one(inner)?;
            if !lit.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut lit)));
            }
            parts.push(part);
        } else {
            lit.push('$');
            rest = &after[1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Ok(Template { parts })
}

fn parse_one(inner: &str) -> Result<Part, RefError> {
    let Some((scheme, arg)) = inner.split_once(':') else {
        return Err(RefError::NoScheme {
            inner: inner.to_string(),
        });
    };
    match scheme.trim() {
        "env" => {
            if arg.is_empty() {
                return Err(RefError::Empty { scheme: "env" });
            }
            let valid = arg
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(RefError::BadEnvName {
                    name: arg.to_string(),
                });
            }
            Ok(Part::Env(arg.to_string()))
        }
        "file" => {
            if arg.trim().is_empty() {
                return Err(RefError::Empty { scheme: "file" });
            }
            Ok(Part::File(arg.to_string()))
        }
        other => Err(RefError::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}

/// How environment variables are read (tests pass their own).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Result<String, VarError>;

impl Template {
    /// True when the value holds at least one reference.
    pub fn has_references(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Literal(_)))
    }

    /// The value with every reference replaced. `base` is the topology file's directory.
    pub fn resolve(&self, env: EnvLookup<'_>, base: &Path) -> Result<String, ResolveError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Env(name) => {
                    let reference = format!("${{env:{name}}}");
                    match env(name) {
                        Ok(v) => out.push_str(&v),
                        Err(VarError::NotPresent) => {
                            return Err(ResolveError::EnvUnset {
                                reference,
                                name: name.clone(),
                            })
                        }
                        Err(VarError::NotUnicode(_)) => {
                            return Err(ResolveError::EnvNotUnicode {
                                reference,
                                name: name.clone(),
                            })
                        }
                    }
                }
                Part::File(p) => {
                    let reference = format!("${{file:{p}}}");
                    let path = base.join(p);
                    let bytes = read_small_file(&path).map_err(|error| ResolveError::File {
                        reference: reference.clone(),
                        path: path.clone(),
                        error,
                    })?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| ResolveError::FileNotUnicode { reference, path })?;
                    out.push_str(text.trim_end_matches(['\n', '\r']));
                }
            }
        }
        Ok(out)
    }
}

/// The most a referenced or named file (a secret, a PEM bundle) may hold.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a small regular file: a FIFO, device or directory is refused at once (opening is
/// non-blocking, so a FIFO with no writer cannot hang the command), and so is a file over
/// [`MAX_FILE_BYTES`] (`/dev/zero` would otherwise grow memory without bound).
pub fn read_small_file(path: &Path) -> Result<Vec<u8>, std::io::Error> {
    read_regular_file(path, MAX_FILE_BYTES)
}

/// The most a topology or runbook file may hold (an 8,000-step runbook is about 600 KiB).
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// Reads a regular file of at most `max` bytes; anything else is refused at once, as in
/// [`read_small_file`]. Topologies, runbooks and properties files are read this way: a
/// FIFO or `/dev/zero` given as one must not hang or fill memory.
pub fn read_regular_file(path: &Path, max: u64) -> Result<Vec<u8>, std::io::Error> {
    use std::io::{Error, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (a directory, FIFO, socket or device)",
        ));
    }
    if meta.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {} KiB", max / 1024),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take` bounds the read even if the file grows while it is read.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {} KiB", max / 1024),
        ));
    }
    Ok(bytes)
}

/// The directory relative paths in a topology start from.
pub fn base_dir(topology_path: &Path) -> PathBuf {
    match topology_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Result<String, VarError> {
        match name {
            "HOST" => Ok("broker1".into()),
            "PW" => Ok("s3cr3t".into()),
            _ => Err(VarError::NotPresent),
        }
    }

    #[test]
    fn parses_templates() {
        let t = parse("${env:HOST}:9092").unwrap();
        assert_eq!(
            t.parts,
            vec![Part::Env("HOST".into()), Part::Literal(":9092".into())]
        );
        assert!(t.has_references());
        let t = parse("plain $x $${not} ").unwrap();
        assert_eq!(t.parts, vec![Part::Literal("plain $x ${not} ".into())]);
        assert!(!t.has_references());
        assert_eq!(parse("").unwrap().parts, vec![Part::Literal(String::new())]);
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(parse("${env:X"), Err(RefError::Unterminated));
        assert_eq!(
            parse("${vault:x}"),
            Err(RefError::UnknownScheme {
                scheme: "vault".into()
            })
        );
        assert_eq!(
            parse("${HOME}"),
            Err(RefError::NoScheme {
                inner: "HOME".into()
            })
        );
        assert_eq!(parse("${env:}"), Err(RefError::Empty { scheme: "env" }));
        assert!(matches!(
            parse("${env:1X}"),
            Err(RefError::BadEnvName { .. })
        ));
    }

    #[test]
    fn resolves_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw.txt"), "from-file\n").unwrap();
        let t = parse("${env:HOST}:9092/${file:pw.txt}/${env:PW}").unwrap();
        assert_eq!(
            t.resolve(&env, dir.path()).unwrap(),
            "broker1:9092/from-file/s3cr3t"
        );
    }

    #[test]
    fn resolution_errors_name_the_reference_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let err = parse("${env:MISSING}")
            .unwrap()
            .resolve(&env, dir.path())
            .unwrap_err();
        let (msg, help) = err.message_and_help();
        assert!(msg.contains("`${env:MISSING}`"), "{msg}");
        assert!(help.unwrap().contains("MISSING"));
        let err = parse("${file:nope.txt}")
            .unwrap()
            .resolve(&env, dir.path())
            .unwrap_err();
        let (msg, _) = err.message_and_help();
        assert!(
            msg.contains("`${file:nope.txt}`") && msg.contains("nope.txt"),
            "{msg}"
        );
    }
}
