//! The launcher's exit codes, decided in one place.
//!
//! mlxk2 owns 0, 1, 2, 3 and 128+N (after signal N); CPython adds 120 (stdout flush failed).
//! The launcher's own failures therefore use 80–89, which neither of them produces, so the app
//! can tell "the bundle is broken" from "mlx-knife said no" by the status alone.

/// Why the launcher itself stopped before (or instead of) running mlxk2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LauncherExit {
    /// A launcher environment variable has an unusable value (empty, relative, missing path,
    /// wrong kind of file, unknown word).
    BadEnvironment = 80,
    /// No candidate Python home exists.
    NoPythonHome = 81,
    /// The home has no standard library (`lib/python3.X/encodings`), or several and none of the
    /// runtime's X.Y.
    StdlibMissing = 82,
    /// The home's libpython is missing, unreadable, not a shared library, or of another X.Y.
    Libpython = 83,
    /// `_vendor` is missing next to the launcher.
    VendorMissing = 84,
    /// `_vendor` has no `mlxk2` package.
    Mlxk2Missing = 85,
    /// CPython refused the configuration or failed to start.
    InterpreterStart = 86,
    /// The launcher could not find its own executable path.
    SelfLocation = 87,
    /// The runtime library next to the launcher is missing, corrupt, built for another Python
    /// X.Y, or speaks another launch-plan format.
    Runtime = 88,
    /// The served port's guard cannot protect the server, so it does not start: the guard's
    /// files are missing next to the launcher, it cannot attach to the server mlx-knife starts,
    /// or `serve` was told to bind beyond loopback without a token (docs/security.md).
    Guard = 89,
}

/// Native diagnostics answer 0 when healthy and 2 otherwise (the bash launcher's contract).
pub const DIAGNOSTICS_FAILED: u8 = 2;

/// A start interrupted by SIGINT before mlxk2 ran ends like an interrupted `python3`: by the
/// signal; this is the status if dying by it is not possible.
pub const INTERRUPTED: u8 = 130;

impl LauncherExit {
    /// Every launcher exit, in code order (the documentation's table is tested against it).
    pub const ALL: [LauncherExit; 10] = [
        LauncherExit::BadEnvironment,
        LauncherExit::NoPythonHome,
        LauncherExit::StdlibMissing,
        LauncherExit::Libpython,
        LauncherExit::VendorMissing,
        LauncherExit::Mlxk2Missing,
        LauncherExit::InterpreterStart,
        LauncherExit::SelfLocation,
        LauncherExit::Runtime,
        LauncherExit::Guard,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive: a new variant does not compile until it has a place in `ALL`.
    fn position(exit: LauncherExit) -> usize {
        match exit {
            LauncherExit::BadEnvironment => 0,
            LauncherExit::NoPythonHome => 1,
            LauncherExit::StdlibMissing => 2,
            LauncherExit::Libpython => 3,
            LauncherExit::VendorMissing => 4,
            LauncherExit::Mlxk2Missing => 5,
            LauncherExit::InterpreterStart => 6,
            LauncherExit::SelfLocation => 7,
            LauncherExit::Runtime => 8,
            LauncherExit::Guard => 9,
        }
    }

    #[test]
    fn all_is_every_code_once_in_order() {
        for (i, exit) in LauncherExit::ALL.iter().enumerate() {
            assert_eq!(position(*exit), i);
        }
        let codes: Vec<u8> = LauncherExit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, (80..=89).collect::<Vec<u8>>());
    }
}
