//! `b24 sandbox`: the SDK's offline portal on a local port, with the credentials to reach it.
//!
//! It prints its webhook URL and OAuth credentials in full, on purpose: they are what the user
//! asked for, they belong to a throwaway portal on 127.0.0.1, and any client (this one, curl,
//! PHP) needs them to connect.

use std::time::{Duration, Instant};

use bitrix24_sandbox::{Plan, Sandbox, SandboxConfig};
use serde_json::json;

use crate::util::{Failure, Outcome};

pub struct SandboxArgs {
    pub port: u16,
    pub seed_deals: usize,
    pub plan: Plan,
    pub plan_name: String,
    pub token_ttl: Duration,
    pub operating_limit: Option<Duration>,
    pub json: bool,
}

/// `'value'` for a POSIX shell.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

pub async fn run(args: SandboxArgs) -> Outcome {
    let config = SandboxConfig::default()
        .port(args.port)
        .seed_deals(args.seed_deals)
        .plan(args.plan)
        .access_token_ttl(args.token_ttl)
        .operating_limit(args.operating_limit);
    let started = Instant::now();
    let portal = Sandbox::start_with(config).await.map_err(|e| {
        Failure::other(format!(
            "cannot start the sandbox on 127.0.0.1:{}: {e}",
            args.port
        ))
    })?;
    let seed_ms = started.elapsed().as_millis();
    let app = portal.oauth_app();
    let tokens = portal.issue_tokens();
    let webhook = portal.webhook_url();
    let url = portal.url().as_str().to_owned();
    let limit = args
        .plan
        .rate_limit()
        .map(|r| format!("{} requests burst, {}/s", r.burst, r.per_second))
        .unwrap_or_else(|| "no rate limit".to_owned());
    if args.json {
        let line = json!({
            "portal": url,
            "webhook": webhook,
            "client_id": app.client_id,
            "client_secret": app.client_secret.expose(),
            "token_url": app.token_url.as_str(),
            "access_token": tokens.access_token.expose(),
            "refresh_token": tokens.refresh_token.expose(),
            "expires_in": args.token_ttl.as_secs(),
            "member_id": tokens.member_id,
            "plan": args.plan_name,
            "deals": portal.deal_count(),
            "seed_ms": seed_ms,
        });
        println!("{line}");
    } else {
        println!(
            "Sandbox portal at {url} ({} deals, plan {}: {limit})",
            portal.deal_count(),
            args.plan_name
        );
        println!();
        println!("Webhook URL:    {webhook}");
        println!("OAuth app:      client_id {}", app.client_id);
        println!(
            "                client_secret {}",
            app.client_secret.expose()
        );
        println!("                token URL {}", app.token_url);
        println!(
            "Access token:   {} (expires in {} s)",
            tokens.access_token.expose(),
            args.token_ttl.as_secs()
        );
        println!("Refresh token:  {}", tokens.refresh_token.expose());
        println!();
        println!("# Paste into a shell: the webhook ...");
        println!("export B24_WEBHOOK_URL={}", quote(&webhook));
        println!("# ... or the OAuth application (unset B24_WEBHOOK_URL first, it wins):");
        println!(
            "export B24_PORTAL={} B24_CLIENT_ID={} B24_CLIENT_SECRET={} B24_OAUTH_URL={} \
             B24_ACCESS_TOKEN={} B24_REFRESH_TOKEN={}",
            quote(&url),
            quote(&app.client_id),
            quote(app.client_secret.expose()),
            quote(app.token_url.as_str()),
            quote(tokens.access_token.expose()),
            quote(tokens.refresh_token.expose()),
        );
        println!();
        println!("Serving until Ctrl-C.");
    }
    // Flushed before waiting: a parent process reads these lines.
    use std::io::Write;
    std::io::stdout()
        .flush()
        .map_err(|e| Failure::other(format!("stdout: {e}")))?;
    crate::signals::wait().await;
    eprintln!("sandbox stopped");
    Ok(())
}
