//! Positions and diagnostics for the YAML files kafka-dr reads (topology and runbooks).
//!
//! serde_yaml 0.9 parses into `Value`s that carry no positions, yet every validation error
//! must say `file:line:column`. This module owns the small, dependency-free answer: given the
//! source text and a path of keys and sequence indices (`["steps", 2, "action"]`), find where
//! that node (its key, or its `-` for a sequence item) sits, falling back to the nearest
//! ancestor it could find. Block style is located exactly; flow collections (`{ a: 1 }`,
//! `[x, y]`) are scanned too, and anything exotic (anchors, tags, complex keys) falls back to
//! the enclosing node. It also owns the shared `Diagnostic` (the one error shape both loaders
//! print), "did you mean" suggestions, and a few helpers to check mappings. It never sees
//! secrets resolved from references and must never echo a value it was not asked to.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

/// Where something sits in a source file, 1-based, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index, 0-based.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Self {
        Seg::Key(k.to_string())
    }
}

impl From<String> for Seg {
    fn from(k: String) -> Self {
        Seg::Key(k)
    }
}

impl From<&String> for Seg {
    fn from(k: &String) -> Self {
        Seg::Key(k.clone())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// Build a path (an array of `Seg`) from keys and indices: `ypath!["steps", 2, "action"]`.
#[macro_export]
macro_rules! ypath {
    ($($seg:expr),* $(,)?) => {
        [$($crate::yamlpos::Seg::from($seg)),*]
    };
}

/// The field path as operators read it: `replication.primary`, `steps[2].action`.
pub fn path_to_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Where a path was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The key of the node (or the `-` of a sequence item, or the node itself for a root).
    pub key: Location,
    /// Where the node's value starts, when it starts on the key's line (`key: value`).
    pub value: Option<Location>,
    /// True when the whole path was found; false when `key` is the nearest ancestor.
    pub exact: bool,
}

/// Where the node at `path` (or its key) sits, 1-based; the nearest ancestor if not found.
pub fn locate(text: &str, path: &[Seg]) -> Location {
    find(text, path).key
}

/// Like `locate`, but points at the value when it sits on the key's line
/// (`primary: dc3` points at `dc3`). Used for "this value is wrong" errors.
pub fn locate_value(text: &str, path: &[Seg]) -> Location {
    let found = find(text, path);
    if found.exact {
        found.value.unwrap_or(found.key)
    } else {
        found.key
    }
}

/// The line and column serde_yaml reported for a parse error, if any (1-based).
pub fn error_location(err: &serde_yaml::Error) -> Option<Location> {
    err.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    })
}

/// serde_yaml's message without its trailing "at line N column M" (we print our own).
pub fn error_message(err: &serde_yaml::Error) -> String {
    let msg = err.to_string();
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg.as_str();
    // Remove every " at line N column M" fragment; libyaml may add two (problem, context).
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
        let after = &after[digits..];
        if digits > 0 && after.starts_with(" column ") {
            let after = &after[" column ".len()..];
            let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
            rest = &after[digits..];
        } else {
            out.push_str(" at line ");
            rest = &rest[i + " at line ".len()..];
        }
    }
    out.push_str(rest);
    out
}

/// serde_yaml's type errors quote the scalar they choke on (`invalid value: string
/// "..."`), which may be a password under a secret key: the quoted text is dropped. Keys
/// of duplicate entries stay (they are names, and the operator needs to find them).
fn hide_scalars(message: &str) -> String {
    if message.contains("duplicate entry with key") {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find('"') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let mut end = None;
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(j);
                    break;
                }
                _ => escaped = false,
            }
        }
        match end {
            Some(j) => {
                out.push_str("(value not shown)");
                rest = &after[j + 1..];
            }
            None => {
                out.push('"');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Find `path` in `text`. Never fails: falls back to the nearest ancestor found.
pub fn find(text: &str, path: &[Seg]) -> Found {
    let raw: Vec<&str> = text.lines().collect();
    let lines = vlines(&raw);
    let root = match lines.first() {
        Some(first) => loc(first.line, first.col),
        None => Location { line: 1, column: 1 },
    };
    let mut best = Found {
        key: root,
        value: None,
        exact: path.is_empty(),
    };
    let mut block: Vec<VLine<'_>> = lines;
    for (depth, seg) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let Some(first) = block.first() else {
            return best;
        };
        let indent = first.col;
        match seg {
            Seg::Key(wanted) => {
                let hit = block.iter().enumerate().find_map(|(j, vl)| {
                    if vl.col != indent {
                        return None;
                    }
                    let (key, voff) = split_key(vl.text)?;
                    (key == *wanted).then_some((j, voff))
                });
                let Some((j, voff)) = hit else {
                    return best;
                };
                let entry = block[j];
                let value_text = voff.map(|o| char_slice(entry.text, o)).unwrap_or("");
                best = Found {
                    key: loc(entry.line, entry.col),
                    value: voff.map(|o| loc(entry.line, entry.col + o)),
                    exact: last,
                };
                if last {
                    return best;
                }
                if let Some(o) = voff {
                    if value_text.starts_with('{') || value_text.starts_with('[') {
                        return flow_find(
                            &raw,
                            entry.line,
                            entry.col + o,
                            &path[depth + 1..],
                            best,
                        );
                    }
                    // A scalar, block scalar, anchor or tag: nothing to descend into.
                    return best;
                }
                block = child_block(&block[j + 1..], indent, true);
            }
            Seg::Index(wanted) => {
                if !is_dash(first.text) {
                    return best;
                }
                let hit = block
                    .iter()
                    .enumerate()
                    .filter(|(_, vl)| vl.col == indent && is_dash(vl.text))
                    .nth(*wanted);
                let Some((j, item)) = hit else {
                    return best;
                };
                let item = *item;
                let rest = &item.text[1..];
                let pad = rest.chars().take_while(|c| *c == ' ' || *c == '\t').count();
                let content = char_slice(rest, pad);
                let content_col = item.col + 1 + pad;
                best = Found {
                    key: loc(item.line, item.col),
                    value: (!content.is_empty()).then(|| loc(item.line, content_col)),
                    exact: last,
                };
                if last {
                    return best;
                }
                let following = child_block(&block[j + 1..], indent, false);
                if content.is_empty() {
                    block = following;
                } else if content.starts_with('{') || content.starts_with('[') {
                    return flow_find(&raw, item.line, content_col, &path[depth + 1..], best);
                } else if split_key(content).is_some() || is_dash(content) {
                    let mut nested = vec![VLine {
                        line: item.line,
                        col: content_col,
                        text: content,
                    }];
                    nested.extend(following);
                    block = nested;
                } else {
                    return best;
                }
            }
        }
    }
    best
}

/// Where each item of the block sequence at `path` starts (what `locate` gives for
/// `path` + `[i]`), in one pass over the text. None when `path` is not a block sequence
/// reached through block mappings (callers then `locate` items one by one).
pub fn locate_items(text: &str, path: &[Seg]) -> Option<Vec<Location>> {
    let raw: Vec<&str> = text.lines().collect();
    let mut block = vlines(&raw);
    for seg in path {
        let Seg::Key(wanted) = seg else {
            return None;
        };
        let indent = block.first()?.col;
        let j = block.iter().position(|vl| {
            vl.col == indent && split_key(vl.text).is_some_and(|(k, _)| k == *wanted)
        })?;
        let (_, voff) = split_key(block[j].text)?;
        if voff.is_some() {
            // A flow collection or scalar on the key's line.
            return None;
        }
        block = child_block(&block[j + 1..], indent, true);
    }
    let first = block.first()?;
    if !is_dash(first.text) {
        return None;
    }
    let indent = first.col;
    Some(
        block
            .iter()
            .filter(|vl| vl.col == indent && is_dash(vl.text))
            .map(|vl| loc(vl.line, vl.col))
            .collect(),
    )
}

fn loc(line0: usize, col0: usize) -> Location {
    Location {
        line: line0 + 1,
        column: col0 + 1,
    }
}

/// A meaningful line: 0-based line and column of its first character, text from there on
/// with any comment removed.
#[derive(Debug, Clone, Copy)]
struct VLine<'a> {
    line: usize,
    col: usize,
    text: &'a str,
}

fn vlines<'a>(raw: &[&'a str]) -> Vec<VLine<'a>> {
    let mut out = Vec::new();
    for (i, line) in raw.iter().enumerate() {
        let indent = line.chars().take_while(|c| *c == ' ').count();
        let body = strip_comment(&line[indent..]).trim_end();
        if body.is_empty() {
            continue;
        }
        if indent == 0
            && (body == "---" || body == "..." || body.starts_with("--- ") || body.starts_with('%'))
        {
            continue;
        }
        out.push(VLine {
            line: i,
            col: indent,
            text: body,
        });
    }
    out
}

/// The lines belonging to the value of an entry at `indent`: everything deeper, plus (for a
/// mapping value) a sequence written at the key's own indentation (`key:\n- a\n- b`).
fn child_block<'a>(
    after: &[VLine<'a>],
    indent: usize,
    allow_same_indent_seq: bool,
) -> Vec<VLine<'a>> {
    let same_indent_seq = allow_same_indent_seq
        && after
            .first()
            .is_some_and(|vl| vl.col == indent && is_dash(vl.text));
    after
        .iter()
        .take_while(|vl| {
            vl.col > indent || (same_indent_seq && vl.col == indent && is_dash(vl.text))
        })
        .copied()
        .collect()
}

fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ") || text.starts_with("-\t")
}

/// The text from char `n` on.
fn char_slice(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[i..],
        None => "",
    }
}

/// Remove a trailing `# comment` that is not inside quotes.
fn strip_comment(s: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev: Option<char> = None;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('"') => {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    quote = None;
                }
            }
            Some(_) => {
                if c == '\'' {
                    if chars.peek().map(|(_, n)| *n) == Some('\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
            }
            None => {
                let token_start = prev.is_none_or(|p| p.is_whitespace() || ":[{,-?".contains(p));
                if c == '#' && prev.is_none_or(char::is_whitespace) {
                    return &s[..i];
                }
                if (c == '"' || c == '\'') && token_start {
                    quote = Some(c);
                }
            }
        }
        prev = Some(c);
    }
    s
}

/// If `text` is a block mapping entry `key: value`, its key and the char offset of the value
/// (None when the value is on the following lines).
fn split_key(text: &str) -> Option<(String, Option<usize>)> {
    if is_dash(text) || text.starts_with('[') || text.starts_with('{') || text.starts_with("? ") {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let (key, mut i) = match chars.first() {
        Some('"') => parse_double_quoted(&chars, 0)?,
        Some('\'') => parse_single_quoted(&chars, 0)?,
        _ => {
            let mut i = 0;
            loop {
                if i >= chars.len() {
                    return None;
                }
                if chars[i] == ':' && chars.get(i + 1).is_none_or(|c| c.is_whitespace()) {
                    break;
                }
                i += 1;
            }
            let key: String = chars[..i].iter().collect();
            (key.trim_end().to_string(), i)
        }
    };
    while chars.get(i).is_some_and(|c| *c == ' ' || *c == '\t') {
        i += 1;
    }
    if chars.get(i) != Some(&':') {
        return None;
    }
    i += 1;
    if chars.get(i).is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    let value = (i < chars.len()).then_some(i);
    Some((key, value))
}

/// Parse a double-quoted scalar starting at `start`; returns its value and the index after it.
fn parse_double_quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Some((out, i + 1)),
            '\\' => {
                let esc = *chars.get(i + 1)?;
                out.push(match esc {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    other => other,
                });
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

fn parse_single_quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            return Some((out, i + 1));
        }
        out.push(chars[i]);
        i += 1;
    }
    None
}

/// A flow collection scanner over the source from a given position (may span lines).
struct Flow {
    /// (0-based line, 0-based column, char), comments removed.
    chars: Vec<(usize, usize, char)>,
    pos: usize,
}

fn flow_find(raw: &[&str], line0: usize, col0: usize, path: &[Seg], best: Found) -> Found {
    let mut chars = Vec::new();
    for (i, line) in raw.iter().enumerate().skip(line0) {
        let start = if i == line0 { col0 } else { 0 };
        let mut prev_ws = true;
        for (col, c) in line.chars().enumerate().skip(start) {
            // A `#` after whitespace starts a comment, also inside flow collections; quotes
            // are rare enough in our files that a `#` inside them only costs precision.
            if c == '#' && prev_ws {
                break;
            }
            prev_ws = c.is_whitespace();
            chars.push((i, col, c));
        }
        chars.push((i, line.chars().count(), '\n'));
    }
    let mut flow = Flow { chars, pos: 0 };
    let mut best = best;
    flow.descend(path, &mut best);
    best
}

impl Flow {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|t| t.2)
    }

    fn here(&self) -> Location {
        match self.chars.get(self.pos) {
            Some(&(l, c, _)) => loc(l, c),
            None => Location { line: 1, column: 1 },
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// At a node: follow `path` into it, updating `best`. Returns false on a syntax problem.
    fn descend(&mut self, path: &[Seg], best: &mut Found) -> bool {
        self.skip_ws();
        let Some(seg) = path.first() else {
            return true;
        };
        match (self.peek(), seg) {
            (Some('{'), Seg::Key(wanted)) => {
                self.pos += 1;
                loop {
                    self.skip_ws();
                    if matches!(self.peek(), Some('}') | None) {
                        return false;
                    }
                    let key_at = self.here();
                    let Some(key) = self.scalar() else {
                        return false;
                    };
                    self.skip_ws();
                    let has_value = self.peek() == Some(':');
                    if has_value {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    if key == *wanted {
                        *best = Found {
                            key: key_at,
                            value: has_value.then(|| self.here()),
                            exact: path.len() == 1,
                        };
                        return !has_value || self.descend(&path[1..], best);
                    }
                    if has_value && !self.skip_node() {
                        return false;
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        _ => return false,
                    }
                }
            }
            (Some('['), Seg::Index(wanted)) => {
                self.pos += 1;
                let mut index = 0;
                loop {
                    self.skip_ws();
                    if matches!(self.peek(), Some(']') | None) {
                        return false;
                    }
                    if index == *wanted {
                        *best = Found {
                            key: self.here(),
                            value: Some(self.here()),
                            exact: path.len() == 1,
                        };
                        return self.descend(&path[1..], best);
                    }
                    if !self.skip_node() {
                        return false;
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        _ => return false,
                    }
                    index += 1;
                }
            }
            _ => false,
        }
    }

    /// Skip one node (collection or scalar, or a `k: v` pair inside a sequence).
    fn skip_node(&mut self) -> bool {
        self.skip_ws();
        match self.peek() {
            Some(open @ ('{' | '[')) => {
                let close = if open == '{' { '}' } else { ']' };
                self.pos += 1;
                loop {
                    self.skip_ws();
                    match self.peek() {
                        None => return false,
                        Some(c) if c == close => {
                            self.pos += 1;
                            return true;
                        }
                        Some(',') | Some(':') => self.pos += 1,
                        Some(_) => {
                            if !self.skip_node() {
                                return false;
                            }
                        }
                    }
                }
            }
            Some(_) => self.scalar().is_some(),
            None => false,
        }
    }

    /// Read a scalar (quoted or plain) and return its text.
    fn scalar(&mut self) -> Option<String> {
        match self.peek()? {
            q @ ('"' | '\'') => {
                let rest: Vec<char> = self.chars[self.pos..].iter().map(|t| t.2).collect();
                let (value, used) = if q == '"' {
                    parse_double_quoted(&rest, 0)?
                } else {
                    parse_single_quoted(&rest, 0)?
                };
                self.pos += used;
                Some(value)
            }
            _ => {
                let mut out = String::new();
                while let Some(c) = self.peek() {
                    let next = self.chars.get(self.pos + 1).map(|t| t.2);
                    if matches!(c, ',' | ']' | '}' | '[' | '{')
                        || (c == ':' && next.is_none_or(|n| n.is_whitespace() || ",]}".contains(n)))
                    {
                        break;
                    }
                    out.push(c);
                    self.pos += 1;
                }
                let value = out.trim().to_string();
                (!value.is_empty()).then_some(value)
            }
        }
    }
}

/// The second `key:` of the block mapping that starts at `start`, if there is one.
fn second_occurrence(text: &str, start: Location, key: &str) -> Option<Location> {
    let raw: Vec<&str> = text.lines().collect();
    let first_line = start.line.checked_sub(1)?;
    let indent = start.column.checked_sub(1)?;
    let mut seen = 0;
    let mut check = |line: usize, body: &str| {
        if split_key(strip_comment(body).trim_end()).is_some_and(|(k, _)| k == key) {
            seen += 1;
        }
        (seen == 2).then(|| loc(line, indent))
    };
    // The mapping may start after a `- ` on its first line.
    if let Some(found) = check(first_line, char_slice(raw.get(first_line)?, indent)) {
        return Some(found);
    }
    for vl in vlines(&raw).into_iter().filter(|vl| vl.line > first_line) {
        if vl.col < indent {
            break;
        }
        if vl.col == indent {
            if let Some(found) = check(vl.line, vl.text) {
                return Some(found);
            }
        }
    }
    None
}

/// A validation problem in an input file, printed the same way by every loader:
///
/// ```text
/// lab.yaml:9:12: in `replication.primary`: no cluster `dc3` in this topology
/// help: did you mean `dc2`?
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (as given) or `embedded:<name>`.
    pub source: String,
    pub location: Location,
    /// The field path (`replication.primary`), empty for the document itself.
    pub field: String,
    /// What is wrong; lower case; never contains a secret value.
    pub message: String,
    /// The obvious fix, when there is one.
    pub help: Option<String>,
}

/// One line for the position and the message, one for the help: those are the only line
/// breaks. The parts quote the file's own keys and values, so each is written on one
/// line (`crate::redact::one_line`): a name holding a newline cannot forge a line.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::redact::OneLine;
        write!(
            f,
            "{}:{}:{}: ",
            OneLine(&self.source),
            self.location.line,
            self.location.column
        )?;
        if !self.field.is_empty() {
            write!(f, "in `{}`: ", OneLine(&self.field))?;
        }
        write!(f, "{}", OneLine(&self.message))?;
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {}", OneLine(help))?;
        }
        Ok(())
    }
}

/// A YAML document being validated: its text (for positions) and its name (for messages).
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub text: &'a str,
    pub source: &'a str,
}

impl Doc<'_> {
    /// A diagnostic pointing at the key of `path`.
    pub fn at_key(&self, path: &[Seg], message: impl Into<String>) -> Diagnostic {
        self.diag(locate(self.text, path), path, message.into())
    }

    /// A diagnostic pointing at the value of `path` (or its key when the value is below it).
    pub fn at_value(&self, path: &[Seg], message: impl Into<String>) -> Diagnostic {
        self.diag(locate_value(self.text, path), path, message.into())
    }

    fn diag(&self, location: Location, path: &[Seg], message: String) -> Diagnostic {
        Diagnostic {
            source: self.source.to_string(),
            location,
            field: path_to_string(path),
            message,
            help: None,
        }
    }

    /// The diagnostic for a serde_yaml parse error.
    pub fn syntax(&self, err: &serde_yaml::Error) -> Diagnostic {
        let message = hide_scalars(&error_message(err));
        let mut location = error_location(err).unwrap_or(Location { line: 1, column: 1 });
        let mut help = None;
        // serde_yaml points a duplicate key at the start of its mapping; point at the
        // duplicate itself, which is what the operator has to delete.
        if let Some(key) = message
            .split("duplicate entry with key \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            if let Some(dup) = second_occurrence(self.text, location, key) {
                location = dup;
            }
            help = Some(format!(
                "`{key}` appears twice in the same mapping; keep one"
            ));
        }
        Diagnostic {
            source: self.source.to_string(),
            location,
            field: String::new(),
            message: format!("invalid YAML: {message}"),
            help,
        }
    }

    /// Check that every key of `map` (at `path`) is a string among `allowed`.
    pub fn check_keys(
        &self,
        path: &[Seg],
        map: &Mapping,
        allowed: &[&str],
    ) -> Result<(), Diagnostic> {
        for key in map.keys() {
            let Some(k) = key.as_str() else {
                return Err(self
                    .at_key(
                        path,
                        format!("keys must be strings, found {}", describe(key)),
                    )
                    .with_help("quote the key"));
            };
            if !allowed.contains(&k) {
                let mut child = path.to_vec();
                child.push(Seg::Key(k.to_string()));
                // Inside a mapping the Diagnostic's field (the parent) already says where.
                let message = if path.is_empty() {
                    format!("unknown key `{k}` at the top level")
                } else {
                    format!("unknown key `{k}`")
                };
                let diag = self.at_key(&child, message);
                let help = match suggest(k, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of {}", list(allowed.iter().copied())),
                };
                // The field is the parent: the unknown key is not a field of the schema.
                return Err(Diagnostic {
                    field: path_to_string(path),
                    ..diag.with_help(help)
                });
            }
        }
        Ok(())
    }
}

impl Diagnostic {
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// "a string", "a mapping"...: the kind of a YAML value, never its content.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// `` `a`, `b`, `c` ``.
pub fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lc = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    let scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(&word_lc, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    let best = scored.iter().map(|(d, _)| *d).min()?;
    // Two equally close candidates (`dc3` vs `dc1`, `dc2`): a guess would mislead.
    let mut at_best = scored.iter().filter(|(d, _)| *d == best);
    let first = at_best.next().map(|(_, c)| *c);
    match at_best.next() {
        Some(_) => None,
        None => first,
    }
}

/// Levenshtein distance, counting an adjacent transposition as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = "\
# a comment
name: lab   # trailing comment
clusters:
  dc1:
    bootstrap: 127.0.0.1:19092
    properties:
      security.protocol: SASL_PLAINTEXT
      \"sasl.password\": \"${env:X}\"
  dc2:
    bootstrap: 127.0.0.1:29092
replication:
  primary: dc1
  app_principals:
  - User:app
  - User:other
  topics: { include: [\"app\\\\..*\", 'b'], exclude: [] }
steps:
  - id: one
    action: confirm
    params:
      message: hi
  -   id: two
      action: exec
      params: { argv: [sleep, 5], env: {A: b} }
  -
    id: three
";

    fn at(text: &str, path: &[Seg]) -> (usize, usize, bool) {
        let f = find(text, path);
        (f.key.line, f.key.column, f.exact)
    }

    #[test]
    fn locate_items_agrees_with_locate() {
        let text = "name: x\nsteps:\n  - id: a\n    action: b\n  # c\n  - id: d\n    params:\n      - e\n  -\n    id: f\n";
        let items = locate_items(text, &crate::ypath!["steps"]).unwrap();
        assert_eq!(items.len(), 3);
        for (i, at) in items.iter().enumerate() {
            assert_eq!(*at, locate(text, &crate::ypath!["steps", i]), "item {i}");
        }
        assert_eq!(
            locate_items("steps: [a, b]\n", &crate::ypath!["steps"]),
            None
        );
    }

    #[test]
    fn block_paths_are_exact() {
        assert_eq!(at(NESTED, &ypath!["name"]), (2, 1, true));
        assert_eq!(
            at(NESTED, &ypath!["clusters", "dc1", "bootstrap"]),
            (5, 5, true)
        );
        assert_eq!(
            at(NESTED, &ypath!["clusters", "dc2", "bootstrap"]),
            (10, 5, true)
        );
        assert_eq!(
            at(
                NESTED,
                &ypath!["clusters", "dc1", "properties", "sasl.password"]
            ),
            (8, 7, true)
        );
        assert_eq!(at(NESTED, &ypath!["replication", "primary"]), (12, 3, true));
        assert_eq!(
            at(NESTED, &ypath!["replication", "app_principals", 1]),
            (15, 3, true)
        );
        assert_eq!(at(NESTED, &ypath!["steps", 0, "action"]), (19, 5, true));
        assert_eq!(
            at(NESTED, &ypath!["steps", 0, "params", "message"]),
            (21, 7, true)
        );
        assert_eq!(at(NESTED, &ypath!["steps", 1]), (22, 3, true));
        assert_eq!(at(NESTED, &ypath!["steps", 1, "id"]), (22, 7, true));
        assert_eq!(at(NESTED, &ypath!["steps", 1, "action"]), (23, 7, true));
        assert_eq!(at(NESTED, &ypath!["steps", 2, "id"]), (26, 5, true));
    }

    #[test]
    fn values_on_the_key_line() {
        let v = locate_value(NESTED, &ypath!["replication", "primary"]);
        assert_eq!((v.line, v.column), (12, 12));
        // A value on the next lines: the key is the answer.
        let v = locate_value(NESTED, &ypath!["replication", "app_principals"]);
        assert_eq!((v.line, v.column), (13, 3));
    }

    #[test]
    fn flow_paths() {
        assert_eq!(
            at(NESTED, &ypath!["replication", "topics", "include", 1]),
            (16, 35, true)
        );
        assert_eq!(
            at(NESTED, &ypath!["replication", "topics", "exclude"]),
            (16, 41, true)
        );
        assert_eq!(
            at(NESTED, &ypath!["steps", 1, "params", "argv", 1]),
            (24, 31, true)
        );
        assert_eq!(
            at(NESTED, &ypath!["steps", 1, "params", "env", "A"]),
            (24, 41, true)
        );
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        assert_eq!(
            at(NESTED, &ypath!["clusters", "dc3", "bootstrap"]),
            (3, 1, false)
        );
        assert_eq!(at(NESTED, &ypath!["steps", 7]), (17, 1, false));
        assert_eq!(at(NESTED, &ypath!["name", "x"]), (2, 1, false));
        assert_eq!(
            at(NESTED, &ypath!["steps", 1, "params", "nope"]),
            (24, 7, false)
        );
        assert_eq!(at(NESTED, &ypath![]), (2, 1, true));
        assert_eq!(at("", &ypath!["a"]), (1, 1, false));
    }

    #[test]
    fn comments_and_quotes() {
        assert_eq!(strip_comment("a: 'x # y' # z"), "a: 'x # y' ");
        assert_eq!(strip_comment("a: \"x \\\" # y\" # z"), "a: \"x \\\" # y\" ");
        assert_eq!(strip_comment("a: b#c"), "a: b#c");
        assert_eq!(split_key("a: b"), Some(("a".into(), Some(3))));
        assert_eq!(split_key("url: http://x:1"), Some(("url".into(), Some(5))));
        assert_eq!(split_key("'a b':"), Some(("a b".into(), None)));
        assert_eq!(split_key("http://x"), None);
        assert_eq!(split_key("- a: b"), None);
    }

    #[test]
    fn serde_errors_have_positions() {
        let err = serde_yaml::from_str::<Value>("a: 1\nb: [1, 2\n").unwrap_err();
        let l = error_location(&err).unwrap();
        assert!(l.line >= 2, "{l:?}");
        assert!(
            !error_message(&err).contains(" at line "),
            "{}",
            error_message(&err)
        );
    }

    #[test]
    fn duplicate_keys_point_at_the_second_one() {
        let text =
            "a: 1\nsteps:\n  - id: x\n    action: y\n    id: z\nb:\n  c: 1\n  d: 2\n  c: 3\n";
        let doc = Doc {
            text,
            source: "f.yaml",
        };
        let err = serde_yaml::from_str::<Value>(text).unwrap_err();
        let d = doc.syntax(&err);
        assert_eq!((d.location.line, d.location.column), (5, 5), "{d}");
        assert!(d.help.unwrap().contains("`id`"));
        let text = "b:\n  c: 1\n  d: 2\n  c: 3\n";
        let err = serde_yaml::from_str::<Value>(text).unwrap_err();
        let d = Doc { text, source: "f" }.syntax(&err);
        assert_eq!((d.location.line, d.location.column), (4, 3), "{d}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("primry", ["primary", "backup"]), Some("primary"));
        assert_eq!(suggest("bakcup", ["primary", "backup"]), Some("backup"));
        assert_eq!(suggest("zzz", ["primary", "backup"]), None);
        assert_eq!(suggest("dc3", ["dc1", "dc2"]), None);
        assert_eq!(suggest("dc", ["dc1", "ops"]), Some("dc1"));
        assert_eq!(
            path_to_string(&ypath!["steps", 2, "action"]),
            "steps[2].action"
        );
    }
}
