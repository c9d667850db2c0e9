//! What `--canary N` adds to the plan: its flags checked (bad ones are a usage error, exit 2),
//! the canaries — the first N new slots of a blue-green plan — and why a plan cannot have them.

use super::error::UpgradeError;
use crate::cli::UpgradeArgs;
use crate::report::upgrade::{GateSettings, Plan, StrategyName};

/// The gate's settings from the command line (`None` without `--canary`).
pub fn settings(args: &UpgradeArgs) -> Result<Option<GateSettings>, UpgradeError> {
    let Some(n) = args.canary else {
        return Ok(None);
    };
    if n == 0 {
        return Err(UpgradeError::Usage(
            "--canary must be at least 1 (the number of new masters started first)".into(),
        ));
    }
    if args.analysis_window.is_zero() {
        return Err(UpgradeError::Usage(
            "--analysis-window must be longer than zero".into(),
        ));
    }
    if args.analysis_builds == Some(0) {
        return Err(UpgradeError::Usage(
            "--analysis-builds must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&args.gate_error_margin) {
        return Err(UpgradeError::Usage(format!(
            "--gate-error-margin must be a fraction from 0 to 1, not {}",
            args.gate_error_margin
        )));
    }
    Ok(Some(GateSettings {
        window_secs: args.analysis_window.as_secs_f64(),
        builds: args.analysis_builds,
        auto_promote: args.auto_promote,
        error_margin: args.gate_error_margin,
        tracebacks: args.gate_tracebacks,
        count_failures: args.gate_count_failures,
    }))
}

/// Names the canaries in `plan`, or says why it cannot have `n` of them.
pub fn annotate(plan: &mut Plan, n: Option<usize>) {
    let Some(n) = n else { return };
    if plan.strategy != StrategyName::BlueGreen {
        plan.problems.push(format!(
            "--canary needs a blue-green upgrade (new masters on standby slots beside the old \
             ones); this plan is {}",
            plan.strategy.as_str()
        ));
        return;
    }
    if n > plan.new.len() {
        plan.problems.push(format!(
            "--canary {n}: only {} new (standby) slot(s)",
            plan.new.len()
        ));
        return;
    }
    plan.canary = Some(plan.new[..n].to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(strategy: StrategyName, new: &[&str]) -> Plan {
        Plan {
            strategy,
            old: vec!["m1".into(), "m2".into()],
            new: new.iter().map(|s| s.to_string()).collect(),
            batches: vec![],
            min_serving_during: 1,
            buildbot: None,
            schema: None,
            window_estimate: None,
            canary: None,
            problems: vec![],
        }
    }

    #[test]
    fn the_first_new_slots_are_the_canaries() {
        let mut p = plan(StrategyName::BlueGreen, &["m3", "m4"]);
        annotate(&mut p, Some(1));
        assert_eq!(p.canary, Some(vec!["m3".to_string()]));
        assert!(p.feasible());
    }

    #[test]
    fn too_many_canaries_or_another_strategy_is_a_problem() {
        let mut p = plan(StrategyName::BlueGreen, &["m3"]);
        annotate(&mut p, Some(2));
        assert_eq!(p.problems, vec!["--canary 2: only 1 new (standby) slot(s)"]);
        let mut p = plan(StrategyName::Rolling, &["m1", "m2"]);
        annotate(&mut p, Some(1));
        assert!(
            p.problems[0].starts_with("--canary needs a blue-green"),
            "{:?}",
            p.problems
        );
        assert_eq!(p.canary, None);
    }
}
