//! Initialisation, lazy and idempotent: the constructor (hooks/load.rs) runs
//! it, and so does the first hook called before the constructor (a
//! `DT_NEEDED` library's constructor runs first and may already create
//! threads or count CPUs). The process layer (docs/design.md, section 1):
//! it decides what the state modules hold; `fork.rs` and `exit.rs` are the
//! two other ends of a process's life.

use crate::config;
use crate::log::{self, debug, info, warn};
use crate::status::{self, ACTIVE, INACTIVE, PROCESS, RUNNING, UNINIT};
use crate::{cap, envsize, events, sys};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
struct State {
    init_tid: AtomicI32,
    report: AtomicBool,
    /// Set when the constructor, not a hook reached earlier, started the
    /// initialisation (see `run`).
    by_constructor: AtomicBool,
}

static STATE: State = State {
    init_tid: AtomicI32::new(0),
    report: AtomicBool::new(false),
    by_constructor: AtomicBool::new(false),
};

/// Whether the library is enforcing: initialises on first use. False while
/// this very thread is initialising (a hook reached from inside
/// initialisation passes straight through) and when disabled.
pub fn enforcing() -> bool {
    match PROCESS.phase.load(Acquire) {
        ACTIVE => true,
        INACTIVE => false,
        _ => {
            initialise(false);
            PROCESS.phase.load(Acquire) == ACTIVE
        }
    }
}

/// `by_constructor`: the caller is the constructor (see `by_constructor`),
/// noted only by the call that starts initialising.
pub fn initialise(by_constructor: bool) {
    if PROCESS
        .phase
        .compare_exchange(UNINIT, RUNNING, AcqRel, Acquire)
        .is_ok()
    {
        STATE.by_constructor.store(by_constructor, Relaxed);
        STATE.init_tid.store(sys::gettid(), Release);
        let enforcing = std::panic::catch_unwind(run).unwrap_or(false);
        PROCESS
            .phase
            .store(if enforcing { ACTIVE } else { INACTIVE }, Release);
        return;
    }
    if STATE.init_tid.load(Acquire) == sys::gettid() {
        return;
    }
    while PROCESS.phase.load(Acquire) == RUNNING {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
}

/// Whether `THROTTLE_REPORT` asked for the exit report.
pub fn report_wanted() -> bool {
    STATE.report.load(Relaxed)
}

/// Resolves the settings and applies them. Returns whether to enforce.
fn run() -> bool {
    std::panic::set_hook(Box::new(|panic| {
        log::always(format_args!("internal error, no longer enforcing: {panic}"));
    }));
    // Before the budget file is read: a rewrite from now on is seen.
    crate::tree::note_budget_file();
    // Read once: resolution counts it, and the cap is a subset of it.
    let mask = sys::affinity(0);
    let refused = mask.is_none()
        && sys::refused_by_filter(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    let deciding = sys::Deciding {
        affinity: mask.as_ref().map(|m| m.count()),
    };
    let recording = config::Recording::new(&deciding);
    let settings = config::resolve(&recording);
    crate::tree::keep_environment(recording.finish());
    log::set_level(settings.log);
    for line in &settings.warnings {
        warn!("{line}");
    }
    for c in &settings.consulted {
        debug!("consulted {} = '{}': {}", c.name, c.value, c.verdict);
    }
    if settings.disabled {
        info!("disabled by THROTTLE_DISABLE");
        return false;
    }
    let Some(mask) = mask else {
        if refused {
            info!("the affinity mask is refused (a sandbox); not enforcing");
        } else {
            warn!("cannot read the affinity mask; not enforcing");
        }
        return false;
    };
    // A launcher (srun, mpirun) holds no share and is never held back.
    let launcher = events::launcher(&settings.launchers);
    if let Some(name) = &launcher {
        info!("{name} is a launcher: no share of the tree's budget, threads not capped");
    }
    status::decide(
        settings.policy,
        launcher.is_some(),
        settings.source,
        settings.ceiling.is_some(),
    );
    // Before claiming, a member of a tree starts from the share it would get.
    let start_cap = crate::tree::init(&settings);
    let share = start_cap.min(mask.count()).max(1);
    let ceiling = settings.cap.min(mask.count()).max(share);
    let user_sized_teams = right_size_environment(share, ceiling, &mask);
    crate::pools::note_team_default(ceiling, user_sized_teams);
    // Initialised by the constructor, no hook came first: the process has
    // not created a thread (every `pthread_create` goes through the hook,
    // which would have initialised), so it has one, and /proc/self/task is
    // not read at every start.
    let live = if STATE.by_constructor.load(Relaxed) {
        1
    } else {
        sys::thread_count().unwrap_or(1)
    };
    cap::configure(start_cap, settings.wait_ms, live, mask);
    if !cap::prepare_marks() {
        warn!("cannot allocate a thread-specific key; not enforcing");
        return false;
    }
    status::note_own_pid();
    STATE.report.store(settings.report, Relaxed);
    info!(
        "cap={start_cap} budget={} source={} scope={:?} policy={} wait_ms={} live={live}",
        settings.cap,
        status::source(),
        settings.scope,
        status::policy().name(),
        settings.wait_ms
    );
    events::open(settings.log_file.as_deref());
    events::start(live, settings.wait_ms);
    true
}

/// Sets each runtime's sizing variable to fit the process (see
/// `envsize::plan`). Returns whether the user sized a per-region runtime's
/// teams (`OMP_NUM_THREADS`).
fn right_size_environment(share: usize, ceiling: usize, mask: &crate::cpumask::CpuMask) -> bool {
    let var = |name: &str| {
        let name = CString::new(name).ok()?;
        sys::getenv(&name).and_then(|v| String::from_utf8(v).ok())
    };
    let plan = envsize::plan(var, share, ceiling, mask.count(), |bound| {
        sys::cores_up_to(mask, bound)
    });
    for (name, value) in &plan.changes {
        let Ok(cname) = CString::new(*name) else {
            continue;
        };
        debug!(
            "{name}={} (was {})",
            value.as_deref().unwrap_or("unset"),
            var(name).as_deref().unwrap_or("unset")
        );
        match value.as_deref() {
            Some(v) => sys::set_env(&cname, v.as_bytes()),
            None => sys::unset_env(&cname),
        }
    }
    match plan.saved {
        Some(text) => sys::set_env(c"THROTTLE_SAVED_ENV", text.as_bytes()),
        None => sys::unset_env(c"THROTTLE_SAVED_ENV"),
    }
    plan.user_sized_teams
}
