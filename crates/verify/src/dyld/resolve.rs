//! One architecture's walk along the load chains: each load of each image tried as dyld would,
//! in every chain that reaches the image, every attempt recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Found, Images, dir, expand, is_libpython, is_python_host};
use crate::native::{Arch, FileType, Load, MachSlice};
use crate::paths::normalize_path;

/// One resolution of one load in one chain.
pub(super) struct Attempt {
    pub arch: Arch,
    pub ok: bool,
    pub tried: Vec<PathBuf>,
    pub wrong_arch: Vec<PathBuf>,
    pub rpaths: Vec<(String, PathBuf)>,
    pub chain: Vec<PathBuf>,
    pub exe: Option<PathBuf>,
}

pub(super) type Attempts = BTreeMap<(PathBuf, Load), Vec<Attempt>>;

pub(super) struct Resolver<'a, 'b> {
    bundle: &'b Images<'a>,
    arch: Arch,
    attempts: &'b mut Attempts,
    visited_chains: BTreeSet<Vec<PathBuf>>,
    visited: BTreeSet<PathBuf>,
    /// What each image's loads resolved to (in any chain).
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

impl<'a, 'b> Resolver<'a, 'b> {
    /// Walks every chain of the `arch` slices: each executable's, then each `dlopen`ed image's
    /// (the image, the caller — the host's libpython, if it has one — and the host).
    pub(super) fn run(bundle: &'b Images<'a>, arch: Arch, attempts: &'b mut Attempts) {
        let mut r = Resolver {
            bundle,
            arch,
            attempts,
            visited_chains: BTreeSet::new(),
            visited: BTreeSet::new(),
            edges: BTreeMap::new(),
        };
        let with_slice: Vec<(PathBuf, MachSlice)> =
            bundle.images.keys().filter_map(|p| Some((p.clone(), r.slice(p)?.clone()))).collect();
        for (path, slice) in &with_slice {
            if slice.filetype == FileType::Execute {
                r.visit(vec![path.clone()]);
            }
        }
        let hosts: Vec<Vec<PathBuf>> = with_slice
            .iter()
            .filter(|(path, slice)| is_python_host(path, slice))
            .map(|(host, _)| {
                let libpython =
                    r.edges.get(host).and_then(|targets| targets.iter().find(|t| is_libpython(&t.to_string_lossy())));
                libpython.into_iter().cloned().chain([host.clone()]).collect()
            })
            .collect();
        // Images nobody names in a load command first (extension modules): what they load is
        // then reached through them, with their rpaths, before it could be taken for a root.
        let named: BTreeSet<String> = with_slice
            .iter()
            .flat_map(|(_, s)| s.loads.iter().map(|l| l.name.rsplit('/').next().unwrap_or("").to_string()))
            .collect();
        let (unnamed, rest): (Vec<_>, Vec<_>) = with_slice
            .iter()
            .map(|(p, _)| p.clone())
            .partition(|p| !named.contains(&*p.file_name().unwrap_or_default().to_string_lossy()));
        for root in unnamed.into_iter().chain(rest) {
            if r.visited.contains(&root) {
                continue;
            }
            if hosts.is_empty() {
                r.visit(vec![root.clone()]);
            }
            for host in &hosts {
                let chain: Vec<PathBuf> =
                    std::iter::once(root.clone()).chain(host.iter().filter(|p| **p != root).cloned()).collect();
                r.visit(chain);
            }
        }
    }

    fn slice(&self, path: &Path) -> Option<&MachSlice> {
        self.bundle.images.get(path)?.slices.iter().find(|s| s.arch == self.arch)
    }

    /// Resolves the loads of `chain[0]`, loaded through `chain[1..]`, and descends.
    fn visit(&mut self, chain: Vec<PathBuf>) {
        if !self.visited_chains.insert(chain.clone()) {
            return;
        }
        let image = chain[0].clone();
        self.visited.insert(image.clone());
        let Some(slice) = self.slice(&image).cloned() else { return };
        let exe = chain.last().filter(|e| self.slice(e).is_some_and(|s| s.filetype == FileType::Execute)).cloned();
        for load in &slice.loads {
            if (self.bundle.skip)(&load.name) {
                continue;
            }
            let (attempt, hit) = self.try_load(&load.name, &chain, exe.clone());
            self.attempts.entry((image.clone(), load.clone())).or_default().push(attempt);
            if let Some(target) = hit {
                self.edges.entry(image.clone()).or_default().insert(target.clone());
                if !chain.contains(&target) {
                    let mut next = vec![target];
                    next.extend(chain.iter().cloned());
                    self.visit(next);
                }
            }
        }
    }

    /// Tries the paths dyld would for `name` of `chain[0]`: the attempt and the image found.
    fn try_load(&self, name: &str, chain: &[PathBuf], exe: Option<PathBuf>) -> (Attempt, Option<PathBuf>) {
        let mut attempt = Attempt {
            arch: self.arch,
            ok: false,
            tried: Vec::new(),
            wrong_arch: Vec::new(),
            rpaths: Vec::new(),
            chain: chain.to_vec(),
            exe,
        };
        let exe_dir = attempt.exe.clone();
        let exe_dir = exe_dir.as_deref().map(dir);
        let candidates: Vec<PathBuf> = match name.strip_prefix("@rpath/") {
            Some(rest) => {
                let mut paths = Vec::new();
                for holder in chain {
                    for rpath in self.slice(holder).map(|s| s.rpaths.clone()).unwrap_or_default() {
                        if let Some(d) = expand(&rpath, dir(holder), exe_dir) {
                            paths.push(normalize_path(&d.join(rest)));
                        }
                        attempt.rpaths.push((rpath, holder.clone()));
                    }
                }
                paths
            }
            None => expand(name, dir(&chain[0]), exe_dir).into_iter().collect(),
        };
        let mut hit = None;
        for candidate in candidates {
            if attempt.tried.contains(&candidate) {
                continue;
            }
            attempt.tried.push(candidate.clone());
            if let Found::Image(target) = (self.bundle.find)(&candidate) {
                if self.slice(&target).is_some() {
                    hit = Some(target);
                    break;
                }
                attempt.wrong_arch.push(candidate);
            }
        }
        attempt.ok = hit.is_some();
        (attempt, hit)
    }
}
