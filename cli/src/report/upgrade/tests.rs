//! The journal document: resume order, JSON round trips, one string form per enum.
use super::*;

pub(super) fn journal(steps: Vec<StepKind>) -> Journal {
    Journal {
        id: "up-1".into(),
        requested_by: "me@host".into(),
        reason: "test".into(),
        strategy: StrategyName::BlueGreen,
        config_label: "v2".into(),
        config_sha256: "abc".into(),
        config_files: vec![],
        buildbot: Some("/venv/bin/buildbot".into()),
        options: Options {
            deadline_secs: None,
            force_after_deadline: false,
            min_serving: 1,
            batch: 1,
            wait_schedulers: false,
            pause_secs: 60.0,
        },
        old: vec!["m1".into()],
        new: vec!["m2".into()],
        batches: vec![],
        previous_sha256: BTreeMap::new(),
        previous_buildbot: BTreeMap::new(),
        old_masterids: BTreeMap::new(),
        steps: steps.into_iter().map(Step::pending).collect(),
        phase: Phase::Running,
        started_at: 1.0,
        finished_at: None,
        message: None,
        drains: BTreeMap::new(),
        findings: vec![],
        migration: None,
        canary: None,
    }
}

#[test]
fn resume_starts_at_the_first_step_not_done_even_if_it_was_running() {
    let mut j = journal(vec![
        StepKind::Preflight,
        StepKind::StartNew {
            master: "m2".into(),
        },
        StepKind::Verify,
    ]);
    j.mark(0, StepState::Done, None);
    j.mark(1, StepState::Running, None);
    assert_eq!(j.next_step(), Some(1), "a step killed mid-run is run again");
    j.mark(1, StepState::Done, Some("ok".into()));
    j.mark(2, StepState::Done, None);
    assert_eq!(j.next_step(), None);
}

#[test]
fn journal_round_trips_through_json_with_tagged_steps() {
    let j = journal(vec![StepKind::Drain {
        masters: vec!["m1".into()],
    }]);
    let value = serde_json::to_value(&j).unwrap();
    assert_eq!(value["steps"][0]["step"], "drain");
    assert_eq!(value["steps"][0]["state"], "pending");
    assert_eq!(value["strategy"], "blue_green");
    let back: Journal = serde_json::from_value(value).unwrap();
    assert_eq!(back, j);
    assert!(!Phase::Running.is_final() && Phase::RolledBack.is_final());
}

#[test]
fn a_journal_from_before_buildbot_reads_as_the_agents_default() {
    let mut value = serde_json::to_value(journal(vec![])).unwrap();
    value.as_object_mut().unwrap().remove("buildbot");
    let back: Journal = serde_json::from_value(value).unwrap();
    assert_eq!(back.buildbot, None);
}

/// One string form per enum: what tables and step labels print is what JSON says.
#[test]
fn every_enum_is_written_as_in_json() {
    let wire = |v: serde_json::Value| v.as_str().unwrap().to_string();
    for s in [
        StrategyName::BlueGreen,
        StrategyName::Rolling,
        StrategyName::Migrate,
    ] {
        assert_eq!(wire(serde_json::to_value(s).unwrap()), s.as_str());
    }
    for p in [
        Phase::Running,
        Phase::Succeeded,
        Phase::Failed,
        Phase::RolledBack,
        Phase::Aborted,
        Phase::DeadlinePassed,
    ] {
        assert_eq!(wire(serde_json::to_value(p).unwrap()), p.as_str());
    }
    for s in [
        StepState::Pending,
        StepState::Running,
        StepState::Done,
        StepState::Failed,
    ] {
        assert_eq!(wire(serde_json::to_value(s).unwrap()), s.as_str());
    }
    let m = || vec!["m1".to_string()];
    for kind in [
        StepKind::Preflight,
        StepKind::StartNew {
            master: "m1".into(),
        },
        StepKind::Drain { masters: m() },
        StepKind::WaitDrained { masters: m() },
        StepKind::Quiesce { masters: m() },
        StepKind::WaitStopped { masters: m() },
        StepKind::Backup,
        StepKind::Migrate,
        StepKind::Verify,
    ] {
        let step = serde_json::to_value(Step::pending(kind.clone())).unwrap();
        assert_eq!(wire(step["step"].clone()), kind.name());
        assert!(kind.label().starts_with(kind.name()), "{}", kind.label());
    }
}
