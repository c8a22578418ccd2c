//! CPU masks in the kernel's byte layout, and the choice of the CPUs a capped
//! process is shown or confined to.
//!
//! Pure logic: the hooks hand in the bytes the kernel returned.

/// Enough bits for Linux's largest `NR_CPUS` (8192).
const WORDS: usize = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CpuMask {
    words: [u64; WORDS],
}

impl std::fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.cpus()).finish()
    }
}

impl CpuMask {
    pub const BYTES: usize = WORDS * 8;

    pub const fn empty() -> CpuMask {
        CpuMask { words: [0; WORDS] }
    }

    /// Reads a mask in the kernel's layout (little-endian words of bits);
    /// bits beyond 8192 cannot exist and are ignored.
    pub fn from_bytes(bytes: &[u8]) -> CpuMask {
        let mut mask = CpuMask::empty();
        for (i, &byte) in bytes.iter().take(Self::BYTES).enumerate() {
            mask.words[i / 8] |= u64::from(byte) << ((i % 8) * 8);
        }
        mask
    }

    /// Writes the mask into `bytes`, which keeps its length.
    pub fn write_bytes(&self, bytes: &mut [u8]) {
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = match self.words.get(i / 8) {
                Some(word) => (word >> ((i % 8) * 8)) as u8,
                None => 0,
            };
        }
    }

    pub fn as_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        self.write_bytes(&mut out);
        out
    }

    /// The mask of exactly these CPUs.
    pub fn of(cpus: &[usize]) -> CpuMask {
        let mut m = CpuMask::empty();
        cpus.iter().for_each(|&c| m.set(c));
        m
    }

    pub fn set(&mut self, cpu: usize) {
        if let Some(word) = self.words.get_mut(cpu / 64) {
            *word |= 1 << (cpu % 64);
        }
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn cpus(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| i * 64 + bit)
        })
    }

    /// `k` CPUs of this mask, chosen so that processes with consecutive
    /// `seed`s (pids, later ledger slots) get different CPUs where the mask
    /// has room: a window of `k` consecutive members starting at `seed * k`.
    /// The whole mask when it has no more than `k` CPUs.
    pub fn spread_subset(&self, k: usize, seed: usize) -> CpuMask {
        let m = self.count();
        if k == 0 || k >= m {
            return *self;
        }
        let start = seed.wrapping_mul(k) % m;
        let mut out = CpuMask::empty();
        for cpu in self.cpus().cycle().skip(start).take(k) {
            out.set(cpu);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(cpus: &[usize]) -> CpuMask {
        CpuMask::of(cpus)
    }

    #[test]
    fn bytes_round_trip_in_kernel_layout() {
        let m = mask(&[0, 9, 63, 64, 1000]);
        let bytes = m.as_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1], 2);
        assert_eq!(CpuMask::from_bytes(&bytes), m);
        let mut short = [0xffu8; 2];
        m.write_bytes(&mut short);
        assert_eq!(short, [1, 2]);
    }

    #[test]
    fn subset_is_a_subset_of_the_right_size() {
        let real = mask(&[2, 3, 5, 7, 11, 13]);
        for seed in 0..20 {
            for k in 1..8 {
                let s = real.spread_subset(k, seed);
                assert_eq!(s.count(), k.min(6));
                assert!(s.cpus().all(|c| real.cpus().any(|r| r == c)));
            }
        }
    }

    #[test]
    fn consecutive_seeds_get_disjoint_cpus_where_there_is_room() {
        let real = mask(&(0..16).collect::<Vec<_>>());
        let a = real.spread_subset(4, 100);
        let b = real.spread_subset(4, 101);
        assert!(a.cpus().all(|c| b.cpus().all(|d| c != d)), "{a:?} {b:?}");
    }
}
