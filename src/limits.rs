//! Bounds on durations taken from input (runbook `*_seconds` parameters, `--timeout`,
//! `--interval`, `--observe`), and deadline arithmetic that cannot overflow.
//!
//! A leaf like `error::ExitCode`: it imports nothing of ours, so the CLI, the runbook
//! loader and the actions share one maximum. `Instant + Duration` panics on overflow;
//! every deadline built from input goes through `deadline` instead.

use std::time::{Duration, Instant};

/// The longest wait any input may ask for: one week. Longer than any DR step should take,
/// far below what `Instant` arithmetic or an `i64` of milliseconds can hold.
pub const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// `start + wait`, or a point a week past `start` when that would overflow (a wait that
/// long is "forever" for a command an operator watches).
pub fn deadline(start: Instant, wait: Duration) -> Instant {
    start
        .checked_add(wait)
        .or_else(|| start.checked_add(Duration::from_secs(MAX_SECONDS)))
        .unwrap_or(start)
}

/// clap value parser for a number of seconds: an integer from 1 to `MAX_SECONDS`.
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of seconds"))?;
    if n == 0 {
        return Err("must be at least 1 second".into());
    }
    if n > MAX_SECONDS {
        return Err(format!(
            "{n} seconds is more than the maximum of {MAX_SECONDS} (one week)"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_never_overflows() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        let far = deadline(now, Duration::MAX);
        assert!(far > now);
    }

    #[test]
    fn seconds_are_bounded() {
        assert_eq!(parse_seconds("10"), Ok(10));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("18446744073709551615")
            .unwrap_err()
            .contains("maximum of 604800"));
        assert!(parse_seconds("99999999999999999999999").is_err());
        assert!(parse_seconds("-1").is_err());
    }
}
