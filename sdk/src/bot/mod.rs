//! Chat bots: typed bot events, replies, command routing, welcome messages, and polling.
//!
//! A bot is an application on a portal: the portal installs it (`ONAPPINSTALL`), the bot
//! registers itself (`imbot.register`) with the URL its events go to, and from then on the
//! portal POSTs `ONIMBOTMESSAGEADD`, `ONIMCOMMANDADD`, `ONIMBOTJOINCHAT`, ... to that URL.
//! [`App::receive`](crate::app::App::receive) verifies each event and picks the portal's
//! client; this module does the rest:
//!
//! - [`BotEvent`] decodes bot events of both APIs (classic `imbot.*` and `imbot.v2.*`) into
//!   small typed views ([`Message`], [`Command`], [`Join`], [`BotDeleted`]), leniently; unknown
//!   events come through as [`BotEvent::Other`];
//! - [`Message::reply`], [`Command::answer`] and [`Join::reply`] answer through the method of the
//!   event's API, as the event's bot, in the event's dialog;
//! - [`Bot`] describes a bot — profile, slash commands with their handlers, a welcome, a message
//!   handler — and registers it on a portal ([`Bot::register`], [`Bot::register_v2`]);
//! - [`BotService`] puts an [`App`](crate::app::App) and a [`Bot`] together: it verifies an
//!   inbound request, registers the bot when a portal installs the application, and routes
//!   each event to its handler, with that portal's client ([`Incoming`]);
//! - [`poll`] is the alternative for a bot without a public URL: a stream over
//!   `imbot.v2.Event.get`;
//! - with the `axum` feature, `bot::axum` serves a [`BotService`] over HTTP.
//!
//! The module needs the `imbot` feature: the views are built from the schema's typed events
//! ([`crate::event_types`]) and the replies go through the generated `imbot` methods.
//!
//! ```no_run
//! # async fn run(app: bitrix24::app::App) -> Result<(), Box<dyn std::error::Error>> {
//! use bitrix24::bot::{Bot, BotCommand, BotService, Incoming, Message, Command};
//!
//! let bot = Bot::builder("echo_bot")
//!     .name("Echo")
//!     .welcome("Hello! Write me anything.")
//!     .on_message(|msg: Incoming<Message>| async move {
//!         msg.reply(format!("You wrote: {}", msg.text)).await?;
//!         Ok(())
//!     })
//!     .command(BotCommand::new("ping").title("Check the bot"), |cmd: Incoming<Command>| async move {
//!         cmd.answer("pong").await?;
//!         Ok(())
//!     })
//!     .build();
//! let service = BotService::new(app, bot).handler_url("https://bot.example.com/events");
//! // In the HTTP handler of https://bot.example.com/events:
//! # let (body, content_type): (Vec<u8>, Option<&str>) = (Vec::new(), None);
//! service.receive(&body, content_type).await?;
//! # Ok(()) }
//! ```
#![cfg(feature = "imbot")]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod definition;
mod event;
mod poll;
mod registration;
mod service;

pub use definition::{Bot, BotBuilder, BotCommand, HandlerError, Incoming};
pub use event::{
    BotApi, BotDeleted, BotEvent, BotRef, ChatType, Command, Join, Message, OtherEvent, User,
};
pub use poll::{Poll, Polled, poll};
pub use registration::{Registration, V2Delivery};
pub use service::{BotError, BotService, Handled};
