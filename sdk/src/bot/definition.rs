//! A bot's definition: its profile, slash commands and handlers, and the routing of an event
//! to the handler that takes it.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::event::{BotDeleted, BotEvent, Command, Join, Message, command_name};
use super::registration::Registration;
use crate::common::ChatColor;
use crate::imbot::BotType;
use crate::{Client, Error};

/// What a handler may fail with: any error (`?` converts [`crate::Error`] and most others).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type Handler<T> =
    Arc<dyn Fn(Incoming<T>) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

fn handler<T, F, Fut>(f: F) -> Handler<T>
where
    T: Send + 'static,
    F: Fn(Incoming<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    Arc::new(move |incoming| Box::pin(f(incoming)))
}

/// An event for a handler, with the client of the portal it came from. Dereferences to the
/// event, so `msg.text` and `msg.dialog_id` read directly.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Incoming<T> {
    /// The event.
    pub event: T,
    /// The portal's client, acting as the application (tokens from its installation).
    pub client: Client,
    /// The portal's `member_id`.
    pub member_id: String,
}

impl<T> Incoming<T> {
    /// Pairs an event with a portal's client (for tests and for events obtained by
    /// [`super::poll`]).
    pub fn new(event: T, client: Client, member_id: impl Into<String>) -> Self {
        Self {
            event,
            client,
            member_id: member_id.into(),
        }
    }
}

impl<T> Deref for Incoming<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.event
    }
}

impl Incoming<Message> {
    /// Answers in the message's dialog as the bot ([`Message::reply`]).
    pub async fn reply(&self, text: impl Into<String>) -> Result<i64, Error> {
        self.event.reply(&self.client, text).await
    }
}

impl Incoming<Join> {
    /// Writes in the dialog the bot joined ([`Join::reply`]).
    pub async fn reply(&self, text: impl Into<String>) -> Result<i64, Error> {
        self.event.reply(&self.client, text).await
    }
}

impl Incoming<Command> {
    /// Answers the command ([`Command::answer`]).
    pub async fn answer(&self, text: impl Into<String>) -> Result<Option<i64>, Error> {
        self.event.answer(&self.client, text).await
    }

    /// Writes in the command's dialog ([`Command::reply`]).
    pub async fn reply(&self, text: impl Into<String>) -> Result<i64, Error> {
        self.event.reply(&self.client, text).await
    }
}

/// A slash command a bot registers: its name (without the slash), a title and a parameter hint
/// shown in the chat's command list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BotCommand {
    /// Name without the slash: `search`.
    pub name: String,
    /// What the command does, shown to users.
    pub title: String,
    /// What to type after it (`deal title`), shown to users.
    pub params: String,
    /// Language of the title and hint (default `en`).
    pub language: String,
}

impl BotCommand {
    /// A command named `name` (a leading slash is dropped).
    pub fn new(name: impl Into<String>) -> Self {
        let name = command_name(&name.into());
        Self {
            title: name.clone(),
            name,
            params: String::new(),
            language: "en".to_owned(),
        }
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the parameter hint.
    pub fn params(mut self, params: impl Into<String>) -> Self {
        self.params = params.into();
        self
    }

    /// Sets the language of the title and hint.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = language.into();
        self
    }
}

enum Welcome {
    Text(String),
    Handler(Handler<Join>),
}

struct CommandRoute {
    spec: BotCommand,
    handler: Handler<Command>,
}

/// What a [`Bot`] is made of; the profile is what registration sends.
pub(super) struct BotDef {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) last_name: String,
    pub(super) work_position: String,
    pub(super) color: Option<ChatColor>,
    pub(super) kind: BotType,
    pub(super) openline: bool,
    commands: Vec<CommandRoute>,
    on_message: Option<Handler<Message>>,
    welcome: Option<Welcome>,
    on_delete: Option<Handler<BotDeleted>>,
    pub(super) on_install: Option<Handler<Registration>>,
    on_other: Option<Handler<BotEvent>>,
}

/// A bot: its profile, slash commands and handlers. Cheap to clone; build with
/// [`Bot::builder`].
#[derive(Clone)]
pub struct Bot {
    pub(super) def: Arc<BotDef>,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("code", &self.def.code)
            .field("name", &self.def.name)
            .field(
                "commands",
                &self
                    .def
                    .commands
                    .iter()
                    .map(|c| c.spec.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Configures a [`Bot`].
pub struct BotBuilder {
    def: BotDef,
}

impl BotBuilder {
    /// The bot's first name (default: its code).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.def.name = name.into();
        self
    }

    /// The bot's last name.
    pub fn last_name(mut self, last_name: impl Into<String>) -> Self {
        self.def.last_name = last_name.into();
        self
    }

    /// The bot's job title, shown in its profile.
    pub fn work_position(mut self, work_position: impl Into<String>) -> Self {
        self.def.work_position = work_position.into();
        self
    }

    /// The bot's colour, as the classic methods spell it (`GREEN`, `LIGHT_BLUE`, ...; see
    /// [`ChatColor`]); [`Bot::register_v2`] sends it in the v2 spelling (`green`, `lightBlue`).
    pub fn color(mut self, color: impl Into<String>) -> Self {
        self.def.color = Some(ChatColor::from(color.into().as_str()));
        self
    }

    /// The classic bot type (`B` standard, the default; `H` human-like; `O` open lines;
    /// `S` supervisor, which sees every message of its chats; see [`BotType`]).
    /// [`Bot::register_v2`] registers `S` as a `supervisor` and `O` as an `openline` bot, `B`
    /// and `H` as the default `bot`, and passes any other value (a v2 type such as
    /// `personal`) as it is.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.def.kind = BotType::from(kind.into().as_str());
        self
    }

    /// Whether the bot works in open lines.
    pub fn openline(mut self, openline: bool) -> Self {
        self.def.openline = openline;
        self
    }

    /// Handles messages addressed to the bot.
    pub fn on_message<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Incoming<Message>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.def.on_message = Some(handler(f));
        self
    }

    /// Registers a slash command and its handler. Commands are routed by name, compared
    /// without the slash and ignoring ASCII case.
    pub fn command<F, Fut>(mut self, command: BotCommand, f: F) -> Self
    where
        F: Fn(Incoming<Command>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.def.commands.retain(|c| c.spec.name != command.name);
        self.def.commands.push(CommandRoute {
            spec: command,
            handler: handler(f),
        });
        self
    }

    /// Writes `text` in every dialog the bot joins (a user opened a private dialog with it, or
    /// added it to a chat).
    pub fn welcome(mut self, text: impl Into<String>) -> Self {
        self.def.welcome = Some(Welcome::Text(text.into()));
        self
    }

    /// Handles the bot joining a dialog, instead of a fixed [`BotBuilder::welcome`].
    pub fn on_join<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Incoming<Join>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.def.welcome = Some(Welcome::Handler(handler(f)));
        self
    }

    /// Handles the bot's deletion from a portal.
    pub fn on_delete<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Incoming<BotDeleted>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.def.on_delete = Some(handler(f));
        self
    }

    /// Called after the bot registered itself on a portal that installed the application.
    pub fn on_install<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Incoming<Registration>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.def.on_install = Some(handler(f));
        self
    }

    /// Handles every event no other handler takes: edits and deletions of messages, commands
    /// without a handler, events of other modules (`ONCRMDEALADD`, ...).
    pub fn on_other<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Incoming<BotEvent>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.def.on_other = Some(handler(f));
        self
    }

    /// Creates the bot.
    pub fn build(self) -> Bot {
        Bot {
            def: Arc::new(self.def),
        }
    }
}

impl Bot {
    /// Starts describing a bot with its code, unique on a portal.
    pub fn builder(code: impl Into<String>) -> BotBuilder {
        let code = code.into();
        BotBuilder {
            def: BotDef {
                name: code.clone(),
                code,
                last_name: String::new(),
                work_position: String::new(),
                color: None,
                kind: BotType::Bot,
                openline: false,
                commands: Vec::new(),
                on_message: None,
                welcome: None,
                on_delete: None,
                on_install: None,
                on_other: None,
            },
        }
    }

    /// The bot's code.
    pub fn code(&self) -> &str {
        &self.def.code
    }

    /// The commands the bot registers.
    pub fn commands(&self) -> impl Iterator<Item = &BotCommand> {
        self.def.commands.iter().map(|c| &c.spec)
    }

    /// Routes one event to its handler, with `client` to answer through: messages to
    /// [`BotBuilder::on_message`], commands by name, joins to the welcome, deletions to
    /// [`BotBuilder::on_delete`], everything else (and what has no handler) to
    /// [`BotBuilder::on_other`]. Returns whether a handler took the event.
    /// [`BotService`](super::BotService) calls it for events POSTed to the bot; call it yourself
    /// for events from [`super::poll`].
    pub async fn dispatch(
        &self,
        event: BotEvent,
        client: Client,
        member_id: &str,
    ) -> Result<bool, HandlerError> {
        let def = &self.def;
        match event {
            BotEvent::Message(message) => {
                let handler = def.on_message.as_ref();
                self.route(handler, message, BotEvent::Message, client, member_id)
                    .await
            }
            BotEvent::Command(command) => {
                let handler = def
                    .commands
                    .iter()
                    .find(|c| c.spec.name.eq_ignore_ascii_case(&command.command))
                    .map(|route| &route.handler);
                self.route(handler, command, BotEvent::Command, client, member_id)
                    .await
            }
            BotEvent::Join(join) => {
                let handler = match &def.welcome {
                    Some(Welcome::Text(text)) => {
                        join.reply(&client, text.clone()).await?;
                        return Ok(true);
                    }
                    Some(Welcome::Handler(h)) => Some(h),
                    None => None,
                };
                self.route(handler, join, BotEvent::Join, client, member_id)
                    .await
            }
            BotEvent::BotDelete(deleted) => {
                let handler = def.on_delete.as_ref();
                self.route(handler, deleted, BotEvent::BotDelete, client, member_id)
                    .await
            }
            other => self.other(other, client, member_id).await,
        }
    }

    /// Runs `handler` on `event`, or without one hands the event (as `wrap` makes it) to
    /// [`Self::other`].
    async fn route<T>(
        &self,
        handler: Option<&Handler<T>>,
        event: T,
        wrap: fn(T) -> BotEvent,
        client: Client,
        member_id: &str,
    ) -> Result<bool, HandlerError> {
        match handler {
            Some(h) => {
                h(Incoming::new(event, client, member_id)).await?;
                Ok(true)
            }
            None => self.other(wrap(event), client, member_id).await,
        }
    }

    async fn other(
        &self,
        event: BotEvent,
        client: Client,
        member_id: &str,
    ) -> Result<bool, HandlerError> {
        match &self.def.on_other {
            Some(h) => {
                h(Incoming::new(event, client, member_id)).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
