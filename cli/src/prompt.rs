//! The one yes/no question destructive commands ask on a terminal (callers check that there is
//! one, and refuse instead when there is not).

use std::io::{BufRead, Write};

/// Prints `question [y/N] ` on stderr and reads the answer from stdin: `y` or `yes` is a yes,
/// anything else (an empty line included) a no.
pub fn confirm(question: &str) -> std::io::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
