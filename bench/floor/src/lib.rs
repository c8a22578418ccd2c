//! A preloaded object with the Rust standard library and a constructor
//! that reads one variable, as every preloaded library must at least do
//! (bench/floor/Cargo.toml says why it is measured).

extern "C" fn on_load() {
    std::hint::black_box(std::env::var_os("THROTTLE_THREADS"));
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;

/// One export, as a library has.
#[no_mangle]
pub extern "C" fn throttle_bench_floor() -> i32 {
    1
}
