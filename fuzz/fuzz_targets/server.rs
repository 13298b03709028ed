#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fawkes_fuzz_harness::server(data));
