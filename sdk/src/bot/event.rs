//! What a bot handler reads: chat-bot events decoded into small typed views, leniently.
//!
//! Classic events (`ONIMBOTMESSAGEADD`, `ONIMCOMMANDADD`, `ONIMBOTJOINCHAT`, `ONIMBOTDELETE`,
//! ...) carry upper-case `data[PARAMS]`, `data[USER]` and a `data[BOT]` (or `data[COMMAND]`) map
//! keyed by bot (or command) id; `imbot.v2` events (`ONIMBOTV2MESSAGEADD`, ...) carry camel-case
//! `bot`, `message`, `chat`, `user`. Both decode into the same views, which remember which API
//! they came from so that [`Message::reply`] answers through the matching method.
//!
//! Decoding never fails: a form-encoded event has every scalar as a string (`"27"`, `"Y"`,
//! `"1"`), a polled one has real numbers and booleans, and both are read the same way. A field
//! of an unexpected shape reads as absent. An event this module does not know, or a known one
//! without the ids a reply needs (bot, dialog), comes through as [`BotEvent::Other`] with its raw
//! data.

use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::events::{Event, redacted};
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
    /// Decodes a (verified) event.
    pub fn from_event(event: &Event) -> Self {
        Self::from_parts(&event.name, &event.data)
    }

    /// Decodes an event from its name and `data`, as [`crate::bot::poll`] gets them from
    /// `imbot.v2.Event.get`.
    pub fn from_parts(name: &str, data: &Value) -> Self {
        let upper = name.trim().to_ascii_uppercase();
        let decoded = match upper.as_str() {
            "ONIMBOTMESSAGEADD" => classic_message(data).map(Self::Message),
            "ONIMBOTMESSAGEUPDATE" => classic_message(data).map(Self::MessageUpdate),
            "ONIMBOTMESSAGEDELETE" => classic_message(data).map(Self::MessageDelete),
            "ONIMCOMMANDADD" => classic_command(data).map(Self::Command),
            "ONIMBOTJOINCHAT" => classic_join(data).map(Self::Join),
            "ONIMBOTDELETE" => classic_delete(data).map(Self::BotDelete),
            "ONIMBOTV2MESSAGEADD" => v2_message(data).map(Self::Message),
            "ONIMBOTV2MESSAGEUPDATE" => v2_message(data).map(Self::MessageUpdate),
            "ONIMBOTV2MESSAGEDELETE" => v2_message(data).map(Self::MessageDelete),
            "ONIMBOTV2COMMANDADD" => v2_command(data).map(Self::Command),
            "ONIMBOTV2JOINCHAT" => v2_join(data).map(Self::Join),
            "ONIMBOTV2DELETE" => v2_bot(data).map(|bot| {
                Self::BotDelete(BotDeleted {
                    api: BotApi::V2,
                    bot,
                })
            }),
            _ => None,
        };
        decoded.unwrap_or_else(|| {
            Self::Other(OtherEvent {
                name: upper,
                data: data.clone(),
            })
        })
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
            BotApi::Classic => {
                let params = json!({
                    "COMMAND_ID": self.command_id,
                    "COMMAND": self.command,
                    "MESSAGE_ID": self.message_id,
                    "MESSAGE": text,
                });
                let result: Value = client.call("imbot.command.answer", &params).await?;
                Ok(int(Some(&result)))
            }
            BotApi::V2 => {
                let params = json!({
                    "botId": self.bot.id,
                    "commandId": self.command_id,
                    "messageId": self.message_id,
                    "dialogId": self.dialog_id,
                    "fields": {"message": text},
                });
                let result: Value = client.call("imbot.v2.Command.answer", &params).await?;
                Ok(int(result.get("id")))
            }
        }
    }

    /// Writes in the command's dialog as the bot, like [`Message::reply`] (a plain message, not
    /// tied to the command).
    pub async fn reply(&self, client: &Client, text: impl Into<String>) -> Result<i64, Error> {
        send(client, self.api, self.bot.id, &self.dialog_id, text.into()).await
    }
}

/// Parameters of `imbot.message.add`.
#[derive(Serialize)]
struct ClassicSend<'a> {
    #[serde(rename = "BOT_ID")]
    bot_id: i64,
    #[serde(rename = "DIALOG_ID")]
    dialog_id: &'a DialogId,
    #[serde(rename = "MESSAGE")]
    message: String,
}

async fn send(
    client: &Client,
    api: BotApi,
    bot_id: i64,
    dialog_id: &DialogId,
    text: String,
) -> Result<i64, Error> {
    match api {
        BotApi::Classic => {
            let params = ClassicSend {
                bot_id,
                dialog_id,
                message: text,
            };
            let result: Value = client.call("imbot.message.add", &params).await?;
            id_of("imbot.message.add", &result)
        }
        BotApi::V2 => {
            let params = json!({
                "botId": bot_id,
                "dialogId": dialog_id,
                "fields": {"message": text},
            });
            let result: Value = client.call("imbot.v2.Chat.Message.send", &params).await?;
            id_of(
                "imbot.v2.Chat.Message.send",
                result.get("id").unwrap_or(&result),
            )
        }
    }
}

/// A message id from a result, or a decode error naming the method.
fn id_of(method: &str, result: &Value) -> Result<i64, Error> {
    int(Some(result)).ok_or_else(|| Error::Decode {
        method: method.to_owned(),
        status: 200,
        message: "expected a message id".to_owned(),
        body_start: result.to_string().chars().take(64).collect(),
    })
}

// ------------------------------------------------------------------ classic decoding

fn classic_bots(data: &Value) -> Vec<BotRef> {
    let mut bots: Vec<BotRef> = entries(data.get("BOT"))
        .into_iter()
        .filter_map(|(key, bot)| {
            let id = int(bot.get("BOT_ID")).or_else(|| key.parse().ok())?;
            Some(BotRef {
                id,
                code: text(bot.get("BOT_CODE")).unwrap_or_default(),
            })
        })
        .collect();
    if bots.is_empty()
        && let Some(id) = int(data.pointer("/PARAMS/BOT_ID"))
    {
        bots.push(BotRef {
            id,
            code: String::new(),
        });
    }
    bots
}

fn classic_user(user: Option<&Value>) -> User {
    let Some(user) = user else {
        return User::default();
    };
    User {
        id: int(user.get("ID")).unwrap_or(0),
        name: text(user.get("NAME")).unwrap_or_default(),
        first_name: text(user.get("FIRST_NAME")).unwrap_or_default(),
        last_name: text(user.get("LAST_NAME")).unwrap_or_default(),
        work_position: text(user.get("WORK_POSITION")).unwrap_or_default(),
        gender: text(user.get("GENDER")),
        is_bot: flag(user.get("IS_BOT")).unwrap_or(false),
        is_extranet: flag(user.get("IS_EXTRANET")).unwrap_or(false),
        is_connector: flag(user.get("IS_CONNECTOR")).unwrap_or(false),
    }
}

fn classic_chat_type(params: &Value) -> ChatType {
    text(params.get("CHAT_TYPE"))
        .or_else(|| text(params.get("MESSAGE_TYPE")))
        .map_or(ChatType::Other(String::new()), |t| ChatType::parse(&t))
}

fn classic_message(data: &Value) -> Option<Message> {
    let bots = classic_bots(data);
    let bot = bots.first()?.clone();
    let params = data.get("PARAMS")?;
    let dialog_id = DialogId::parse(&text(params.get("DIALOG_ID"))?);
    let user = classic_user(data.get("USER"));
    Some(Message {
        api: BotApi::Classic,
        bot,
        bots,
        message_id: int(params.get("MESSAGE_ID")).unwrap_or(0),
        dialog_id,
        chat_id: int(params.get("CHAT_ID")).or_else(|| int(params.get("TO_CHAT_ID"))),
        chat_type: classic_chat_type(params),
        text: text(params.get("MESSAGE")).unwrap_or_default(),
        from_user_id: int(params.get("FROM_USER_ID"))
            .or_else(|| int(params.get("AUTHOR_ID")))
            .unwrap_or(user.id),
        user,
        language: text(params.get("LANGUAGE")),
    })
}

fn classic_command(data: &Value) -> Option<Command> {
    let (key, entry) = entries(data.get("COMMAND")).into_iter().next()?;
    let params = data.get("PARAMS").unwrap_or(&Value::Null);
    let bot = BotRef {
        id: int(entry.get("BOT_ID"))?,
        code: text(entry.get("BOT_CODE")).unwrap_or_default(),
    };
    let dialog_id = DialogId::parse(&text(params.get("DIALOG_ID"))?);
    let user = classic_user(data.get("USER"));
    Some(Command {
        api: BotApi::Classic,
        bot,
        command_id: int(entry.get("COMMAND_ID")).or_else(|| key.parse().ok())?,
        command: command_name(&text(entry.get("COMMAND")).unwrap_or_default()),
        params: text(entry.get("COMMAND_PARAMS")).unwrap_or_default(),
        context: text(entry.get("COMMAND_CONTEXT")),
        message_id: int(entry.get("MESSAGE_ID"))
            .or_else(|| int(params.get("MESSAGE_ID")))
            .unwrap_or(0),
        dialog_id,
        chat_id: int(params.get("CHAT_ID")).or_else(|| int(params.get("TO_CHAT_ID"))),
        chat_type: classic_chat_type(params),
        from_user_id: int(params.get("FROM_USER_ID"))
            .or_else(|| int(params.get("AUTHOR_ID")))
            .unwrap_or(user.id),
        user,
        language: text(params.get("LANGUAGE")),
    })
}

fn classic_join(data: &Value) -> Option<Join> {
    let bots = classic_bots(data);
    let bot = bots.first()?.clone();
    let params = data.get("PARAMS")?;
    Some(Join {
        api: BotApi::Classic,
        bot,
        bots,
        dialog_id: DialogId::parse(&text(params.get("DIALOG_ID"))?),
        chat_id: int(params.get("CHAT_ID")),
        chat_type: classic_chat_type(params),
        user: classic_user(data.get("USER")),
        language: text(params.get("LANGUAGE")),
    })
}

fn classic_delete(data: &Value) -> Option<BotDeleted> {
    Some(BotDeleted {
        api: BotApi::Classic,
        bot: BotRef {
            id: int(data.get("BOT_ID"))?,
            code: text(data.get("BOT_CODE")).unwrap_or_default(),
        },
    })
}

// ------------------------------------------------------------------ v2 decoding

fn v2_bot(data: &Value) -> Option<BotRef> {
    let bot = data.get("bot")?;
    Some(BotRef {
        id: int(bot.get("id"))?,
        code: text(bot.get("code")).unwrap_or_default(),
    })
}

fn v2_user(user: Option<&Value>) -> User {
    let Some(user) = user else {
        return User::default();
    };
    User {
        id: int(user.get("id")).unwrap_or(0),
        name: text(user.get("name")).unwrap_or_default(),
        first_name: text(user.get("firstName")).unwrap_or_default(),
        last_name: text(user.get("lastName")).unwrap_or_default(),
        work_position: text(user.get("workPosition")).unwrap_or_default(),
        gender: text(user.get("gender")),
        is_bot: flag(user.get("bot")).unwrap_or(false),
        is_extranet: flag(user.get("extranet")).unwrap_or(false),
        is_connector: flag(user.get("connector")).unwrap_or(false),
    }
}

/// The chat's dialog id (`chat.dialogId`, else `dialogId`), id and type.
fn v2_chat(data: &Value) -> Option<(DialogId, Option<i64>, ChatType)> {
    let chat = data.get("chat");
    let dialog = chat
        .and_then(|c| text(c.get("dialogId")))
        .or_else(|| text(data.get("dialogId")))?;
    let chat_type = chat
        .and_then(|c| text(c.get("messageType")).or_else(|| text(c.get("type"))))
        .map_or(ChatType::Other(String::new()), |t| ChatType::parse(&t));
    Some((
        DialogId::parse(&dialog),
        chat.and_then(|c| int(c.get("id"))),
        chat_type,
    ))
}

fn v2_message(data: &Value) -> Option<Message> {
    let bot = v2_bot(data)?;
    let (dialog_id, chat_id, chat_type) = v2_chat(data)?;
    let message = data.get("message");
    let field = |key: &str| message.and_then(|m| m.get(key));
    let user = v2_user(data.get("user"));
    Some(Message {
        api: BotApi::V2,
        bots: vec![bot.clone()],
        bot,
        message_id: int(field("id"))
            .or_else(|| int(data.get("messageId")))
            .unwrap_or(0),
        dialog_id,
        chat_id: chat_id.or_else(|| int(field("chatId"))),
        chat_type,
        text: text(field("text")).unwrap_or_default(),
        from_user_id: int(field("authorId")).unwrap_or(user.id),
        user,
        language: text(data.get("language")),
    })
}

fn v2_command(data: &Value) -> Option<Command> {
    let bot = v2_bot(data)?;
    let (dialog_id, chat_id, chat_type) = v2_chat(data)?;
    let command = data.get("command")?;
    let message = data.get("message");
    let user = v2_user(data.get("user"));
    Some(Command {
        api: BotApi::V2,
        bot,
        command_id: int(command.get("id"))?,
        command: command_name(&text(command.get("command")).unwrap_or_default()),
        params: text(command.get("params")).unwrap_or_default(),
        context: text(command.get("context")),
        message_id: message.and_then(|m| int(m.get("id"))).unwrap_or(0),
        dialog_id,
        chat_id,
        chat_type,
        from_user_id: message
            .and_then(|m| int(m.get("authorId")))
            .unwrap_or(user.id),
        user,
        language: text(data.get("language")),
    })
}

fn v2_join(data: &Value) -> Option<Join> {
    let bot = v2_bot(data)?;
    let (dialog_id, chat_id, chat_type) = v2_chat(data)?;
    Some(Join {
        api: BotApi::V2,
        bots: vec![bot.clone()],
        bot,
        dialog_id,
        chat_id,
        chat_type,
        user: v2_user(data.get("user")),
        language: text(data.get("language")),
    })
}

// ------------------------------------------------------------------ lenient reading

/// `search` for `/search`, `Search` or ` /search `: how commands are compared.
pub(crate) fn command_name(raw: &str) -> String {
    raw.trim().trim_start_matches('/').to_owned()
}

/// The entries of a map keyed by id (or of a list, which a PHP decoder may make of one).
fn entries(value: Option<&Value>) -> Vec<(String, &Value)> {
    match value {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// Text of a string or number; empty reads as absent.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer from a number or a numeric string.
fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean in any Bitrix24 spelling: `true`, `"Y"`, `"1"`, `1`.
fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "Y" | "y" | "1" | "true" => Some(true),
            "N" | "n" | "0" | "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_types_read_letters_and_words() {
        assert_eq!(ChatType::parse("P"), ChatType::Private);
        assert_eq!(ChatType::parse("chat"), ChatType::Group);
        assert_eq!(ChatType::parse("openChannel"), ChatType::OpenChannel);
        assert_eq!(ChatType::parse("Z"), ChatType::Other("Z".into()));
    }

    #[test]
    fn scalars_are_read_in_every_spelling() {
        assert_eq!(int(Some(&json!("27"))), Some(27));
        assert_eq!(int(Some(&json!(27))), Some(27));
        assert_eq!(int(Some(&json!("x"))), None);
        assert_eq!(flag(Some(&json!("Y"))), Some(true));
        assert_eq!(flag(Some(&json!("0"))), Some(false));
        assert_eq!(flag(Some(&json!(true))), Some(true));
        assert_eq!(text(Some(&json!(""))), None);
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
    fn debug_hides_tokens_in_raw_data() {
        let event = BotEvent::from_parts(
            "ONSOMETHING",
            &json!({"BOT": {"5": {"access_token": "sekrit", "AUTH": {"refresh_token": "sekrit2"}}}}),
        );
        let shown = format!("{event:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
    }
}
