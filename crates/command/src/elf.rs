//! Can a program be throttled at all? A preload library reaches only
//! dynamically linked programs that create threads through libc: not static
//! binaries (no dynamic loader), not Go (its runtime calls `clone` itself).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

#[derive(Debug, PartialEq, Eq)]
pub enum Linkage {
    /// Dynamically linked through an ELF interpreter: preloading works.
    Dynamic,
    /// No program interpreter: LD_PRELOAD is never read.
    Static,
    /// A Go binary: threads come from raw `clone`, only GOMAXPROCS applies.
    Go { dynamic: bool },
    /// A script or something else: the interpreter it names is what runs.
    NotElf,
}

const PT_INTERP: u32 = 3;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// Inspects a 64-bit little-endian ELF file (x86_64, aarch64).
pub fn linkage(path: &std::path::Path) -> std::io::Result<Linkage> {
    let mut file = File::open(path)?;
    let mut header = [0u8; 64];
    if file.read(&mut header)? < 64
        || &header[..4] != b"\x7fELF"
        || header[4] != 2
        || header[5] != 1
    {
        return Ok(Linkage::NotElf);
    }
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed ELF header");
    let phoff = u64_at(&header, 0x20).ok_or_else(bad)?;
    let shoff = u64_at(&header, 0x28).ok_or_else(bad)?;
    let phentsize = u16_at(&header, 0x36).ok_or_else(bad)? as usize;
    let phnum = u16_at(&header, 0x38).ok_or_else(bad)? as usize;
    let shentsize = u16_at(&header, 0x3a).ok_or_else(bad)? as usize;
    let shnum = u16_at(&header, 0x3c).ok_or_else(bad)? as usize;
    let shstrndx = u16_at(&header, 0x3e).ok_or_else(bad)? as usize;

    let phdrs = read_at(&mut file, phoff, phentsize * phnum)?;
    let dynamic = (0..phnum).any(|i| u32_at(&phdrs, i * phentsize) == Some(PT_INTERP));

    let mut go = false;
    if shoff != 0 && shnum > 0 && shstrndx < shnum {
        let shdrs = read_at(&mut file, shoff, shentsize * shnum)?;
        let strtab = shstrndx * shentsize;
        let (str_off, str_size) = (
            u64_at(&shdrs, strtab + 0x18).ok_or_else(bad)?,
            u64_at(&shdrs, strtab + 0x20).ok_or_else(bad)?,
        );
        let names = read_at(&mut file, str_off, str_size.min(1 << 20) as usize)?;
        go = (0..shnum).any(|i| {
            let name_off = u32_at(&shdrs, i * shentsize).unwrap_or(u32::MAX) as usize;
            let name = names.get(name_off..).unwrap_or(&[]);
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            matches!(
                &name[..end],
                b".go.buildinfo" | b".note.go.buildid" | b".gopclntab"
            )
        });
    }
    Ok(match (go, dynamic) {
        (true, dynamic) => Linkage::Go { dynamic },
        (false, true) => Linkage::Dynamic,
        (false, false) => Linkage::Static,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic() {
        let me = std::env::current_exe().unwrap();
        assert_eq!(linkage(&me).unwrap(), Linkage::Dynamic);
    }

    #[test]
    fn a_script_is_not_elf() {
        let dir = std::env::temp_dir().join(format!("throttle-elf-{}", std::process::id()));
        std::fs::write(&dir, "#!/bin/sh\n").unwrap();
        assert_eq!(linkage(&dir).unwrap(), Linkage::NotElf);
        std::fs::remove_file(&dir).unwrap();
    }
}
