//! `MLXK2_LAUNCHER_LOG`: the launcher's and its runtime's logs, tracing to stderr, silent when
//! unset. stdout belongs to mlxk2 and to the JSON diagnostics.
//!
//! The filter is tracing-subscriber's [`Targets`] syntax: a level (`debug`), or comma-separated
//! `target=level` directives (`msty_mlx_studio=debug,msty_mlx_runtime=info`). That is
//! `EnvFilter` without span and field matchers, which need a regex engine the shipped binaries
//! should not carry. The runtime library has its own copy of tracing, so the launch plan hands
//! it the validated filter and it calls [`install`] too.

use std::ffi::OsStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable.
pub const LAUNCHER_LOG: &str = "MLXK2_LAUNCHER_LOG";

/// What `MLXK2_LAUNCHER_LOG` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSetup {
    /// The filter in force (`None`: silent).
    pub filter: Option<String>,
    /// Why the variable was ignored, for one warning line. A debugging aid never stops a run
    /// or turns a diagnostics answer into an error.
    pub warning: Option<String>,
}

/// Reads `MLXK2_LAUNCHER_LOG` and installs the subscriber (nothing at all when unset).
pub fn init() -> LogSetup {
    let (setup, targets) = read(std::env::var_os(LAUNCHER_LOG).as_deref());
    if let Some(targets) = targets {
        subscribe(targets);
    }
    setup
}

/// Reads a value of the variable (`None`: unset).
pub fn parse(value: Option<&OsStr>) -> LogSetup {
    read(value).0
}

fn read(value: Option<&OsStr>) -> (LogSetup, Option<Targets>) {
    let Some(value) = value else { return (LogSetup::default(), None) };
    let Some(text) = value.to_str() else {
        return (
            LogSetup { filter: None, warning: Some(format!("{LAUNCHER_LOG} is not UTF-8; logging stays off")) },
            None,
        );
    };
    if text.is_empty() {
        return (LogSetup::default(), None);
    }
    match text.parse::<Targets>() {
        Ok(targets) => (LogSetup { filter: Some(text.to_string()), warning: None }, Some(targets)),
        Err(e) => (
            LogSetup {
                filter: None,
                warning: Some(format!(
                    "{LAUNCHER_LOG} is not a valid filter `{text}` ({e}); logging stays off (use e.g. {LAUNCHER_LOG}=debug or msty_mlx_studio=debug)"
                )),
            },
            None,
        ),
    }
}

/// Installs a stderr subscriber for `filter` (validated by the launcher; an invalid one
/// installs none). The runtime's entry to logging: its copy of tracing is its own.
pub fn install(filter: &str) {
    if let Ok(targets) = filter.parse::<Targets>() {
        subscribe(targets);
    }
}

fn subscribe(targets: Targets) {
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time();
    let _ = tracing_subscriber::registry().with(output).with(targets).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_forms_parse_and_bad_filters_warn() {
        assert_eq!(parse(None), LogSetup::default());
        assert_eq!(parse(Some(OsStr::new(""))), LogSetup::default());
        for good in ["debug", "info", "trace", "warn,msty_mlx_studio=debug", "msty_mlx_runtime=info"] {
            assert_eq!(parse(Some(OsStr::new(good))).filter.as_deref(), Some(good), "{good}");
        }
        let bad = parse(Some(OsStr::new("debug,mlx=loud")));
        assert_eq!(bad.filter, None);
        assert!(bad.warning.unwrap().starts_with("MLXK2_LAUNCHER_LOG is not a valid filter `debug,mlx=loud`"));
        assert!(parse(Some(OsStr::new("x=loud"))).warning.is_some());
    }
}
