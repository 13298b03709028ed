//! Logging macros that map to `defmt`, `log`, or nothing. (Being written.)
