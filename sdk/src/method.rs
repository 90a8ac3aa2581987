//! The contract between generated request types and the one call path.

use serde::Serialize;
use serde_with::DeserializeAs;

/// A Bitrix24 REST method as data: the request's fields are the method's parameters.
///
/// Generated code implements this for every method in the schema; implement it by hand (or with
/// `bitrix24-codegen` in your own build.rs) for methods the schema does not know yet. Everything
/// else — auth, retries, refresh, decoding errors — happens in the non-generic core, so an
/// implementation is only names and types.
///
/// ```
/// use bitrix24::{Method, Paging, codec::Same};
///
/// /// `vendor.widget.get`: a portal-specific method.
/// #[derive(serde::Serialize)]
/// struct WidgetGet {
///     #[serde(rename = "ID")]
///     id: i64,
/// }
///
/// #[derive(serde::Deserialize)]
/// struct Widget {
///     #[serde(rename = "NAME")]
///     name: String,
/// }
///
/// impl Method for WidgetGet {
///     const NAME: &'static str = "vendor.widget.get";
///     const SCOPE: &'static str = "vendor";
///     const IDEMPOTENT: bool = true;
///     const BATCHABLE: bool = true;
///     const PAGING: Paging = Paging::None;
///     type Output = Widget;
///     type OutputCodec = Same;
/// }
/// ```
pub trait Method: Serialize + Send + Sync + 'static {
    /// Wire name, e.g. `imbot.message.add`.
    const NAME: &'static str;
    /// Bitrix24 scope the method belongs to (and the cargo feature that generates it).
    const SCOPE: &'static str;
    /// Whether sending the same request twice has the effect of sending it once. Only idempotent
    /// methods are retried after a failure that happened once the request may have been executed.
    const IDEMPOTENT: bool;
    /// Whether the method may run inside `batch`.
    const BATCHABLE: bool;
    /// How the method pages through long results.
    const PAGING: Paging;
    /// A REST 3.0 method (`/rest/api/`): JSON only, its own error format, `Idempotency-Key`.
    const REST_V3: bool = false;
    /// The decoded `result` of the response envelope.
    type Output: Send + 'static;
    /// Decodes [`Self::Output`] leniently (see [`crate::codec`]).
    type OutputCodec: for<'de> DeserializeAs<'de, Self::Output>;
}

/// How a list method pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Paging {
    /// Not a list: one response holds the whole result.
    None,
    /// Offset paging: `start` in the request, `next` and `total` in the envelope, 50 rows a page.
    Start,
    /// Offset paging that also accepts `order[ID]=ASC`, `filter[>ID]` and `start=-1`, so a
    /// list of any size is walked by id without the server counting rows on every page.
    Keyset,
}
