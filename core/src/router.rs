//! Fixed-capacity topic table.
