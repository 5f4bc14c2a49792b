//! The committed man pages in man/ must equal what the clap definition renders now.
//! Run `UPDATE_MAN=1 cargo test --test man_pages` after changing the CLI.

use std::path::Path;

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = kafka_dr::cli::man::render_all().expect("render man pages");
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "1") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, bytes) in &pages {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, bytes) in &pages {
        match std::fs::read(dir.join(name)) {
            Ok(committed) if &committed == bytes => {}
            _ => stale.push(name.clone()),
        }
    }
    let committed: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".1"))
                .collect()
        })
        .unwrap_or_default();
    let extra: Vec<&String> = committed
        .iter()
        .filter(|n| !pages.iter().any(|(p, _)| p == *n))
        .collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "man/ is out of date (stale or missing: {stale:?}; no longer generated: {extra:?}); \
         run `UPDATE_MAN=1 cargo test --test man_pages` and commit man/"
    );
}
