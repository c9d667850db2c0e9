//! Step 2, the pre-flight, before anything is touched: every agent answers, the new
//! configuration is staged on every slot — with the Buildbot it will run there — and passes
//! `checkconfig` (errors shown per master, verbatim); how the new masters' DB schema compares
//! with the running ones' decides the strategy or refuses ([`super::buildbot`]), and `migrate`
//! adds its Buildbot-DB checks ([`super::migrate_preflight`]). The fleet lease is taken just before ([`super::lease`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use bbctl_api::{ConfigFile, ConfigVersion, DrainPhase, MasterInfo, StageConfigRequest};

use super::error::UpgradeError;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::inventory;

/// checkconfig runs Buildbot's whole config loader: seconds, more on a busy host.
const CHECKCONFIG_TIMEOUT: Duration = Duration::from_secs(180);

/// One slot of the fleet: its inventory entry, its agent, and what the agent says of its master.
pub struct Slot {
    pub agent: inventory::Target,
    pub client: AgentClient,
    pub info: MasterInfo,
}

/// How long the pre-flight waits, in all, for an agent that is slow rather than down.
pub const SLOW_AGENT_WAIT: Duration = Duration::from_secs(60);
/// The timeout of each of those later asks.
const SLOW_AGENT_ASK: Duration = Duration::from_secs(20);

/// Every slot's agent and what it says about its master. An agent that accepted the connection
/// but did not answer in time is slow, not down (its master is busy): it is asked again, with a
/// longer timeout, for up to [`SLOW_AGENT_WAIT`], and `notice` says so. Any agent still
/// unreachable then refuses (exit 5); an agent that answers with an error, such as a refused
/// token, fails the command (exit 1).
pub async fn gather(ctx: &Ctx, notice: impl Fn(&str)) -> Result<Vec<Slot>, UpgradeError> {
    let mut answers = ctx.masters().await;
    let started = std::time::Instant::now();
    for (target, answer) in answers.iter_mut() {
        while let Err(ApiError::Timeout { secs, .. }) = answer {
            let left = SLOW_AGENT_WAIT.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            notice(&format!(
                "{}: slow (connected, no answer within {secs}s): asking again, for up to {} more",
                target.name,
                crate::time::human(left.as_secs_f64())
            ));
            let client = ctx.client(target).with_timeout(SLOW_AGENT_ASK.min(left));
            *answer = client.master().await;
        }
    }
    let mut slots = Vec::new();
    let mut problems = Vec::new();
    for (target, answer) in answers {
        match answer {
            Ok(info) => {
                let client = ctx.client(&target);
                slots.push(Slot {
                    agent: target,
                    client,
                    info,
                });
            }
            Err(err) => problems.push(err),
        }
    }
    if problems.is_empty() {
        return Ok(slots);
    }
    let lines = problems.iter().map(ToString::to_string).collect();
    // An agent that answered with an error (a refused token) is a failure (exit 1), not an
    // agent that does not answer (refused, exit 5).
    if problems.iter().all(ApiError::is_unreachable) {
        Err(UpgradeError::refused(
            "refusing to upgrade: not every agent answers",
            lines,
        ))
    } else {
        Err(UpgradeError::failed(
            "cannot upgrade: an agent answered with an error",
            lines,
        ))
    }
}

/// Refuses while a drain holds any master of the fleet: another operator is taking it out of
/// service, and an upgrade on top of that would fight it for the same masters and workers. A
/// cordoned master is refused too, unless `include_cordoned`: then the upgrade's drain of it
/// continues the cordon (blue-green and rolling; see [`refuse_cordoned_in_migrate`]).
pub fn refuse_active_drains(slots: &[Slot], include_cordoned: bool) -> Result<(), UpgradeError> {
    let cordoned: Vec<String> = slots
        .iter()
        .filter_map(|slot| {
            let drain = holding(slot)?;
            (drain.phase == DrainPhase::Cordoned).then(|| {
                format!(
                    "{}: cordoned (reason: {}; by {})",
                    slot.agent.name,
                    drain.reason.as_deref().unwrap_or("none given"),
                    drain.requested_by.as_deref().unwrap_or("unknown")
                )
            })
        })
        .collect();
    let drains: Vec<String> = slots
        .iter()
        .filter_map(|slot| {
            let drain = holding(slot)?;
            (drain.phase != DrainPhase::Cordoned).then(|| {
                format!(
                    "{}: drain {} is {} (reason: {}; by {})",
                    slot.agent.name,
                    drain.id,
                    drain.phase,
                    drain.reason.as_deref().unwrap_or("none given"),
                    drain.requested_by.as_deref().unwrap_or("unknown")
                )
            })
        })
        .collect();
    if !drains.is_empty() {
        return Err(UpgradeError::refused(
            "refusing to upgrade: a drain holds part of the fleet (wait for it, or `bbctl drain cancel NAME`)",
            drains,
        ));
    }
    if !cordoned.is_empty() && !include_cordoned {
        return Err(UpgradeError::refused(
            "refusing to upgrade: part of the fleet is cordoned (`bbctl uncordon NAME`, or \
             --include-cordoned to drain it as part of the upgrade)",
            cordoned,
        ));
    }
    Ok(())
}

/// The drain that holds `slot`'s master, if one does.
fn holding(slot: &Slot) -> Option<&bbctl_api::DrainStatus> {
    let drain = slot.info.drain.as_ref()?;
    drain.phase.holds_master().then_some(drain)
}

/// The migrate strategy stops every master with a graceful stop, not a drain: a cordoned master
/// is refused even with `--include-cordoned` (uncordon it first).
pub fn refuse_cordoned_in_migrate(slots: &[Slot]) -> Result<(), UpgradeError> {
    let cordoned: Vec<String> = slots
        .iter()
        .filter(|slot| {
            slot.info
                .drain
                .as_ref()
                .is_some_and(|d| d.phase == DrainPhase::Cordoned)
        })
        .map(|slot| format!("{}: cordoned", slot.agent.name))
        .collect();
    if cordoned.is_empty() {
        return Ok(());
    }
    Err(UpgradeError::refused(
        "refusing to upgrade: --strategy migrate stops every master, and a cordon is held by \
         draining (`bbctl uncordon NAME` first)",
        cordoned,
    ))
}

/// A master.cfg, or a directory bundle holding one: its label and files.
pub fn read_bundle(path: &Path) -> Result<(String, Vec<ConfigFile>), UpgradeError> {
    let unreadable = |err: std::io::Error| {
        UpgradeError::Usage(format!(
            "cannot read the new config {}: {err}",
            path.display()
        ))
    };
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    if !path.is_dir() {
        let content = std::fs::read(path).map_err(unreadable)?;
        let file = ConfigFile {
            path: "master.cfg".into(),
            content_base64: encode(&content),
        };
        return Ok((label, vec![file]));
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            let p = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                pending.push(p);
            } else {
                let rel = p.strip_prefix(path).expect("under the bundle dir");
                files.push(ConfigFile {
                    path: rel.to_string_lossy().into_owned(),
                    content_base64: encode(&std::fs::read(&p).map_err(unreadable)?),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if !files.iter().any(|f| f.path == "master.cfg") {
        return Err(UpgradeError::Usage(format!(
            "the bundle {} has no master.cfg",
            path.display()
        )));
    }
    Ok((label, files))
}

/// What staging found: the bundle's sha256 and each agent's staged version (the Buildbot it
/// resolved, its version and schema head).
pub struct Staged {
    pub sha256: String,
    pub versions: BTreeMap<String, ConfigVersion>,
}

/// Stages the bundle on every slot — each with the Buildbot it will run the bundle with — and
/// runs checkconfig there.
pub async fn stage_and_check(
    clients: &[(AgentClient, Option<String>)],
    label: &str,
    files: &[ConfigFile],
    reason: &str,
) -> Result<Staged, UpgradeError> {
    let checks = futures_util::future::join_all(clients.iter().map(|(client, buildbot)| {
        let request = StageConfigRequest {
            label: label.to_string(),
            files: files.to_vec(),
            reason: Some(reason.to_string()),
            buildbot: buildbot.clone(),
        };
        async move {
            // Staging with a Buildbot the agent has not seen runs its `--version` and reads its
            // schema head (two Python start-ups): as slow as checkconfig on a busy host.
            let slow = client.with_timeout(CHECKCONFIG_TIMEOUT);
            let version = slow.stage_config(&request).await?;
            let result = slow.checkconfig(&version.sha256).await?;
            Ok::<_, ApiError>((version, result))
        }
    }))
    .await;
    let mut problems = Vec::new();
    let mut versions = BTreeMap::new();
    for ((client, _), check) in clients.iter().zip(checks) {
        match check {
            Ok((version, result)) if result.ok => {
                versions.insert(client.name().to_string(), version);
            }
            Ok((_, result)) => {
                problems.push(format!("{}: checkconfig failed:", client.name()));
                problems.extend(result.output.lines().map(|l| format!("  {l}")));
            }
            Err(err) => problems.push(err.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(UpgradeError::refused(
            "refusing to upgrade: the new configuration cannot be staged or does not pass \
             checkconfig",
            problems,
        ));
    }
    let mut shas: Vec<&String> = versions.values().map(|v| &v.sha256).collect();
    shas.sort();
    shas.dedup();
    match shas.as_slice() {
        [sha] => Ok(Staged {
            sha256: (*sha).clone(),
            versions,
        }),
        _ => Err(UpgradeError::failed(
            format!("the agents disagree on the bundle's sha256: {shas:?}"),
            vec![],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_directory_bundle_needs_master_cfg() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("helpers.py"), "x = 1\n").unwrap();
        assert!(read_bundle(dir.path()).is_err());
        std::fs::write(dir.path().join("master.cfg"), "c = {}\n").unwrap();
        let (_, files) = read_bundle(dir.path()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["helpers.py", "master.cfg"]);
    }
}
