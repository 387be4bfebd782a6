//! Issue 12: the chaos suite. `chaos.js` (Node, like Electron) starts `serve` or `run` through
//! the launcher of a read-only copy of the real bundle, stops it at a random phase with a random
//! stop, and checks after every sequence that nothing of the launcher's tree is left, the port
//! binds again, Node saw the exit and its status is a documented one. Here: the bundle is hashed
//! before and after the whole storm, and the storm's summary must show no failure at all.
//!
//! `CHAOS_SEQUENCES` (default 60 on CPython 3.11, 15 on any other X.Y: the storm drives the
//! same launcher and mlx-knife code on each, and 3.11's run keeps CI's real-stack budget),
//! `CHAOS_SEED` (default: random, printed), `CHAOS_ONLY=<index>` re-runs one sequence of a seed,
//! `CHAOS_PHASES` / `CHAOS_STOPS` (comma lists, e.g. `exec,imports` / `double`) narrow the draw.

use super::*;

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.trim().parse().unwrap_or_else(|e| panic!("{name}={v:?}: {e}")))
}

#[test]
fn chaos_storm_leaves_nothing_behind() {
    let _g = serial();
    let s = stack();
    let sequences = env_number("CHAOS_SEQUENCES").unwrap_or(if XY == "3.11" { 60 } else { 15 });
    let seed = env_number("CHAOS_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        u64::from(t.subsec_nanos() ^ std::process::id())
    }) as u32;
    let only = env_number("CHAOS_ONLY");
    println!(
        "chaos: seed {seed}, {sequences} sequences (reproduce: CHAOS_SEED={seed} CHAOS_SEQUENCES={sequences}; one: CHAOS_ONLY=<index>)"
    );

    let (app, before) = read_only_copy(s, "chaos");

    let mut config = json!({ "resources": app.resources(), "model": s.model, "seed": seed, "sequences": sequences });
    if let Some(i) = only {
        config["only"] = json!(i);
    }
    for (var, key) in [("CHAOS_PHASES", "phases"), ("CHAOS_STOPS", "stops")] {
        if let Ok(list) = std::env::var(var) {
            config[key] = json!(list.split(',').map(str::trim).collect::<Vec<_>>());
            println!("chaos: {var}={list} (the same list is needed to reproduce this seed)");
        }
    }
    let mut cmd = clean_command(Path::new("node"));
    s.env(&mut cmd);
    let out = cmd
        .arg(Path::new(REPO).join("launcher-tests/real/chaos.js"))
        .arg("storm")
        .arg(config.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("chaos.js said ({e}):\n{text}"));

    let after = fingerprint(&app.resources());
    run_ok(Command::new("chmod").args(["-R", "u+w"]).arg(app.resources()));
    let summary_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-summary-py{XY}-seed{seed}.json"));
    fs::write(&summary_file, serde_json::to_string_pretty(&summary).unwrap()).unwrap();
    println!("chaos: summary in {}", summary_file.display());
    assert!(summary.get("error").is_none(), "chaos.js failed: {}", summary["error"].as_str().unwrap_or(""));

    let failures = summary["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} sequences failed (each printed above with its timeline):\n{}",
        failures.len(),
        summary["sequences"],
        serde_json::to_string_pretty(failures).unwrap()
    );
    assert_eq!(summary["sequences"], json!(if only.is_some() { 1 } else { sequences }));
    assert_eq!(summary["leftovers"], json!({ "processes": 0, "ports": 0, "bundleWrites": 0 }));
    assert!(summary["slowestCleanMs"].as_u64().unwrap() <= 10_000, "{summary}");
    assert_eq!(before.len(), after.len(), "files appeared in or vanished from the read-only bundle");
    assert!(before == after, "the read-only bundle changed during the storm");
    timing(format!(
        "chaos: seed {seed}, {} sequences in {} s, 0 failures, slowest clean exit {} ms ({}), by phase {}, by stop {}, statuses {}",
        summary["sequences"],
        summary["seconds"],
        summary["slowestCleanMs"],
        summary["slowest"],
        summary["byPhase"],
        summary["byStop"],
        summary["statuses"]
    ));
}
