//! The files programs count CPUs by, as a capped process is shown them:
//! `/sys/devices/system/cpu/online` lists exactly the CPUs of its virtual
//! affinity mask, `/proc/cpuinfo` holds only their stanzas and `/proc/stat`
//! only their `cpuN` lines (lxcfs does the same for containers). R's
//! `detectCores()` counts `processor` lines, libuv (Node's `os.cpus()`)
//! counts `cpuN` lines, hwloc and pytorch/cpuinfo read `online`. The
//! `_CONF`-like views (`possible`, `present`) stay real, as
//! `_SC_NPROCESSORS_CONF` does. docs/design.md, section 11.
//!
//! Pure: the hooks (hooks/files.rs) read the real file and serve what
//! `render` makes of it.

use crate::cpumask::CpuMask;

/// A file with a virtual view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Online,
    CpuInfo,
    Stat,
}

const ONLINE: &[u8] = b"/sys/devices/system/cpu/online";
const CPUINFO: &[u8] = b"/proc/cpuinfo";
const STAT: &[u8] = b"/proc/stat";

impl View {
    /// The real file's path, NUL-terminated.
    pub fn path(self) -> &'static std::ffi::CStr {
        match self {
            View::Online => c"/sys/devices/system/cpu/online",
            View::CpuInfo => c"/proc/cpuinfo",
            View::Stat => c"/proc/stat",
        }
    }

    pub fn name(self) -> &'static std::ffi::CStr {
        match self {
            View::Online => c"online",
            View::CpuInfo => c"cpuinfo",
            View::Stat => c"stat",
        }
    }
}

/// Whether a path may name a view at all: one test of its first two bytes,
/// the whole cost for every other path a program opens.
#[inline]
pub fn may_be_view(first: u8, second: u8) -> bool {
    first == b'/' && (second == b'p' || second == b's')
}

/// The view `path` names, if any (exact paths only).
pub fn view_of(path: &[u8]) -> Option<View> {
    match path {
        ONLINE => Some(View::Online),
        CPUINFO => Some(View::CpuInfo),
        STAT => Some(View::Stat),
        _ => None,
    }
}

/// The view of `real` (the real file's bytes) for a process shown `shown`.
pub fn render(view: View, real: &[u8], shown: &CpuMask) -> Vec<u8> {
    match view {
        View::Online => {
            let mut out = list(shown).into_bytes();
            out.push(b'\n');
            out
        }
        View::CpuInfo => cpuinfo(real, shown),
        View::Stat => stat(real, shown),
    }
}

/// A CPU list in the kernel's format: `0-3,8,10-11`.
pub fn list(mask: &CpuMask) -> String {
    let cpus: Vec<usize> = mask.cpus().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Whether CPU `n` (a number as the file writes it) is shown.
fn shown_cpu(n: &[u8], shown: &CpuMask) -> bool {
    std::str::from_utf8(n)
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| shown.cpus().any(|c| c == n))
}

/// `/proc/cpuinfo`: stanzas separated by blank lines, each starting with
/// `processor : N` (x86, arm64). Stanzas of CPUs not shown are left out;
/// anything that is not a processor's stanza (arm64's trailing lines) is
/// kept.
fn cpuinfo(real: &[u8], shown: &CpuMask) -> Vec<u8> {
    let mut out = Vec::with_capacity(real.len());
    let mut rest = real;
    while !rest.is_empty() {
        // A stanza runs to the next blank line (kept with it).
        let end = rest
            .windows(2)
            .position(|w| w == b"\n\n")
            .map_or(rest.len(), |p| p + 2);
        let (stanza, tail) = rest.split_at(end);
        rest = tail;
        let first = stanza.split(|&b| b == b'\n').next().unwrap_or(b"");
        let keep = match first.split_once_byte(b':') {
            Some((key, value)) if key.trim_ascii() == b"processor" => shown_cpu(value, shown),
            _ => true,
        };
        if keep {
            out.extend_from_slice(stanza);
        }
    }
    out
}

/// `/proc/stat`: the `cpuN` lines of CPUs not shown are left out; the
/// summary `cpu` line and every other line are kept.
fn stat(real: &[u8], shown: &CpuMask) -> Vec<u8> {
    let mut out = Vec::with_capacity(real.len());
    for line in real.split_inclusive(|&b| b == b'\n') {
        let keep = match line.strip_prefix(b"cpu") {
            Some(rest) if rest.first().is_some_and(u8::is_ascii_digit) => {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                shown_cpu(&rest[..digits], shown)
            }
            _ => true,
        };
        if keep {
            out.extend_from_slice(line);
        }
    }
    out
}

trait SplitOnce {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])>;
}

impl SplitOnce for [u8] {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])> {
        let i = self.iter().position(|&x| x == b)?;
        Some((&self[..i], &self[i + 1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(cpus: &[usize]) -> CpuMask {
        CpuMask::of(cpus)
    }

    #[test]
    fn online_is_the_shown_cpus_as_a_kernel_list() {
        assert_eq!(list(&mask(&[0, 1, 2, 3, 8, 10, 11])), "0-3,8,10-11");
        assert_eq!(list(&mask(&[5])), "5");
        assert_eq!(render(View::Online, b"0-63\n", &mask(&[1, 2])), b"1-2\n");
    }

    #[test]
    fn cpuinfo_keeps_only_the_shown_stanzas() {
        let real = b"processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\nprocessor\t: 2\nmodel name\t: X\n\n";
        let out = render(View::CpuInfo, real, &mask(&[1]));
        assert_eq!(out, b"processor\t: 1\nmodel name\t: X\n\n");
        assert_eq!(render(View::CpuInfo, real, &mask(&[0, 1, 2])), real);
        // arm64 ends with lines that are no processor's: kept.
        let arm =
            b"processor\t: 0\nBogoMIPS\t: 50\n\nprocessor\t: 1\nBogoMIPS\t: 50\n\nHardware\t: X\n";
        assert_eq!(
            render(View::CpuInfo, arm, &mask(&[0])),
            b"processor\t: 0\nBogoMIPS\t: 50\n\nHardware\t: X\n"
        );
    }

    #[test]
    fn stat_keeps_only_the_shown_cpu_lines() {
        let real = b"cpu  10 0 5\ncpu0 4 0 2\ncpu1 6 0 3\ncpu12 1 1 1\nintr 5\nctxt 9\n";
        assert_eq!(
            render(View::Stat, real, &mask(&[1])),
            b"cpu  10 0 5\ncpu1 6 0 3\nintr 5\nctxt 9\n"
        );
        assert_eq!(
            render(View::Stat, real, &mask(&[12])),
            b"cpu  10 0 5\ncpu12 1 1 1\nintr 5\nctxt 9\n"
        );
    }

    #[test]
    fn only_the_exact_paths_are_views() {
        assert_eq!(view_of(b"/proc/cpuinfo"), Some(View::CpuInfo));
        assert_eq!(view_of(b"/proc/stat"), Some(View::Stat));
        assert_eq!(
            view_of(b"/sys/devices/system/cpu/online"),
            Some(View::Online)
        );
        for other in [
            &b"/proc/cpuinfo2"[..],
            b"/proc/self/stat",
            b"/sys/devices/system/cpu/possible",
            b"/sys/devices/system/cpu/present",
            b"proc/stat",
            b"",
        ] {
            assert_eq!(view_of(other), None, "{:?}", String::from_utf8_lossy(other));
        }
        assert!(may_be_view(b'/', b'p') && may_be_view(b'/', b's'));
        assert!(!may_be_view(b'/', b'u') && !may_be_view(b'.', b'p'));
    }
}
