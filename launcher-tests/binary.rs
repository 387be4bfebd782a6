//! Issue 2 §10: the binary finds libpython through `$ORIGIN/../python/lib:$ORIGIN/python/lib` as DT_RPATH (which
//! LD_LIBRARY_PATH cannot override) and carries no build-machine Python path.

use std::process::Command;

use crate::harness::*;

#[test]
fn rpath_is_relative_and_not_runpath() {
    let out = run_ok(Command::new("readelf").args(["-d", LAUNCHER]));
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let rpaths: Vec<&str> = dynamic.lines().filter(|l| l.contains("(RPATH)") || l.contains("(RUNPATH)")).collect();
    assert_eq!(rpaths.len(), 1, "{rpaths:?}");
    assert!(rpaths[0].contains("(RPATH)") && rpaths[0].ends_with("Library rpath: [$ORIGIN/../python/lib:$ORIGIN/python/lib]"), "{rpaths:?}");
    assert!(dynamic.contains(&format!("[libpython{XY}.so.1.0]")), "{dynamic}");
}

#[test]
fn no_build_machine_python_paths_inside() {
    let bytes = std::fs::read(LAUNCHER).unwrap();
    let host = host_python();
    for path in [host.prefix.to_str().unwrap(), host.libdir.to_str().unwrap()] {
        assert!(!bytes.windows(path.len()).any(|w| w == path.as_bytes()), "`{path}` is inside the launcher");
    }
}
