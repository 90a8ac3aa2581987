//! What a bot handler reads: chat-bot events as small typed views, leniently.
//!
//! The wire shapes are the schema's: [`Event::typed`] decodes `data` into the generated types
//! ([`crate::imbot::BotMessageEvent`], [`crate::imbot::BotCommandEvent`],
//! [`crate::imbot::BotJoinEvent`], [`crate::imbot::BotDeleteEvent`] for the classic events,
//! [`crate::imbot::BotEventData`] for the `imbot.v2` ones, which [`crate::bot::poll`] gets too),
//! and this module only maps those into views. Classic events (`ONIMBOTMESSAGEADD`,
//! `ONIMCOMMANDADD`, `ONIMBOTJOINCHAT`, `ONIMBOTDELETE`, ...) and `imbot.v2` events
//! (`ONIMBOTV2MESSAGEADD`, ...) give the same views, which remember which API they came from so
//! that [`Message::reply`] answers through the matching method.
//!
//! Decoding never fails. The generated types read a form-encoded event (every scalar a string:
//! `"27"`, `"Y"`, `"1"`) and a polled one (real numbers and booleans) alike, and a field of an
//! unexpected shape reads as absent. An event this module has no view for, a known one whose
//! data does not decode, or one without the ids a reply needs (bot, dialog), comes through as
//! [`BotEvent::Other`] with its raw data.

use std::fmt;

use serde_json::Value;

use crate::event_types::TypedEvent;
use crate::events::{Event, EventAuth, redacted};
use crate::imbot::{
    BotChat, BotCommandEvent, BotDeleteEvent, BotEventData, BotEventType, BotInfo, BotJoinEvent,
    BotMessageEvent, ChatUser, CommandReply, EventBot, EventUser, MessageChatType, OutgoingMessage,
};
use crate::{Client, DialogId, Error};

/// Which chat-bot API an event belongs to, and so which methods answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BotApi {
    /// `imbot.*`: events `ONIMBOT*` / `ONIMCOMMANDADD`, answered with `imbot.message.add` and
    /// `imbot.command.answer`.
    Classic,
    /// `imbot.v2.*`: events `ONIMBOTV2*`, answered with `imbot.v2.Chat.Message.send` and
    /// `imbot.v2.Command.answer`.
    V2,
}

/// A bot an event is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BotRef {
    /// The bot's id (a portal user id).
    pub id: i64,
    /// The code it was registered with (`CODE` / `code`); empty if the event does not say.
    pub code: String,
}

/// A person (or bot) as events describe the author of a message or who added a bot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// User id; 0 when the event does not say.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Job title.
    pub work_position: String,
    /// `M` or `F`, when known.
    pub gender: Option<String>,
    /// The user is a bot.
    pub is_bot: bool,
    /// An extranet user (outside the company).
    pub is_extranet: bool,
    /// An open-channel connector (a customer writing from outside).
    pub is_connector: bool,
}

/// The kind of chat an event happened in (`CHAT_TYPE` letters of classic events, `type` /
/// `messageType` of v2 chats).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChatType {
    /// A private dialog between two users (`P`, `private`).
    Private,
    /// A group chat (`C`, `chat`).
    Group,
    /// An open chat anyone may join (`O`, `open`).
    Open,
    /// An open line, a customer conversation (`L`, `lines`).
    OpenLine,
    /// System notifications (`S`).
    System,
    /// A channel (`N`, `channel`, `generalChannel`).
    Channel,
    /// An open channel (`J`, `openChannel`).
    OpenChannel,
    /// A comment thread (`T`, `thread`).
    Thread,
    /// A Copilot chat (`A`, `copilot`).
    Copilot,
    /// A collab (`B`, `collab`).
    Collab,
    /// An external chat (`X`).
    External,
    /// Any other spelling, kept verbatim.
    Other(String),
}

impl ChatType {
    /// Reads a classic letter or a v2 word; never fails.
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "P" | "private" => Self::Private,
            "C" | "chat" => Self::Group,
            "O" | "open" => Self::Open,
            "L" | "lines" | "openline" | "openLine" => Self::OpenLine,
            "S" | "system" => Self::System,
            "N" | "channel" | "generalChannel" => Self::Channel,
            "J" | "openChannel" => Self::OpenChannel,
            "T" | "thread" | "comment" => Self::Thread,
            "A" | "copilot" => Self::Copilot,
            "B" | "collab" => Self::Collab,
            "X" | "external" => Self::External,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A message addressed to a bot: `ONIMBOTMESSAGEADD` (also `...UPDATE`, `...DELETE`) or
/// `ONIMBOTV2MESSAGEADD` (also `...UPDATE`, `...DELETE`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// Which API the event came from.
    pub api: BotApi,
    /// The bot it is addressed to (the first of [`Message::bots`]).
    pub bot: BotRef,
    /// Every bot of the application the event is for (classic events list them all).
    pub bots: Vec<BotRef>,
    /// Message id; 0 when the event does not say.
    pub message_id: i64,
    /// Where to answer, from the bot's side: the author's user id in a private dialog,
    /// `chat<N>` in a group.
    pub dialog_id: DialogId,
    /// The chat's id, when the event says.
    pub chat_id: Option<i64>,
    /// The kind of chat.
    pub chat_type: ChatType,
    /// The text (empty for a deleted message, or one with attachments only). In a group chat a
    /// mention of the bot is removed (`MESSAGE_ORIGINAL` keeps it).
    pub text: String,
    /// The author's user id.
    pub from_user_id: i64,
    /// The author.
    pub user: User,
    /// The portal's language (`en`, `de`, ...).
    pub language: Option<String>,
}

/// A slash command addressed to a bot: `ONIMCOMMANDADD` or `ONIMBOTV2COMMANDADD`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Command {
    /// Which API the event came from.
    pub api: BotApi,
    /// The bot that registered the command.
    pub bot: BotRef,
    /// The registered command's id (`COMMAND_ID`), needed to answer it.
    pub command_id: i64,
    /// The command without its slash, as registered: `search` for `/search Roof`.
    pub command: String,
    /// What follows the command: `Roof`.
    pub params: String,
    /// How it was invoked: `TEXTAREA` / `textarea` (typed), `keyboard`, `menu`.
    pub context: Option<String>,
    /// The message that carried the command.
    pub message_id: i64,
    /// Where the command was typed, from the bot's side.
    pub dialog_id: DialogId,
    /// The chat's id, when the event says.
    pub chat_id: Option<i64>,
    /// The kind of chat.
    pub chat_type: ChatType,
    /// Who invoked it.
    pub from_user_id: i64,
    /// Who invoked it.
    pub user: User,
    /// The portal's language.
    pub language: Option<String>,
}

/// A bot joined a chat: `ONIMBOTJOINCHAT` (a user opened a private dialog with the bot, or
/// added it to a group chat) or `ONIMBOTV2JOINCHAT`. The moment for a welcome message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Join {
    /// Which API the event came from.
    pub api: BotApi,
    /// The bot that joined.
    pub bot: BotRef,
    /// Every bot of the application the event is for.
    pub bots: Vec<BotRef>,
    /// The dialog, from the bot's side.
    pub dialog_id: DialogId,
    /// The chat's id, when the event says.
    pub chat_id: Option<i64>,
    /// The kind of chat.
    pub chat_type: ChatType,
    /// Who opened the dialog or added the bot (may be id 0: the event says nobody).
    pub user: User,
    /// The portal's language.
    pub language: Option<String>,
}

/// A bot was deleted: `ONIMBOTDELETE` or `ONIMBOTV2DELETE`. The last event it gets.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BotDeleted {
    /// Which API the event came from.
    pub api: BotApi,
    /// The bot.
    pub bot: BotRef,
}

/// Any other event, or a bot event without the ids its view needs: the name and the raw data.
/// `Debug` hides tokens inside the data (bot events carry the bot's own token pair).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct OtherEvent {
    /// Upper-case event name.
    pub name: String,
    /// The payload as it arrived.
    pub data: Value,
}

impl fmt::Debug for OtherEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtherEvent")
            .field("name", &self.name)
            .field("data", &redacted(&self.data))
            .finish()
    }
}

/// A chat-bot event, decoded. Unknown events are [`BotEvent::Other`], never an error.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BotEvent {
    /// A new message to the bot.
    Message(Message),
    /// A message in the bot's chat was edited.
    MessageUpdate(Message),
    /// A message in the bot's chat was deleted (its text is usually empty).
    MessageDelete(Message),
    /// A slash command of the bot.
    Command(Command),
    /// The bot joined a chat.
    Join(Join),
    /// The bot was deleted.
    BotDelete(BotDeleted),
    /// Everything else, with the raw data.
    Other(OtherEvent),
}

impl BotEvent {
    /// Decodes a (verified) event through [`Event::typed`].
    pub fn from_event(event: &Event) -> Self {
        match event.typed() {
            // `typed` already cloned the event: keep that copy.
            Ok(TypedEvent::Unknown(raw)) => Some(Self::other(raw.name, raw.data)),
            Ok(typed) => Self::view(&typed),
            Err(e) => {
                tracing::debug!("{e}: kept as raw data");
                None
            }
        }
        .unwrap_or_else(|| Self::other(event.name.clone(), event.data.clone()))
    }

    /// Decodes an event from its name and `data` (an entry of `imbot.v2.Event.get`, say) the
    /// same way, through [`Event::typed`]. [`crate::bot::poll`] needs no raw data: it reads the
    /// queue as the generated `BotEvents`, whose entries hold the same `BotEventData`.
    pub fn from_parts(name: &str, data: &Value) -> Self {
        let event = Event {
            name: name.trim().to_ascii_uppercase(),
            handler_id: None,
            ts: None,
            data: data.clone(),
            auth: EventAuth::default(),
        };
        let view = event.typed().ok().and_then(|typed| Self::view(&typed));
        view.unwrap_or_else(|| Self::other(event.name, event.data))
    }

    /// A queued `imbot.v2` event as `imbot.v2.Event.get` decoded it. Without a view, its data
    /// is written back out as JSON (keys the schema does not declare included).
    pub(crate) fn from_queued(kind: &BotEventType, data: Option<&BotEventData>) -> Self {
        let view = data.and_then(|data| Self::v2(kind, data));
        view.unwrap_or_else(|| {
            let data = data.map_or(Value::Null, |d| {
                serde_json::to_value(d).unwrap_or(Value::Null)
            });
            Self::other(kind.as_str().trim().to_ascii_uppercase(), data)
        })
    }

    fn other(name: String, data: Value) -> Self {
        Self::Other(OtherEvent { name, data })
    }

    /// The view of a typed event; `None` when it has none or lacks the ids the view needs.
    #[allow(deprecated)] // The classic events are outdated in the docs, and still what most bots get.
    fn view(typed: &TypedEvent) -> Option<Self> {
        use BotEventType as K;
        use TypedEvent as T;
        match typed {
            T::OnImbotMessageAdd(d) => classic_message(d).map(Self::Message),
            T::OnImbotMessageUpdate(d) => classic_message(d).map(Self::MessageUpdate),
            T::OnImbotMessageDelete(d) => classic_message(d).map(Self::MessageDelete),
            T::OnImCommandAdd(d) => classic_command(d).map(Self::Command),
            T::OnImbotJoinChat(d) => classic_join(d).map(Self::Join),
            T::OnImbotDelete(d) => classic_delete(d).map(Self::BotDelete),
            T::OnImbotV2MessageAdd(d) => Self::v2(&K::MessageAdd, d),
            T::OnImbotV2MessageUpdate(d) => Self::v2(&K::MessageUpdate, d),
            T::OnImbotV2MessageDelete(d) => Self::v2(&K::MessageDelete, d),
            T::OnImbotV2CommandAdd(d) => Self::v2(&K::CommandAdd, d),
            T::OnImbotV2JoinChat(d) => Self::v2(&K::JoinChat, d),
            T::OnImbotV2Delete(d) => Self::v2(&K::Delete, d),
            _ => None,
        }
    }

    /// The view of an `imbot.v2` event, posted or polled.
    fn v2(kind: &BotEventType, data: &BotEventData) -> Option<Self> {
        use BotEventType as K;
        match kind {
            K::MessageAdd => v2_message(data).map(Self::Message),
            K::MessageUpdate => v2_message(data).map(Self::MessageUpdate),
            K::MessageDelete => v2_message(data).map(Self::MessageDelete),
            K::CommandAdd => v2_command(data).map(Self::Command),
            K::JoinChat => v2_join(data).map(Self::Join),
            K::Delete => Some(Self::BotDelete(BotDeleted {
                api: BotApi::V2,
                bot: v2_bot(data.bot.as_ref()?),
            })),
            _ => None,
        }
    }

    /// The event's wire name (`ONIMBOTMESSAGEADD`, `ONIMBOTV2JOINCHAT`, ...).
    pub fn name(&self) -> &str {
        let v2 = self.api() == Some(BotApi::V2);
        match self {
            Self::Message(_) if v2 => "ONIMBOTV2MESSAGEADD",
            Self::Message(_) => "ONIMBOTMESSAGEADD",
            Self::MessageUpdate(_) if v2 => "ONIMBOTV2MESSAGEUPDATE",
            Self::MessageUpdate(_) => "ONIMBOTMESSAGEUPDATE",
            Self::MessageDelete(_) if v2 => "ONIMBOTV2MESSAGEDELETE",
            Self::MessageDelete(_) => "ONIMBOTMESSAGEDELETE",
            Self::Command(_) if v2 => "ONIMBOTV2COMMANDADD",
            Self::Command(_) => "ONIMCOMMANDADD",
            Self::Join(_) if v2 => "ONIMBOTV2JOINCHAT",
            Self::Join(_) => "ONIMBOTJOINCHAT",
            Self::BotDelete(_) if v2 => "ONIMBOTV2DELETE",
            Self::BotDelete(_) => "ONIMBOTDELETE",
            Self::Other(other) => &other.name,
        }
    }

    /// The API the event belongs to (`None` for [`BotEvent::Other`]).
    pub fn api(&self) -> Option<BotApi> {
        match self {
            Self::Message(m) | Self::MessageUpdate(m) | Self::MessageDelete(m) => Some(m.api),
            Self::Command(c) => Some(c.api),
            Self::Join(j) => Some(j.api),
            Self::BotDelete(d) => Some(d.api),
            Self::Other(_) => None,
        }
    }

    /// The bot the event is addressed to.
    pub fn bot(&self) -> Option<&BotRef> {
        match self {
            Self::Message(m) | Self::MessageUpdate(m) | Self::MessageDelete(m) => Some(&m.bot),
            Self::Command(c) => Some(&c.bot),
            Self::Join(j) => Some(&j.bot),
            Self::BotDelete(d) => Some(&d.bot),
            Self::Other(_) => None,
        }
    }

    /// The dialog the event happened in, from the bot's side.
    pub fn dialog_id(&self) -> Option<&DialogId> {
        match self {
            Self::Message(m) | Self::MessageUpdate(m) | Self::MessageDelete(m) => {
                Some(&m.dialog_id)
            }
            Self::Command(c) => Some(&c.dialog_id),
            Self::Join(j) => Some(&j.dialog_id),
            Self::BotDelete(_) | Self::Other(_) => None,
        }
    }
}

// ------------------------------------------------------------------ replies

impl Message {
    /// Answers in the message's dialog as the bot: `imbot.message.add` (classic) or
    /// `imbot.v2.Chat.Message.send` (v2). Returns the new message's id.
    pub async fn reply(&self, client: &Client, text: impl Into<String>) -> Result<i64, Error> {
        send(client, self.api, self.bot.id, &self.dialog_id, text.into()).await
    }
}

impl Join {
    /// Writes in the dialog the bot joined (a welcome), like [`Message::reply`].
    pub async fn reply(&self, client: &Client, text: impl Into<String>) -> Result<i64, Error> {
        send(client, self.api, self.bot.id, &self.dialog_id, text.into()).await
    }
}

impl Command {
    /// Answers the command: `imbot.command.answer` (classic, returns the answer's message id)
    /// or `imbot.v2.Command.answer` (v2, which reports no id).
    pub async fn answer(
        &self,
        client: &Client,
        text: impl Into<String>,
    ) -> Result<Option<i64>, Error> {
        let text = text.into();
        match self.api {
            #[allow(deprecated)] // Classic events are answered by classic methods.
            BotApi::Classic => client
                .imbot_command_answer(self.command_id, self.message_id, text)
                .command(&self.command)
                .await
                .map(Some),
            BotApi::V2 => {
                client
                    .imbot_v2_command_answer(
                        self.bot.id,
                        self.command_id,
                        self.message_id,
                        self.dialog_id.clone(),
                    )
                    .fields(CommandReply::new().message(text))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Writes in the command's dialog as the bot, like [`Message::reply`] (a plain message, not
    /// tied to the command).
    pub async fn reply(&self, client: &Client, text: impl Into<String>) -> Result<i64, Error> {
        send(client, self.api, self.bot.id, &self.dialog_id, text.into()).await
    }
}

async fn send(
    client: &Client,
    api: BotApi,
    bot_id: i64,
    dialog_id: &DialogId,
    text: String,
) -> Result<i64, Error> {
    match api {
        #[allow(deprecated)] // Classic events are answered by classic methods.
        BotApi::Classic => {
            client
                .imbot_message_add(dialog_id.clone(), text)
                .bot_id(bot_id)
                .await
        }
        BotApi::V2 => {
            let fields = OutgoingMessage::new().message(text);
            let sent = client
                .imbot_v2_chat_message_send(bot_id, dialog_id.clone(), fields)
                .await?;
            Ok(sent.id)
        }
    }
}

// ------------------------------------------------------------------ classic views

/// The bots of a classic event's `BOT` map, by bot id.
fn classic_bots(bots: Option<&std::collections::BTreeMap<String, EventBot>>) -> Vec<BotRef> {
    bots.into_iter()
        .flatten()
        .filter_map(|(key, bot)| {
            Some(BotRef {
                id: bot.bot_id.or_else(|| key.parse().ok())?,
                code: bot.bot_code.clone().unwrap_or_default(),
            })
        })
        .collect()
}

fn classic_user(user: Option<&EventUser>) -> User {
    let Some(user) = user else {
        return User::default();
    };
    User {
        id: user.id.unwrap_or(0),
        name: user.name.clone().unwrap_or_default(),
        first_name: user.first_name.clone().unwrap_or_default(),
        last_name: user.last_name.clone().unwrap_or_default(),
        work_position: user.work_position.clone().unwrap_or_default(),
        gender: user.gender.as_ref().map(|g| g.as_str().to_owned()),
        is_bot: user.is_bot.unwrap_or(false),
        is_extranet: user.is_extranet.unwrap_or(false),
        is_connector: user.is_connector.unwrap_or(false),
    }
}

/// `CHAT_TYPE`, else `MESSAGE_TYPE`.
fn classic_chat_type(
    chat_type: Option<&MessageChatType>,
    message_type: Option<&MessageChatType>,
) -> ChatType {
    chat_type
        .or(message_type)
        .map_or(ChatType::Other(String::new()), |t| {
            ChatType::parse(t.as_str())
        })
}

fn classic_message(data: &BotMessageEvent) -> Option<Message> {
    let bots = classic_bots(data.bot.as_ref());
    let bot = bots.first()?.clone();
    let params = data.params.as_ref()?;
    let user = classic_user(data.user.as_ref());
    Some(Message {
        api: BotApi::Classic,
        bot,
        bots,
        // The update and delete events name the message `ID`.
        message_id: params.message_id.or(params.id).unwrap_or(0),
        dialog_id: params.dialog_id.clone()?,
        chat_id: params.chat_id.or(params.to_chat_id),
        chat_type: classic_chat_type(params.chat_type.as_ref(), params.message_type.as_ref()),
        text: params.message.clone().unwrap_or_default(),
        from_user_id: params.from_user_id.or(params.author_id).unwrap_or(user.id),
        user,
        language: params.language.clone(),
    })
}

fn classic_command(data: &BotCommandEvent) -> Option<Command> {
    let (key, entry) = data.command.as_ref()?.iter().next()?;
    let params = data.params.as_ref()?;
    let user = classic_user(data.user.as_ref());
    Some(Command {
        api: BotApi::Classic,
        bot: BotRef {
            id: entry.bot_id?,
            code: entry.bot_code.clone().unwrap_or_default(),
        },
        command_id: entry.command_id.or_else(|| key.parse().ok())?,
        command: command_name(entry.command.as_deref().unwrap_or_default()),
        params: entry.command_params.clone().unwrap_or_default(),
        context: entry
            .command_context
            .as_ref()
            .map(|c| c.as_str().to_owned()),
        message_id: entry.message_id.or(params.message_id).unwrap_or(0),
        dialog_id: params.dialog_id.clone()?,
        chat_id: params.chat_id.or(params.to_chat_id),
        chat_type: classic_chat_type(params.chat_type.as_ref(), params.message_type.as_ref()),
        from_user_id: params.from_user_id.or(params.author_id).unwrap_or(user.id),
        user,
        language: params.language.clone(),
    })
}

fn classic_join(data: &BotJoinEvent) -> Option<Join> {
    let params = data.params.as_ref()?;
    let mut bots = classic_bots(data.bot.as_ref());
    if bots.is_empty() {
        bots.push(BotRef {
            id: params.bot_id?,
            code: String::new(),
        });
    }
    Some(Join {
        api: BotApi::Classic,
        bot: bots[0].clone(),
        bots,
        dialog_id: params.dialog_id.clone()?,
        chat_id: params.chat_id,
        chat_type: classic_chat_type(params.chat_type.as_ref(), params.message_type.as_ref()),
        user: classic_user(data.user.as_ref()),
        language: params.language.clone(),
    })
}

fn classic_delete(data: &BotDeleteEvent) -> Option<BotDeleted> {
    Some(BotDeleted {
        api: BotApi::Classic,
        bot: BotRef {
            id: data.bot_id?,
            code: data.bot_code.clone().unwrap_or_default(),
        },
    })
}

// ------------------------------------------------------------------ v2 views

fn v2_bot(bot: &BotInfo) -> BotRef {
    BotRef {
        id: bot.id,
        code: bot.code.clone().unwrap_or_default(),
    }
}

fn v2_user(user: Option<&ChatUser>) -> User {
    let Some(user) = user else {
        return User::default();
    };
    User {
        id: user.id,
        name: user.name.clone().unwrap_or_default(),
        first_name: user.first_name.clone().unwrap_or_default(),
        last_name: user.last_name.clone().unwrap_or_default(),
        work_position: user.work_position.clone().unwrap_or_default(),
        gender: user.gender.as_ref().map(|g| g.as_str().to_owned()),
        is_bot: user.bot.unwrap_or(false),
        is_extranet: user.extranet.unwrap_or(false),
        is_connector: user.connector.unwrap_or(false),
    }
}

/// The chat's dialog id (`chat.dialogId`, else `dialogId`), id and type (`chat.messageType`,
/// else `chat.type`).
fn v2_chat(data: &BotEventData) -> Option<(DialogId, Option<i64>, ChatType)> {
    let chat: Option<&BotChat> = data.chat.as_ref();
    let dialog_id = chat
        .and_then(|c| c.dialog_id.clone())
        .or_else(|| data.dialog_id.clone())?;
    let chat_type = chat
        .and_then(|c| {
            c.message_type
                .as_deref()
                .or_else(|| c.kind.as_ref().map(|k| k.as_str()))
        })
        .map_or(ChatType::Other(String::new()), ChatType::parse);
    Some((dialog_id, chat.map(|c| c.id), chat_type))
}

fn v2_message(data: &BotEventData) -> Option<Message> {
    let bot = v2_bot(data.bot.as_ref()?);
    let (dialog_id, chat_id, chat_type) = v2_chat(data)?;
    let message = data.message.as_ref();
    let user = v2_user(data.user.as_ref());
    Some(Message {
        api: BotApi::V2,
        bots: vec![bot.clone()],
        bot,
        message_id: message.map(|m| m.id).or(data.message_id).unwrap_or(0),
        dialog_id,
        chat_id: chat_id.or_else(|| message.and_then(|m| m.chat_id)),
        chat_type,
        text: message.and_then(|m| m.text.clone()).unwrap_or_default(),
        from_user_id: message.and_then(|m| m.author_id).unwrap_or(user.id),
        user,
        language: data.language.clone(),
    })
}

fn v2_command(data: &BotEventData) -> Option<Command> {
    let bot = v2_bot(data.bot.as_ref()?);
    let (dialog_id, chat_id, chat_type) = v2_chat(data)?;
    let command = data.command.as_ref()?;
    let message = data.message.as_ref();
    let user = v2_user(data.user.as_ref());
    Some(Command {
        api: BotApi::V2,
        bot,
        command_id: command.id,
        command: command_name(command.command.as_deref().unwrap_or_default()),
        params: command.params.clone().unwrap_or_default(),
        context: command.context.clone(),
        message_id: message.map(|m| m.id).or(data.message_id).unwrap_or(0),
        dialog_id,
        chat_id,
        chat_type,
        from_user_id: message.and_then(|m| m.author_id).unwrap_or(user.id),
        user,
        language: data.language.clone(),
    })
}

fn v2_join(data: &BotEventData) -> Option<Join> {
    let bot = v2_bot(data.bot.as_ref()?);
    let (dialog_id, chat_id, chat_type) = v2_chat(data)?;
    Some(Join {
        api: BotApi::V2,
        bots: vec![bot.clone()],
        bot,
        dialog_id,
        chat_id,
        chat_type,
        user: v2_user(data.user.as_ref()),
        language: data.language.clone(),
    })
}

/// `search` for `/search`, `Search` or ` /search `: how commands are compared.
pub(crate) fn command_name(raw: &str) -> String {
    raw.trim().trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_types_read_letters_and_words() {
        assert_eq!(ChatType::parse("P"), ChatType::Private);
        assert_eq!(ChatType::parse("chat"), ChatType::Group);
        assert_eq!(ChatType::parse("openChannel"), ChatType::OpenChannel);
        assert_eq!(ChatType::parse("Z"), ChatType::Other("Z".into()));
        assert_eq!(command_name(" /Search "), "Search");
    }

    #[test]
    fn a_known_event_without_its_ids_is_other() {
        let event = BotEvent::from_parts("onimbotmessageadd", &json!({"PARAMS": {"MESSAGE": "x"}}));
        assert!(
            matches!(&event, BotEvent::Other(o) if o.name == "ONIMBOTMESSAGEADD"),
            "{event:?}"
        );
    }

    #[test]
    fn data_that_does_not_decode_is_other_with_the_raw_data() {
        for (name, data) in [
            ("ONIMBOTV2MESSAGEADD", json!("not an object")),
            ("ONIMBOTDELETE", json!(["x", "y"])),
            ("ONIMBOTV2REACTIONCHANGE", json!({"bot": {"id": 5}})),
        ] {
            let event = BotEvent::from_parts(name, &data);
            assert!(
                matches!(&event, BotEvent::Other(o) if o.name == name && o.data == data),
                "{event:?}"
            );
        }
    }

    #[test]
    fn a_queued_event_without_a_view_keeps_its_data() {
        let data: BotEventData =
            serde_json::from_value(json!({"bot": {"id": 5}, "action": "add", "x": 1})).unwrap();
        let event = BotEvent::from_queued(&BotEventType::ReactionChange, Some(&data));
        let BotEvent::Other(other) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(other.name, "ONIMBOTV2REACTIONCHANGE");
        assert_eq!(other.data["bot"]["id"], 5);
        assert_eq!(
            (&other.data["action"], &other.data["x"]),
            (&json!("add"), &json!(1))
        );
        let event = BotEvent::from_queued(&BotEventType::MessageAdd, None);
        assert!(
            matches!(&event, BotEvent::Other(o) if o.data.is_null()),
            "{event:?}"
        );
    }

    #[test]
    fn debug_hides_tokens_in_raw_data() {
        let event = BotEvent::from_parts(
            "ONSOMETHING",
            &json!({"BOT": {"5": {"access_token": "sekrit", "AUTH": {"refresh_token": "sekrit2"}}}}),
        );
        let shown = format!("{event:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
    }
}
