//! The documentation keeps up with the code: the exit-code and environment-variable tables of
//! docs/electron.md are parsed and compared with the code's own lists, the variables the
//! sources name are all in those lists (the guard's Python files too, with its exit code and API),
//! and every relative link (and its `#anchor`) in README.md and docs/ resolves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use msty_mlx_contract::exit_code::LauncherExit;
use msty_mlx_studio::settings;

use crate::harness::REPO;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The body of the `## title` section (up to the next `## `).
fn section<'a>(doc: &'a str, title: &str) -> &'a str {
    let heading = format!("\n## {title}\n");
    let start = doc.find(&heading).unwrap_or_else(|| panic!("no section `## {title}`")) + heading.len();
    let end = doc[start..].find("\n## ").map_or(doc.len(), |i| start + i);
    &doc[start..end]
}

/// The cells of every row of the Markdown tables in `text` (header and rule rows skipped).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut header = true;
    for line in text.lines() {
        let Some(inner) = line.trim().strip_prefix('|').and_then(|l| l.strip_suffix('|')) else {
            header = true;
            continue;
        };
        let cells: Vec<String> = inner.split('|').map(|c| c.trim().to_owned()).collect();
        if cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' '))) {
            header = false;
            continue;
        }
        if !header {
            rows.push(cells);
        }
    }
    rows
}

/// Every `` `NAME` `` in a cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn the_exit_code_table_has_a_row_for_each_launcher_exit_and_no_other() {
    let doc = read("docs/electron.md");
    let documented: BTreeSet<u8> = table_rows(section(&doc, "Exit codes"))
        .iter()
        .map(|row| row[0].parse().unwrap_or_else(|_| panic!("exit-code row without a code: {row:?}")))
        .collect();
    let code: BTreeSet<u8> = LauncherExit::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(documented, code, "docs/electron.md's exit-code table vs LauncherExit::ALL");
}

#[test]
fn the_environment_table_names_every_variable_the_launcher_reads_and_no_other() {
    let doc = read("docs/electron.md");
    let documented: BTreeSet<String> =
        table_rows(section(&doc, "Environment variables")).iter().flat_map(|row| backticked(&row[0])).collect();
    let read: BTreeSet<String> = settings::READ.iter().map(|v| v.to_string()).collect();
    assert_eq!(documented, read, "docs/electron.md's environment table vs settings::READ");
    let children = section(&doc, "Environment of mlx-knife's children");
    for var in settings::SET_FOR_CHILDREN {
        assert!(children.contains(&format!("`{var}")), "{var} is set for children but not documented");
    }
}

/// Upper-case string literals (`"HOME"`) in the non-test code of the crates the shipped
/// binaries are made of: each names a variable of the two lists, or is allowed here with why.
#[test]
fn every_variable_the_sources_name_is_in_the_documented_lists() {
    // Build-time `env!` names, and the prefix of the caller variables the launcher removes.
    const NOT_RUN_TIME: [&str; 3] = ["CARGO_PKG_VERSION", "MSTY_RUNTIME_PYTHON_XY", "PYTHON"];
    let known: BTreeSet<&str> =
        settings::READ.iter().chain(settings::SET_FOR_CHILDREN).chain(&NOT_RUN_TIME).copied().collect();
    let mut unknown = Vec::new();
    for dir in ["src", "crates/runtime/src", "crates/logging/src", "crates/trust/src", "crates/contract/src"] {
        for file in rust_files(&Path::new(REPO).join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for literal in code.split('"').skip(1).step_by(2) {
                let looks_like_a_variable = literal.len() >= 3
                    && literal.starts_with(|c: char| c.is_ascii_uppercase())
                    && literal.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '*');
                if looks_like_a_variable && !known.contains(literal) {
                    unknown.push(format!("{literal} in {}", file.display()));
                }
            }
        }
    }
    assert!(unknown.is_empty(), "variables missing from settings::READ / SET_FOR_CHILDREN and the docs: {unknown:?}");
}

/// The guard (`guard/*.py`, shipped beside the launcher) reads and sets only documented
/// variables, exits with `LauncherExit::Guard`, and speaks the runtime's `GUARD_API`.
#[test]
fn the_guard_speaks_the_launchers_contract() {
    use msty_mlx_contract::plan::{GUARD_API, GUARD_FILES};
    let known: BTreeSet<&str> = settings::READ.iter().chain(settings::SET_FOR_CHILDREN).copied().collect();
    let guard = read("guard/msty_mlx_guard.py");
    assert!(guard.contains(&format!("\nAPI = {GUARD_API}\n")), "guard/msty_mlx_guard.py: API is not {GUARD_API}");
    let exit = LauncherExit::Guard.code();
    assert!(guard.contains(&format!("\nEXIT = {exit}\n")), "guard/msty_mlx_guard.py: EXIT is not {exit}");
    assert!(read("guard/sitecustomize.py").contains(&format!("os._exit({exit})")), "guard/sitecustomize.py");
    let mut names = Vec::new();
    for file in GUARD_FILES {
        let text = read(&format!("guard/{file}"));
        for line in text.lines().filter(|l| l.contains("_VAR = \"")) {
            names.push(line.split('"').nth(1).unwrap().to_string());
        }
    }
    assert_eq!(names.len(), 3, "TOKEN_VAR, REQUIRED_VAR, ORIGINS_VAR: {names:?}");
    let unknown: Vec<&String> = names.iter().filter(|n| !known.contains(n.as_str())).collect();
    assert!(unknown.is_empty(), "guard variables missing from settings::READ / SET_FOR_CHILDREN: {unknown:?}");
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// `](target)` links outside code blocks and code spans.
fn links(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let tail = &rest[i + 2..];
            let end = tail.find(')').unwrap_or(tail.len());
            found.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let repo = Path::new(REPO);
    let mut docs = vec![repo.join("README.md")];
    docs.extend(
        std::fs::read_dir(repo.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() { doc.clone() } else { doc.parent().unwrap().join(path) };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: `{link}`: no such file", doc.display()));
            } else if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let heads = anchors(&std::fs::read_to_string(&target).unwrap());
                if !heads.contains(fragment) {
                    broken.push(format!("{}: `{link}`: no heading with anchor `#{fragment}`", doc.display()));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found: is the link reader broken?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readers_of_this_test_see_what_github_sees() {
    assert_eq!(anchor(" Chaos suite (the app quits at any moment)"), "chaos-suite-the-app-quits-at-any-moment");
    assert_eq!(anchor(" MLX developers: custom wheels, `MLXK_PYTHON`"), "mlx-developers-custom-wheels-mlxk_python");
    assert_eq!(links("see [a](b.md#c) and `[x](not-a-link)` [d](../e)"), ["b.md#c", "../e"]);
    let rows = table_rows("| code | x |\n|---|---|\n| 80 | a `B` |\n\ntext\n");
    assert_eq!(rows, [vec!["80".to_owned(), "a `B`".to_owned()]]);
    assert_eq!(backticked(&rows[0][1]), ["B"]);
}
