//! fawkes
