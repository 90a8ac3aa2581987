//! Typed async client for the Bitrix24 REST API.
//!
//! Every method in `schema/` becomes a request type implementing [`Method`] and a method on
//! [`Client`]; all of them go through one non-generic call path ([`Client::call_raw`]) that
//! authenticates, sends, decodes the envelope, renews an expired OAuth token once and maps
//! errors to [`Error`].
#![warn(missing_docs)]

pub mod auth;
mod call;
mod client;
pub mod codec;
mod error;
mod method;
mod request;
mod secret;
mod types;
pub mod wire;

pub use auth::{FileTokenStore, MemoryTokenStore, OAuthApp, TokenStore, Tokens};
pub use client::{Client, ClientBuilder, Encoding};
pub use error::{ApiError, Error, ErrorCode, TransportKind};
pub use method::{Method, Paging};
pub use request::Request;
pub use secret::Secret;
pub use types::{DialogId, File};
pub use wire::envelope::{RawResponse, Time};
