//! The npm tarball as an app developer gets it: only what an app needs, installed into a fresh
//! npm project where the typed example compiles and `pythonInfo()` answers for a Linux bundle.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn npm(cwd: &Path) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(cwd).args(["--no-audit", "--no-fund", "--loglevel=error"]);
    cmd
}

#[test]
fn the_npm_tarball_installs_into_a_fresh_project_compiles_its_example_and_answers() {
    let tarball = artefact(".tgz");
    let listed = run_ok(Command::new("tar").arg("-tzf").arg(&tarball));
    let mut files: Vec<String> = String::from_utf8(listed.stdout).unwrap().lines().map(String::from).collect();
    files.sort();
    let needed = |f: &str| {
        matches!(f, "package/package.json" | "package/index.js" | "package/index.d.ts" | "package/README.md")
            || (f.starts_with("package/lib/") && f.ends_with(".js"))
    };
    let extra: Vec<&String> = files.iter().filter(|f| !needed(f)).collect();
    assert!(extra.is_empty(), "the tarball holds more than an app needs: {extra:?}");
    assert!(files.contains(&"package/lib/server.js".to_string()), "{files:?}");

    let project = scratch("npm-app");
    run_ok(npm(&project).args(["init", "-y"]));
    // What an app developer installs: the tarball, and TypeScript with Node's types (the
    // versions electron/ pins for its own check).
    run_ok(
        npm(&project)
            .args(["install", "--prefer-offline"])
            .arg(&tarball)
            .args(["typescript@5.9.3", "@types/node@20.19.43"]),
    );
    // The typed example, importing the installed package instead of its source folder.
    let example = fs::read_to_string(Path::new(REPO).join("electron/example/main.ts")).unwrap();
    assert!(example.contains("from '..';"), "electron/example/main.ts imports the package from '..'");
    fs::write(project.join("main.ts"), example.replace("from '..';", "from '@msty/mlx-studio-launcher';")).unwrap();
    fs::copy(Path::new(REPO).join("electron/example/tsconfig.json"), project.join("tsconfig.json")).unwrap();
    run_ok(Command::new("node").current_dir(&project).args(["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"]));

    // pythonInfo() on the Linux bundle built from the wheel.
    let bundle = &crate::linux::linux_build().app;
    let script = "const m = require('@msty/mlx-studio-launcher'); m.pythonInfo({ resourcesPath: process.argv[1] }).then((i) => console.log(JSON.stringify(i)), (e) => { console.error(e.message); process.exit(1); });";
    let out = run_ok(Command::new("node").current_dir(&project).args(["-e", script]).arg(bundle.resources()));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["python_version"].as_str().map(|v| v.starts_with(&*XY)), Some(true), "{info}");
}
