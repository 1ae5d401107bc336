//! The `evs` command.
fn main() {}
