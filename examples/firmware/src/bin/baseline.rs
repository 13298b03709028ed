//! The board without the protocol: the same boot, clock, UARTs, modem, RNG, stack measure
//! and semihosting output as `main.rs`, echoing what arrives instead of speaking Phoenix.
//! It is only built, never run: `cargo xtask firmware` subtracts its `.text` from the
//! client's to get what fawkes-core (codec + session + ws) takes.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use embedded_io::{Read, Write};
use fawkes_core::ws::RngCore;
use fawkes_firmware::clock::Clock;
use fawkes_firmware::rng::Rng;
use fawkes_firmware::stack;
use panic_semihosting as _;

#[entry]
fn main() -> ! {
    let (clock, mut modem) = fawkes_firmware::start();
    let mut rng = Rng::from_clock();
    let mut buf = [0u8; 1038];
    hprintln!("baseline: booted, {} bytes", buf.len());
    loop {
        if !modem.dial(10_000) {
            clock.sleep_until(Clock::millis() + 1000);
            continue;
        }
        modem.set_deadline(Some(Clock::millis() + 1000));
        match modem.read(&mut buf) {
            Ok(0) => hprintln!("* no carrier"),
            Ok(n) => {
                let _ = modem.write_all(&buf[..n]);
                hprintln!(
                    "< {} bytes at {}: {}",
                    n,
                    clock.now().as_millis(),
                    rng.next_u64()
                );
            }
            Err(e) => hprintln!("* {}", e),
        }
        let (peak, size) = stack::peak();
        hprintln!("stack: peak {} of {} bytes", peak, size);
        modem.hang_up();
    }
}
