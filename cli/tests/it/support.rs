//! Shared by the `b24` tests: a sandbox portal running on its own runtime while the test
//! thread runs the `b24` binary, and a `b24` command isolated from the user's environment.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use bitrix24_sandbox::{Sandbox, SandboxConfig};

/// A sandbox portal served by a runtime of its own, so tests can block on child processes.
pub struct Portal {
    pub sandbox: Sandbox,
    // Dropped after the sandbox (fields drop in order): its tasks stop with it.
    runtime: tokio::runtime::Runtime,
}

impl Portal {
    pub fn start(config: SandboxConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sandbox = runtime
            .block_on(Sandbox::start_with(config))
            .expect("sandbox starts");
        Self { sandbox, runtime }
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    pub fn webhook(&self) -> String {
        self.sandbox.webhook_url()
    }
}

/// `b24` with no `B24_*` variables from the outside and `home` as its home directory, so no
/// real config file or token file is read or written.
pub fn b24(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_b24"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("B24_") {
            command.env_remove(&name);
        }
    }
    command
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env("NO_COLOR", "1");
    command
}

/// `b24` pointed at `portal`'s webhook.
pub fn b24_webhook(home: &Path, portal: &Portal) -> Command {
    let mut command = b24(home);
    command.env("B24_WEBHOOK_URL", portal.webhook());
    command
}

/// Runs a command to its end and returns (exit code, stdout, stderr).
pub fn run(command: &mut Command) -> (i32, String, String) {
    let output = command.output().expect("b24 runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A one-request HTTP server that answers `{"result": true}` and hands back the request's
/// path and body: for checking exactly what `b24` sends.
pub fn capture_one_request() -> (String, std::thread::JoinHandle<(String, String)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/rest/1/capturedcode123/",
        listener.local_addr().unwrap()
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer = r#"{"result":true,"time":{"start":1,"finish":1.5,"duration":0.5}}"#;
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        (path, String::from_utf8(body).unwrap())
    });
    (url, handle)
}
