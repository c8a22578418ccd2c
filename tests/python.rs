//! CPython, numpy and scipy under the library (docs/design.md, section 14): the CPU
//! count Python sees, the size of `multiprocessing.Pool()`, the threads the
//! bundled OpenBLAS copies start, and what threadpoolctl, as an independent
//! witness, says each pool was sized to.

mod common;

use common::{python, real_affinity_count, real_nprocs_conf, real_nprocs_onln, Output, Run};

const SCRIPT: &str = r#"
import os
print("cpu_count=%d" % os.cpu_count())
import numpy, scipy, scipy.linalg
# Use both bundled OpenBLAS copies, so that pools started lazily exist too.
a = numpy.ones((256, 256))
a @ a
scipy.linalg.blas.dgemm(1.0, a, a)
print("threads_after_import=%d" % len(os.listdir("/proc/self/task")))
import threadpoolctl
pools = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "openblas"]
print("openblas_entries=%d" % len(pools))
print("openblas_num_threads=%s" % ",".join(str(p["num_threads"]) for p in pools))
print("openblas_files=%s" % ",".join(os.path.basename(p["filepath"]) for p in pools))
import multiprocessing
pool = multiprocessing.Pool()
print("pool_processes=%d" % pool._processes)
pool.close()
pool.join()
"#;

fn run(preload: bool, env: &[(&str, &str)]) -> Output {
    let r = Run::new(python())
        .args(["-c", SCRIPT])
        .preload(preload)
        .envs(env);
    let out = r.run();
    out.assert_success();
    out
}

fn openblas_threads(out: &Output) -> Vec<i64> {
    common::num_list(&out.get("openblas_num_threads"))
}

#[test]
fn cap_1_sizes_python_numpy_and_scipy_to_one() {
    let out = run(true, &[("THROTTLE_THREADS", "1")]);
    assert_eq!(out.num("cpu_count"), 1, "{out}");
    assert_eq!(out.num("pool_processes"), 1, "{out}");
    assert_eq!(out.num("threads_after_import"), 1, "{out}");
    // numpy's and scipy's bundled OpenBLAS copies, each sized to 1.
    assert_eq!(out.num("openblas_entries"), 2, "{out}");
    let threads = openblas_threads(&out);
    assert!(threads.iter().all(|&n| n == 1), "{threads:?}\n{out}");
}

#[test]
fn without_library_python_sees_the_machine() {
    let out = run(false, &[]);
    assert_eq!(out.num("cpu_count"), real_nprocs_onln(), "{out}");
    assert_eq!(out.num("openblas_entries"), 2, "{out}");
    if real_nprocs_conf().min(real_affinity_count()) >= 2 {
        assert!(
            out.num("threads_after_import") > 1,
            "the bundled OpenBLAS copies should start threads\n{out}"
        );
        let threads = openblas_threads(&out);
        assert!(threads.iter().all(|&n| n > 1), "{threads:?}\n{out}");
    }
}
