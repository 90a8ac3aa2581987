//! The `b24` binary end to end, in one test binary: each module runs `b24` as a process against
//! a sandbox portal (`bitrix24-sandbox`) and checks its output, files and exit codes.

mod support;

mod auth;
mod call;
mod export;
mod sandbox;
