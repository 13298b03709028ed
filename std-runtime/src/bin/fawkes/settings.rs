//! The config file: TOML defaults for the flags, one table per subcommand. A flag (or its
//! environment variable) always wins over the file. Unknown keys are errors, so a typo does
//! not silently fall back to a default.
//!
//! ```toml
//! log_format = "json"
//!
//! [repeat]
//! upstream = "wss://example.com/socket/websocket"   # the token: FAWKES_UPSTREAM_TOKEN
//! topic = ["rooms:lobby"]
//! map = ["rooms:*=remote:*"]
//! listen = "127.0.0.1:4000"
//!
//! [tail]
//! url = "wss://example.com/socket/websocket"
//! topic = ["rooms:lobby"]
//! param = { user = "ops" }
//! timeout = "10s"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{
    self, DemoArgs, LogFormat, PushArgs, RepeatArgs, ServeArgs, SocketArgs, TailArgs,
};
use crate::secret::Secret;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    log_format: Option<LogFormat>,
    #[serde(default)]
    tail: TailFile,
    #[serde(default)]
    push: PushFile,
    #[serde(default)]
    serve: ServeFile,
    #[serde(default)]
    repeat: RepeatFile,
    #[serde(default)]
    demo: DemoFile,
}

/// `[serve]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    listen: Option<SocketAddr>,
    local_token: Option<Secret>,
    bus: Option<String>,
}

/// `[repeat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepeatFile {
    upstream: Option<String>,
    upstream_token: Option<Secret>,
    #[serde(default)]
    param: BTreeMap<String, String>,
    ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    topic: Vec<String>,
    #[serde(default)]
    map: Vec<String>,
    #[serde(default)]
    on_demand: Vec<String>,
    linger: Option<String>,
    replay: Option<usize>,
    bus: Option<String>,
    lease_ttl: Option<String>,
    listen: Option<SocketAddr>,
    local_token: Option<Secret>,
}

/// `[demo]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoFile {
    count: Option<u64>,
    interval: Option<String>,
    listen: Option<SocketAddr>,
}

/// The keys `tail` and `push` share (written out in each table: serde's `flatten` would
/// let unknown keys through).
#[derive(Debug, Default)]
struct SocketFile {
    url: Option<String>,
    param: BTreeMap<String, String>,
    token: Option<Secret>,
    ca_file: Option<std::path::PathBuf>,
    timeout: Option<String>,
}

macro_rules! socket_table {
    ($(#[$meta:meta])* struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            url: Option<String>,
            #[serde(default)]
            param: BTreeMap<String, String>,
            token: Option<Secret>,
            ca_file: Option<std::path::PathBuf>,
            timeout: Option<String>,
            $($(#[$fmeta])* $field: $ty,)*
        }

        impl $name {
            fn socket(&mut self) -> SocketFile {
                SocketFile {
                    url: self.url.take(),
                    param: std::mem::take(&mut self.param),
                    token: self.token.take(),
                    ca_file: self.ca_file.take(),
                    timeout: self.timeout.take(),
                }
            }
        }
    };
}

socket_table! {
/// `[tail]`.
struct TailFile {
    #[serde(default)]
    topic: Vec<String>,
    json: Option<bool>,
    count: Option<u64>,
}
}

socket_table! {
/// `[push]`.
struct PushFile {
    topic: Option<String>,
    event: Option<String>,
    payload: Option<String>,
    join_payload: Option<String>,
}
}

/// The config file could not be used.
#[derive(Debug)]
pub(crate) enum Error {
    /// Reading it failed.
    Read(std::path::PathBuf, std::io::Error),
    /// It is not valid TOML of the expected shape.
    Parse(std::path::PathBuf, toml::de::Error),
    /// A value in it is not valid.
    Value(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            Error::Parse(path, e) => write!(f, "invalid config file {}: {e}", path.display()),
            Error::Value(e) => write!(f, "invalid config value: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl File {
    /// Reads `path`, or the empty file when there is none.
    pub(crate) fn load(path: Option<&Path>) -> Result<File, Error> {
        let Some(path) = path else {
            return Ok(File::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read(path.to_path_buf(), e))?;
        toml::from_str(&text).map_err(|e| Error::Parse(path.to_path_buf(), e))
    }

    /// The log format: the flag, else the file, else text.
    pub(crate) fn log_format(&self, flag: Option<LogFormat>) -> LogFormat {
        flag.or(self.log_format).unwrap_or(LogFormat::Text)
    }

    /// `tail`'s flags with the file's values filled in where no flag was given.
    pub(crate) fn tail(mut self, mut args: TailArgs) -> Result<TailArgs, Error> {
        merge_socket(&mut args.socket, self.tail.socket())?;
        if args.topics.is_empty() {
            args.topics = self.tail.topic;
        }
        args.json |= self.tail.json.unwrap_or(false);
        args.count = args.count.or(self.tail.count);
        Ok(args)
    }

    /// `push`'s flags with the file's values filled in where no flag was given.
    pub(crate) fn push(mut self, mut args: PushArgs) -> Result<PushArgs, Error> {
        merge_socket(&mut args.socket, self.push.socket())?;
        args.topic = args.topic.or(self.push.topic);
        args.event = args.event.or(self.push.event);
        args.payload = args.payload.or(self.push.payload);
        args.join_payload = args.join_payload.or(self.push.join_payload);
        Ok(args)
    }
}

impl File {
    /// `serve`'s flags with the file's values filled in.
    pub(crate) fn serve(self, mut args: ServeArgs) -> ServeArgs {
        args.listen.listen = args.listen.listen.or(self.serve.listen);
        args.listen.local_token = args.listen.local_token.take().or(self.serve.local_token);
        args.bus = args.bus.take().or(self.serve.bus);
        args
    }

    /// `repeat`'s flags with the file's values filled in.
    pub(crate) fn repeat(self, mut args: RepeatArgs) -> Result<RepeatArgs, Error> {
        let file = self.repeat;
        args.upstream = args.upstream.take().or(file.upstream);
        args.upstream_token = args.upstream_token.take().or(file.upstream_token);
        if args.params.is_empty() {
            args.params = file.param.into_iter().collect();
        }
        args.ca_file = args.ca_file.take().or(file.ca_file);
        if args.topics.is_empty() {
            args.topics = file.topic;
        }
        if args.map.is_empty() {
            args.map = file.map;
        }
        if args.on_demand.is_empty() {
            args.on_demand = file.on_demand;
        }
        if args.linger.is_none() {
            args.linger = duration(file.linger.as_deref())?;
        }
        args.replay = args.replay.or(file.replay);
        args.bus = args.bus.take().or(file.bus);
        if args.lease_ttl.is_none() {
            args.lease_ttl = duration(file.lease_ttl.as_deref())?;
        }
        args.listen.listen = args.listen.listen.or(file.listen);
        args.listen.local_token = args.listen.local_token.take().or(file.local_token);
        Ok(args)
    }

    /// `demo`'s flags with the file's values filled in.
    pub(crate) fn demo(self, mut args: DemoArgs) -> Result<DemoArgs, Error> {
        args.count = args.count.or(self.demo.count);
        if args.interval.is_none() {
            args.interval = duration(self.demo.interval.as_deref())?;
        }
        args.listen = args.listen.or(self.demo.listen);
        Ok(args)
    }
}

fn duration(text: Option<&str>) -> Result<Option<Duration>, Error> {
    text.map(cli::parse_duration)
        .transpose()
        .map_err(Error::Value)
}

fn merge_socket(args: &mut SocketArgs, file: SocketFile) -> Result<(), Error> {
    args.url = args.url.take().or(file.url);
    if args.params.is_empty() {
        args.params = file.param.into_iter().collect();
    }
    args.token = args.token.take().or(file.token);
    args.ca_file = args.ca_file.take().or(file.ca_file);
    if args.timeout.is_none() {
        args.timeout = duration(file.timeout.as_deref())?;
    }
    Ok(())
}

/// The reply timeout when neither a flag nor the file sets one.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::File;

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<File>("[tail]\ntopics = [\"a\"]\n").unwrap_err();
        assert!(err.to_string().contains("topics"), "{err}");
    }

    #[test]
    fn the_bus_keys_parse() {
        let file: File = toml::from_str(
            "[serve]\nbus = \"redis://h:6379/\"\n\
             [repeat]\nbus = \"redis://h:6379/\"\nlease_ttl = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(file.serve.bus.as_deref(), Some("redis://h:6379/"));
        assert_eq!(file.repeat.lease_ttl.as_deref(), Some("2s"));
    }

    #[test]
    fn the_documented_example_parses() {
        let file: File = toml::from_str(
            "log_format = \"json\"\n[tail]\nurl = \"wss://h/socket/websocket\"\n\
             topic = [\"rooms:lobby\"]\nparam = { user = \"ops\" }\ntimeout = \"10s\"\n",
        )
        .unwrap();
        assert_eq!(file.tail.topic, ["rooms:lobby"]);
        assert_eq!(file.tail.param["user"], "ops");
    }
}
