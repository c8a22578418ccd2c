//! Diagnostics on stderr, one `write(2)` per line so that lines from many
//! threads and processes never interleave. Never stdout: shells and module
//! tools `eval` it.

use crate::config::LogLevel;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: LogLevel) -> bool {
    level != LogLevel::Off && level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// A line buffer on the stack: no allocation, long lines are cut.
struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len; // keep one byte for '\n'
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes `libthrottle: <message>` to stderr, whatever the level.
pub fn always(args: fmt::Arguments) {
    let mut line = Line {
        buf: [0; 1024],
        len: 0,
    };
    let _ = line.write_str("libthrottle: ");
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    // SAFETY: the buffer holds `len + 1` initialised bytes. A failed or short
    // write to stderr is not something the host should ever notice.
    unsafe { libc::write(2, line.buf.as_ptr().cast(), line.len + 1) };
}

pub fn at(level: LogLevel, args: fmt::Arguments) {
    if enabled(level) {
        always(args);
    }
}

macro_rules! log_warn {
    ($($t:tt)*) => { $crate::log::at($crate::config::LogLevel::Warn, format_args!($($t)*)) };
}
macro_rules! log_info {
    ($($t:tt)*) => { $crate::log::at($crate::config::LogLevel::Info, format_args!($($t)*)) };
}
macro_rules! log_debug {
    ($($t:tt)*) => { $crate::log::at($crate::config::LogLevel::Debug, format_args!($($t)*)) };
}
pub(crate) use {log_debug as debug, log_info as info, log_warn as warn};
