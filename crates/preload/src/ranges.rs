//! A small table from address ranges (the loaded objects that call a hook)
//! to a word (the definition their calls go to, a flag), read without a
//! lock on every call and filled under one, once per caller object.
//!
//! A slot is published by its start address, stored last (`Release`); a
//! reader that sees a start (`Acquire`) sees the slot's end and word too. A
//! start of 0 is an empty or unfinished slot: no object is loaded at 0.

use crate::lock::{FutexLock, Guard};
use std::sync::atomic::{AtomicUsize, Ordering::*};

pub struct RangeTable<const N: usize> {
    slots: [[AtomicUsize; 3]; N],
    filling: FutexLock,
}

impl<const N: usize> RangeTable<N> {
    pub const fn new() -> Self {
        RangeTable {
            slots: [const { [const { AtomicUsize::new(0) }; 3] }; N],
            filling: FutexLock::new(),
        }
    }

    /// The word of the range holding `addr`, if one was recorded.
    pub fn get(&self, addr: usize) -> Option<usize> {
        self.slots.iter().find_map(|slot| {
            let start = slot[0].load(Acquire);
            (start != 0 && start <= addr && addr < slot[1].load(Relaxed))
                .then(|| slot[2].load(Relaxed))
        })
    }

    /// Held while looking up and recording a new range, so that one caller
    /// object is looked up once.
    pub fn lock(&self) -> Guard<'_> {
        self.filling.lock()
    }

    /// Records `start..end` with `word`; false when the table is full.
    /// Call with the lock held.
    pub fn insert(&self, start: usize, end: usize, word: usize) -> bool {
        let Some(slot) = self.slots.iter().find(|s| s[0].load(Relaxed) == 0) else {
            return false;
        };
        slot[2].store(word, Relaxed);
        slot[1].store(end, Relaxed);
        slot[0].store(start.max(1), Release);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_found_by_any_address_inside_them() {
        let t: RangeTable<2> = RangeTable::new();
        assert_eq!(t.get(5), None);
        let _g = t.lock();
        assert!(t.insert(0x1000, 0x2000, 7));
        assert!(t.insert(0x3000, 0x4000, 9));
        assert!(!t.insert(0x5000, 0x6000, 1), "full");
        assert_eq!(t.get(0x1000), Some(7));
        assert_eq!(t.get(0x1fff), Some(7));
        assert_eq!(t.get(0x2000), None);
        assert_eq!(t.get(0x3abc), Some(9));
    }
}
