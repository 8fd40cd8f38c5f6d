//! RFC 3339 timestamps for `auth.json`'s `last_refresh` (Codex writes chrono's
//! `DateTime<Utc>`, e.g. `2026-08-20T12:34:56.789012Z`). Hand-written because the gateway has no
//! date crate and needs only these two conversions.
//!
//! Invariants: [`format`] always writes UTC with millisecond precision and a `Z`; [`parse`]
//! accepts any offset and fraction length and returns `None` for anything malformed or before
//! the epoch, never an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: u64 = 86_400;

/// `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (times before the epoch are written as the epoch).
pub(super) fn format(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / SECS_PER_DAY) as i64);
    let rem = secs % SECS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub(super) fn parse(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let (month, day) = (digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second; fold it into the next minute like chrono does.
    if second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, c) in frac[..len].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
        }
        nanos *= 10u64.pow(9u32.saturating_sub(len as u32));
        rest = &frac[len..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (oh, om) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = (oh * 3600 + om * 60) as i64;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let local = days * SECS_PER_DAY as i64 + (hour * 3600 + minute * 60 + second) as i64;
    let utc = u64::try_from(local - offset_secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(utc) + Duration::from_nanos(nanos))
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_796_385_600; // 2026-12-04T12:00:00Z

    #[test]
    fn formats_utc_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(T0 * 1000 + 123);
        assert_eq!(format(t), "2026-12-04T12:00:00.123Z");
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day and the last second of a year.
        assert_eq!(
            format(UNIX_EPOCH + Duration::from_secs(951_868_800)),
            "2000-03-01T00:00:00.000Z"
        );
        assert_eq!(
            format(UNIX_EPOCH + Duration::from_secs(1_767_225_599)),
            "2025-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn parses_what_it_formats_and_what_chrono_writes() {
        let t = UNIX_EPOCH + Duration::from_millis(T0 * 1000 + 123);
        assert_eq!(parse(&format(t)), Some(t));
        assert_eq!(
            parse("2026-12-04T12:00:00.123456Z"),
            Some(UNIX_EPOCH + Duration::from_micros(T0 * 1_000_000 + 123_456))
        );
        assert_eq!(
            parse("2026-12-04T13:30:00+01:30"),
            Some(UNIX_EPOCH + Duration::from_secs(T0))
        );
        assert_eq!(
            parse("2026-12-04T10:00:00-02:00"),
            Some(UNIX_EPOCH + Duration::from_secs(T0))
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for text in [
            "",
            "2026-12-04",
            "2026-12-04T12:00:00",
            "2026-13-04T12:00:00Z",
            "2026-12-04T25:00:00Z",
            "2026-12-04T12:00:00.Z",
            "2026-12-04T12:00:00+0100",
            "1969-12-31T23:59:59Z",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
