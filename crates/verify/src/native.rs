//! What a native file declares about its loading — its type, architecture(s), library loads,
//! rpaths and install name — for ELF and thin and universal (fat) Mach-O files, read with
//! goblin.

use goblin::Object;
use goblin::mach::{Mach, MachO, SingleArch, constants::cputype, header, load_command::CommandVariant};

/// What a native file declares about its loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeInfo {
    pub macho: bool,
    /// ELF: an executable; Mach-O: some slice is `MH_EXECUTE`.
    pub executable: bool,
    /// An object file (Mach-O: every slice `MH_OBJECT`; ELF: `ET_REL`), such as
    /// python-build-standalone's `config-3.X-darwin/python.o`: nothing loads it, and it has no
    /// place for a code signature.
    pub object: bool,
    /// ELF: DT_NEEDED; Mach-O: the dylib load commands of all slices (each name once).
    pub libs: Vec<String>,
    /// ELF: DT_RPATH + DT_RUNPATH; Mach-O: the LC_RPATHs of all slices (each once).
    pub rpaths: Vec<String>,
    /// Mach-O: LC_ID_DYLIB (of the first slice that has one); ELF: DT_SONAME.
    pub id: Option<String>,
    /// `x86_64`, `aarch64` (ELF), `arm64` (Mach-O), `universal(arm64,x86_64)`.
    pub arch: FileArch,
    /// Mach-O: one entry per architecture (one for a thin file); empty for ELF.
    pub slices: Vec<MachSlice>,
}

/// One architecture of a Mach-O file: what dyld reads when it maps that slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachSlice {
    pub arch: Arch,
    pub filetype: FileType,
    pub id: Option<String>,
    pub loads: Vec<Load>,
    pub rpaths: Vec<String>,
}

/// A CPU architecture as ELF or Mach-O names it; shown as `arm64`, `x86_64`, `aarch64`, or
/// `macho-cpu-N` / `elf-machine-N` for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// Mach-O `CPU_TYPE_ARM64` (Apple's name).
    Arm64,
    /// Mach-O `CPU_TYPE_X86_64` or ELF `EM_X86_64`.
    X86_64,
    /// ELF `EM_AARCH64`.
    Aarch64,
    MachCpu(u32),
    ElfMachine(u16),
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arch::Arm64 => f.write_str("arm64"),
            Arch::X86_64 => f.write_str("x86_64"),
            Arch::Aarch64 => f.write_str("aarch64"),
            Arch::MachCpu(n) => write!(f, "macho-cpu-{n}"),
            Arch::ElfMachine(n) => write!(f, "elf-machine-{n}"),
        }
    }
}

/// A file's architecture: one, or a universal Mach-O's slices (sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileArch {
    Thin(Arch),
    Universal(Vec<Arch>),
}

impl std::fmt::Display for FileArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileArch::Thin(arch) => write!(f, "{arch}"),
            FileArch::Universal(arches) => {
                let names: Vec<String> = arches.iter().map(Arch::to_string).collect();
                write!(f, "universal({})", names.join(","))
            }
        }
    }
}

/// The Mach-O file types `verify` tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// `MH_EXECUTE`: a main executable (`python3`, the launcher).
    Execute,
    /// `MH_DYLIB`: a shared library (`libpython3.X.dylib`, `libmlx.dylib`).
    Dylib,
    /// `MH_BUNDLE`: a plug-in, such as a Python extension module.
    Bundle,
    /// `MH_OBJECT`: a relocatable object file (`python.o`).
    Object,
    Other(u32),
}

/// One dylib load command.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Load {
    pub command: LoadCommand,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoadCommand {
    Load,
    /// A missing weak library is tolerated by dyld.
    Weak,
    Reexport,
    Upward,
    Lazy,
}

impl LoadCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadCommand::Load => "LC_LOAD_DYLIB",
            LoadCommand::Weak => "LC_LOAD_WEAK_DYLIB",
            LoadCommand::Reexport => "LC_REEXPORT_DYLIB",
            LoadCommand::Upward => "LC_LOAD_UPWARD_DYLIB",
            LoadCommand::Lazy => "LC_LAZY_LOAD_DYLIB",
        }
    }
}

impl NativeInfo {
    /// Whether the file is a universal (fat) Mach-O.
    pub fn universal(&self) -> bool {
        matches!(self.arch, FileArch::Universal(_))
    }
}

/// More slices than any universal file has (Apple's tools make at most a few).
const MAX_SLICES: usize = 32;

/// Parses an ELF or Mach-O file, thin or universal (`None` for anything else, e.g. a Java class
/// file, which shares the fat magic, or a universal static archive).
pub fn native_info(bytes: &[u8]) -> Option<NativeInfo> {
    match Object::parse(bytes).ok()? {
        Object::Elf(elf) => Some(NativeInfo {
            macho: false,
            object: elf.header.e_type == goblin::elf::header::ET_REL,
            executable: elf.header.e_type != goblin::elf::header::ET_REL && (!elf.is_lib || elf.interpreter.is_some()),
            libs: elf.libraries.iter().map(|s| s.to_string()).collect(),
            rpaths: elf.rpaths.iter().chain(elf.runpaths.iter()).flat_map(|r| r.split(':')).map(String::from).collect(),
            id: elf.soname.map(String::from),
            arch: FileArch::Thin(match elf.header.e_machine {
                goblin::elf::header::EM_X86_64 => Arch::X86_64,
                goblin::elf::header::EM_AARCH64 => Arch::Aarch64,
                other => Arch::ElfMachine(other),
            }),
            slices: Vec::new(),
        }),
        Object::Mach(Mach::Binary(m)) => Some(from_slices(vec![slice(&m)], false)),
        Object::Mach(Mach::Fat(fat)) => {
            // A fat header claims any number of slices (the fuzz target found one claiming 557
            // million, which goblin walks one by one); real files have a handful.
            let slices: Vec<MachSlice> = fat
                .into_iter()
                .take(MAX_SLICES)
                .filter_map(|entry| match entry {
                    Ok(SingleArch::MachO(m)) => Some(slice(&m)),
                    _ => None,
                })
                .collect();
            (!slices.is_empty()).then(|| from_slices(slices, true))
        }
        _ => None,
    }
}

fn slice(m: &MachO) -> MachSlice {
    // goblin lists the dylib load commands' names in `libs` after a first entry that is "self"
    // or the file's own LC_ID_DYLIB, in load-command order; the kinds come from the commands.
    let commands = m.load_commands.iter().filter_map(|c| match c.command {
        CommandVariant::LoadDylib(_) => Some(LoadCommand::Load),
        CommandVariant::LoadWeakDylib(_) => Some(LoadCommand::Weak),
        CommandVariant::ReexportDylib(_) => Some(LoadCommand::Reexport),
        CommandVariant::LoadUpwardDylib(_) => Some(LoadCommand::Upward),
        CommandVariant::LazyLoadDylib(_) => Some(LoadCommand::Lazy),
        _ => None,
    });
    MachSlice {
        arch: arch_of_cputype(m.header.cputype),
        filetype: match m.header.filetype {
            header::MH_EXECUTE => FileType::Execute,
            header::MH_DYLIB => FileType::Dylib,
            header::MH_BUNDLE => FileType::Bundle,
            header::MH_OBJECT => FileType::Object,
            other => FileType::Other(other),
        },
        id: m.name.map(String::from),
        loads: commands
            .zip(m.libs.iter().skip(1))
            .map(|(command, name)| Load { command, name: name.to_string() })
            .collect(),
        rpaths: m.rpaths.iter().map(|s| s.to_string()).collect(),
    }
}

/// A Mach-O header's `cputype` as an [`Arch`].
pub fn arch_of_cputype(cputype: u32) -> Arch {
    match cputype {
        cputype::CPU_TYPE_ARM64 => Arch::Arm64,
        cputype::CPU_TYPE_X86_64 => Arch::X86_64,
        other => Arch::MachCpu(other),
    }
}

fn from_slices(mut slices: Vec<MachSlice>, fat: bool) -> NativeInfo {
    slices.sort_by_key(|s| s.arch);
    let mut libs: Vec<String> = Vec::new();
    let mut rpaths: Vec<String> = Vec::new();
    for s in &slices {
        for l in &s.loads {
            if !libs.contains(&l.name) {
                libs.push(l.name.clone());
            }
        }
        for r in &s.rpaths {
            if !rpaths.contains(r) {
                rpaths.push(r.clone());
            }
        }
    }
    let arch =
        if fat { FileArch::Universal(slices.iter().map(|s| s.arch).collect()) } else { FileArch::Thin(slices[0].arch) };
    NativeInfo {
        macho: true,
        executable: slices.iter().any(|s| s.filetype == FileType::Execute),
        object: slices.iter().all(|s| s.filetype == FileType::Object),
        libs,
        rpaths,
        id: slices.iter().find_map(|s| s.id.clone()),
        arch,
        slices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msty_mlx_testkit::{synthetic_macho, synthetic_retarget, synthetic_universal};

    #[test]
    fn synthetic_macho_parses() {
        let lib = native_info(&synthetic_macho(
            false,
            Some("/install/lib/libpython3.11.dylib"),
            &["/usr/lib/libSystem.B.dylib"],
            &[],
        ))
        .unwrap();
        assert!(lib.macho && !lib.executable && !lib.universal());
        assert_eq!(lib.id.as_deref(), Some("/install/lib/libpython3.11.dylib"));
        assert_eq!(lib.arch, FileArch::Thin(Arch::Arm64));
        assert_eq!(lib.libs, ["/usr/lib/libSystem.B.dylib"]);
        assert_eq!(lib.slices[0].filetype, FileType::Dylib);
        assert_eq!(
            lib.slices[0].loads,
            [Load { command: LoadCommand::Load, name: "/usr/lib/libSystem.B.dylib".into() }]
        );
        let exe = native_info(&synthetic_macho(
            true,
            None,
            &["/install/lib/libpython3.11.dylib"],
            &["@executable_path/../lib", "/install/lib"],
        ))
        .unwrap();
        assert!(exe.executable);
        assert_eq!(exe.libs, ["/install/lib/libpython3.11.dylib"]);
        assert_eq!(exe.rpaths, ["@executable_path/../lib", "/install/lib"]);
    }

    #[test]
    fn universal_files_are_read_slice_by_slice() {
        let arm = synthetic_macho(
            false,
            Some("/install/lib/libpython3.12.dylib"),
            &["/usr/lib/libSystem.B.dylib"],
            &["@loader_path"],
        );
        let intel = synthetic_retarget(
            synthetic_macho(false, Some("/install/lib/libpython3.12.dylib"), &["/usr/lib/libc++.1.dylib"], &[]),
            cputype::CPU_TYPE_X86_64,
        );
        let info = native_info(&synthetic_universal(&[intel, arm])).unwrap();
        assert!(info.macho && info.universal() && !info.executable);
        assert_eq!(info.arch.to_string(), "universal(arm64,x86_64)");
        assert_eq!(info.slices.iter().map(|s| s.arch).collect::<Vec<_>>(), [Arch::Arm64, Arch::X86_64]);
        assert_eq!(info.slices[1].loads[0].name, "/usr/lib/libc++.1.dylib");
        assert!(info.slices[1].rpaths.is_empty());
        // The union, for the checks that look at the file as a whole.
        assert_eq!(info.libs, ["/usr/lib/libSystem.B.dylib", "/usr/lib/libc++.1.dylib"]);
        assert_eq!(info.rpaths, ["@loader_path"]);
        assert_eq!(info.id.as_deref(), Some("/install/lib/libpython3.12.dylib"));
    }

    /// Found by `fuzz/fuzz_targets/macho.rs`: a fat header claiming 557 million slices made
    /// goblin walk every one (minutes: this test would hang); the walk stops after [`MAX_SLICES`].
    #[test]
    fn a_fat_header_with_a_huge_slice_count_is_read_quickly() {
        let mut bytes = vec![0xca, 0xfe, 0xba, 0xbe, 0x21, 0x3c, 0x61, 0x72];
        bytes.resize(64, 0xff);
        assert_eq!(native_info(&bytes), None);
    }

    #[test]
    fn a_java_class_file_is_not_a_universal_binary() {
        let mut class = 0xcafe_babe_u32.to_be_bytes().to_vec();
        class.extend_from_slice(&[0, 0, 0, 65]);
        class.resize(4096, 0);
        assert_eq!(native_info(&class), None);
    }
}
