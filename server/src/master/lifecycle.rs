//! Lifecycle operations on the master: create, start, stop, reconfig (create and start run the
//! master's Buildbot executable, see `super::code`). Each checks its precondition (answering 409
//! without doing anything), then runs as a recorded operation (`super::operation`) and reports
//! success only once the master's log and REST API agree.

use std::path::Path;
use std::time::Duration;

use bbctl_api::{ErrorCode, MasterState, OperationResult, StopMode, VARS_FILE_ENV};
use tokio::time::Instant;

use super::operation::{self, OpFailure, OpSuccess, Requester};
use super::{identity, logs, process, vars};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

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

/// `POST /v1/master/create`: `buildbot create-master -r [--db URL] <basedir>` if absent.
pub async fn create(state: &AppState, who: Requester) -> AppResult<OperationResult> {
    let guard = operation::lock(state)?;
    let basedir = state.config().master.basedir.clone();
    if is_master_dir(&basedir) {
        return Err(AppError::conflict(format!(
            "basedir {} already holds a Buildbot master",
            basedir.display()
        )));
    }
    let st = state.clone();
    operation::run(state, guard, "create", who, async move {
        let cfg = st.config();
        let buildbot = super::code::active_executable(&st)
            .await
            .map_err(|e| OpFailure::new(ErrorCode::Internal, e.to_string()))?;
        let base = cfg.master.basedir.display().to_string();
        let mut args = vec!["create-master", "-r"];
        if let Some(db) = &cfg.master.db_url {
            args.extend(["--db", db.as_str()]);
        }
        args.push(&base);
        let out = process::run_buildbot(
            &buildbot,
            &args,
            &[],
            &cfg.state_dir.join("tmp"),
            COMMAND_TIMEOUT,
        )
        .await
        .map_err(|e| OpFailure::new(ErrorCode::OperationFailed, e.to_string()))?;
        let lines: Vec<String> = out.output.lines().map(str::to_owned).collect();
        if !out.success() {
            return Err(OpFailure::new(
                ErrorCode::OperationFailed,
                format!("buildbot create-master failed (exit {:?})", out.exit_code),
            )
            .with_lines(lines));
        }
        st.hub().publish_agent(
            "agent.master_state",
            "master basedir created",
            serde_json::json!({"state": MasterState::Stopped, "basedir": base}),
        );
        Ok(OpSuccess {
            message: format!("created {base}"),
            log_lines: lines,
        })
    })
    .await
}

/// `POST /v1/master/start`.
pub async fn start(state: &AppState, who: Requester) -> AppResult<OperationResult> {
    let guard = operation::lock(state)?;
    let basedir = &state.config().master.basedir;
    if let Some(pid) = process::running_pid(basedir) {
        return Err(AppError::conflict(format!(
            "the master is already running (pid {pid})"
        )));
    }
    if !is_master_dir(basedir) {
        return Err(AppError::conflict(format!(
            "{} is not a Buildbot master basedir; POST /v1/master/create first",
            basedir.display()
        )));
    }
    let st = state.clone();
    operation::run(state, guard, "start", who, async move {
        set_phase(&st, Some(MasterState::Starting));
        let result = start_and_wait(&st).await;
        set_phase(&st, None);
        result
    })
    .await
}

async fn start_and_wait(state: &AppState) -> Result<OpSuccess, OpFailure> {
    let cfg = state.config();
    let basedir = &cfg.master.basedir;
    let failed = |m: String| OpFailure::new(ErrorCode::OperationFailed, m);
    let vars_file = vars::write_vars_file(cfg, basedir)
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
    let buildbot = super::code::active_executable(state)
        .await
        .map_err(|e| OpFailure::new(ErrorCode::Internal, e.to_string()))?;
    let out = process::run_buildbot(
        &buildbot,
        &["start", "--quiet", &base],
        &[(VARS_FILE_ENV, vars_file)],
        &cfg.state_dir.join("tmp"),
        COMMAND_TIMEOUT,
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    if !out.success() {
        let mut lines: Vec<String> = out.output.lines().map(str::to_owned).collect();
        lines.extend(logs::failure_lines(&logs::read_since(&log, offset)));
        return Err(
            failed(format!("buildbot start failed (exit {:?})", out.exit_code)).with_lines(lines),
        );
    }
    let launched = Instant::now();
    let deadline = launched + cfg.master.start_timeout;
    let mut seen_alive = false;
    loop {
        let text = logs::read_since(&log, offset);
        let alive = process::running_pid(basedir).is_some();
        seen_alive |= alive;
        if text.contains("BuildMaster is running") {
            if let Ok(masters) = state.rest().masters().await
                && let Some(m) = identity::find(&masters, basedir, &state.master().identity)
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
                ErrorCode::Timeout,
                format!(
                    "the master did not become running and active within {:?}",
                    cfg.master.start_timeout
                ),
            )
            .with_lines(logs::failure_lines(&text)));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `POST /v1/master/stop`. A missing or zombie process counts as stopped.
pub async fn stop(state: &AppState, mode: StopMode, who: Requester) -> AppResult<OperationResult> {
    let guard = operation::lock(state)?;
    let pid = process::running_pid(&state.config().master.basedir);
    let st = state.clone();
    operation::run(state, guard, "stop", who, async move {
        let Some(pid) = pid else {
            return Ok(OpSuccess::new("the master was not running"));
        };
        set_phase(&st, Some(MasterState::Stopping));
        let result = signal_and_wait(pid, mode).await;
        set_phase(&st, None);
        result
    })
    .await
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
                ErrorCode::Internal,
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
            ErrorCode::Timeout,
            format!("pid {pid} still runs {TERMINATE_TIMEOUT:?} after SIGTERM"),
        ))
    }
}

/// `POST /v1/master/reconfig`: rewrite the vars file, SIGHUP, wait for the verdict in the log.
pub async fn reconfig(state: &AppState, who: Requester) -> AppResult<OperationResult> {
    let guard = operation::lock(state)?;
    let Some(pid) = process::running_pid(&state.config().master.basedir) else {
        return Err(AppError::conflict("the master is not running"));
    };
    let st = state.clone();
    operation::run(state, guard, "reconfig", who, async move {
        let cfg = st.config();
        let basedir = &cfg.master.basedir;
        let failed = |m: String| OpFailure::new(ErrorCode::OperationFailed, m);
        vars::write_vars_file(cfg, basedir)
            .map_err(|e| failed(format!("cannot write the vars file: {e}")))?;
        let log = logs::log_path(basedir);
        let offset = logs::offset(&log);
        process::send_signal(pid, process::MasterSignal::Reconfig)
            .map_err(|e| failed(format!("cannot signal pid {pid}: {e}")))?;
        let deadline = Instant::now() + cfg.master.start_timeout;
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
                    ErrorCode::Timeout,
                    "no reconfig verdict in twistd.log",
                )
                .with_lines(logs::failure_lines(&text)));
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await
}

/// Sets the transient phase and announces the resulting state.
fn set_phase(state: &AppState, phase: Option<MasterState>) {
    state.master().set_phase(phase);
    let running = process::running_pid(&state.config().master.basedir).is_some();
    let now = phase.unwrap_or(if running {
        MasterState::Running
    } else {
        MasterState::Stopped
    });
    state.hub().publish_agent(
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
