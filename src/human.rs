//! How values read in everything kafka-dr prints: durations (`850 ms`, `1.2 s`,
//! `3 min 4 s`), times (UTC ISO-8601), empty values (`-`) and the fixed table width.
//! One formatter per kind of value for the whole program (reports, progress, error
//! texts), so a duration reads the same everywhere. A leaf: pure functions, no I/O, and
//! it imports nothing of ours, so error types at the bottom of the tree can use it too.

use std::time::Duration;

/// The width of tables when stdout is not a terminal (piped, redirected, a snapshot):
/// what an operator's 100-column terminal or a ticket shows without wrapping.
pub const PIPED_WIDTH: u16 = 100;

/// What an absent or empty value prints as.
pub const EMPTY: &str = "-";

/// A duration for people: `850 ms`, `1.2 s`, `10 s`, `59.9 s`, `3 min 4 s`, `2 h 5 min`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        // Tenths, rounded down so that 59.96 s does not print as `60.0 s`; a whole
        // number of seconds (a timeout, a window) without `.0`.
        let tenths = ms / 100;
        return match tenths % 10 {
            0 => format!("{} s", tenths / 10),
            t => format!("{}.{t} s", tenths / 10),
        };
    }
    let s = d.as_secs();
    if s < 3_600 {
        return match s % 60 {
            0 => format!("{} min", s / 60),
            rest => format!("{} min {rest} s", s / 60),
        };
    }
    let minutes = s / 60;
    match minutes % 60 {
        0 => format!("{} h", minutes / 60),
        rest => format!("{} h {rest} min", minutes / 60),
    }
}

/// `duration` of a count of milliseconds (what the journal and the reports hold).
pub fn duration_ms(ms: u64) -> String {
    duration(Duration::from_millis(ms))
}

/// Milliseconds since the Unix epoch as UTC ISO-8601 with milliseconds
/// (`2026-12-02T06:21:58.123Z`), the form the journal stores its own times in.
pub fn utc_ms(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let millis = epoch_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

/// A JSON number of epoch milliseconds as `utc_ms`, anything else (null, absent) as `-`.
pub fn utc_ms_value(v: &serde_json::Value) -> String {
    v.as_i64().map(utc_ms).unwrap_or_else(|| EMPTY.to_string())
}

/// `a..b` of two optional values, `-` when neither is known, one value when both are
/// the same (a one-record range).
pub fn range<T: PartialEq + std::fmt::Display>(a: Option<T>, b: Option<T>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}..{b}"),
        (Some(a), None) => format!("{a}.."),
        (None, Some(b)) => format!("..{b}"),
        (None, None) => EMPTY.to_string(),
    }
}

/// A value, or `-` when it is absent or empty.
pub fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    match v.map(|v| v.to_string()) {
        Some(s) if !s.is_empty() => s,
        _ => EMPTY.to_string(),
    }
}

/// A JSON scalar as a cell: strings without quotes, null and absent as `-`.
pub fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => EMPTY.to_string(),
        serde_json::Value::String(s) if s.is_empty() => EMPTY.to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` wrapped at spaces to `width` columns: its first line after `first`, every
/// other line (its own line breaks included) after `rest`, the hanging indent of a list
/// item. A word longer than the room (a path, a URL) stays whole on a line of its own.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let prefix = if i == 0 { first } else { rest };
        if i > 0 {
            out.push('\n');
        }
        let mut col = 0;
        out.push_str(prefix);
        col += prefix.chars().count();
        let start = col;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let len = word.chars().count();
            if col > start && col + 1 + len > width {
                out.push('\n');
                out.push_str(rest);
                col = rest.chars().count();
            } else if col > start {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += len;
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`: exact for every i64 day count we can meet).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_ms(0), "0 ms");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(1_200), "1.2 s");
        assert_eq!(duration_ms(4_250), "4.2 s");
        assert_eq!(duration_ms(10_000), "10 s");
        assert_eq!(duration_ms(59_990), "59.9 s");
        assert_eq!(duration_ms(60_000), "1 min");
        assert_eq!(duration_ms(184_000), "3 min 4 s");
        assert_eq!(duration_ms(3_600_000), "1 h");
        assert_eq!(duration_ms(7_500_000), "2 h 5 min");
    }

    #[test]
    fn times_are_utc_iso_8601() {
        assert_eq!(utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_ms(1_796_153_325_818), "2026-12-01T19:28:45.818Z");
        assert_eq!(utc_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn empty_values_are_a_dash() {
        assert_eq!(range::<i64>(None, None), "-");
        assert_eq!(range(Some(3), Some(3)), "3");
        assert_eq!(range(Some(3), Some(9)), "3..9");
        assert_eq!(or_dash::<String>(None), "-");
        assert_eq!(or_dash(Some("")), "-");
        assert_eq!(json_cell(&serde_json::Value::Null), "-");
        assert_eq!(json_cell(&serde_json::json!("x")), "x");
        assert_eq!(json_cell(&serde_json::json!(7)), "7");
        assert_eq!(utc_ms_value(&serde_json::Value::Null), "-");
    }

    #[test]
    fn wrapping_hangs_under_the_item() {
        let text = wrap("one two three four five", 12, "- ", "  ");
        assert_eq!(text, "- one two\n  three four\n  five");
        assert_eq!(wrap("a\nb", 10, "x ", "  "), "x a\n  b");
        assert_eq!(
            wrap("averyveryverylongword x", 8, "", ""),
            "averyveryverylongword\nx"
        );
    }

    proptest! {
        /// Wrapping only moves line breaks: the words are the same, in the same order,
        /// and no line is longer than the width unless it is one word.
        #[test]
        fn wrapping_keeps_every_word(words in proptest::collection::vec("[a-z]{1,12}", 0..40), width in 10usize..120) {
            let text = words.join(" ");
            let wrapped = wrap(&text, width, "", "");
            let back: Vec<&str> = wrapped.split_whitespace().collect();
            prop_assert_eq!(back, words.iter().map(String::as_str).collect::<Vec<_>>());
            for line in wrapped.lines() {
                prop_assert!(line.chars().count() <= width || !line.contains(' '), "{}", line);
            }
        }

        /// A duration's text never grows past a table cell, and a longer duration never
        /// reads shorter in the unit it is printed in.
        #[test]
        fn durations_stay_short(ms in 0u64..10_000_000_000) {
            let text = duration_ms(ms);
            prop_assert!(text.len() <= 16, "{text}");
            prop_assert!(!text.contains('-'));
        }

        /// Every epoch-ms time round-trips through its ISO form's fields.
        #[test]
        fn times_round_trip(ms in -62_000_000_000_000i64..253_000_000_000_000) {
            let text = utc_ms(ms);
            prop_assert_eq!(text.len(), 24, "{}", text);
            let (date, time) = text.split_once('T').unwrap();
            let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
            let (y, m, day) = (d[0], d[1], d[2]);
            // days_from_civil, the inverse of civil_from_days.
            let y2 = if m <= 2 { y - 1 } else { y };
            let era = y2.div_euclid(400);
            let yoe = y2 - era * 400;
            let mp = if m > 2 { m - 3 } else { m + 9 };
            let doy = (153 * mp + 2) / 5 + day - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            let days = era * 146_097 + doe - 719_468;
            let t: Vec<f64> = time.trim_end_matches('Z').split(':').map(|p| p.parse().unwrap()).collect();
            let back = days * 86_400_000 + (t[0] as i64) * 3_600_000 + (t[1] as i64) * 60_000 + (t[2] * 1000.0).round() as i64;
            prop_assert_eq!(back, ms);
        }
    }
}
