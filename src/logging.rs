//! The launcher's own logs: tracing to stderr, filtered by `MLXK2_LAUNCHER_LOG` (EnvFilter
//! syntax), silent when unset. stdout belongs to mlxk2 and to the JSON diagnostics.

use tracing_subscriber::EnvFilter;

use crate::exit_code::LauncherExit;
use crate::layout::Failure;
use crate::settings::LAUNCHER_LOG;

pub fn init() -> Result<(), Failure> {
    let Some(value) = std::env::var_os(LAUNCHER_LOG) else { return Ok(()) };
    let value = value.to_string_lossy();
    if value.is_empty() {
        return Ok(());
    }
    let filter = EnvFilter::try_new(value.as_ref()).map_err(|e| {
        Failure::new(
            LauncherExit::BadEnvironment,
            format!("{LAUNCHER_LOG} is not a valid filter `{value}` ({e})"),
            format!("use e.g. {LAUNCHER_LOG}=debug, or unset it"),
        )
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .init();
    Ok(())
}
