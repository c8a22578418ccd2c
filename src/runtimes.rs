//! The thread-pool runtimes libthrottle knows, declared as data
//! (DESIGN.md section 6). Adding a runtime is adding an entry here.

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

#[derive(Clone, Copy, Debug)]
pub struct SizingVar {
    pub name: &'static str,
    pub syntax: Syntax,
}

const fn count(name: &'static str) -> SizingVar {
    SizingVar {
        name,
        syntax: Syntax::Count,
    }
}

/// One family of runtime libraries.
#[derive(Debug)]
pub struct Runtime {
    pub name: &'static str,
    /// File-name prefixes that identify the library (threadpoolctl's list).
    pub libraries: &'static [&'static str],
    /// The environment variables that size its pool at start-up.
    pub env: &'static [SizingVar],
    /// Whether threads whose start routine lives in the library are managed:
    /// sized by layer 1, never delayed or refused (the runtimes abort or
    /// raise signals when thread creation fails).
    pub managed: bool,
}

pub const RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "openblas",
        libraries: &["libopenblas", "libscipy_openblas", "libblas.so"],
        env: &[count("OPENBLAS_NUM_THREADS"), count("GOTO_NUM_THREADS")],
        managed: true,
    },
    Runtime {
        name: "openmp",
        libraries: &["libgomp", "libomp", "libiomp"],
        env: &[
            SizingVar {
                name: "OMP_NUM_THREADS",
                syntax: Syntax::Levels,
            },
            count("OMP_THREAD_LIMIT"),
        ],
        managed: true,
    },
    Runtime {
        name: "mkl",
        libraries: &["libmkl_"],
        env: &[
            count("MKL_NUM_THREADS"),
            SizingVar {
                name: "MKL_DOMAIN_NUM_THREADS",
                syntax: Syntax::Domains,
            },
        ],
        managed: true,
    },
    Runtime {
        name: "blis",
        libraries: &["libblis"],
        env: &[count("BLIS_NUM_THREADS")],
        managed: true,
    },
    Runtime {
        name: "flexiblas",
        libraries: &["libflexiblas"],
        env: &[],
        managed: true,
    },
    Runtime {
        name: "tbb",
        libraries: &["libtbb"],
        env: &[],
        managed: true,
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
            },
            count("GOMAXPROCS"),
            count("LOKY_MAX_CPU_COUNT"),
            count("PYTHON_CPU_COUNT"),
            count("TF_NUM_INTRAOP_THREADS"),
        ],
        managed: false,
    },
];

/// Every sizing variable of every runtime.
pub fn sizing_vars() -> impl Iterator<Item = &'static SizingVar> {
    RUNTIMES.iter().flat_map(|r| r.env.iter())
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
    fn every_variable_is_listed_once() {
        let mut names: Vec<_> = sizing_vars().map(|v| v.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
