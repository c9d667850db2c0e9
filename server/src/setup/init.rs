//! `bbctl-agent init`: inspect a Buildbot master that already exists and say what its agent
//! config should hold. [`inspect`] reads the basedir (buildbot.tac, master.cfg as text,
//! twistd.pid and the process it names, twistd.log) and returns an [`Inspection`]: every value
//! with how it was found and, for a guess, what the operator must confirm.
//! The values come from [`super::init_values`] and [`super::init_rest`];
//! [`super::init_render`] turns them into the TOML and the report; [`write`] puts the TOML in
//! place atomically, mode 0600 (it may hold Buildbot's database password).

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::executable::ProcessView;
use super::init_rest::{confirm_rest_url, rest_url_setting};
use super::init_values::{agent_settings, buildbot_setting, db_url_setting, derived_name};
pub use super::init_values::{is_agent_name, normalise_name};
use super::master_cfg;
use crate::master::process::{self, ProcState};
use crate::secret::DbUrl;

/// What `bbctl-agent init` was asked.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub basedir: PathBuf,
    pub name: Option<String>,
    pub listen: Option<SocketAddr>,
    pub state_dir: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub force: bool,
    /// The `PATH` searched for `buildbot` last (`main` passes the environment's).
    pub search_path: Option<OsString>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} is not a Buildbot master basedir: no buildbot.tac")]
    NotABasedir(String),
    #[error("bad --name `{0}`: must match [a-z0-9][a-z0-9._-]{{0,62}}")]
    BadName(String),
    #[error("{0} exists: not overwritten (--force replaces it)")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One setting: its value, how it was found, and what the operator must confirm (`None`: it
/// was read, not guessed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub how: String,
    pub check: Option<String>,
}

pub(super) fn sure<T>(value: T, how: impl Into<String>) -> Setting<T> {
    Setting {
        value,
        how: how.into(),
        check: None,
    }
}

/// What `twistd.pid` leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterProcess {
    NoPidFile,
    /// The pid is not a live process.
    Stopped {
        pid: u32,
    },
    /// A live process that is not this master (its working directory is not the basedir).
    Stale {
        pid: u32,
    },
    Running(ProcessView),
}

/// Everything `init` found.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Absolute, not canonicalised (Buildbot names the master after `os.path.abspath`).
    pub basedir: PathBuf,
    pub output: PathBuf,
    pub name: Setting<String>,
    pub listen: Setting<SocketAddr>,
    pub state_dir: Setting<PathBuf>,
    pub token_file: Setting<PathBuf>,
    /// A placeholder path, with a check saying so, when nothing was found.
    pub buildbot: Setting<PathBuf>,
    pub rest_url: Setting<String>,
    /// `Err`: why it is left out.
    pub db_url: Result<Setting<DbUrl>, String>,
    pub process: MasterProcess,
    /// Things worth knowing that need nothing done.
    pub notes: Vec<String>,
}

pub const DEFAULT_STATE_ROOT: &str = "/var/lib/bbctl-agent";
pub const DEFAULT_TOKEN_FILE: &str = "/etc/bbctl/token";
pub const DEFAULT_OUTPUT_DIR: &str = "/etc/bbctl/agents";
/// Written when no `buildbot` executable was found.
pub const PLACEHOLDER_BUILDBOT: &str = "/path/to/buildbot-venv/bin/buildbot";
/// Buildbot's usual www port (its sample master.cfg).
pub const DEFAULT_WWW_PORT: u16 = 8010;

/// Inspects the master in `opts.basedir`. Fails only on bad input (no buildbot.tac, a bad
/// `--name`) and on an output file that exists without `--force`; anything it cannot read
/// is guessed, and the guess says so.
pub async fn inspect(opts: &InitOptions) -> Result<Inspection, InitError> {
    let basedir = absolute(&opts.basedir);
    let tac_path = basedir.join("buildbot.tac");
    if !tac_path.is_file() {
        return Err(InitError::NotABasedir(opts.basedir.display().to_string()));
    }
    let name = match &opts.name {
        Some(n) if is_agent_name(n) => sure(n.clone(), "given with --name"),
        Some(n) => return Err(InitError::BadName(n.clone())),
        None => derived_name(&basedir),
    };
    let output = opts.output.as_deref().map_or_else(
        || Path::new(DEFAULT_OUTPUT_DIR).join(format!("{}.toml", name.value)),
        absolute,
    );
    if !opts.force && std::fs::symlink_metadata(&output).is_ok() {
        return Err(InitError::Exists(output.display().to_string()));
    }
    let mut notes = Vec::new();
    let tac = read_lossy(&tac_path).unwrap_or_default();
    let cfg_name = master_cfg::configfile(&tac).unwrap_or_else(|| "master.cfg".into());
    let cfg_path = basedir.join(&cfg_name);
    let cfg = read_lossy(&cfg_path).map_err(|e| format!("cannot read {}: {e}", cfg_path.display()));
    let facts = cfg.as_deref().map(master_cfg::read).map_err(Clone::clone);
    let process = master_process(&basedir);
    notes.push(process_note(&process));
    let buildbot = buildbot_setting(&basedir, &process, &tac, cfg.as_deref().ok(), opts);
    let mut rest_url = rest_url_setting(facts.as_ref(), &cfg_name);
    confirm_rest_url(&mut rest_url, &process, &mut notes).await;
    let db_url = db_url_setting(facts.as_ref(), &cfg_name);
    if let Ok(db) = &db_url
        && db.value.starts_with("sqlite")
    {
        notes.push(
            "master.db_url is SQLite: fine for one master; a multimaster fleet and `bbctl \
             upgrade --strategy migrate` need PostgreSQL"
                .into(),
        );
    }
    let (listen, state_dir, token_file) = agent_settings(opts, &name.value);
    Ok(Inspection {
        basedir,
        output,
        name,
        listen,
        state_dir,
        token_file,
        buildbot,
        rest_url,
        db_url,
        process,
        notes,
    })
}

fn read_lossy(path: &Path) -> std::io::Result<String> {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

pub(super) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn master_process(basedir: &Path) -> MasterProcess {
    let Some(pid) = process::read_pid(basedir) else {
        return MasterProcess::NoPidFile;
    };
    if process::proc_state(pid) != ProcState::Alive {
        return MasterProcess::Stopped { pid };
    }
    if process::running_pid(basedir) != Some(pid) {
        return MasterProcess::Stale { pid };
    }
    ProcessView::read(pid).map_or(MasterProcess::Stopped { pid }, MasterProcess::Running)
}

fn process_note(p: &MasterProcess) -> String {
    match p {
        MasterProcess::NoPidFile => "no twistd.pid: the master is not running".into(),
        MasterProcess::Stopped { pid } => {
            format!("twistd.pid names pid {pid}, which is not running: the master is stopped")
        }
        MasterProcess::Stale { pid } => format!(
            "twistd.pid names pid {pid}, a live process whose working directory is not the \
             basedir: a stale twistd.pid, so the master is taken as stopped"
        ),
        MasterProcess::Running(v) => format!("the master runs (pid {})", v.pid),
    }
}

/// Writes `text` to `path` atomically (a temporary file beside it, then a rename), mode 0600,
/// creating the directory. Without `force` an existing file is never replaced, even one that
/// appeared since [`inspect`] looked.
pub fn write(path: &Path, text: &str, force: bool) -> Result<(), InitError> {
    let failed = |source: std::io::Error| InitError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(failed)?;
    tmp.write_all(text.as_bytes()).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    let persisted = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(InitError::Exists(path.display().to_string()))
        }
        Err(e) => Err(failed(e.error)),
    }
}
