//! The loader's calls into the library: its constructor and destructor.

use crate::{events, exit, fork, init, pools};

/// The constructor: initialise as soon as the library is loaded, then bring
/// down the runtimes that initialised before us (only from here: see
/// pools.rs).
extern "C" fn on_load(
    _argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    // glibc gives constructors the program's arguments.
    events::note_argv(argv);
    super::resolve_at_load();
    init::initialise(true);
    if init::enforcing() {
        // Here, not in initialisation: that may run inside the host's
        // allocator (a hook called by it), and `pthread_atfork` allocates.
        fork::register();
        let _ = std::panic::catch_unwind(|| pools::lower_loaded(true));
        fork::watch_pools();
    }
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char) =
    on_load;

/// The destructor: `exit` ends the process (exit.rs).
extern "C" fn on_exit() {
    exit::on_exit();
}

#[used]
#[link_section = ".fini_array"]
static ON_EXIT: extern "C" fn() = on_exit;
