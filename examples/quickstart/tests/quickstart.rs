//! The README's first command: the quickstart runs offline, prints the conversation and exits 0;
//! with credentials in the environment it makes its read-only calls against that portal.

use std::process::Command;

use bitrix24_sandbox::{Sandbox, SandboxConfig};

fn quickstart() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    for var in [
        "B24_WEBHOOK_URL",
        "B24_PORTAL",
        "B24_ACCESS_TOKEN",
        "B24_REFRESH_TOKEN",
    ] {
        command.env_remove(var);
    }
    command
}

#[test]
fn offline_quickstart_prints_the_transcript() {
    let output = quickstart().output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "Boris > Привет!",
        "Echo  > Введите строку поиска",
        "Echo  > 2 deal(s) match \"Roof\": Roof repair (#1), Roof inspection (#2)",
        "Echo  > 1 deal(s) match \"chairs\": Office chairs (#3)",
        "3 events delivered, 1 token renewal(s)",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_webhook_in_the_environment_it_reads_that_portal() {
    let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(3))
        .await
        .unwrap();
    let output = tokio::task::spawn_blocking({
        let url = portal.webhook_url();
        move || quickstart().env("B24_WEBHOOK_URL", url).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("user.current: Anna Admin <admin@sandbox.test>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("crm.deal.list: 3 deals on the first page"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(portal.webhook_url().as_str()),
        "the webhook code is never printed"
    );
}
