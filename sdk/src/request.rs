//! A typed request bound to a client: what generated client methods return.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::{Client, Error, Method};

/// A request ready to send: `.await` it, or adjust optional parameters first.
///
/// Generated client methods (`client.imbot_message_add(..)`) return this; optional parameters are
/// setters on it, so a call reads `client.imbot_message_add("chat42", "hi").bot_id(7).await?`.
/// It owns a clone of the client (an `Arc`), so the future is `'static` and can be spawned.
#[must_use = "a request does nothing until it is awaited"]
pub struct Request<M> {
    client: Client,
    params: M,
}

impl<M: Method> Request<M> {
    pub(crate) fn new(client: Client, params: M) -> Self {
        Self { client, params }
    }

    /// Changes the parameters; generated setters are written with this.
    pub fn map(mut self, f: impl FnOnce(M) -> M) -> Self {
        self.params = f(self.params);
        self
    }

    /// The parameters as they will be sent.
    pub fn params(&self) -> &M {
        &self.params
    }

    pub(crate) fn into_parts(self) -> (Client, M) {
        (self.client, self.params)
    }

    /// The parameters alone, e.g. to put them into a batch.
    pub fn into_params(self) -> M {
        self.params
    }

    /// Sends the request; the same as `.await`.
    pub async fn send(self) -> Result<M::Output, Error> {
        self.client.send(&self.params).await
    }
}

impl<M: Method> IntoFuture for Request<M> {
    type Output = Result<M::Output, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl<M: std::fmt::Debug> std::fmt::Debug for Request<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
