//! The three things a host brings to `fawkes-core`, made from `std` for the
//! `custom_transport` example and the `ws_connection` test (this file is their one copy):
//!
//! - [`Tcp`]: a `std::net::TcpStream` adapted to `embedded_io::{Read, Write}`. A read that
//!   times out is reported as [`embedded_io::ErrorKind::TimedOut`], which the blocking driver
//!   (`fawkes_core::io::poll`) treats as "no data yet"; set the timeout before each round with
//!   [`Tcp::set_read_timeout`] to the time left until `Connection::poll_timeout`.
//! - [`XorShift`]: a tiny `rand_core` RNG for WebSocket keys and masks, seeded from the
//!   system time. RFC 6455 wants unpredictable masks; firmware should seed from (or use) its
//!   hardware RNG.
//! - [`Clock`]: milliseconds since the clock was made, as `fawkes_core::time::Instant`.
//!
//! On a microcontroller the same three come from the HAL: a TCP socket of the modem or of
//! embassy-net, the TRNG, and a hardware timer.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use embedded_io::ErrorKind;
use fawkes_core::time::Instant;
use fawkes_core::ws::RngCore;

/// The shortest read timeout handed to the socket (`std` refuses a zero timeout).
pub(crate) const MIN_READ_TIMEOUT: Duration = Duration::from_millis(10);

/// A TCP connection as an `embedded-io` byte stream.
#[derive(Debug)]
pub(crate) struct Tcp {
    stream: TcpStream,
}

impl Tcp {
    /// Connects to `addr` within `timeout`, with Nagle's algorithm off (frames are small and
    /// written whole).
    pub(crate) fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Tcp { stream })
    }

    /// How long the next read may wait for data, at least [`MIN_READ_TIMEOUT`].
    pub(crate) fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream
            .set_read_timeout(Some(timeout.max(MIN_READ_TIMEOUT)))
    }

    /// Closes both directions (what was written is still delivered).
    pub(crate) fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A socket error, with the `embedded-io` kind the driver looks at.
#[derive(Debug)]
pub(crate) struct TcpError(pub(crate) io::Error);

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TcpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl embedded_io::Error for TcpError {
    fn kind(&self) -> ErrorKind {
        match self.0.kind() {
            // A read timeout shows up as `WouldBlock` on Unix and `TimedOut` on Windows.
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::TimedOut,
            io::ErrorKind::Interrupted => ErrorKind::Interrupted,
            io::ErrorKind::ConnectionReset => ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted => ErrorKind::ConnectionAborted,
            io::ErrorKind::NotConnected => ErrorKind::NotConnected,
            io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
            io::ErrorKind::WriteZero => ErrorKind::WriteZero,
            _ => ErrorKind::Other,
        }
    }
}

impl embedded_io::ErrorType for Tcp {
    type Error = TcpError;
}

impl embedded_io::Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        self.stream.read(buf).map_err(TcpError)
    }
}

impl embedded_io::Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TcpError> {
        self.stream.write(buf).map_err(TcpError)
    }

    fn flush(&mut self) -> Result<(), TcpError> {
        self.stream.flush().map_err(TcpError)
    }
}

/// xorshift64*: fast and small, not cryptographic.
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    /// Seeded from the system time (never zero, which would stick at zero).
    pub(crate) fn from_time() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Fold the 128-bit count into 64 bits; truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        let seed = (nanos as u64) ^ ((nanos >> 64) as u64) ^ u64::from(std::process::id());
        XorShift(seed | 1)
    }
}

impl RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        // The high half is the better half of xorshift64*.
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The session's clock: milliseconds since [`Clock::new`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(std::time::Instant);

impl Clock {
    pub(crate) fn new() -> Self {
        Clock(std::time::Instant::now())
    }

    /// Now, on the session's time line.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The time left until `at` (zero if it has passed).
    pub(crate) fn until(&self, at: Instant) -> Duration {
        at.saturating_since(self.now()).into()
    }
}
