//! The board support for the fawkes firmware on QEMU's `mps2-an386` (ARM's AN386 image of
//! the MPS2 board: a Cortex-M4 with CMSDK UARTs), one module per concern. `main.rs` is the
//! Phoenix client on top; `bin/baseline.rs` runs the same board code without fawkes-core,
//! so the footprint of the protocol is the difference between the two.

#![no_std]
#![warn(missing_docs)]

pub mod clock;
pub mod modem;
pub mod rng;
pub mod stack;
pub mod uart;

use crate::clock::Clock;
use crate::modem::Modem;
use crate::uart::Uart;

/// Starts the board: SysTick as the clock, UART0 and UART1 as the modem, both UARTs' receive
/// interrupts unmasked so reads can sleep. Call it once, first thing in `main`.
pub fn start() -> (Clock, Modem) {
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("the board is started once");
    };
    let clock = Clock::start(core.SYST);
    // SAFETY: UART0 and UART1 are the MPS2's CMSDK UARTs; `Peripherals::take` succeeding
    // means this runs once, so each is driven by this one value.
    let (data, control) = unsafe { (Uart::new(Uart::UART0), Uart::new(Uart::UART1)) };
    data.listen(uart::UART0_RX_IRQ);
    control.listen(uart::UART1_RX_IRQ);
    (clock, Modem::new(data, control))
}
