//! Durations on the command line: `60s`, `2m`, `500ms`, `1h`, or plain seconds.

use std::time::Duration;

/// The longest duration accepted: a year is "never" for a test.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses `500ms`, `30s`, `2m`, `1h` or a number of seconds (`90`, `1.5`).
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = num.parse().map_err(|_| {
        format!("`{s}` is not a duration; expected for example 500ms, 30s, 2m or 1h")
    })?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{s}`; use ms, s, m or h")),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("`{s}` must be a positive duration"));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= LONGEST => Ok(d),
        _ => Err(format!(
            "`{s}` is too long; the longest accepted is 365 days"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse("abc").is_err());
        assert!(parse("5 parsecs").is_err());
        assert!(parse("0s").is_err());
        let too_long = parse("99999999999999999999999").unwrap_err();
        assert!(too_long.contains("too long"), "{too_long}");
        assert!(parse("366d").is_err());
        assert_eq!(parse("8760h"), Ok(LONGEST));
    }
}
