//! `fawkes push`: join, push one event, print the reply.

use std::process::ExitCode;

use fawkes::client::{Error, Payload};

use crate::cli::PushArgs;
use crate::connect;
use crate::exit;

/// Connection attempts before `push` reports the socket unreachable.
const ATTEMPTS: u32 = 2;

pub(crate) async fn run(args: PushArgs) -> ExitCode {
    let (Some(topic), Some(event)) = (args.topic.as_deref(), args.event.as_deref()) else {
        return exit::fail(exit::USAGE, "push needs --topic and --event");
    };
    let payload = match raw_json(args.payload.as_deref(), "--payload") {
        Ok(p) => p,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    let join_payload = match raw_json(args.join_payload.as_deref(), "--join-payload") {
        Ok(p) => p,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    let builder = match connect::builder(&args.socket) {
        Ok(b) => b,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    let (client, _events) = match builder.max_reconnect_attempts(Some(ATTEMPTS)).connect() {
        Ok(c) => c,
        Err(e) => return exit::fail(exit::USAGE, connect::config_error(e)),
    };
    let result = async {
        client.join(topic, join_payload).await?;
        client.push(topic, event, payload).await
    }
    .await;
    client.disconnect().await;
    match result {
        Ok(response) => {
            println!("{}", printable(&response));
            ExitCode::SUCCESS
        }
        Err(Error::Reply(reply)) => {
            println!("{}", printable(&reply.response));
            exit::fail(
                exit::ERROR_REPLY,
                format!("the server replied with status {:?}", reply.status),
            )
        }
        Err(Error::JoinRefused(response)) => exit::fail(
            exit::JOIN_REFUSED,
            format!("join of {topic:?} refused: {}", printable(&response)),
        ),
        Err(e) => exit::fail(exit::for_error(&e), exit::describe(&e)),
    }
}

/// JSON text as given (default `{}`), checked but not re-encoded.
fn raw_json(text: Option<&str>, flag: &str) -> Result<Payload, String> {
    let text = text.unwrap_or("{}").to_owned();
    Payload::raw_json(text).map_err(|e| format!("{flag}: {e}"))
}

/// A payload for the terminal: JSON as it came, binary as its length.
pub(crate) fn printable(payload: &Payload) -> String {
    match payload.as_json_str() {
        Some(json) => json.to_owned(),
        None => format!("<{} bytes>", payload.as_bytes().len()),
    }
}
