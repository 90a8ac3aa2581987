//! The SDK's integration tests, in one binary (one link of the SDK instead of one per file):
//! each module pins one behaviour, most of them over real HTTP against the sandbox portal
//! (`bitrix24-sandbox`, a dev-dependency). Tests that need a process of their own stay apart:
//! `tests/event_memory.rs` (a counting global allocator), `tests/secret_hygiene.rs` (a global
//! TRACE subscriber) and `tests/schema_examples.rs` (the docs' examples, under `__roundtrip`).

#[path = "../log_capture/mod.rs"]
mod log_capture;
mod recorder;

mod bot_events;
mod bot_poll;
mod bot_sandbox;
mod bot_service;
mod bulk;
mod bulk_outcomes;
mod call_path;
mod decoding;
mod disk_upload;
mod error_helpers;
mod event_types;
mod events;
mod generated_code;
mod hardening;
mod hostile_paging;
mod installs;
mod offline_events;
mod php_oracle;
mod placements;
mod private_files;
mod redis_shared;
mod retries;
mod sandbox_faults;
mod schema_features;
mod schema_sandbox;
mod token_race;
