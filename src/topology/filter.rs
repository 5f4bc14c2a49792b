//! `NameFilter`: which topics or consumer groups are in scope, as include/exclude regexes.
//!
//! Regexes are compiled once at load and match the WHOLE name (anchored), like MM2's
//! `topics` / `groups` lists: `app\..*` matches `app.orders` but not `xapp.orders`. Note the
//! syntax is Rust's `regex` crate (no look-around or backreferences), close to but not the
//! same as the Java patterns MM2 uses.

use regex::Regex;

/// Include/exclude regexes, full-match. A name is in scope when some include matches and no
/// exclude does.
#[derive(Debug, Clone)]
pub struct NameFilter {
    /// The regexes as written.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    include_re: Vec<Regex>,
    exclude_re: Vec<Regex>,
}

/// A regex that did not compile: its index in its list and the regex crate's explanation.
#[derive(Debug, Clone)]
pub struct BadRegex {
    pub list: &'static str,
    pub index: usize,
    pub error: String,
}

impl NameFilter {
    /// Compile the lists; the first bad regex is reported.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Result<Self, BadRegex> {
        let include_re = compile(&include, "include")?;
        let exclude_re = compile(&exclude, "exclude")?;
        Ok(Self {
            include,
            exclude,
            include_re,
            exclude_re,
        })
    }

    /// True when `name` is in scope.
    pub fn matches(&self, name: &str) -> bool {
        self.include_re.iter().any(|r| r.is_match(name))
            && !self.exclude_re.iter().any(|r| r.is_match(name))
    }
}

fn compile(patterns: &[String], list: &'static str) -> Result<Vec<Regex>, BadRegex> {
    patterns
        .iter()
        .enumerate()
        .map(|(index, p)| {
            // Compile the pattern as written first, so the error shows the operator's text
            // rather than our anchoring wrapper.
            Regex::new(p)
                .and_then(|_| Regex::new(&format!("^(?:{p})$")))
                .map_err(|e| BadRegex {
                    list,
                    index,
                    error: e.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(inc: &[&str], exc: &[&str]) -> NameFilter {
        NameFilter::new(
            inc.iter().map(|s| s.to_string()).collect(),
            exc.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn full_match_include_exclude() {
        let t = f(&["app\\..*", "orders"], &["app\\.internal-.*"]);
        assert!(t.matches("app.orders"));
        assert!(t.matches("orders"));
        assert!(!t.matches("xapp.orders"));
        assert!(!t.matches("orders2"));
        assert!(!t.matches("app.internal-x"));
        assert!(!f(&[], &[]).matches("anything"));
        // Alternation is anchored as a whole, not only its first branch.
        let t = f(&["a|b"], &[]);
        assert!(t.matches("b") && !t.matches("ab"));
    }

    #[test]
    fn bad_regex_is_reported_with_its_index() {
        let err =
            NameFilter::new(vec!["ok".into()], vec!["x".into(), "(unclosed".into()]).unwrap_err();
        assert_eq!((err.list, err.index), ("exclude", 1));
        assert!(err.error.contains("unclosed"), "{}", err.error);
    }
}
