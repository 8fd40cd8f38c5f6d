//! Calendar arithmetic for budget windows, and RFC 3339 timestamps for key expiry.
//!
//! Windows are calendar windows: a day starts at midnight, a week on Monday at midnight, a month
//! on the 1st at midnight, all in UTC shifted by a fixed offset (seconds east of UTC, default 0;
//! no daylight-saving rules). A window is the half-open interval `[start_ms, end_ms)`; every
//! instant belongs to exactly one window of each kind, and the next window starts where the last
//! ended. The civil-date conversions are Howard Hinnant's proleptic Gregorian algorithms, exact
//! for every `i64` day this code meets.

use serde::{Deserialize, Serialize};

pub const MS_PER_DAY: i64 = 86_400_000;

/// A budget window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Day,
    Week,
    Month,
}

/// One window's bounds, Unix milliseconds, `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowBounds {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
        }
    }

    /// The window of this kind holding `now_ms`, with calendar boundaries at `offset_secs` east
    /// of UTC.
    pub fn bounds(self, now_ms: i64, offset_secs: i32) -> WindowBounds {
        let offset_ms = i64::from(offset_secs) * 1_000;
        let day = (now_ms + offset_ms).div_euclid(MS_PER_DAY);
        let (first, next) = match self {
            Window::Day => (day, day + 1),
            Window::Week => {
                // Day 0 (1970-01-01) was a Thursday: Monday is 0 here.
                let weekday = (day + 3).rem_euclid(7);
                (day - weekday, day - weekday + 7)
            }
            Window::Month => {
                let (y, m, _) = civil_from_days(day);
                let next = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                (days_from_civil(y, m, 1), next)
            }
        };
        WindowBounds {
            start_ms: first * MS_PER_DAY - offset_ms,
            end_ms: next * MS_PER_DAY - offset_ms,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1–12, day 1–31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    (next - days_from_civil(year, month, 1)) as u32
}

/// Why a timestamp is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 timestamp (like 2026-12-31T23:59:59Z)")]
pub struct TimestampError(pub String);

/// Parses an RFC 3339 timestamp (`2026-12-31T23:59:59Z`, `…+02:00`, fractional seconds
/// allowed and truncated to milliseconds) to Unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, TimestampError> {
    let err = || TimestampError(text.to_owned());
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
        let part = b.get(range).ok_or_else(err)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(err());
        }
        Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if b.len() < 20 || !sep(4, b"-") || !sep(7, b"-") || !sep(10, b"Tt ") || !sep(13, b":") {
        return Err(err());
    }
    if !sep(16, b":") {
        return Err(err());
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?.min(59));
    let month = u32::try_from(month).map_err(|_| err())?;
    let day = u32::try_from(day).map_err(|_| err())?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(err());
    }
    if hour > 23 || minute > 59 {
        return Err(err());
    }
    let mut i = 19;
    let mut millis = 0i64;
    if sep(i, b".") {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err());
        }
        let frac = num(i + 1..i + 1 + digits.min(3))?;
        millis = frac * 10i64.pow(3 - digits.min(3) as u32);
        i += 1 + digits;
    }
    let offset_secs = match b.get(i..) {
        Some(b"Z") | Some(b"z") => 0,
        Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return Err(err());
            }
            let secs = h * 3_600 + m * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(err()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    Ok(secs * 1_000 + millis)
}

/// Unix milliseconds as an RFC 3339 UTC timestamp to the second (`2026-12-01T00:00:00Z`).
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> i64 {
        parse_rfc3339(text).unwrap()
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }

    #[test]
    fn rfc3339_parsing() {
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2026-12-31T23:59:59Z"), 1_798_761_599_000);
        assert_eq!(at("2026-12-31T23:59:59.5Z"), 1_798_761_599_500);
        assert_eq!(at("2026-12-31T23:59:59.123456Z"), 1_798_761_599_123);
        assert_eq!(at("2027-01-01T01:00:00+01:00"), at("2027-01-01T00:00:00Z"));
        assert_eq!(at("2026-12-31T19:00:00-05:00"), at("2027-01-01T00:00:00Z"));
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01 00:00:00",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00.Z",
            "yesterday",
            "",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format_rfc3339(at("2026-03-01T07:08:09Z")),
            "2026-03-01T07:08:09Z"
        );
    }

    #[test]
    fn calendar_windows_in_utc() {
        let now = at("2026-02-18T15:30:00Z"); // a Wednesday
        let day = Window::Day.bounds(now, 0);
        assert_eq!(
            (day.start_ms, day.end_ms),
            (at("2026-02-18T00:00:00Z"), at("2026-02-19T00:00:00Z"))
        );
        let week = Window::Week.bounds(now, 0);
        assert_eq!(
            (week.start_ms, week.end_ms),
            (at("2026-02-16T00:00:00Z"), at("2026-02-23T00:00:00Z"))
        );
        let month = Window::Month.bounds(now, 0);
        assert_eq!(
            (month.start_ms, month.end_ms),
            (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
        );
        let december = Window::Month.bounds(at("2026-12-31T23:59:59.999Z"), 0);
        assert_eq!(december.end_ms, at("2027-01-01T00:00:00Z"));
        // The last millisecond of a window is inside it; the next is in the next window.
        let end = day.end_ms;
        assert_eq!(Window::Day.bounds(end - 1, 0), day);
        assert_eq!(Window::Day.bounds(end, 0).start_ms, end);
        // Before 1970 too.
        let old = Window::Week.bounds(at("1969-12-31T12:00:00Z"), 0);
        assert_eq!(old.start_ms, at("1969-12-29T00:00:00Z"));
    }

    #[test]
    fn calendar_windows_with_an_offset() {
        // 23:30 UTC on Sunday 2026-03-01 is already Monday 07:30 at UTC+8.
        let now = at("2026-03-01T23:30:00Z");
        let plus8 = 8 * 3_600;
        let day = Window::Day.bounds(now, plus8);
        assert_eq!(day.start_ms, at("2026-03-02T00:00:00+08:00"));
        let week = Window::Week.bounds(now, plus8);
        assert_eq!(week.start_ms, at("2026-03-02T00:00:00+08:00"));
        assert_eq!(
            Window::Week.bounds(now, 0).start_ms,
            at("2026-02-23T00:00:00Z")
        );
        let month = Window::Month.bounds(now, plus8);
        assert_eq!(month.start_ms, at("2026-03-01T00:00:00+08:00"));
        let minus5 = Window::Month.bounds(at("2026-04-01T03:00:00Z"), -5 * 3_600);
        assert_eq!(minus5.start_ms, at("2026-03-01T00:00:00-05:00"));
        assert_eq!(minus5.end_ms, at("2026-04-01T00:00:00-05:00"));
    }
}
