//! throttle-core: what the preloaded library and the `throttle` command
//! decide alike, with nothing that hooks a function or holds a process's
//! state (docs/design.md, section 1). Both link it; nothing here exports a
//! C symbol.
//!
//! - `inputs`: what budget resolution reads, and the terms it shares.
//! - `config`: settings and their precedence (budget resolution), pure.
//! - `allocation`: scheduler and cgroup parsing.
//! - `sys`: the live inputs (`/proc`, `/sys`, the affinity mask), read
//!   without allocating, so that the library may call them anywhere.
//! - `runtimes`: the registry of runtimes; `envsize`: environment sizing.
//! - `cpumask`: CPU mask arithmetic.
//! - `launchers`: program identification (launchers, interpreters).
//! - `ledger`: the tree's shared ledger: its layout and the operations on it.
//! - `fuzzcore`: the structure-aware fuzzing engine the parsers' tests use.

pub mod allocation;
pub mod config;
pub mod cpumask;
pub mod envsize;
#[cfg(test)]
mod fuzz;
#[doc(hidden)]
pub mod fuzzcore;
pub mod inputs;
pub mod launchers;
pub mod ledger;
pub mod runtimes;
pub mod sys;
