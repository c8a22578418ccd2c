//! The thread cap of one process: the exact count of its live threads, and
//! what happens to a creation over the cap (docs/design.md, section 13, a contract).
//!
//! The hooks call [`admit`] before creating a thread; a thread admitted here
//! carries a thread-specific mark ([`mark_started`]) whose destructor gives
//! its slot back however it ends: return, `pthread_exit`, cancellation,
//! detached or joined (glibc runs TSD destructors on every path out of a
//! thread). The fast path (below the cap) is a compare-and-swap; the
//! policies run only at the cap.

use crate::config::Policy;
use crate::cpumask::CpuMask;
use crate::lock::{FutexLock, Guard, Racy};
use crate::{events, status, sys};
use libc::{c_void, pthread_key_t};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
pub struct State {
    pub stats: Stats,
    cap: AtomicUsize,
    /// The largest cap set since the process started (its exit report's
    /// `max_cap`: a tree member's share falls as others join).
    max_cap: AtomicUsize,
    wait_ms: AtomicU64,
    /// Bumped and woken on every thread exit: what a waiting creator sleeps on.
    exits: AtomicU32,
    /// Serialises waiting creators, held across the real `pthread_create` so that
    /// the next one sees the thread just admitted in `/proc`.
    waiters: FutexLock,
    /// Confinement: while over the cap, every thread runs on `cap` CPUs.
    confinement: FutexLock,
    confined: AtomicBool,
    original_mask: Racy<CpuMask>,
    slot_key: Racy<pthread_key_t>,
    key_ready: AtomicBool,
    /// The last reading (under `waiters`): its number, when, how long it took,
    /// which `exits` it saw, and the runnable threads it counted plus those
    /// admitted on it since, less those of them that ended.
    reading: AtomicU32,
    read_at_ms: AtomicU64,
    read_cost_ms: AtomicU64,
    read_exits: AtomicU32,
    runnable_seen: AtomicUsize,
    /// The reading the last admission by `wait_for_room` was counted on
    /// (0: none), and its place in `tracked`, for `pthread_create` to take
    /// under the waiters' lock.
    counted: AtomicU32,
    counted_index: AtomicUsize,
    /// The runnable threads the last reading counted (the estimate's base).
    read_base: AtomicUsize,
    tracked: [AtomicI32; TRACKED_MAX],
    /// How many were admitted on the last reading (may exceed `TRACKED_MAX`).
    tracked_len: AtomicUsize,
}

pub static STATE: State = State {
    stats: Stats {
        live: AtomicUsize::new(1),
        peak: AtomicUsize::new(1),
        created: AtomicUsize::new(0),
        over_cap: AtomicUsize::new(0),
        waited: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        confined: AtomicUsize::new(0),
        managed: AtomicUsize::new(0),
    },
    cap: AtomicUsize::new(usize::MAX),
    max_cap: AtomicUsize::new(0),
    wait_ms: AtomicU64::new(0),
    exits: AtomicU32::new(0),
    waiters: FutexLock::new(),
    confinement: FutexLock::new(),
    confined: AtomicBool::new(false),
    original_mask: Racy::new(CpuMask::empty()),
    slot_key: Racy::new(0),
    key_ready: AtomicBool::new(false),
    reading: AtomicU32::new(0),
    read_at_ms: AtomicU64::new(0),
    read_cost_ms: AtomicU64::new(0),
    read_exits: AtomicU32::new(0),
    runnable_seen: AtomicUsize::new(0),
    counted: AtomicU32::new(0),
    counted_index: AtomicUsize::new(0),
    read_base: AtomicUsize::new(0),
    tracked: [const { AtomicI32::new(ENDED) }; TRACKED_MAX],
    tracked_len: AtomicUsize::new(0),
};

/// Counters shown in the exit report.
pub struct Stats {
    pub live: AtomicUsize,
    pub peak: AtomicUsize,
    pub created: AtomicUsize,
    pub over_cap: AtomicUsize,
    pub waited: AtomicUsize,
    pub refused: AtomicUsize,
    pub confined: AtomicUsize,
    pub managed: AtomicUsize,
}

/// Sets the cap (the policy is `status::policy`). `live` is the number of
/// threads that exist already (main included), `mask` the process's real
/// affinity mask.
pub fn configure(cap: usize, wait_ms: u64, live: usize, mask: CpuMask) {
    // SAFETY: called once, from initialisation, before any thread is admitted
    // or confined; readers only run after `configure` has returned.
    unsafe { *STATE.original_mask.get() = mask };
    STATE.cap.store(cap.max(1), Relaxed);
    STATE.max_cap.store(cap.max(1), Relaxed);
    events::note_cap(cap.max(1));
    STATE.wait_ms.store(wait_ms, Relaxed);
    STATE.stats.live.store(live.max(1), Relaxed);
    STATE.stats.peak.store(live.max(1), Relaxed);
}

pub fn cap() -> usize {
    STATE.cap.load(Relaxed)
}

/// Whether a runtime has started threads of its own pool here.
pub fn pools_started() -> bool {
    STATE.stats.managed.load(Relaxed) > 0
}

/// A new cap: this process's share of its tree's budget changed. Creators
/// waiting for room look again at once.
pub fn set_cap(cap: usize) {
    let old = STATE.cap.swap(cap.max(1), Relaxed);
    STATE.max_cap.fetch_max(cap.max(1), Relaxed);
    events::note_cap(cap.max(1));
    if old != cap.max(1) {
        STATE.exits.fetch_add(1, Release);
        sys::futex_wake_all(&STATE.exits);
    }
}

/// The largest cap this process has had: set, or in force now.
pub fn max_cap() -> usize {
    STATE.max_cap.load(Relaxed).max(cap())
}

/// The CPUs a process capped below its mask is shown (its virtual affinity
/// mask, as `sched_getaffinity` reports it); `None` when it is not capped
/// below its mask, and sees every CPU of it. `seed` spreads processes over
/// the mask (`tree::seed`: the process's rank in its tree, else its pid).
pub fn shown_mask(seed: fn() -> usize) -> Option<CpuMask> {
    shown_mask_of(cap(), seed)
}

/// [`shown_mask`] for a count of `cap` CPUs rather than the cap in force.
pub fn shown_mask_of(cap: usize, seed: fn() -> usize) -> Option<CpuMask> {
    let mask = original_mask();
    (cap < mask.count()).then(|| mask.spread_subset(cap, seed()))
}

/// The CPUs of the process's real affinity mask, as it started.
pub fn cpus() -> usize {
    original_mask().count().max(1)
}

fn original_mask() -> CpuMask {
    // SAFETY: written once in `configure` before any reader runs.
    unsafe { *STATE.original_mask.get() }
}

/// The answer to "may this thread be created?"
pub enum Admission {
    /// Create it; hold the guard (if any) until the creation has returned.
    Create(Option<Guard<'static>>),
    /// Refuse with `EAGAIN` (policy `fail`).
    Refuse,
}

/// Takes a slot for a new thread, applying the policy when the process is at
/// its cap. Managed threads (a runtime's own pool) always get one. `seed`
/// chooses the CPUs of a confined process (see [`shown_mask`]).
pub fn admit(managed: bool, seed: fn() -> usize) -> Admission {
    let cap = cap();
    if managed {
        STATE.stats.managed.fetch_add(1, Relaxed);
        take_slot();
        return Admission::Create(None);
    }
    let below = STATE
        .stats
        .live
        .fetch_update(AcqRel, Relaxed, |n| (n < cap).then_some(n + 1));
    if let Ok(before) = below {
        STATE.stats.peak.fetch_max(before + 1, Relaxed);
        return Admission::Create(None);
    }
    STATE.stats.over_cap.fetch_add(1, Relaxed);
    match status::policy() {
        Policy::Audit => {
            take_slot();
            Admission::Create(None)
        }
        Policy::Fail => {
            STATE.stats.refused.fetch_add(1, Relaxed);
            events::refuse(STATE.stats.live.load(Relaxed));
            Admission::Refuse
        }
        Policy::Confine => {
            take_slot();
            confine(cap, seed);
            Admission::Create(None)
        }
        Policy::Wait => wait_for_room(cap, seed),
    }
}

fn take_slot() {
    let now = STATE.stats.live.fetch_add(1, AcqRel) + 1;
    STATE.stats.peak.fetch_max(now, Relaxed);
}

/// Policy `wait`: admission control on running threads. Waits while at least
/// `cap` other threads of the process are runnable; a thread exit or a quiet
/// moment admits. Past `wait_ms` the thread is created and the process confined.
fn wait_for_room(cap: usize, seed: fn() -> usize) -> Admission {
    let guard = STATE.waiters.lock();
    if STATE.confined.load(Acquire) {
        // An earlier wait ran out (perhaps while this one queued for the
        // lock): the process is confined to `cap` CPUs, which bounds it
        // already; more waiting would only slow it down.
        take_slot();
        confine(cap, seed);
        return Admission::Create(Some(guard));
    }
    let me = sys::gettid();
    let started = sys::monotonic_ms();
    let deadline = started.saturating_add(STATE.wait_ms.load(Relaxed));
    let mut slept = false;
    loop {
        let exits = STATE.exits.load(Acquire);
        if STATE.stats.live.load(Acquire) < cap || runnable(me, exits, cap) < cap {
            take_slot();
            STATE.runnable_seen.fetch_add(1, Relaxed);
            let index = STATE.tracked_len.fetch_add(1, Relaxed);
            if let Some(t) = STATE.tracked.get(index) {
                t.store(STARTING, Relaxed);
            }
            STATE.counted.store(STATE.reading.load(Relaxed), Relaxed);
            STATE.counted_index.store(index, Relaxed);
            if slept {
                events::wait(sys::monotonic_ms().saturating_sub(started), false);
            }
            return Admission::Create(Some(guard));
        }
        let now = sys::monotonic_ms();
        if now >= deadline {
            take_slot();
            if slept {
                events::wait(now.saturating_sub(started), true);
            }
            confine(cap, seed);
            return Admission::Create(Some(guard));
        }
        if !slept {
            slept = true;
            STATE.stats.waited.fetch_add(1, Relaxed);
        }
        // Threads that go to sleep do not wake us: look again every few ms.
        sys::futex_wait(&STATE.exits, exits, (deadline - now).min(5));
    }
}

/// How long one reading of the threads' states serves a burst of
/// creations, at least: Linux tells nobody when a thread goes to sleep, so
/// `wait` reads `/proc` to know, about 10-40 us per live thread each time
/// (40 ms beside 1,000 threads here). A reading serves for ten times what it
/// cost (at most [`READING_SERVES_MAX_MS`]), so that reading `/proc` takes
/// at most a tenth of a burst's time whatever the number of threads.
/// Meanwhile the count is kept up to date with what the library sees: the
/// threads it admits, and those of them that end. What it cannot see,
/// sleeping threads waking up, is seen at the next reading.
const READING_SERVES_MS: u64 = 10;
const READING_SERVES_MAX_MS: u64 = 1000;
/// The threads admitted on the last reading, by thread id, the first
/// [`TRACKED_MAX`] of them: when the estimate says there is no room, these
/// alone are looked at again (one `/proc` file each), since they may have
/// gone to sleep, instead of reading every thread of the process.
const TRACKED_MAX: usize = 64;
/// A tracked thread not started yet (it counts as runnable), and one ended.
const STARTING: i32 = 0;
const ENDED: i32 = -1;

/// The runnable threads of the process other than `me`, from the last
/// reading of `/proc` while it serves (see [`READING_SERVES_MS`]); read
/// again when it no longer does, and when it says there is no room and a
/// thread has ended since (the room may be that thread's).
fn runnable(me: libc::pid_t, exits: u32, cap: usize) -> usize {
    let now = sys::monotonic_ms();
    let at = STATE.read_at_ms.load(Relaxed);
    let serves =
        (STATE.read_cost_ms.load(Relaxed) * 10).clamp(READING_SERVES_MS, READING_SERVES_MAX_MS);
    if at != 0 && now.saturating_sub(at) < serves {
        let seen = STATE.runnable_seen.load(Relaxed);
        if seen < cap {
            return seen;
        }
        // No room by the count. With no thread ended since the reading, the
        // threads it counted are as they were, or asleep since; those
        // admitted on it may have gone to sleep: look at them alone.
        let tracked = STATE.tracked_len.load(Relaxed);
        if STATE.read_exits.load(Relaxed) == exits && tracked <= TRACKED_MAX {
            let awake = STATE.tracked[..tracked]
                .iter()
                .map(|t| t.load(Relaxed))
                .filter(|&tid| tid == STARTING || (tid > 0 && sys::task_state(tid) == Some(b'R')))
                .count();
            let n = STATE.read_base.load(Relaxed) + awake;
            STATE.runnable_seen.store(n, Relaxed);
            return n;
        }
    }
    let n = sys::runnable_tasks(me);
    let done = sys::monotonic_ms();
    // Never 0, which marks an admission counted on no reading.
    let _ = STATE
        .reading
        .fetch_update(Relaxed, Relaxed, |r| Some(r.wrapping_add(1).max(1)));
    STATE.read_at_ms.store(done.max(1), Relaxed);
    STATE.read_cost_ms.store(done.saturating_sub(now), Relaxed);
    STATE.read_exits.store(exits, Relaxed);
    STATE.read_base.store(n, Relaxed);
    STATE.tracked_len.store(0, Relaxed);
    STATE.runnable_seen.store(n, Relaxed);
    n
}

/// The reading the admission just made was counted on, and the thread's
/// place among those tracked on it, if it was made by `wait` on a reading
/// (`Counted::NONE` otherwise). Called by the creator while it holds the
/// admission's guard.
pub fn counted_on() -> Counted {
    Counted {
        reading: STATE.counted.swap(0, Relaxed),
        index: STATE.counted_index.load(Relaxed),
    }
}

/// Which reading of `/proc` a thread's admission was counted on (0: none),
/// and its place among the threads tracked on it.
#[derive(Clone, Copy)]
pub struct Counted {
    pub reading: u32,
    pub index: usize,
}

impl Counted {
    pub const NONE: Counted = Counted {
        reading: 0,
        index: usize::MAX,
    };

    /// The thread has started, as `tid`: tracked, if its reading still serves.
    pub fn started(self, tid: libc::pid_t) {
        if self.reading != 0 && STATE.reading.load(Relaxed) == self.reading {
            if let Some(t) = STATE.tracked.get(self.index) {
                t.store(tid, Relaxed);
            }
        }
    }
}

/// A thread admitted as `counted` ends (or was never created): if its
/// reading still serves, the thread no longer counts in it.
pub fn release_counted(counted: Counted) {
    if counted.reading != 0 && STATE.reading.load(Relaxed) == counted.reading {
        if let Some(t) = STATE.tracked.get(counted.index) {
            t.store(ENDED, Relaxed);
        }
        let _ = STATE
            .runnable_seen
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }
    release();
}

/// Creates the thread-specific key whose destructor releases slots. Called
/// once, from initialisation; false if the key cannot be had (the library
/// then does not enforce).
pub fn prepare_marks() -> bool {
    let mut key: pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; the destructor is a plain C function.
    if unsafe { libc::pthread_key_create(&mut key, Some(release_slot)) } != 0 {
        return false;
    }
    // SAFETY: written once, before `key_ready` publishes it.
    unsafe { *STATE.slot_key.get() = key };
    STATE.key_ready.store(true, Release);
    true
}

/// Whether admitted threads can be marked (and so their slots given back).
#[inline]
pub fn marks_ready() -> bool {
    STATE.key_ready.load(Acquire)
}

/// On a thread admitted as `counted`, as it starts (the trampoline, before
/// the caller's routine): marks it, so that its slot is given back however
/// it ends, and tracks it if `wait` counted it on a reading. Only a thread
/// counted on a reading asks its id (a system call): the fast path does not.
#[inline]
pub fn mark_started(counted: Counted) {
    if counted.reading != 0 {
        counted.started(sys::gettid());
    }
    let marker = mark(counted) as *const c_void;
    // SAFETY: `key_ready` was true when this thread was admitted, so `slot_key`
    // is a valid key. Any non-null value makes glibc call the destructor.
    unsafe { libc::pthread_setspecific(*STATE.slot_key.get(), marker) };
}

/// Runs as a thread admitted by the cap ends, whichever way it ends.
extern "C" fn release_slot(marker: *mut c_void) {
    release_counted(unmark(marker as usize));
}

/// The thread-specific value of an admitted thread: never null (glibc calls
/// the destructor of non-null values only), and it carries what the cap
/// needs at the thread's end (`Counted`): the reading in the high 32 bits,
/// the place among the tracked threads (`0x7f`: none) in bits 1-7.
fn mark(counted: Counted) -> usize {
    let index = counted.index.min(0x7f);
    ((counted.reading as usize) << 32) | (index << 1) | 1
}

fn unmark(marker: usize) -> Counted {
    Counted {
        reading: (marker >> 32) as u32,
        index: match (marker >> 1) & 0x7f {
            0x7f => usize::MAX,
            i => i,
        },
    }
}

/// What the exit event and the exit report show.
pub fn totals() -> events::Totals {
    let s = &STATE.stats;
    events::Totals {
        cap: cap(),
        max_cap: max_cap(),
        peak: s.peak.load(Relaxed),
        live: s.live.load(Relaxed),
        created: s.created.load(Relaxed),
        over_cap: s.over_cap.load(Relaxed),
        waited: s.waited.load(Relaxed),
        refused: s.refused.load(Relaxed),
        confined: s.confined.load(Relaxed),
        managed: s.managed.load(Relaxed),
    }
}

/// Gives back a slot taken by [`admit`]: the thread ended, or was never created.
pub fn release() {
    let now = STATE.stats.live.fetch_sub(1, AcqRel).saturating_sub(1);
    STATE.exits.fetch_add(1, Release);
    sys::futex_wake_all(&STATE.exits);
    if STATE.confined.load(Acquire) && now <= cap() {
        unconfine();
    }
}

/// Confines every thread of the process to `cap` CPUs of its mask, chosen by
/// pid so that confined processes spread over the machine. Threads created
/// later inherit the mask from their creator.
fn confine(cap: usize, seed: fn() -> usize) {
    STATE.stats.confined.fetch_add(1, Relaxed);
    events::confine(STATE.stats.live.load(Relaxed));
    if cap >= original_mask().count() {
        // The process may run on every CPU of its mask anyway: confining it
        // there would cost a /proc walk and change nothing.
        return;
    }
    let _guard = STATE.confinement.lock();
    let mask = original_mask().spread_subset(cap, seed());
    if STATE.confined.load(Acquire) {
        // Every thread was confined when confinement began, and threads
        // inherit their creator's mask: only the creator needs it again (the
        // program may have re-pinned it).
        sys::set_affinity(0, &mask);
        return;
    }
    sys::for_each_task_settled(|tid| {
        sys::set_affinity(tid, &mask);
    });
    STATE.confined.store(true, Release);
}

/// The cap changed while the process's threads are confined: their mask
/// follows it (`cap` CPUs of the mask, or the whole mask once the live
/// threads fit or the cap covers it). Called by the steward after a new
/// share and before it resizes pools: a pool raised to the new cap must get
/// the CPUs for it. Not doing so cost a notebook's kernel (five Python
/// threads, confined to one CPU at a share of 1) 6.5x its time when its
/// share grew to 2: OpenBLAS's two threads on one CPU, one spinning while
/// it waits for the other (docs/design.md, section 13).
pub fn follow_confinement(seed: fn() -> usize) {
    if !STATE.confined.load(Acquire) {
        return;
    }
    let _guard = STATE.confinement.lock();
    if !STATE.confined.load(Acquire) {
        return;
    }
    let whole = original_mask();
    let cap = cap();
    let fits = STATE.stats.live.load(Acquire) <= cap || cap >= whole.count();
    let mask = if fits {
        whole
    } else {
        whole.spread_subset(cap, seed())
    };
    sys::for_each_task_settled(|tid| {
        sys::set_affinity(tid, &mask);
    });
    if fits {
        STATE.confined.store(false, Release);
    }
}

/// Back under the cap: every thread gets the process's original mask back.
/// Skipped if another thread is confining or unconfining: it will settle.
fn unconfine() {
    let Some(_guard) = STATE.confinement.try_lock() else {
        return;
    };
    if !STATE.confined.load(Acquire) || STATE.stats.live.load(Acquire) > cap() {
        return;
    }
    let mask = original_mask();
    sys::for_each_task_settled(|tid| {
        sys::set_affinity(tid, &mask);
    });
    STATE.confined.store(false, Release);
}

/// In a `fork` child: one thread, no waiters, nothing held (the locks are
/// free there already: lock.rs).
pub fn reset_after_fork() {
    STATE.read_at_ms.store(0, Relaxed);
    STATE.stats.live.store(1, Relaxed);
    STATE.stats.peak.store(1, Relaxed);
    // The inherited cap counts while it is in force (`max_cap`), not once
    // the child's own share replaces it.
    STATE.max_cap.store(0, Relaxed);
    for counter in [
        &STATE.stats.created,
        &STATE.stats.over_cap,
        &STATE.stats.waited,
        &STATE.stats.refused,
        &STATE.stats.confined,
        &STATE.stats.managed,
    ] {
        counter.store(0, Relaxed);
    }
    if STATE.confined.swap(false, Relaxed) {
        sys::set_affinity(0, &original_mask());
    }
}
