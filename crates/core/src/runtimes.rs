//! The thread-pool runtimes libthrottle knows, declared as data
//! (docs/design.md, section 14). Adding a runtime is adding an entry here.

/// How a sizing variable's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// A positive integer.
    Count,
    /// Comma-separated counts, one per nesting level (`OMP_NUM_THREADS=4,2`).
    Levels,
    /// `NAME=count` pairs (`MKL_DOMAIN_NUM_THREADS="MKL_BLAS=4, MKL_FFT=2"`);
    /// only lowered when set, since `MKL_NUM_THREADS` covers the unset case.
    Domains,
}

/// What the runtime does when its variable is unset: the library sets an
/// unset variable only where that default would exceed the process's share,
/// and never to more than the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unset {
    /// One thread per CPU it can see (OpenMP, OpenBLAS, Go, polars, ...).
    Cpus,
    /// One per physical core: MKL.
    Cores,
    /// A single thread: BLIS, Julia.
    One,
    /// A limit fixed for the process's life (`OMP_THREAD_LIMIT`): never set
    /// by the library, which could not raise it again when a share grows.
    Never,
}

#[derive(Clone, Copy, Debug)]
pub struct SizingVar {
    pub name: &'static str,
    pub syntax: Syntax,
    pub unset: Unset,
}

const fn count(name: &'static str) -> SizingVar {
    SizingVar {
        name,
        syntax: Syntax::Count,
        unset: Unset::Cpus,
    }
}

const fn count_with(name: &'static str, unset: Unset) -> SizingVar {
    SizingVar {
        name,
        syntax: Syntax::Count,
        unset,
    }
}

/// How a setter receives its thread count: the shapes the runtimes' C and
/// Fortran-style entry points use. A setter's return value, if any, is passed
/// back unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `f(int n)`
    Int,
    /// `f(const int *n)`: Fortran-style names ending in `_`.
    IntRef,
    /// `f(int64 n)`: BLIS's `dim_t`.
    Long,
    /// `f(const int64 *n)`: libgomp's `omp_set_num_threads_8_`.
    LongRef,
    /// `f(int n, int domain)`: MKL's per-domain setters.
    IntInt,
    /// `f(const int *n, const int *domain)`.
    IntRefIntRef,
    /// `f(dim_t jc, dim_t pc, dim_t ic, dim_t jr, dim_t ir)`: BLIS's
    /// `bli_thread_set_ways`, whose product is the thread count.
    Ways,
}

/// A function that sets a runtime's thread count.
#[derive(Clone, Copy, Debug)]
pub struct Setter {
    pub name: &'static str,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub arg: Arg,
}

/// Every runtime's thread setters, by runtime, with each one's argument
/// shape (an [`Arg`] variant): the one declaration of them. The registry's
/// `setters` lists (`RUNTIMES`) and the library's exported wrappers
/// (crates/preload/src/hooks/setters.rs) both follow from it: `$then` is a
/// macro given `runtime { Shape name, ... } ...`. Adding a setter is adding
/// its line here. Mind the shapes: MKL's lowercase names without `_` are its
/// Fortran entry points, taking pointers (C reaches `MKL_Set_Num_Threads`
/// through a macro). oneTBB has no C setter: see hooks/tbb.rs.
#[macro_export]
macro_rules! runtime_setters {
    ($then:ident) => {
        $then! {
            openblas {
                Int openblas_set_num_threads,
                Int openblas_set_num_threads64_,
                Int openblas_set_num_threads_64,
                Int scipy_openblas_set_num_threads,
                Int scipy_openblas_set_num_threads64_,
                Int scipy_openblas_set_num_threads_64,
                Int goto_set_num_threads,
                Int openblas_set_num_threads_local,
                IntRef openblas_set_num_threads_,
            }
            openmp {
                Int omp_set_num_threads,
                IntRef omp_set_num_threads_,
                LongRef omp_set_num_threads_8_,
            }
            mkl {
                Int MKL_Set_Num_Threads,
                IntRef mkl_set_num_threads,
                IntRef mkl_set_num_threads_,
                IntRef MKL_SET_NUM_THREADS,
                Int MKL_Set_Num_Threads_Local,
                IntRef mkl_set_num_threads_local,
                IntRef mkl_set_num_threads_local_,
                IntRef MKL_SET_NUM_THREADS_LOCAL,
                IntInt MKL_Domain_Set_Num_Threads,
                IntRefIntRef mkl_domain_set_num_threads,
                IntRefIntRef mkl_domain_set_num_threads_,
                IntRefIntRef MKL_DOMAIN_SET_NUM_THREADS,
            }
            blis {
                Long bli_thread_set_num_threads,
                Ways bli_thread_set_ways,
            }
            flexiblas {
                Int flexiblas_set_num_threads,
                IntRef flexiblas_set_num_threads_,
            }
        }
    };
}

/// The registry's side of [`runtime_setters!`]: one `&[Setter]` per runtime.
macro_rules! setter_lists {
    ($($runtime:ident { $($arg:ident $name:ident),* $(,)? })*) => {
        $(
            pub const $runtime: &[super::Setter] = &[$(super::Setter {
                name: stringify!($name),
                arg: super::Arg::$arg,
            }),*];
        )*
    };
}

/// Each runtime's setters, as [`runtime_setters!`] declares them.
#[allow(non_upper_case_globals)]
mod declared {
    crate::runtime_setters!(setter_lists);
}

/// A getter and the setter that changes what it returns, for lowering loaded pools.
/// Both take and return plain C ints, or both `dim_t` when `long` is set.
#[derive(Clone, Copy, Debug)]
pub struct Control {
    pub get: &'static str,
    pub set: &'static str,
    pub long: bool,
    /// Whether the setter may be called from a thread other than the ones
    /// that compute with the runtime (the ledger's steward, a thread that
    /// forks): see [`AnyThread`].
    pub any_thread: AnyThread,
}

/// Whether a setter's effect is the whole process's and safe while other
/// threads compute (docs/design.md, section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnyThread {
    /// Never: the setting is the calling thread's own (`omp_set_num_threads`
    /// sets the caller's nthreads-var; BLIS's is thread-local), or the setter
    /// frees what other threads may be using (OpenBLAS's OpenMP build frees
    /// per-thread buffers), or it forwards to a backend it cannot vouch for
    /// (FlexiBLAS).
    Never,
    /// When this query (`int f(void)`, in the same object) returns this
    /// value: OpenBLAS's `openblas_get_parallel()` is 1 for the pthreads
    /// build, whose setter resizes one process-wide pool under its own lock.
    When(&'static str, i32),
}

/// One family of runtime libraries.
#[derive(Debug)]
pub struct Runtime {
    pub name: &'static str,
    /// File-name prefixes that identify the library (threadpoolctl's list).
    pub libraries: &'static [&'static str],
    /// The environment variables that size its pool at start-up.
    pub env: &'static [SizingVar],
    /// Every exported name that sets its thread count: libthrottle exports
    /// each one as a clamping wrapper, and wraps it when looked up by handle.
    /// Declared in [`runtime_setters!`].
    pub setters: &'static [Setter],
    /// Getter/setter pairs for bringing an already-initialised pool down.
    pub controls: &'static [Control],
    /// Whether its controls may be called at any time (after a `dlopen`, and
    /// by the ledger's steward), not only from libthrottle's constructor. Off
    /// for runtimes that load their own parts on first use (MKL's `mkl_rt`):
    /// calling them from inside that loading would re-enter it. The
    /// environment sizes them anyway.
    pub lower_anytime: bool,
    /// Whether threads whose start routine lives in the library are managed:
    /// sized by layer 1, never delayed or refused (the runtimes abort or
    /// raise signals when thread creation fails).
    pub managed: bool,
    /// Whether every team is sized at the region that forms it (OpenMP: the
    /// hooks in hooks/openmp.rs lower each region to the share in force).
    /// Its variables and its default are then set to the process's own cap,
    /// the most it can ever get, not to the share it starts with: a team
    /// can only be lowered below the runtime's default, so a default fixed
    /// at a smaller share would keep it small for the process's life.
    pub per_region: bool,
    /// Whether the library splits its work for exactly the OpenMP team it
    /// asks for and waits for every part (OpenBLAS's OpenMP build, level 3):
    /// its regions are never lowered (a smaller team deadlocks it), and it
    /// is told the share by `omp_get_max_threads()`, which it asks at every
    /// call (docs/design.md, section 6).
    pub exact_teams: bool,
}

pub const RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "openblas",
        libraries: &["libopenblas", "libscipy_openblas", "libblas.so"],
        env: &[count("OPENBLAS_NUM_THREADS"), count("GOTO_NUM_THREADS")],
        setters: declared::openblas,
        controls: &[
            Control {
                get: "openblas_get_num_threads",
                set: "openblas_set_num_threads",
                long: false,
                any_thread: AnyThread::When("openblas_get_parallel", 1),
            },
            Control {
                get: "openblas_get_num_threads64_",
                set: "openblas_set_num_threads64_",
                long: false,
                any_thread: AnyThread::When("openblas_get_parallel64_", 1),
            },
            Control {
                get: "openblas_get_num_threads_64",
                set: "openblas_set_num_threads_64",
                long: false,
                any_thread: AnyThread::When("openblas_get_parallel_64", 1),
            },
            Control {
                get: "scipy_openblas_get_num_threads",
                set: "scipy_openblas_set_num_threads",
                long: false,
                any_thread: AnyThread::When("scipy_openblas_get_parallel", 1),
            },
            Control {
                get: "scipy_openblas_get_num_threads64_",
                set: "scipy_openblas_set_num_threads64_",
                long: false,
                any_thread: AnyThread::When("scipy_openblas_get_parallel64_", 1),
            },
            Control {
                get: "scipy_openblas_get_num_threads_64",
                set: "scipy_openblas_set_num_threads_64",
                long: false,
                any_thread: AnyThread::When("scipy_openblas_get_parallel_64", 1),
            },
        ],
        lower_anytime: true,
        managed: true,
        per_region: false,
        exact_teams: true,
    },
    Runtime {
        name: "openmp",
        libraries: &["libgomp", "libomp", "libiomp"],
        env: &[
            SizingVar {
                name: "OMP_NUM_THREADS",
                syntax: Syntax::Levels,
                unset: Unset::Cpus,
            },
            count_with("OMP_THREAD_LIMIT", Unset::Never),
        ],
        setters: declared::openmp,
        controls: &[Control {
            get: "omp_get_max_threads",
            set: "omp_set_num_threads",
            long: false,
            any_thread: AnyThread::Never,
        }],
        lower_anytime: true,
        managed: true,
        per_region: true,
        exact_teams: false,
    },
    Runtime {
        name: "mkl",
        libraries: &["libmkl_"],
        env: &[
            count_with("MKL_NUM_THREADS", Unset::Cores),
            SizingVar {
                name: "MKL_DOMAIN_NUM_THREADS",
                syntax: Syntax::Domains,
                unset: Unset::Never,
            },
        ],
        setters: declared::mkl,
        controls: &[Control {
            get: "MKL_Get_Max_Threads",
            set: "MKL_Set_Num_Threads",
            long: false,
            any_thread: AnyThread::Never,
        }],
        lower_anytime: false,
        managed: true,
        per_region: false,
        exact_teams: false,
    },
    Runtime {
        name: "blis",
        libraries: &["libblis"],
        env: &[count_with("BLIS_NUM_THREADS", Unset::One)],
        setters: declared::blis,
        controls: &[Control {
            get: "bli_thread_get_num_threads",
            set: "bli_thread_set_num_threads",
            long: true,
            any_thread: AnyThread::Never,
        }],
        lower_anytime: true,
        managed: true,
        per_region: false,
        exact_teams: false,
    },
    Runtime {
        name: "flexiblas",
        libraries: &["libflexiblas"],
        env: &[],
        setters: declared::flexiblas,
        controls: &[Control {
            get: "flexiblas_get_num_threads",
            set: "flexiblas_set_num_threads",
            long: false,
            any_thread: AnyThread::Never,
        }],
        lower_anytime: true,
        managed: true,
        per_region: false,
        exact_teams: false,
    },
    Runtime {
        name: "tbb",
        libraries: &["libtbb"],
        env: &[],
        setters: &[],
        controls: &[],
        lower_anytime: true,
        managed: true,
        per_region: false,
        exact_teams: false,
    },
    Runtime {
        name: "env-driven",
        libraries: &[],
        env: &[
            count("NUMEXPR_MAX_THREADS"),
            count("NUMEXPR_NUM_THREADS"),
            count("RAYON_NUM_THREADS"),
            count("POLARS_MAX_THREADS"),
            count("VECLIB_MAXIMUM_THREADS"),
            SizingVar {
                name: "JULIA_NUM_THREADS",
                syntax: Syntax::Levels,
                unset: Unset::One,
            },
            count("GOMAXPROCS"),
            count("LOKY_MAX_CPU_COUNT"),
            // numba's default is the CPU count it sees; a user's value above
            // the share is lowered.
            count("NUMBA_NUM_THREADS"),
            count("PYTHON_CPU_COUNT"),
            count("TF_NUM_INTRAOP_THREADS"),
        ],
        setters: &[],
        controls: &[],
        lower_anytime: true,
        managed: false,
        per_region: false,
        exact_teams: false,
    },
];

/// Every sizing variable of every runtime.
pub fn sizing_vars() -> impl Iterator<Item = &'static SizingVar> {
    RUNTIMES.iter().flat_map(|r| r.env.iter())
}

/// Every setter of every runtime.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub fn setters() -> impl Iterator<Item = &'static Setter> {
    RUNTIMES.iter().flat_map(|r| r.setters.iter())
}

/// The setter with this exact name.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub fn setter_named(name: &[u8]) -> Option<&'static Setter> {
    setters().find(|s| s.name.as_bytes() == name)
}

/// Whether `name` sets the default team of a runtime whose teams are sized
/// at each region (`Runtime::per_region`).
pub fn per_region_setter(name: &str) -> bool {
    RUNTIMES
        .iter()
        .any(|r| r.per_region && r.setters.iter().any(|s| s.name == name))
}

/// The runtime a library belongs to, from its path.
pub fn runtime_of(path: &[u8]) -> Option<&'static Runtime> {
    let file = match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    };
    RUNTIMES.iter().find(|r| {
        r.libraries
            .iter()
            .any(|prefix| file.starts_with(prefix.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_libraries_numpy_and_debian_ship() {
        for (path, family) in [
            ("/v/numpy.libs/libscipy_openblas64_-ff651d7f.so", "openblas"),
            (
                "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
                "openblas",
            ),
            ("/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "openblas"),
            ("/usr/lib/x86_64-linux-gnu/libgomp.so.1", "openmp"),
            ("libomp.so.5", "openmp"),
            ("/opt/intel/libmkl_rt.so.2", "mkl"),
        ] {
            assert_eq!(
                runtime_of(path.as_bytes()).map(|r| r.name),
                Some(family),
                "{path}"
            );
        }
        assert!(runtime_of(b"/usr/lib/libc.so.6").is_none());
        assert!(runtime_of(b"/home/me/libblastoise.so").is_none());
    }

    #[test]
    fn every_setter_is_listed_once_and_controls_name_listed_setters() {
        let mut names: Vec<_> = setters().map(|s| s.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for r in RUNTIMES {
            for c in r.controls {
                assert!(r.setters.iter().any(|s| s.name == c.set), "{}", c.set);
            }
        }
        assert_eq!(
            setter_named(b"mkl_set_num_threads_").map(|s| s.arg),
            Some(Arg::IntRef)
        );
        assert!(setter_named(b"openblas_get_num_threads").is_none());
    }

    #[test]
    fn every_variable_is_listed_once() {
        let mut names: Vec<_> = sizing_vars().map(|v| v.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
