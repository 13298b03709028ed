//! The endpoint's HTTP side and hooks over real sockets: `/health`, `/metrics`, refused
//! upgrades (connect hook, origin, `vsn`), the auth-token subprotocol, the join and event
//! hooks, `broadcast_from` and in-process subscriptions.

use fawkes::endpoint::{Builder, CheckOrigin, Hooks, JoinDecision, Refused, Reply};
use serde_json::json;

#[path = "support/endpoint_client.rs"]
mod client;

use client::{connect, http_get, open, start, within, Opened};

#[tokio::test]
async fn health_and_metrics() {
    let endpoint = start(Builder::new()).await;
    let addr = endpoint.local_addr();
    let health = http_get(addr, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    let mut c = connect(addr).await;
    c.join_ok("room:m").await;
    endpoint
        .broadcast("room:m", "e", json!({}))
        .expect("broadcast");
    c.json().await;
    assert_eq!(open(addr, "vsn=9.9.9", &[]).await.refused(), 403);
    let metrics = http_get(addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        "fawkes_endpoint_connections 1",
        "fawkes_endpoint_channels 1",
        "fawkes_endpoint_broadcasts_total 1",
        "fawkes_endpoint_deliveries_total 1",
        "fawkes_endpoint_refused_connects_total 1",
        "fawkes_endpoint_slow_consumer_disconnects_total 0",
        "fawkes_endpoint_malformed_frames_total 0",
        "fawkes_endpoint_refused_joins_total 0",
        "fawkes_endpoint_queue_depth_high_water 1",
        "# EOF",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    assert!(metrics.contains("fawkes_endpoint_frames_out_total "));
    assert!(metrics.contains("fawkes_endpoint_bytes_out_total "));
    assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
}

#[tokio::test]
async fn connect_hook_origin_and_auth_token() {
    let hooks = Hooks::new().on_connect(|req| {
        let token_ok = req.auth_token == Some(&b"s3cret"[..]);
        if req.param("token") == Some("good") || token_ok {
            Ok(())
        } else {
            Err(Refused::new("bad token"))
        }
    });
    let endpoint = start(
        Builder::new()
            .handler(hooks)
            .check_origin(CheckOrigin::List(vec!["//example.com".into()])),
    )
    .await;
    let addr = endpoint.local_addr();
    assert_eq!(open(addr, "vsn=2.0.0&token=bad", &[]).await.refused(), 403);
    assert!(matches!(
        open(addr, "vsn=2.0.0&token=good", &[]).await,
        Opened::Ws(_)
    ));
    let origin = [("origin", "https://evil.test")];
    assert_eq!(
        open(addr, "vsn=2.0.0&token=good", &origin).await.refused(),
        403
    );
    let origin = [("origin", "https://example.com")];
    assert!(matches!(
        open(addr, "vsn=2.0.0&token=good", &origin).await,
        Opened::Ws(_)
    ));
    // phoenix.js `authToken`: base64 without padding in a subprotocol, answered "phoenix".
    let protocols = [(
        "sec-websocket-protocol",
        "phoenix, base64url.bearer.phx.czNjcmV0",
    )];
    assert!(matches!(
        open(addr, "vsn=2.0.0", &protocols).await,
        Opened::Ws(_)
    ));
    assert_eq!(endpoint.stats().refused_connects, 2);
}

#[tokio::test]
async fn join_and_event_hooks_and_broadcast_from() {
    let hooks = Hooks::new()
        .on_join(|req| {
            if req.topic == "room:secret" {
                JoinDecision::refuse("unauthorized")
            } else {
                JoinDecision::Accept(json!({"welcome": req.topic}))
            }
        })
        .on_event(|req| match req.event {
            "shout" => {
                let payload = req.payload.as_json().map(|j| j.as_str().to_owned());
                let payload =
                    fawkes::endpoint::Payload::raw_json(payload.unwrap_or_default()).expect("JSON");
                req.broadcaster
                    .broadcast_from(req.connection, req.topic, "shout", payload)
                    .expect("broadcast_from");
                Some(Reply::ok(json!({"sent": true})))
            }
            "quiet" => None,
            _ => Some(fawkes::endpoint::not_handled()),
        });
    let endpoint = start(Builder::new().handler(hooks)).await;
    let mut local = endpoint.subscribe("room:*");
    let mut a = connect(endpoint.local_addr()).await;
    let mut b = connect(endpoint.local_addr()).await;
    let (r, reply) = a.join("room:secret").await;
    assert_eq!(
        reply,
        json!([r, r, "room:secret", "phx_reply", {"response": {"reason": "unauthorized"}, "status": "error"}])
    );
    let (r, reply) = a.join("room:1").await;
    assert_eq!(
        reply,
        json!([r, r, "room:1", "phx_reply", {"response": {"welcome": "room:1"}, "status": "ok"}])
    );
    let ja = r;
    b.join_ok("room:1").await;
    a.send(&json!([ja, "10", "room:1", "shout", {"hi": 1}]).to_string())
        .await;
    assert_eq!(
        a.json().await,
        json!([ja, "10", "room:1", "phx_reply", {"response": {"sent": true}, "status": "ok"}])
    );
    assert_eq!(
        b.json().await,
        json!([null, null, "room:1", "shout", {"hi": 1}])
    );
    let seen = within("the local subscription", local.recv())
        .await
        .expect("broadcast");
    assert_eq!(
        (seen.topic.as_str(), seen.event.as_str()),
        ("room:1", "shout")
    );
    a.send(&json!([ja, "11", "room:1", "other", {}]).to_string())
        .await;
    assert_eq!(
        a.json().await,
        json!([ja, "11", "room:1", "phx_reply", {"response": {"reason": "event not handled"}, "status": "error"}])
    );
    // No reply to "quiet": the heartbeat reply is the next frame (and `a` got no shout).
    a.send(&json!([ja, "12", "room:1", "quiet", {}]).to_string())
        .await;
    a.heartbeat().await;
    assert_eq!(endpoint.stats().refused_joins, 1);
}
