//! One load dyld would not find, merged over the chains and slices where it fails, and the
//! sentence that tells a packager what was tried.

use std::path::{Path, PathBuf};

use super::resolve::Attempt;
use crate::native::{Arch, Load, LoadCommand};

/// A load dyld would not find, with everything that was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub image: PathBuf,
    pub load: Load,
    /// The architectures (slices) in which it fails.
    pub arches: Vec<Arch>,
    /// Every path tried, lexically normalised, in order.
    pub tried: Vec<PathBuf>,
    /// Tried paths that exist but lack the slice's architecture.
    pub wrong_arch: Vec<PathBuf>,
    /// The LC_RPATHs consulted, with the image holding each.
    pub rpaths: Vec<(String, PathBuf)>,
    /// The images whose LC_RPATHs were searched (the load chains).
    pub searched: Vec<PathBuf>,
    /// The main executables of the failing chains (none: no executable loads the image).
    pub executables: Vec<PathBuf>,
}

impl Unresolved {
    /// dyld goes on without a missing weak library.
    pub fn weak(&self) -> bool {
        self.load.command == LoadCommand::Weak
    }

    /// `LC_LOAD_DYLIB `@rpath/x` resolves to none of: … (LC_RPATH: …)`, with paths shown by `show`.
    pub fn describe(&self, show: impl Fn(&Path) -> String) -> String {
        let name = &self.load.name;
        let mut text = format!("{} `{name}`", self.load.command.as_str());
        let list = |paths: &[PathBuf]| paths.iter().map(|p| format!("`{}`", show(p))).collect::<Vec<_>>().join(", ");
        if !self.tried.is_empty() {
            text += &format!(" resolves to none of: {}", list(&self.tried));
            for p in &self.wrong_arch {
                text += &format!(
                    " (`{}` lacks the {} slice)",
                    show(p),
                    self.arches.iter().map(Arch::to_string).collect::<Vec<_>>().join("/")
                );
            }
        } else if name.starts_with("@rpath/") {
            text += &format!(" resolves to nothing: no LC_RPATH in {}", list(&self.searched));
        } else if name.starts_with("@executable_path") {
            text += " resolves to nothing: no main executable of the bundle loads it";
        } else {
            text += " is a relative name: dyld looks it up from the working directory, not in the bundle";
        }
        if name.starts_with("@rpath/") && !self.rpaths.is_empty() {
            let rpaths: Vec<String> =
                self.rpaths.iter().map(|(r, image)| format!("`{r}` in `{}`", show(image))).collect();
            text += &format!(" (LC_RPATH: {})", rpaths.join(", "));
        }
        let loaded_by_others = self.executables.iter().any(|e| *e != self.image);
        if loaded_by_others {
            text += &format!(" in the process of {}", list(&self.executables));
        }
        if self.weak() {
            text += " (a weak load: dyld goes on without it)";
        }
        text
    }

    /// The failed attempts at `load` of `image` merged into one finding (`None`: none failed).
    pub(super) fn from_attempts(image: PathBuf, load: Load, attempts: &[Attempt]) -> Option<Unresolved> {
        let failed: Vec<&Attempt> = attempts.iter().filter(|a| !a.ok).collect();
        if failed.is_empty() {
            return None;
        }
        let mut u = Unresolved {
            image,
            load,
            arches: Vec::new(),
            tried: Vec::new(),
            wrong_arch: Vec::new(),
            rpaths: Vec::new(),
            searched: Vec::new(),
            executables: Vec::new(),
        };
        for a in failed {
            push_new(&mut u.arches, [a.arch]);
            push_new(&mut u.tried, a.tried.iter().cloned());
            push_new(&mut u.wrong_arch, a.wrong_arch.iter().cloned());
            push_new(&mut u.rpaths, a.rpaths.iter().cloned());
            push_new(&mut u.searched, a.chain.iter().cloned());
            push_new(&mut u.executables, a.exe.iter().cloned());
        }
        Some(u)
    }
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}
