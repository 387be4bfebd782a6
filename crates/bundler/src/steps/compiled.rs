//! Step 3, compiled: `_vendor` precompiled to unchecked hash-based pycs for the target X.Y (or
//! left without, when no CPython of that X.Y runs here).

use anyhow::Result;

use super::Progress;
use super::installed::Installed;
use crate::caches::bundler_cache;
use crate::compile::{self, Bytecode};

/// `_vendor` with its bytecode.
pub struct Compiled {
    pub installed: Installed,
    pub bytecode: Bytecode,
}

pub fn compile(installed: Installed, progress: &Progress) -> Result<Compiled> {
    let version = installed.inputs.facts.version;
    progress.header(format!("Precompiling _vendor for Python {version} (unchecked hash-based pycs)"));
    let bytecode = match compile::compiler(&installed.inputs.mode, version) {
        Ok((python, how)) => {
            let cache = bundler_cache("bytecode");
            let done = compile::compile(&python, &installed.vendor.dir, cache.as_deref())?;
            progress.note(format!(
                "compiled with `{}` ({how}): {} compiled, {} from the bytecode cache, {} that do not compile left without pyc",
                python.display(),
                done.compiled,
                done.reused,
                done.failed
            ));
            Bytecode::UncheckedHash { python, how }
        }
        Err(why) => {
            let none = Bytecode::None { why };
            progress.note(none.to_string());
            none
        }
    };
    Ok(Compiled { installed, bytecode })
}
