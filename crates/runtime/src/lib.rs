//! msty-mlx-runtime: the launcher's second stage, a library the launcher loads with `dlopen`
//! after the home's libpython (see `msty_mlx_contract::abi` for the C boundary).
//!
//! Built like a CPython extension module: it links no libpython and resolves `Py*` symbols from
//! the one the launcher loaded. It receives the launch plan, turns it into a `PyConfig`, starts
//! CPython on the caller's (main) thread and either runs `mlxk2.cli.main` or imports the MLX
//! stack for `--check-mlx-stack`. Built per Python X.Y (the `PyConfig` layout differs), which
//! its stamp records.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod ffi;
mod imports;
mod start;

use std::ffi::{CStr, OsString};

use msty_mlx_contract::abi;
use msty_mlx_contract::plan::{FORMAT, LaunchPlan};

/// The Python X.Y this runtime is built for (from `PYO3_PYTHON` / `PYO3_CONFIG_FILE`).
const PYTHON_XY: &str = env!("MSTY_RUNTIME_PYTHON_XY");

/// The stamp the launcher reads from this file before loading it (`runtime_stamp`).
const STAMP: &CStr = match CStr::from_bytes_with_nul(
    concat!(
        "msty-mlx-runtime-stamp:plan=",
        msty_mlx_contract::plan_format!(),
        ";python=",
        env!("MSTY_RUNTIME_PYTHON_XY"),
        ";version=",
        env!("CARGO_PKG_VERSION"),
        "\0"
    )
    .as_bytes(),
) {
    Ok(stamp) => stamp,
    Err(_) => panic!("the stamp has an inner NUL"),
};

/// Where replies to the launcher go (`abi::REPLY_*`).
type Reply<'a> = &'a mut dyn FnMut(u32, &[u8]);

/// The entry point's logic, on safe values; returns the process exit status (meaningful only
/// when no failure was replied).
fn main_entry(action: u32, plan_format: u32, plan: &[u8], argv: &[OsString], reply: Reply) -> i32 {
    let reject = |reply: Reply, text: String| {
        reply(abi::REPLY_PLAN_REJECTED, text.as_bytes());
        0
    };
    if plan_format != FORMAT {
        return reject(
            reply,
            format!("this runtime reads plan format {FORMAT}, the launcher sent format {plan_format}"),
        );
    }
    let plan: LaunchPlan = match serde_json::from_slice(plan) {
        Ok(plan) => plan,
        Err(e) => return reject(reply, format!("the launch plan is not valid plan-format-{FORMAT} JSON ({e})")),
    };
    if plan.python != PYTHON_XY {
        return reject(
            reply,
            format!("this runtime is built for Python {PYTHON_XY}, the plan is for Python {}", plan.python),
        );
    }
    if let Some(filter) = &plan.log_filter {
        msty_mlx_logging::install(filter);
    }
    let run_command = match action {
        abi::ACTION_RUN_MLXK2 => Some(start::RUN_MLXK2),
        abi::ACTION_IMPORT_CHECK => None,
        other => return reject(reply, format!("unknown action {other}")),
    };
    let interpreter = match start::start(&plan, argv, run_command) {
        Ok(interpreter) => interpreter,
        Err(start::StartFailure::Interrupted(detail)) => {
            reply(abi::REPLY_INTERRUPTED, detail.as_bytes());
            return 0;
        }
        Err(start::StartFailure::Failed(detail)) => {
            reply(abi::REPLY_START_FAILED, detail.as_bytes());
            return 0;
        }
        Err(start::StartFailure::Guard(detail)) => {
            reply(abi::REPLY_GUARD_FAILED, detail.as_bytes());
            return 0;
        }
    };
    if run_command.is_some() {
        tracing::debug!("running mlxk2.cli.main");
        return interpreter.run_main();
    }
    let result = imports::import_stack();
    interpreter.finalize();
    reply(abi::REPLY_IMPORTS, result.to_string().as_bytes());
    0
}
