//! `bbctl masters expire NAME [--host-gone] [--yes]`: a dead master's housekeeping now
//! (`POST /v1/buildbot-db/masters/expire`, docs/masters.md). NAME is an inventory name, a
//! Buildbot master name (`host:basedir`) or `#<id>`, resolved through `GET /v1/master` of the
//! agents and `GET /v1/buildbot-db/masters` of the first agent that answers. The call goes to
//! the master's own agent when it answers (it alone can prove the process dead), else to that
//! first agent. Destructive for the master's running builds: asks on a terminal unless `--yes`.

use bbctl_api::{ErrorCode, ExpireMasterRequest, MasterInfo, MastersTable, MastersTableRow};

use crate::cli::MastersExpireArgs;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::inventory::Target;
use crate::report::{Outcome, Report};

pub async fn run(args: &MastersExpireArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let infos = ctx.masters().await;
    let (table_agent, table) = first_table(ctx).await?;
    let row = resolve(&args.name, &infos, &table)?.clone();
    let own = infos.iter().find_map(|(target, info)| match info {
        Ok(i) if i.masterid == Some(row.id) => Some(target.clone()),
        _ => None,
    });
    let client = match &own {
        Some(target) => ctx.client(target),
        None => table_agent.clone(),
    };
    if !args.yes {
        if !(ctx.terminal.stdin && ctx.terminal.stderr) {
            return Err(Failure::refused(format!(
                "refusing to expire {} without --yes: no terminal to confirm on",
                args.name
            ))
            .into());
        }
        eprintln!("{}", plan(&row, args.host_gone));
        if !crate::prompt::confirm("Proceed?")? {
            eprintln!("not expired");
            return Ok(Outcome {
                report: Report::Streamed,
                exit: Exit::Refused,
                warnings: vec![],
            });
        }
    }
    let request = ExpireMasterRequest {
        masterid: row.id,
        host_gone: args.host_gone,
    };
    let mut warnings = Vec::new();
    let result = match client.expire_master(&request).await {
        // The master's own agent cannot reach Buildbot's database (no `[master] db_url`):
        // the agent that read the table judges from the database alone.
        Err(e) if own.is_some() && e.is(ErrorCode::OperationFailed) => {
            warnings.push(format!(
                "note: {} cannot run it ({e}); asking {}",
                client.name(),
                table_agent.name()
            ));
            table_agent.expire_master(&request).await?
        }
        answer => {
            if own.is_none() {
                warnings.push(format!(
                    "note: no agent that answered runs master #{}; {} judged it from the database",
                    row.id,
                    client.name()
                ));
            }
            answer?
        }
    };
    Ok(Outcome {
        report: Report::MastersExpire(Box::new(result)),
        exit: Exit::Ok,
        warnings,
    })
}

/// The masters table from the first agent that serves it (inventory order).
async fn first_table(ctx: &Ctx) -> anyhow::Result<(AgentClient, MastersTable)> {
    let mut errors: Vec<ApiError> = Vec::new();
    for target in ctx.targets() {
        let client = ctx.client(target);
        match client.masters_table().await {
            Ok(table) => return Ok((client, table)),
            Err(e) => errors.push(e),
        }
    }
    let first = errors.iter().position(|e| !e.is_unreachable()).unwrap_or(0);
    if errors.is_empty() {
        return Err(Failure::usage("no agent to ask: the inventory is empty").into());
    }
    Err(anyhow::Error::new(errors.swap_remove(first))
        .context("no agent could read Buildbot's masters table"))
}

/// The row NAME means: `#<id>`, an inventory name (through its agent's `masterid`) or a
/// Buildbot master name. Unknown: a usage error (exit 2) naming what is known.
pub fn resolve<'a>(
    name: &str,
    infos: &[(Target, Result<MasterInfo, ApiError>)],
    table: &'a MastersTable,
) -> anyhow::Result<&'a MastersTableRow> {
    let by_id = |id: i64| table.masters.iter().find(|m| m.id == id);
    if let Some(digits) = name.strip_prefix('#') {
        let id: i64 = digits
            .parse()
            .map_err(|_| Failure::usage(format!("`{name}`: `#` must be followed by a row id")))?;
        return by_id(id).ok_or_else(|| {
            Failure::usage(format!("no row #{id} in Buildbot's masters table")).into()
        });
    }
    if let Some(row) = table.masters.iter().find(|m| m.name == name) {
        return Ok(row);
    }
    if let Some((_, info)) = infos.iter().find(|(t, _)| t.name == name) {
        let id = match info {
            Ok(MasterInfo {
                masterid: Some(id), ..
            }) => *id,
            Ok(_) => {
                return Err(Failure::usage(format!(
                    "the agent of {name} does not know its master's row (never started?): name \
                     it by its Buildbot name or #<id> (bbctl masters list)"
                ))
                .into());
            }
            Err(e) => {
                return Err(Failure::usage(format!(
                    "the agent of {name} did not answer ({e}): name the master by its Buildbot \
                     name or #<id> (bbctl masters list)"
                ))
                .into());
            }
        };
        return by_id(id).ok_or_else(|| {
            Failure::usage(format!("no row #{id} ({name}) in Buildbot's masters table")).into()
        });
    }
    let known: Vec<String> = table
        .masters
        .iter()
        .map(|m| format!("#{} {}", m.id, m.name))
        .collect();
    Err(Failure::usage(format!(
        "unknown master `{name}` (an inventory name, a Buildbot name or #<id>; rows: {})",
        known.join(", ")
    ))
    .into())
}

/// What `expire` is about to do, in words.
fn plan(row: &MastersTableRow, host_gone: bool) -> String {
    let r = &row.refs;
    let vouch = if host_gone {
        " You vouch that its host is gone (--host-gone): if it still runs the master, builds run \
         twice."
    } else {
        ""
    };
    format!(
        "This runs the housekeeping of master #{} {} with Buildbot's own code: its {} \
         incomplete build(s) end RETRY, its {} claimed request(s) go back to the queue, its \
         {} scheduler(s) and {} change source(s) are released. The agent refuses unless the \
         master is proven gone.{vouch}",
        row.id, row.name, r.incomplete_builds, r.claimed_requests, r.schedulers, r.changesources
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbctl_api::MasterRefs;

    fn table() -> MastersTable {
        let row = |id: i64, name: &str| MastersTableRow {
            id,
            name: name.into(),
            active: true,
            last_active: None,
            refs: MasterRefs::default(),
            hidden: false,
        };
        MastersTable {
            db_now: 0,
            expire_after_secs: 600,
            masters: vec![row(1, "h:/m/master-1"), row(2, "h:/m/master-2")],
        }
    }

    #[test]
    fn names_resolve_by_id_and_buildbot_name_and_bad_ones_are_usage_errors() {
        let t = table();
        assert_eq!(resolve("#2", &[], &t).unwrap().id, 2);
        assert_eq!(resolve("h:/m/master-1", &[], &t).unwrap().id, 1);
        for bad in ["#9", "#x", "nope"] {
            let err = resolve(bad, &[], &t).unwrap_err();
            let f = err.downcast_ref::<Failure>().expect("a usage failure");
            assert_eq!(f.exit, Exit::Usage, "{bad}: {f}");
        }
    }
}
