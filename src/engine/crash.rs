//! Crash points: named places inside an action's apply where the crash-and-resume tests
//! SIGKILL the process, so "killed in the middle of writing the quarantine" is a fact
//! of the test and not a race with a timer. Set `KAFKA_DR_CRASH_AT=<point>` to arm one;
//! unset (always, in operation), a crash point does nothing. The process kills itself
//! with SIGKILL: no destructor runs, no buffer is flushed, exactly like `kill -9`.

/// The environment variable that arms a crash point.
pub const CRASH_AT_ENV: &str = "KAFKA_DR_CRASH_AT";

/// SIGKILL this process if `KAFKA_DR_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    if std::env::var_os(CRASH_AT_ENV).is_some_and(|v| v == point) {
        // SAFETY: kill(2) on our own pid with a constant signal has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
