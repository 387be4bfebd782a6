//! The launcher's own logs: tracing to stderr, filtered by `MLXK2_LAUNCHER_LOG` (EnvFilter
//! syntax), silent when unset. stdout belongs to mlxk2 and to the JSON diagnostics.
//!
//! The runtime library carries its own copy of tracing, so the launch plan hands it the same
//! filter and it calls [`install`] too.

use tracing_subscriber::EnvFilter;

use crate::settings::LAUNCHER_LOG;

/// What `MLXK2_LAUNCHER_LOG` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSetup {
    /// The filter in force (`None`: silent).
    pub filter: Option<String>,
    /// Why the variable was ignored, for one warning line. A debugging aid never stops a run
    /// or turns a diagnostics answer into an error.
    pub warning: Option<String>,
}

/// Reads `MLXK2_LAUNCHER_LOG` and installs the subscriber.
pub fn init() -> LogSetup {
    let setup = parse(std::env::var_os(LAUNCHER_LOG).as_deref());
    if let Some(filter) = &setup.filter {
        install(filter);
    }
    setup
}

fn parse(value: Option<&std::ffi::OsStr>) -> LogSetup {
    let Some(value) = value else { return LogSetup::default() };
    let Some(text) = value.to_str() else {
        return LogSetup { filter: None, warning: Some(format!("{LAUNCHER_LOG} is not UTF-8; logging stays off")) };
    };
    if text.is_empty() {
        return LogSetup::default();
    }
    match EnvFilter::try_new(text) {
        Ok(_) => LogSetup { filter: Some(text.to_string()), warning: None },
        Err(e) => LogSetup {
            filter: None,
            warning: Some(format!("{LAUNCHER_LOG} is not a valid filter `{text}` ({e}); logging stays off (use e.g. {LAUNCHER_LOG}=debug)")),
        },
    }
}

/// Installs a stderr subscriber for `filter` (already validated; an invalid one installs none).
pub fn install(filter: &str) {
    let Ok(filter) = EnvFilter::try_new(filter) else { return };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn bad_filters_warn_and_stay_silent() {
        assert_eq!(parse(None), LogSetup::default());
        assert_eq!(parse(Some(OsStr::new(""))), LogSetup::default());
        assert_eq!(parse(Some(OsStr::new("debug"))).filter.as_deref(), Some("debug"));
        let bad = parse(Some(OsStr::new("debug,[[[")));
        assert_eq!(bad.filter, None);
        assert!(bad.warning.unwrap().starts_with("MLXK2_LAUNCHER_LOG is not a valid filter `debug,[[[`"));
    }
}
