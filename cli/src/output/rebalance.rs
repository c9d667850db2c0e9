//! `workers rebalance` for people: the moves (planned, or done with their outcome), the
//! balance before and after, and the workers that held a master above its target.

use std::io::Write;

use super::tables::{Style, opt, table};
use super::write_table;
use crate::report::rebalance::{BalanceRow, RebalanceReport};

pub fn report(out: &mut impl Write, r: &RebalanceReport, style: Style) -> std::io::Result<()> {
    if r.moves.is_empty() {
        writeln!(
            out,
            "Nothing to move: the fleet is as balanced as it can be."
        )?;
    } else {
        let mut t = table(style, &["WORKER", "FROM", "TO", "OUTCOME", "SECONDS"]);
        for m in &r.moves {
            let to = match &m.landed {
                Some(landed) if landed != &m.to => format!("{landed} (planned {})", m.to),
                _ => m.to.clone(),
            };
            let outcome = if m.for_pin {
                format!("{} (pin)", m.outcome)
            } else {
                m.outcome.clone()
            };
            t.add_row(vec![
                m.worker.clone(),
                m.from.clone(),
                to,
                outcome,
                opt(m.seconds.map(|s| format!("{s:.1}"))),
            ]);
        }
        write_table(out, t)?;
    }
    writeln!(out)?;
    let mut t = table(style, &["MASTER", "BEFORE", "AFTER", "TARGET", "NOTE"]);
    for before in &r.before {
        let after = r.after.iter().find(|a| a.master == before.master);
        t.add_row(vec![
            before.master.clone(),
            opt(before.workers),
            opt(after.and_then(|a| a.workers)),
            opt(before.target),
            note(after.unwrap_or(before)),
        ]);
    }
    write_table(out, t)?;
    if !r.held.is_empty() {
        writeln!(out)?;
        let mut t = table(style, &["HELD WORKER", "ON", "WHY"]);
        for h in &r.held {
            t.add_row(vec![h.worker.clone(), h.master.clone(), h.why.clone()]);
        }
        write_table(out, t)?;
    }
    Ok(())
}

fn note(row: &BalanceRow) -> String {
    row.out
        .as_deref()
        .map_or_else(String::new, |why| format!("takes no part: {why}"))
}
