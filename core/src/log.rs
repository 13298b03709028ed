//! Logging macros that map to `defmt`, `log`, or nothing. (Placeholder in this worktree.)
macro_rules! net_log {
    ($($arg:expr),* $(,)?) => {{ $( let _ = &$arg; )* }};
}
#[allow(unused_macros)]
macro_rules! net_trace { ($fmt:literal $(, $arg:expr)* $(,)?) => { net_log!($($arg),*) }; }
macro_rules! net_debug { ($fmt:literal $(, $arg:expr)* $(,)?) => { net_log!($($arg),*) }; }
macro_rules! net_warn { ($fmt:literal $(, $arg:expr)* $(,)?) => { net_log!($($arg),*) }; }
