//! The bundler's exit codes, decided in one place (docs/bundler.md's table is checked against
//! [`BundlerExit::ALL`]).

use crate::kit::Refused;

/// How `build-external-python` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundlerExit {
    /// The bundle is built, `verify` found nothing to fix, `--help`/`--version`.
    Success = 0,
    /// The build failed, or `verify` found errors.
    Failure = 1,
    /// A usage error (clap's).
    Usage = 2,
    /// No launcher kit, or one that lacks the target or X.Y, or whose file does not match its
    /// SHA-256 or stamp: refused, never replaced by a build from source.
    KitRefused = 3,
}

impl BundlerExit {
    /// Every exit, in code order.
    pub const ALL: [BundlerExit; 4] =
        [BundlerExit::Success, BundlerExit::Failure, BundlerExit::Usage, BundlerExit::KitRefused];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit for a failure: a refused kit anywhere in its chain, else [`BundlerExit::Failure`].
    pub fn of_error(e: &anyhow::Error) -> BundlerExit {
        if e.chain().any(|cause| cause.is::<Refused>()) { BundlerExit::KitRefused } else { BundlerExit::Failure }
    }
}

impl From<BundlerExit> for std::process::ExitCode {
    fn from(exit: BundlerExit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_in_order_and_a_refused_kit_is_found_under_context() {
        let codes: Vec<u8> = BundlerExit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        let refused = anyhow::Error::new(Refused("x".into())).context("while choosing");
        assert_eq!(BundlerExit::of_error(&refused), BundlerExit::KitRefused);
        assert_eq!(BundlerExit::of_error(&anyhow::anyhow!("other")), BundlerExit::Failure);
    }
}
