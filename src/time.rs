//! Times as whole seconds since the Unix epoch (UTC), as COSE's epoch-based date/time carries
//! them, with RFC 3339 text for people and annotations, and durations like `30d`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01T00:00:00Z.
pub type Seconds = i64;

/// The current time, from the system clock. A clock before 1970 reads as 0.
pub fn now() -> Seconds {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Seconds::try_from(d.as_secs()).unwrap_or(Seconds::MAX),
        Err(_) => 0,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`. Years outside 0000–9999 are shown with a sign and more digits.
pub fn format_rfc3339(t: Seconds) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else {
        format!("{y:+}")
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Reads `YYYY-MM-DDTHH:MM:SSZ` (UTC, optional fraction ignored only if zero) or
/// `YYYY-MM-DDTHH:MM:SS±HH:MM`.
pub fn parse_rfc3339(s: &str) -> Result<Seconds, String> {
    let bad = || format!("{s:?} is not an RFC 3339 time like 2026-01-31T12:00:00Z");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = s.get(r).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || frac[..digits].bytes().any(|c| c != b'0') {
            return Err(format!("{s:?}: fractional seconds are not accepted"));
        }
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let oh = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let om = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return Err(bad()),
    };
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Reads a duration: a whole number with a unit `s`, `m`, `h`, `d` or `w` (`30d`, `12h`).
pub fn parse_duration(s: &str) -> Result<Seconds, String> {
    let bad = || format!("{s:?} is not a duration like 30d, 12h, 90m or 3600s");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).filter(|v| *v > 0).ok_or_else(bad)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil and its inverse, for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_times() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_667_411_812), "2022-11-02T17:56:52Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2022-11-02T17:56:52Z"), Ok(1_667_411_812));
        assert_eq!(
            parse_rfc3339("2022-11-02T18:56:52+01:00"),
            Ok(1_667_411_812)
        );
        assert_eq!(parse_rfc3339("2022-11-02T17:56:52.000Z"), Ok(1_667_411_812));
        for bad in [
            "2022-02-30T00:00:00Z",
            "2022-11-02 17:56:52Z",
            "2022-11-02T17:56:52",
            "2022-11-02T17:56:52.5Z",
            "2022-11-02T24:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert!(
            parse_duration("0d").is_err()
                && parse_duration("d").is_err()
                && parse_duration("5y").is_err()
        );
    }

    proptest! {
        #[test]
        fn format_then_parse(t in -62_135_596_800i64..253_402_300_799) {
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Ok(t));
        }
    }
}
