//! Auto-lock (passphrase backend): the vault locks itself after
//! `lock_after` seconds without a successful serve or unlock, as ssh-agent's
//! key lifetime and password managers' idle lock do.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the key was last used, and how long it may sit unused.
#[derive(Debug)]
pub struct IdleClock {
    after: Option<Duration>,
    last: Mutex<Instant>,
}

impl IdleClock {
    pub fn new(after: Option<Duration>) -> Self {
        IdleClock {
            after,
            last: Mutex::new(Instant::now()),
        }
    }

    pub fn after(&self) -> Option<Duration> {
        self.after
    }

    /// Restarts the idle clock (a successful serve or unlock).
    pub fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// True once the key has been idle for `lock_after`.
    pub fn due(&self) -> bool {
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.after.is_some_and(|a| last.elapsed() >= a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_never_due_and_touch_restarts() {
        assert!(!IdleClock::new(None).due());
        let c = IdleClock::new(Some(Duration::ZERO));
        assert!(c.due());
        let c = IdleClock::new(Some(Duration::from_secs(3600)));
        c.touch();
        assert!(!c.due());
    }
}
