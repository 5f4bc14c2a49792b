//! Man pages rendered from the clap definition (clap_mangen), one page for `kafka-dr`
//! and one per subcommand (`kafka-dr-check.1`, `kafka-dr-runs-list.1`, ...). The committed
//! copies in man/ are checked by tests/man_pages.rs; `UPDATE_MAN=1 cargo test --test
//! man_pages` rewrites them.

use clap::CommandFactory;

/// Every man page as (file name, roff bytes).
pub fn render_all() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::Cli::command();
    cmd.build();
    let mut pages = Vec::new();
    render_tree(&cmd, "kafka-dr", "kafka-dr", &mut pages)?;
    Ok(pages)
}

/// `name` is the page's (`kafka-dr-failover-promote`), `invocation` what the operator types
/// (`kafka-dr failover promote`): the binary's own name keeps its hyphen.
fn render_tree(
    cmd: &clap::Command,
    name: &str,
    invocation: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let mut page = Vec::new();
    let cmd = cmd
        .clone()
        .name(name.to_string())
        .bin_name(invocation.to_string());
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    if let Some(extra) = super::man_extra_section(name) {
        page.extend_from_slice(extra.as_bytes());
    }
    pages.push((format!("{name}.1"), page));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        render_tree(
            sub,
            &format!("{name}-{}", sub.get_name()),
            &format!("{invocation} {}", sub.get_name()),
            pages,
        )?;
    }
    Ok(())
}
