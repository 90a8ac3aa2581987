//! The portal's offline event queue (`event.offline.*`), for applications without a public URL.
//!
//! A handler bound with `event.bind` and `event_type = offline` is never called: the portal
//! queues one record per changed object (the latest change) and the application takes them.
//! [`OfflineQueue`] takes records without removing them, so they stay reserved under a process
//! id until settled: those handled are removed (`event.offline.clear`), those whose handling
//! failed are marked failed (`event.offline.error`). A consumer that crashes in between loses
//! nothing: resumed with its process id, it takes the unsettled records again. Delivery is
//! therefore at least once; handlers should be idempotent (reading the object's current state,
//! as the queue intends, is).
//!
//! `event.offline.get` is not retried when its answer is lost (by default it removes what it
//! returns). A take whose answer is lost leaves its records reserved under a process id this
//! queue never saw: `event.offline.list` shows them with their `PROCESS_ID`, and a queue
//! [resumed](OfflineQueue::resume) with that id takes them.
//!
//! Each record becomes the same [`Event`] a webhook would deliver (name and `data`), so the
//! typed events of [`crate::event_types`] apply.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::Event;
use crate::basic::OfflineEvent;
use crate::{Client, Error};

/// Takes and settles offline events of one portal. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct OfflineQueue {
    client: Client,
    limit: i64,
    process_id: Option<String>,
    auth_connector: Option<String>,
}

/// Records taken from the queue and reserved for one process until settled.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Taken {
    /// The process holding them; keep it to resume after a crash ([`OfflineQueue::resume`]).
    pub process_id: String,
    /// The records, oldest change first.
    pub events: Vec<Queued>,
}

/// One record of the queue.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Queued {
    /// The record's id.
    pub id: i64,
    /// The record's message id.
    pub message_id: String,
    /// The event as a webhook would carry it: its name and `data`.
    pub event: Event,
    /// The record as the portal sent it.
    pub record: OfflineEvent,
}

/// What [`OfflineQueue::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settled {
    /// Records handled and removed from the queue.
    pub done: usize,
    /// Records whose handler failed, marked failed in the queue.
    pub failed: usize,
}

impl Client {
    /// The portal's offline event queue (50 records per take).
    pub fn offline_events(&self) -> OfflineQueue {
        OfflineQueue {
            client: self.clone(),
            limit: 50,
            process_id: None,
            auth_connector: None,
        }
    }
}

impl OfflineQueue {
    /// Records per take (the portal's default is 50).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = i64::from(limit.max(1));
        self
    }

    /// Only records not caused by the source with this key (`auth_connector` of `event.bind`).
    pub fn auth_connector(mut self, key: impl Into<String>) -> Self {
        self.auth_connector = Some(key.into());
        self
    }

    /// Continues process `process_id` (kept from [`Taken::process_id`] before a crash): the
    /// next take returns its unsettled records again, with new ones.
    pub fn resume(mut self, process_id: impl Into<String>) -> Self {
        self.process_id = Some(process_id.into());
        self
    }

    /// The process id of the records taken last, if any.
    pub fn process_id(&self) -> Option<&str> {
        self.process_id.as_deref()
    }

    /// Takes up to `limit` records, reserving them for this queue's process; `None` when the
    /// queue is empty.
    pub async fn take(&mut self) -> Result<Option<Taken>, Error> {
        let mut request = self.client.event_offline_get().clear(0).limit(self.limit);
        if let Some(id) = &self.process_id {
            request = request.process_id(id.clone());
        }
        if let Some(key) = &self.auth_connector {
            request = request.auth_connector(key.clone());
        }
        let answer = request.await?;
        let records = answer.events.unwrap_or_default();
        if let Some(id) = answer.process_id {
            self.process_id = Some(id);
        }
        if records.is_empty() {
            return Ok(None);
        }
        let process_id = self.process_id.clone().ok_or_else(|| Error::Decode {
            method: "event.offline.get".to_owned(),
            status: 200,
            message: "records taken without `clear` came without a process_id".to_owned(),
            body_start: String::new(),
        })?;
        let events = records.into_iter().map(queued).collect();
        Ok(Some(Taken { process_id, events }))
    }

    /// Removes handled records from the queue.
    pub async fn done(&self, taken: &Taken, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.client
            .event_offline_clear(taken.process_id.clone())
            .id(ids.iter().copied())
            .await?;
        Ok(())
    }

    /// Marks records whose handling failed: they leave the process and stay in the queue,
    /// returned again only to a take that asks for failed records.
    pub async fn failed(&self, taken: &Taken, message_ids: &[String]) -> Result<(), Error> {
        if message_ids.is_empty() {
            return Ok(());
        }
        self.client
            .event_offline_error(taken.process_id.clone())
            .message_id(message_ids.iter().cloned())
            .await?;
        Ok(())
    }

    /// Takes one batch, runs `handler` on each record in order, and settles them: removes the
    /// handled ones, marks the failed ones (the handler's error is logged). Returns what it did;
    /// an empty queue settles nothing.
    pub async fn run_once<H, F, E>(&mut self, mut handler: H) -> Result<Settled, Error>
    where
        H: FnMut(Queued) -> F,
        F: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let Some(taken) = self.take().await? else {
            return Ok(Settled::default());
        };
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for queued in taken.events.iter().cloned() {
            let (id, message_id, name) = (
                queued.id,
                queued.message_id.clone(),
                queued.event.name.clone(),
            );
            match handler(queued).await {
                Ok(()) => done.push(id),
                Err(e) => {
                    tracing::warn!(event = name, id, "offline event handler failed: {e}");
                    failed.push(message_id);
                }
            }
        }
        self.failed(&taken, &failed).await?;
        self.done(&taken, &done).await?;
        Ok(Settled {
            done: done.len(),
            failed: failed.len(),
        })
    }

    /// Runs [`OfflineQueue::run_once`] forever, waiting `idle` whenever the queue is empty;
    /// returns only on an error of the portal (the records of the batch in hand stay reserved,
    /// to be taken again by a queue resumed with [`OfflineQueue::process_id`]).
    pub async fn run<H, F, E>(mut self, idle: Duration, mut handler: H) -> Error
    where
        H: FnMut(Queued) -> F,
        F: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        loop {
            match self.run_once(&mut handler).await {
                Ok(settled) if settled == Settled::default() => tokio::time::sleep(idle).await,
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }
}

fn queued(record: OfflineEvent) -> Queued {
    let name = record.event_name.clone().unwrap_or_default();
    let data = match &record.event_data {
        Some(Value::Bool(false)) | None => Value::Null,
        Some(data) => data.clone(),
    };
    let event = Event {
        name: name.trim().to_ascii_uppercase(),
        handler_id: None,
        ts: None,
        data,
        auth: super::EventAuth::default(),
    };
    Queued {
        id: record.id.unwrap_or_default(),
        message_id: record.message_id.clone().unwrap_or_default(),
        event,
        record,
    }
}
