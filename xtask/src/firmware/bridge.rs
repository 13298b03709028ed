//! The host bridge: QEMU's two serial ports on one side, the endpoint's TCP port on the
//! other. The data port is copied byte for byte both ways; the control port carries the
//! modem signals of `examples/firmware/src/modem.rs` (`D`ial and `H`ang up from the
//! firmware, `C`arrier and `N`o carrier from here), so each dial is one fresh TCP
//! connection and a connection the server closes is an end of stream for the firmware. No
//! byte of the WebSocket connection is looked at.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

const DIAL: u8 = b'D';
const HANG_UP: u8 = b'H';
const CARRIER: u8 = b'C';
const NO_CARRIER: u8 = b'N';

/// How long a dial may take before it is no carrier.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// The two ports QEMU's serial ports connect to (`-serial tcp:127.0.0.1:PORT`, in order).
pub(crate) struct Bridge {
    /// UART0: the WebSocket connection's bytes.
    pub(crate) data_port: u16,
    /// UART1: the modem signals.
    pub(crate) control_port: u16,
}

/// What the threads share: the serial sides and the TCP connection of the current dial.
struct Line {
    data: Option<TcpStream>,
    control: Option<TcpStream>,
    upstream: Option<TcpStream>,
    /// Counts dials and hang-ups, so a reader of an earlier connection stays silent.
    call: u64,
}

type Shared = Arc<Mutex<Line>>;

fn lock(line: &Shared) -> MutexGuard<'_, Line> {
    line.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Bridge {
    /// Listens on two loopback ports and bridges QEMU, once it connects, to `server`.
    pub(crate) fn start(server: SocketAddr) -> io::Result<Bridge> {
        let data = TcpListener::bind("127.0.0.1:0")?;
        let control = TcpListener::bind("127.0.0.1:0")?;
        let bridge = Bridge {
            data_port: data.local_addr()?.port(),
            control_port: control.local_addr()?.port(),
        };
        let line = Arc::new(Mutex::new(Line {
            data: None,
            control: None,
            upstream: None,
            call: 0,
        }));
        let shared = line.clone();
        thread::spawn(move || {
            if let Ok((serial, _)) = data.accept() {
                serial_to_upstream(serial, &shared);
            }
        });
        thread::spawn(move || {
            if let Ok((serial, _)) = control.accept() {
                signals(serial, &line, server);
            }
        });
        Ok(bridge)
    }
}

/// UART0 to the current TCP connection; bytes sent with no connection are dropped, as a
/// modem on hook drops them.
fn serial_to_upstream(serial: TcpStream, line: &Shared) {
    let Ok(mut reader) = serial.try_clone() else {
        return;
    };
    lock(line).data = Some(serial);
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = reader.read(&mut buf) {
        if let Some(upstream) = lock(line).upstream.as_mut() {
            // A failed write shows up as the reader's end of stream.
            let _ = upstream.write_all(&buf[..n]);
        }
    }
}

/// Reads the firmware's signals and dials or hangs up.
fn signals(serial: TcpStream, line: &Shared, server: SocketAddr) {
    let Ok(mut reader) = serial.try_clone() else {
        return;
    };
    lock(line).control = Some(serial);
    let mut byte = [0u8; 1];
    while let Ok(1) = reader.read(&mut byte) {
        match byte[0] {
            DIAL => dial(line, server),
            HANG_UP => {
                let mut line = lock(line);
                line.call += 1;
                if let Some(upstream) = line.upstream.take() {
                    let _ = upstream.shutdown(Shutdown::Both);
                    println!("  [bridge] hang-up: connection closed");
                }
            }
            _ => {}
        }
    }
}

fn dial(line: &Shared, server: SocketAddr) {
    let mut guard = lock(line);
    guard.call += 1;
    if let Some(old) = guard.upstream.take() {
        let _ = old.shutdown(Shutdown::Both);
    }
    let call = guard.call;
    let connected = TcpStream::connect_timeout(&server, DIAL_TIMEOUT)
        .and_then(|tcp| tcp.try_clone().map(|reader| (tcp, reader)));
    let signal = match connected {
        Ok((tcp, reader)) => {
            let _ = tcp.set_nodelay(true);
            guard.upstream = Some(tcp);
            let shared = line.clone();
            thread::spawn(move || upstream_to_serial(reader, &shared, call));
            println!("  [bridge] dial: connected to {server}");
            CARRIER
        }
        Err(e) => {
            println!("  [bridge] dial: {server}: {e}");
            NO_CARRIER
        }
    };
    send_signal(&mut guard, signal);
}

/// The TCP connection of call `call` to UART0; its end is no carrier (unless the firmware
/// hung up or dialled again meanwhile).
fn upstream_to_serial(mut upstream: TcpStream, line: &Shared, call: u64) {
    let mut buf = [0u8; 4096];
    loop {
        let n = upstream.read(&mut buf).unwrap_or(0);
        let mut guard = lock(line);
        if guard.call != call {
            return;
        }
        if n == 0 {
            guard.upstream = None;
            guard.call += 1;
            println!("  [bridge] the server closed the connection: no carrier");
            send_signal(&mut guard, NO_CARRIER);
            return;
        }
        if let Some(data) = guard.data.as_mut() {
            let _ = data.write_all(&buf[..n]);
        }
    }
}

fn send_signal(line: &mut Line, signal: u8) {
    if let Some(control) = line.control.as_mut() {
        let _ = control.write_all(&[signal]);
    }
}
