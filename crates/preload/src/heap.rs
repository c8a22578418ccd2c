//! The library's own heap: every Rust allocation libthrottle makes comes from
//! here, never from the host's `malloc` (docs/design.md, section 2).
//!
//! A hook can be reached from inside the host's allocator: jemalloc counts
//! CPUs with `sysconf` while it holds its initialisation lock, so a hook that
//! initialised the library through `malloc` re-entered that lock and hung the
//! process at start. Here memory comes from `mmap`, and the only lock is our
//! own, taken with `try_lock` only: an allocation never waits, and never
//! deadlocks, even when re-entered from a signal handler on the same thread.
//!
//! Blocks are power-of-two size classes from 16 bytes to 64 KiB, carved from
//! 1 MiB chunks by an atomic bump pointer, and recycled through one free list
//! per class. Larger blocks are their own mappings. A free that finds the lock
//! held leaks its block (rare, bounded by what the library allocates).

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};

const MIN_SHIFT: u32 = 4;
const MAX_SHIFT: u32 = 16;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

pub struct Heap {
    /// The current chunk's next free byte (0: no chunk yet).
    next: AtomicUsize,
    /// Held while a free list is read or changed (`try_lock` only).
    busy: AtomicBool,
    free: [AtomicPtr<Block>; CLASSES],
}

struct Block {
    next: *mut Block,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicPtr<Block> = AtomicPtr::new(null_mut());

impl Heap {
    pub const fn new() -> Heap {
        Heap {
            next: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            free: [EMPTY; CLASSES],
        }
    }

    /// The size class of a layout, or `None` for a block of its own.
    fn class(layout: Layout) -> Option<usize> {
        let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
        if size > 1 << MAX_SHIFT || layout.align() > PAGE {
            return None;
        }
        let shift = usize::BITS - (size - 1).leading_zeros();
        Some((shift - MIN_SHIFT) as usize)
    }

    fn try_lock(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
    }

    fn unlock(&self) {
        self.busy.store(false, Release);
    }

    /// A fresh block of `size` bytes, aligned to `align` (both powers of two,
    /// at most a page), from the current chunk or a new one. Chunks are
    /// aligned to their size, so the one word `next` tells the chunk's end
    /// too: it always lies inside (start, end] of its chunk.
    fn carve(&self, size: usize, align: usize) -> *mut u8 {
        loop {
            let next = self.next.load(Acquire);
            if next != 0 {
                let end = ((next - 1) & !(CHUNK - 1)) + CHUNK;
                let start = (next + align - 1) & !(align - 1);
                if start + size <= end {
                    if self
                        .next
                        .compare_exchange(next, start + size, AcqRel, Acquire)
                        .is_ok()
                    {
                        return start as *mut u8;
                    }
                    continue;
                }
            }
            let base = aligned_chunk();
            if base.is_null() {
                return null_mut();
            }
            // The block is the new chunk's first bytes; installing it fails
            // if another thread moved `next` meanwhile (then ours goes back).
            if self
                .next
                .compare_exchange(next, base as usize + size, AcqRel, Acquire)
                .is_ok()
            {
                return base;
            }
            unmap(base, CHUNK);
        }
    }
}

/// A new chunk aligned to `CHUNK`: twice the size mapped, the rest given back.
fn aligned_chunk() -> *mut u8 {
    let raw = map(2 * CHUNK);
    if raw.is_null() {
        return null_mut();
    }
    let start = raw as usize;
    let base = (start + CHUNK - 1) & !(CHUNK - 1);
    if base > start {
        unmap(raw, base - start);
    }
    let tail = start + 2 * CHUNK - (base + CHUNK);
    if tail > 0 {
        unmap((base + CHUNK) as *mut u8, tail);
    }
    base as *mut u8
}

fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; no memory of anyone else's.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

fn unmap(p: *mut u8, size: usize) {
    // SAFETY: `p` is a mapping of `size` bytes made by `map` and no longer used.
    unsafe { libc::munmap(p.cast(), size) };
}

fn big(layout: Layout) -> usize {
    (layout.size().max(1) + PAGE - 1) & !(PAGE - 1)
}

// SAFETY: blocks are disjoint (bump allocation, or exclusive ownership while
// on a free list), sized and aligned for their class; big blocks are whole
// page-aligned mappings.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Heap::class(layout) else {
            if layout.align() > PAGE {
                return null_mut();
            }
            return map(big(layout));
        };
        if self.try_lock() {
            let head = self.free[class].load(Relaxed);
            if !head.is_null() {
                // SAFETY: `head` is a freed block of this class, ours alone
                // while the lock is held.
                self.free[class].store(unsafe { (*head).next }, Relaxed);
                self.unlock();
                return head.cast();
            }
            self.unlock();
        }
        let size = 1usize << (class as u32 + MIN_SHIFT);
        self.carve(size, size.min(PAGE))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = Heap::class(layout) else {
            unmap(ptr, big(layout));
            return;
        };
        if !self.try_lock() {
            return;
        }
        let block = ptr.cast::<Block>();
        // SAFETY: the caller gives the block back: it is ours to link.
        unsafe { (*block).next = self.free[class].load(Relaxed) };
        self.free[class].store(block, Relaxed);
        self.unlock();
    }
}

/// In a `fork` child: a thread that held the free lists' lock does not exist.
pub fn reset_after_fork(heap: &Heap) {
    heap.unlock();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_sizes_and_alignments() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(Heap::class(l(1, 1)), Some(0));
        assert_eq!(Heap::class(l(16, 8)), Some(0));
        assert_eq!(Heap::class(l(17, 8)), Some(1));
        assert_eq!(Heap::class(l(8, 64)), Some(2));
        assert_eq!(Heap::class(l(65536, 8)), Some(12));
        assert_eq!(Heap::class(l(65537, 8)), None);
        assert_eq!(Heap::class(l(8, 8192)), None);
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_recycled() {
        let heap = Heap::new();
        let mut blocks = Vec::new();
        for i in 0..3000usize {
            let layout = Layout::from_size_align(1 + (i * 37) % 70000, 1 << (i % 7)).unwrap();
            // SAFETY: a non-zero size; the block is written within its size.
            let p = unsafe { heap.alloc(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % layout.align(), 0);
            // SAFETY: as above.
            unsafe { std::ptr::write_bytes(p, (i % 251) as u8, layout.size()) };
            blocks.push((p, layout, (i % 251) as u8));
        }
        for &(p, layout, byte) in &blocks {
            // SAFETY: each block was filled with its own byte; none overlaps.
            let s = unsafe { std::slice::from_raw_parts(p, layout.size()) };
            assert!(s.iter().all(|&b| b == byte));
        }
        let (p0, l0, _) = blocks[0];
        // SAFETY: giving back a block from this heap with its layout.
        unsafe { heap.dealloc(p0, l0) };
        // SAFETY: same class: the freed block comes back.
        let again = unsafe { heap.alloc(l0) };
        assert_eq!(again, p0);
        for &(p, layout, _) in &blocks[1..] {
            // SAFETY: as above.
            unsafe { heap.dealloc(p, layout) };
        }
    }

    #[test]
    fn threads_allocate_and_free_concurrently() {
        static HEAP: Heap = Heap::new();
        let workers: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..20000usize {
                        let layout = Layout::from_size_align(8 + (i + t) % 300, 8).unwrap();
                        // SAFETY: as in the test above.
                        let p = unsafe { HEAP.alloc(layout) };
                        assert!(!p.is_null());
                        // SAFETY: written within the block, then given back.
                        unsafe {
                            std::ptr::write_bytes(p, t as u8, layout.size());
                            assert!(std::slice::from_raw_parts(p, layout.size())
                                .iter()
                                .all(|&b| b == t as u8));
                            HEAP.dealloc(p, layout);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
}
