//! The exit codes scripts rely on: 0 ready, done or nothing to do; 1 a problem found or an action
//! refused; 2 a usage error (or an invalid environment). Which outcome means which is decided
//! beside each report ([`super::output`]) and each error ([`super::error`]).

pub const SUCCESS: u8 = 0;
pub const PROBLEM: u8 = 1;
pub const USAGE: u8 = 2;
