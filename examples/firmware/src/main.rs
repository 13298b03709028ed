//! fawkes-core on a Cortex-M4: a Phoenix Channels client over a serial link, on QEMU's
//! `mps2-an386` board.
//!
//! It joins `rooms:lobby`, prints every message it receives over semihosting, pushes a
//! reading every second and prints the replies. Everything protocol (the upgrade, frames,
//! refs, heartbeats, reconnects with backoff, rejoins) is `fawkes_core`'s; this file is
//! the loop around it, and the board (`lib.rs`) brings the rest, one file per concern:
//!
//! - `uart.rs`: the UART as an `embedded_io` byte stream, and the interrupt that wakes it,
//! - `modem.rs`: the link to the server: a data UART plus a control UART for dial, hang-up
//!   and carrier (the host bridge turns a dial into a TCP connection),
//! - `clock.rs`: the millisecond clock from SysTick,
//! - `rng.rs`: masks and keys for the WebSocket,
//! - `stack.rs`: the stack's high-water mark.
//!
//! `cargo xtask firmware` builds it, runs it against `fawkes serve` through the bridge and
//! checks what it prints.

#![no_std]
#![no_main]

use core::fmt::Write as _;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use fawkes_core::codec::{Payload, RawJson};
use fawkes_core::connection::Connection;
use fawkes_core::io::{self, Round};
use fawkes_core::session::{ChannelId, Config, Event, Inbound, PushRef};
use fawkes_core::ws::UpgradeRequest;
use fawkes_firmware::clock::Clock;
use fawkes_firmware::modem::Modem;
use fawkes_firmware::rng::Rng;
use fawkes_firmware::stack;
use panic_semihosting as _;

/// The footprint's terms: 4 channels, messages of up to 1 KiB.
const CHANNELS: usize = 4;
/// Queued session events and pending pushes.
const QUEUE: usize = 8;
/// The largest message, in and out.
const MESSAGE: usize = 1024;
/// A client frame's largest header (2 + 8 bytes of length + 4 of mask).
const FRAME_HEADER: usize = 14;

/// The receive buffer bounds the largest message (and the upgrade response's head).
type Link = Connection<Rng, [u8; MESSAGE + FRAME_HEADER], CHANNELS, QUEUE>;

const TOPIC: &str = "rooms:lobby";
const READING_EVERY_MS: u64 = 1000;

#[entry]
fn main() -> ! {
    let (clock, mut modem) = fawkes_firmware::start();

    let config = Config::default();
    let mut conn = Link::new(config, Rng::from_clock(), [0; MESSAGE + FRAME_HEADER]);
    let mut tx = [0u8; MESSAGE + FRAME_HEADER];
    hprintln!(
        "firmware: booted, connection state {} bytes (receive buffer included), transmit \
         buffer {} bytes",
        core::mem::size_of::<Link>(),
        tx.len()
    );
    // The bridge picks the server; the Host header only has to be there.
    let request = UpgradeRequest::to("fawkes", "/socket/websocket");

    conn.connect(clock.now());
    let lobby = match conn.join(clock.now(), TOPIC, RawJson::EMPTY_OBJECT) {
        Ok(lobby) => lobby,
        Err(e) => panic!("join {TOPIC}: {e}"),
    };
    let mut app = App {
        lobby,
        joined: false,
        online: false,
        readings: 0,
        next_reading: READING_EVERY_MS,
        dial_timeout_ms: config.connect_timeout.as_millis(),
    };
    loop {
        while let Some(event) = conn.poll_event() {
            app.handle_event(event, &mut conn, &mut modem, &clock, &request, &mut tx);
        }
        if !app.online {
            // Nothing to read: sleep until the session's next timer (the reconnect).
            match conn.poll_timeout() {
                Some(at) => clock.sleep_until(at.as_millis()),
                None => cortex_m::asm::wfi(),
            }
            conn.handle_timeout(clock.now());
            continue;
        }
        if Clock::millis() >= app.next_reading {
            app.next_reading = Clock::millis() + READING_EVERY_MS;
            if app.joined {
                app.push_reading(&mut conn, &mut modem, &clock, &mut tx);
            }
        }
        let wake = conn
            .poll_timeout()
            .map_or(app.next_reading, |at| at.as_millis().min(app.next_reading));
        modem.set_deadline(Some(wake));
        let round = io::poll(&mut conn, &mut modem, &mut || clock.now(), &mut tx, print);
        match round {
            Ok(Round::Open) => {}
            Ok(Round::Closed) => app.hang_up(&mut modem),
            // Also reported as an event (a refused upgrade, a protocol error, the line lost).
            Err(e) => hprintln!("* {}", e),
        }
    }
}

/// The application's state around the connection.
struct App {
    lobby: ChannelId,
    joined: bool,
    online: bool,
    readings: u32,
    next_reading: u64,
    /// How long a dial may take: the session's connect timeout.
    dial_timeout_ms: u64,
}

impl App {
    fn handle_event(
        &mut self,
        event: Event,
        conn: &mut Link,
        modem: &mut Modem,
        clock: &Clock,
        request: &UpgradeRequest<'_>,
        tx: &mut [u8],
    ) {
        match event {
            Event::Connect { transport } => {
                hprintln!("* dialing (attempt {})", transport.0);
                if modem.dial(self.dial_timeout_ms) {
                    // A failed write is reported as `Event::Disconnected`.
                    self.online = io::start(conn, modem, clock.now(), request, tx).is_ok();
                } else {
                    hprintln!("* no carrier");
                    conn.handle_disconnected(clock.now());
                }
            }
            Event::Connected => hprintln!("* connected"),
            Event::Disconnected { reason } => {
                hprintln!("* disconnected: {}", reason);
                self.joined = false;
                self.hang_up(modem);
            }
            Event::ReconnectScheduled { at, attempt } => hprintln!(
                "* reconnect #{} in {} ms",
                attempt,
                at.as_millis().saturating_sub(Clock::millis())
            ),
            Event::Joined(channel) if channel == self.lobby => {
                self.joined = true;
                hprintln!("* joined {}", TOPIC);
            }
            Event::ChannelErrored { channel, .. } if channel == self.lobby => {
                self.joined = false;
                hprintln!("* {} errored; it rejoins by itself", TOPIC);
            }
            Event::JoinRefused(_) => hprintln!("* join refused"),
            Event::JoinTimeout(_) => hprintln!("* join timed out"),
            Event::PushTimeout { push, .. } => hprintln!("* push {} timed out", push.0),
            Event::PushAborted { push, .. } => hprintln!("* push {} aborted", push.0),
            Event::EncodeFailed { error, .. } => hprintln!("* frame dropped: {}", error),
            Event::EventsLost(n) => hprintln!("* {} events lost", n),
            // Rejoin schedules, leaves: nothing to say.
            _ => {}
        }
    }

    /// Pushes `reading {"n": N, "stack_peak": BYTES}`; the reply is printed when it comes.
    fn push_reading(&mut self, conn: &mut Link, modem: &mut Modem, clock: &Clock, tx: &mut [u8]) {
        self.readings += 1;
        let (peak, size) = stack::peak();
        let mut text = heapless::String::<64>::new();
        // 64 bytes hold the longest reading (two u32s and the names).
        let _ = write!(text, r#"{{"n":{},"stack_peak":{}}}"#, self.readings, peak);
        let Ok(payload) = RawJson::new(&text) else {
            return;
        };
        let now = clock.now();
        match conn.push(now, self.lobby, "reading", payload, tx) {
            Ok((PushRef(push), out)) => {
                // A failed write is reported as `Event::Disconnected`.
                let _ = io::send(conn, modem, now, tx, out);
                hprintln!("> reading {} (ref {})", text, push);
                hprintln!("stack: peak {} of {} bytes", peak, size);
            }
            Err(e) => hprintln!("* cannot push: {}", e),
        }
    }

    fn hang_up(&mut self, modem: &mut Modem) {
        self.online = false;
        modem.hang_up();
    }
}

/// Prints what arrived, borrowed from the receive buffer.
fn print(inbound: Inbound<'_>) {
    match inbound {
        Inbound::JoinReply { reply, .. } => {
            hprintln!("< join reply ({}): {}", reply.status, Show(reply.response));
        }
        Inbound::Reply { reply, push, .. } => {
            hprintln!(
                "< reply to {} ({}): {}",
                push.0,
                reply.status,
                Show(reply.response)
            );
        }
        Inbound::Message { message, .. } => {
            hprintln!(
                "< {} {}: {}",
                message.topic,
                message.event,
                Show(message.payload)
            );
        }
        _ => {}
    }
}

/// A payload as text: JSON as it came, binary as its length.
struct Show<'a>(Payload<'a>);

impl core::fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Payload::Json(json) => f.write_str(json.as_str()),
            Payload::Binary(bytes) => write!(f, "<{} binary bytes>", bytes.len()),
        }
    }
}
