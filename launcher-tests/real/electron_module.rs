//! Issue 20: the Electron module (`electron/`, an npm package) against the real stack. Its own
//! tests (`node --test`, one file per area) run with the built `Resources/`, the tiny model and
//! its `HF_HOME` named in their environment; every one must pass and none may be skipped.
//! `npm ci` in `electron/` (run-all.sh does it) installs TypeScript for the typed example.
//!
//! Issue 27: every file runs twice, once per process table the module can read: `/proc`
//! (Linux's own path) and `ps` (the path macOS takes; procps answers the same options here),
//! chosen by `MLXK2_E2E_PROCESS_TABLE` (electron/test/helpers.js).

use super::*;

#[test]
fn electron_module_passes_its_node_tests_reading_proc() {
    node_tests("proc");
}

#[test]
fn electron_module_passes_its_node_tests_through_ps_as_on_macos() {
    node_tests("ps");
}

/// Runs every `electron/test/*.test.js` with the module reading `table`; all must pass.
fn node_tests(table: &str) {
    let _g = serial();
    let s = stack();
    let electron = Path::new(REPO).join("electron");
    assert!(
        electron.join("node_modules/typescript/bin/tsc").exists(),
        "TypeScript is missing: run `npm ci` in {} (launcher-tests/run-all.sh does)",
        electron.display()
    );
    assert!(
        table != "ps" || Path::new("/bin/ps").exists(),
        "/bin/ps is missing: apt-get install procps (launcher-tests/run-all.sh does)"
    );
    let mut files: Vec<PathBuf> = fs::read_dir(electron.join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    let scratch = scratch(&format!("electron-module-{table}"));
    let mut cmd = clean_command(Path::new("node"));
    s.env(&mut cmd);
    cmd.current_dir(&electron)
        .args(["--test", "--test-reporter=tap", "--test-concurrency=1", "--test-timeout=120000"])
        .args(&files)
        .env("MLXK2_E2E_RESOURCES", s.app.resources())
        .env("MLXK2_E2E_MODEL", &s.model)
        .env("MLXK2_E2E_EXPECTED", &s.expected)
        .env("MLXK2_E2E_SCRATCH", &scratch)
        .env("MLXK2_E2E_PROCESS_TABLE", table);
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let tap = String::from_utf8_lossy(&out.stdout);
    let count = |key: &str| -> u64 {
        tap.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!("no `# {key}` in node's TAP output:\n{tap}\n{}", String::from_utf8_lossy(&out.stderr))
            })
    };
    assert!(
        out.status.success() && count("fail") == 0,
        "node --test failed:\n{tap}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!((count("skipped"), count("todo"), count("cancelled")), (0, 0, 0), "{tap}");
    // Every `test(` written ran and passed (top-level tests; the files have no suites).
    let written: usize = files.iter().map(|f| fs::read_to_string(f).unwrap().matches("\ntest(").count()).sum();
    assert_eq!(count("pass") as usize, written, "not every Node test written ran:\n{tap}");
    timing(format!(
        "electron module ({table} path): {} node tests passed in {:.1} s",
        count("pass"),
        start.elapsed().as_secs_f64()
    ));
}
