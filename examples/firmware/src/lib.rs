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
