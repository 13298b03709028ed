//! Graceful shutdown, as mini-redis does it: one signal every task watches (carrying the
//! close code), and a token every connection task holds, so the endpoint knows when the
//! last one is gone.

use std::sync::Mutex;

use tokio::sync::{mpsc, watch};

use super::config::{CLOSE_GOING_AWAY, CLOSE_RESTART};

/// How the endpoint stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shutdown {
    /// The service stops: every connection closed with 1001 (going away).
    Stop,
    /// The service restarts (Phoenix's drain): every connection closed with 1012.
    Restart,
}

impl Shutdown {
    /// The WebSocket close code.
    pub const fn close_code(self) -> u16 {
        match self {
            Shutdown::Stop => CLOSE_GOING_AWAY,
            Shutdown::Restart => CLOSE_RESTART,
        }
    }
}

/// The endpoint's side: the signal, and the tokens' receiving end.
pub(crate) struct Coordinator {
    signal: watch::Sender<Option<u16>>,
    token: Mutex<Option<mpsc::Sender<()>>>,
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

/// A task's side: the signal, and the token that keeps the endpoint waiting for it.
pub(crate) struct Guard {
    signal: watch::Receiver<Option<u16>>,
    _token: Option<mpsc::Sender<()>>,
}

impl Coordinator {
    pub(crate) fn new() -> Self {
        let (signal, _) = watch::channel(None);
        let (token, done) = mpsc::channel(1);
        Coordinator {
            signal,
            token: Mutex::new(Some(token)),
            done: tokio::sync::Mutex::new(done),
        }
    }

    /// A guard for a new task (after the shutdown, one that is signalled at once).
    pub(crate) fn guard(&self) -> Guard {
        let token = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Guard {
            signal: self.signal.subscribe(),
            _token: token,
        }
    }

    /// Signals every task with `code` (the first signal's code stays).
    pub(crate) fn signal(&self, code: u16) {
        self.signal.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(code);
            }
            first
        });
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Signals every task with `code`, and waits until every guard is dropped.
    pub(crate) async fn shut_down(&self, code: u16) {
        self.signal(code);
        let mut done = self.done.lock().await;
        // `None` once every token is gone.
        while done.recv().await.is_some() {}
    }

    /// Whether a shutdown was signalled.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.signal.borrow().is_some()
    }
}

impl Guard {
    /// Resolves with the close code once a shutdown is signalled (1001 when the endpoint
    /// was dropped without one).
    pub(crate) async fn signalled(&mut self) -> u16 {
        match self.signal.wait_for(Option::is_some).await {
            Ok(code) => (*code).unwrap_or(CLOSE_GOING_AWAY),
            Err(_) => CLOSE_GOING_AWAY,
        }
    }
}
