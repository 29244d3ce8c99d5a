//! What a dynamically linked ELF binary needs at run time: its loader (`PT_INTERP`) and shared
//! libraries (`DT_NEEDED`, transitively), found the way the loader would and read without running it.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Library directories searched after the binary's own `RUNPATH`/`RPATH`, in the order of the
/// glibc loader's system search path on Debian and most x86-64 distributions.
pub const DEFAULT_LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// Errors reading an ELF file or resolving what it needs.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a 64-bit little-endian ELF file: {what}", path.display())]
    NotElf { path: PathBuf, what: &'static str },
    #[error(
        "`{}` needs `{library}`, which is in none of {dirs:?}\nhint: install the library on the build host",
        path.display()
    )]
    LibraryNotFound { path: PathBuf, library: String, dirs: Vec<PathBuf> },
}

/// One file the binary needs at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFile {
    /// Where its content is on the build host (symlinks resolved).
    pub host: PathBuf,
    /// Absolute path it must have in the image (the loader's path, or the search directory the
    /// library was found in plus its `DT_NEEDED` name).
    pub path: String,
}

/// The dynamic facts of one ELF file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DynamicInfo {
    /// `PT_INTERP`: the program loader, if any (a static binary has none).
    pub interpreter: Option<String>,
    /// `DT_NEEDED` names, in order.
    pub needed: Vec<String>,
    /// `DT_RUNPATH` (or `DT_RPATH`) directories, `$ORIGIN` expanded.
    pub runpath: Vec<PathBuf>,
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Read the loader, needed libraries and run path of an ELF64 little-endian file.
pub fn dynamic_info(path: &Path) -> Result<DynamicInfo, ElfError> {
    let read_err = |source| ElfError::Read { path: path.to_owned(), source };
    let not_elf = |what| ElfError::NotElf { path: path.to_owned(), what };
    let file = File::open(path).map_err(read_err)?;
    let file_len = file.metadata().map_err(read_err)?.len();
    let read = |offset: u64, len: u64| -> Result<Vec<u8>, ElfError> {
        if offset.checked_add(len).is_none_or(|end| end > file_len) || len > 64 << 20 {
            return Err(not_elf("a table points past the end of the file"));
        }
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, offset).map_err(read_err)?;
        Ok(buf)
    };
    let ehdr = read(0, 64).map_err(|_| not_elf("too short"))?;
    if ehdr[..4] != *b"\x7fELF" {
        return Err(not_elf("no ELF magic"));
    }
    if ehdr[4] != 2 || ehdr[5] != 1 {
        return Err(not_elf("not ELFCLASS64/ELFDATA2LSB"));
    }
    let (phoff, phentsize, phnum) =
        (u64_at(&ehdr, 0x20), u16_at(&ehdr, 0x36) as u64, u16_at(&ehdr, 0x38) as u64);
    if phentsize < 56 {
        return Err(not_elf("program header entries are too small"));
    }
    let phdrs = read(phoff, phentsize * phnum)?;
    let mut loads = Vec::new();
    let mut info = DynamicInfo::default();
    let mut dynamic = None;
    for i in 0..phnum as usize {
        let ph = &phdrs[i * phentsize as usize..];
        let (p_type, offset, vaddr, filesz) =
            (u32_at(ph, 0), u64_at(ph, 8), u64_at(ph, 16), u64_at(ph, 32));
        match p_type {
            PT_LOAD => loads.push((vaddr, offset, filesz)),
            PT_DYNAMIC => dynamic = Some((offset, filesz)),
            PT_INTERP => {
                let bytes = read(offset, filesz)?;
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                info.interpreter = Some(String::from_utf8_lossy(&bytes[..end]).into_owned());
            }
            _ => {}
        }
    }
    let Some((dyn_offset, dyn_size)) = dynamic else { return Ok(info) };
    let table = read(dyn_offset, dyn_size)?;
    let (mut strtab, mut strsz, mut needed, mut runpath, mut rpath) = (None, 0, vec![], None, None);
    for entry in table.chunks_exact(16) {
        let (tag, val) = (u64_at(entry, 0), u64_at(entry, 8));
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(val),
            DT_STRTAB => strtab = Some(val),
            DT_STRSZ => strsz = val,
            DT_RUNPATH => runpath = Some(val),
            DT_RPATH => rpath = Some(val),
            _ => {}
        }
    }
    let Some(strtab) = strtab else { return Err(not_elf("a dynamic section without DT_STRTAB")) };
    let strtab_offset = loads
        .iter()
        .find(|(vaddr, _, filesz)| (*vaddr..vaddr + filesz).contains(&strtab))
        .map(|(vaddr, offset, _)| strtab - vaddr + offset)
        .ok_or_else(|| not_elf("DT_STRTAB is outside every loaded segment"))?;
    let strings = read(strtab_offset, strsz)?;
    let string = |at: u64| -> Result<String, ElfError> {
        let tail = strings.get(at as usize..).ok_or_else(|| not_elf("a string past DT_STRSZ"))?;
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
    };
    info.needed = needed.into_iter().map(string).collect::<Result<_, _>>()?;
    if let Some(at) = runpath.or(rpath) {
        let origin = path.parent().map(|p| p.display().to_string()).unwrap_or_default();
        info.runpath = string(at)?
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| PathBuf::from(dir.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)))
            .collect();
    }
    Ok(info)
}

/// Every file `binary` needs at run time besides itself: the loader and all shared libraries,
/// transitively, sorted by image path. A static binary needs nothing.
pub fn runtime_files(
    binary: &Path,
    library_dirs: &[PathBuf],
) -> Result<Vec<RuntimeFile>, ElfError> {
    let canonical = |path: &Path| {
        std::fs::canonicalize(path)
            .map_err(|source| ElfError::Read { path: path.to_owned(), source })
    };
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    let info = dynamic_info(binary)?;
    if let Some(interpreter) = &info.interpreter {
        found.insert(interpreter.clone(), canonical(Path::new(interpreter))?);
    }
    let mut queue = vec![(binary.to_owned(), info)];
    let mut seen_names = std::collections::BTreeSet::new();
    while let Some((from, info)) = queue.pop() {
        for library in &info.needed {
            if !seen_names.insert(library.clone()) {
                continue;
            }
            let dirs: Vec<PathBuf> = info.runpath.iter().chain(library_dirs).cloned().collect();
            let Some(dir) = dirs.iter().find(|dir| dir.join(library).is_file()) else {
                return Err(ElfError::LibraryNotFound {
                    path: from.clone(),
                    library: library.clone(),
                    dirs,
                });
            };
            let host = canonical(&dir.join(library))?;
            let image_path = dir.join(library).display().to_string();
            queue.push((host.clone(), dynamic_info(&host)?));
            found.insert(image_path, host);
        }
    }
    Ok(found.into_iter().map(|(path, host)| RuntimeFile { host, path }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_elf_file_is_refused_with_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("script");
        std::fs::write(&path, "#!/bin/sh\necho hi\n".repeat(8)).unwrap();
        let err = dynamic_info(&path).unwrap_err();
        assert!(err.to_string().contains("no ELF magic"), "{err}");
        assert!(err.to_string().contains("script"), "{err}");
    }

    #[test]
    fn this_test_binary_needs_libc_and_the_loader() {
        let exe = std::env::current_exe().unwrap();
        let dirs: Vec<PathBuf> = DEFAULT_LIBRARY_DIRS.iter().map(PathBuf::from).collect();
        let files = runtime_files(&exe, &dirs).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"/lib64/ld-linux-x86-64.so.2"), "{paths:?}");
        assert!(paths.iter().any(|p| p.ends_with("/libc.so.6")), "{paths:?}");
        for file in &files {
            assert!(file.host.is_file() && !file.host.is_symlink(), "{file:?}");
        }
    }
}
