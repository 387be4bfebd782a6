//! The one architecture table: each CPU architecture the bundle can target, with every
//! spelling the bundler meets (Rust and uv triples, wheel tags, ELF and Mach-O headers).
//! macOS wheel tags say `arm64` where everything else says `aarch64`.

use goblin::elf::header::{EM_AARCH64, EM_X86_64};
use goblin::mach::constants::cputype::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};

/// A CPU architecture of a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Aarch64,
    X86_64,
}

/// One row of the table.
struct Row {
    arch: Arch,
    /// Rust's and uv's triples, `std::env::consts::ARCH`, Linux wheel tags.
    rust: &'static str,
    /// The last part of a `macosx_X_Y_<arch>` wheel tag.
    macos_wheel: &'static str,
    /// Rust's and uv's macOS triple.
    apple: &'static str,
    /// The oldest macOS Rust's standard library supports there.
    oldest_macos: &'static str,
    elf_machine: u16,
    mach_cputype: u32,
}

const TABLE: [Row; 2] = [
    Row {
        arch: Arch::Aarch64,
        rust: "aarch64",
        macos_wheel: "arm64",
        apple: "aarch64-apple-darwin",
        oldest_macos: "11.0",
        elf_machine: EM_AARCH64,
        mach_cputype: CPU_TYPE_ARM64,
    },
    Row {
        arch: Arch::X86_64,
        rust: "x86_64",
        macos_wheel: "x86_64",
        apple: "x86_64-apple-darwin",
        oldest_macos: "10.12",
        elf_machine: EM_X86_64,
        mach_cputype: CPU_TYPE_X86_64,
    },
];

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Aarch64, Arch::X86_64];

    fn row(self) -> &'static Row {
        // Every variant has its row (the table is indexed by the same order as ALL; tested).
        &TABLE[self as usize]
    }

    fn find(matches: impl Fn(&Row) -> bool) -> Option<Arch> {
        TABLE.iter().find(|r| matches(r)).map(|r| r.arch)
    }

    /// `aarch64`, `x86_64`: Rust's and uv's spelling, and Linux wheel tags'.
    pub fn rust(self) -> &'static str {
        self.row().rust
    }

    /// `arm64`, `x86_64`: macOS wheel tags' spelling.
    pub fn macos_wheel(self) -> &'static str {
        self.row().macos_wheel
    }

    pub fn from_rust(name: &str) -> Option<Arch> {
        Self::find(|r| r.rust == name)
    }

    pub fn from_macos_wheel(name: &str) -> Option<Arch> {
        Self::find(|r| r.macos_wheel == name)
    }

    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        Self::find(|r| r.elf_machine == machine)
    }

    pub fn from_mach_cputype(cputype: u32) -> Option<Arch> {
        Self::find(|r| r.mach_cputype == cputype)
    }

    /// The architecture this bundler runs on (`None` on one the table does not hold).
    pub fn here() -> Option<Arch> {
        Self::from_rust(std::env::consts::ARCH)
    }

    /// The macOS triple (`aarch64-apple-darwin`).
    pub fn apple_triple(self) -> &'static str {
        self.row().apple
    }

    /// The oldest macOS Rust's standard library supports on this architecture.
    pub fn oldest_macos(self) -> &'static str {
        self.row().oldest_macos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_architecture_once_in_order() {
        for (i, arch) in Arch::ALL.into_iter().enumerate() {
            assert_eq!(TABLE[i].arch, arch);
            assert_eq!(Arch::from_rust(arch.rust()), Some(arch));
            assert_eq!(Arch::from_macos_wheel(arch.macos_wheel()), Some(arch));
            assert_eq!(Arch::from_elf_machine(TABLE[i].elf_machine), Some(arch));
            assert_eq!(Arch::from_mach_cputype(TABLE[i].mach_cputype), Some(arch));
        }
        assert_eq!(Arch::from_macos_wheel("aarch64"), None);
        assert_eq!(Arch::from_rust("arm64"), None);
        assert_eq!(Arch::Aarch64.apple_triple(), "aarch64-apple-darwin");
    }
}
