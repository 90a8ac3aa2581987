//! A bot's definition (profile, commands, handlers), its registration on a portal, and the
//! service that routes verified events to the handlers.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use super::event::{BotApi, BotDeleted, BotEvent, Command, Join, Message, command_name};
use crate::app::{App, Delivery};
use crate::events::{EventError, EventLimits};
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

/// How a v2 bot gets its events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum V2Delivery {
    /// The bot fetches them with `imbot.v2.Event.get` ([`super::poll`]).
    Fetch,
    /// The portal POSTs them to this URL.
    Webhook(String),
}

/// What registering a bot on a portal produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registration {
    /// The bot's id on that portal.
    pub bot_id: i64,
    /// Command ids by command name.
    pub commands: BTreeMap<String, i64>,
}

enum Welcome {
    Text(String),
    Handler(Handler<Join>),
}

struct CommandRoute {
    spec: BotCommand,
    handler: Handler<Command>,
}

struct BotDef {
    code: String,
    name: String,
    last_name: String,
    work_position: String,
    color: Option<String>,
    kind: String,
    openline: bool,
    commands: Vec<CommandRoute>,
    on_message: Option<Handler<Message>>,
    welcome: Option<Welcome>,
    on_delete: Option<Handler<BotDeleted>>,
    on_install: Option<Handler<Registration>>,
    on_other: Option<Handler<BotEvent>>,
}

/// A bot: its profile, slash commands and handlers. Cheap to clone; build with
/// [`Bot::builder`].
#[derive(Clone)]
pub struct Bot {
    def: Arc<BotDef>,
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

    /// The bot's colour (`GREEN`, `AQUA`, ...).
    pub fn color(mut self, color: impl Into<String>) -> Self {
        self.def.color = Some(color.into());
        self
    }

    /// The classic bot type (`B` standard, the default; `H` human-like; `O` open lines;
    /// `S` supervisor, which sees every message of its chats).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.def.kind = kind.into();
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
                kind: "B".to_owned(),
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

    /// Registers the bot on `client`'s portal with `imbot.register`, every event going to
    /// `handler_url`, then its commands with `imbot.command.register`. Registering again (a
    /// reinstall) finds the bot by its code.
    pub async fn register(
        &self,
        client: &Client,
        handler_url: &str,
    ) -> Result<Registration, Error> {
        let def = &self.def;
        let mut properties = json!({"NAME": def.name});
        for (key, value) in [
            ("LAST_NAME", &def.last_name),
            ("WORK_POSITION", &def.work_position),
        ] {
            if !value.is_empty() {
                properties[key] = json!(value);
            }
        }
        if let Some(color) = &def.color {
            properties["COLOR"] = json!(color);
        }
        let params = json!({
            "CODE": def.code,
            "TYPE": def.kind,
            "OPENLINE": if def.openline { "Y" } else { "N" },
            "EVENT_HANDLER": handler_url,
            "EVENT_MESSAGE_ADD": handler_url,
            "EVENT_WELCOME_MESSAGE": handler_url,
            "EVENT_BOT_DELETE": handler_url,
            "PROPERTIES": properties,
        });
        let result: Value = client.call("imbot.register", &params).await?;
        let bot_id = result_id("imbot.register", &result, &[])?;
        let mut commands = BTreeMap::new();
        for command in self.commands() {
            let mut lang = json!({"LANGUAGE_ID": command.language, "TITLE": command.title});
            if !command.params.is_empty() {
                lang["PARAMS"] = json!(command.params);
            }
            let params = json!({
                "BOT_ID": bot_id,
                "COMMAND": command.name,
                "COMMON": "N",
                "HIDDEN": "N",
                "EXTRANET_SUPPORT": "N",
                "EVENT_COMMAND_ADD": handler_url,
                "LANG": [lang],
            });
            let result: Value = client.call("imbot.command.register", &params).await?;
            let id = result_id("imbot.command.register", &result, &[])?;
            commands.insert(command.name.clone(), id);
        }
        Ok(Registration { bot_id, commands })
    }

    /// Registers the bot with `imbot.v2.Bot.register` (events fetched, or POSTed to a URL),
    /// then its commands with `imbot.v2.Command.register`.
    pub async fn register_v2(
        &self,
        client: &Client,
        delivery: V2Delivery,
    ) -> Result<Registration, Error> {
        let def = &self.def;
        let mut properties = json!({"name": def.name});
        for (key, value) in [
            ("lastName", &def.last_name),
            ("workPosition", &def.work_position),
        ] {
            if !value.is_empty() {
                properties[key] = json!(value);
            }
        }
        if let Some(color) = &def.color {
            properties["color"] = json!(color);
        }
        let mut fields = json!({
            "code": def.code,
            "properties": properties,
            "isSupportOpenline": def.openline,
        });
        match &delivery {
            V2Delivery::Fetch => fields["eventMode"] = json!("fetch"),
            V2Delivery::Webhook(url) => {
                fields["eventMode"] = json!("webhook");
                fields["webhookUrl"] = json!(url);
            }
        }
        let result: Value = client
            .call("imbot.v2.Bot.register", &json!({"fields": fields}))
            .await?;
        let bot_id = result_id("imbot.v2.Bot.register", &result, &["bot", "id"])?;
        let mut commands = BTreeMap::new();
        for command in self.commands() {
            let mut fields = json!({
                "command": command.name,
                "title": {command.language.as_str(): command.title},
            });
            if !command.params.is_empty() {
                fields["params"] = json!({command.language.as_str(): command.params});
            }
            let result: Value = client
                .call(
                    "imbot.v2.Command.register",
                    &json!({"botId": bot_id, "fields": fields}),
                )
                .await?;
            let id = result_id("imbot.v2.Command.register", &result, &["command", "id"])?;
            commands.insert(command.name.clone(), id);
        }
        Ok(Registration { bot_id, commands })
    }

    /// Routes one event to its handler, with `client` to answer through: messages to
    /// [`BotBuilder::on_message`], commands by name, joins to the welcome, deletions to
    /// [`BotBuilder::on_delete`], everything else (and what has no handler) to
    /// [`BotBuilder::on_other`]. Returns whether a handler took the event. [`BotService`] calls
    /// it for events POSTed to the bot; call it yourself for events from [`super::poll`].
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

/// `result` (or the member at `path` inside it) as an id.
fn result_id(method: &str, result: &Value, path: &[&str]) -> Result<i64, Error> {
    let at = path.iter().try_fold(result, |v, key| v.get(key));
    at.and_then(crate::events::int)
        .ok_or_else(|| Error::Decode {
            method: method.to_owned(),
            status: 200,
            message: format!(
                "expected an id at result{}",
                path.iter().map(|k| format!(".{k}")).collect::<String>()
            ),
            body_start: result.to_string().chars().take(64).collect(),
        })
}

/// Why an inbound request did not lead to a handled event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The request is not an acceptable event: malformed, too large, forged, stale, from a
    /// portal that did not install the application. Nothing was called.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The application was installed but the bot could not register itself.
    #[error("registering the bot: {0}")]
    Register(Error),
    /// A handler failed.
    #[error("{event}: handler failed: {source}")]
    Handler {
        /// The event name.
        event: String,
        /// What the handler returned.
        source: HandlerError,
    },
}

impl BotError {
    /// The HTTP status to answer the sender with: 400 malformed, 401 no application token,
    /// 403 forged or not allowed, 413 too large, 500 our own failure, 503 too busy to verify an
    /// install now.
    pub fn status(&self) -> u16 {
        match self {
            Self::Event(e) => e.status(),
            Self::Register(_) | Self::Handler { .. } => 500,
        }
    }
}

/// What [`BotService::receive`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handled {
    /// The event name.
    pub event: String,
    /// The portal it came from.
    pub member_id: String,
    /// It installed the application on a new portal.
    pub installed: bool,
    /// The bot registered itself (an `ONAPPINSTALL` with a handler URL configured).
    pub registration: Option<Registration>,
    /// A handler took the event (`false`: no handler for it, or it runs in the background).
    pub handled: bool,
}

/// Handlers running in the background, so [`BotService::settled`] can wait for them.
#[derive(Default)]
struct Tasks {
    running: AtomicUsize,
    idle: Notify,
}

struct Running(Arc<ServiceInner>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.tasks.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks.idle.notify_waiters();
        }
    }
}

struct ServiceInner {
    app: App,
    bot: Bot,
    api: BotApi,
    handler_url: Option<String>,
    background: bool,
    max_body: usize,
    read_timeout: Duration,
    /// Requests being read and verified; beyond its permits they are turned away.
    admission: Arc<Semaphore>,
    tasks: Tasks,
}

/// How long the HTTP integration waits for a request body by default: a portal sends an event
/// in milliseconds; a client that trickles it in (slowloris) holds a connection and a slot.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests read and verified at once by default: each may cost a body (1 MiB) and its parse
/// (a few MiB at most, see [`EventLimits`]), so the memory unverified requests can take is
/// bounded; events arrive one by one per portal, so real traffic stays far below.
const DEFAULT_MAX_CONCURRENT: usize = 32;

/// An [`App`] serving a [`Bot`]: verifies inbound requests, registers the bot on portals that
/// install the application, and routes events to the bot's handlers with the portal's client.
/// Cheap to clone.
#[derive(Clone)]
pub struct BotService {
    inner: Arc<ServiceInner>,
}

impl fmt::Debug for BotService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotService")
            .field("bot", &self.inner.bot)
            .field("handler_url", &self.inner.handler_url)
            .field("background", &self.inner.background)
            .finish_non_exhaustive()
    }
}

impl BotService {
    /// Serves `bot` for `app`.
    pub fn new(app: App, bot: Bot) -> Self {
        Self {
            inner: Arc::new(ServiceInner {
                app,
                bot,
                api: BotApi::Classic,
                handler_url: None,
                background: false,
                max_body: EventLimits::default().max_bytes,
                read_timeout: DEFAULT_READ_TIMEOUT,
                admission: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT)),
                tasks: Tasks::default(),
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut ServiceInner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let inner = &self.inner;
                let mut copy = ServiceInner {
                    app: inner.app.clone(),
                    bot: inner.bot.clone(),
                    api: inner.api,
                    handler_url: inner.handler_url.clone(),
                    background: inner.background,
                    max_body: inner.max_body,
                    read_timeout: inner.read_timeout,
                    admission: inner.admission.clone(),
                    tasks: Tasks::default(),
                };
                f(&mut copy);
                self.inner = Arc::new(copy);
            }
        }
        self
    }

    /// The public URL the portal POSTs the bot's events to; when set, an `ONAPPINSTALL`
    /// registers the bot (and its commands) with it.
    pub fn handler_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.with(|inner| inner.handler_url = Some(url))
    }

    /// Which API the bot registers with on `ONAPPINSTALL`: [`BotApi::Classic`]
    /// (`imbot.register`, the default) or [`BotApi::V2`] (`imbot.v2.Bot.register` in webhook
    /// mode, events POSTed to the handler URL). Events of both APIs are handled either way.
    pub fn register_with(self, api: BotApi) -> Self {
        self.with(|inner| inner.api = api)
    }

    /// Runs handlers after answering: [`BotService::receive`] verifies the event, spawns its
    /// handler and returns at once, so the portal gets its answer quickly however slow the
    /// handler is. Handler errors are then only logged. Installations are always handled
    /// before answering. Default: off (the answer waits for the handler).
    pub fn background(self, background: bool) -> Self {
        self.with(|inner| inner.background = background)
    }

    /// The largest request body the HTTP integration reads (default: the default
    /// [`EventLimits::max_bytes`]); keep it in step with the app's limits.
    pub fn max_body(self, bytes: usize) -> Self {
        self.with(|inner| inner.max_body = bytes)
    }

    /// How long the HTTP integration waits for a request's body (default 10 s); a slower one
    /// is answered `408` and its connection closed.
    pub fn read_timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.read_timeout = timeout)
    }

    /// How many requests the HTTP integration reads and verifies at once (default 32); more
    /// are answered `503` at once. Verified events then run their handlers outside this limit.
    pub fn max_concurrent(self, requests: usize) -> Self {
        self.with(|inner| inner.admission = Arc::new(Semaphore::new(requests)))
    }

    /// The application.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The bot.
    pub fn bot(&self) -> &Bot {
        &self.inner.bot
    }

    /// The configured handler URL.
    pub fn url(&self) -> Option<&str> {
        self.inner.handler_url.as_deref()
    }

    #[cfg(feature = "axum")]
    pub(crate) fn body_limit(&self) -> usize {
        self.inner.max_body
    }

    #[cfg(feature = "axum")]
    pub(crate) fn body_timeout(&self) -> Duration {
        self.inner.read_timeout
    }

    /// A slot for reading and verifying one more request, if one is free.
    #[cfg(feature = "axum")]
    pub(crate) fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.admission.clone().try_acquire_owned().ok()
    }

    /// Verifies a request body ([`App::receive`]) and handles the event. A request that fails
    /// verification is refused before any call is made.
    pub async fn receive(
        &self,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Handled, BotError> {
        let delivery = self.inner.app.receive(body, content_type).await?;
        self.handle(delivery).await
    }

    /// Handles a verified event: registers the bot on `ONAPPINSTALL` (when a handler URL is
    /// set), otherwise routes the event to the bot's handlers.
    pub async fn handle(&self, delivery: Delivery) -> Result<Handled, BotError> {
        let Delivery {
            event,
            member_id,
            client,
            installed,
            ..
        } = delivery;
        let name = event.name.clone();
        let mut handled = Handled {
            event: name.clone(),
            member_id: member_id.clone(),
            installed,
            registration: None,
            handled: false,
        };
        if name == "ONAPPINSTALL" {
            let Some(url) = &self.inner.handler_url else {
                tracing::debug!(
                    member_id,
                    "installed; no handler URL to register the bot with"
                );
                return Ok(handled);
            };
            let bot = &self.inner.bot;
            let registration = match self.inner.api {
                BotApi::Classic => bot.register(&client, url).await,
                BotApi::V2 => {
                    bot.register_v2(&client, V2Delivery::Webhook(url.clone()))
                        .await
                }
            }
            .map_err(BotError::Register)?;
            tracing::info!(member_id, bot_id = registration.bot_id, "bot registered");
            if let Some(h) = &self.inner.bot.def.on_install {
                h(Incoming::new(registration.clone(), client, &member_id))
                    .await
                    .map_err(|source| BotError::Handler {
                        event: name,
                        source,
                    })?;
            }
            handled.registration = Some(registration);
            handled.handled = true;
            return Ok(handled);
        }
        let event = BotEvent::from_event(&event);
        if self.inner.background {
            self.inner.tasks.running.fetch_add(1, Ordering::AcqRel);
            let running = Running(self.inner.clone());
            tokio::spawn(async move {
                let bot = &running.0.bot;
                if let Err(e) = bot.dispatch(event, client, &member_id).await {
                    tracing::warn!(event = name, member_id, "bot handler failed: {e}");
                }
                drop(running);
            });
            return Ok(handled);
        }
        handled.handled = self
            .inner
            .bot
            .dispatch(event, client, &member_id)
            .await
            .map_err(|source| BotError::Handler {
                event: name,
                source,
            })?;
        Ok(handled)
    }

    /// Waits until no handler runs in the background.
    pub async fn settled(&self) {
        let tasks = &self.inner.tasks;
        loop {
            let idle = tasks.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if tasks.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}
