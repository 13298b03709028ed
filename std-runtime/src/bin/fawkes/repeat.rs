//! `fawkes repeat`: an upstream's topics repeated into the local endpoint.

use std::process::ExitCode;

use fawkes::client::Client;
use fawkes::endpoint::bus::{Gated, Lease, LeaseHandle, RedisBus};
use fawkes::endpoint::{Endpoint, TokenGate};
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
    let mut builder = Repeater::builder();
    let mut _lease: Option<LeaseHandle> = None;
    if let Some(bus_url) = &args.bus {
        match lease_gated_bus(bus_url, url, &args.topics, args.lease_ttl) {
            Ok((adapter, handle)) => {
                builder = builder.endpoint(Endpoint::builder().pubsub(adapter));
                _lease = Some(handle);
            }
            Err(e) => return exit::fail(exit::USAGE, e),
        }
    }
    let repeater = builder
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

/// The endpoint's bus adapter for `--bus`, publishing only while this repeater holds the
/// relay lease of its upstream and topics, and the running lease.
fn lease_gated_bus(
    bus_url: &str,
    upstream: &str,
    topics: &[String],
    ttl: Option<std::time::Duration>,
) -> Result<(Gated<RedisBus>, LeaseHandle), fawkes::endpoint::bus::BusError> {
    let mut topics = topics.to_vec();
    topics.sort();
    // Repeaters of the same upstream and topics share one lease; the query (which may
    // carry secrets) stays out of the key, which is logged.
    let upstream = upstream.split('?').next().unwrap_or(upstream);
    let key = format!("fawkes:lease:{upstream}|{}", topics.join(","));
    let mut lease = Lease::new(bus_url, key)?;
    if let Some(ttl) = ttl {
        lease = lease.ttl(ttl);
    }
    let handle = lease.start();
    Ok((Gated::new(RedisBus::new(bus_url)?, lease), handle))
}
