//! Polling instead of a public URL: a stream of a v2 bot's events over `imbot.v2.Event.get`.
//!
//! A bot registered with `eventMode: fetch` has its events queued by the portal. Each call of
//! `imbot.v2.Event.get` returns the oldest unconfirmed ones and `nextOffset`; passing that
//! offset in the next call confirms every event below it. The stream makes that next call only
//! once the consumer has taken every event of the batch, so an event is confirmed after it was
//! yielded: a process that stops in between gets it again (at least once). To resume where a
//! previous run stopped, persist [`Polled::offset`] and start with [`Poll::offset`].
//!
//! When the queue is empty the stream waits before asking again, doubling the pause from
//! [`Poll::idle_backoff`]'s minimum up to its maximum, and starts over at the minimum once
//! events arrive. A failed call is yielded as an error, then retried after the same pause; the
//! consumer decides whether to go on.

use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};

use super::event::BotEvent;
use crate::{Client, Error, Secret};

/// Polls `bot_id`'s events through `client`: configure the returned [`Poll`], then
/// [`Poll::stream`]. Events are confirmed once the stream has yielded them all (at least once
/// delivery); an empty queue makes it pause, from 1 s doubling up to 30 s by default.
pub fn poll(client: Client, bot_id: i64) -> Poll {
    Poll {
        client,
        bot_id,
        offset: None,
        limit: None,
        backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
        bot_token: None,
    }
}

/// A configured poll; [`Poll::stream`] starts it.
pub struct Poll {
    client: Client,
    bot_id: i64,
    offset: Option<i64>,
    limit: Option<u32>,
    backoff: Backoff,
    bot_token: Option<Secret>,
}

impl std::fmt::Debug for Poll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poll")
            .field("bot_id", &self.bot_id)
            .field("offset", &self.offset)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Poll {
    /// Starts from a persisted [`Polled::offset`] (confirming everything below it).
    pub fn offset(mut self, offset: i64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Events per call, 1 to 1000 (the portal's default is 100).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit.clamp(1, 1000));
        self
    }

    /// The pause after an empty answer or an error: from `min`, doubling, at most `max`
    /// (default 1 s to 30 s).
    pub fn idle_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(min, max);
        self
    }

    /// The bot's token, needed when `client` authenticates with a webhook.
    pub fn bot_token(mut self, token: impl Into<Secret>) -> Self {
        self.bot_token = Some(token.into());
        self
    }

    /// The events, oldest first, forever (drop the stream to stop).
    pub fn stream(self) -> BoxStream<'static, Result<Polled, Error>> {
        let state = State {
            poll: self,
            buffer: VecDeque::new(),
            pause: None,
        };
        stream::unfold(state, |mut state| async move {
            loop {
                if let Some(event) = state.buffer.pop_front() {
                    return Some((Ok(event), state));
                }
                if let Some(pause) = state.pause.take() {
                    tokio::time::sleep(pause).await;
                }
                match state.fetch().await {
                    Ok(0) => state.pause = Some(state.poll.backoff.next_pause()),
                    Ok(_) => state.poll.backoff.reset(),
                    Err(e) => {
                        state.pause = Some(state.poll.backoff.next_pause());
                        return Some((Err(e), state));
                    }
                }
            }
        })
        .boxed()
    }
}

/// One event taken from the queue.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Polled {
    /// The queue's id of the event.
    pub event_id: i64,
    /// When it happened, RFC 3339 (`2025-01-15T10:30:00+02:00`).
    pub date: Option<String>,
    /// The event.
    pub event: BotEvent,
}

impl Polled {
    /// The offset that confirms this event and every earlier one: persist it to resume after
    /// it ([`Poll::offset`]).
    pub fn offset(&self) -> i64 {
        self.event_id.saturating_add(1)
    }
}

struct State {
    poll: Poll,
    buffer: VecDeque<Polled>,
    pause: Option<Duration>,
}

impl State {
    /// One `imbot.v2.Event.get`: fills the buffer, moves the offset; returns how many events
    /// came.
    async fn fetch(&mut self) -> Result<usize, Error> {
        let poll = &self.poll;
        // Asking again with the same offset returns the same events: the schema marks the
        // method idempotent, so the client may re-send it after a network failure.
        let mut request = poll.client.imbot_v2_event_get(poll.bot_id);
        if let Some(offset) = poll.offset {
            request = request.offset(offset);
        }
        if let Some(limit) = poll.limit {
            request = request.limit(limit);
        }
        if let Some(token) = &poll.bot_token {
            request = request.bot_token(token.clone());
        }
        let page = request.await?;
        let last = page.events.last().map(|e| e.event_id);
        self.buffer.extend(page.events.iter().map(|e| Polled {
            event_id: e.event_id,
            date: e.date.map(|d| d.to_rfc3339()),
            event: BotEvent::from_queued(&e.kind, e.data.as_ref()),
        }));
        // Ids come from the network: the largest one has no successor (see `Polled::offset`).
        if let Some(next) = page.next_offset.or(last.map(|id| id.saturating_add(1))) {
            self.poll.offset = Some(next);
        }
        Ok(self.buffer.len())
    }
}

/// Pauses between empty answers: `min`, doubling, capped at `max`.
#[derive(Debug, Clone)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self {
            min,
            max,
            next: min,
        }
    }

    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        pause
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_pauses_double_up_to_the_bound_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let pauses: Vec<u64> = (0..5).map(|_| b.next_pause().as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_pause(), Duration::from_secs(1));
        // A maximum below the minimum is the minimum.
        let mut b = Backoff::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(
            [b.next_pause(), b.next_pause()],
            [Duration::from_secs(3); 2]
        );
    }
}
