//! The house rules about who may depend on whom, checked over the source text (no Kafka, no
//! build of anything): only src/kafka names rdkafka, only src/journal names rusqlite, only
//! src/report (and main.rs, for the last-resort panic line) prints, and the top-level
//! modules of src/ depend on each other without any cycle (issue 11 broke the last one:
//! errors flow one way through `crate::error`, and the engine and the actions print through
//! the `engine::Console` trait that `report::Reporter` implements). A module that closes a
//! cycle fails this test, naming the modules and their edges. Test code is not looked at:
//! items after `#[cfg(test)]`, and a module's `tests.rs` file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

struct Source {
    /// Path under src/, e.g. `actions/fence.rs`.
    rel: String,
    /// The top-level module it belongs to (`actions`, `lib`, `main`...).
    module: String,
    /// Its code before any `#[cfg(test)]` item, without comment lines.
    code: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let module = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let text = fs::read_to_string(&path).unwrap();
            let before_tests = text.split("\n#[cfg(test)]").next().unwrap();
            let code = before_tests
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            Source { rel, module, code }
        })
        .collect()
}

/// `crate::X` names in `code`, X a module name.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // `$crate::` (macros) and `kafka_dr::` are not this crate's paths seen from inside.
        let before = &rest[..i];
        if !name.is_empty() && !before.ends_with('$') && !before.ends_with('_') {
            out.insert(name);
        }
        rest = after;
    }
    out
}

#[test]
fn only_the_owning_module_names_its_dependency() {
    let rules: [(&str, &[&str]); 4] = [
        ("rdkafka::", &["kafka/"]),
        ("rdkafka_sys", &["kafka/"]),
        ("rusqlite::", &["journal/"]),
        ("println!", &["report/", "main.rs"]),
    ];
    let mut bad = Vec::new();
    for s in sources() {
        for (needle, owners) in rules {
            if s.code.contains(needle) && !owners.iter().any(|o| s.rel.starts_with(o)) {
                bad.push(format!("src/{} names `{needle}`", s.rel));
            }
        }
        if s.code.contains("eprintln!")
            && !["report/", "main.rs"].iter().any(|o| s.rel.starts_with(o))
        {
            bad.push(format!("src/{} names `eprintln!`", s.rel));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|s| s.module.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &sources {
        for target in crate_paths(&s.code) {
            if target != s.module && modules.contains(&target) {
                edges.entry(s.module.clone()).or_default().insert(target);
            }
        }
    }
    // Reachability by repeated expansion (a few dozen modules).
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = edges.get(from).into_iter().flatten().cloned().collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                todo.extend(edges.get(&m).into_iter().flatten().cloned());
            }
        }
        seen
    };
    let on_cycle: BTreeSet<String> = modules
        .iter()
        .filter(|m| reach(m).contains(*m))
        .cloned()
        .collect();
    let describe = |set: &BTreeSet<String>| {
        set.iter()
            .map(|m| {
                let deps: Vec<&str> = edges
                    .get(m)
                    .into_iter()
                    .flatten()
                    .filter(|d| set.contains(*d))
                    .map(String::as_str)
                    .collect();
                format!("{m} -> {}", deps.join(", "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        on_cycle.is_empty(),
        "top-level modules import each other in a cycle: {:?}\n{}\nhelp: docs/architecture.md says which layer may use which",
        on_cycle,
        describe(&on_cycle)
    );
}

/// Each function of `code` (a source without its tests and comment lines, as rustfmt lays
/// it out): its name, and its length in lines from `fn` to the closing brace at the same
/// indentation. Declarations without a body are skipped.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let mut rest = trimmed;
        for prefix in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "const ",
            "async ",
            "unsafe ",
            "extern \"C\" ",
        ] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let Some(after) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body opens on the first line that ends with `{`; a `;` first is a declaration.
        let Some(open) = lines[i..]
            .iter()
            .position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
        else {
            continue;
        };
        if lines[i + open].trim_end().ends_with(';') {
            continue;
        }
        if lines[i + open].trim_end().ends_with('}') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = lines[i + open..].iter().position(|l| l.trim_end() == close) {
            out.push((name, open + end + 1));
        }
    }
    out
}

/// Issue 11: no function over 80 lines of code (comment lines not counted). Those that
/// predate the rule are listed in `tests/long_functions.txt` with their length; the list
/// only shrinks: a function not listed that passes 80 lines, a listed one that grew, and
/// an entry that no longer needs to be there all fail, naming the function.
#[test]
fn no_function_grows_past_80_lines() {
    const LIMIT: usize = 80;
    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/long_functions.txt");
    let listed: BTreeMap<(String, String), usize> = fs::read_to_string(&list_path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split_whitespace();
            let (file, name, n) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            ((file.to_string(), name.to_string()), n.parse().unwrap())
        })
        .collect();
    let mut found: BTreeMap<(String, String), usize> = BTreeMap::new();
    for s in sources() {
        for (name, n) in function_lengths(&s.code) {
            if n > LIMIT {
                let e = found.entry((s.rel.clone(), name)).or_default();
                *e = (*e).max(n);
            }
        }
    }
    let mut problems = Vec::new();
    for ((file, name), n) in &found {
        match listed.get(&(file.clone(), name.clone())) {
            None => problems.push(format!(
                "src/{file} `{name}` is {n} lines long (over {LIMIT}): split it"
            )),
            Some(max) if n > max => problems.push(format!(
                "src/{file} `{name}` grew to {n} lines (listed at {max}, over {LIMIT}): split it rather than grow it"
            )),
            Some(_) => {}
        }
    }
    for ((file, name), max) in &listed {
        match found.get(&(file.clone(), name.clone())) {
            None => problems.push(format!(
                "src/{file} `{name}` (listed at {max}) is {LIMIT} lines or less now, or gone: remove it from tests/long_functions.txt"
            )),
            Some(n) if n < max => problems.push(format!(
                "src/{file} `{name}` is down to {n} lines: lower its entry in tests/long_functions.txt from {max}"
            )),
            Some(_) => {}
        }
    }
    println!(
        "LONG FUNCTIONS: {} over {LIMIT} lines of code, {} over 100",
        found.len(),
        found.values().filter(|n| **n > 100).count()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
