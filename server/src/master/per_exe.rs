//! A value found once per Buildbot executable by running it (`buildbot --version`, the venv's
//! python): a subprocess is too slow for every request, and an executable's answer does not
//! change while the agent runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct PerExecutable<T>(Mutex<HashMap<PathBuf, T>>);

impl<T> Default for PerExecutable<T> {
    fn default() -> Self {
        PerExecutable(Mutex::new(HashMap::new()))
    }
}

impl<T: Clone> PerExecutable<T> {
    /// What was remembered for `exe`, if anything.
    pub fn cached(&self, exe: &Path) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(exe)
            .cloned()
    }

    pub fn remember(&self, exe: &Path, value: T) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(exe.to_path_buf(), value);
    }
}
