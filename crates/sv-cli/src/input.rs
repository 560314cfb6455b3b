//! Reading secrets: hidden from the terminal, or one line of stdin when
//! stdin is not a terminal. Never from argv.

use crate::error::{CliError, Result};
use std::io::{IsTerminal, Read};
use sv_core::SecretString;
use zeroize::Zeroizing;

/// Where secrets come from for one command.
pub struct SecretInput {
    tty: bool,
}

impl SecretInput {
    pub fn new() -> Self {
        SecretInput {
            tty: std::io::stdin().is_terminal(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.tty
    }

    /// Reads one secret, prompting (input hidden) on a terminal.
    pub fn read(&mut self, prompt: &str) -> Result<SecretString> {
        if self.tty {
            let s = rpassword::prompt_password(prompt)
                .map_err(|e| CliError::Failed(format!("cannot read from the terminal: {e}")))?;
            Ok(SecretString::new(s))
        } else {
            read_stdin_line()
        }
    }
}

/// The next line of stdin (without `\n` or `\r\n`), read byte by byte so
/// the next call gets the following line.
fn read_stdin_line() -> Result<SecretString> {
    let mut buf = Zeroizing::new(Vec::new());
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    let mut byte = [0u8; 1];
    loop {
        match lock.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if buf.len() >= 16 * 1024 {
                    return Err(CliError::Usage(
                        "the secret on stdin is longer than 16 KiB; check what you piped in".into(),
                    ));
                }
                buf.push(byte[0])
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::Failed(format!("cannot read stdin: {e}"))),
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| CliError::Usage("the secret on stdin is not valid UTF-8".into()))?;
    Ok(SecretString::from(text))
}
