//! Pure rules of browser sessions: the bounds of the idle and absolute timeouts (the same for
//! the environment defaults and the account setting), and whether a session is still live.

use std::ops::RangeInclusive;

/// Minutes a session may stay unused: one minute to one week.
pub const IDLE_MINUTES: RangeInclusive<i64> = 1..=10_080;
/// Hours a session may last after sign-in: one hour to thirty days.
pub const ABSOLUTE_HOURS: RangeInclusive<i64> = 1..=720;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Idle and absolute session timeouts, in the units people set them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    pub idle_minutes: i64,
    pub absolute_hours: i64,
}

/// Why a pair of timeouts is refused; each names the offending field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    #[error("idleTimeoutMinutes must be 1 to 10080 (one week)")]
    Idle,
    #[error("absoluteTimeoutHours must be 1 to 720 (30 days)")]
    Absolute,
    #[error("idleTimeoutMinutes must not be longer than absoluteTimeoutHours")]
    IdleLongerThanAbsolute,
}

impl SessionTimeouts {
    /// Checks the bounds: each within its range, and idle not longer than absolute (an idle
    /// timeout past the absolute one would never apply).
    pub fn check(self) -> Result<Self, TimeoutError> {
        if !IDLE_MINUTES.contains(&self.idle_minutes) {
            return Err(TimeoutError::Idle);
        }
        if !ABSOLUTE_HOURS.contains(&self.absolute_hours) {
            return Err(TimeoutError::Absolute);
        }
        if self.idle_minutes > self.absolute_hours * 60 {
            return Err(TimeoutError::IdleLongerThanAbsolute);
        }
        Ok(self)
    }

    pub fn idle_ms(self) -> i64 {
        self.idle_minutes.saturating_mul(MINUTE_MS)
    }

    pub fn absolute_ms(self) -> i64 {
        self.absolute_hours.saturating_mul(HOUR_MS)
    }

    /// The timeouts in force for lifetimes in milliseconds, rounded down to whole units.
    pub fn from_ms(idle_ms: i64, absolute_ms: i64) -> Self {
        SessionTimeouts {
            idle_minutes: idle_ms / MINUTE_MS,
            absolute_hours: absolute_ms / HOUR_MS,
        }
    }
}

/// The stored times of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The end given at sign-in (and carried by the cookie's lifetime).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SessionTimes {
    /// When the session ends by the absolute timeout in force: a shortened timeout ends older
    /// sessions at once, a lengthened one applies to sessions opened afterwards (the cookie
    /// of an open session expires at the end it was given anyway).
    pub fn ends_at(&self, absolute_ms: i64) -> i64 {
        self.expires_at
            .min(self.created_at.saturating_add(absolute_ms))
    }

    /// Whether the session still lets its browser in at `now`.
    pub fn is_live(&self, now: i64, idle_ms: i64, absolute_ms: i64) -> bool {
        self.revoked_at.is_none()
            && now < self.ends_at(absolute_ms)
            && now.saturating_sub(self.last_seen_at) < idle_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(idle_minutes: i64, absolute_hours: i64) -> SessionTimeouts {
        SessionTimeouts {
            idle_minutes,
            absolute_hours,
        }
    }

    #[test]
    fn bounds_match_the_environment_settings() {
        assert!(t(1, 1).check().is_ok());
        assert!(t(10_080, 720).check().is_ok());
        assert!(t(60, 1).check().is_ok());
        assert_eq!(t(0, 24).check(), Err(TimeoutError::Idle));
        assert_eq!(t(10_081, 720).check(), Err(TimeoutError::Idle));
        assert_eq!(t(30, 0).check(), Err(TimeoutError::Absolute));
        assert_eq!(t(30, 721).check(), Err(TimeoutError::Absolute));
        assert_eq!(t(61, 1).check(), Err(TimeoutError::IdleLongerThanAbsolute));
        assert!(
            TimeoutError::Idle
                .to_string()
                .contains("idleTimeoutMinutes")
        );
        assert!(
            TimeoutError::Absolute
                .to_string()
                .contains("absoluteTimeoutHours")
        );
    }

    #[test]
    fn liveness_follows_the_timeouts_in_force() {
        let times = SessionTimes {
            created_at: 0,
            last_seen_at: 1_000,
            expires_at: 10_000,
            revoked_at: None,
        };
        assert!(times.is_live(5_000, 5_000, 10_000));
        // Idle: unused for the whole idle timeout.
        assert!(!times.is_live(6_000, 5_000, 10_000));
        // Absolute: the stored end holds even when the setting grew since sign-in.
        assert!(!times.is_live(10_000, 50_000, 50_000));
        // A shortened absolute timeout ends older sessions at once.
        assert!(!times.is_live(4_000, 5_000, 3_000));
        let revoked = SessionTimes {
            revoked_at: Some(2_000),
            ..times
        };
        assert!(!revoked.is_live(2_500, 5_000, 10_000));
    }

    #[test]
    fn units_convert_both_ways() {
        let timeouts = t(480, 24);
        assert_eq!(timeouts.idle_ms(), 480 * 60_000);
        assert_eq!(timeouts.absolute_ms(), 24 * 3_600_000);
        assert_eq!(
            SessionTimeouts::from_ms(timeouts.idle_ms(), timeouts.absolute_ms()),
            timeouts
        );
    }
}
