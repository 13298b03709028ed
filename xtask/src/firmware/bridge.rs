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

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's side: the two serial ports, connected to the bridge.
    fn serial(bridge: &Bridge) -> (TcpStream, TcpStream) {
        let data = TcpStream::connect(("127.0.0.1", bridge.data_port)).unwrap();
        let control = TcpStream::connect(("127.0.0.1", bridge.control_port)).unwrap();
        for stream in [&data, &control] {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
        }
        (data, control)
    }

    fn signal(control: &mut TcpStream) -> u8 {
        let mut byte = [0u8; 1];
        control.read_exact(&mut byte).unwrap();
        byte[0]
    }

    fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        stream.read_exact(&mut buf).unwrap();
        buf
    }

    #[test]
    fn a_dial_is_one_tcp_connection_copied_byte_for_byte_and_its_end_is_no_carrier() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let bridge = Bridge::start(server.local_addr().unwrap()).unwrap();
        let (mut data, mut control) = serial(&bridge);

        control.write_all(&[DIAL]).unwrap();
        let (mut upstream, _) = server.accept().unwrap();
        upstream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(signal(&mut control), CARRIER);
        // Every byte value, both ways, unchanged (D, H, C and N included).
        let all: Vec<u8> = (0..=255).collect();
        data.write_all(&all).unwrap();
        assert_eq!(read_n(&mut upstream, 256), all);
        upstream.write_all(&all).unwrap();
        assert_eq!(read_n(&mut data, 256), all);

        drop(upstream);
        assert_eq!(signal(&mut control), NO_CARRIER);

        // The next dial is a new connection.
        control.write_all(&[DIAL]).unwrap();
        let (mut second, _) = server.accept().unwrap();
        assert_eq!(signal(&mut control), CARRIER);
        second.write_all(b"fresh").unwrap();
        assert_eq!(read_n(&mut data, 5), b"fresh");
    }

    #[test]
    fn a_hang_up_closes_the_connection_without_a_signal_and_a_dead_server_is_no_carrier() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let bridge = Bridge::start(addr).unwrap();
        let (_data, mut control) = serial(&bridge);

        control.write_all(&[DIAL]).unwrap();
        let (mut upstream, _) = server.accept().unwrap();
        assert_eq!(signal(&mut control), CARRIER);
        control.write_all(&[HANG_UP]).unwrap();
        let mut rest = Vec::new();
        upstream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());

        drop(server);
        control.write_all(&[DIAL]).unwrap();
        // The hang-up sent nothing: the first signal after it answers this dial.
        assert_eq!(signal(&mut control), NO_CARRIER);
    }
}
