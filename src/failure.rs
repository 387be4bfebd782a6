//! A reason not to start: one line of what is wrong (naming the path or variable), what to do,
//! and the exit code that tells the app which kind of problem it is.

use std::fmt;

use serde::Serialize;

use msty_mlx_contract::exit_code::LauncherExit;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    #[serde(skip)]
    pub exit: LauncherExit,
    pub message: String,
    pub hint: String,
}

impl Failure {
    pub fn new(exit: LauncherExit, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure { exit, message: message.into(), hint: hint.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.message, self.hint)
    }
}

impl std::error::Error for Failure {}
