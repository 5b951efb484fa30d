//! `recover`'s key: read from standard input, never from the arguments or the environment.

use std::io::{BufRead, IsTerminal, Read};

use super::error::CliError;
use crate::sensitive::Sensitive;

/// One line from standard input: hidden when typed at a terminal, never from the arguments or the
/// environment (which end up in shell history and process lists).
pub(super) fn read_key() -> Result<Sensitive, CliError> {
    /// Far more than any key; a longer line is not a key.
    const MAX_LINE: u64 = 64 * 1024;
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        super::say("Paste the key issued in the vendor's dashboard (it is not shown), then press Enter: ");
        rpassword::read_password().map_err(|error| CliError::ReadKey { from: "the terminal", error })?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|error| CliError::ReadKey { from: "standard input", error })?;
        line
    };
    let key = line.trim();
    if key.is_empty() {
        return Err(CliError::NoKey);
    }
    Ok(Sensitive::new(key))
}
