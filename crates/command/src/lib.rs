//! The `throttle` command's modules that the integration tests read too:
//! `report` (the event log's reader and the report). The command itself is
//! `main.rs`.

pub mod elf;
pub mod report;
