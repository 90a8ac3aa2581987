//! The sandbox portal's state: credentials, users, deals and items, bots, chats, messages.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use serde_json::{Map, Value, json};
use url::Url;

use super::SandboxConfig;
use super::store::DealStore;
use bitrix24::{Secret, Tokens};

/// The OAuth application installed on the portal.
pub(crate) struct App {
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) application_token: Secret,
    pub(crate) member_id: String,
}

/// Who an access token acts for, until when, and for how many more calls when that is limited.
pub(crate) struct Grant {
    pub(crate) user_id: i64,
    pub(crate) expires_at: Instant,
    pub(crate) calls_left: Option<u32>,
}

/// A registered bot (also a portal user with the same id).
#[derive(Debug, Clone)]
pub(crate) struct Bot {
    pub(crate) id: i64,
    pub(crate) code: String,
    pub(crate) name: String,
    /// Classic `TYPE` (`B`, `H`, `O`, `S`) or v2 `type`.
    pub(crate) kind: String,
    pub(crate) openline: bool,
    /// Classic bots: handler URLs by event name (`ONIMBOTMESSAGEADD`, ...).
    pub(crate) handlers: BTreeMap<String, String>,
    /// Registered through `imbot.v2.Bot.register`: events are `ONIMBOTV2*`.
    pub(crate) v2: bool,
    /// v2 bots in webhook mode: where every event is POSTed (`None`: queued for
    /// `imbot.v2.Event.get`).
    pub(crate) webhook: Option<String>,
}

/// An event waiting in a fetch-mode v2 bot's queue.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) date: String,
    pub(crate) data: Value,
}

/// A chat message as the sandbox stored it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// Message id.
    pub id: i64,
    /// Dialog as the sender addressed it (`chat5` or a user id).
    pub dialog_id: String,
    /// Chat the message is in.
    pub chat_id: i64,
    /// Author's user id (a bot's id for bot messages).
    pub author_id: i64,
    /// Text.
    pub text: String,
    /// Whether it was deleted.
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Chat {
    pub(crate) id: i64,
    pub(crate) title: String,
    /// `P` private dialog between two users, `C` group chat.
    pub(crate) kind: &'static str,
    pub(crate) members: Vec<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) id: i64,
    pub(crate) bot_id: i64,
    /// Without the slash.
    pub(crate) command: String,
    /// Classic commands: where `ONIMCOMMANDADD` goes (v2 commands use the bot's delivery).
    pub(crate) handler: String,
}

pub(crate) struct EventHandler {
    pub(crate) event: String,
    pub(crate) handler: String,
    pub(crate) user_id: i64,
    /// Bound with `event_type = offline`: the event is queued, not posted.
    pub(crate) offline: bool,
}

/// A record of the offline event queue (`event.offline.*`): the latest change of one object.
pub(crate) struct OfflineRecord {
    pub(crate) id: i64,
    pub(crate) changed: String,
    pub(crate) event: String,
    pub(crate) data: Value,
    pub(crate) message_id: String,
    /// The process holding it (empty: none).
    pub(crate) process_id: String,
    /// Marked failed by `event.offline.error`.
    pub(crate) error: bool,
}

pub(crate) struct Portal {
    rng: u64,
    pub(crate) app: App,
    /// Webhook codes by user id.
    pub(crate) webhooks: HashMap<i64, Secret>,
    pub(crate) webhook_code: Secret,
    pub(crate) access: HashMap<String, Grant>,
    /// Calls a new access token serves ([`SandboxConfig::access_token_calls`]).
    token_calls: Option<u32>,
    /// Refresh tokens that may still be used once, with the user they act for.
    pub(crate) refresh: HashMap<String, i64>,
    pub(crate) auth_codes: HashMap<String, i64>,
    pub(crate) users: BTreeMap<i64, Map<String, Value>>,
    pub(crate) deals: DealStore,
    /// Items of CRM types other than deals, by (entityTypeId, id).
    pub(crate) items: BTreeMap<(i64, i64), Map<String, Value>>,
    pub(crate) next_item_id: i64,
    pub(crate) bots: BTreeMap<i64, Bot>,
    pub(crate) chats: BTreeMap<i64, Chat>,
    pub(crate) next_chat_id: i64,
    pub(crate) messages: Vec<StoredMessage>,
    pub(crate) commands: BTreeMap<i64, Command>,
    pub(crate) next_command_id: i64,
    pub(crate) handlers: Vec<EventHandler>,
    pub(crate) offline: Vec<OfflineRecord>,
    pub(crate) next_offline_id: i64,
    /// Fetch-mode v2 bots' unconfirmed events, by bot id.
    pub(crate) queues: BTreeMap<i64, VecDeque<Queued>>,
    pub(crate) next_event_id: i64,
    /// (user, bot) pairs whose private dialog the user has opened.
    pub(crate) opened: BTreeSet<(i64, i64)>,
    /// REST 3.0 tasks by id.
    pub(crate) tasks: BTreeMap<i64, Map<String, Value>>,
    pub(crate) next_task_id: i64,
    /// Drive: the storage, its files and pending uploads.
    pub(crate) drive: super::disk::Drive,
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `2024-08-29T10:29:54+00:00`, the format Bitrix24 uses for datetimes.
pub(crate) fn iso_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

impl Portal {
    pub(crate) fn new(config: &SandboxConfig, base: &Url) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(base.port().unwrap_or(0)) << 48;
        let mut portal = Self {
            rng: seed | 1,
            app: App {
                client_id: String::new(),
                client_secret: Secret::new(""),
                application_token: Secret::new(""),
                member_id: String::new(),
            },
            webhooks: HashMap::new(),
            webhook_code: Secret::new(""),
            access: HashMap::new(),
            token_calls: config.access_token_calls,
            refresh: HashMap::new(),
            auth_codes: HashMap::new(),
            users: BTreeMap::new(),
            deals: DealStore::new(),
            items: BTreeMap::new(),
            next_item_id: 1,
            bots: BTreeMap::new(),
            chats: BTreeMap::new(),
            next_chat_id: 1,
            messages: Vec::new(),
            commands: BTreeMap::new(),
            next_command_id: 1,
            handlers: Vec::new(),
            offline: Vec::new(),
            next_offline_id: 1,
            queues: BTreeMap::new(),
            next_event_id: 1,
            opened: BTreeSet::new(),
            tasks: BTreeMap::new(),
            next_task_id: 1,
            drive: super::disk::Drive::new(),
        };
        let (client_id, client_secret) = match &config.application {
            Some((id, secret)) => (id.clone(), secret.clone()),
            None => (
                format!("local.{}.{}", portal.token(7), portal.token(4)),
                Secret::new(portal.token(25)),
            ),
        };
        portal.app = App {
            client_id,
            client_secret,
            application_token: Secret::new(portal.token(16)),
            member_id: portal.token(16),
        };
        portal.webhook_code = portal.webhook_for(1);
        for (id, name, last, email) in [
            (1, "Anna", "Admin", "admin@sandbox.test"),
            (2, "Boris", "Sales", "boris@sandbox.test"),
            (3, "Clara", "Support", "clara@sandbox.test"),
        ] {
            portal
                .users
                .insert(id, user_record(id, name, last, email, false));
        }
        portal.deals.seed(config.seed_deals, 1, unix_now());
        portal
    }

    /// Hex digits from a xorshift generator: unguessable enough for a local test portal,
    /// with no dependency.
    pub(crate) fn token(&mut self, bytes: usize) -> String {
        let mut out = String::with_capacity(bytes * 2);
        while out.len() < bytes * 2 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            out.push_str(&format!(
                "{:016x}",
                self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
            ));
        }
        out.truncate(bytes * 2);
        out
    }

    pub(crate) fn webhook_for(&mut self, user_id: i64) -> Secret {
        if let Some(code) = self.webhooks.get(&user_id) {
            return code.clone();
        }
        let code = Secret::new(self.token(8));
        self.webhooks.insert(user_id, code.clone());
        self.users.entry(user_id).or_insert_with(|| {
            let email = format!("user{user_id}@sandbox.test");
            user_record(user_id, &format!("User{user_id}"), "Sandbox", &email, false)
        });
        code
    }

    /// Issues an access/refresh pair acting for `user_id`.
    pub(crate) fn grant(&mut self, user_id: i64, ttl: Duration) -> Tokens {
        let access = self.token(16);
        let refresh = self.token(16);
        self.access.insert(
            access.clone(),
            Grant {
                user_id,
                // A lifetime too long to represent never expires in practice.
                expires_at: Instant::now()
                    .checked_add(ttl)
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400)),
                calls_left: self.token_calls,
            },
        );
        self.refresh.insert(refresh.clone(), user_id);
        let mut tokens = Tokens::new(access, refresh);
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        tokens.expires_at = Some(unix_now().saturating_add(secs));
        tokens.member_id = Some(self.app.member_id.clone());
        tokens
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for grant in self.access.values_mut() {
            grant.expires_at = now;
        }
    }

    /// The private chat between two users, created on first use.
    pub(crate) fn private_chat(&mut self, a: i64, b: i64) -> i64 {
        if let Some(chat) = self.chats.values().find(|c| {
            c.kind == "P"
                && c.members.contains(&a)
                && c.members.contains(&b)
                && (a != b || c.members.len() == 1)
        }) {
            return chat.id;
        }
        self.new_chat(String::new(), "P", vec![a, b])
    }

    pub(crate) fn new_chat(
        &mut self,
        title: String,
        kind: &'static str,
        mut members: Vec<i64>,
    ) -> i64 {
        members.dedup();
        let id = self.next_chat_id;
        self.next_chat_id += 1;
        self.chats.insert(
            id,
            Chat {
                id,
                title,
                kind,
                members,
            },
        );
        id
    }

    pub(crate) fn add_message(
        &mut self,
        dialog_id: String,
        chat_id: i64,
        author_id: i64,
        text: String,
    ) -> i64 {
        let id = self.messages.len() as i64 + 1;
        self.messages.push(StoredMessage {
            id,
            dialog_id,
            chat_id,
            author_id,
            text,
            deleted: false,
        });
        id
    }

    /// Queues a v2 event for a fetch-mode bot.
    pub(crate) fn queue_event(&mut self, bot_id: i64, kind: &str, data: Value) {
        let id = self.next_event_id;
        self.next_event_id += 1;
        self.queues.entry(bot_id).or_default().push_back(Queued {
            id,
            kind: kind.to_owned(),
            date: iso_now(),
            data,
        });
    }

    pub(crate) fn message_mut(&mut self, id: i64) -> Option<&mut StoredMessage> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.messages.get_mut(i))
            .filter(|m| !m.deleted)
    }
}

/// Classic CRM methods store and return every scalar as a string.
pub(crate) fn classic_value(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(if b { "Y" } else { "N" }.to_owned()),
        Value::Null => Value::String(String::new()),
        other => other,
    }
}

pub(crate) fn user_record(
    id: i64,
    name: &str,
    last: &str,
    email: &str,
    is_bot: bool,
) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "ID": id.to_string(),
        "XML_ID": "",
        "ACTIVE": true,
        "NAME": name,
        "LAST_NAME": last,
        "SECOND_NAME": "",
        "EMAIL": email,
        "LAST_LOGIN": iso_now(),
        "DATE_REGISTER": "2024-01-10T09:00:00+00:00",
        "IS_ONLINE": "N",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": "0",
        "TIMESTAMP_X": "10.01.2024 09:00:00",
        "PERSONAL_GENDER": "",
        "PERSONAL_BIRTHDAY": "",
        "WORK_POSITION": if is_bot { "Chat bot" } else { "" },
        "UF_DEPARTMENT": [1],
        "USER_TYPE": if is_bot { "bot" } else { "employee" },
    }) else {
        unreachable!("json! of an object literal is an object")
    };
    map
}
