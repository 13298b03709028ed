//! `fawkes repeat`: an upstream's topics repeated into the local endpoint.

use std::process::ExitCode;

use fawkes::client::Client;
use fawkes::endpoint::TokenGate;
use fawkes::repeater::{Repeater, Rule, Upstream};

use crate::cli::{RepeatArgs, DEFAULT_LISTEN};
use crate::exit;
use crate::local::shutdown_signal;

pub(crate) async fn run(args: RepeatArgs) -> ExitCode {
    let Some(url) = args.upstream.as_deref() else {
        return exit::fail(
            exit::USAGE,
            "repeat needs --upstream URL (or FAWKES_UPSTREAM)",
        );
    };
    if args.topics.is_empty() && args.on_demand.is_empty() {
        return exit::fail(
            exit::USAGE,
            "repeat needs at least one --topic or --on-demand",
        );
    }
    let mut client = Client::builder(url);
    for (key, value) in &args.params {
        client = client.param(key, value);
    }
    if let Some(token) = &args.upstream_token {
        client = client.auth_token(token.expose());
    }
    if let Some(path) = &args.ca_file {
        client = client.ca_file(path);
    }
    let mut upstream = Upstream::new(client);
    for topic in &args.topics {
        upstream = upstream.topic(topic);
    }
    for rule in &args.map {
        match rule.parse::<Rule>() {
            Ok(rule) => upstream = upstream.map(rule),
            Err(e) => return exit::fail(exit::USAGE, e),
        }
    }
    for pattern in &args.on_demand {
        upstream = upstream.on_demand(pattern);
    }
    if let Some(linger) = args.linger {
        upstream = upstream.linger(linger);
    }
    let addr = args.listen.listen.unwrap_or(DEFAULT_LISTEN);
    let local_token = args.listen.local_token.map(|t| t.expose().to_owned());
    let repeater = Repeater::builder()
        .local_handler(TokenGate::new(local_token))
        .upstream(upstream)
        .replay(args.replay.unwrap_or(0))
        .bind(addr)
        .await;
    let repeater = match repeater {
        Ok(repeater) => repeater,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    println!(
        "listening on ws://{}/socket/websocket",
        repeater.local_addr()
    );
    shutdown_signal().await;
    repeater.shutdown().await;
    ExitCode::SUCCESS
}
