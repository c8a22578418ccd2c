//! The thread cap of one process: the exact count of its live threads, and
//! what happens to a creation over the cap (docs/design.md, section 13, a contract).
//!
//! The hooks call [`admit`] before creating a thread and [`release`] when a
//! thread admitted here ends. The fast path (below the cap) is a
//! compare-and-swap; the policies run only at the cap.

use crate::config::Policy;
use crate::cpumask::CpuMask;
use crate::lock::{FutexLock, Guard};
use crate::{events, sys};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};

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

pub static STATS: Stats = Stats {
    live: AtomicUsize::new(1),
    peak: AtomicUsize::new(1),
    created: AtomicUsize::new(0),
    over_cap: AtomicUsize::new(0),
    waited: AtomicUsize::new(0),
    refused: AtomicUsize::new(0),
    confined: AtomicUsize::new(0),
    managed: AtomicUsize::new(0),
};

static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The largest cap set since the process started (its exit report's
/// `max_cap`: a tree member's share falls as others join).
static MAX_CAP: AtomicUsize = AtomicUsize::new(0);
/// A launcher's threads are counted, never held back (`launchers.rs`).
static UNCAPPED: AtomicBool = AtomicBool::new(false);
static POLICY: AtomicU8 = AtomicU8::new(0);
static WAIT_MS: AtomicU64 = AtomicU64::new(0);

/// Bumped and woken on every thread exit: what a waiting creator sleeps on.
static EXITS: AtomicU32 = AtomicU32::new(0);
/// Serialises waiting creators, held across the real `pthread_create` so that
/// the next one sees the thread just admitted in `/proc`.
static WAITERS: FutexLock = FutexLock::new();

/// Confinement: while over the cap, every thread runs on `cap` CPUs.
static CONFINEMENT: FutexLock = FutexLock::new();
static CONFINED: AtomicBool = AtomicBool::new(false);
static mut ORIGINAL_MASK: CpuMask = CpuMask::empty();

const POLICIES: [Policy; 4] = [Policy::Wait, Policy::Confine, Policy::Fail, Policy::Audit];

/// Sets the cap and policy. `live` is the number of threads that exist
/// already (main included), `mask` the process's real affinity mask.
pub fn configure(cap: usize, policy: Policy, wait_ms: u64, live: usize, mask: CpuMask) {
    // SAFETY: called once, from initialisation, before any thread is admitted
    // or confined; readers only run after `configure` has returned.
    unsafe { ORIGINAL_MASK = mask };
    CAP.store(cap.max(1), Relaxed);
    MAX_CAP.store(cap.max(1), Relaxed);
    POLICY.store(
        POLICIES.iter().position(|&p| p == policy).unwrap_or(0) as u8,
        Relaxed,
    );
    WAIT_MS.store(wait_ms, Relaxed);
    STATS.live.store(live.max(1), Relaxed);
    STATS.peak.store(live.max(1), Relaxed);
}

pub fn cap() -> usize {
    CAP.load(Relaxed)
}

/// Whether creations over the cap are only counted (a launcher), whatever
/// the policy.
pub fn set_uncapped(uncapped: bool) {
    UNCAPPED.store(uncapped, Relaxed);
}

pub fn uncapped() -> bool {
    UNCAPPED.load(Relaxed)
}

/// Whether a runtime has started threads of its own pool here.
pub fn pools_started() -> bool {
    STATS.managed.load(Relaxed) > 0
}

/// A new cap: this process's share of its tree's budget changed. Creators
/// waiting for room look again at once.
pub fn set_cap(cap: usize) {
    let old = CAP.swap(cap.max(1), Relaxed);
    MAX_CAP.fetch_max(cap.max(1), Relaxed);
    if old != cap.max(1) {
        EXITS.fetch_add(1, Release);
        sys::futex_wake_all(&EXITS);
    }
}

/// The largest cap this process has had: set, or in force now.
pub fn max_cap() -> usize {
    MAX_CAP.load(Relaxed).max(cap())
}

fn policy() -> Policy {
    POLICIES[POLICY.load(Relaxed) as usize % POLICIES.len()]
}

/// The CPUs a process capped below its mask is shown (its virtual affinity
/// mask, as `sched_getaffinity` reports it); `None` when it is not capped
/// below its mask, and sees every CPU of it.
pub fn shown_mask() -> Option<CpuMask> {
    let mask = original_mask();
    let cap = cap();
    (cap < mask.count()).then(|| mask.spread_subset(cap, placement_seed()))
}

/// The CPUs of the process's real affinity mask, as it started.
pub fn cpus() -> usize {
    original_mask().count().max(1)
}

fn original_mask() -> CpuMask {
    // SAFETY: written once in `configure` before any reader runs.
    unsafe { ORIGINAL_MASK }
}

/// The answer to "may this thread be created?"
pub enum Admission {
    /// Create it; hold the guard (if any) until the creation has returned.
    Create(Option<Guard<'static>>),
    /// Refuse with `EAGAIN` (policy `fail`).
    Refuse,
}

/// Takes a slot for a new thread, applying the policy when the process is at
/// its cap. Managed threads (a runtime's own pool) always get one.
pub fn admit(managed: bool) -> Admission {
    let cap = cap();
    if managed {
        STATS.managed.fetch_add(1, Relaxed);
        take_slot();
        return Admission::Create(None);
    }
    let below = STATS
        .live
        .fetch_update(AcqRel, Relaxed, |n| (n < cap).then_some(n + 1));
    if let Ok(before) = below {
        STATS.peak.fetch_max(before + 1, Relaxed);
        return Admission::Create(None);
    }
    STATS.over_cap.fetch_add(1, Relaxed);
    let policy = if UNCAPPED.load(Relaxed) {
        Policy::Audit
    } else {
        policy()
    };
    match policy {
        Policy::Audit => {
            take_slot();
            Admission::Create(None)
        }
        Policy::Fail => {
            STATS.refused.fetch_add(1, Relaxed);
            events::refuse(STATS.live.load(Relaxed));
            Admission::Refuse
        }
        Policy::Confine => {
            take_slot();
            confine(cap);
            Admission::Create(None)
        }
        Policy::Wait => wait_for_room(cap),
    }
}

fn take_slot() {
    let now = STATS.live.fetch_add(1, AcqRel) + 1;
    STATS.peak.fetch_max(now, Relaxed);
}

/// Policy `wait`: admission control on running threads. Waits while at least
/// `cap` other threads of the process are runnable; a thread exit or a quiet
/// moment admits. Past `wait_ms` the thread is created and the process confined.
fn wait_for_room(cap: usize) -> Admission {
    let guard = WAITERS.lock();
    if CONFINED.load(Acquire) {
        // An earlier wait ran out (perhaps while this one queued for the
        // lock): the process is confined to `cap` CPUs, which bounds it
        // already; more waiting would only slow it down.
        take_slot();
        confine(cap);
        return Admission::Create(Some(guard));
    }
    let me = sys::gettid();
    let started = sys::monotonic_ms();
    let deadline = started.saturating_add(WAIT_MS.load(Relaxed));
    let mut slept = false;
    loop {
        let exits = EXITS.load(Acquire);
        if STATS.live.load(Acquire) < cap || runnable(me, exits) < cap {
            take_slot();
            RUNNABLE_SEEN.fetch_add(1, Relaxed);
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
            confine(cap);
            return Admission::Create(Some(guard));
        }
        if !slept {
            slept = true;
            STATS.waited.fetch_add(1, Relaxed);
        }
        // Threads that go to sleep do not wake us: look again every few ms.
        sys::futex_wait(&EXITS, exits, (deadline - now).min(5));
    }
}

/// How long one reading of the threads' states serves a burst of
/// creations: Linux tells nobody when a thread goes to sleep, so `wait` reads
/// `/proc` to know; a burst would read it at every creation (about 10 us per
/// live thread each time). An exit or a share change ends it sooner.
const READING_SERVES_MS: u64 = 10;
/// The last reading (under `WAITERS`): when, which `EXITS` it saw, and the
/// runnable threads it counted plus those admitted since.
static READ_AT_MS: AtomicU64 = AtomicU64::new(0);
static READ_EXITS: AtomicU32 = AtomicU32::new(0);
static RUNNABLE_SEEN: AtomicUsize = AtomicUsize::new(0);

/// The runnable threads of the process other than `me`, from a reading of
/// `/proc` at most [`READING_SERVES_MS`] old taken since the last exit.
fn runnable(me: libc::pid_t, exits: u32) -> usize {
    let now = sys::monotonic_ms();
    let at = READ_AT_MS.load(Relaxed);
    if at != 0 && now.saturating_sub(at) < READING_SERVES_MS && READ_EXITS.load(Relaxed) == exits {
        return RUNNABLE_SEEN.load(Relaxed);
    }
    let n = sys::runnable_tasks(me);
    READ_AT_MS.store(now.max(1), Relaxed);
    READ_EXITS.store(exits, Relaxed);
    RUNNABLE_SEEN.store(n, Relaxed);
    n
}

/// Gives back a slot taken by [`admit`]: the thread ended, or was never created.
pub fn release() {
    let now = STATS.live.fetch_sub(1, AcqRel).saturating_sub(1);
    EXITS.fetch_add(1, Release);
    sys::futex_wake_all(&EXITS);
    if CONFINED.load(Acquire) && now <= cap() {
        unconfine();
    }
}

/// Confines every thread of the process to `cap` CPUs of its mask, chosen by
/// pid so that confined processes spread over the machine. Threads created
/// later inherit the mask from their creator.
fn confine(cap: usize) {
    STATS.confined.fetch_add(1, Relaxed);
    events::confine(STATS.live.load(Relaxed));
    if cap >= original_mask().count() {
        // The process may run on every CPU of its mask anyway: confining it
        // there would cost a /proc walk and change nothing.
        return;
    }
    let _guard = CONFINEMENT.lock();
    let mask = original_mask().spread_subset(cap, placement_seed());
    if CONFINED.load(Acquire) {
        // Every thread was confined when confinement began, and threads
        // inherit their creator's mask: only the creator needs it again (the
        // program may have re-pinned it).
        sys::set_affinity(0, &mask);
        return;
    }
    sys::for_each_task(|tid| {
        sys::set_affinity(tid, &mask);
    });
    CONFINED.store(true, Release);
}

/// Which CPUs a confined process gets: its rank in its tree, else its pid.
#[cfg(not(test))]
fn placement_seed() -> usize {
    crate::tree::seed()
}
#[cfg(test)]
fn placement_seed() -> usize {
    sys::getpid() as usize
}

/// Back under the cap: every thread gets the process's original mask back.
/// Skipped if another thread is confining or unconfining: it will settle.
fn unconfine() {
    let Some(_guard) = CONFINEMENT.try_lock() else {
        return;
    };
    if !CONFINED.load(Acquire) || STATS.live.load(Acquire) > cap() {
        return;
    }
    let mask = original_mask();
    sys::for_each_task(|tid| {
        sys::set_affinity(tid, &mask);
    });
    CONFINED.store(false, Release);
}

/// In a `fork` child: one thread, no waiters, nothing held.
pub fn after_fork_child() {
    WAITERS.reset_after_fork();
    READ_AT_MS.store(0, Relaxed);
    CONFINEMENT.reset_after_fork();
    STATS.live.store(1, Relaxed);
    STATS.peak.store(1, Relaxed);
    // The inherited cap counts while it is in force (`max_cap`), not once
    // the child's own share replaces it.
    MAX_CAP.store(0, Relaxed);
    for counter in [
        &STATS.created,
        &STATS.over_cap,
        &STATS.waited,
        &STATS.refused,
        &STATS.confined,
        &STATS.managed,
    ] {
        counter.store(0, Relaxed);
    }
    if CONFINED.swap(false, Relaxed) {
        sys::set_affinity(0, &original_mask());
    }
}
