//! Marks the preloaded library as compatible with x86 shadow stacks (CET
//! SHSTK): a process enables them only when every object it loads carries
//! the mark, so one preloaded library without it turns them off for the
//! whole process. The library keeps calls and returns paired everywhere
//! (its trampolines jump on and leave no frame; the end-of-process stack
//! switch calls and returns on the switched stack), which is what shadow
//! stacks check. Indirect-branch tracking (IBT) is not claimed: the Rust
//! toolchain does not emit `endbr64` on stable. See docs/design.md, section 9.
//!
//! Also links GCC's unwinder (`libgcc_eh.a`, what Rust's panics unwind
//! with) into the library instead of loading `libgcc_s.so.1` beside it: one
//! shared object fewer to find, map and relocate in every process, about
//! 0.1 ms of each start here (docs/benchmarks.md, start-up). The
//! unwinder's symbols stay local (the library exports only its hooks), so
//! the host's own unwinder is never displaced; Debian builds the archive
//! with shadow-stack support.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("x86_64-") && target.contains("-linux-") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,shstk");
    }
    if target.contains("-linux-gnu") {
        for arg in [
            "-Wl,--whole-archive",
            "-l:libgcc_eh.a",
            "-Wl,--no-whole-archive",
        ] {
            println!("cargo:rustc-cdylib-link-arg={arg}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
