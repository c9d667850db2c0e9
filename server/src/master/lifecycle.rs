//! Lifecycle operations on the master: create, start, stop, reconfig (create and start run the
//! master's Buildbot executable, see `super::code`). Each checks its precondition (refusing with
//! a [`LifecycleError`] without doing anything), then runs as a recorded operation
//! (`super::operation`) and reports success only once the master's log and REST API agree.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bbctl_api::{MasterState, OperationResult, StopMode, VARS_FILE_ENV};
use tokio::time::Instant;

use super::code::Code;
use super::operation::{FailureKind, OpFailure, OpSuccess, OperationError, Operations, Requester};
use super::vars::VarsFile;
use super::{MasterRuntime, identity, logs, process};
use crate::buildbot::BuildbotApi;
use crate::config::{AgentConfig, MasterConfig};
use crate::db::{Db, DbError};
use crate::events::EventHub;

/// Why a lifecycle call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("basedir {} already holds a Buildbot master", .0.display())]
    AlreadyCreated(PathBuf),
    #[error("the master is already running (pid {0})")]
    AlreadyRunning(u32),
    #[error(
        "{path} is not a Buildbot master basedir (no buildbot.tac): create it first with \
         `buildbot create-master {path}`",
        path = .0.display()
    )]
    NotCreated(PathBuf),
    #[error("the master is not running")]
    NotRunning,
    #[error(transparent)]
    Operation(#[from] OperationError),
}

/// The lifecycle service of the master this agent owns. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    master: Arc<MasterConfig>,
    /// `<state_dir>/tmp`: where `buildbot` commands write their output.
    scratch: PathBuf,
    vars: VarsFile,
    code: Code,
    ops: Operations,
    rest: Arc<dyn BuildbotApi>,
    hub: EventHub,
    runtime: Arc<MasterRuntime>,
}

const POLL: Duration = Duration::from_millis(200);
/// How long `buildbot start --quiet` / `create-master` may take to return.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an immediate stop waits for the process to exit.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a start waits for a pid file naming a live process before calling it dead.
const PID_GRACE: Duration = Duration::from_secs(10);

fn is_master_dir(basedir: &Path) -> bool {
    basedir.join("buildbot.tac").is_file()
}

/// The agent's own DB failing under an operation: logged here, reported generically.
fn internal(e: DbError) -> OpFailure {
    tracing::error!(error = %e, "internal error");
    OpFailure::new(FailureKind::Internal, "internal error; see the agent log")
}

impl Lifecycle {
    /// The service for the master of `config`: its `[master]` section, its scratch directory
    /// under `state_dir` and its vars file. `runtime` holds the operation lock shared with
    /// activation, the transient phase and the caches.
    pub fn new(
        config: &AgentConfig,
        db: Db,
        hub: EventHub,
        rest: Arc<dyn BuildbotApi>,
        runtime: Arc<MasterRuntime>,
    ) -> Self {
        Lifecycle {
            master: Arc::new(config.master.clone()),
            scratch: config.state_dir.join("tmp"),
            vars: VarsFile::new(config),
            code: Code::new(config.master.buildbot.clone(), db.clone(), runtime.clone()),
            ops: Operations::new(db, hub.clone(), runtime.op_lock.clone()),
            rest,
            hub,
            runtime,
        }
    }

    /// `buildbot create-master -r [--db URL] <basedir>` if the basedir holds no master.
    pub async fn create(&self, who: Requester) -> Result<OperationResult, LifecycleError> {
        let guard = self.ops.lock()?;
        if is_master_dir(&self.master.basedir) {
            return Err(LifecycleError::AlreadyCreated(self.master.basedir.clone()));
        }
        let this = self.clone();
        let done = self
            .ops
            .run(guard, "create", who, async move { this.create_now().await });
        Ok(done.await?)
    }

    async fn create_now(&self) -> Result<OpSuccess, OpFailure> {
        let buildbot = self.code.active().await.map_err(internal)?;
        let base = self.master.basedir.display().to_string();
        let mut args = vec!["create-master", "-r"];
        if let Some(db) = &self.master.db_url {
            args.extend(["--db", db.as_str()]);
        }
        args.push(&base);
        let out = process::run_buildbot(&buildbot, &args, &[], &self.scratch, COMMAND_TIMEOUT)
            .await
            .map_err(|e| OpFailure::failed(e.to_string()))?;
        let lines: Vec<String> = out.output.lines().map(str::to_owned).collect();
        if !out.success() {
            return Err(OpFailure::failed(format!(
                "buildbot create-master failed (exit {:?})",
                out.exit_code
            ))
            .with_lines(lines));
        }
        self.hub.publish_agent(
            "agent.master_state",
            "master basedir created",
            serde_json::json!({"state": MasterState::Stopped, "basedir": base}),
        );
        Ok(OpSuccess {
            message: format!("created {base}"),
            log_lines: lines,
        })
    }

    /// Starts the master and waits until its log says it runs and Buildbot lists it active.
    pub async fn start(&self, who: Requester) -> Result<OperationResult, LifecycleError> {
        let guard = self.ops.lock()?;
        let basedir = &self.master.basedir;
        if let Some(pid) = process::running_pid(basedir) {
            return Err(LifecycleError::AlreadyRunning(pid));
        }
        if !is_master_dir(basedir) {
            return Err(LifecycleError::NotCreated(basedir.clone()));
        }
        let this = self.clone();
        let done = self.ops.run(guard, "start", who, async move {
            this.set_phase(Some(MasterState::Starting));
            let result = this.start_and_wait().await;
            this.set_phase(None);
            result
        });
        Ok(done.await?)
    }

    async fn start_and_wait(&self) -> Result<OpSuccess, OpFailure> {
        let basedir = &self.master.basedir;
        let failed = |m: String| OpFailure::failed(m);
        let vars_file = self
            .vars
            .write_into(basedir)
            .map_err(|e| failed(format!("cannot write the vars file: {e}")))?;
        // `start` checked that no master runs here. A pid file left behind names a dead process, a
        // zombie (a SIGKILLed master not reaped yet) or a recycled pid; twistd refuses to start over
        // the last two ("Another twistd server is running") and, with --quiet, says so nowhere we read.
        if process::read_pid(basedir).is_some() && process::running_pid(basedir).is_none() {
            let _ = std::fs::remove_file(basedir.join("twistd.pid"));
        }
        let log = logs::log_path(basedir);
        let offset = logs::offset(&log);
        let base = basedir.display().to_string();
        let buildbot = self.code.active().await.map_err(internal)?;
        let out = process::run_buildbot(
            &buildbot,
            &["start", "--quiet", &base],
            &[(VARS_FILE_ENV, vars_file)],
            &self.scratch,
            COMMAND_TIMEOUT,
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
        if !out.success() {
            let mut lines: Vec<String> = out.output.lines().map(str::to_owned).collect();
            lines.extend(logs::failure_lines(&logs::read_since(&log, offset)));
            return Err(
                failed(format!("buildbot start failed (exit {:?})", out.exit_code))
                    .with_lines(lines),
            );
        }
        let launched = Instant::now();
        let deadline = launched + self.master.start_timeout;
        let mut seen_alive = false;
        loop {
            let text = logs::read_since(&log, offset);
            let alive = process::running_pid(basedir).is_some();
            seen_alive |= alive;
            if text.contains("BuildMaster is running") {
                if let Ok(masters) = self.rest.masters().await
                    && let Some(m) = identity::find(&masters, basedir, &self.runtime.identity)
                    && m.active
                {
                    let pid = process::running_pid(basedir);
                    return Ok(OpSuccess::new(format!(
                        "master running (pid {}, masterid {}, {}, buildbot {})",
                        pid.map_or("?".into(), |p| p.to_string()),
                        m.masterid,
                        m.name,
                        buildbot.display()
                    )));
                }
            } else if text.contains("BuildMaster startup failed") {
                return Err(
                    failed("the master logged \"BuildMaster startup failed\"".into())
                        .with_lines(logs::failure_lines(&text)),
                );
            }
            if !alive && (seen_alive || launched.elapsed() > PID_GRACE) {
                return Err(failed("the master process exited during startup".into())
                    .with_lines(logs::failure_lines(&text)));
            }
            if Instant::now() >= deadline {
                return Err(OpFailure::new(
                    FailureKind::Timeout,
                    format!(
                        "the master did not become running and active within {:?}",
                        self.master.start_timeout
                    ),
                )
                .with_lines(logs::failure_lines(&text)));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the master (`mode`: clean shutdown or SIGTERM). A missing or zombie process counts
    /// as stopped.
    pub async fn stop(
        &self,
        mode: StopMode,
        who: Requester,
    ) -> Result<OperationResult, LifecycleError> {
        let guard = self.ops.lock()?;
        let pid = process::running_pid(&self.master.basedir);
        let this = self.clone();
        let done = self.ops.run(guard, "stop", who, async move {
            let Some(pid) = pid else {
                return Ok(OpSuccess::new("the master was not running"));
            };
            this.set_phase(Some(MasterState::Stopping));
            let result = signal_and_wait(pid, mode).await;
            this.set_phase(None);
            result
        });
        Ok(done.await?)
    }
}

async fn signal_and_wait(pid: u32, mode: StopMode) -> Result<OpSuccess, OpFailure> {
    let (sig, timeout) = match mode {
        StopMode::Graceful => (process::MasterSignal::CleanShutdown, None),
        StopMode::Immediate => (process::MasterSignal::Terminate, Some(TERMINATE_TIMEOUT)),
    };
    if let Err(e) = process::send_signal(pid, sig) {
        // The process may have exited between the check and the signal.
        if process::proc_state(pid) == process::ProcState::Alive {
            return Err(OpFailure::new(
                FailureKind::Internal,
                format!("cannot signal pid {pid}: {e}"),
            ));
        }
    }
    if process::wait_exit(pid, timeout).await {
        Ok(OpSuccess::new(
            format!("master stopped ({mode:?} stop, pid {pid})").to_lowercase(),
        ))
    } else {
        Err(OpFailure::new(
            FailureKind::Timeout,
            format!("pid {pid} still runs {TERMINATE_TIMEOUT:?} after SIGTERM"),
        ))
    }
}

impl Lifecycle {
    /// Rewrites the vars file, sends SIGHUP and waits for the verdict in the log.
    pub async fn reconfig(&self, who: Requester) -> Result<OperationResult, LifecycleError> {
        let guard = self.ops.lock()?;
        let Some(pid) = process::running_pid(&self.master.basedir) else {
            return Err(LifecycleError::NotRunning);
        };
        let this = self.clone();
        let done = self.ops.run(guard, "reconfig", who, async move {
            this.reconfig_and_wait(pid).await
        });
        Ok(done.await?)
    }

    async fn reconfig_and_wait(&self, pid: u32) -> Result<OpSuccess, OpFailure> {
        let basedir = &self.master.basedir;
        let failed = |m: String| OpFailure::failed(m);
        self.vars
            .write_into(basedir)
            .map_err(|e| failed(format!("cannot write the vars file: {e}")))?;
        let log = logs::log_path(basedir);
        let offset = logs::offset(&log);
        process::send_signal(pid, process::MasterSignal::Reconfig)
            .map_err(|e| failed(format!("cannot signal pid {pid}: {e}")))?;
        let deadline = Instant::now() + self.master.start_timeout;
        loop {
            let text = logs::read_since(&log, offset);
            if text.contains("configuration update complete") {
                return Ok(OpSuccess::new("configuration update complete"));
            }
            for verdict in [
                "configuration update aborted",
                "configuration update partially applied",
            ] {
                if text.contains(verdict) {
                    return Err(failed(format!("the master logged \"{verdict}\""))
                        .with_lines(logs::failure_lines(&text)));
                }
            }
            if process::proc_state(pid) != process::ProcState::Alive {
                return Err(failed("the master exited during reconfig".into())
                    .with_lines(logs::failure_lines(&text)));
            }
            if Instant::now() >= deadline {
                return Err(OpFailure::new(
                    FailureKind::Timeout,
                    "no reconfig verdict in twistd.log",
                )
                .with_lines(logs::failure_lines(&text)));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sets the transient phase and announces the resulting state.
    fn set_phase(&self, phase: Option<MasterState>) {
        self.runtime.set_phase(phase);
        let running = process::running_pid(&self.master.basedir).is_some();
        let now = phase.unwrap_or(if running {
            MasterState::Running
        } else {
            MasterState::Stopped
        });
        self.hub.publish_agent(
            "agent.master_state",
            format!(
                "master {}",
                serde_json::to_value(now)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("?")
            ),
            serde_json::json!({"state": now}),
        );
    }
}
