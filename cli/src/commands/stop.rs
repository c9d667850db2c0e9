//! `bbctl stop NAME [--immediate]`: stop a master. Destructive, so it states its plan and asks
//! (or needs `--yes`); without a terminal to ask on and without `--yes` it refuses (exit 5).

use bbctl_api::{StopMode, StopRequest};

use crate::cli::StopArgs;
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::report::{OperationRow, Outcome, Report};

pub async fn run(args: &StopArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let mode = if args.immediate {
        StopMode::Immediate
    } else {
        StopMode::Graceful
    };
    if !args.yes {
        if !(ctx.terminal.stdin && ctx.terminal.stderr) {
            return Err(Failure::refused(format!(
                "refusing to stop {} without --yes: no terminal to confirm on",
                args.name
            ))
            .into());
        }
        let builds = client.master().await.map(|info| info.builds.len()).ok();
        eprintln!("{}", plan(&args.name, mode, builds));
        if !crate::prompt::confirm("Proceed?")? {
            eprintln!("not stopped");
            return Ok(Outcome {
                report: Report::Streamed,
                exit: Exit::Refused,
                warnings: vec![],
            });
        }
    }
    let request = StopRequest {
        mode,
        reason: args.reason.clone(),
    };
    let result = client.stop(&request).await?;
    Ok(super::operation_outcome(OperationRow {
        master: client.name().to_string(),
        result,
    }))
}

/// What `stop` is about to do, in words.
fn plan(name: &str, mode: StopMode, builds: Option<usize>) -> String {
    let running = builds.map_or_else(
        || "its running builds".to_string(),
        |n| format!("{n} running build(s)"),
    );
    match mode {
        StopMode::Graceful => format!(
            "This stops {name} gracefully (SIGUSR1): it claims no new build requests, lets \
             {running} finish, then exits. Its idle workers stay attached until it exits."
        ),
        StopMode::Immediate => format!(
            "This stops {name} IMMEDIATELY (SIGTERM): {running} end CANCELLED and are NOT \
             retried. Consider `bbctl drain {name}` instead."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::plan;
    use bbctl_api::StopMode;

    #[test]
    fn immediate_plan_warns_that_builds_are_lost() {
        let text = plan("master-2", StopMode::Immediate, Some(3));
        assert!(
            text.contains("3 running build(s)") && text.contains("NOT retried"),
            "{text}"
        );
        assert!(plan("m", StopMode::Graceful, None).contains("its running builds finish"));
    }
}
