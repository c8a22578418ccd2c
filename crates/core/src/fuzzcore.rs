//! The engine of the fuzz tests (crates/core/src/fuzz.rs for the library's parsers,
//! crates/command/src/report.rs for the event log): a generator, mutations
//! of well-formed inputs, and a runner that splits the planned cases over
//! the CPUs and names the seed of a failing case. See crates/core/src/fuzz.rs.

#![allow(dead_code)]

/// splitmix64: small, fast, and good enough to drive generators.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    // Not `Iterator::next`: the stream never ends, and callers want a u64.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, in_n: u64) -> bool {
        self.below(in_n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A count as programs and schedulers write them: mostly small, at
    /// times at or past every boundary.
    pub fn count(&mut self) -> String {
        match self.below(12) {
            0 => "0".into(),
            1 => "-1".into(),
            2 => u64::MAX.to_string(),
            3 => "4294967296".into(),
            4 => "65536".into(),
            5 => "65537".into(),
            6 => format!("{}", self.next()),
            7 => format!(" {} ", self.below(64)),
            8 => format!("0x{:x}", self.below(64)),
            9 => format!("{}.5", self.below(8)),
            _ => format!("{}", 1 + self.below(256)),
        }
    }
}

/// Mutations applied to a well-formed input.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    const SPICE: &[&[u8]] = &[
        b",",
        b"-",
        b"(",
        b")",
        b"x",
        b"=",
        b"\n",
        b"\0",
        b" ",
        b"\t",
        b"\"",
        b"\\",
        b"{",
        b"}",
        b":",
        b"/",
        b"..",
        b"max",
        b"\xff\xfe",
        b"\xc3",
        b"99999999999999999999",
        b"-0",
        b"#",
    ];
    for _ in 0..rng.below(4) {
        let at = rng.below(input.len() as u64 + 1) as usize;
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = at.min(input.len() - 1);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let spice = rng.pick(SPICE);
                input.splice(at..at, spice.iter().copied());
            }
            2 => input.truncate(at),
            3 if !input.is_empty() => {
                let end = (at + 1 + rng.below(16) as usize).min(input.len());
                let start = at.min(end);
                let piece = input[start..end].to_vec();
                input.splice(at.min(input.len())..at.min(input.len()), piece);
            }
            4 => {
                let byte = rng.next() as u8;
                input.insert(at, byte);
            }
            5 if !input.is_empty() => {
                let end = (at + rng.below(8) as usize).min(input.len());
                input.drain(at.min(end)..end);
            }
            _ => {}
        }
    }
    // Bound every case: no input grows past a few KiB.
    input.truncate(4096);
}

/// How many cases each target runs, and from which seed.
pub fn plan() -> (u64, u64) {
    let cases = std::env::var("THROTTLE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(20_000);
    let seed = match std::env::var("THROTTLE_FUZZ_SEED").as_deref() {
        Ok("random") => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64) ^ u64::from(std::process::id())
        }
        Ok(s) => s.parse().unwrap_or(0x5EED),
        Err(_) => 0x5EED,
    };
    (cases, seed)
}

/// Runs `case(rng)` for the planned number of cases, split over the CPUs;
/// each case gets its own generator, seeded from the run's seed and its
/// number, so that a failing case is reproduced by its seed alone. Prints
/// the figures of the run.
pub fn run(target: &str, case: impl Fn(&mut Rng) + Sync) {
    // One case again, by the seed a failure printed.
    if let Some(seed) = std::env::var("THROTTLE_FUZZ_CASE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        case(&mut Rng::new(seed));
        return;
    }
    let (cases, seed) = plan();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for w in 0..workers {
            let case = &case;
            scope.spawn(move || {
                let mut i = w;
                while i < cases {
                    let case_seed = seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407);
                    let mut rng = Rng::new(case_seed);
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut rng)));
                    if outcome.is_err() {
                        panic!("fuzz target {target}: case {i} failed (case seed {case_seed})");
                    }
                    i += workers;
                }
            });
        }
    });
    eprintln!(
        "fuzz {target}: {cases} cases in {:.1} s, seed {seed}, no failure",
        started.elapsed().as_secs_f64()
    );
}
