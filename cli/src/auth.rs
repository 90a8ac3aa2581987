//! `b24 auth code|refresh|show`: OAuth tokens for the command line.
//!
//! `code` exchanges an authorization code (`grant_type=authorization_code`) at the configured
//! OAuth server and saves the pair in the token file; `refresh` renews it
//! (`grant_type=refresh_token`) under the token file's lock, so a concurrent `b24` never
//! spends the same rotating refresh token; `show` prints what is configured with secrets
//! masked. The OAuth server's answer is never printed: on success it holds the tokens.

use bitrix24::auth::StoreError;
use bitrix24::{FileTokenStore, TokenStore, Tokens};

use crate::config::{self, FileConfig, Settings, Source};
use crate::util::{Failure, Outcome, expiry, mask, mask_webhook, portal_of};

fn store_error(e: StoreError) -> Failure {
    Failure::other(format!("token file: {e}"))
}

/// `b24 auth code CODE`.
pub async fn code(settings: &Settings, code: &str, portal_flag: Option<&str>) -> Outcome {
    let app = settings.oauth_app()?;
    let grant = app.exchange_code(code).await?;
    let tokens = grant.tokens;
    // The portal: given, configured, or the one the OAuth server says the code was for.
    let portal = portal_flag
        .map(str::to_owned)
        .or_else(|| settings.portal.as_ref().map(|(p, _)| p.clone()))
        .or_else(|| {
            grant
                .client_endpoint
                .as_deref()
                .map(|e| e.trim_end_matches('/').trim_end_matches("/rest").to_owned() + "/")
        });
    let token_file = settings.token_file()?;
    config::ensure_dir(token_file)?;
    let store = FileTokenStore::new(token_file);
    {
        let _lock = store.lock().await.map_err(store_error)?;
        store.save(&tokens).await.map_err(store_error)?;
    }
    println!(
        "authorized: tokens saved to {} (mode 0600)",
        settings.token_file.0.display()
    );
    print_token_facts(&tokens);
    // Remember the application beside the tokens, so later commands need no environment.
    if !settings.path_known {
        eprintln!("note: no config file location (set HOME or B24_CONFIG): nothing else saved");
    } else if !settings.file_exists {
        let file = FileConfig {
            portal: portal.clone(),
            client_id: Some(app.client_id.clone()),
            client_secret: Some(app.client_secret.clone()),
            oauth_url: (settings.oauth_url.1 != Source::Default)
                .then(|| settings.oauth_url.0.clone()),
            token_file: settings
                .token_file_configured()
                .then(|| settings.token_file.0.clone()),
            ..FileConfig::default()
        };
        config::write_file(&settings.path, &file)?;
        println!(
            "config:  {} written (mode 0600): portal, client_id, client_secret {}",
            settings.path.display(),
            mask(app.client_secret.expose())
        );
    } else if settings.portal.is_none()
        && let Some(portal) = &portal
    {
        let mut file = settings.file.clone();
        file.portal = Some(portal.clone());
        config::write_file(&settings.path, &file)?;
        println!(
            "config:  portal {portal} added to {}",
            settings.path.display()
        );
    }
    if let Some(portal) = portal {
        println!("portal:  {portal}");
    }
    Ok(())
}

/// `b24 auth refresh`.
pub async fn refresh(settings: &Settings) -> Outcome {
    let app = settings.oauth_app()?;
    let token_file = settings.token_file()?;
    config::ensure_dir(token_file)?;
    let store = FileTokenStore::new(token_file);
    let _lock = store.lock().await.map_err(store_error)?;
    // The stored pair is the newest (another process may have renewed it); the environment's
    // pair only when nothing is stored yet.
    let current = match store.load().await.map_err(store_error)? {
        Some(tokens) => tokens,
        None => settings.env_tokens.clone().ok_or_else(|| {
            Failure::usage(format!(
                "no tokens to renew: {} does not exist and B24_REFRESH_TOKEN is not set; run \
                 `b24 auth code CODE` first",
                settings.token_file.0.display()
            ))
        })?,
    };
    let mut tokens = app.refresh_tokens(&current.refresh_token).await?.tokens;
    if tokens.member_id.is_none() {
        tokens.member_id.clone_from(&current.member_id);
    }
    store.save(&tokens).await.map_err(store_error)?;
    println!(
        "renewed: tokens saved to {} (mode 0600)",
        settings.token_file.0.display()
    );
    print_token_facts(&tokens);
    Ok(())
}

fn print_token_facts(tokens: &Tokens) {
    if let Some(scope) = &tokens.scope {
        println!("scope:   {scope}");
    }
    println!("expires: {}", expiry(tokens.expires_at));
}

/// `b24 auth show`.
pub async fn show(settings: &Settings, reveal: bool) -> Outcome {
    let secret = |s: &str| if reveal { s.to_owned() } else { mask(s) };
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| lines.push((k.to_owned(), v));
    add(
        "config",
        if settings.file_exists {
            format!("{} (mode 0600)", settings.path.display())
        } else {
            format!("{} (not present)", settings.path.display())
        },
    );
    if let Some((url, source)) = settings.webhook() {
        add(
            "auth",
            format!("incoming webhook (from the {})", source.label()),
        );
        let shown = if reveal {
            url.expose().to_owned()
        } else {
            mask_webhook(url.expose())
        };
        if let Ok(parsed) = url::Url::parse(url.expose()) {
            add("portal", portal_of(&parsed).to_string());
        }
        add("webhook", shown);
        add("expires", "never (webhooks do not expire)".to_owned());
    } else {
        let Some((portal, source)) = &settings.portal else {
            return Err(Failure::usage(format!(
                "nothing configured: no B24_WEBHOOK_URL or B24_PORTAL in the environment and \
                 none in {}",
                settings.path.display()
            )));
        };
        add("auth", "OAuth application".to_owned());
        add("portal", format!("{portal} (from the {})", source.label()));
        match &settings.client_id {
            Some((id, source)) => add("client_id", format!("{id} (from the {})", source.label())),
            None => add("client_id", "(not set)".to_owned()),
        }
        match &settings.client_secret {
            Some((s, source)) => add(
                "client_secret",
                format!("{} (from the {})", secret(s.expose()), source.label()),
            ),
            None => add("client_secret", "(not set)".to_owned()),
        }
        add(
            "oauth_url",
            format!(
                "{} ({})",
                settings.oauth_url.0,
                settings.oauth_url.1.label()
            ),
        );
        // The pair the client would use: the environment's when no token file is configured,
        // else the stored one (newer), else the environment's.
        let file_label = format!("token file {}", settings.token_file.0.display());
        let (tokens, from) = match &settings.env_tokens {
            Some(t) if !settings.token_file_configured() => {
                (Some(t.clone()), "environment".to_owned())
            }
            env_tokens => match settings.token_file() {
                Ok(path) => match FileTokenStore::new(path)
                    .load()
                    .await
                    .map_err(store_error)?
                {
                    Some(t) => (Some(t), file_label),
                    None => (env_tokens.clone(), "environment".to_owned()),
                },
                Err(_) => (env_tokens.clone(), "environment".to_owned()),
            },
        };
        match tokens {
            None => add(
                "tokens",
                format!(
                    "none ({} does not exist; run `b24 auth code CODE`)",
                    settings.token_file.0.display()
                ),
            ),
            Some(t) => {
                add("tokens", format!("from the {from}"));
                add("access_token", secret(t.access_token.expose()));
                add("refresh_token", secret(t.refresh_token.expose()));
                add(
                    "scope",
                    t.scope.clone().unwrap_or_else(|| "unknown".to_owned()),
                );
                add("expires", expiry(t.expires_at));
                if let Some(member) = &t.member_id {
                    add("member_id", member.clone());
                }
            }
        }
    }
    if let Some(plan) = &settings.plan {
        add("plan", plan.clone());
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in lines {
        println!("{:width$} {value}", format!("{key}:"));
    }
    if !reveal {
        eprintln!("(secrets masked; --reveal shows them)");
    }
    Ok(())
}
