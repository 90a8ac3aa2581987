//! `b24 auth` and the config file: code exchange, renewal, masking, and the refusal of a
//! config file other users could read.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Portal, b24, run};
use bitrix24::{FileTokenStore, TokenStore, Tokens};
use bitrix24_sandbox::SandboxConfig;
use serde_json::Value;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `b24` configured by environment as the sandbox's OAuth application with fresh tokens.
fn oauth_env(home: &Path, portal: &Portal) -> (std::process::Command, bitrix24::Tokens) {
    let tokens = portal.sandbox.issue_tokens();
    (oauth_env_with(home, portal, &tokens), tokens)
}

/// `b24` configured by environment as the sandbox's OAuth application with `tokens`.
fn oauth_env_with(home: &Path, portal: &Portal, tokens: &Tokens) -> std::process::Command {
    let app = portal.sandbox.oauth_app();
    let mut command = b24(home);
    command
        .env("B24_PORTAL", portal.sandbox.url().as_str())
        .env("B24_CLIENT_ID", &app.client_id)
        .env("B24_CLIENT_SECRET", app.client_secret.expose())
        .env("B24_OAUTH_URL", app.token_url.as_str())
        .env("B24_ACCESS_TOKEN", tokens.access_token.expose())
        .env("B24_REFRESH_TOKEN", tokens.refresh_token.expose());
    command
}

#[test]
fn auth_show_masks_secrets_unless_asked() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let app = portal.sandbox.oauth_app();
    let (mut command, tokens) = oauth_env(home.path(), &portal);
    let (code, out, err) = run(command.args(["auth", "show"]));
    assert_eq!(code, 0, "{err}");
    let access = tokens.access_token.expose();
    let refresh = tokens.refresh_token.expose();
    let secret = app.client_secret.expose();
    for full in [access, refresh, secret] {
        assert!(
            !out.contains(full) && !err.contains(full),
            "a secret leaked:\n{out}"
        );
        assert!(
            out.contains(&format!("{}***", &full[..4])),
            "first four + ***:\n{out}"
        );
    }
    assert!(
        out.contains("auth:") && out.contains("OAuth application"),
        "{out}"
    );
    assert!(
        out.contains(&format!("portal:        {}", portal.sandbox.url())),
        "{out}"
    );
    assert!(
        out.contains(&format!("client_id:     {}", app.client_id)),
        "{out}"
    );
    assert!(err.contains("--reveal"), "{err}");

    let (mut command, _) = oauth_env(home.path(), &portal);
    let (code, out, _) = run(command.args(["auth", "show", "--reveal"]));
    assert_eq!(code, 0);
    assert!(out.contains(secret), "--reveal shows the secret");

    // A webhook's code is masked the same way.
    let webhook = portal.webhook();
    let code_part = webhook
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let (code, out, _) = run(b24(home.path())
        .env("B24_WEBHOOK_URL", &webhook)
        .args(["auth", "show"]));
    assert_eq!(code, 0);
    assert!(!out.contains(&code_part), "{out}");
    assert!(
        out.contains(&format!("rest/1/{}***/", &code_part[..4])),
        "{out}"
    );
    assert!(out.contains("incoming webhook"), "{out}");
}

#[test]
fn a_config_file_others_can_read_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let config = home.path().join("b24.toml");
    std::fs::write(
        &config,
        format!(
            "webhook_url = \"{}\"\nplan = \"unlimited\"\n",
            portal.webhook()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = run(b24(home.path())
        .arg("--config")
        .arg(&config)
        .args(["call", "profile"]));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("REFUSING to read") && err.contains("0644"),
        "{err}"
    );
    assert!(
        err.contains(&format!("chmod 600 {}", config.display())),
        "{err}"
    );
    assert!(!err.contains(&portal.webhook()), "{err}");

    // Private: used. B24_CONFIG works like --config.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, out, err) = run(b24(home.path())
        .env("B24_CONFIG", &config)
        .args(["call", "profile"]));
    assert_eq!(code, 0, "{err}");
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["ID"], "1");

    // A group-writable file is refused too; a typo in a key is an error, not ignored.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o620)).unwrap();
    let (code, _, _) = run(b24(home.path())
        .env("B24_CONFIG", &config)
        .args(["auth", "show"]));
    assert_eq!(code, 2);
    std::fs::write(&config, "webhok_url = \"x\"\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, _, err) = run(b24(home.path())
        .env("B24_CONFIG", &config)
        .args(["auth", "show"]));
    assert_eq!(code, 2);
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn auth_refresh_renews_saves_and_later_calls_use_the_token_file() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let token_file = home.path().join("tokens.json");
    let (mut command, tokens) = oauth_env(home.path(), &portal);
    let (code, out, err) = run(command
        .env("B24_TOKEN_FILE", &token_file)
        .args(["auth", "refresh"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("renewed: tokens saved to"), "{out}");
    assert!(out.contains("expires: "), "{out}");
    assert!(!out.contains(tokens.refresh_token.expose()));
    assert_eq!(mode(&token_file), 0o600);
    let stored = portal
        .block_on(FileTokenStore::new(&token_file).load())
        .unwrap()
        .expect("tokens saved");
    assert_ne!(stored.refresh_token, tokens.refresh_token, "rotated");
    assert_eq!(portal.sandbox.stats().refreshes, 1);

    // Without tokens in the environment the token file is the source, and it works.
    let app = portal.sandbox.oauth_app();
    let (code, out, err) = run(b24(home.path())
        .env("B24_PORTAL", portal.sandbox.url().as_str())
        .env("B24_CLIENT_ID", &app.client_id)
        .env("B24_CLIENT_SECRET", app.client_secret.expose())
        .env("B24_OAUTH_URL", app.token_url.as_str())
        .env("B24_TOKEN_FILE", &token_file)
        .args(["call", "user.current"]));
    assert_eq!(code, 0, "{err}");
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["ID"], "1");
    // The refresh token it replaced is spent: the OAuth server's refusal is exit 1.
    let (mut command, _) = oauth_env(home.path(), &portal);
    let spent = home.path().join("spent.json");
    portal
        .block_on(FileTokenStore::new(&spent).save(&tokens))
        .unwrap();
    let (code, _, err) = run(command
        .env("B24_TOKEN_FILE", &spent)
        .args(["auth", "refresh"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("token refresh failed: oauth/token: invalid_grant (400)"),
        "{err}"
    );
    assert!(!err.contains(tokens.refresh_token.expose()));
}

#[test]
fn an_unknown_authorization_code_is_refused_without_echoing_secrets() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let (mut command, _) = oauth_env(home.path(), &portal);
    let app = portal.sandbox.oauth_app();
    let (code, out, err) = run(command
        .env_remove("B24_ACCESS_TOKEN")
        .env_remove("B24_REFRESH_TOKEN")
        .args(["auth", "code", "notarealcode"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("invalid_grant"), "{err}");
    assert!(!err.contains(app.client_secret.expose()), "{err}");
    assert!(!home.path().join(".config/b24/tokens.json").exists());
}

#[test]
fn auth_code_exchanges_the_code_and_writes_a_private_config() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let app = portal.sandbox.oauth_app();
    let code = portal.sandbox.issue_auth_code(1);
    // No portal given: the OAuth server's `client_endpoint` says which one the code was for.
    let (status, out, err) = run(b24(home.path())
        .env("B24_CLIENT_ID", &app.client_id)
        .env("B24_CLIENT_SECRET", app.client_secret.expose())
        .env("B24_OAUTH_URL", app.token_url.as_str())
        .args(["auth", "code", &code]));
    assert_eq!(status, 0, "{out}{err}");
    let config_dir = home.path().join(".config/b24");
    let config = config_dir.join("config.toml");
    let tokens = config_dir.join("tokens.json");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&tokens), 0o600);
    assert_eq!(mode(&config_dir), 0o700);
    let portal_url = portal.sandbox.url().to_string();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("portal = \"{portal_url}\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!("client_id = \"{}\"", app.client_id)),
        "{text}"
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&tokens).unwrap()).unwrap();
    let access = saved["access_token"].as_str().unwrap().to_owned();
    let refresh = saved["refresh_token"].as_str().unwrap().to_owned();
    assert!(!access.is_empty() && !refresh.is_empty(), "{saved}");
    for secret in [&access, &refresh, app.client_secret.expose()] {
        assert!(!out.contains(secret) && !err.contains(secret), "{out}{err}");
    }
    assert!(out.contains(&format!("portal:  {portal_url}")), "{out}");

    // The code is spent: a second exchange is refused.
    let (status, _, err) = run(b24(home.path()).args(["auth", "code", &code]));
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("invalid_grant"), "{err}");

    // From now on the config file alone is enough: the saved token is accepted by the portal.
    let (status, out, err) = run(b24(home.path()).args(["auth", "show"]));
    assert_eq!(status, 0, "{err}");
    assert!(
        out.contains(&format!("{portal_url} (from the config file)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("access_token:  {}***", &access[..4])),
        "{out}"
    );
    let (status, out, err) = run(b24(home.path()).args(["call", "profile", "-q"]));
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("\"ID\""), "{out}");
}

#[test]
fn the_environment_alone_works_without_a_home_directory() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let (code, out, err) = run(b24(home.path())
        .env_remove("HOME")
        .env("B24_WEBHOOK_URL", portal.webhook())
        .args(["call", "profile"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ID\": \"1\""), "{out}");
    // Where a token file would be needed, a clear usage error instead of a file in the cwd.
    let (code, _, err) = run(b24(home.path())
        .env_remove("HOME")
        .env("B24_CLIENT_ID", "local.1")
        .env("B24_CLIENT_SECRET", "s")
        .args(["auth", "refresh"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("B24_TOKEN_FILE"), "{err}");
}

#[test]
fn tokens_only_in_the_environment_are_not_renewed_without_a_place_to_keep_them() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let tokens = portal.sandbox.issue_tokens();
    portal.sandbox.expire_access_tokens();
    // Renewing would spend B24_REFRESH_TOKEN and lose the new pair at exit: refused.
    let (code, out, err) =
        run(oauth_env_with(home.path(), &portal, &tokens).args(["call", "profile"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("B24_TOKEN_FILE"), "{err}");
    assert!(!err.contains(tokens.refresh_token.expose()), "{err}");
    assert_eq!(
        portal.sandbox.stats().refreshes,
        0,
        "the refresh token is not spent"
    );

    // With a token file the renewed pair is kept there, and the next run starts from it.
    let token_file = home.path().join("kept.json");
    let (code, out, err) = run(oauth_env_with(home.path(), &portal, &tokens)
        .env("B24_TOKEN_FILE", &token_file)
        .args(["call", "profile"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(portal.sandbox.stats().refreshes, 1);
    let stored = portal
        .block_on(FileTokenStore::new(&token_file).load())
        .unwrap()
        .expect("the renewed pair is saved");
    assert_ne!(stored.refresh_token, tokens.refresh_token);
    let (code, out, err) = run(oauth_env_with(home.path(), &portal, &tokens)
        .env("B24_TOKEN_FILE", &token_file)
        .args(["call", "profile"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(portal.sandbox.stats().refreshes, 1, "the kept pair is used");
    assert_eq!(portal.sandbox.stats().refresh_failures, 0);
}
