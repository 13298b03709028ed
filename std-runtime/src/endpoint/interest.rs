//! Which topics this node has subscribers for, as a stream of changes: what a message bus
//! adapter needs to subscribe on the bus only to topics someone here joined
//! ([`Dispatcher::interest`](super::Dispatcher::interest)).

use tokio::sync::mpsc;

/// What a subscriber of this node listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Filter {
    /// One topic (a WebSocket join, or an exact in-process subscription).
    Topic(String),
    /// Every topic starting with this prefix (an in-process subscription ending in `*`).
    Prefix(String),
}

/// A change in this node's subscriptions.
///
/// WebSocket joins are reported per topic: [`Interest::Added`] when a topic gets its first
/// subscriber on this node and [`Interest::Removed`] when its last one leaves. In-process
/// subscriptions are reported one by one (two subscriptions to one pattern: two
/// `Added`), their removal once a broadcast finds them dropped; adapters count.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interest {
    /// Someone here listens to this filter now.
    Added(Filter),
    /// One listener of this filter is gone.
    Removed(Filter),
}

/// The receiving end of [`Dispatcher::interest`](super::Dispatcher::interest): the current
/// subscriptions first (as `Added`), then every change, in order.
pub type InterestReceiver = mpsc::UnboundedReceiver<Interest>;
