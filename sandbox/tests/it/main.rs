//! The sandbox portal's own tests, in one binary: the protocol as the docs describe it, spoken
//! over real HTTP to a bare `reqwest` client (no SDK in between), and the standalone binary.

mod batch;
mod bin;
mod limits;
mod scale;
mod v3;
