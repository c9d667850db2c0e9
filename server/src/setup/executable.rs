//! Finding the `buildbot` executable of a master's install (`master.buildbot`) without asking
//! anyone: the running master's command line first (a master runs as `<venv>/bin/python
//! <venv>/bin/buildbot start …` or `<venv>/bin/twistd … -y buildbot.tac`), then hints left in
//! its basedir (twistd logs the interpreter it runs on: `twistd 22.10.0 (/opt/bb/bin/python3
//! 3.11.2) starting up.`; a shebang or a `site-packages` path in buildbot.tac or master.cfg),
//! then a venv beside the basedir (`venv`, `.venv`, `sandbox` — the tutorial's —, or the
//! basedir's parent being one), then `buildbot` on `PATH`. Every candidate must be an
//! executable file.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An executable and the rule that found it (said to the operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExeHit {
    pub path: PathBuf,
    pub rule: String,
}

/// What a live master process shows in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessView {
    pub pid: u32,
    /// `/proc/<pid>/cmdline`, one entry per argument.
    pub argv: Vec<String>,
    /// `/proc/<pid>/cwd`, when readable: relative arguments resolve against it.
    pub cwd: Option<PathBuf>,
}

impl ProcessView {
    /// Reads `/proc/<pid>/cmdline` and `cwd`; `None` when the process is gone.
    pub fn read(pid: u32) -> Option<ProcessView> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        Some(ProcessView { pid, argv, cwd })
    }
}

/// Whether `path` is a file someone may execute.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `buildbot` of a running master, from its command line: an argument that is a `buildbot`
/// executable itself, else the one beside its `twistd`, else the one beside its interpreter.
pub fn from_process(p: &ProcessView) -> Option<ExeHit> {
    let resolve = |arg: &str| -> Option<PathBuf> {
        let path = Path::new(arg);
        if path.is_absolute() {
            Some(path.to_path_buf())
        } else if arg.contains('/') {
            p.cwd.as_ref().map(|cwd| cwd.join(path))
        } else {
            // A bare name was found on the process's PATH, which is not ours to know.
            None
        }
    };
    let paths: Vec<PathBuf> = p.argv.iter().filter_map(|a| resolve(a)).collect();
    let named = |name: &str| {
        paths
            .iter()
            .filter(|a| a.file_name() == Some(OsStr::new(name)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let pid = p.pid;
    if let Some(exe) = named("buildbot").into_iter().find(|a| is_executable(a)) {
        return Some(hit(
            exe,
            format!("from the running master's command line (pid {pid})"),
        ));
    }
    if let Some(exe) = named("twistd").iter().find_map(|t| sibling(t)) {
        return Some(hit(
            exe,
            format!("beside the running master's twistd (pid {pid})"),
        ));
    }
    let interpreter = paths.first()?;
    let exe = sibling(interpreter)?;
    Some(hit(
        exe,
        format!("beside the running master's interpreter (pid {pid})"),
    ))
}

/// `buildbot` in the directory of `file` (an interpreter or `twistd` of a venv), if executable.
fn sibling(file: &Path) -> Option<PathBuf> {
    let exe = file.parent()?.join("buildbot");
    is_executable(&exe).then_some(exe)
}

fn hit(path: PathBuf, rule: String) -> ExeHit {
    ExeHit { path, rule }
}

/// From the interpreter twistd logged when the master last started (the last
/// `twistd X (INTERPRETER VERSION) starting up.` line of `<basedir>/twistd.log`).
pub fn from_log(basedir: &Path) -> Option<ExeHit> {
    let log = std::fs::read(basedir.join("twistd.log")).ok()?;
    let log = String::from_utf8_lossy(&log);
    let line = log.lines().rev().find(|l| l.ends_with(") starting up."))?;
    let inside = &line[line.find(" (")? + 2..line.rfind(')')?];
    let interpreter = inside
        .rsplit_once(' ')
        .map_or(inside, |(exe, _version)| exe);
    let exe = sibling(Path::new(interpreter))?;
    Some(hit(
        exe,
        format!("beside the interpreter twistd.log names ({interpreter})"),
    ))
}

/// From a `#!` line or a `…/lib/pythonX.Y/site-packages` path in `text` (buildbot.tac or
/// master.cfg, named `file` for the operator).
pub fn from_text(file: &str, text: &str) -> Option<ExeHit> {
    if let Some(shebang) = text.lines().next().and_then(|l| l.strip_prefix("#!")) {
        let interpreter = shebang.split_whitespace().next().unwrap_or("");
        if let Some(exe) = sibling(Path::new(interpreter)) {
            return Some(hit(
                exe,
                format!("beside the interpreter of {file}'s #! line"),
            ));
        }
    }
    for (i, _) in text.match_indices("/lib/python") {
        let start = text[..i]
            .rfind(|c: char| c == '\'' || c == '"' || c.is_whitespace())
            .map_or(0, |s| s + 1);
        let root = &text[start..i];
        if !root.starts_with('/') {
            continue;
        }
        let exe = Path::new(root).join("bin/buildbot");
        if is_executable(&exe) {
            return Some(hit(
                exe,
                format!("from the venv of a site-packages path in {file}"),
            ));
        }
    }
    None
}

/// From a venv beside the basedir: `<basedir>/{venv,.venv,sandbox}`, the basedir's parent being
/// a venv (the tutorial's `sandbox/master`), or a venv in that parent.
pub fn from_nearby_venv(basedir: &Path) -> Option<ExeHit> {
    let mut roots = Vec::new();
    let names = ["venv", ".venv", "sandbox"];
    roots.extend(names.iter().map(|n| basedir.join(n)));
    if let Some(parent) = basedir.parent() {
        roots.push(parent.to_path_buf());
        roots.extend(names.iter().map(|n| parent.join(n)));
    }
    roots.into_iter().find_map(|root| {
        let exe = root.join("bin/buildbot");
        is_executable(&exe).then(|| {
            let rule = format!("from a venv beside the basedir ({})", root.display());
            hit(exe, rule)
        })
    })
}

/// `buildbot` on `path_var` (a `PATH` value), as an absolute path.
pub fn from_path(path_var: Option<&OsStr>) -> Option<ExeHit> {
    let dirs = std::env::split_paths(path_var?);
    dirs.filter(|d| d.is_absolute())
        .map(|d| d.join("buildbot"))
        .find(|exe| is_executable(exe))
        .map(|exe| hit(exe, "from `buildbot` on PATH".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake venv `<dir>/venv/bin` with an executable `buildbot` and `twistd` and a `python3`.
    fn venv(dir: &Path) -> PathBuf {
        let bin = dir.join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["buildbot", "twistd", "python3"] {
            std::fs::write(bin.join(name), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        bin
    }

    fn view(argv: &[&str], cwd: Option<&Path>) -> ProcessView {
        ProcessView {
            pid: 42,
            argv: argv.iter().map(|a| a.to_string()).collect(),
            cwd: cwd.map(Path::to_path_buf),
        }
    }

    #[test]
    fn command_lines_of_a_running_master() {
        let dir = tempfile::tempdir().unwrap();
        let bin = venv(dir.path());
        let (py, bb, twistd) = (
            bin.join("python3"),
            bin.join("buildbot"),
            bin.join("twistd"),
        );
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        let started = view(&[&s(&py), &s(&bb), "start", "/srv/m"], None);
        assert_eq!(from_process(&started).unwrap().path, bb);
        assert!(
            from_process(&started)
                .unwrap()
                .rule
                .contains("command line (pid 42)")
        );
        let under_twistd = view(
            &["python3", &s(&twistd), "--nodaemon", "-y", "buildbot.tac"],
            None,
        );
        let found = from_process(&under_twistd).unwrap();
        assert_eq!(found.path, bb);
        assert!(found.rule.contains("twistd"), "{found:?}");
        let relative = view(&["venv/bin/python3", "-m", "buildbot"], Some(dir.path()));
        let found = from_process(&relative).unwrap();
        assert_eq!(found.path, dir.path().join("venv/bin/buildbot"));
        assert!(found.rule.contains("interpreter"), "{found:?}");
        // Not a Buildbot: nothing beside it.
        let other = s(&dir.path().join("other/bin/sleep"));
        assert_eq!(from_process(&view(&[&other, "100"], None)), None);
        assert_eq!(from_process(&view(&["python3", "x"], None)), None);
    }

    #[test]
    fn hints_in_the_basedir() {
        let dir = tempfile::tempdir().unwrap();
        let bin = venv(dir.path());
        let base = dir.path().join("master");
        std::fs::create_dir(&base).unwrap();
        assert_eq!(from_log(&base), None);
        std::fs::write(
            base.join("twistd.log"),
            format!(
                "2024-01-01 [-] twistd 22.10.0 (/old/bin/python3 3.9.2) starting up.\n\
                 2024-02-01 [-] twistd 24.3.0 ({} 3.11.2) starting up.\n\
                 2024-02-01 [-] reactor class: twisted.internet.epollreactor.EPollReactor.\n",
                bin.join("python3").display()
            ),
        )
        .unwrap();
        assert_eq!(from_log(&base).unwrap().path, bin.join("buildbot"));
        let tac = format!(
            "import sys\nsys.path.insert(0, '{}/lib/python3.11/site-packages')\n",
            dir.path().join("venv").display()
        );
        assert_eq!(
            from_text("buildbot.tac", &tac).unwrap().path,
            bin.join("buildbot")
        );
        let shebang = format!("#!{} -u\nx = 1\n", bin.join("python3").display());
        assert!(
            from_text("master.cfg", &shebang)
                .unwrap()
                .rule
                .contains("#! line")
        );
        assert_eq!(from_text("master.cfg", "c = {}\n"), None);
        // `<dir>/master`'s parent holds `venv`.
        assert_eq!(from_nearby_venv(&base).unwrap().path, bin.join("buildbot"));
        let path = std::env::join_paths([Path::new("relative"), bin.as_path()]).unwrap();
        assert_eq!(from_path(Some(&path)).unwrap().path, bin.join("buildbot"));
        assert_eq!(from_path(Some(OsStr::new(""))), None);
    }
}
