//! Kafka client properties files (the `--command-config` files operators keep for
//! kafka-*.sh) and their translation into librdkafka settings.
//!
//! Three layers: `parse` reads Java `.properties` syntax exactly as `java.util.Properties`
//! does (comments, separators, continuations, escapes); `parse_jaas` reads a
//! `sasl.jaas.config` value as Kafka's `JaasConfig` does; `map_to_librdkafka` turns Java
//! client keys into librdkafka keys and refuses, with the file, line and a fix, whatever
//! librdkafka cannot do (JKS stores, GSSAPI, OAUTHBEARER, custom classes). Unknown keys are
//! errors, except the documented Java-only keys in `IGNORED`. Values of secret keys (and the
//! whole JAAS string) never appear in messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::yamlpos::Diagnostic;
use crate::yamlpos::Location;

/// One `key=value` of a properties file, escapes decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub key: String,
    pub value: String,
    /// 1-based line where the (logical) line starts.
    pub line: usize,
}

/// Parse Java `.properties` text. Never fails: like `java.util.Properties.load`, anything
/// is some key and value. Later duplicates are kept; the mapper lets the last one win.
pub fn parse(text: &str) -> Vec<Prop> {
    let natural: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < natural.len() {
        let start = i;
        let first = trim_ws_start(natural[i]);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues the line;
        // the next line's leading whitespace is dropped.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match natural.get(i) {
                Some(next) => {
                    logical.push_str(trim_ws_start(next));
                    i += 1;
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        out.push(Prop {
            key,
            value,
            line: start + 1,
        });
    }
    out
}

fn trim_ws_start(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\x0c'])
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '=' | ':' | ' ' | '\t' | '\x0c' => break,
            _ => i += 1,
        }
    }
    let key_end = i.min(chars.len());
    let mut j = key_end;
    while j < chars.len() && matches!(chars[j], ' ' | '\t' | '\x0c') {
        j += 1;
    }
    if j < chars.len() && matches!(chars[j], '=' | ':') {
        j += 1;
        while j < chars.len() && matches!(chars[j], ' ' | '\t' | '\x0c') {
            j += 1;
        }
    }
    (
        unescape(&chars[..key_end]),
        unescape(&chars[j.min(chars.len())..]),
    )
}

/// `\t \n \r \f`, `\uXXXX`, and `\x` for any other x, as `Properties.loadConvert` does.
fn unescape(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let Some(&c) = chars.get(i + 1) else {
            break;
        };
        i += 2;
        match c {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'u' => {
                let hex: String = chars[i..(i + 4).min(chars.len())].iter().collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => {
                        out.push(ch);
                        i += 4;
                    }
                    // Java throws on a malformed \u escape; keeping the text is kinder and
                    // the value is then rejected or used verbatim downstream.
                    _ => out.push('u'),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// One login module entry of a `sasl.jaas.config`.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    pub module: String,
    pub flag: String,
    pub options: Vec<(String, String)>,
}

impl JaasEntry {
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Option values are credentials: Debug shows option names only.
impl std::fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JaasEntry")
            .field("module", &self.module)
            .field("flag", &self.flag)
            .field(
                "options",
                &self.options.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Eq,
    Semi,
}

/// Tokenize like Kafka's `JaasConfig` (a `StreamTokenizer`): `//` and `/* */` comments,
/// single- or double-quoted strings with backslash escapes, `=` and `;` as symbols.
fn jaas_tokens(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            loop {
                if i + 1 >= chars.len() {
                    return Err("unterminated `/*` comment".into());
                }
                if chars[i] == '*' && chars[i + 1] == '/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
        } else if c == '=' {
            toks.push(Tok::Eq);
            i += 1;
        } else if c == ';' {
            toks.push(Tok::Semi);
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated quoted value".into());
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' {
                    let Some(&e) = chars.get(i) else {
                        return Err("unterminated quoted value".into());
                    };
                    i += 1;
                    v.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\x08',
                        'f' => '\x0c',
                        other => other,
                    });
                } else {
                    v.push(d);
                }
            }
            toks.push(Tok::Quoted(v));
        } else {
            let mut v = String::new();
            while let Some(&d) = chars.get(i) {
                if d.is_whitespace() || matches!(d, '=' | ';' | '"' | '\'') {
                    break;
                }
                v.push(d);
                i += 1;
            }
            toks.push(Tok::Word(v));
        }
    }
    Ok(toks)
}

/// How the value of an ordinary setting is quoted in an error: a single word as written;
/// anything longer not at all. A trailing `\` joins the next line to the value, which
/// may be `sasl.jaas.config` with its password (found by tests/fuzz.rs).
fn shown_value(value: &str) -> String {
    let word = !value.is_empty()
        && value.chars().count() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if word {
        format!("`{value}`")
    } else {
        "(the value is not shown: it is more than one word, and may have taken in a continued line)"
            .to_string()
    }
}

/// How a login module token is named in an error: known module names as written,
/// anything else not at all (a JAAS value that does not parse may have its password
/// where the class name should be).
fn shown_module(module: &str) -> String {
    if [PLAIN_MODULE, SCRAM_MODULE, KRB5_MODULE, OAUTH_MODULE].contains(&module) {
        format!("`{module}`")
    } else {
        "the login module".to_string()
    }
}

/// How an option name is named in an error: the options login modules take, as written;
/// any other word not at all (it may be a value that lost its `=`).
fn shown_option(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "username",
        "password",
        "tokenauth",
        "serviceName",
        "keyTab",
        "principal",
        "useKeyTab",
        "storeKey",
        "useTicketCache",
        "debug",
    ];
    if KNOWN.contains(&name) {
        format!("option `{name}`")
    } else {
        "an option name".to_string()
    }
}

/// Parse a `sasl.jaas.config` value. Errors name known options and modules, never
/// values or words they cannot place.
pub fn parse_jaas(s: &str) -> Result<Vec<JaasEntry>, String> {
    let toks = jaas_tokens(s)?;
    let mut entries = Vec::new();
    let mut it = toks.into_iter().peekable();
    while let Some(tok) = it.next() {
        let Tok::Word(module) = tok else {
            return Err("expected a login module class name".into());
        };
        let flag = match it.next() {
            Some(Tok::Word(f)) => f,
            _ => {
                return Err(format!(
                    "expected a control flag (`required`) after {}",
                    shown_module(&module)
                ))
            }
        };
        if !["required", "requisite", "sufficient", "optional"]
            .contains(&flag.to_ascii_lowercase().as_str())
        {
            // The word is not shown: a JAAS line that does not parse may have its
            // password where the flag should be.
            return Err(format!(
                "the word after {} is not a control flag: expected `required`, `requisite`, `sufficient` or `optional`",
                shown_module(&module)
            ));
        }
        let mut options = Vec::new();
        loop {
            match it.next() {
                Some(Tok::Semi) => break,
                Some(Tok::Word(name)) => {
                    if it.next() != Some(Tok::Eq) {
                        return Err(format!("expected `=` after {}", shown_option(&name)));
                    }
                    match it.next() {
                        Some(Tok::Word(v)) | Some(Tok::Quoted(v)) => options.push((name, v)),
                        _ => return Err(format!("missing value for {}", shown_option(&name))),
                    }
                }
                Some(_) => {
                    return Err(format!(
                        "unexpected symbol in the options of {}",
                        shown_module(&module)
                    ))
                }
                None => return Err("the login module entry does not end with `;`".into()),
            }
        }
        entries.push(JaasEntry {
            module,
            flag,
            options,
        });
    }
    if entries.is_empty() {
        return Err("no login module".into());
    }
    Ok(entries)
}

const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const KRB5_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";
const OAUTH_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// Java-client keys that are safe to ignore, and why. Everything else unknown is an error:
/// silently dropping a setting an operator relies on is worse than asking.
pub const IGNORED: &[(&str, &str)] = &[
    ("bootstrap.servers", "the topology's `bootstrap` is authoritative"),
    ("ssl.protocol", "the JSSE SSLContext algorithm; OpenSSL negotiates the TLS version itself"),
    ("ssl.enabled.protocols", "the broker enforces its own protocol list; OpenSSL only offers versions it considers secure"),
    ("ssl.provider", "a JSSE security provider name; librdkafka uses OpenSSL"),
    ("ssl.keymanager.algorithm", "a JSSE key manager factory name; meaningless to OpenSSL"),
    ("ssl.trustmanager.algorithm", "a JSSE trust manager factory name; meaningless to OpenSSL"),
    ("ssl.secure.random.implementation", "a JCA random source; OpenSSL seeds itself"),
    ("ssl.truststore.password", "only protects JKS/PKCS12 truststores, which are converted to PEM first"),
    ("default.api.timeout.ms", "kafka-dr gives every call its own timeout"),
    ("retries", "kafka-dr retries (or not) per operation; its admin calls are idempotent"),
    ("metric.reporters", "Java metrics plumbing; changes nothing that is read or written"),
    ("metrics.num.samples", "Java metrics plumbing"),
    ("metrics.recording.level", "Java metrics plumbing"),
    ("metrics.sample.window.ms", "Java metrics plumbing"),
    ("auto.include.jmx.reporter", "Java metrics plumbing"),
    ("sasl.kerberos.kinit.cmd", "only used by GSSAPI, which is refused separately"),
    ("sasl.kerberos.min.time.before.relogin", "only used by GSSAPI"),
    ("sasl.kerberos.ticket.renew.jitter", "only used by GSSAPI"),
    ("sasl.kerberos.ticket.renew.window.factor", "only used by GSSAPI"),
    ("sasl.login.refresh.window.factor", "token refresh tuning; PLAIN and SCRAM logins never refresh"),
    ("sasl.login.refresh.window.jitter", "token refresh tuning; PLAIN and SCRAM logins never refresh"),
    ("sasl.login.refresh.min.period.seconds", "token refresh tuning; PLAIN and SCRAM logins never refresh"),
    ("sasl.login.refresh.buffer.seconds", "token refresh tuning; PLAIN and SCRAM logins never refresh"),
    ("key.serializer", "a Java class for producers; kafka-dr reads and writes raw bytes"),
    ("value.serializer", "a Java class for producers; kafka-dr reads and writes raw bytes"),
    ("key.deserializer", "a Java class for consumers; kafka-dr reads raw bytes"),
    ("value.deserializer", "a Java class for consumers; kafka-dr reads raw bytes"),
];

/// Keys with the same name and meaning in librdkafka.
const SAME: &[&str] = &[
    "client.id",
    "metadata.max.age.ms",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "socket.connection.setup.timeout.ms",
];

/// Keys with another name in librdkafka.
const RENAMED: &[(&str, &str)] = &[
    // Java: how long to wait for a response; librdkafka's per-request network timeout.
    ("request.timeout.ms", "socket.timeout.ms"),
    ("receive.buffer.bytes", "socket.receive.buffer.bytes"),
    ("send.buffer.bytes", "socket.send.buffer.bytes"),
];

/// Keys that need Java code or features librdkafka (as built here) lacks.
const REFUSED: &[(&str, &str)] = &[
    ("sasl.login.class", "loads a Java class"),
    ("sasl.login.callback.handler.class", "loads a Java class"),
    ("sasl.client.callback.handler.class", "loads a Java class"),
    ("ssl.engine.factory.class", "loads a Java class"),
    ("security.providers", "loads Java security providers"),
    (
        "ssl.cipher.suites",
        "lists JSSE cipher names, which differ from OpenSSL's",
    ),
];

/// Everything `map_to_librdkafka` understands, for "did you mean" suggestions.
fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = vec![
        "security.protocol",
        "sasl.mechanism",
        "sasl.jaas.config",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.certificates",
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.key.password",
        "ssl.endpoint.identification.algorithm",
        "client.dns.lookup",
        "sasl.kerberos.service.name",
    ];
    keys.extend(SAME);
    keys.extend(RENAMED.iter().map(|(k, _)| *k));
    keys.extend(IGNORED.iter().map(|(k, _)| *k));
    keys
}

/// Why a client properties file could not be used.
#[derive(Debug)]
pub enum PropsError {
    Read(std::io::Error),
    Invalid(Diagnostic),
}

/// Read `path` and translate it (see `map_to_librdkafka`).
pub fn load(path: &Path, cluster: &str) -> Result<BTreeMap<String, String>, PropsError> {
    let bytes = super::reference::read_small_file(path).map_err(PropsError::Read)?;
    // Properties.load(InputStream) reads ISO-8859-1; accept UTF-8 first since that is what
    // editors write today, and fall back to Latin-1 byte-for-char.
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    };
    map_to_librdkafka(path, &text, cluster).map_err(PropsError::Invalid)
}

/// Translate a Java client properties file into librdkafka settings. Relative store paths
/// are resolved against the file's own directory (Java would use the working directory,
/// which is a surprise at 3 a.m.; absolute paths behave the same either way).
pub fn map_to_librdkafka(
    path: &Path,
    text: &str,
    cluster: &str,
) -> Result<BTreeMap<String, String>, Diagnostic> {
    map_inner(path, text, cluster).map_err(|mut d| {
        // Whatever a message quotes (a value that took in a continued line, a path in a
        // help), no secret of this file gets through.
        let secrets = secrets_in(text);
        let scrub = |s: &str| {
            secrets
                .iter()
                .fold(s.to_string(), |acc, v| acc.replace(v.as_str(), "***"))
        };
        d.message = scrub(&d.message);
        d.help = d.help.as_deref().map(scrub);
        d.field = scrub(&d.field);
        d
    })
}

/// Every value in `text` that may be a secret: those of secret keys (per logical line and
/// per physical line, since a stray `\` joins lines), JAAS passwords, and lines that are
/// only a word. Longest first, so that one secret inside another is masked whole.
fn secrets_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: &str| {
        let v = v.trim().trim_end_matches('\\').trim();
        if v.chars().count() >= 4 && !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    };
    for p in parse(text) {
        if super::is_secret_key(&p.key) {
            add(&p.value);
            if let Ok(entries) = parse_jaas(&p.value) {
                for e in entries {
                    for (k, v) in &e.options {
                        if super::is_secret_key(k) {
                            add(v);
                        }
                    }
                }
            }
        }
        if p.value.is_empty() && !known_keys().contains(&p.key.as_str()) {
            add(&p.key);
        }
    }
    for line in text.lines() {
        let (k, v) = split_key_value(trim_ws_start(line));
        if super::is_secret_key(&k) {
            add(&v);
        }
        // `password="..."` wherever it sits (a JAAS line continued or broken up).
        for (i, _) in line.match_indices("password=") {
            let rest = &line[i + "password=".len()..];
            let rest = rest.trim_start_matches(['"', '\'']);
            let end = rest.find(['"', '\'', ';', ' ']).unwrap_or(rest.len());
            add(&rest[..end]);
        }
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out
}

fn map_inner(
    path: &Path,
    text: &str,
    cluster: &str,
) -> Result<BTreeMap<String, String>, Diagnostic> {
    let mut props: BTreeMap<String, Prop> = BTreeMap::new();
    for p in parse(text) {
        props.insert(p.key.clone(), p);
    }
    let mut ordered: Vec<&Prop> = props.values().collect();
    ordered.sort_by_key(|p| p.line);
    let ctx = Ctx {
        path,
        cluster,
        dir: super::reference::base_dir(path),
    };
    let get = |k: &str| props.get(k);
    let mut out = BTreeMap::new();

    // Per-key pass, in file order so the first problem reported is the first in the file.
    for p in &ordered {
        let key = p.key.as_str();
        let value = p.value.trim();
        match key {
            "security.protocol" => {
                let v = value.to_ascii_uppercase();
                if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&v.as_str()) {
                    return Err(ctx
                        .err(
                            p,
                            format!("unknown security protocol {}", shown_value(value)),
                        )
                        .with_help("use `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`"));
                }
                out.insert(key.to_string(), v);
            }
            "sasl.mechanism" => {
                let v = value.to_ascii_uppercase();
                match v.as_str() {
                    "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                        out.insert(key.to_string(), v);
                    }
                    "GSSAPI" if cfg!(feature = "gssapi") => {
                        out.insert(key.to_string(), v);
                    }
                    "GSSAPI" => {
                        return Err(ctx
                            .err(p, "sasl mechanism `GSSAPI` (Kerberos) is not in this build of kafka-dr")
                            .with_help("build kafka-dr with `cargo build --release --features gssapi` (needs Debian's libsasl2-dev and libkrb5-dev), or give it a principal that logs in with `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or a TLS client certificate"));
                    }
                    "OAUTHBEARER" => {
                        return Err(ctx
                            .err(p, "sasl mechanism `OAUTHBEARER` is not supported by kafka-dr")
                            .with_help("give kafka-dr's admin principal `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` credentials, or a TLS client certificate (security.protocol=SSL with ssl.keystore.*)"));
                    }
                    _ => {
                        return Err(ctx
                            .err(p, format!("unknown sasl mechanism {}", shown_value(value)))
                            .with_help("use `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`"));
                    }
                }
            }
            "sasl.jaas.config" => {} // below, it needs sasl.mechanism
            "ssl.endpoint.identification.algorithm" => {
                let v = match value.to_ascii_lowercase().as_str() {
                    "" => "none",
                    "https" => "https",
                    _ => {
                        return Err(ctx
                            .err(p, format!("unknown endpoint identification algorithm {}", shown_value(value)))
                            .with_help("use `https` to check the broker's host name, or leave it empty to skip the check"));
                    }
                };
                out.insert(key.to_string(), v.to_string());
            }
            "client.dns.lookup" => {
                if ![
                    "use_all_dns_ips",
                    "resolve_canonical_bootstrap_servers_only",
                ]
                .contains(&value)
                {
                    return Err(ctx
                        .err(
                            p,
                            format!(
                                "unsupported `client.dns.lookup` value {}",
                                shown_value(value)
                            ),
                        )
                        .with_help(
                            "use `use_all_dns_ips` or `resolve_canonical_bootstrap_servers_only`",
                        ));
                }
                out.insert(key.to_string(), value.to_string());
            }
            "ssl.key.password" => {} // below, depends on the keystore type
            k if k.starts_with("ssl.truststore.") || k.starts_with("ssl.keystore.") => {
                let known = [
                    "ssl.truststore.type",
                    "ssl.truststore.location",
                    "ssl.truststore.certificates",
                    "ssl.truststore.password",
                    "ssl.keystore.type",
                    "ssl.keystore.location",
                    "ssl.keystore.password",
                    "ssl.keystore.certificate.chain",
                    "ssl.keystore.key",
                ];
                if !known.contains(&k) {
                    return Err(ctx.unknown(p));
                }
            }
            "sasl.kerberos.service.name" => {
                // librdkafka's own key; harmless without GSSAPI, which is refused above.
                out.insert(key.to_string(), value.to_string());
            }
            k if k.starts_with("sasl.oauthbearer.") => {
                return Err(ctx
                    .err(p, "OAUTHBEARER settings are not supported by kafka-dr")
                    .with_help(
                        "give kafka-dr an admin principal that logs in with `PLAIN` or `SCRAM`",
                    ));
            }
            k if SAME.contains(&k) => {
                out.insert(k.to_string(), value.to_string());
            }
            k if RENAMED.iter().any(|(j, _)| *j == k) => {
                let target = RENAMED
                    .iter()
                    .find(|(j, _)| *j == k)
                    .map(|(_, t)| *t)
                    .unwrap_or(k);
                // Java's -1 ("OS default") is librdkafka's 0.
                let v = if value == "-1" && k.ends_with(".bytes") {
                    "0"
                } else {
                    value
                };
                out.insert(target.to_string(), v.to_string());
            }
            k if IGNORED.iter().any(|(j, _)| *j == k) => {}
            k if REFUSED.iter().any(|(j, _)| *j == k) => {
                let why = REFUSED
                    .iter()
                    .find(|(j, _)| *j == k)
                    .map(|(_, w)| *w)
                    .unwrap_or("");
                return Err(ctx
                    .err(p, format!("`{k}` is not supported by librdkafka: it {why}"))
                    .with_help("remove it, or set the librdkafka equivalent under the cluster's `properties` in the topology"));
            }
            _ => return Err(ctx.unknown(p)),
        }
    }

    // Truststore: librdkafka reads PEM only.
    let ts_type = get("ssl.truststore.type");
    let ts_kind = ts_type
        .map(|p| p.value.trim().to_ascii_uppercase())
        .unwrap_or_else(|| "JKS".to_string());
    if let Some(loc) = get("ssl.truststore.location") {
        let at = ts_type.unwrap_or(loc);
        match ts_kind.as_str() {
            "PEM" => {
                out.insert("ssl.ca.location".into(), ctx.path(&loc.value));
            }
            "JKS" => {
                return Err(ctx
                    .err(at, "JKS truststores are not supported by librdkafka")
                    .with_help(format!(
                        "convert it to PEM (keytool -exportcert -rfc -keystore {} -alias <ca-alias> -file ca.pem) and set ssl.truststore.type=PEM and ssl.truststore.location=ca.pem",
                        loc.value.trim()
                    )));
            }
            "PKCS12" => {
                return Err(ctx
                    .err(at, "PKCS12 truststores are not supported by librdkafka")
                    .with_help(format!(
                        "convert it to PEM (openssl pkcs12 -in {} -nokeys -out ca.pem) and set ssl.truststore.type=PEM and ssl.truststore.location=ca.pem",
                        loc.value.trim()
                    )));
            }
            other => {
                return Err(ctx
                    .err(
                        at,
                        format!("unknown truststore type {}", shown_value(other)),
                    )
                    .with_help("use ssl.truststore.type=PEM"));
            }
        }
    }
    if let Some(certs) = get("ssl.truststore.certificates") {
        if ts_kind != "PEM" {
            return Err(ctx
                .err(
                    certs,
                    "`ssl.truststore.certificates` needs ssl.truststore.type=PEM",
                )
                .with_help("add ssl.truststore.type=PEM"));
        }
        out.insert("ssl.ca.pem".into(), certs.value.clone());
    }

    // Keystore (client certificate).
    let ks_type = get("ssl.keystore.type");
    let ks_kind = ks_type
        .map(|p| p.value.trim().to_ascii_uppercase())
        .unwrap_or_else(|| "JKS".to_string());
    if let Some(loc) = get("ssl.keystore.location") {
        let at = ks_type.unwrap_or(loc);
        match ks_kind.as_str() {
            "PKCS12" => {
                out.insert("ssl.keystore.location".into(), ctx.path(&loc.value));
                if let Some(pw) = get("ssl.keystore.password") {
                    out.insert("ssl.keystore.password".into(), pw.value.clone());
                }
            }
            "PEM" => {
                // A Java PEM keystore file holds the key and the chain; OpenSSL's loaders
                // each pick their own block out of the same file.
                let file = ctx.path(&loc.value);
                out.insert("ssl.certificate.location".into(), file.clone());
                out.insert("ssl.key.location".into(), file);
            }
            "JKS" => {
                return Err(ctx
                    .err(at, "JKS keystores are not supported by librdkafka")
                    .with_help(format!(
                        "convert it to PKCS12 (keytool -importkeystore -srckeystore {} -destkeystore client.p12 -deststoretype PKCS12) and set ssl.keystore.type=PKCS12 and ssl.keystore.location=client.p12",
                        loc.value.trim()
                    )));
            }
            other => {
                return Err(ctx
                    .err(at, format!("unknown keystore type {}", shown_value(other)))
                    .with_help("use ssl.keystore.type=PKCS12 or PEM"));
            }
        }
    }
    for (java, rd) in [
        ("ssl.keystore.certificate.chain", "ssl.certificate.pem"),
        ("ssl.keystore.key", "ssl.key.pem"),
    ] {
        if let Some(p) = get(java) {
            if ks_kind != "PEM" {
                return Err(ctx
                    .err(p, format!("`{java}` needs ssl.keystore.type=PEM"))
                    .with_help("add ssl.keystore.type=PEM"));
            }
            out.insert(rd.into(), p.value.clone());
        }
    }
    if let Some(p) = get("ssl.key.password") {
        // For PKCS12 librdkafka only takes the store password; a separate key password
        // inside a PKCS12 store is not supported, so only PEM keys use it.
        if ks_kind == "PEM" {
            out.insert("ssl.key.password".into(), p.value.clone());
        }
    }

    // SASL credentials from the JAAS config.
    if let Some(p) = get("sasl.jaas.config") {
        let mechanism = out.get("sasl.mechanism").cloned();
        for (k, v) in map_jaas(&ctx, p, mechanism.as_deref())? {
            out.insert(k.into(), v);
        }
    }

    // librdkafka's own verdict on what the file maps to, now rather than at the first
    // connection; the error points at the Java line the setting came from.
    for (k, v) in &out {
        if let Err(why) = crate::kafka::check_client_setting(k, Some(v)) {
            let from = java_sources(k).into_iter().find_map(&get);
            let fallback = Prop {
                key: k.clone(),
                value: String::new(),
                line: 1,
            };
            let p = from.unwrap_or(&fallback);
            let via = if p.key == *k {
                String::new()
            } else {
                format!(", which `{}` maps to", p.key)
            };
            return Err(ctx.err(p, format!("{why}{via}")).with_help(
                "fix the value (librdkafka's CONFIGURATION.md lists each setting's type and range)",
            ));
        }
    }
    Ok(out)
}

/// The Java keys a librdkafka setting of `map_inner`'s output can come from.
fn java_sources(rd_key: &str) -> Vec<&str> {
    let mut out = vec![rd_key];
    out.extend(
        RENAMED
            .iter()
            .filter(|(_, t)| *t == rd_key)
            .map(|(j, _)| *j),
    );
    out.extend(match rd_key {
        "ssl.ca.location" => &["ssl.truststore.location"][..],
        "ssl.ca.pem" => &["ssl.truststore.certificates"][..],
        "ssl.certificate.location" | "ssl.key.location" => &["ssl.keystore.location"][..],
        "ssl.certificate.pem" => &["ssl.keystore.certificate.chain"][..],
        "ssl.key.pem" => &["ssl.keystore.key"][..],
        k if k.starts_with("sasl.") => &["sasl.jaas.config"][..],
        _ => &[][..],
    });
    out
}

/// The librdkafka settings a `sasl.jaas.config` stands for: `sasl.username` and
/// `sasl.password` for PLAIN and SCRAM; with the `gssapi` feature, the Kerberos principal
/// and keytab of a `Krb5LoginModule`.
fn map_jaas(
    ctx: &Ctx<'_>,
    p: &Prop,
    mechanism: Option<&str>,
) -> Result<Vec<(&'static str, String)>, Diagnostic> {
    let entries = parse_jaas(&p.value)
        .map_err(|m| ctx.err(p, format!("cannot parse the JAAS configuration: {m}")))?;
    let [entry] = entries.as_slice() else {
        return Err(ctx.err(
            p,
            format!("expected one login module, found {}", entries.len()),
        ));
    };
    let expected = match entry.module.as_str() {
        PLAIN_MODULE => vec!["PLAIN"],
        SCRAM_MODULE => vec!["SCRAM-SHA-256", "SCRAM-SHA-512"],
        KRB5_MODULE if cfg!(feature = "gssapi") => {
            if mechanism.is_some_and(|m| m != "GSSAPI") {
                return Err(ctx
                    .err(
                        p,
                        format!(
                            "login module `{KRB5_MODULE}` does not match sasl.mechanism `{}`",
                            mechanism.unwrap_or_default()
                        ),
                    )
                    .with_help("set sasl.mechanism=GSSAPI"));
            }
            let mut out = Vec::new();
            if let Some(principal) = entry.option("principal") {
                out.push(("sasl.kerberos.principal", principal.to_string()));
            }
            if let Some(keytab) = entry.option("keyTab") {
                out.push(("sasl.kerberos.keytab", ctx.path(keytab)));
            }
            return Ok(out);
        }
        KRB5_MODULE => {
            return Err(ctx
                .err(p, format!("login module `{KRB5_MODULE}` (Kerberos) is not in this build of kafka-dr"))
                .with_help("build kafka-dr with `--features gssapi`, or give it a principal that logs in with `PLAIN`, `SCRAM` or a TLS client certificate"));
        }
        OAUTH_MODULE => {
            return Err(ctx
                .err(p, format!("login module `{OAUTH_MODULE}` (OAUTHBEARER) is not supported by kafka-dr"))
                .with_help("give kafka-dr's admin principal `PLAIN` or `SCRAM` credentials, or a TLS client certificate"));
        }
        other => {
            return Err(ctx
                .err(p, format!("unknown login module {}", shown_module(other)))
                .with_help(format!("use `{PLAIN_MODULE}` or `{SCRAM_MODULE}`")));
        }
    };
    match mechanism {
        Some(m) if !expected.contains(&m) => {
            return Err(ctx
                .err(
                    p,
                    format!(
                        "login module `{}` does not match sasl.mechanism `{m}`",
                        entry.module
                    ),
                )
                .with_help(format!("set sasl.mechanism={}", expected.join(" or "))));
        }
        None => {
            return Err(ctx
                .err(p, "`sasl.jaas.config` is set but `sasl.mechanism` is not (the Java client would try GSSAPI)")
                .with_help(format!("add sasl.mechanism={}", expected.join(" or sasl.mechanism="))));
        }
        Some(_) => {}
    }
    if entry
        .option("tokenauth")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(ctx
            .err(
                p,
                "delegation-token logins (`tokenauth=true`) are not supported by librdkafka",
            )
            .with_help("use the principal's own SCRAM credentials"));
    }
    let user = entry.option("username");
    let pass = entry.option("password");
    match (user, pass) {
        (Some(u), Some(pw)) => Ok(vec![
            ("sasl.username", u.to_string()),
            ("sasl.password", pw.to_string()),
        ]),
        _ => {
            let missing = if user.is_none() {
                "username"
            } else {
                "password"
            };
            Err(ctx
                .err(
                    p,
                    format!("the JAAS configuration has no `{missing}` option"),
                )
                .with_help(format!("add {missing}=\"...\" before the final `;`")))
        }
    }
}

struct Ctx<'a> {
    path: &'a Path,
    cluster: &'a str,
    dir: PathBuf,
}

impl Ctx<'_> {
    fn err(&self, p: &Prop, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            source: self.path.display().to_string(),
            location: Location {
                line: p.line,
                column: 1,
            },
            field: p.key.clone(),
            message: format!(
                "{} (client properties of cluster `{}`)",
                message.into(),
                self.cluster
            ),
            help: None,
        }
    }

    fn unknown(&self, p: &Prop) -> Diagnostic {
        if p.value.is_empty() {
            // A line that is only a word: it may be a password pasted on a line of its own,
            // so it is not shown.
            let mut d = self.err(p, "this line is a key without a value, and not a known client property (its text is not shown: it may be a secret)");
            d.field = String::new();
            return d.with_help(
                "write `key=value`; a password belongs in `sasl.jaas.config` or `ssl.*.password`",
            );
        }
        let d = self.err(p, format!("unknown client property `{}`", p.key));
        let keys = known_keys();
        match crate::yamlpos::suggest(&p.key, keys.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(
                "this Java client setting has no librdkafka equivalent kafka-dr knows of; remove it, or put a librdkafka setting under the cluster's `properties` in the topology",
            ),
        }
    }

    fn path(&self, value: &str) -> String {
        let p = Path::new(value.trim());
        if p.is_absolute() {
            p.display().to_string()
        } else {
            self.dir.join(p).display().to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_syntax() {
        let text = "\
# comment
! also a comment
  a=1
b : two words  
c   three
d\\ e=f\\=g
empty
long=one \\
    two \\
  three
unicode=caf\\u00e9\\tx
colon:x:y
# comment ending in backslash does not continue \\
next=yes
";
        let props = parse(text);
        let got: Vec<(&str, &str, usize)> = props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str(), p.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "1", 3),
                ("b", "two words  ", 4),
                ("c", "three", 5),
                ("d e", "f=g", 6),
                ("empty", "", 7),
                ("long", "one two three", 8),
                ("unicode", "café\tx", 11),
                ("colon", "x:y", 12),
                ("next", "yes", 14),
            ]
        );
    }

    #[test]
    fn jaas_parsing() {
        let e = parse_jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password='p\\\"w;d' /* c */ extra=x // end\n;",
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].module, PLAIN_MODULE);
        assert_eq!(e[0].flag, "required");
        assert_eq!(e[0].option("username"), Some("admin"));
        assert_eq!(e[0].option("password"), Some("p\"w;d"));
        assert_eq!(e[0].option("extra"), Some("x"));
        assert!(!format!("{:?}", e[0]).contains("p\"w;d"));

        assert!(parse_jaas("X required a=\"b\"")
            .unwrap_err()
            .contains("`;`"));
        assert!(parse_jaas("X required username b;")
            .unwrap_err()
            .contains("`=` after option `username`"));
        // Issue 12: a word the parser cannot place may be the password: never shown.
        let e = parse_jaas("X required username=\"u\" hunter2-pw;").unwrap_err();
        assert!(
            e.contains("`=` after an option name") && !e.contains("hunter2"),
            "{e}"
        );
        let e = parse_jaas("X hunter2-pw;").unwrap_err();
        assert!(e.contains("control flag") && !e.contains("hunter2"), "{e}");
        assert!(parse_jaas("X mandatory;")
            .unwrap_err()
            .contains("control flag"));
        assert!(parse_jaas("X required a=\"unterminated;")
            .unwrap_err()
            .contains("unterminated"));
        assert_eq!(parse_jaas("X required; Y optional;").unwrap().len(), 2);
    }

    fn map(text: &str) -> Result<BTreeMap<String, String>, Diagnostic> {
        map_to_librdkafka(Path::new("/etc/kafka/admin.properties"), text, "dc1")
    }

    #[test]
    fn maps_sasl_plain_and_ssl() {
        let m = map("\
security.protocol=sasl_ssl
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
    username=\"admin\" \\
    password=\"admin-secret\";
ssl.truststore.type=PEM
ssl.truststore.location=ca.pem
ssl.truststore.password=ignored
ssl.endpoint.identification.algorithm=
client.id=kafka-dr
request.timeout.ms=30000
ssl.protocol=TLSv1.3
")
        .unwrap();
        assert_eq!(m["security.protocol"], "SASL_SSL");
        assert_eq!(m["sasl.mechanism"], "PLAIN");
        assert_eq!(m["sasl.username"], "admin");
        assert_eq!(m["sasl.password"], "admin-secret");
        assert_eq!(m["ssl.ca.location"], "/etc/kafka/ca.pem");
        assert_eq!(m["ssl.endpoint.identification.algorithm"], "none");
        assert_eq!(m["socket.timeout.ms"], "30000");
        assert_eq!(m["client.id"], "kafka-dr");
        assert!(!m.contains_key("ssl.protocol") && !m.contains_key("sasl.jaas.config"));
    }

    #[test]
    fn maps_scram_and_keystores() {
        let m = map("\
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=mirror password=\"x y\";
ssl.keystore.type=PKCS12
ssl.keystore.location=/k/client.p12
ssl.keystore.password=storepw
")
        .unwrap();
        assert_eq!(m["sasl.username"], "mirror");
        assert_eq!(m["sasl.password"], "x y");
        assert_eq!(m["ssl.keystore.location"], "/k/client.p12");
        assert_eq!(m["ssl.keystore.password"], "storepw");

        let m = map("\
ssl.keystore.type=PEM
ssl.keystore.location=/k/client.pem
ssl.key.password=kpw
ssl.truststore.type=PEM
ssl.truststore.certificates=-----BEGIN CERTIFICATE-----\\nabc\\n-----END CERTIFICATE-----
")
        .unwrap();
        assert_eq!(m["ssl.certificate.location"], "/k/client.pem");
        assert_eq!(m["ssl.key.location"], "/k/client.pem");
        assert_eq!(m["ssl.key.password"], "kpw");
        assert!(m["ssl.ca.pem"].starts_with("-----BEGIN CERTIFICATE-----\nabc"));
    }

    #[test]
    fn refusals_point_at_the_line() {
        let e =
            map("security.protocol=SSL\nssl.truststore.location=/x/truststore.jks\n").unwrap_err();
        assert_eq!(e.location.line, 2);
        assert!(e.message.contains("JKS"), "{e}");
        assert!(e
            .help
            .as_deref()
            .unwrap()
            .contains("keytool -exportcert -rfc"));

        let e = map("ssl.keystore.type=JKS\nssl.keystore.location=/x/k.jks\n").unwrap_err();
        assert_eq!(e.location.line, 1);

        let e = map("sasl.mechanism=GSSAPI\n").unwrap_err();
        assert!(e.message.contains("GSSAPI"), "{e}");

        let e = map("a=1\nsasl.mechansim=PLAIN\n").unwrap_err();
        assert_eq!(e.location.line, 1);
        let e = map("sasl.mechansim=PLAIN\n").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `sasl.mechanism`?"));

        let e = map("sasl.mechanism=SCRAM-SHA-256\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=a password=\"topsecret\";\n").unwrap_err();
        assert!(e.message.contains("does not match"), "{e}");
        assert!(!e.to_string().contains("topsecret"));

        let e = map("sasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=a;\n").unwrap_err();
        assert!(e.message.contains("`password`"), "{e}");
    }
}
