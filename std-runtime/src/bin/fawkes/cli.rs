//! The command line: every subcommand and flag, with the environment variable that can set
//! it. A flag beats its variable, which beats the config file, which beats the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::secret::Secret;

/// fawkes: a Phoenix Channels client, endpoint and repeater.
///
/// `fawkes demo` shows the whole thing working in one process; `fawkes repeat` is the
/// product's job; `fawkes serve` runs the endpoint alone; `fawkes tail` and `fawkes push`
/// talk to any Phoenix socket. Logs go to stderr (filter with `RUST_LOG`, for
/// example `RUST_LOG=fawkes=debug`); what a command prints for you goes to stdout.
#[derive(Debug, Parser)]
#[command(name = "fawkes", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, env = "FAWKES_LOG_FORMAT")]
    pub(crate) log_format: Option<LogFormat>,

    /// A TOML file with defaults for any flag: top-level `log_format`, and one table per
    /// subcommand (`[tail]`, `[push]`, `[serve]`, `[repeat]`, `[demo]`) whose keys are the flag names with `_` for `-`.
    #[arg(long, global = true, value_name = "FILE", env = "FAWKES_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Runtime worker threads (default: one per core). `1` runs everything on one thread,
    /// which spends the least CPU per relayed message (no wake-ups across threads).
    #[arg(long, global = true, value_name = "N", env = "FAWKES_THREADS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Join topics on a Phoenix socket and print every message, one line each.
    ///
    /// Each line is `TOPIC EVENT PAYLOAD` (binary payloads as `<N bytes>`), or with
    /// `--json` one JSON object `{"topic":..,"event":..,"payload":..}` with the payload as
    /// it came on the wire. Runs until interrupted (Ctrl-C) or `--count` messages.
    Tail(TailArgs),
    /// Join a topic, push one event, print the reply's response and exit.
    ///
    /// Exit status: 0 for an ok reply, 3 for an error reply, 4 when the join is refused,
    /// 5 when no reply comes within `--timeout`, 6 when the socket cannot be reached, 2 for
    /// a usage error, 1 for anything else.
    Push(PushArgs),
    /// Everything in one process on loopback, zero setup: a stand-in upstream Phoenix
    /// service publishing a ticker on `rooms:lobby`, the repeater connected to it over real
    /// WebSockets, the local endpoint, and a subscriber printing what arrives.
    ///
    /// Prints the URL a phoenix.js client can join too. Runs until interrupted, or until
    /// `--count` messages arrived.
    Demo(DemoArgs),
    /// Repeat an upstream Phoenix service's messages, byte for byte, into a local endpoint.
    ///
    /// Static `--topic`s are joined at once; with `--on-demand PATTERN` a local join of a
    /// matching topic joins it upstream, and the upstream topic is left `--linger` after
    /// its last local subscriber. `--map FROM=TO` renames topics (`rooms:*=remote:*`).
    /// Shuts down gracefully on SIGTERM and Ctrl-C (close frames both ways, exit 0).
    Repeat(RepeatArgs),
    /// Run only the local endpoint: WebSocket at `/socket/websocket`, `GET /health`,
    /// `GET /metrics`, and `POST /api/broadcast/:topic/:event` for scripts (the body is
    /// the payload: JSON, or binary with `Content-Type: application/octet-stream`; with
    /// `--local-token`, send `Authorization: Bearer <token>`).
    ///
    /// Example: `curl -d '{"body":"hi"}' http://127.0.0.1:4000/api/broadcast/rooms:lobby/new_msg`.
    /// Shuts down gracefully on SIGTERM and Ctrl-C.
    Serve(ServeArgs),
}

/// The local endpoint's flags, shared by `serve`, `repeat` and `demo`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The address to listen on (default 127.0.0.1:4000; loopback unless told otherwise).
    #[arg(long, value_name = "ADDR", env = "FAWKES_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,

    /// A token local clients must present (phoenix.js `authToken`, or a `token` connect
    /// param); without it every local client may connect.
    #[arg(
        long = "local-token",
        env = "FAWKES_LOCAL_TOKEN",
        hide_env_values = true
    )]
    pub(crate) local_token: Option<Secret>,
}

/// `fawkes serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen.
    #[command(flatten)]
    pub(crate) listen: ListenArgs,

    /// A Redis server shared by several `fawkes serve` nodes (`redis://host:6379/`): a
    /// broadcast on any node reaches the subscribers of every node. Without it, broadcasts
    /// stay in this process.
    #[arg(long, value_name = "URL", env = "FAWKES_BUS", hide_env_values = true)]
    pub(crate) bus: Option<String>,
}

/// `fawkes repeat`.
#[derive(Debug, Args)]
pub(crate) struct RepeatArgs {
    /// The upstream socket URL, `ws://` or `wss://`.
    #[arg(long, value_name = "URL", env = "FAWKES_UPSTREAM")]
    pub(crate) upstream: Option<String>,

    /// The upstream's Phoenix 1.8 auth token (never logged).
    #[arg(long, env = "FAWKES_UPSTREAM_TOKEN", hide_env_values = true)]
    pub(crate) upstream_token: Option<Secret>,

    /// A connect param for the upstream (`key=value`, repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) params: Vec<(String, String)>,

    /// A PEM file of the CAs to trust for a `wss://` upstream.
    #[arg(long, value_name = "FILE", env = "FAWKES_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// An upstream topic to repeat from the start (repeatable).
    #[arg(long = "topic", value_name = "TOPIC")]
    pub(crate) topics: Vec<String>,

    /// Repeat upstream topics under other local names: `FROM=TO`, exact or prefixes
    /// ending in `*` (repeatable).
    #[arg(long = "map", value_name = "FROM=TO")]
    pub(crate) map: Vec<String>,

    /// Join upstream when a local client joins a topic matching this local pattern
    /// (`rooms:*`, repeatable).
    #[arg(long = "on-demand", value_name = "PATTERN")]
    pub(crate) on_demand: Vec<String>,

    /// How long an on-demand topic stays joined upstream after its last local subscriber
    /// left (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) linger: Option<Duration>,

    /// Replay the last N messages of each topic to every local client that joins, right
    /// after its join reply (default 0: none, as Phoenix).
    #[arg(long, value_name = "N", env = "FAWKES_REPLAY")]
    pub(crate) replay: Option<usize>,

    /// A Redis server shared with other repeaters of the same upstream and topics (and
    /// `fawkes serve --bus` nodes): one of them holds a lease and relays, the local
    /// endpoints share its broadcasts, and another takes over within `--lease-ttl` when
    /// the holder dies.
    #[arg(long, value_name = "URL", env = "FAWKES_BUS", hide_env_values = true)]
    pub(crate) bus: Option<String>,

    /// How long a dead lease holder keeps the other repeaters waiting (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) lease_ttl: Option<Duration>,

    /// Where to listen.
    #[command(flatten)]
    pub(crate) listen: ListenArgs,
}

/// `fawkes demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Exit after this many repeated messages.
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,

    /// How often the stand-in upstream publishes (default 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) interval: Option<Duration>,

    /// Where the local endpoint listens (default 127.0.0.1:4000; port 0 picks one).
    #[arg(long, value_name = "ADDR", env = "FAWKES_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
}

/// How to reach a Phoenix socket: shared by `tail` and `push`.
#[derive(Debug, Args)]
pub(crate) struct SocketArgs {
    /// The socket URL, `ws://` or `wss://`, usually ending in `/socket/websocket`.
    pub(crate) url: Option<String>,

    /// A connect param sent in the query (`key=value`, repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) params: Vec<(String, String)>,

    /// The Phoenix 1.8 auth token (sent as a WebSocket subprotocol, never logged).
    #[arg(long, env = "FAWKES_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<Secret>,

    /// A PEM file of the CAs to trust for `wss://` instead of the built-in roots.
    #[arg(long, value_name = "FILE", env = "FAWKES_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// How long to wait for the TCP, TLS and WebSocket handshakes, and for each reply.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

/// `fawkes tail`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// Where to connect.
    #[command(flatten)]
    pub(crate) socket: SocketArgs,

    /// A topic to join (repeatable).
    #[arg(long = "topic", value_name = "TOPIC")]
    pub(crate) topics: Vec<String>,

    /// Print each message as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,

    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
}

/// `fawkes push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Where to connect.
    #[command(flatten)]
    pub(crate) socket: SocketArgs,

    /// The topic to join and push on.
    #[arg(long)]
    pub(crate) topic: Option<String>,

    /// The event to push.
    #[arg(long)]
    pub(crate) event: Option<String>,

    /// The payload: JSON text, sent as written (default `{}`).
    #[arg(long, value_name = "JSON")]
    pub(crate) payload: Option<String>,

    /// The join payload: JSON text (default `{}`).
    #[arg(long, value_name = "JSON")]
    pub(crate) join_payload: Option<String>,
}

/// An address to listen on; 127.0.0.1 unless told otherwise.
pub(crate) const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4000);

fn parse_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// `500ms`, `5s`, `2m`, or bare seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 500ms, 5s or 2m, got {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("unknown unit {unit:?} in {text:?}: use ms, s or m")),
    }
}
