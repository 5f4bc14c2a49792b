//! Crash points: named places inside an action's apply where the crash-and-resume tests
//! SIGKILL the process, so "killed in the middle of writing the quarantine" is a fact
//! of the test and not a race with a timer. Set `KAFKA_DR_CRASH_AT=<point>` to arm one;
//! unset (always, in operation), a crash point does nothing. Every step has one,
//! `<step id>:applied`, after its apply (or its empty plan) and before it is verified and
//! journaled finished. The process kills itself
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

/// The environment variable that arms a panic point (the panic hook's tests).
pub const PANIC_AT_ENV: &str = "KAFKA_DR_PANIC_AT";

/// Panic if `KAFKA_DR_PANIC_AT` names `point` (a step id, just before its apply): how the
/// tests prove that a bug's panic marks the run failed and prints where to look. Unset
/// (always, in operation), it does nothing.
pub fn panic_point(point: &str) {
    if std::env::var_os(PANIC_AT_ENV).is_some_and(|v| v == point) {
        // Deliberate: this is the panic the hook's test needs.
        #[allow(clippy::panic)]
        {
            panic!("{PANIC_AT_ENV} asked for a panic before step `{point}` applies");
        }
    }
}
