//! The slot table: channels by slot, ids with generations, lookups by topic, and removal
//! (which aborts the channel's pending pushes).

use heapless::{String, Vec};

use super::channel::{Channel, Phase};
use super::{ChannelId, ChannelState, Client, Error, ErrorCause, Event, PushRef};
use crate::codec::{RawJson, Text};

impl<const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Client<CHANNELS, QUEUE, TOPIC, JOIN>
{
    /// The channel's state, or `None` if the id is stale.
    pub fn channel_state(&self, channel: ChannelId) -> Option<ChannelState> {
        self.channel(channel).map(|c| c.phase.state())
    }

    /// The channel's topic, or `None` if the id is stale.
    pub fn topic(&self, channel: ChannelId) -> Option<&str> {
        self.channel(channel).map(|c| c.topic.as_str())
    }

    /// The payload the channel's next (re)join sends.
    pub fn join_payload(&self, channel: ChannelId) -> Option<RawJson<'_>> {
        let chan = self.channel(channel)?;
        core::str::from_utf8(&chan.join_payload)
            .ok()
            .map(RawJson::validated)
    }

    /// Replaces the payload that the channel's next (re)join sends (phoenix.js re-evaluates
    /// its join params on every join; a token that expires is refreshed here). The join in
    /// flight, if any, is not changed.
    pub fn set_join_payload(
        &mut self,
        channel: ChannelId,
        payload: RawJson<'_>,
    ) -> Result<(), Error> {
        let bytes = Vec::from_slice(payload.as_bytes()).map_err(|_| Error::JoinPayloadTooLarge)?;
        let chan = self.channel_mut(channel).ok_or(Error::UnknownChannel)?;
        chan.join_payload = bytes;
        Ok(())
    }

    /// The channel for `topic`, if there is one.
    pub fn find(&self, topic: &str) -> Option<ChannelId> {
        self.find_text(Text::new(topic))
    }

    /// Every channel, with its topic.
    pub fn channels(&self) -> impl Iterator<Item = (ChannelId, &str)> + '_ {
        self.channels.iter().enumerate().filter_map(|(slot, c)| {
            let c = c.as_ref()?;
            let slot = u8::try_from(slot).ok()?;
            let id = ChannelId {
                slot,
                generation: c.generation,
            };
            Some((id, c.topic.as_str()))
        })
    }

    /// Puts a new channel in a free slot (or the next one).
    pub(super) fn insert(
        &mut self,
        topic: &str,
        payload: RawJson<'_>,
        phase: Phase,
    ) -> Result<ChannelId, Error> {
        let topic = String::try_from(topic).map_err(|_| Error::TopicTooLong)?;
        let join_payload =
            Vec::from_slice(payload.as_bytes()).map_err(|_| Error::JoinPayloadTooLarge)?;
        let free = self.channels.iter().position(Option::is_none);
        let slot = free.unwrap_or(self.channels.len());
        // Ids hold the slot in a byte.
        let slot_byte = u8::try_from(slot).map_err(|_| Error::TooManyChannels)?;
        if free.is_none() && self.channels.is_full() {
            return Err(Error::TooManyChannels);
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let channel = Some(Channel {
            generation,
            topic,
            join_payload,
            phase,
            rejoin_attempts: 0,
            stale_join: None,
        });
        match self.channels.get_mut(slot) {
            Some(entry) => *entry = channel,
            // Checked above: there is room.
            None => {
                let _ = self.channels.push(channel);
            }
        }
        Ok(ChannelId {
            slot: slot_byte,
            generation,
        })
    }

    /// The channel in `slot`, with its id.
    pub(super) fn slot_mut(
        &mut self,
        slot: usize,
    ) -> Option<(ChannelId, &mut Channel<TOPIC, JOIN>)> {
        let chan = self.channels.get_mut(slot)?.as_mut()?;
        let id = ChannelId {
            slot: u8::try_from(slot).ok()?,
            generation: chan.generation,
        };
        Some((id, chan))
    }

    pub(super) fn channel(&self, id: ChannelId) -> Option<&Channel<TOPIC, JOIN>> {
        self.channels
            .get(usize::from(id.slot))?
            .as_ref()
            .filter(|c| c.generation == id.generation)
    }

    pub(super) fn channel_mut(&mut self, id: ChannelId) -> Option<&mut Channel<TOPIC, JOIN>> {
        self.channels
            .get_mut(usize::from(id.slot))?
            .as_mut()
            .filter(|c| c.generation == id.generation)
    }

    pub(super) fn find_text(&self, topic: Text<'_>) -> Option<ChannelId> {
        self.channels().find(|(_, t)| topic == *t).map(|(id, _)| id)
    }

    /// Drops the channel; its pushes awaiting replies are aborted.
    pub(super) fn remove(&mut self, id: ChannelId) {
        self.abort_pushes(Some(id), ErrorCause::Closed);
        if let Some(entry) = self.channels.get_mut(usize::from(id.slot)) {
            *entry = None;
        }
        while self.channels.last().is_some_and(Option::is_none) {
            self.channels.pop();
        }
    }

    /// Aborts the pushes awaiting replies on `channel` (every channel for `None`).
    pub(super) fn abort_pushes(&mut self, channel: Option<ChannelId>, cause: ErrorCause) {
        let mut index = 0;
        while let Some(push) = self.pushes.get(index).copied() {
            let id = ChannelId {
                slot: push.slot,
                generation: push.generation,
            };
            if channel.is_none_or(|c| c == id) {
                self.pushes.remove(index);
                self.emit(Event::PushAborted {
                    channel: id,
                    push: PushRef(push.msg_ref),
                    cause,
                });
            } else {
                index = index.saturating_add(1);
            }
        }
    }
}
