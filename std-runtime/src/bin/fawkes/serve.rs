//! `fawkes serve`: the local endpoint alone, with `POST /api/broadcast/:topic/:event` for
//! scripts behind the same token as the WebSocket.

use std::process::ExitCode;

use fawkes::endpoint::bus::RedisBus;
use fawkes::endpoint::{Endpoint, Shutdown, TokenGate};

use crate::cli::{ServeArgs, DEFAULT_LISTEN};
use crate::exit;
use crate::local::shutdown_signal;

pub(crate) async fn run(args: ServeArgs) -> ExitCode {
    let addr = args.listen.listen.unwrap_or(DEFAULT_LISTEN);
    let local_token = args.listen.local_token.map(|t| t.expose().to_owned());
    let mut builder = Endpoint::builder()
        .broadcast_api(local_token.clone())
        .handler(TokenGate::new(local_token));
    if let Some(url) = &args.bus {
        match RedisBus::new(url) {
            Ok(bus) => builder = builder.pubsub(bus),
            Err(e) => return exit::fail(exit::USAGE, e),
        }
    }
    let endpoint = builder.bind(addr).await;
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    // The one line a script waits for: where to connect.
    println!(
        "listening on ws://{}/socket/websocket",
        endpoint.local_addr()
    );
    shutdown_signal().await;
    endpoint.shutdown(Shutdown::Stop).await;
    ExitCode::SUCCESS
}
