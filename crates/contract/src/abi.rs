//! The C boundary between the launcher and its runtime library: one entry point, the stamp
//! function, and the numbers both sides agree on. Changing anything here, or the launch plan's
//! shape, means a new [`crate::plan::FORMAT`].
//!
//! ```c
//! const char *msty_mlx_runtime_stamp(void);   /* "msty-mlx-runtime-stamp:plan=1;python=3.11;…" */
//! int msty_mlx_runtime_main(uint32_t action, uint32_t plan_format,
//!                           const uint8_t *plan_json, size_t plan_len,
//!                           int argc, const char *const *argv,   /* sys.argv, raw bytes */
//!                           void (*reply)(void *ctx, uint32_t kind, const uint8_t *data, size_t len),
//!                           void *ctx);
//! ```
//!
//! The return value is the process exit status CPython decided (`Py_RunMain`), meaningful only
//! when no `REPLY_*` failure was sent. The runtime runs on the calling (main) thread.

use std::ffi::{CStr, c_char, c_int, c_void};

pub const STAMP_SYMBOL: &CStr = c"msty_mlx_runtime_stamp";
pub const ENTRY_SYMBOL: &CStr = c"msty_mlx_runtime_main";

/// Run `mlxk2.cli.main` (`Py_RunMain`, then finalize).
pub const ACTION_RUN_MLXK2: u32 = 1;
/// `--check-mlx-stack`'s import step: import `mlx.core` and `mlx_lm`, reply with a JSON object
/// (`REPLY_IMPORTS`), finalize.
pub const ACTION_IMPORT_CHECK: u32 = 2;

/// The plan was refused (format, JSON, action): data = one line of text.
pub const REPLY_PLAN_REJECTED: u32 = 1;
/// CPython failed to start (`Py_InitializeFromConfig` and friends): data = one line of text.
pub const REPLY_START_FAILED: u32 = 2;
/// A SIGINT arrived while CPython was starting: the start ended as an interruption.
pub const REPLY_INTERRUPTED: u32 = 3;
/// The import check's result: data = a JSON object.
pub const REPLY_IMPORTS: u32 = 4;
/// The served port's guard could not be loaded into the interpreter: data = one line of text.
pub const REPLY_GUARD_FAILED: u32 = 5;

pub type ReplyFn = unsafe extern "C" fn(ctx: *mut c_void, kind: u32, data: *const u8, len: usize);

pub type EntryFn = unsafe extern "C" fn(
    action: u32,
    plan_format: u32,
    plan: *const u8,
    plan_len: usize,
    argc: c_int,
    argv: *const *const c_char,
    reply: ReplyFn,
    ctx: *mut c_void,
) -> c_int;

pub type StampFn = unsafe extern "C" fn() -> *const c_char;
