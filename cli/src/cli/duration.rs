//! Parsing of human durations (`30s`, `10m`, `1h30m`) for flags such as `--deadline`.
//!
//! Kept free of dependencies beyond `std` because `build.rs` compiles this file too (to render
//! the man page from the very same clap definitions).

use std::time::Duration;

/// Parses `90`, `30s`, `10m`, `1h30m`, `2h`, `1d` (units `s`, `m`, `h`, `d`; a bare number is
/// seconds). Returns a message suitable for clap's error output.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let usage = || {
        format!("invalid duration `{text}`: use a number with a unit, e.g. `30s`, `10m`, `1h30m`")
    };
    if text.is_empty() {
        return Err(usage());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| usage());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(usage()),
        };
        let value: u64 = digits.parse().map_err(|_| usage())?;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(usage)?;
    }
    if !digits.is_empty() {
        return Err(usage());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    fn check(input: &str, expect: Option<u64>) {
        assert_eq!(
            parse_duration(input).ok(),
            expect.map(Duration::from_secs),
            "{input}"
        );
    }

    #[test]
    fn parses_units_and_combinations() {
        check("45", Some(45));
        check("30s", Some(30));
        check("10m", Some(600));
        check("1h30m", Some(5400));
        check("1d2h", Some(93_600));
        check("", None);
        check("10x", None);
        check("m", None);
        check("5m3", None);
        check("-5s", None);
    }

    #[test]
    fn error_names_the_input() {
        let err = parse_duration("soon").unwrap_err();
        assert!(err.contains("`soon`") && err.contains("1h30m"), "{err}");
    }
}
