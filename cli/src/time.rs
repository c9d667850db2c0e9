//! Wall-clock helpers and the human rendering of durations (`3m12s`, `2d4h`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as Unix epoch seconds with fractions (the agent API's time unit).
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A compact duration: `45s`, `3m12s`, `5h07m`, `2d4h`.
pub fn human(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn renders_compactly() {
        assert_eq!(human(0.4), "0s");
        assert_eq!(human(192.0), "3m12s");
        assert_eq!(human(18_420.0), "5h07m");
        assert_eq!(human(187_200.0), "2d4h");
    }
}
