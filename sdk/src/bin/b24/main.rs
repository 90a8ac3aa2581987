//! `b24`: the Bitrix24 command line (work in progress).

fn main() {}
