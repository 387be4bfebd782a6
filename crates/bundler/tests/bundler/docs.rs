//! Issue 18 item 4: docs/bundler.md's option and command tables agree with the bundler's real
//! `--help` (the clap definition as the binary prints it): an option or command without a doc
//! row fails, a row for one that is gone fails, and so does a seed variable that differs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

/// The rows of the first Markdown table after the heading line `heading`, as cells (header
/// and separator rows dropped; the tables checked here hold no `|` inside a cell).
fn table_after(markdown: &str, heading: &str) -> Vec<Vec<String>> {
    let mut lines = markdown.lines().skip_while(|l| l.trim() != heading).skip(1);
    let rows: Vec<&str> =
        lines.by_ref().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
    assert!(rows.len() > 2, "no table after `{heading}` in docs/bundler.md");
    rows[2..]
        .iter()
        .map(|row| row.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

/// The `--long` options (and `-x` short ones) named in backticks in a cell: `` `--python PATH` ``,
/// `` `--quiet`, `-q` ``.
fn options_in(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| code.split_whitespace().next())
        .filter(|word| word.starts_with('-'))
        .map(String::from)
        .collect()
}

/// Each option of a `--help` text with its `[env: NAME=]` (empty when it has none): the
/// lines of the `Options:` block.
fn help_options(help: &str) -> BTreeMap<String, String> {
    let mut options = BTreeMap::new();
    for line in help.lines().skip_while(|l| *l != "Options:").skip(1).take_while(|l| !l.is_empty()) {
        let env = line.split("[env: ").nth(1).and_then(|rest| rest.split('=').next()).unwrap_or("").to_string();
        for word in line.split_whitespace().take_while(|w| w.starts_with('-')) {
            options.insert(word.trim_end_matches(',').to_string(), env.clone());
        }
    }
    options
}

/// The command names of a `--help` text's `Commands:` block, without clap's own `help`.
fn help_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

fn help(args: &[&str]) -> String {
    let out = run_ok(Command::new(BUILD_EXTERNAL_PYTHON).args(args).arg("--help"));
    String::from_utf8(out.stdout).unwrap()
}

fn doc() -> String {
    fs::read_to_string(Path::new(REPO).join("docs/bundler.md")).unwrap()
}

#[test]
fn every_build_option_has_one_doc_row_with_its_seed_variable() {
    let doc = doc();
    let mut documented: BTreeMap<String, String> = BTreeMap::new();
    for row in table_after(&doc, "## Options") {
        assert_eq!(row.len(), 4, "option | seed variable | default | meaning: {row:?}");
        let env = row[1].trim_matches('`').to_string();
        let options = options_in(&row[0]);
        assert!(!options.is_empty(), "a row that names no option: {row:?}");
        for option in options {
            assert!(documented.insert(option.clone(), env.clone()).is_none(), "{option} has two rows");
        }
    }
    let real = help_options(&help(&[]));
    assert!(real.contains_key("--python") && real["--python"] == "EMBEDDED_PYTHON", "{real:?}");
    let missing: Vec<&String> = real.keys().filter(|o| !documented.contains_key(*o)).collect();
    let gone: Vec<&String> = documented.keys().filter(|o| !real.contains_key(*o)).collect();
    assert!(missing.is_empty(), "options without a row in docs/bundler.md: {missing:?}");
    assert!(gone.is_empty(), "rows in docs/bundler.md for options the bundler does not have: {gone:?}");
    assert_eq!(documented, real, "docs/bundler.md's seed variables differ from --help's [env: …]");
}

#[test]
fn every_command_and_verify_option_has_one_doc_row() {
    let doc = doc();
    let documented: Vec<String> = table_after(&doc, "## Commands")
        .iter()
        .map(|row| row[0].trim_matches('`').split_whitespace().next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(documented, help_commands(&help(&[])), "docs/bundler.md's commands differ from --help's");

    let heading = "`verify`'s options (checked against `verify --help` by the same test):";
    let documented: Vec<String> = table_after(&doc, heading).iter().flat_map(|row| options_in(&row[0])).collect();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort();
    documented_sorted.dedup();
    assert_eq!(documented_sorted.len(), documented.len(), "an option with two rows: {documented:?}");
    let real: Vec<String> = help_options(&help(&["verify"])).into_keys().collect();
    assert_eq!(documented_sorted, real, "docs/bundler.md's verify options differ from `verify --help`");
}

/// The parsers above read what they must: a made-up help text and table.
#[test]
fn the_drift_parsers_read_options_env_and_rows() {
    let help = "Usage: x\n\nOptions:\n      --python <PATH>  Interp [default: a] [env: EMBEDDED_PYTHON=]\n  -q, --quiet  Q\n\nMore\n";
    let real = help_options(help);
    assert_eq!(real.get("--python").map(String::as_str), Some("EMBEDDED_PYTHON"));
    assert_eq!(real.get("-q").map(String::as_str), Some(""));
    assert_eq!(real.len(), 3);
    let md =
        "## Options\n\ntext\n\n| a | b |\n|---|---|\n| `--quiet`, `-q` | x |\n| `--python PATH` | `E` |\n\nafter\n";
    let rows = table_after(md, "## Options");
    assert_eq!(rows.len(), 2);
    assert_eq!(options_in(&rows[0][0]), ["--quiet", "-q"]);
    assert_eq!(options_in(&rows[1][0]), ["--python"]);
    assert_eq!(rows[1][1], "`E`");
}

/// Issue 25: docs/bundler.md's exit-code table is `BundlerExit::ALL`, code for code.
#[test]
fn the_exit_code_table_is_the_bundlers_exits() {
    let documented: Vec<u8> = table_after(&doc(), "## Errors and exit codes")
        .iter()
        .map(|row| row[0].parse().unwrap_or_else(|_| panic!("an exit-code row without a code: {row:?}")))
        .collect();
    let real: Vec<u8> = msty_mlx_bundler::exit::BundlerExit::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(documented, real, "docs/bundler.md's exit codes vs BundlerExit::ALL");
}
