//! `--python-info`: everything the launcher would decide for a normal run, without running
//! it — the launch plan itself (`plan`), the bash launcher's keys (`python_version`,
//! `executable`, `prefix`, `base_prefix`, `platform`), and every problem, down to whether
//! libpython and the runtime load (tried in a child process, so this one never maps them). A
//! broken bundle still answers (its problems listed, the keys it cannot know `null`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use msty_mlx_contract::os_serde;
use msty_mlx_contract::plan::{BytecodePlan, ChildEnv, GuardPlan, HomeRule, Isolation, LaunchPlan, ParentWatch};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp;
use serde::Serialize;
use serde_json::Value;

use crate::LAUNCHER_VERSION;
use crate::failure::Failure;
use crate::layout::Candidate;
use crate::plan::{self, Depth, Inputs};
use crate::python_home::{self, LibpythonFile};
use crate::stage2;

/// The answer (documented key by key in docs/ and its JSON Schema).
#[derive(Serialize)]
struct PythonInfo<'a> {
    ok: bool,
    launcher_version: &'static str,
    #[serde(with = "os_serde::path")]
    launcher: &'a Path,
    python_version: Option<PyVersion>,
    platform: &'static str,
    #[serde(with = "os_serde::path")]
    vendor: PathBuf,
    runtime: Runtime,
    plan: Option<&'a LaunchPlan>,
    exit_with_parent: ExitWithParent,
    #[serde(with = "os_serde::opt_path")]
    executable: Option<PathBuf>,
    #[serde(with = "os_serde::opt_path")]
    prefix: Option<PathBuf>,
    #[serde(with = "os_serde::opt_path")]
    base_prefix: Option<PathBuf>,
    #[serde(with = "os_serde::opt_path")]
    home: Option<PathBuf>,
    home_rule: Option<HomeRule>,
    candidates: &'a [Candidate],
    libpython: Option<LibpythonFile>,
    isolation: Option<&'a Isolation>,
    bytecode: Option<&'a BytecodePlan>,
    child_environment: Option<&'a ChildEnv>,
    guard: Option<&'a GuardPlan>,
    sys_path: Option<Vec<Value>>,
    problems: Vec<String>,
}

/// The runtime library next to the launcher: its stamp, or why it cannot be used.
#[derive(Serialize)]
#[serde(untagged)]
enum Runtime {
    Stamped {
        #[serde(with = "os_serde::path")]
        path: PathBuf,
        python: PyVersion,
        plan_format: u32,
        version: String,
    },
    Unusable {
        #[serde(with = "os_serde::path")]
        path: PathBuf,
        error: String,
    },
}

#[derive(Serialize)]
struct ExitWithParent {
    /// `MLXK2_EXIT_WITH_PARENT` as parsed (`null`: an unknown word, listed in `problems`).
    enabled: Option<bool>,
    watch: Option<ParentWatch>,
}

/// The answer and whether the bundle is healthy.
pub fn answer(inputs: &Inputs) -> (Value, bool) {
    let mut survey = plan::survey(inputs, Depth::Describe);
    // Only loading tells whether both libraries load (a symbol libpython lacks, a missing
    // dependency, a file cut short, a `noexec` mount): when nothing else stops a run, try it.
    if let (true, Some(plan)) = (survey.problems.is_empty(), &survey.plan) {
        // SAFETY: the diagnostics are answered before anything starts a thread (`main::run`
        // arms exit-with-parent only for a run): this process has one thread.
        #[allow(unsafe_code)]
        let loaded = unsafe { stage2::prove_loadable(plan) };
        survey.problems.extend(loaded.err());
    }
    let runtime_path = inputs.exe.with_file_name(stamp::FILE_NAME);
    let layout = survey.layout.as_ref().ok();
    let plan = survey.plan.as_ref();
    let libpython = match (layout, survey.python, &survey.libpython) {
        (Some(_), Some(_), Some(file)) => Some(file.clone()),
        (Some(layout), Some(xy), None) => Some(LibpythonFile {
            path: python_home::libpython_path(&layout.paths.home, xy),
            version: None,
            soname: None,
        }),
        _ => None,
    };
    let home = layout.map(|l| l.paths.home.clone());
    let info = PythonInfo {
        ok: survey.problems.is_empty(),
        launcher_version: LAUNCHER_VERSION,
        launcher: &inputs.exe,
        python_version: survey.python,
        platform: if cfg!(target_os = "macos") { "darwin" } else { "linux" },
        vendor: inputs.exe.with_file_name("_vendor"),
        runtime: match &survey.runtime {
            Ok(s) => Runtime::Stamped {
                path: runtime_path,
                python: s.python,
                plan_format: s.plan_format,
                version: s.version.clone(),
            },
            Err(failure) => Runtime::Unusable { path: runtime_path, error: failure.message.clone() },
        },
        plan,
        exit_with_parent: ExitWithParent {
            enabled: inputs.exit_with_parent.as_ref().ok().copied(),
            watch: plan.map(|p| p.exit_with_parent),
        },
        executable: layout.map(|l| l.paths.executable.clone()),
        prefix: home.clone(),
        base_prefix: home.clone(),
        home,
        home_rule: layout.map(|l| l.paths.home_rule),
        candidates: layout.map_or(&[], |l| &l.candidates),
        libpython,
        isolation: plan.map(|p| &p.isolation),
        bytecode: plan.map(|p| &p.bytecode),
        child_environment: plan.map(|p| &p.child_environment),
        guard: plan.map(|p| &p.guard),
        sys_path: plan.map(|p| predicted_sys_path(p).iter().map(|d| os_serde::to_json(d.as_os_str())).collect()),
        problems: survey.problems.iter().map(Failure::to_string).collect(),
    };
    let ok = info.ok;
    (serde_json::to_value(&info).unwrap_or(Value::Null), ok)
}

/// The `sys.path` the interpreter will have: `_vendor`, its `.pth` path lines (as `site`
/// adds them: sorted files, existing directories only), then CPython's own entries.
fn predicted_sys_path(plan: &LaunchPlan) -> Vec<PathBuf> {
    let mut path = vec![plan.paths.vendor.clone()];
    let mut pth_files: Vec<PathBuf> = std::fs::read_dir(&plan.paths.vendor)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension() == Some(OsStr::new("pth"))
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    pth_files.sort();
    for file in pth_files {
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') || line.starts_with("import ") || line.starts_with("import\t") {
                continue;
            }
            let dir = plan.paths.vendor.join(line);
            if dir.exists() && !path.contains(&dir) {
                path.push(dir);
            }
        }
    }
    let lib = plan.paths.home.join("lib");
    let stdlib = python_home::stdlib_dir(&plan.paths.home, plan.python);
    path.push(lib.join(format!("python{}{}.zip", plan.python.major, plan.python.minor)));
    path.push(stdlib.clone());
    path.push(stdlib.join("lib-dynload"));
    if stdlib.join("site-packages").is_dir() {
        path.push(stdlib.join("site-packages"));
    }
    path
}
