//! The link to the server: a data UART carrying the WebSocket connection's bytes, byte for
//! byte, and a second UART carrying the control lines a modem has (DTR and DCD on RS-232,
//! `ATD` / `ATH` / `NO CARRIER` on an AT modem), one byte per signal:
//!
//! | byte | from | meaning |
//! | --- | --- | --- |
//! | `D` | firmware | dial: open a TCP connection to the server |
//! | `H` | firmware | hang up: close it |
//! | `C` | bridge | carrier: the connection is open |
//! | `N` | bridge | no carrier: the dial failed, or the connection closed |
//!
//! A serial line has no end of stream, so without a carrier signal the firmware could only
//! notice a dead server by a missed heartbeat (30 s), and the bridge could not tell one
//! connection's bytes from the next one's. With it, a server that goes away is an end of
//! stream at once ([`Read::read`] returns 0), the session reconnects with its backoff, and
//! each dial gets a fresh TCP connection for its upgrade request. The heartbeat stays as
//! the backstop for a link that dies without a word.

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};

use crate::clock::Clock;
use crate::uart::Uart;

const DIAL: u8 = b'D';
const HANG_UP: u8 = b'H';
const CARRIER: u8 = b'C';
const NO_CARRIER: u8 = b'N';

/// The data UART and the control lines.
pub struct Modem {
    data: Uart,
    control: Uart,
    online: bool,
    /// A read gives up at this time (`None`: it waits for data or a hang-up).
    deadline: Option<u64>,
}

impl Modem {
    /// A modem over the two UARTs, on hook.
    pub fn new(data: Uart, control: Uart) -> Self {
        Modem {
            data,
            control,
            online: false,
            deadline: None,
        }
    }

    /// Dials and waits for the carrier, up to `timeout_ms`; `true` once the line is up.
    pub fn dial(&mut self, timeout_ms: u64) -> bool {
        // Bytes and signals of a previous connection still in the UARTs are not this one's.
        while self.data.try_read_byte().is_some() {}
        while self.control.try_read_byte().is_some() {}
        self.control.write_byte(DIAL);
        let give_up = Clock::millis().saturating_add(timeout_ms);
        while Clock::millis() < give_up {
            match self.control.try_read_byte() {
                Some(CARRIER) => {
                    self.online = true;
                    return true;
                }
                Some(NO_CARRIER) => return false,
                _ => cortex_m::asm::wfi(),
            }
        }
        self.control.write_byte(HANG_UP);
        false
    }

    /// Hangs up (if the line is up).
    pub fn hang_up(&mut self) {
        if self.online {
            self.online = false;
            self.control.write_byte(HANG_UP);
        }
    }

    /// Makes reads give up at `deadline` (milliseconds on [`Clock`]).
    pub fn set_deadline(&mut self, deadline: Option<u64>) {
        self.deadline = deadline;
    }

    /// `false` once the bridge said the connection closed.
    fn carrier(&mut self) -> bool {
        if self.online && self.control.try_read_byte() == Some(NO_CARRIER) {
            self.online = false;
        }
        self.online
    }
}

/// Why a read returned without data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Nothing arrived before the read deadline (not a failure: the driver runs its timers).
    TimedOut,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::TimedOut => f.write_str("read timed out"),
        }
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::TimedOut => ErrorKind::TimedOut,
        }
    }
}

impl ErrorType for Modem {
    type Error = Error;
}

impl Read for Modem {
    /// Data as the data UART gives it; 0 (end of stream) once the carrier is lost.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            if !self.carrier() {
                return Ok(0);
            }
            let Ok(ready) = self.data.read_ready();
            if ready {
                let Ok(n) = self.data.read(buf);
                return Ok(n);
            }
            if self.deadline.is_some_and(|at| Clock::millis() >= at) {
                return Err(Error::TimedOut);
            }
            // Woken by either UART's receive interrupt or the 1 ms tick.
            cortex_m::asm::wfi();
        }
    }
}

impl Write for Modem {
    /// Sends on the data UART; bytes written with the line down go nowhere, as on a modem.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        if self.online {
            let Ok(()) = self.data.write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Error> {
        let Ok(()) = self.data.flush();
        Ok(())
    }
}
