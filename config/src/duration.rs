//! Durations written like `1h`, `90s` or `250ms` (humantime syntax), with bounds.

use std::time::Duration;

/// Allowed values of one duration key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub min: Duration,
    pub max: Duration,
    /// Keys sent on the wire in whole seconds (lease time, TTLs) refuse
    /// fractions rather than silently rounding them.
    pub whole_seconds: bool,
}

impl Bounds {
    pub(crate) const fn new(min: Duration, max: Duration) -> Self {
        Bounds {
            min,
            max,
            whole_seconds: false,
        }
    }

    pub(crate) const fn seconds(min: Duration, max: Duration) -> Self {
        Bounds {
            min,
            max,
            whole_seconds: true,
        }
    }
}

/// Parses `text` and checks it against `bounds`; the error is the reason only,
/// the caller adds file and key.
pub(crate) fn parse(text: &str, bounds: Bounds) -> Result<Duration, String> {
    let value = humantime::parse_duration(text.trim()).map_err(|error| {
        format!("`{text}` is not a duration ({error}); write e.g. \"1h\", \"90s\" or \"250ms\"")
    })?;
    if value < bounds.min {
        return Err(format!(
            "{} is below the minimum of {}",
            show(value),
            show(bounds.min)
        ));
    }
    if value > bounds.max {
        return Err(format!(
            "{} is above the maximum of {}",
            show(value),
            show(bounds.max)
        ));
    }
    if bounds.whole_seconds && value.subsec_nanos() != 0 {
        return Err(format!(
            "{} is not a whole number of seconds (it is sent in seconds)",
            show(value)
        ));
    }
    Ok(value)
}

fn show(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: Bounds = Bounds::new(Duration::ZERO, Duration::from_secs(86_400));

    #[test]
    fn accepts_the_usual_spellings() {
        assert_eq!(parse("1h", ANY), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("90s", ANY), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250ms", ANY), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1h 30m", ANY), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(" 10m ", ANY), Ok(Duration::from_secs(600)));
    }

    #[test]
    fn rejects_text_without_a_unit_or_number() {
        for bad in ["", "10", "ten minutes", "1 fortnight", "-5s"] {
            let reason = parse(bad, ANY).unwrap_err();
            assert!(reason.contains("is not a duration"), "{bad}: {reason}");
        }
    }

    #[test]
    fn enforces_bounds() {
        let bounds = Bounds::new(Duration::from_secs(120), Duration::from_secs(3600));
        assert!(
            parse("1m", bounds)
                .unwrap_err()
                .contains("below the minimum of 2m")
        );
        assert!(
            parse("2h", bounds)
                .unwrap_err()
                .contains("above the maximum of 1h")
        );
        assert_eq!(parse("2m", bounds), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h", bounds), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn whole_seconds_refuses_fractions() {
        let bounds = Bounds::seconds(Duration::ZERO, Duration::from_secs(60));
        assert!(
            parse("1500ms", bounds)
                .unwrap_err()
                .contains("whole number of seconds")
        );
        assert_eq!(parse("2000ms", bounds), Ok(Duration::from_secs(2)));
    }
}
