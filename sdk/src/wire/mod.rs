//! What goes over the wire: the response envelope and PHP-style form encoding.

pub mod envelope;
pub mod php;
