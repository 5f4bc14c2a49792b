//! The one redaction path: every secret value the process learns is registered here, and
//! everything printed (reports, progress, the final `error:` line) or journaled passes
//! through `redact`. Also `terminal_safe`, which escapes the characters that would let a
//! name from a cluster or a file move the cursor, clear the screen or reverse the text,
//! and `one_line` / `OneLine`, which also escape a newline: for names interpolated into
//! multi-line text, whose own line breaks must stay.
//!
//! Process-wide on purpose: the final error line is printed by `main` after the command's
//! own state is gone, and a secret resolved deep in an action must still be masked there.
//! A leaf like `error::ExitCode`: it imports nothing of ours.

use std::sync::Mutex;

/// What a masked secret prints as.
pub const MASK: &str = "***";

/// Shorter values are not masked: they would garble every message (a password of 3
/// characters is not one an operator can protect by masking anyway).
const MIN_LEN: usize = 4;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember secret values so that nothing printed or journaled ever contains them.
pub fn register(values: impl IntoIterator<Item = String>) {
    let mut s = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    for v in values {
        if v.chars().count() >= MIN_LEN && !s.contains(&v) {
            s.push(v);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    s.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let s = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in s.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// True for characters a terminal acts on instead of showing: C0 and C1 controls (ESC
/// starts every escape sequence, CR moves back over a line), DEL, and the Unicode
/// bidirectional controls (U+202E turns the rest of a line around).
fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        // Line and paragraph separators: a line break to many terminals and viewers, and
        // never one of ours (NEL, U+0085, is a C1 control above).
        || matches!(c, '\u{2028}' | '\u{2029}')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with hostile characters written as visible escapes (`\x1b`, `\r`, `\u{202e}`).
/// Newlines and tabs stay: reports are multi-line by design.
pub fn terminal_safe(text: &str) -> String {
    if !text.chars().any(is_hostile) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !is_hostile(c) {
            out.push(c);
        } else if c == '\r' {
            out.push_str("\\r");
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

/// `text` as one line: `terminal_safe`, and a newline written `\n` too. For a name (or
/// any text) from a cluster, a file or the journal interpolated into a message or a
/// table: the line breaks of a report are ours, one inside a name would let it forge a
/// line of its own (a fake `error:`), and `terminal_safe` on the whole message cannot tell
/// them apart.
pub fn one_line(text: &str) -> String {
    let safe = terminal_safe(text);
    if safe.contains('\n') {
        safe.replace('\n', "\\n")
    } else {
        safe
    }
}

/// Displays as `one_line` of its content: `format!("group `{}`", OneLine(&name))`. Use it
/// wherever a name that did not come from kafka-dr itself is interpolated into text.
#[derive(Debug, Clone, Copy)]
pub struct OneLine<T>(pub T);

impl<T: std::fmt::Display> std::fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&one_line(&self.0.to_string()))
    }
}

/// A JSON document with the bidirectional controls (which serde_json leaves as they are)
/// written as `\uXXXX` escapes: the same string to a parser, harmless on a terminal.
pub fn json_safe(text: &str) -> String {
    if !text.chars().any(is_hostile) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hostile(c) {
            // serde_json escapes C0 controls already; what is left lies inside strings.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked() {
        register(["redact-unit-s3cret".to_string(), "abc".to_string()]);
        assert_eq!(
            redact("pw=redact-unit-s3cret abc"),
            "pw=*** abc",
            "short values are left"
        );
    }

    #[test]
    fn hostile_characters_are_escaped() {
        assert_eq!(
            terminal_safe("a\x1b[2Jb\rc\u{202e}d\ne"),
            "a\\x1b[2Jb\\rc\\u{202e}d\ne"
        );
        assert_eq!(terminal_safe("plain"), "plain");
        assert_eq!(
            terminal_safe("a\u{2028}b\u{2029}c\u{85}d"),
            "a\\u{2028}b\\u{2029}c\\x85d"
        );
        let doc = json_safe(&serde_json::to_string("x\u{202e}y\u{1b}").unwrap());
        assert_eq!(doc, "\"x\\u202ey\\u001b\"");
        let back: String = serde_json::from_str(&doc).unwrap();
        assert_eq!(back, "x\u{202e}y\u{1b}");
    }

    /// A name cannot forge a line: its newlines are escaped, ours stay.
    #[test]
    fn names_stay_on_one_line() {
        assert_eq!(
            one_line("ok\nerror: forged\r\n"),
            "ok\\nerror: forged\\r\\n"
        );
        assert_eq!(one_line("plain name"), "plain name");
        let msg = format!(
            "group `{}` is not empty\nhelp: stop its consumers",
            OneLine("g\nerror: forged")
        );
        assert_eq!(msg.lines().count(), 2, "{msg}");
        assert!(msg.lines().all(|l| !l.starts_with("error:")), "{msg}");
    }
}
