//! The board's UART (an ARM CMSDK APB UART, as on every MPS2 FPGA image) as an
//! `embedded_io` byte stream, polled through its registers.
//!
//! A read waits with `wfi` between looks at the receive flag: the UART's receive interrupt
//! (enabled here, and in the NVIC by [`Uart::listen`]) or the 1 ms SysTick wakes the core,
//! so an idle firmware does not spin. The interrupt handler only clears the flag
//! ([`Uart::clear_interrupts`]); the byte stays in the data register until read.

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::exception;
use embedded_io::{ErrorType, Read, ReadReady, Write};

/// Data register: a write sends a byte, a read takes the received one.
const DATA: usize = 0x00;
/// State register: bit 0 transmit buffer full, bit 1 receive buffer full.
const STATE: usize = 0x04;
/// Control register: bit 0 transmit enable, bit 1 receive enable, bit 3 receive interrupt.
const CTRL: usize = 0x08;
/// Interrupt status; writing a bit clears it.
const INTCLEAR: usize = 0x0C;
/// Baud rate divisor: the system clock over the bit rate (at least 16).
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;
const CTRL_RX_INTERRUPT: u32 = 1 << 3;

/// UART0's receive interrupt on the MPS2 AN385/AN386.
pub const UART0_RX_IRQ: u16 = 0;
/// UART1's receive interrupt.
pub const UART1_RX_IRQ: u16 = 2;

/// The MPS2 system clock (AN385/AN386).
const SYSTEM_CLOCK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

/// One UART, at its register block's address.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// UART0 of the MPS2 (QEMU's first `-serial`): the data link.
    pub const UART0: usize = 0x4000_4000;
    /// UART1 (the second `-serial`): the modem's control lines.
    pub const UART1: usize = 0x4000_5000;

    /// Enables the UART at `base` at 115,200 baud, with its receive interrupt on.
    ///
    /// # Safety
    ///
    /// `base` must be a CMSDK UART's register block, and no other `Uart` may drive it.
    pub unsafe fn new(base: usize) -> Self {
        let uart = Uart { base };
        uart.write_register(BAUDDIV, SYSTEM_CLOCK_HZ / BAUD);
        uart.write_register(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE | CTRL_RX_INTERRUPT);
        uart
    }

    /// Unmasks this UART's receive interrupt (`irq`) in the NVIC, so `wfi` wakes on a byte.
    pub fn listen(&self, irq: u16) {
        // SAFETY: the handler for every device interrupt is `DefaultHandler`, which only
        // clears the UART's flags; unmasking it breaks no critical section.
        unsafe { cortex_m::peripheral::NVIC::unmask(Irq(irq)) };
    }

    /// Clears the UART's interrupt flags (called from the interrupt handler).
    ///
    /// # Safety
    ///
    /// `base` must be a CMSDK UART's register block.
    unsafe fn clear_interrupts(base: usize) {
        // SAFETY: the caller vouches for the address; INTCLEAR is write-one-to-clear.
        unsafe { write_volatile((base + INTCLEAR) as *mut u32, 0xF) };
    }

    /// The received byte, if one is waiting.
    pub fn try_read_byte(&mut self) -> Option<u8> {
        if self.read_register(STATE) & STATE_RX_FULL == 0 {
            return None;
        }
        // The data register is 8 bits wide; the truncation is the hardware's.
        Some(self.read_register(DATA) as u8)
    }

    /// Sends one byte, waiting while the transmit buffer is full.
    pub fn write_byte(&mut self, byte: u8) {
        while self.read_register(STATE) & STATE_TX_FULL != 0 {}
        self.write_register(DATA, u32::from(byte));
    }

    fn read_register(&self, offset: usize) -> u32 {
        // SAFETY: `new` was given a UART's register block; these offsets are its registers.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write_register(&self, offset: usize, value: u32) {
        // SAFETY: as in `read_register`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}

/// The UART cannot fail: its errors (overruns) cannot happen in a polled, flow-controlled
/// link like QEMU's, and a real board would count them here.
impl ErrorType for Uart {
    type Error = Infallible;
}

impl Read for Uart {
    /// Waits (asleep) for the first byte, then takes every byte already waiting.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut n = 0;
        for slot in buf.iter_mut() {
            let byte = loop {
                match self.try_read_byte() {
                    Some(byte) => break Some(byte),
                    None if n > 0 => break None,
                    None => cortex_m::asm::wfi(),
                }
            };
            let Some(byte) = byte else { break };
            *slot = byte;
            n += 1;
        }
        Ok(n)
    }
}

impl ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.read_register(STATE) & STATE_RX_FULL != 0)
    }
}

impl Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        buf.iter().for_each(|&byte| self.write_byte(byte));
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while self.read_register(STATE) & STATE_TX_FULL != 0 {}
        Ok(())
    }
}

/// A device interrupt number, for the NVIC (there is no peripheral access crate for the
/// MPS2 board's interrupts).
#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the number is the board's interrupt line, below the NVIC's limit.
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Every device interrupt: only the UARTs' receive interrupts are unmasked, and all they do
/// is wake the core from `wfi`; the bytes stay in the UARTs until read.
#[exception]
unsafe fn DefaultHandler(_irq: i16) {
    // SAFETY: both addresses are the MPS2's CMSDK UARTs.
    unsafe {
        Uart::clear_interrupts(Uart::UART0);
        Uart::clear_interrupts(Uart::UART1);
    }
}
