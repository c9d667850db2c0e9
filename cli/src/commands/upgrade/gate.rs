//! The canary gate's judgement, pure: from what every canary and old master did since the
//! canaries began (`GET /v1/master/analysis`), whether the window is over and what it shows.
//! [`judge`] returns `None` while it is too early to decide; the step
//! (`steps/canary.rs`) asks again every few seconds. Unit-tested without agents (`gate_tests.rs`).

use std::collections::BTreeMap;

use bbctl_api::{AnalysisBuild, MasterAnalysis};

use crate::report::upgrade::{GateDecision, GateSettings, GroupStats, Verdict};

/// Buildbot's results codes the gate reads.
const FAILURE: i64 = 2;
const EXCEPTION: i64 = 4;
const RETRY: i64 = 5;

/// A running build is stuck when it has run this many times the longest finished build of its
/// builder, and at least [`STUCK_MIN_SECS`].
const STUCK_FACTOR: i64 = 2;
const STUCK_MIN_SECS: i64 = 60;

/// Evidence lines kept in a decision.
const MAX_EVIDENCE: usize = 20;

/// What one master's agent answered.
pub struct Seen<'a> {
    pub master: &'a str,
    pub analysis: &'a MasterAnalysis,
}

/// Where the window stands.
pub struct Clock {
    pub window_started_at: f64,
    pub now: f64,
}

/// The decision, or `None` while the window runs and nothing fails the gate at once.
pub fn judge(
    canary: &[Seen<'_>],
    old: &[Seen<'_>],
    settings: &GateSettings,
    clock: &Clock,
) -> Option<GateDecision> {
    let (c, o) = both(canary, old, settings, clock.now);
    let elapsed = clock.now - clock.window_started_at;
    let ended_by = if c.reconfig_partial > 0 || c.wamp_lost > 0 {
        "signal"
    } else if settings.builds.is_some_and(|k| c.finished >= k) {
        "builds"
    } else if elapsed >= settings.window_secs {
        "window"
    } else {
        return None;
    };
    let reasons = reasons(canary, old, &c, &o, settings);
    let verdict = if !reasons.is_empty() {
        Verdict::Fail
    } else if c.finished == 0 {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    Some(GateDecision {
        verdict,
        decided_at: clock.now,
        after_secs: elapsed.max(0.0),
        ended_by: ended_by.to_owned(),
        reasons,
        canary: c,
        old: o,
        evidence: canary
            .iter()
            .flat_map(|s| {
                s.analysis
                    .log
                    .evidence
                    .iter()
                    .map(move |l| format!("{}: {l}", s.master))
            })
            .take(MAX_EVIDENCE)
            .collect(),
    })
}

/// One line on how the window stands, for the progress events.
pub fn progress(canary: &GroupStats, old: &GroupStats, left_secs: f64) -> String {
    format!(
        "canaries: {} finished ({} exception, {} retry), {} running; old masters: {} finished \
         ({} exception, {} retry); {} left in the window",
        canary.finished,
        canary.exception,
        canary.retry,
        canary.running,
        old.finished,
        old.exception,
        old.retry,
        crate::time::human(left_secs.max(0.0))
    )
}

/// The numbers of the canaries and of the old masters (for the progress lines).
pub fn both(
    canary: &[Seen<'_>],
    old: &[Seen<'_>],
    settings: &GateSettings,
    now: f64,
) -> (GroupStats, GroupStats) {
    let longest = longest_by_builder(canary.iter().chain(old));
    (
        stats(canary, settings, &longest, now),
        stats(old, settings, &longest, now),
    )
}

fn stats(
    group: &[Seen<'_>],
    settings: &GateSettings,
    longest: &BTreeMap<i64, i64>,
    now: f64,
) -> GroupStats {
    let mut g = GroupStats {
        masters: group.iter().map(|s| s.master.to_owned()).collect(),
        ..GroupStats::default()
    };
    for s in group {
        let a = s.analysis;
        if !a.log.readable {
            g.unread.push(s.master.to_owned());
        }
        g.tracebacks += a.log.tracebacks;
        g.reconfig_partial += a.log.reconfig_partial;
        g.wamp_lost += a.log.wamp_lost;
        for b in &a.builds {
            if b.complete {
                g.finished += 1;
                match b.results {
                    Some(EXCEPTION) => g.exception += 1,
                    Some(RETRY) => g.retry += 1,
                    Some(FAILURE) => g.failure += 1,
                    _ => {}
                }
            } else {
                g.running += 1;
                if is_stuck(b, longest, now) {
                    g.stuck += 1;
                }
            }
        }
    }
    let errors = g.exception
        + g.retry
        + if settings.count_failures {
            g.failure
        } else {
            0
        };
    g.error_rate = (g.finished > 0).then(|| f64::from(errors) / f64::from(g.finished));
    g
}

/// The longest finished build of each builder, seconds.
fn longest_by_builder<'a>(seen: impl Iterator<Item = &'a Seen<'a>>) -> BTreeMap<i64, i64> {
    let mut longest = BTreeMap::new();
    for s in seen {
        for b in &s.analysis.builds {
            if let (true, Some(start), Some(end)) = (b.complete, b.started_at, b.complete_at) {
                let d = longest.entry(b.builderid).or_insert(0);
                *d = (*d).max(end - start);
            }
        }
    }
    longest
}

fn is_stuck(b: &AnalysisBuild, longest: &BTreeMap<i64, i64>, now: f64) -> bool {
    let (Some(start), Some(max)) = (b.started_at, longest.get(&b.builderid)) else {
        return false;
    };
    let ran = now as i64 - start;
    ran > (max * STUCK_FACTOR).max(STUCK_MIN_SECS)
}

fn reasons(
    canary: &[Seen<'_>],
    old: &[Seen<'_>],
    c: &GroupStats,
    o: &GroupStats,
    settings: &GateSettings,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let kinds = if settings.count_failures {
        "EXCEPTION, RETRY and FAILURE"
    } else {
        "EXCEPTION and RETRY"
    };
    if let Some(rate) = c.error_rate {
        let baseline = o.error_rate.unwrap_or(0.0);
        if rate > baseline + settings.error_margin + 1e-9 {
            reasons.push(format!(
                "{kinds} rate {} on the canaries ({} of {} finished) against {} on the old \
                 masters ({} of {}): more than {} higher",
                percent(rate),
                c.finished - ok_count(c, settings),
                c.finished,
                percent(baseline),
                o.finished - ok_count(o, settings),
                o.finished,
                percent(settings.error_margin)
            ));
        }
    }
    if c.stuck > 0 {
        reasons.push(format!(
            "{} build(s) on the canaries have run more than {STUCK_FACTOR}× the longest \
             finished build of their builder: they may never finish",
            c.stuck
        ));
    }
    let old_mean = if old.is_empty() {
        0
    } else {
        o.tracebacks.div_ceil(old.len() as u32)
    };
    for s in canary {
        let t = s.analysis.log.tracebacks;
        if t > old_mean + settings.tracebacks {
            reasons.push(format!(
                "{} logged {t} traceback(s), the old masters {old_mean} each (at most {} more \
                 allowed)",
                s.master, settings.tracebacks
            ));
        }
        if s.analysis.log.reconfig_partial > 0 {
            reasons.push(format!(
                "{} logged \"configuration update partially applied\"",
                s.master
            ));
        }
        if s.analysis.log.wamp_lost > 0 {
            reasons.push(format!(
                "{} lost its WAMP router connection (the message queue)",
                s.master
            ));
        }
    }
    reasons
}

/// Finished builds that were not errors, by the settings.
fn ok_count(g: &GroupStats, settings: &GateSettings) -> u32 {
    let errors = g.exception
        + g.retry
        + if settings.count_failures {
            g.failure
        } else {
            0
        };
    g.finished - errors
}

fn percent(f: f64) -> String {
    format!("{:.0}%", f * 100.0)
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
