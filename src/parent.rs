//! Exit with the parent: when Electron dies (crash, force-quit, SIGKILL), the launcher sends
//! itself exactly one SIGTERM, so mlx-knife stops its worker and frees the port. One, because
//! mlx-knife treats a second signal as "kill the worker now".

pub use msty_mlx_contract::plan::ParentWatch;

use crate::sys;

/// What [`arm`] would do, without doing it (for `--python-info`).
pub fn planned(enabled: bool) -> ParentWatch {
    let parent = sys::parent_pid();
    if !enabled {
        ParentWatch::Disabled
    } else if parent == 1 {
        ParentWatch::ParentIsInit
    } else if cfg!(any(target_os = "linux", target_os = "macos")) {
        ParentWatch::Armed { parent_pid: parent }
    } else {
        ParentWatch::Unavailable
    }
}

/// Arms the planned watch. A parent that died before the watch existed is caught by comparing
/// the parent pid before and after.
pub fn arm(plan: ParentWatch) -> ParentWatch {
    let ParentWatch::Armed { parent_pid } = plan else {
        tracing::debug!("exit with parent: {plan:?}");
        return plan;
    };
    if let Err(e) = platform_arm(parent_pid) {
        tracing::warn!("exit with parent unavailable: {e}");
        return ParentWatch::Unavailable;
    }
    if sys::parent_pid() != parent_pid {
        tracing::debug!("parent {parent_pid} died while arming; sending SIGTERM");
        sys::raise_sigterm();
    }
    tracing::debug!("exit with parent: armed on pid {parent_pid}");
    plan
}

#[cfg(target_os = "linux")]
fn platform_arm(_parent: i32) -> std::io::Result<()> {
    // PR_SET_PDEATHSIG fires when the parent *thread* that forked us exits; Node and Electron
    // spawn from their main thread, which lives as long as the app.
    sys::set_parent_death_signal()
}

#[cfg(target_os = "macos")]
fn platform_arm(parent: i32) -> std::io::Result<()> {
    sys::watch_parent_exit(parent)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn platform_arm(_parent: i32) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no parent-death hook on this OS"))
}
