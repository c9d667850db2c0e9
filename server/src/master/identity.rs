//! Which row of `/api/v2/masters` is this agent's master.
//!
//! Buildbot names a master `socket.getfqdn() + ":" + os.path.abspath(basedir)`
//! (`buildbot/master.py`). `getfqdn()` need not equal the host name (on this machine it is
//! `localhost` while `hostname` says `vm`), so the agent matches on the `:<abs basedir>` suffix
//! and prefers an active row when several hosts share a basedir path.

use std::path::Path;
use std::sync::Mutex;

use crate::buildbot::Master;

/// The master's id and name, cached once found (they never change for a basedir).
#[derive(Default)]
pub struct IdentityCache(Mutex<Option<(i64, String)>>);

impl IdentityCache {
    pub fn get(&self) -> Option<(i64, String)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, id: i64, name: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, name));
    }
}

/// Finds this master in `masters`: the cached id if present, else by name suffix.
pub fn find<'a>(
    masters: &'a [Master],
    basedir: &Path,
    cache: &IdentityCache,
) -> Option<&'a Master> {
    if let Some((id, _)) = cache.get()
        && let Some(m) = masters.iter().find(|m| m.masterid == id)
    {
        return Some(m);
    }
    let suffix = format!(":{}", basedir.display());
    let found = masters
        .iter()
        .filter(|m| m.name.ends_with(&suffix))
        .max_by_key(|m| (m.active, m.last_active, m.masterid))?;
    cache.set(found.masterid, found.name.clone());
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64, name: &str, active: bool) -> Master {
        Master {
            masterid: id,
            name: name.into(),
            active,
            last_active: Some(id),
        }
    }

    #[test]
    fn matches_on_basedir_suffix_preferring_active_and_caches() {
        let masters = vec![
            m(1, "localhost:/srv/m1", false),
            m(2, "other:/srv/m1", true),
            m(3, "localhost:/srv/m10", true),
        ];
        let cache = IdentityCache::default();
        assert_eq!(
            find(&masters, Path::new("/srv/m1"), &cache)
                .unwrap()
                .masterid,
            2
        );
        assert_eq!(cache.get().unwrap().0, 2);
        // Once cached, the id wins even if another row becomes active.
        let later = vec![
            m(1, "localhost:/srv/m1", true),
            m(2, "other:/srv/m1", false),
        ];
        assert_eq!(
            find(&later, Path::new("/srv/m1"), &cache).unwrap().masterid,
            2
        );
        assert!(find(&masters, Path::new("/srv/none"), &IdentityCache::default()).is_none());
    }
}
