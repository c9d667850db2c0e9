//! The canary's lines in the plan, `upgrade status` and the summary: which masters are the
//! canaries, and what the gate decided with its numbers.

use crate::report::upgrade::{Journal, Plan};
use crate::time::human;

/// `Canaries: master-5 (started first; the gate decides before the others start)`.
pub fn plan_line(plan: &Plan) -> String {
    match &plan.canary {
        Some(c) => format!(
            "Canaries: {} (started first and given a share of the workers; the gate decides \
             before the other new masters start)\n",
            c.join(", ")
        ),
        None => String::new(),
    }
}

/// The gate's decision (or where it stands) and the promotion, for `status` and the summary.
pub fn journal_lines(j: &Journal) -> String {
    let Some(c) = &j.canary else {
        return String::new();
    };
    let mut text = format!("Canaries: {}\n", c.masters.join(", "));
    match &c.decision {
        Some(d) => {
            let rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
            text.push_str(&format!(
                "Canary gate: {} after {} ({}); canaries {} finished, {} exception, {} retry \
                 ({} errors), {} tracebacks; old masters {} finished ({} errors)\n",
                d.verdict.as_str(),
                human(d.after_secs),
                d.ended_by,
                d.canary.finished,
                d.canary.exception,
                d.canary.retry,
                rate(d.canary.error_rate),
                d.canary.tracebacks,
                d.old.finished,
                rate(d.old.error_rate)
            ));
            for r in &d.reasons {
                text.push_str(&format!("  reason: {r}\n"));
            }
            for e in &d.evidence {
                text.push_str(&format!("  evidence: {e}\n"));
            }
        }
        None => text.push_str("Canary gate: not decided yet\n"),
    }
    if let Some(by) = &c.promoted_by {
        text.push_str(&format!("Promoted by {by}\n"));
    }
    text
}
