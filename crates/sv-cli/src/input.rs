//! Reading secrets: hidden from the terminal, or one line of stdin when
//! stdin is not a terminal. Never from argv.

use crate::error::{CliError, Result};
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::mem::ManuallyDrop;
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

    /// A new passphrase: typed twice on a terminal (`differ` is the error
    /// when the two differ), else one line of stdin.
    pub fn read_new_passphrase(&mut self, differ: &str) -> Result<SecretString> {
        if !self.tty {
            return self.read("");
        }
        let a = self.read("New vault passphrase: ")?;
        let b = self.read("Repeat the passphrase: ")?;
        if a != b {
            return Err(CliError::Usage(differ.to_owned()));
        }
        Ok(a)
    }
}

/// The process's standard input as a file, read without a buffer: Rust's
/// `stdin()` reads ahead up to 8 KiB, which would take the lines meant for
/// the next command of `printf 'pass\nkey\n' | (unlock; add …)`.
fn raw_stdin() -> ManuallyDrop<File> {
    // ManuallyDrop: the descriptor is the process's, never closed here.
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: fd 0 stays open for the whole process; the File is never
        // dropped, so it is not closed.
        ManuallyDrop::new(unsafe { File::from_raw_fd(0) })
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::{AsRawHandle, FromRawHandle};
        // SAFETY: as above, the standard input handle outlives this File,
        // which is never dropped.
        ManuallyDrop::new(unsafe { File::from_raw_handle(std::io::stdin().as_raw_handle()) })
    }
}

/// The next line of stdin (without `\n` or `\r\n`), read one byte at a
/// time so that exactly that line is consumed and the next command gets
/// the following one.
fn read_stdin_line() -> Result<SecretString> {
    let mut buf = Zeroizing::new(Vec::new());
    let mut stdin = raw_stdin();
    let mut byte = [0u8; 1];
    loop {
        match stdin.read(&mut byte) {
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
            // A closed pipe on Windows reads as an error: the end of input.
            #[cfg(windows)]
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
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
