//! `build` as named steps, each a function from one stage to the next:
//! inputs → installed → compiled → launcher placed → verified → committed.
//!
//! Everything is built in a temporary sibling of the output directory and renamed into place
//! only when every step succeeded, so a failed or interrupted build never leaves a half bundle
//! at the output path.

mod compiled;
mod inputs;
mod installed;
mod launcher_placed;
mod verified;

use std::time::Instant;

use anyhow::Result;

use super::{Options, Summary, temp};

/// Progress headers with elapsed time (stderr), silent with `--quiet`.
pub(crate) struct Progress {
    start: Instant,
    quiet: bool,
}

impl Progress {
    fn header(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("==> [{:6.1}s] {}", self.start.elapsed().as_secs_f64(), text.as_ref());
        }
    }

    fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("    {}", text.as_ref());
        }
    }
}

/// Builds `dist-ext-python/<BIN_NAME>/` from `opts`.
pub fn build(opts: &Options) -> Result<Summary> {
    let progress = Progress { start: Instant::now(), quiet: opts.quiet };
    let inputs = inputs::check(opts, &progress)?;
    let installed = installed::install(opts, inputs, &progress)?;
    let compiled = compiled::compile(installed, &progress)?;
    let built = launcher_placed::place(opts, compiled, &progress)?;
    let verified = verified::verify(opts, built, &progress)?;
    commit(verified, &progress)
}

/// Committed: the bundle moved into place.
fn commit(verified: verified::Verified, progress: &Progress) -> Result<Summary> {
    let verified::Verified { built, sanity, distributions } = verified;
    let launcher_placed::LauncherPlaced { compiled, .. } = built;
    let compiled::Compiled { installed, bytecode } = compiled;
    let installed::Installed { inputs, tmp, .. } = installed;
    progress.header(format!("Moving the bundle into place: {}", inputs.output.display()));
    let bytes = temp::tree_size(&tmp.path);
    tmp.commit(&inputs.output)?;
    Ok(Summary {
        output: inputs.output,
        distributions,
        bytes,
        python: inputs.facts.version,
        launcher_version: msty_mlx_contract::VERSION.into(),
        installer: format!("uv {}", inputs.uv.version),
        bytecode,
        sanity,
    })
}
