//! Marks the preloaded library as compatible with x86 shadow stacks (CET
//! SHSTK): a process enables them only when every object it loads carries
//! the mark, so one preloaded library without it turns them off for the
//! whole process. The library keeps calls and returns paired everywhere
//! (its trampolines jump on and leave no frame; the end-of-process stack
//! switch calls and returns on the switched stack), which is what shadow
//! stacks check. Indirect-branch tracking (IBT) is not claimed: the Rust
//! toolchain does not emit `endbr64` on stable. See docs/design.md.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("x86_64-") && target.contains("-linux-") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,shstk");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
