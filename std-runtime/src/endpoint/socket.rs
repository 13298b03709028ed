//! The core socket of one connection, sized for what it holds: every connection starts with
//! a small one (a few channels, a few hundred bytes) and is grown, with
//! [`Socket::resized`], to Phoenix's full 100 channels when a join does not fit. Most
//! subscribers join one or two topics, so an idle one costs ~0.3 KB here instead of 4.5 KB.

use fawkes_core::codec::{Frame, OutPayload, RawJson, Text, Vsn};
use fawkes_core::server::{ChannelId, Config, Error, Handled, Socket, Transmit};
use fawkes_core::time::Instant;

/// Channels of the full socket: Phoenix's default limit, the most the endpoint allows.
pub(crate) const CHANNELS: usize = 100;
/// Bytes of topic and ref text for all the channels of a full socket (a join that does not
/// fit is refused as "too many channels joined").
pub(crate) const TOPIC_BYTES: usize = 2048;
/// Channels of the small socket every connection starts with.
pub(crate) const SMALL_CHANNELS: usize = 4;
/// Topic and ref bytes of the small socket.
pub(crate) const SMALL_BYTES: usize = 192;

/// The full socket.
pub(crate) type FullSocket = Socket<CHANNELS, TOPIC_BYTES>;
/// The small socket.
pub(crate) type SmallSocket = Socket<SMALL_CHANNELS, SMALL_BYTES>;

/// A connection's socket, small or full (boxed either way: the task stays small).
#[derive(Debug)]
pub(crate) enum Sock {
    Small(Box<SmallSocket>),
    Full(Box<FullSocket>),
}

macro_rules! each {
    ($sock:expr, $s:ident => $body:expr) => {
        match $sock {
            Sock::Small($s) => $body,
            Sock::Full($s) => $body,
        }
    };
}

impl Sock {
    pub(crate) fn new(vsn: Vsn, config: Config, now: Instant) -> Self {
        Sock::Small(Box::new(SmallSocket::new(vsn, config, now)))
    }

    /// Grows a small socket to the full one; `false` when it is full already.
    pub(crate) fn grow(&mut self) -> bool {
        let Sock::Small(small) = self else {
            return false;
        };
        match small.resized::<CHANNELS, TOPIC_BYTES>() {
            Some(full) => {
                *self = Sock::Full(Box::new(full));
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_small(&self) -> bool {
        matches!(self, Sock::Small(_))
    }

    pub(crate) fn vsn(&self) -> Vsn {
        each!(self, s => s.vsn())
    }

    pub(crate) fn channel_count(&self) -> usize {
        each!(self, s => s.channel_count())
    }

    pub(crate) fn close_code(&self) -> Option<u16> {
        each!(self, s => s.close_code())
    }

    pub(crate) fn is_joined(&self, topic: &str) -> bool {
        each!(self, s => s.is_joined(topic))
    }

    pub(crate) fn has_transmit(&self) -> bool {
        each!(self, s => s.has_transmit())
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        each!(self, s => s.poll_timeout())
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<u16> {
        each!(self, s => s.handle_timeout(now))
    }

    pub(crate) fn handle_data(&mut self, now: Instant) {
        each!(self, s => s.handle_data(now))
    }

    pub(crate) fn handle_frame<'a>(
        &mut self,
        now: Instant,
        frame: Frame<'a>,
        out: &mut [u8],
    ) -> Result<Handled<'a>, Error> {
        each!(self, s => s.handle_frame(now, frame, out))
    }

    pub(crate) fn accept_join(
        &mut self,
        channel: ChannelId,
        response: RawJson<'_>,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        each!(self, s => s.accept_join(channel, response, out))
    }

    pub(crate) fn refuse_join(
        &mut self,
        channel: ChannelId,
        response: RawJson<'_>,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        each!(self, s => s.refuse_join(channel, response, out))
    }

    pub(crate) fn forget_join(&mut self, channel: ChannelId) -> Result<(), Error> {
        each!(self, s => s.forget_join(channel))
    }

    pub(crate) fn reply(
        &self,
        channel: ChannelId,
        msg_ref: Option<Text<'_>>,
        status: &str,
        response: RawJson<'_>,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        each!(self, s => s.reply(channel, msg_ref, status, response, out))
    }

    pub(crate) fn push<P: OutPayload>(
        &self,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        each!(self, s => s.push(channel, event, payload, out))
    }

    pub(crate) fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<Transmit>, Error> {
        each!(self, s => s.poll_transmit(out))
    }
}
