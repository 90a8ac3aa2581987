//! Registering a [`Bot`] and its slash commands on a portal, through the generated requests of
//! either chat-bot API: `imbot.register` + `imbot.command.register`, or `imbot.v2.Bot.register`
//! + `imbot.v2.Command.register`.

use std::collections::BTreeMap;

use super::definition::{Bot, BotDef};
use crate::common::ChatColor;
use crate::imbot::{
    AvatarColor, BotKind, BotProfile, BotProperties, BotRegistration, BotType, CommandLang,
    CommandRegistration, EventMode,
};
use crate::{Client, Error};

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

impl Bot {
    /// Registers the bot on `client`'s portal with `imbot.register`, every event going to
    /// `handler_url`, then its commands with `imbot.command.register`. Registering again (a
    /// reinstall) finds the bot by its code.
    #[allow(deprecated)] // The classic API: still served, and what `BotApi::Classic` answers with.
    pub async fn register(
        &self,
        client: &Client,
        handler_url: &str,
    ) -> Result<Registration, Error> {
        let def = &self.def;
        let mut properties = BotProperties::new().name(&def.name);
        if !def.last_name.is_empty() {
            properties = properties.last_name(&def.last_name);
        }
        if !def.work_position.is_empty() {
            properties = properties.work_position(&def.work_position);
        }
        if let Some(color) = &def.color {
            properties = properties.color(color.clone());
        }
        // `EVENT_HANDLER` stands for every event URL, but the three the docs mark required are
        // sent as well, for portals that read only those.
        let bot_id = client
            .imbot_register(&def.code, properties)
            .kind(def.kind.clone())
            .openline(def.openline)
            .event_handler(handler_url)
            .event_message_add(handler_url)
            .event_welcome_message(handler_url)
            .event_bot_delete(handler_url)
            .await?;
        let mut commands = BTreeMap::new();
        for command in self.commands() {
            let mut lang = CommandLang::new(&command.language, &command.title);
            if !command.params.is_empty() {
                lang = lang.params(&command.params);
            }
            let id = client
                .imbot_command_register(bot_id, &command.name, handler_url, [lang])
                .common(false)
                .hidden(false)
                .extranet_support(false)
                .await?;
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
        let mut fields =
            BotRegistration::new(&def.code, v2_profile(def)).is_support_openline(def.openline);
        if let Some(kind) = v2_kind(&def.kind) {
            fields = fields.kind(kind);
        }
        fields = match delivery {
            V2Delivery::Fetch => fields.event_mode(EventMode::Fetch),
            V2Delivery::Webhook(url) => fields.event_mode(EventMode::Webhook).webhook_url(url),
        };
        let bot_id = client.imbot_v2_bot_register(fields).await?.bot.id;
        let mut commands = BTreeMap::new();
        for command in self.commands() {
            let mut fields =
                CommandRegistration::new(&command.name).title(&command.language, &command.title);
            if !command.params.is_empty() {
                fields = fields.params(&command.language, &command.params);
            }
            let saved = client.imbot_v2_command_register(bot_id, fields).await?;
            commands.insert(command.name.clone(), saved.command.id);
        }
        Ok(Registration { bot_id, commands })
    }
}

/// The profile in the v2 shape.
fn v2_profile(def: &BotDef) -> BotProfile {
    let mut profile = BotProfile::new().name(&def.name);
    if !def.last_name.is_empty() {
        profile = profile.last_name(&def.last_name);
    }
    if !def.work_position.is_empty() {
        profile = profile.work_position(&def.work_position);
    }
    if let Some(color) = &def.color {
        profile = profile.color(v2_color(color));
    }
    profile
}

/// A classic colour in the v2 spelling: the docs list the same sixteen colours for both APIs,
/// `LIGHT_BLUE` in one and `lightBlue` in the other. A value neither knows goes as it is.
fn v2_color(color: &ChatColor) -> AvatarColor {
    if let ChatColor::Unknown(other) = color {
        return AvatarColor::from(other.as_str());
    }
    let mut spelled = String::new();
    for (i, word) in color.as_str().split('_').enumerate() {
        let word = word.to_ascii_lowercase();
        let mut chars = word.chars();
        match chars.next() {
            Some(first) if i > 0 => {
                spelled.push(first.to_ascii_uppercase());
                spelled.extend(chars);
            }
            _ => spelled.push_str(&word),
        }
    }
    AvatarColor::from(spelled.as_str())
}

/// The v2 type for a classic one, when it is not the default `bot` (which `H`, a classic
/// "typing first" mode v2 does not have, also becomes).
fn v2_kind(kind: &BotType) -> Option<BotKind> {
    match kind {
        BotType::Supervisor => Some(BotKind::Supervisor),
        BotType::Openline => Some(BotKind::Openline),
        BotType::Unknown(other) => Some(BotKind::from(other.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_take_the_v2_spelling() {
        let v2 = |classic: &str| v2_color(&ChatColor::from(classic)).as_str().to_owned();
        assert_eq!(v2("LIGHT_BLUE"), "lightBlue");
        assert_eq!(v2("GREEN"), "green");
        assert_eq!(v2("lightBlue"), "lightBlue");
        // Every spelling lands on a colour the v2 API knows.
        for classic in ["RED", "DARK_BLUE", "MARENGO", "GRAPHITE"] {
            let color = v2_color(&ChatColor::from(classic));
            assert!(!matches!(color, AvatarColor::Unknown(_)), "{classic}");
        }
    }

    #[test]
    fn classic_types_map_to_v2_types() {
        assert_eq!(v2_kind(&BotType::Bot), None);
        assert_eq!(v2_kind(&BotType::Human), None);
        assert_eq!(v2_kind(&BotType::Supervisor), Some(BotKind::Supervisor));
        assert_eq!(v2_kind(&BotType::Openline), Some(BotKind::Openline));
        assert_eq!(v2_kind(&BotType::from("personal")), Some(BotKind::Personal));
    }
}
