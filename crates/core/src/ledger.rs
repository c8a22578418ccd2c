//! The ledger: one small shared table per process tree, through which the
//! processes of a job split one budget (docs/design.md, section 1, layer 3).
//!
//! A file of fixed layout, mapped shared by every member: a header (magic,
//! version, size, the budget, a generation counter that is also a futex) and
//! a fixed array of slots, one per member process. Every change is a
//! compare-and-swap on one slot and a bump of the generation, so members never
//! lock each other and a member killed at any point leaves a slot that the
//! others reclaim (by pid and start time, never by trust).
//!
//! Used by the library (`tree.rs`) and read by `throttle info`.

use std::ffi::CString;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::*};

const MAGIC: u64 = u64::from_le_bytes(*b"THRTLDG1");
const VERSION: u32 = 5;

/// The shortest time between two wakes of every sleeping member
/// ([`Ledger::tell_due`]).
pub const TELL_EVERY_MS: u32 = 50;
/// Room for a tree of 2,000 processes (a node of 256 cores running a
/// thousand workers, their launchers and helpers): a 64 KiB file, of which
/// a tree reads only the slots up to its highest taken (`Header::high`).
pub const SLOTS: usize = 2048;
const HEADER_BYTES: usize = 64;
const SLOT_BYTES: usize = 32;
pub const SIZE: usize = HEADER_BYTES + SLOTS * SLOT_BYTES;

/// Slot states.
const FREE: u32 = 0;
/// Being taken by the process it names, which is writing the slot's other
/// fields: a process killed meanwhile leaves it so, and is found by its pid.
const RESERVING: u32 = 1;
const MEMBER: u32 = 2;
const CLAIMED: u32 = 3;
/// A launcher (`launchers.rs`): it keeps its tree, and the tree's file,
/// alive while it runs (so that what it starts later joins the same tree,
/// even after the tree's creator has ended), but holds no share and never
/// counts in the census.
const LAUNCHER: u32 = 4;
/// Claimed, but resting: it has used less than a tenth of a CPU for a
/// second or more (`Ledger::note_activity`), so it does not split the
/// budget with the others until it works again (docs/design.md, section 5).
const RESTING: u32 = 5;

/// Whether a slot in `state` belongs to a process of the tree.
fn taken(state: u32) -> bool {
    matches!(state, MEMBER | CLAIMED | LAUNCHER | RESTING)
}

/// Whether the member in a slot in `state` has claimed a share, resting or
/// not.
fn has_claimed(state: u32) -> bool {
    matches!(state, CLAIMED | RESTING)
}

/// A claimed member rests after this long below [`BUSY_PART`] of a CPU.
const REST_AFTER_MS: u32 = 1000;
/// A member rests only while rounds look at it: one began this recently,
/// by a process still there (see `Ledger::census_without`).
const REST_WATCHED_MS: u32 = 1000;
/// A resting member works again as soon as a round sees it use this part of
/// a CPU (1/10) over at least [`WAKE_AFTER_MS`].
const BUSY_PART: u64 = 10;
const WAKE_AFTER_MS: u32 = 100;

#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    size: AtomicU32,
    slots: AtomicU32,
    budget: AtomicU32,
    /// Bumped on every change; members sleep on it (a shared futex).
    generation: AtomicU32,
    /// When the sleeping members were last told of a change (`tell_due`),
    /// in monotonic ms (low 32 bits).
    told_ms: AtomicU32,
    /// The PID namespace of its members (`sys::pid_namespace`; 0: unknown):
    /// their pids mean nothing in another.
    pid_namespace: AtomicU64,
    /// One more than the highest slot ever taken: every scan stops there,
    /// so that a tree of 8 reads 8 slots, not all of them. Raised before a
    /// slot is taken, never lowered.
    high: AtomicU32,
    /// When the tree's last round of bookkeeping began (`take_round`), in
    /// monotonic ms (low 32 bits): one member per round does it.
    round_ms: AtomicU32,
    /// The members about to work, as the last round counted them: a change
    /// is told to every member (`note_pending`).
    pending: AtomicU32,
    /// The process that began the last round.
    round_pid: AtomicI32,
    /// The generation the sleeping members were last told of.
    told: AtomicU32,
    _pad: u32,
}

#[repr(C)]
struct Slot {
    /// The slot's state (low 32 bits) and its process's pid (high 32 bits),
    /// changed together by one compare-and-swap: whoever holds a slot, or is
    /// taking it, is named in it at every instant, so that a process killed
    /// at any point leaves a slot that others can judge (`reclaim`), and a
    /// slot freed and taken again meanwhile is never mistaken for the one
    /// judged.
    ident: AtomicU64,
    /// The process's start time (clock ticks after boot, /proc/PID/stat
    /// field 22): a recycled pid has another.
    start: AtomicU64,
    /// The share the process has put in force, for `throttle info`.
    applied: AtomicU32,
    /// Its parent's pid when it joined: a member that is another's parent is
    /// a launcher (a shell, `parallel`, `make`), never about to work.
    ppid: AtomicI32,
    /// Its CPU time (ms, low 32 bits) when a round last began a look at it,
    /// and when that was (monotonic ms, low 32 bits; 0: not looked at since
    /// it claimed): see `Ledger::note_activity`.
    seen_cpu_ms: AtomicU32,
    seen_ms: AtomicU32,
}

/// A slot's state and pid as one word (see `Slot::ident`).
fn ident(state: u32, pid: i32) -> u64 {
    u64::from(state) | (u64::from(pid as u32) << 32)
}

impl Slot {
    /// The slot's state and its process's pid, read together.
    fn ident(&self) -> (u32, i32) {
        let word = self.ident.load(Acquire);
        (word as u32, (word >> 32) as u32 as i32)
    }

    fn state(&self) -> u32 {
        self.ident().0
    }

    /// Moves the slot from state and pid `from` to `to`, unless either has
    /// changed meanwhile; whether it did.
    fn change(&self, from: (u32, i32), to: (u32, i32)) -> bool {
        self.ident
            .compare_exchange(ident(from.0, from.1), ident(to.0, to.1), AcqRel, Acquire)
            .is_ok()
    }
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_BYTES);
const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_BYTES);

/// A mapped ledger. Never unmapped: members keep it for their lifetime.
#[derive(Clone, Copy, Debug)]
pub struct Ledger {
    base: *mut u8,
}

// SAFETY: every field of the mapping is accessed through atomics only.
unsafe impl Send for Ledger {}
// SAFETY: as above.
unsafe impl Sync for Ledger {}

/// Who works in a tree, as one member sees it: the members holding a share,
/// and those that hold none yet but look about to claim one (young, busy
/// processes that launch nobody: `Ledger::census`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Census {
    pub claimed: u32,
    pub pending: u32,
    /// Every member, idle ones and those that launch others included; not
    /// the launcher programs (`srun`, `mpirun`: LAUNCHER slots).
    pub members: u32,
    /// The asked member's rank among the claimed; a member that has not
    /// claimed ranks as the first after them (a resting one ranks among
    /// them, every resting member counted).
    pub rank: Option<u32>,
    /// Claimed members that rest, not counted in `claimed` (unless the asked
    /// member rests itself: then every resting one counts as claimed, and
    /// this is 0): a round must look at them, to see them work again.
    pub resting: u32,
}

impl Census {
    /// Members that split the budget: the claimed, the pending, and the
    /// asked member even if it has not claimed yet.
    pub fn working(&self) -> u32 {
        self.claimed + self.pending
    }

    /// The asked member's share of `budget` (None: no member was asked).
    pub fn share(&self, budget: u32) -> Option<u32> {
        self.rank.map(|r| share(budget, self.working(), r))
    }
}

/// One member as `throttle info` shows it.
#[allow(dead_code)]
pub struct Member {
    pub pid: i32,
    /// Its start time (clock ticks after boot): with the pid, who it is.
    pub start: u64,
    pub role: Role,
    pub applied: u32,
}

/// What a member is doing, as the census sees it.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Holds a share.
    Working,
    /// Holds a share but has not used it for a while: the others split the
    /// budget without it until it works again.
    Resting,
    /// Holds none yet, but counts: young and busy (`about_to_work`).
    AboutToWork,
    /// A launcher program (`srun`, `mpirun`), or the parent of another
    /// member: never counts.
    Launcher,
    /// Holds none and does not count.
    Idle,
}

/// A member that has not claimed counts as about to work between these ages
/// (ns), if busy.
const PENDING_AGES: std::ops::Range<u64> = 20_000_000..2_000_000_000;

/// Whether a member that has not claimed yet is about to, `now` (ns after
/// boot): young (started 20 ms to 2 s ago, `start` in clock ticks after boot)
/// and busy (a tenth of its age or more on a CPU). A tree's workers start
/// together and claim one after another, each at its first CPU count (a
/// Python process after importing numpy, some tens of ms in): counting the
/// young, busy ones lets the first claimers take the share they will keep,
/// instead of sizing their pools from the whole budget (OpenBLAS keeps
/// threads it has started). A `tee`, a `sleep`, a shell waiting for its
/// children is not busy; a short command (`ls`) is gone before it counts;
/// a busy process that never claims stops counting at 2 s, and the shares
/// grow back then.
pub fn about_to_work(now: u64, pid: i32, start: u64) -> bool {
    let age = now.saturating_sub(crate::sys::ticks_to_ns(start));
    PENDING_AGES.contains(&age)
        && crate::sys::process_cpu_ns(pid).is_some_and(|cpu| cpu.saturating_mul(10) >= age)
}

/// The share of claimed member number `rank` (0-based, in slot order) when
/// `claimed` members split `budget`: `budget / claimed`, the remainder to
/// the first ones, and never less than 1 (every process keeps its main
/// thread, so a tree of P workers runs at most `max(budget, P)` threads).
pub fn share(budget: u32, claimed: u32, rank: u32) -> u32 {
    if claimed == 0 {
        return budget.max(1);
    }
    let base = budget / claimed;
    let extra = u32::from(rank < budget % claimed);
    (base + extra).max(1)
}

/// What decides whether a member needs a steward, the thread that puts its
/// share in force in its pools as the tree changes (docs/design.md, section
/// 5): see [`needs_steward`].
#[derive(Clone, Copy, Debug)]
pub struct Situation {
    pub budget: u32,
    /// The member's own cap: the most its share can ever be.
    pub own: usize,
    /// Its share now.
    pub cap: usize,
    /// The largest share it had before this one: its pools may be sized
    /// from that.
    pub peak: usize,
    /// Working members (claimed and about to), and every member.
    pub working: u32,
    pub members: u32,
    /// Whether a runtime has started its pool in the member (threads that
    /// stay).
    pub pools_started: bool,
    /// Whether a budget file is watched.
    pub budget_file: bool,
}

/// Whether a member needs a steward: when its share can change in a way it
/// must put in force in its pools, and only then:
///
/// - its pools may be above its share (sized from a higher one: it claimed
///   alone, then others joined);
/// - in a tree with other working members, its share is above 1 (more
///   joining would shrink it) or one working member fewer would raise it;
/// - the only working member but not the only member (a launcher beside it
///   may start more), it holds more than 1 and a runtime has started its
///   pool: workers that start later would shrink it. A process with no
///   runtime pool alone gets none, so the steward never makes a
///   single-threaded program multi-threaded (`unshare`, Python's fork
///   warning), nor stays in a program that waits for its own raw threads to
///   be gone; it decides again when it creates a thread;
/// - a budget file is watched.
///
/// So a member at 1 in a tree with more working members than budget gets
/// none: the tree runs max(B, P) threads, one per process. It follows the
/// tree at its next hooked call instead.
pub fn needs_steward(s: &Situation) -> bool {
    let one_fewer = s
        .own
        .min(share(s.budget, s.working.saturating_sub(1), 0) as usize);
    let pools_above = s.peak > s.cap;
    let contended = s.working > 1 && (s.cap > 1 || one_fewer > s.cap);
    // Alone among other members (a launcher that may start more), never the
    // sole member of its ledger (`THROTTLE_THREADS=4 ./app`), and with a
    // runtime's pool started.
    let alone_threaded = s.cap > 1 && s.pools_started && s.members > 1;
    pools_above || (s.budget > 1 && (contended || alone_threaded)) || s.budget_file
}

/// Why a ledger could not be created or opened: the text for the message,
/// and the system error (0 when there is none), which tells a full
/// filesystem, or a sandbox that refuses the call, apart from the rest.
#[derive(Debug)]
pub struct LedgerError {
    pub why: String,
    pub errno: i32,
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl LedgerError {
    fn now(what: &str) -> LedgerError {
        let e = std::io::Error::last_os_error();
        LedgerError {
            why: format!("{what} ({e})"),
            errno: e.raw_os_error().unwrap_or(0),
        }
    }

    /// A fault of the file found, not of the system call (errno 0).
    fn invalid(why: String) -> LedgerError {
        LedgerError { why, errno: 0 }
    }

    /// The filesystem is full or the user's quota spent.
    pub fn no_space(&self) -> bool {
        matches!(self.errno, libc::ENOSPC | libc::EDQUOT)
    }

    /// This process may not open or map the file, whatever the file is: a
    /// sandbox's system-call filter (man-db runs groff and its helpers
    /// under one that answers `ENOSYS` to every open for writing), a
    /// read-only mount, or another user's file (an `su` that kept the
    /// environment). Nothing a user set wrong, so nothing to warn about.
    pub fn refused(&self) -> bool {
        crate::sys::refused_by_filter(self.errno)
            || matches!(self.errno, libc::EACCES | libc::EROFS)
    }
}

/// Writes `len` zero bytes at the start of the file `fd`.
fn write_zeros(fd: libc::c_int, len: usize) -> std::io::Result<()> {
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut done = 0;
    while done < len {
        let n = ZEROS.len().min(len - done);
        // SAFETY: `ZEROS` holds at least `n` bytes; `fd` is open for writing.
        let wrote = unsafe { libc::pwrite(fd, ZEROS.as_ptr().cast(), n, done as libc::off_t) };
        if wrote < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else if wrote == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        } else {
            done += wrote as usize;
        }
    }
    Ok(())
}

impl Ledger {
    fn header(&self) -> &Header {
        // SAFETY: `base` maps SIZE bytes, validated or written by us; the
        // header is at offset 0 and only accessed through atomics.
        unsafe { &*self.base.cast::<Header>() }
    }

    fn slot(&self, i: usize) -> &Slot {
        let i = i.min(SLOTS - 1);
        // SAFETY: slot `i` lies within the mapping (i < SLOTS).
        unsafe { &*self.base.add(HEADER_BYTES + i * SLOT_BYTES).cast::<Slot>() }
    }

    fn map(fd: libc::c_int) -> Result<Ledger, LedgerError> {
        // SAFETY: mapping SIZE bytes of a file of at least that size, shared.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(LedgerError::now("cannot be mapped"));
        }
        Ok(Ledger { base: base.cast() })
    }

    /// Creates a new ledger at `path` with `budget`, for the processes of
    /// PID namespace `pid_namespace`, `0600`, never following or reusing an
    /// existing file. On failure the file is removed again.
    pub fn create(path: &str, budget: u32, pid_namespace: u64) -> Result<Ledger, LedgerError> {
        let cpath = CString::new(path)
            .map_err(|_| LedgerError::invalid("has a NUL in its path".to_string()))?;
        // SAFETY: a NUL-terminated path; the descriptor is closed below.
        let fd = unsafe {
            libc::open(
                cpath.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd < 0 {
            return Err(LedgerError::now("cannot be created"));
        }
        // Every block written now, not a sparse file from `ftruncate`: on a
        // full filesystem (a small /dev/shm in a container, filled by other
        // programs) the first touch of a hole through the mapping would kill
        // the process with SIGBUS. A write fails cleanly instead.
        let mapped = match write_zeros(fd, SIZE) {
            Ok(()) => Ledger::map(fd),
            Err(e) => Err(LedgerError {
                why: format!("cannot be sized ({e})"),
                errno: e.raw_os_error().unwrap_or(0),
            }),
        };
        // SAFETY: closing our descriptor; the mapping stays valid.
        unsafe { libc::close(fd) };
        let ledger = match mapped {
            Ok(ledger) => ledger,
            Err(e) => {
                // SAFETY: a NUL-terminated path, of the file made above.
                unsafe { libc::unlink(cpath.as_ptr()) };
                return Err(e);
            }
        };
        let h = ledger.header();
        h.version.store(VERSION, Relaxed);
        h.size.store(SIZE as u32, Relaxed);
        h.slots.store(SLOTS as u32, Relaxed);
        h.budget.store(budget.max(1), Relaxed);
        h.pid_namespace.store(pid_namespace, Relaxed);
        h.magic.store(MAGIC, Release);
        Ok(ledger)
    }

    /// Whether this ledger's members live in another PID namespace than
    /// `pid_namespace`, so that their pids name other processes (or none)
    /// here: such a ledger must be neither joined nor judged. Unknown on
    /// either side: not another.
    pub fn foreign(&self, pid_namespace: u64) -> bool {
        let theirs = self.header().pid_namespace.load(Relaxed);
        theirs != 0 && pid_namespace != 0 && theirs != pid_namespace
    }

    /// Unmaps a ledger this process does not keep (`foreign`). Every copy of
    /// it is invalid afterwards.
    pub fn close(self) {
        // SAFETY: the mapping of SIZE bytes made by `map`; the caller keeps
        // no copy.
        unsafe { libc::munmap(self.base.cast(), SIZE) };
    }

    /// Opens and validates an existing ledger: a regular file (not a
    /// symlink), owned by this user, not accessible to others, of the exact
    /// size, with our magic, version and bounds.
    pub fn open(path: &str) -> Result<Ledger, LedgerError> {
        let cpath = CString::new(path)
            .map_err(|_| LedgerError::invalid("has a NUL in its path".to_string()))?;
        // SAFETY: a NUL-terminated path; the descriptor is closed below.
        let fd = unsafe {
            libc::open(
                cpath.as_ptr(),
                libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return Err(LedgerError::now("cannot be opened"));
        }
        let checked = Ledger::check_file(fd).and_then(|()| Ledger::map(fd));
        // SAFETY: closing our descriptor; the mapping stays valid.
        unsafe { libc::close(fd) };
        let ledger = checked?;
        if !ledger.intact() {
            // SAFETY: unmapping what we mapped above; nothing else holds it.
            unsafe { libc::munmap(ledger.base.cast(), SIZE) };
            return Err(LedgerError::invalid(
                "is not a valid ledger (bad magic, version, size or budget)".to_string(),
            ));
        }
        Ok(ledger)
    }

    fn check_file(fd: libc::c_int) -> Result<(), LedgerError> {
        // SAFETY: an all-zero stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open; `st` is writable.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(LedgerError::now("cannot be examined"));
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(LedgerError::invalid("is not a regular file".to_string()));
        }
        // SAFETY: geteuid has no preconditions.
        if st.st_uid != unsafe { libc::geteuid() } {
            return Err(LedgerError::invalid(format!(
                "is owned by uid {}, not this user",
                st.st_uid
            )));
        }
        if st.st_mode & 0o077 != 0 {
            return Err(LedgerError::invalid(format!(
                "is accessible to others (mode {:o})",
                st.st_mode & 0o777
            )));
        }
        if st.st_size as usize != SIZE {
            return Err(LedgerError::invalid(format!(
                "is {} bytes, not {SIZE}",
                st.st_size
            )));
        }
        Ok(())
    }

    /// Whether the header still reads as a ledger of ours (magic, version,
    /// size, slots, a budget in range): any member of the same user can
    /// write anything into the mapping, at any moment. Every other field is
    /// only ever used within bounds, whatever it holds.
    pub fn intact(&self) -> bool {
        let h = self.header();
        h.magic.load(Acquire) == MAGIC
            && h.version.load(Relaxed) == VERSION
            && h.size.load(Relaxed) as usize == SIZE
            && h.slots.load(Relaxed) as usize == SLOTS
            && (1..=crate::config::MAX_CAP as u32).contains(&h.budget.load(Relaxed))
    }

    /// The mapping's first byte, for the fuzz tests that scribble on it.
    #[cfg(test)]
    pub fn raw(&self) -> *mut u8 {
        self.base
    }

    pub fn budget(&self) -> u32 {
        self.header().budget.load(Acquire).max(1)
    }

    pub fn set_budget(&self, budget: u32) {
        if self.header().budget.swap(budget.max(1), AcqRel) != budget.max(1) {
            self.changed();
        }
    }

    /// How many slots a scan reads: up to the highest ever taken, at most
    /// all of them (a member may write anything here).
    fn high(&self) -> usize {
        (self.header().high.load(Acquire) as usize).min(SLOTS)
    }

    /// Whether the caller is the member that does this round of the tree's
    /// bookkeeping (looking for dead members, counting those about to work):
    /// the first to ask once `every_ms` have passed since the last round
    /// began. `now_ms` is monotonic, the same clock in every process.
    pub fn take_round(&self, now_ms: u64, every_ms: u32) -> bool {
        let h = &self.header().round_ms;
        let last = h.load(Acquire);
        let now = now_ms as u32;
        let taken = now.wrapping_sub(last) >= every_ms
            && h.compare_exchange(last, now, AcqRel, Acquire).is_ok();
        if taken {
            self.header().round_pid.store(crate::sys::getpid(), Release);
        }
        taken
    }

    /// Whether a round began less than `within_ms` before `now_ms`, by a
    /// process that still exists (it goes on with the rounds; a member
    /// killed with the dead it would have found does not).
    pub fn round_recent(&self, now_ms: u64, within_ms: u32) -> bool {
        (now_ms as u32).wrapping_sub(self.round_stamp()) < within_ms
            && !crate::sys::no_such_process(self.header().round_pid.load(Acquire))
    }

    /// When the last round began (see `take_round`).
    pub fn round_stamp(&self) -> u32 {
        self.header().round_ms.load(Acquire)
    }

    /// Notes the count of members about to work that a round found; if it
    /// changed, every member is told (their shares depend on it: `tell_due`).
    pub fn note_pending(&self, pending: u32) {
        if self.header().pending.swap(pending, AcqRel) != pending {
            self.changed();
        }
    }

    pub fn generation(&self) -> &AtomicU32 {
        &self.header().generation
    }

    /// Bumps the generation and wakes two members sleeping on it, which tell
    /// the others (`tell_due`): a claim costs its process two wakes, not one
    /// per member of the tree. Two, since one may be the changer's own
    /// steward, leaving with its process (`leave`).
    fn changed(&self) {
        let g = &self.header().generation;
        g.fetch_add(1, AcqRel);
        crate::sys::futex_wake_shared(g, 2);
    }

    /// Wakes every member sleeping on the generation if it changed since
    /// they were last told, and they were told at least [`TELL_EVERY_MS`]
    /// ago: in a burst of changes (a tree of N members starting, each
    /// claim changing every share) each member wakes once a window, not N
    /// times. Returns the ms left before a change not yet told can be
    /// (0: none waiting, or told now): a member about to sleep wakes by
    /// then, so that a change is told within the window.
    pub fn tell_due(&self, now_ms: u64) -> u32 {
        let h = self.header();
        let generation = h.generation.load(Acquire);
        if h.told.load(Acquire) == generation {
            return 0;
        }
        let now = now_ms as u32;
        let last = h.told_ms.load(Acquire);
        let since = now.wrapping_sub(last);
        if since < TELL_EVERY_MS {
            return TELL_EVERY_MS - since;
        }
        if h.told_ms
            .compare_exchange(last, now, AcqRel, Acquire)
            .is_ok()
        {
            h.told.store(generation, Release);
            crate::sys::futex_wake_all_shared(&h.generation);
        }
        0
    }

    /// The slot process `pid`, started at `start`, holds already (it has
    /// `exec`ed since it joined).
    pub fn slot_of(&self, pid: i32, start: u64) -> Option<usize> {
        (0..self.high()).find(|&i| {
            let s = self.slot(i);
            let (state, holder) = s.ident();
            taken(state) && holder == pid && s.start.load(Acquire) == start
        })
    }

    /// Takes a slot for process `pid` (child of `ppid`) started at `start`,
    /// as a member: the one it already has (after an `exec`, the same
    /// process joins again; a launcher that `exec`ed a program is a member
    /// now), else a free one.
    pub fn join(&self, pid: i32, ppid: i32, start: u64) -> Option<usize> {
        if let Some(i) = self.slot_of(pid, start) {
            // Not a share yet: nothing to tell the tree.
            self.switch(i, LAUNCHER, MEMBER);
            return Some(i);
        }
        self.take(pid, ppid, start, MEMBER)
    }

    /// Takes a slot for launcher `pid` (child of `ppid`) started at `start`:
    /// the one it already has (a member that `exec`ed a launcher gives its
    /// share back), else a free one.
    pub fn join_launcher(&self, pid: i32, ppid: i32, start: u64) -> Option<usize> {
        if let Some(i) = self.slot_of(pid, start) {
            if self.switch(i, CLAIMED, LAUNCHER) {
                self.changed();
            } else if !self.switch(i, RESTING, LAUNCHER) {
                self.switch(i, MEMBER, LAUNCHER);
            }
            return Some(i);
        }
        self.take(pid, ppid, start, LAUNCHER)
    }

    /// Takes a free slot, in `state`.
    fn take(&self, pid: i32, ppid: i32, start: u64, state: u32) -> Option<usize> {
        for i in 0..SLOTS {
            let s = self.slot(i);
            let (was, holder) = s.ident();
            if was != FREE {
                continue;
            }
            // Scans stop at `high`: raised before the slot can be seen.
            self.header().high.fetch_max(i as u32 + 1, AcqRel);
            if s.change((FREE, holder), (RESERVING, pid)) {
                s.ppid.store(ppid, Release);
                s.start.store(start, Release);
                s.applied.store(0, Release);
                s.seen_ms.store(0, Release);
                // A CAS, not a store: were this process judged gone meanwhile
                // (it cannot be, alive), the slot would be another's now.
                if !s.change((RESERVING, pid), (state, pid)) {
                    continue;
                }
                // Not woken for a member that has not claimed (nor for a
                // launcher): if it turns out busy, the stewards' census
                // counts it on their next round; a short command (`ls` from
                // a script) never moves anybody's pools.
                return Some(i);
            }
        }
        None
    }

    /// The member in `slot` starts working: it now holds a share.
    pub fn claim(&self, slot: usize) {
        // Looked at afresh: a second at least before it can rest.
        self.slot(slot).seen_ms.store(0, Release);
        if self.switch(slot, MEMBER, CLAIMED) {
            self.changed();
        }
    }

    /// Whether the member in `slot` rests (see [`Ledger::note_activity`]).
    pub fn resting(&self, slot: usize) -> bool {
        self.slot(slot).state() == RESTING
    }

    /// The member in `slot`, which has claimed, works now (one of its hooks
    /// ran: it starts a thread, asks the CPU count): if it was resting, it
    /// counts again at once. One load when it was not.
    pub fn wake(&self, slot: usize) {
        if self.slot(slot).state() == RESTING && self.switch(slot, RESTING, CLAIMED) {
            self.slot(slot).seen_ms.store(0, Release);
            self.changed();
        }
    }

    /// The member in `slot` holds no share any more (it has `exec`ed a new
    /// program, which claims on its own).
    pub fn unclaim(&self, slot: usize) {
        if self.switch(slot, CLAIMED, MEMBER) {
            self.changed();
        } else {
            // Resting, it counted for nobody: nothing to tell.
            self.switch(slot, RESTING, MEMBER);
        }
    }

    /// Puts claimed members to rest, and back to work, by the CPU time they
    /// used since a round last looked (`cpu_ms(pid)`, their CPU time in ms;
    /// `now_ms` monotonic): a claimed member that used less than a tenth of
    /// a CPU over [`REST_AFTER_MS`] or more rests (the others split the
    /// budget without it: a parent waiting for its workers, a notebook
    /// server beside its kernel, a browser's idle helpers); a resting one
    /// that used a tenth or more over the last [`WAKE_AFTER_MS`] or more
    /// works again. Every change is told to the tree. Called by the round
    /// (one member per tree every 200 ms), so a member that wakes by
    /// computing alone (its pools already started: no hook runs) counts
    /// again within a round; one that wakes through a hook, at once
    /// ([`Ledger::wake`]).
    pub fn note_activity(&self, now_ms: u64, cpu_ms: impl Fn(i32) -> Option<u64>) {
        let now = (now_ms as u32).max(1);
        let mut changed = false;
        for i in 0..self.high() {
            let s = self.slot(i);
            let (state, pid) = s.ident();
            if !has_claimed(state) || pid <= 0 {
                continue;
            }
            let Some(cpu) = cpu_ms(pid) else {
                continue;
            };
            let cpu = cpu as u32;
            let seen = s.seen_ms.load(Acquire);
            let restart = |s: &Slot| {
                s.seen_cpu_ms.store(cpu, Release);
                s.seen_ms.store(now, Release);
            };
            if seen == 0 {
                restart(s);
                continue;
            }
            let elapsed = now.wrapping_sub(seen);
            let used = u64::from(cpu.wrapping_sub(s.seen_cpu_ms.load(Acquire)));
            let busy = used * BUSY_PART >= u64::from(elapsed);
            match state {
                RESTING if elapsed >= WAKE_AFTER_MS && busy => {
                    changed |= s.change((RESTING, pid), (CLAIMED, pid));
                    restart(s);
                }
                RESTING if elapsed >= REST_AFTER_MS => restart(s),
                CLAIMED if elapsed >= REST_AFTER_MS => {
                    if !busy {
                        changed |= s.change((CLAIMED, pid), (RESTING, pid));
                    }
                    restart(s);
                }
                _ => {}
            }
        }
        if changed {
            self.changed();
        }
    }

    /// Moves the process in `slot` from state `from` to `to`; whether it did
    /// (a slot in any other state is left alone).
    fn switch(&self, slot: usize, from: u32, to: u32) -> bool {
        let s = self.slot(slot);
        loop {
            let (state, pid) = s.ident();
            if state != from {
                return false;
            }
            if s.change((from, pid), (to, pid)) {
                return true;
            }
        }
    }

    pub fn leave(&self, slot: usize, pid: i32) {
        let s = self.slot(slot);
        loop {
            let (state, holder) = s.ident();
            if holder != pid || !taken(state) {
                return;
            }
            if s.change((state, pid), (FREE, 0)) {
                if state == CLAIMED {
                    self.changed();
                }
                return;
            }
        }
    }

    pub fn record_applied(&self, slot: usize, share: u32) {
        self.slot(slot).applied.store(share, Release);
    }

    /// Who works in the tree as `asked` sees it, the asked member counted as
    /// working whether it has claimed or not. A member that has not claimed
    /// counts as pending when `about_to_work(pid, start)` says so and it is
    /// no member's parent: launchers wait for their children, they do not
    /// compute beside them.
    pub fn census(&self, asked: Option<usize>, about_to_work: impl Fn(i32, u64) -> bool) -> Census {
        self.census_without(asked, None, about_to_work)
    }

    /// [`Ledger::census`] with the member in slot `without` not counted at
    /// all (see [`Ledger::working_ancestor`]).
    pub fn census_without(
        &self,
        asked: Option<usize>,
        without: Option<usize>,
        about_to_work: impl Fn(i32, u64) -> bool,
    ) -> Census {
        let mut c = Census {
            claimed: 0,
            pending: 0,
            members: 0,
            rank: None,
            resting: 0,
        };
        // A member that rests is left out of the split of those that work;
        // asked its own share, it counts every resting member as working,
        // itself included, so that a share never grows while it rests (else
        // every member of an idle tree, resting, would raise its pools to
        // the whole budget, and run them all at once when they work again).
        let asked_rests = asked.is_some_and(|i| self.slot(i).state() == RESTING);
        // Rests only while rounds look at it: they are what sees it compute
        // again. Where none runs any more (the members that ran them have
        // ended), it counts as working, rather than rest for ever beside
        // pools sized without it. Asked once, at the first resting member.
        let mut watched = None;
        for i in 0..self.high() {
            if without == Some(i) {
                continue;
            }
            let s = self.slot(i);
            let (mut state, pid) = s.ident();
            if state == RESTING
                && !asked_rests
                && !*watched.get_or_insert_with(|| {
                    self.round_recent(crate::sys::monotonic_ms(), REST_WATCHED_MS)
                })
            {
                state = CLAIMED;
            }
            c.members += u32::from(matches!(state, MEMBER | CLAIMED | RESTING));
            match state {
                CLAIMED | RESTING if state == CLAIMED || asked_rests => {
                    if asked == Some(i) {
                        c.rank = Some(c.claimed);
                    }
                    c.claimed += 1;
                }
                RESTING => c.resting += 1,
                MEMBER if asked == Some(i) => c.pending += 1,
                // The judge first: it looks at the member's age before
                // anything else, and most members are not young.
                MEMBER
                    if pid > 0
                        && about_to_work(pid, s.start.load(Acquire))
                        && !self.is_parent(pid) =>
                {
                    c.pending += 1;
                }
                _ => {}
            }
        }
        if let Some(i) = asked {
            if c.rank.is_none() && self.slot(i).state() == MEMBER {
                c.rank = Some(c.claimed);
            }
        }
        c
    }

    /// The census with unclaimed members judged by [`about_to_work`] now.
    pub fn census_now(&self, asked: Option<usize>) -> Census {
        let now = crate::sys::boot_ns();
        self.census(asked, |pid, start| about_to_work(now, pid, start))
    }

    /// The nearest ancestor of the member in `slot` that has claimed a share,
    /// walking the members' and launchers' parents (at most 64 steps); none
    /// when a parent is not in the tree. A helper that a working process
    /// starts to ask the CPU count for it (R's `detectCores()` greps
    /// `/proc/cpuinfo` in a child shell) answers with that ancestor's share.
    pub fn working_ancestor(&self, slot: usize) -> Option<usize> {
        let mut ppid = self.slot(slot).ppid.load(Acquire);
        for _ in 0..64 {
            if ppid <= 0 {
                return None;
            }
            let parent = (0..self.high()).find(|&i| {
                let (state, pid) = self.slot(i).ident();
                taken(state) && pid == ppid && i != slot
            })?;
            if has_claimed(self.slot(parent).state()) {
                return Some(parent);
            }
            ppid = self.slot(parent).ppid.load(Acquire);
        }
        None
    }

    /// Whether `pid` is the parent of a member or of a launcher.
    fn is_parent(&self, pid: i32) -> bool {
        (0..self.high()).any(|i| {
            let s = self.slot(i);
            taken(s.state()) && s.ppid.load(Acquire) == pid
        })
    }

    /// The claimed rank of `slot`, which spreads members over the CPUs.
    pub fn rank_of(&self, slot: usize) -> Option<usize> {
        (0..slot)
            .try_fold(0, |n, i| {
                Some(n + usize::from(self.slot(i).state() == CLAIMED))
            })
            .filter(|_| self.slot(slot).state() == CLAIMED)
    }

    /// Frees the slots of members that no longer exist, as
    /// `ended(pid, start)` judges them (`sys::ended`: by pid and start time),
    /// and those of processes killed while taking one (`RESERVING`, their
    /// pid gone). Returns how many were freed.
    pub fn reclaim(&self, ended: impl Fn(i32, u64) -> bool) -> usize {
        self.reclaim_with(ended, crate::sys::no_such_process)
    }

    /// `reclaim`, with the judge of a slot being taken: `gone(pid)`, whether
    /// its taker no longer exists (its start time is not written yet).
    fn reclaim_with(&self, ended: impl Fn(i32, u64) -> bool, gone: impl Fn(i32) -> bool) -> usize {
        let mut freed = 0;
        let mut shares_changed = false;
        for i in 0..self.high() {
            let s = self.slot(i);
            let (state, pid) = s.ident();
            let dead = match state {
                _ if pid <= 0 => false,
                RESERVING => gone(pid),
                _ if taken(state) => ended(pid, s.start.load(Acquire)),
                _ => false,
            };
            // Meanwhile another process may have freed the slot and a new
            // one taken it: then its pid differs, and it is left alone.
            if dead && s.change((state, pid), (FREE, 0)) {
                freed += 1;
                shares_changed |= state == CLAIMED;
            }
        }
        if shares_changed {
            self.changed();
        }
        freed
    }

    /// Every member, for `throttle info`.
    #[allow(dead_code)]
    pub fn members(&self) -> Vec<Member> {
        let now = crate::sys::boot_ns();
        (0..self.high())
            .filter_map(|i| {
                let s = self.slot(i);
                let (state, pid) = s.ident();
                let role = match state {
                    CLAIMED => Role::Working,
                    RESTING => Role::Resting,
                    LAUNCHER => Role::Launcher,
                    MEMBER if self.is_parent(pid) => Role::Launcher,
                    MEMBER if about_to_work(now, pid, s.start.load(Acquire)) => Role::AboutToWork,
                    MEMBER => Role::Idle,
                    _ => return None,
                };
                Some(Member {
                    pid,
                    start: s.start.load(Acquire),
                    role,
                    applied: s.applied.load(Acquire),
                })
            })
            .collect()
    }

    /// Whether any process is in the tree (or joining it): launchers count.
    pub fn any_member(&self) -> bool {
        (0..self.high()).any(|i| {
            let state = self.slot(i).state();
            taken(state) || state == RESERVING
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_the_budget_and_never_drop_below_one() {
        assert_eq!(share(2, 6, 0), 1);
        assert_eq!(share(12, 6, 5), 2);
        assert_eq!(
            (0..3).map(|r| share(8, 3, r)).collect::<Vec<_>>(),
            [3, 3, 2]
        );
        assert_eq!(share(4, 0, 0), 4);
        for budget in 1..40 {
            for claimed in 1..20 {
                let total: u32 = (0..claimed).map(|r| share(budget, claimed, r)).sum();
                assert_eq!(total, budget.max(claimed), "{budget} over {claimed}");
            }
        }
    }

    fn temp_path(name: &str) -> String {
        let dir = std::env::temp_dir();
        format!(
            "{}/throttle-ledger-test-{name}-{}",
            dir.display(),
            std::process::id()
        )
    }

    /// A ledger file of a test's own, removed when the test ends, also when
    /// it fails.
    struct TestFile(String);

    impl Drop for TestFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A new ledger at a test's own path, `name`.
    fn test_ledger(name: &str, budget: u32, namespace: u64) -> (Ledger, TestFile) {
        let file = TestFile(temp_path(name));
        let _ = std::fs::remove_file(&file.0);
        (Ledger::create(&file.0, budget, namespace).unwrap(), file)
    }

    /// Scans read up to the highest slot ever taken; a slot freed below it
    /// is taken again first, and the mark never goes down.
    #[test]
    fn scans_stop_at_the_highest_slot_ever_taken() {
        let (ledger, _file) = test_ledger("high", 8, 0);
        assert_eq!(ledger.high(), 0);
        let slots: Vec<_> = (0..3)
            .map(|i| ledger.join(100 + i, 1, 9).unwrap())
            .collect();
        assert_eq!((slots.clone(), ledger.high()), (vec![0, 1, 2], 3));
        ledger.leave(1, 101);
        assert_eq!(ledger.high(), 3, "never lowered");
        assert_eq!(
            ledger.join(200, 1, 9),
            Some(1),
            "the freed slot, below the mark"
        );
        assert_eq!(ledger.census(None, |_, _| false).members, 3);
        // A header scribbled on (any member may write it) bounds nothing
        // outside the table.
        ledger.header().high.store(u32::MAX, Release);
        assert_eq!(ledger.high(), SLOTS);
        assert_eq!(ledger.census(None, |_, _| false).members, 3);
    }

    /// Changes are told to the sleeping members at once when they were last
    /// told a window ago or more, and otherwise at the window's end: a burst
    /// of claims wakes every member once a window. A change itself
    /// (`changed`) wakes two sleepers and tells the rest nothing.
    #[test]
    fn changes_are_told_once_a_window() {
        let (ledger, _file) = test_ledger("tell", 8, 0);
        let told = |l: &Ledger| l.header().told.load(Acquire);
        assert_eq!(ledger.tell_due(100_000), 0, "nothing to tell");
        let a = ledger.join(100, 1, 9).unwrap();
        ledger.claim(a);
        let g1 = ledger.generation().load(Acquire);
        assert_ne!(told(&ledger), g1, "a claim alone tells nobody");
        assert_eq!(ledger.tell_due(100_000), 0);
        assert_eq!(told(&ledger), g1, "told: the last telling was long ago");
        let b = ledger.join(101, 1, 9).unwrap();
        ledger.claim(b);
        let g2 = ledger.generation().load(Acquire);
        assert_eq!(
            ledger.tell_due(100_010),
            TELL_EVERY_MS - 10,
            "within the window"
        );
        assert_eq!(told(&ledger), g1);
        assert_eq!(ledger.tell_due(100_000 + u64::from(TELL_EVERY_MS)), 0);
        assert_eq!(told(&ledger), g2, "told at the window's end");
        assert_eq!(
            ledger.tell_due(100_000 + u64::from(TELL_EVERY_MS) + 1),
            0,
            "nothing left"
        );
    }

    /// One member per round does the tree's bookkeeping, whatever the
    /// number asking; a round's count of members about to work wakes the
    /// tree only when it changed.
    #[test]
    fn one_member_per_round_and_a_change_told_once() {
        let (ledger, _file) = test_ledger("round", 8, 0);
        let takers = (0..100).filter(|_| ledger.take_round(10_000, 200)).count();
        assert_eq!(takers, 1);
        assert!(!ledger.take_round(10_199, 200), "too early");
        assert!(ledger.take_round(10_200, 200));
        // The clock's low 32 bits wrap: still one round per period.
        assert!(ledger.take_round(u64::from(u32::MAX) + 300, 200));
        let generation = || ledger.generation().load(Acquire);
        let before = generation();
        ledger.note_pending(0);
        assert_eq!(generation(), before, "no change, nobody woken");
        ledger.note_pending(2);
        assert_eq!(generation(), before + 1);
        ledger.note_pending(2);
        assert_eq!(generation(), before + 1);
    }

    /// The share of `slot` when no unclaimed member looks about to work.
    fn share_alone(ledger: &Ledger, slot: usize) -> Option<u32> {
        ledger
            .census(Some(slot), |_, _| false)
            .share(ledger.budget())
    }

    #[test]
    fn members_join_claim_leave_and_are_reclaimed() {
        let (ledger, file) = test_ledger("life", 4, 0);
        let path = file.0.as_str();
        assert!(Ledger::create(path, 4, 0).is_err(), "O_EXCL");
        let other = Ledger::open(path).unwrap();
        let a = ledger.join(100, 1, 1).unwrap();
        let b = other.join(200, 1, 2).unwrap();
        assert_eq!(
            ledger.join(100, 1, 1),
            Some(a),
            "the same process joins its own slot again"
        );
        assert_eq!(
            ledger.census(None, |_, _| false).claimed,
            0,
            "members hold nothing until they claim"
        );
        assert_eq!(share_alone(&ledger, a), Some(4), "what a would get alone");
        ledger.claim(a);
        assert_eq!(share_alone(&ledger, a), Some(4));
        other.claim(b);
        assert_eq!(
            (share_alone(&ledger, a), share_alone(&ledger, b)),
            (Some(2), Some(2))
        );
        assert_eq!(ledger.rank_of(b), Some(1));
        // pid 200 now has another start time: it died and the pid was reused.
        assert_eq!(ledger.reclaim(|pid, start| pid == 200 || start != 1), 1);
        assert_eq!(share_alone(&ledger, a), Some(4));
        ledger.leave(a, 100);
        assert!(!ledger.any_member());
        ledger.set_budget(1);
        assert_eq!(other.budget(), 1);
    }

    /// Two reclaimers judge the same dead member: by the time the second
    /// takes its slot, the first has freed it and a new process has joined
    /// it. The second must leave the new member alone.
    #[test]
    fn a_slot_that_changed_hands_during_a_reclaim_is_left_alone() {
        let (ledger, file) = test_ledger("aba", 4, 0);
        let path = file.0.as_str();
        let other = Ledger::open(path).unwrap();
        let slot = ledger.join(300, 1, 5).unwrap();
        let freed = ledger.reclaim(|pid, _| {
            if pid == 300 {
                assert_eq!(other.reclaim(|pid, _| pid == 300), 1);
                assert_eq!(other.join(400, 1, 7), Some(slot), "the lowest free slot");
            }
            true
        });
        assert_eq!(freed, 0, "pid 400 was freed in 300's place");
        assert_eq!(ledger.slot_of(400, 7), Some(slot));
        ledger.leave(slot, 400);
        assert!(!ledger.any_member());
    }

    /// A claimed member that uses less than a tenth of a CPU for a second
    /// rests: the others split the budget without it, its own share does not
    /// grow; it works again when a round sees it busy or a hook wakes it.
    #[test]
    fn a_claimed_member_rests_after_a_second_idle_and_works_again() {
        use std::cell::Cell;
        let (ledger, _file) = test_ledger("resting", 4, 0);
        let parent = ledger.join(10, 1, 1).unwrap();
        let child = ledger.join(11, 10, 2).unwrap();
        ledger.claim(parent);
        ledger.claim(child);
        // CPU time in ms by pid: the parent idle, the child busy.
        let parent_cpu = Cell::new(500u64);
        let child_cpu = Cell::new(500u64);
        // The child is busy all along: at every look, all the time since.
        let cpu = |pid: i32| {
            child_cpu.set(child_cpu.get() + 1_000);
            Some(if pid == 10 {
                parent_cpu.get()
            } else {
                child_cpu.get()
            })
        };
        // A round began just now, by this process: the resting are watched
        // (however slowly this test runs).
        let round_now = || assert!(ledger.take_round(crate::sys::monotonic_ms(), 0));
        let unwatched = || ledger.census(Some(child), |_, _| false);
        let census = || {
            round_now();
            unwatched()
        };
        ledger.note_activity(10_000, cpu);
        assert_eq!(census().claimed, 2, "a first look only notes the CPU time");
        ledger.note_activity(10_900, cpu);
        assert_eq!(census().claimed, 2, "900 ms is not yet a second");
        let g = ledger.generation().load(Acquire);
        parent_cpu.set(560); // 60 ms in 1,100: under a tenth
        ledger.note_activity(11_100, cpu);
        let c = census();
        assert_eq!(
            (c.claimed, c.resting, c.rank),
            (1, 1, Some(0)),
            "the parent rests"
        );
        assert_eq!(c.share(4), Some(4), "the child alone splits the budget");
        assert_ne!(ledger.generation().load(Acquire), g, "the tree is told");
        let p = ledger.census(Some(parent), |_, _| false);
        assert_eq!(
            (p.claimed, p.pending, p.resting, p.rank),
            (2, 0, 0, Some(0)),
            "asked, a resting member counts every resting one as working"
        );
        assert_eq!(
            p.share(4),
            Some(2),
            "its share does not grow while it rests"
        );
        assert_eq!(
            ledger.working_ancestor(child),
            Some(parent),
            "still the ancestor that works"
        );
        // No round for a while (its taker gone, say): the resting member
        // counts as working again, until rounds look at it once more.
        let stale = crate::sys::monotonic_ms().saturating_sub(5_000);
        assert!(ledger.take_round(stale, 0));
        let c = unwatched();
        assert_eq!((c.claimed, c.resting), (2, 0), "unwatched, it counts");
        assert_eq!(
            (census().claimed, census().resting),
            (1, 1),
            "watched again"
        );
        assert!(ledger
            .members()
            .iter()
            .any(|m| m.pid == 10 && m.role == Role::Resting));
        // Busy again: 30 ms in 200 is over a tenth.
        parent_cpu.set(590);
        ledger.note_activity(11_300, cpu);
        assert_eq!(census().claimed, 2, "the parent works again");
        // Idle again, then woken by one of its hooks rather than a round.
        ledger.note_activity(12_400, cpu);
        assert_eq!(census().resting, 1);
        let g = ledger.generation().load(Acquire);
        ledger.wake(parent);
        assert_eq!(
            (census().claimed, census().resting),
            (2, 0),
            "woken by a hook"
        );
        assert_ne!(ledger.generation().load(Acquire), g);
        ledger.wake(parent);
        // Woken, it is looked at afresh: a second before it can rest again.
        ledger.note_activity(13_500, cpu);
        assert_eq!(census().resting, 0);
        ledger.note_activity(14_600, cpu);
        assert_eq!(census().resting, 1);
        // Resting members unclaim and leave like the others.
        ledger.unclaim(parent);
        assert_eq!(ledger.slot(parent).state(), MEMBER);
        ledger.claim(parent);
        ledger.note_activity(14_700, cpu);
        ledger.note_activity(15_800, cpu);
        assert_eq!(ledger.slot(parent).state(), RESTING);
        ledger.leave(parent, 10);
        assert_eq!(ledger.slot(parent).state(), FREE);
        let c = census();
        assert_eq!((c.claimed, c.resting, c.members), (1, 0, 1));
    }

    /// Members that have not claimed count when they look about to work,
    /// unless they launched another member.
    #[test]
    fn the_census_counts_busy_members_but_not_launchers() {
        let (ledger, _file) = test_ledger("census", 12, 0);
        let shell = ledger.join(10, 1, 1).unwrap();
        let workers: Vec<usize> = (0..6)
            .map(|i| ledger.join(20 + i, 10, 2).unwrap())
            .collect();
        let busy = |pid: i32, _| pid != 25;
        ledger.claim(workers[0]);
        let c = ledger.census(Some(workers[0]), busy);
        assert_eq!(
            (c.claimed, c.pending, c.rank),
            (1, 4, Some(0)),
            "the shell launched them (never pending), pid 25 is idle"
        );
        assert_eq!(c.share(12), Some(3), "12 over 5");
        let c = ledger.census(Some(workers[5]), busy);
        assert_eq!(
            (c.claimed, c.pending, c.rank),
            (1, 5, Some(1)),
            "the asked member counts, idle or not, after the claimed"
        );
        for &w in &workers[1..] {
            ledger.claim(w);
        }
        let c = ledger.census(Some(workers[3]), |_, _| true);
        assert_eq!((c.claimed, c.pending, c.rank), (6, 0, Some(3)));
        assert_eq!(c.share(2), Some(1));
        assert_eq!(ledger.census(None, |_, _| true).share(2), None);
        ledger.leave(shell, 10);
        let c = ledger.census(None, |_, _| true);
        assert_eq!((c.claimed, c.pending), (6, 0));
    }

    /// A process killed while taking a slot leaves it `RESERVING`, under its
    /// own pid: the slot is freed once that pid is gone, never while the
    /// process lives (it is writing the slot).
    #[test]
    fn a_slot_left_half_taken_by_a_killed_process_is_freed() {
        let (ledger, _file) = test_ledger("reserving", 4, 0);
        let me = std::process::id() as i32;
        // pid_max is at most 2^22: i32::MAX - 1 names no process.
        let killed = i32::MAX - 1;
        ledger
            .slot(3)
            .ident
            .store(ident(RESERVING, killed), Release);
        ledger.slot(4).ident.store(ident(RESERVING, me), Release);
        // As `take` does before the slot can be seen.
        ledger.header().high.fetch_max(5, AcqRel);
        assert!(ledger.any_member(), "a slot being taken keeps the tree");
        assert_eq!(ledger.census(None, |_, _| true).members, 0);
        assert_eq!(ledger.reclaim(|_, _| false), 1, "the killed one's only");
        assert_eq!(ledger.slot(3).ident(), (FREE, 0));
        assert_eq!(ledger.slot(4).ident(), (RESERVING, me));
        assert_eq!(ledger.join(me, 1, 9), Some(0), "free slots are taken");
        ledger.slot(4).ident.store(ident(FREE, 0), Release);
        ledger.leave(0, me);
        assert!(!ledger.any_member());
    }

    /// Six threads, each playing 3000 processes one after another, join,
    /// claim and then leave, or die (a third of them: they just stop), while
    /// two others reclaim the dead. A live member's slot is never touched by
    /// anyone else, a member that left is gone from the table, and at the
    /// end nothing is left: no slot lost, none held twice.
    #[test]
    fn members_joining_leaving_and_dying_at_once_leave_nothing_behind() {
        use std::collections::HashSet;
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        use std::sync::Mutex;
        let (ledger, _file) = test_ledger("churn", 8, 0);
        let dead = Mutex::new(HashSet::new());
        let is_dead = |pid: i32| dead.lock().unwrap().contains(&pid);
        let freed = AtomicUsize::new(0);
        let reclaim = || {
            let n = ledger.reclaim_with(|pid, _| is_dead(pid), is_dead);
            freed.fetch_add(n, AcqRel);
        };
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    while !done.load(Acquire) {
                        reclaim();
                    }
                });
            }
            let workers: Vec<_> = (0..6)
                .map(|t| {
                    let (ledger, dead, reclaim) = (&ledger, &dead, &reclaim);
                    scope.spawn(move || {
                        for n in 0..3000 {
                            let (pid, start) = (1 + t * 10_000 + n, n as u64);
                            let slot = (0..100_000)
                                .find_map(|_| {
                                    let slot = ledger.join(pid, 1, start);
                                    if slot.is_none() {
                                        reclaim();
                                    }
                                    slot
                                })
                                .expect("a free slot: the dead are reclaimed");
                            ledger.claim(slot);
                            assert_eq!(ledger.slot(slot).ident(), (CLAIMED, pid));
                            assert_eq!(ledger.slot_of(pid, start), Some(slot));
                            if n % 3 == 0 {
                                dead.lock().unwrap().insert(pid);
                            } else {
                                ledger.leave(slot, pid);
                                assert_eq!(ledger.slot_of(pid, start), None);
                            }
                        }
                    })
                })
                .collect();
            // The reclaimers stop before a worker's failure is raised.
            let ended: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
            done.store(true, Release);
            for e in ended {
                if let Err(panic) = e {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        reclaim();
        let dead = dead.lock().unwrap().len();
        assert_eq!(freed.load(Acquire), dead, "each dead member freed once");
        assert!(!ledger.any_member(), "nothing left");
    }

    /// A launcher's slot keeps the tree alive but counts for nothing; a
    /// member that `exec`s a launcher gives its share back, and a launcher
    /// that `exec`s a program is a member again, in the same slot.
    #[test]
    fn a_launcher_keeps_the_tree_alive_and_holds_no_share() {
        let (ledger, _file) = test_ledger("launcher", 4, 0);
        let srun = ledger.join_launcher(10, 1, 1).unwrap();
        assert!(ledger.any_member(), "a launcher alone keeps the tree");
        let c = ledger.census(None, |_, _| true);
        assert_eq!((c.claimed, c.pending, c.members), (0, 0, 0));
        let worker = ledger.join(20, 10, 2).unwrap();
        ledger.claim(worker);
        assert_eq!(share_alone(&ledger, worker), Some(4));
        assert_eq!(ledger.rank_of(worker), Some(0), "a launcher ranks nowhere");
        let roles: Vec<Role> = ledger.members().iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::Launcher, Role::Working]);
        // The worker `exec`s a launcher: its share goes back, and the tree
        // hears of it.
        let generation = ledger.generation().load(Acquire);
        assert_eq!(ledger.join_launcher(20, 10, 2), Some(worker));
        assert_ne!(ledger.generation().load(Acquire), generation);
        assert_eq!(ledger.census(None, |_, _| true).claimed, 0);
        // The launcher `exec`s a program: a member, which claims on its own.
        assert_eq!(ledger.join(10, 1, 1), Some(srun));
        ledger.claim(srun);
        assert_eq!(ledger.census(None, |_, _| true).claimed, 1);
        // Dead launchers are reclaimed like members.
        assert_eq!(ledger.reclaim(|pid, _| pid == 20), 1);
        ledger.leave(srun, 10);
        assert!(!ledger.any_member());
    }

    /// A ledger records its members' PID namespace: a process of another
    /// one must neither join it nor judge its members by pid.
    #[test]
    fn a_ledger_of_another_pid_namespace_is_foreign() {
        let (ledger, file) = test_ledger("namespace", 4, 7);
        let path = file.0.as_str();
        let seen = Ledger::open(path).unwrap();
        assert!(!seen.foreign(7));
        assert!(seen.foreign(8));
        assert!(!seen.foreign(0), "this process's namespace unknown");
        seen.close();
        std::fs::remove_file(path).unwrap();
        let unknown = Ledger::create(path, 4, 0).unwrap();
        assert!(!unknown.foreign(8), "the ledger's namespace unknown");
        assert!(!ledger.foreign(7));
    }

    #[test]
    fn invalid_ledgers_are_refused() {
        let file = TestFile(temp_path("bad"));
        let path = &file.0;
        std::fs::write(path, vec![0u8; SIZE]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Ledger::open(path)
            .unwrap_err()
            .why
            .contains("not a valid ledger"));
        std::fs::write(path, b"short").unwrap();
        assert!(Ledger::open(path).unwrap_err().why.contains("bytes"));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Ledger::open(path)
            .unwrap_err()
            .why
            .contains("accessible to others"));
        let link = TestFile(temp_path("link"));
        let _ = std::fs::remove_file(&link.0);
        std::os::unix::fs::symlink(path, &link.0).unwrap();
        let through_link = Ledger::open(&link.0).unwrap_err();
        assert!(through_link.why.contains("cannot be opened"));
        // Each of these is a wrong file, worth a warning; none is a call
        // this process was refused.
        assert_eq!(through_link.errno, libc::ELOOP);
        assert!(!through_link.refused());
        assert!(!Ledger::open(path).unwrap_err().refused());
        // What a sandbox, a read-only mount or another user's file answers.
        for errno in [libc::ENOSYS, libc::EPERM, libc::EACCES, libc::EROFS] {
            let e = LedgerError {
                why: String::new(),
                errno,
            };
            assert!(e.refused(), "errno {errno}");
        }
    }

    /// A tree of working members at budget `budget`, each holding `cap`.
    fn situation(budget: u32, cap: usize, working: u32, members: u32) -> Situation {
        Situation {
            budget,
            own: budget as usize,
            cap,
            peak: 0,
            working,
            members,
            pools_started: true,
            budget_file: false,
        }
    }

    #[test]
    fn a_steward_only_where_a_share_can_change_what_the_pools_hold() {
        // Alone in its ledger (`THROTTLE_THREADS=4 ./app`): nothing can join.
        assert!(!needs_steward(&situation(4, 4, 1, 1)));
        // Two working members at 2 each: one more joining lowers them.
        assert!(needs_steward(&situation(4, 2, 2, 2)));
        // Six at a budget of 2, each at 1: nothing a steward could do (one
        // fewer still leaves 1), so the tree runs max(B, P) threads.
        assert!(!needs_steward(&situation(2, 1, 6, 6)));
        // Two at 1 each with a budget of 2: one leaving raises the other.
        assert!(needs_steward(&situation(2, 1, 2, 2)));
        // A budget of 1: nothing to share, whatever the tree.
        assert!(!needs_steward(&situation(1, 1, 3, 3)));
        // The only working member beside a launcher, with a pool started:
        // workers the launcher starts later would shrink it.
        assert!(needs_steward(&situation(4, 4, 1, 2)));
        // ... but not without a pool (a single-threaded program stays so).
        let no_pool = Situation {
            pools_started: false,
            ..situation(4, 4, 1, 2)
        };
        assert!(!needs_steward(&no_pool));
        // Pools sized from a larger share than the one now in force.
        let above = Situation {
            peak: 4,
            ..situation(2, 1, 6, 6)
        };
        assert!(needs_steward(&above));
        // A watched budget file may change the budget at any time.
        let file = Situation {
            budget_file: true,
            ..situation(4, 4, 1, 1)
        };
        assert!(needs_steward(&file));
    }

    #[test]
    fn a_helper_stands_in_for_its_nearest_working_ancestor() {
        let (ledger, _file) = test_ledger("stand-in", 2, 0);
        // R (claimed), the shell it runs, grep in that shell.
        let r = ledger.join(100, 1, 10).unwrap();
        ledger.claim(r);
        let sh = ledger.join(101, 100, 11).unwrap();
        let grep = ledger.join(102, 101, 12).unwrap();
        assert_eq!(ledger.working_ancestor(grep), Some(r));
        assert_eq!(ledger.working_ancestor(sh), Some(r));
        assert_eq!(ledger.working_ancestor(r), None);
        // Counted as about to work, grep would halve R's share; left out,
        // it is R's whole budget.
        let busy = |_: i32, _: u64| true;
        let with = ledger.census(Some(r), busy);
        assert_eq!(with.share(ledger.budget()), Some(1));
        let without = ledger.census_without(Some(r), Some(grep), busy);
        assert_eq!(without.share(ledger.budget()), Some(2));
        // No claimed ancestor: a member started by a shell alone.
        let other = ledger.join(200, 1, 20).unwrap();
        assert_eq!(ledger.working_ancestor(other), None);
    }
}
