//! Expiry rules (docs/design.md §4), two clocks as in gpg-agent: an idle TTL that
//! restarts at every successful serve (`0` = no idle expiry) and a hard
//! deadline from creation that never moves. Times are Unix seconds passed in
//! by the caller.
//!
//! ```
//! use sv_core::Expiry;
//! let mut e = Expiry::new(1000, 60, Some(500));
//! assert!(!e.is_expired(1059));
//! e.touch(1059);                // served: the idle clock restarts
//! assert!(!e.is_expired(1118));
//! assert!(e.is_expired(1500));  // the hard deadline never moves
//! ```

/// The clocks of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub created_at: i64,
    pub last_used: i64,
    /// Inactivity TTL in seconds; 0 means no idle expiry.
    pub idle_ttl: u64,
    /// Absolute hard deadline (Unix seconds), if any.
    pub hard_deadline: Option<i64>,
}

impl Expiry {
    /// A session created at `now` with an idle TTL and an optional maximum
    /// age in seconds.
    pub fn new(now: i64, idle_ttl: u64, max_age: Option<u64>) -> Self {
        Expiry {
            created_at: now,
            last_used: now,
            idle_ttl,
            hard_deadline: max_age.map(|a| now.saturating_add(clamp(a))),
        }
    }

    /// When the session stops being served, if ever: the earlier clock.
    pub fn expires_at(&self) -> Option<i64> {
        let idle = (self.idle_ttl > 0).then(|| self.last_used.saturating_add(clamp(self.idle_ttl)));
        match (idle, self.hard_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expired at `now` (a session is dead from its expiry second on).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at().is_some_and(|t| now >= t)
    }

    /// A successful serve at `now`: restart the idle clock. A clock that went
    /// backwards never moves `last_used` back.
    pub fn touch(&mut self, now: i64) {
        self.last_used = self.last_used.max(now);
    }

    /// Seconds left at `now`, `None` for never.
    pub fn remaining(&self, now: i64) -> Option<u64> {
        self.expires_at()
            .map(|t| t.saturating_sub(now).max(0) as u64)
    }
}

/// The daemon's "now": the wall clock read once, at start-up, advanced by a
/// clock that only moves forward (Linux `CLOCK_BOOTTIME`, which also counts
/// suspend). Setting the system clock back or forward while the daemon runs
/// therefore neither extends nor cuts short any session: expiry follows the
/// time that really passed. Both readings are passed in, so the rule stays
/// pure.
///
/// ```
/// use sv_core::ttl::SteadyClock;
/// use std::time::Duration;
/// let c = SteadyClock::new(1_000, Duration::from_secs(50));
/// // 30 s later on the steady clock, whatever the wall clock now says:
/// assert_eq!(c.now(Duration::from_secs(80)), 1_030);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteadyClock {
    wall_at_start: i64,
    steady_at_start: std::time::Duration,
}

impl SteadyClock {
    /// Anchors the clock: the wall time and the steady reading, taken together.
    pub fn new(wall_now: i64, steady_now: std::time::Duration) -> Self {
        SteadyClock {
            wall_at_start: wall_now,
            steady_at_start: steady_now,
        }
    }

    /// Unix seconds for a later steady reading. A reading earlier than the
    /// anchor (impossible for a forward-only clock) counts as no time passed.
    pub fn now(&self, steady_now: std::time::Duration) -> i64 {
        let passed = steady_now.saturating_sub(self.steady_at_start).as_secs();
        self.wall_at_start.saturating_add(clamp(passed))
    }
}

fn clamp(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// `7h 58m`, `3d 4h`, `42s`, or `never`, as `list` prints it.
pub fn format_remaining(rem: Option<u64>) -> String {
    let Some(s) = rem else {
        return "never".to_owned();
    };
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn idle_clock_slides() {
        let mut e = Expiry::new(0, 10, None);
        for t in [9, 18, 27] {
            assert!(!e.is_expired(t));
            e.touch(t);
        }
        assert!(e.is_expired(37));
        assert_eq!(e.remaining(30), Some(7));
    }

    #[test]
    fn zero_ttl_means_no_idle_expiry() {
        let e = Expiry::new(0, 0, None);
        assert_eq!(e.expires_at(), None);
        assert!(!e.is_expired(i64::MAX));
        assert_eq!(e.remaining(5), None);
        assert_eq!(Expiry::new(0, 0, Some(5)).expires_at(), Some(5));
    }

    #[test]
    fn hard_deadline_never_moves() {
        let mut e = Expiry::new(100, 50, Some(120));
        e.touch(180);
        e.touch(210);
        assert!(e.is_expired(220));
        assert_eq!(e.expires_at(), Some(220));
    }

    #[test]
    fn backwards_clock_does_not_rewind_last_use() {
        let mut e = Expiry::new(100, 50, None);
        e.touch(140);
        e.touch(10);
        assert_eq!(e.last_used, 140);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_remaining(None), "never");
        assert_eq!(format_remaining(Some(7 * 3600 + 58 * 60 + 3)), "7h 58m");
        assert_eq!(format_remaining(Some(86_400 * 2 + 3600)), "2d 1h");
        assert_eq!(format_remaining(Some(61)), "1m 1s");
        assert_eq!(format_remaining(Some(0)), "0s");
    }

    /// The clock-jump chaos test's rule: what the wall clock says after the
    /// anchor does not matter, only steady time does.
    #[test]
    fn steady_clock_ignores_wall_jumps() {
        use std::time::Duration;
        let c = SteadyClock::new(10_000, Duration::from_secs(500));
        let mut e = Expiry::new(c.now(Duration::from_secs(500)), 60, Some(90));
        // Wall clock set back 3 h or forward 3 h: nothing to pass in, the
        // steady reading alone decides.
        let t = c.now(Duration::from_secs(559));
        assert!(!e.is_expired(t), "not killed by a forward jump");
        e.touch(t);
        assert!(
            e.is_expired(c.now(Duration::from_secs(590))),
            "hard deadline at 90 s"
        );
        assert!(
            e.is_expired(c.now(Duration::from_secs(620))),
            "idle 61 s after the serve"
        );
        assert_eq!(
            c.now(Duration::from_secs(400)),
            10_000,
            "never runs backwards"
        );
        assert_eq!(
            SteadyClock::new(i64::MAX - 1, Duration::ZERO).now(Duration::MAX),
            i64::MAX
        );
    }

    proptest! {
        #[test]
        fn steady_clock_is_monotonic(wall in any::<i64>(), a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            use std::time::Duration;
            let (lo, hi) = (b.min(c), b.max(c));
            let clock = SteadyClock::new(wall, Duration::from_nanos(a));
            prop_assert!(clock.now(Duration::from_nanos(lo)) <= clock.now(Duration::from_nanos(hi)));
        }

        #[test]
        fn never_served_past_either_clock(created in 0i64..1_000_000, ttl in 0u64..10_000, max in proptest::option::of(0u64..10_000), serves in proptest::collection::vec(0i64..20_000, 0..10)) {
            let mut e = Expiry::new(created, ttl, max);
            let mut last = created;
            let mut t = created;
            for d in serves {
                t += d;
                if e.is_expired(t) { break; }
                if let Some(m) = max { prop_assert!(t < created + m as i64); }
                if ttl > 0 { prop_assert!(t < last + ttl as i64); }
                e.touch(t);
                last = t;
            }
        }
    }
}
