//! A value found once per Buildbot executable by running it (`buildbot --version`, the venv's
//! python): a subprocess is too slow for every request, and an executable's answer does not
//! change while the agent runs. One lookup runs at a time: a request that arrives while the
//! start-up warm-up (or another request) is running the executable waits for that answer
//! instead of starting a second Python process on a loaded host.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct PerExecutable<T> {
    values: Mutex<HashMap<PathBuf, T>>,
    /// Held while an executable is being run.
    looking: tokio::sync::Mutex<()>,
}

impl<T> Default for PerExecutable<T> {
    fn default() -> Self {
        PerExecutable {
            values: Mutex::new(HashMap::new()),
            looking: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Clone> PerExecutable<T> {
    /// What was remembered for `exe`, if anything.
    pub fn cached(&self, exe: &Path) -> Option<T> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(exe)
            .cloned()
    }

    fn remember(&self, exe: &Path, value: T) {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(exe.to_path_buf(), value);
    }

    /// The value for `exe`: remembered, else found by `find` — run by one caller at a time, so
    /// callers that arrive meanwhile get its answer — and remembered when `keep` says so.
    pub async fn get<F, Fut>(&self, exe: &Path, find: F, keep: impl Fn(&T) -> bool) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(v) = self.cached(exe) {
            return v;
        }
        let _looking = self.looking.lock().await;
        if let Some(v) = self.cached(exe) {
            return v;
        }
        let value = find().await;
        if keep(&value) {
            self.remember(exe, value.clone());
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn callers_arriving_during_a_lookup_share_its_answer() {
        let cache = PerExecutable::<Option<String>>::default();
        let runs = AtomicUsize::new(0);
        let find = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some("4.3.0".to_string())
        };
        let exe = Path::new("/venv/bin/buildbot");
        let (a, b, c) = tokio::join!(
            cache.get(exe, find, Option::is_some),
            cache.get(exe, find, Option::is_some),
            cache.get(exe, find, Option::is_some)
        );
        assert_eq!(
            (a.as_deref(), b.as_deref(), c.as_deref()),
            (Some("4.3.0"), Some("4.3.0"), Some("4.3.0"))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the executable ran once");
    }

    #[tokio::test]
    async fn an_answer_not_kept_is_looked_up_again() {
        let cache = PerExecutable::<Option<String>>::default();
        let runs = AtomicUsize::new(0);
        let find = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            None
        };
        let exe = Path::new("/venv/bin/buildbot");
        assert_eq!(cache.get(exe, find, Option::is_some).await, None);
        assert_eq!(cache.get(exe, find, Option::is_some).await, None);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
