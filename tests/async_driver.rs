//! Issue 8 item 9: the async driver races its read against the caller's timer, so a caller
//! never has to cancel it (which could cut a frame in half): with a server that stays silent
//! after the upgrade, `nonblocking::poll` returns at each timer, the heartbeat goes out, and
//! the heartbeat timeout ends the link with a close frame 1000. Real sockets on 127.0.0.1.

use std::time::Duration;

use fawkes_core::connection::Connection8;
use fawkes_core::io::{nonblocking, Round};
use fawkes_core::session::{Config, DisconnectReason, Event};
use fawkes_core::time::Instant;
use fawkes_core::ws::{Accept, RngCore, UpgradeRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A tokio TCP stream as an `embedded-io-async` byte stream.
struct Stream(TcpStream);

impl embedded_io_async::ErrorType for Stream {
    type Error = embedded_io_async::ErrorKind;
}

impl embedded_io_async::Read for Stream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.0
            .read(buf)
            .await
            .map_err(|_| embedded_io_async::ErrorKind::Other)
    }
}

impl embedded_io_async::Write for Stream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0
            .write(buf)
            .await
            .map_err(|_| embedded_io_async::ErrorKind::Other)
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.0
            .flush()
            .await
            .map_err(|_| embedded_io_async::ErrorKind::Other)
    }
}

struct Counter(u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.iter_mut().for_each(|b| *b = self.next_u32() as u8);
    }
}

/// Reads one masked client frame: (opcode, unmasked payload).
async fn client_frame(socket: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    socket.read_exact(&mut head).await.unwrap();
    let len = usize::from(head[1] & 0x7f);
    assert!(len < 126, "short frames only");
    let mut mask = [0u8; 4];
    socket.read_exact(&mut mask).await.unwrap();
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await.unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    (head[0] & 0x0f, payload)
}

/// Accepts one connection, answers the upgrade, then never sends a frame; returns what the
/// client sent.
async fn silent_server(listener: TcpListener) -> Vec<(u8, Vec<u8>)> {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        socket.read_exact(&mut byte).await.unwrap();
        request.push(byte[0]);
    }
    let request = String::from_utf8(request).unwrap();
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        Accept::for_key(key).as_str()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
    let mut frames = Vec::new();
    loop {
        let frame = client_frame(&mut socket).await;
        let close = frame.0 == 0x8;
        frames.push(frame);
        if close {
            return frames;
        }
    }
}

#[tokio::test]
async fn item_09_async_poll_returns_at_each_timer_instead_of_waiting_to_be_cancelled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(silent_server(listener));

    let start = tokio::time::Instant::now();
    let mut clock = move || {
        let millis = start.elapsed().as_millis();
        Instant::from_millis(u64::try_from(millis).unwrap())
    };
    let config = Config {
        heartbeat_interval: fawkes_core::time::Duration::from_millis(100),
        ..Config::default()
    };
    let mut conn = Connection8::new(config, Counter(7), [0; 4096]);
    let mut tx = [0u8; 1024];
    conn.connect(clock());
    let host = addr.ip().to_string();
    let request = UpgradeRequest::to(&host, "/socket/websocket").port(addr.port());
    let mut stream = None;
    let mut events = Vec::new();
    let mut rounds = 0;
    // Bounded: the link must end by itself (heartbeat timeout) well within this.
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            while let Some(event) = conn.poll_event() {
                if let Event::Connect { .. } = event {
                    let mut tcp = Stream(TcpStream::connect(addr).await.unwrap());
                    nonblocking::start(&mut conn, &mut tcp, clock(), &request, &mut tx)
                        .await
                        .unwrap();
                    stream = Some(tcp);
                }
                events.push(event);
            }
            let tcp = stream.as_mut().expect("a stream");
            rounds += 1;
            let sleep = |at: Instant| {
                tokio::time::sleep_until(start + Duration::from_millis(at.as_millis()))
            };
            let round = nonblocking::poll(&mut conn, tcp, &mut clock, sleep, &mut tx, |_| {})
                .await
                .unwrap();
            if round == Round::Closed {
                return;
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "the driver hung; events: {events:?}");
    while let Some(event) = conn.poll_event() {
        events.push(event);
    }
    assert!(
        events.contains(&Event::Disconnected {
            reason: DisconnectReason::HeartbeatTimeout
        }),
        "{events:?}"
    );
    // Each timer ended a round on its own: the heartbeat and its timeout at least.
    assert!(rounds >= 3, "{rounds} rounds");
    let frames = server.await.unwrap();
    assert_eq!(
        frames[0],
        (0x1, br#"[null,"1","phoenix","heartbeat",{}]"#.to_vec())
    );
    let (opcode, close) = frames.last().unwrap();
    assert_eq!(*opcode, 0x8);
    assert_eq!(&close[..2], &1000u16.to_be_bytes(), "close code 1000");
    assert_eq!(&close[2..], b"heartbeat timeout");
}
