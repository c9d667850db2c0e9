//! `bbctl workers rebalance [--dry-run] [--max-moves N] [--move-timeout D] [--watch
//! [--interval D]]` (issue 16; docs/cli.md): evens the workers out over the masters that take
//! them, moving idle workers one at a time through their master's agent (`POST
//! /v1/workers/{name}/move`), looking at the fleet again after each move — the load balancer,
//! not bbctl, picks where a worker reconnects, so the next move is planned from where it really
//! went. A worker that turned busy is skipped, never interrupted; each worker is moved at most
//! once per run.

mod look;
pub mod plan;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bbctl_api::{MoveOutcome, MoveRequest};

use crate::cli::RebalanceArgs;
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::report::rebalance::{HeldRow, MoveRow, RebalanceReport};
use crate::report::{Outcome, Report};
use look::Look;

/// Moves per round of `--watch` when `--max-moves` does not say.
const WATCH_MOVES_PER_ROUND: usize = 5;

pub async fn run(args: &RebalanceArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&args.move_timeout) {
        return Err(Failure::usage("--move-timeout must be from 1s to 10m").into());
    }
    let lease_warning = super::drain::refuse_during_upgrade(ctx, "rebalance").await?;
    if args.watch {
        if let Some(warning) = lease_warning {
            eprintln!("{warning}");
        }
        return watch(args, ctx).await;
    }
    let mut outcome = once(args, ctx, max_moves(args)).await?;
    outcome.warnings.splice(0..0, lease_warning);
    Ok(outcome)
}

fn max_moves(args: &RebalanceArgs) -> Option<usize> {
    args.max_moves
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// One run: plan, then move one worker at a time until the plan is done (or `max_moves`).
async fn once(
    args: &RebalanceArgs,
    ctx: &Ctx,
    max_moves: Option<usize>,
) -> anyhow::Result<Outcome> {
    let b = balance(ctx, args.dry_run, max_moves, args.move_timeout).await?;
    Ok(Outcome {
        report: Report::Rebalance(Box::new(b.report)),
        exit: b.exit,
        warnings: b.warnings,
    })
}

/// What one balancing run did: its report, its exit code and its warnings.
pub struct Balanced {
    pub report: RebalanceReport,
    pub exit: Exit,
    pub warnings: Vec<String>,
}

/// Plans from the fleet as it is, then (unless `dry_run`) moves one idle worker at a time,
/// looking again after each move, until the plan is done or `max_moves` were tried. Also the
/// canary upgrade's hand-off (`upgrade/steps/canary.rs`): the running masters are the old ones
/// and the canaries, so an even spread gives the canaries their share.
pub async fn balance(
    ctx: &Ctx,
    dry_run: bool,
    max_moves: Option<usize>,
    move_timeout: Duration,
) -> anyhow::Result<Balanced> {
    let (_, pins) = ctx.balance_rules();
    let first = Look::take(ctx).await;
    first.check_pins(pins)?;
    let mut exit = first.exit();
    let mut warnings = first.warnings();
    let mut skip = BTreeSet::new();
    let plan0 = plan::plan(&first.loads, pins, &skip, max_moves);
    let before = first.rows(&plan0);
    if dry_run {
        let report = RebalanceReport {
            dry_run: true,
            after: before.clone(),
            before,
            moves: plan0.moves.iter().map(planned).collect(),
            held: held_rows(&plan0),
            seconds: 0.0,
        };
        return Ok(Balanced {
            report,
            exit,
            warnings,
        });
    }
    let request = MoveRequest {
        timeout_secs: Some(move_timeout.as_secs_f64()),
        requested_by: Some(crate::operator::requested_by().to_string()),
    };
    let t0 = Instant::now();
    let mut moves = Vec::new();
    let mut now = first;
    while max_moves.is_none_or(|max| moves.len() < max) {
        let p = plan::plan(&now.loads, pins, &skip, Some(1));
        let Some(m) = p.moves.into_iter().next() else {
            break;
        };
        skip.insert(m.worker.clone());
        let row = move_one(&now, &m, &request).await;
        if row.outcome == "failed" || row.outcome == MoveOutcome::NotSeenElsewhere.as_str() {
            exit = exit.worst(Exit::Failed);
        }
        moves.push(row);
        now = Look::take(ctx).await;
        exit = exit.worst(now.exit());
    }
    let end = plan::plan(&now.loads, pins, &BTreeSet::new(), None);
    warnings.extend(now.warnings());
    warnings.dedup();
    let report = RebalanceReport {
        dry_run: false,
        before,
        moves,
        held: held_rows(&end),
        after: now.rows(&end),
        seconds: t0.elapsed().as_secs_f64(),
    };
    Ok(Balanced {
        report,
        exit,
        warnings,
    })
}

/// Asks the agent of `m.from` to move the worker; one progress line on stderr.
async fn move_one(now: &Look, m: &plan::Move, request: &MoveRequest) -> MoveRow {
    let mut row = MoveRow {
        worker: m.worker.clone(),
        from: m.from.clone(),
        to: m.to.clone(),
        landed: None,
        outcome: "failed".to_owned(),
        for_pin: m.for_pin,
        seconds: None,
        message: None,
    };
    let answer = match now.client(&m.from) {
        Some(client) => client.move_worker(&m.worker, request).await,
        None => {
            row.message = Some(format!("no agent for {}", m.from));
            return row;
        }
    };
    match answer {
        Ok(r) => {
            row.outcome = r.outcome.as_str().to_owned();
            row.landed = r.to_master.as_deref().map(|b| now.names.name(b));
            row.seconds = Some(r.seconds);
            row.message = Some(now.names.rewrite(&r.message));
        }
        Err(err) => row.message = Some(err.to_string()),
    }
    eprintln!("{}", progress_line(&row));
    row
}

/// `worker-07: master-1 -> master-3, moved in 1.4 s` (or why not).
fn progress_line(row: &MoveRow) -> String {
    let head = format!("{}: {} -> {}", row.worker, row.from, row.to);
    match (row.outcome.as_str(), &row.landed, row.seconds) {
        ("moved", Some(landed), Some(secs)) if *landed != row.to => {
            format!("{head}, moved to {landed} (the load balancer's pick) in {secs:.1} s")
        }
        ("moved", _, Some(secs)) => format!("{head}, moved in {secs:.1} s"),
        (outcome, _, _) => format!(
            "{head}, {outcome}: {}",
            row.message.as_deref().unwrap_or_default()
        ),
    }
}

fn planned(m: &plan::Move) -> MoveRow {
    MoveRow {
        worker: m.worker.clone(),
        from: m.from.clone(),
        to: m.to.clone(),
        landed: None,
        outcome: "planned".to_owned(),
        for_pin: m.for_pin,
        seconds: None,
        message: None,
    }
}

fn held_rows(p: &plan::Plan) -> Vec<HeldRow> {
    p.held
        .iter()
        .map(|h| HeldRow {
            worker: h.worker.clone(),
            master: h.master.clone(),
            why: h.why.clone(),
        })
        .collect()
}

/// `--watch`: a run every `--interval`, at most `--max-moves` (default 5) moves each, until
/// Ctrl-C (exit 130). Each round is one line on stderr; with `-o json` its report is one JSON
/// line on stdout.
async fn watch(args: &RebalanceArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let per_round = Some(max_moves(args).unwrap_or(WATCH_MOVES_PER_ROUND));
    let json = ctx.format == crate::cli::OutputFormat::Json;
    let mut round = 0u64;
    loop {
        round += 1;
        let outcome = once(args, ctx, per_round).await?;
        for warning in &outcome.warnings {
            eprintln!("{warning}");
        }
        if let Report::Rebalance(report) = &outcome.report {
            eprintln!("{}", round_line(round, report));
            if json {
                println!("{}", serde_json::to_string(report.as_ref())?);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(args.interval) => {}
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: no move is under way; the fleet stays as it is");
                return Ok(Outcome {
                    report: Report::Streamed,
                    exit: Exit::Interrupted,
                    warnings: Vec::new(),
                });
            }
        }
    }
}

/// `round 3: 2 moved, 1 skipped; master-1 9/8, master-2 8/8, master-3 7/8`.
fn round_line(round: u64, r: &RebalanceReport) -> String {
    let moved = r.moves.iter().filter(|m| m.outcome == "moved").count();
    let balance: Vec<String> = r
        .after
        .iter()
        .filter_map(|b| Some(format!("{} {}/{}", b.master, b.workers?, b.target?)))
        .collect();
    format!(
        "round {round}: {moved} moved, {} not; {}",
        r.moves.len() - moved,
        balance.join(", ")
    )
}
