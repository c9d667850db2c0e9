use bbctl_api::{AnalysisBuild, LogSignals, MasterAnalysis};

use super::{Clock, Seen, judge};
use crate::report::upgrade::{GateSettings, Verdict};

fn settings() -> GateSettings {
    GateSettings {
        window_secs: 600.0,
        builds: None,
        auto_promote: false,
        error_margin: 0.05,
        tracebacks: 0,
        count_failures: false,
    }
}

fn build(id: i64, results: Option<i64>, started: i64, ended: Option<i64>) -> AnalysisBuild {
    AnalysisBuild {
        buildid: id,
        builderid: 1,
        builder: Some("b".into()),
        number: Some(id),
        results,
        complete: ended.is_some(),
        started_at: Some(started),
        complete_at: ended,
    }
}

fn master(builds: Vec<AnalysisBuild>, log: LogSignals) -> MasterAnalysis {
    MasterAnalysis {
        since: 1000.0,
        at: 2000.0,
        masterid: Some(1),
        builds,
        log: LogSignals {
            readable: true,
            ..log
        },
    }
}

fn ok_builds(n: i64) -> Vec<AnalysisBuild> {
    (0..n)
        .map(|i| build(i, Some(0), 1000 + i, Some(1010 + i)))
        .collect()
}

fn clock(elapsed: f64) -> Clock {
    Clock {
        window_started_at: 1000.0,
        now: 1000.0 + elapsed,
    }
}

#[test]
fn waits_while_the_window_runs_and_nothing_fails_at_once() {
    let c = master(ok_builds(2), LogSignals::default());
    let o = master(ok_builds(5), LogSignals::default());
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [Seen {
        master: "m1",
        analysis: &o,
    }];
    assert!(judge(&canary, &old, &settings(), &clock(10.0)).is_none());
    let d = judge(&canary, &old, &settings(), &clock(600.0)).unwrap();
    assert_eq!((d.verdict, d.ended_by.as_str()), (Verdict::Pass, "window"));
    assert_eq!((d.canary.finished, d.old.finished), (2, 5));
    assert!(d.reasons.is_empty(), "{:?}", d.reasons);
}

#[test]
fn exceptions_on_the_canary_fail_the_gate_once_k_builds_finished() {
    let c = master(
        vec![
            build(1, Some(4), 1000, Some(1005)),
            build(2, Some(4), 1001, Some(1006)),
        ],
        LogSignals {
            tracebacks: 2,
            evidence: vec!["2026-12-03 07:00:00+0000 builtins.RuntimeError: boom".into()],
            ..LogSignals::default()
        },
    );
    let o = master(ok_builds(4), LogSignals::default());
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [Seen {
        master: "m1",
        analysis: &o,
    }];
    let mut s = settings();
    s.builds = Some(3);
    assert!(
        judge(&canary, &old, &s, &clock(30.0)).is_none(),
        "2 of 3 builds"
    );
    s.builds = Some(2);
    let d = judge(&canary, &old, &s, &clock(30.0)).unwrap();
    assert_eq!((d.verdict, d.ended_by.as_str()), (Verdict::Fail, "builds"));
    assert_eq!(d.canary.exception, 2);
    assert_eq!(d.canary.error_rate, Some(1.0));
    assert_eq!(d.old.error_rate, Some(0.0));
    assert!(
        d.reasons[0].contains("100% on the canaries"),
        "{:?}",
        d.reasons
    );
    assert!(
        d.reasons[1].contains("m5 logged 2 traceback(s)"),
        "{:?}",
        d.reasons
    );
    assert_eq!(
        d.evidence,
        vec!["m5: 2026-12-03 07:00:00+0000 builtins.RuntimeError: boom"]
    );
}

#[test]
fn the_old_masters_rate_is_the_baseline_and_failures_count_only_when_asked() {
    // One RETRY in 10 on the canary, one in 10 on the old masters: no worse.
    let mut cb = ok_builds(9);
    cb.push(build(99, Some(5), 1000, Some(1001)));
    let c = master(cb.clone(), LogSignals::default());
    let o = master(cb, LogSignals::default());
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [Seen {
        master: "m1",
        analysis: &o,
    }];
    let d = judge(&canary, &old, &settings(), &clock(600.0)).unwrap();
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);

    // Three FAILUREs on the canary: not the master's fault by default.
    let mut fb = ok_builds(7);
    fb.extend((0..3).map(|i| build(50 + i, Some(2), 1000, Some(1001))));
    let c = master(fb, LogSignals::default());
    let o = master(ok_builds(10), LogSignals::default());
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [Seen {
        master: "m1",
        analysis: &o,
    }];
    let d = judge(&canary, &old, &settings(), &clock(600.0)).unwrap();
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
    assert_eq!(d.canary.failure, 3);
    let mut s = settings();
    s.count_failures = true;
    let d = judge(&canary, &old, &s, &clock(600.0)).unwrap();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(
        d.reasons[0].starts_with("EXCEPTION, RETRY and FAILURE rate 30%"),
        "{:?}",
        d.reasons
    );
}

#[test]
fn a_partial_reconfig_or_a_lost_wamp_fails_at_once() {
    let c = master(
        vec![],
        LogSignals {
            wamp_lost: 1,
            ..LogSignals::default()
        },
    );
    let o = master(ok_builds(3), LogSignals::default());
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [Seen {
        master: "m1",
        analysis: &o,
    }];
    let d = judge(&canary, &old, &settings(), &clock(1.0)).unwrap();
    assert_eq!((d.verdict, d.ended_by.as_str()), (Verdict::Fail, "signal"));
    assert!(d.reasons[0].contains("WAMP"), "{:?}", d.reasons);
}

#[test]
fn no_finished_build_is_inconclusive_and_a_stuck_build_fails() {
    let c = master(vec![build(1, None, 1450, None)], LogSignals::default());
    let o = master(
        vec![build(2, Some(0), 1000, Some(1100))],
        LogSignals::default(),
    );
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [Seen {
        master: "m1",
        analysis: &o,
    }];
    // Running 150 s, the longest finished build of its builder took 100 s: not stuck yet.
    let d = judge(&canary, &old, &settings(), &clock(600.0)).unwrap();
    assert_eq!(d.verdict, Verdict::Inconclusive, "{:?}", d.reasons);
    assert_eq!((d.canary.running, d.canary.stuck), (1, 0));
    // Running 250 s against a longest of 100 s: stuck.
    let late = Clock {
        window_started_at: 1000.0,
        now: 1700.0,
    };
    let d = judge(&canary, &old, &settings(), &late).unwrap();
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(d.canary.stuck, 1);
}

#[test]
fn tracebacks_are_judged_against_the_old_masters_mean() {
    let noisy = LogSignals {
        tracebacks: 2,
        ..LogSignals::default()
    };
    let c = master(ok_builds(3), noisy.clone());
    let o1 = master(ok_builds(3), noisy.clone());
    let o2 = master(ok_builds(3), noisy);
    let canary = [Seen {
        master: "m5",
        analysis: &c,
    }];
    let old = [
        Seen {
            master: "m1",
            analysis: &o1,
        },
        Seen {
            master: "m2",
            analysis: &o2,
        },
    ];
    let d = judge(&canary, &old, &settings(), &clock(600.0)).unwrap();
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
}
