//! Polling with a deadline, for conditions that become true "soon" in a real fleet.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Calls `check` every 200 ms until it returns `Ok(Some(value))`, and returns that value.
///
/// `Ok(None)` and errors both mean "not yet"; the last error is part of the timeout message,
/// which also names `what` was awaited.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            match last_error {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_ready_value() {
        let mut calls = 0;
        let got = wait_until("three calls", Duration::from_secs(5), || {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        })
        .unwrap();
        assert_eq!(got, 3);
    }

    #[test]
    fn timeout_names_what_and_the_last_error() {
        let err = wait_until::<()>("the impossible", Duration::from_millis(300), || {
            bail!("still broken")
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("the impossible"), "{err}");
        assert!(err.contains("still broken"), "{err}");
    }
}
