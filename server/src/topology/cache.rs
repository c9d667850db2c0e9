//! One Buildbot snapshot shared by every concurrent reader of this master's topology
//! (`GET /v1/master`, its workers, builds and requests, `/v1/fleet`): a read that finds one
//! taken less than [`TTL`] ago, with no event since, gets that one; otherwise it takes a new one,
//! and readers that arrive meanwhile wait for it instead of asking Buildbot again. So 50 reads a
//! second cost the master about one snapshot — five REST reads — a second, not 50.
//!
//! Fresh enough: any event the agent publishes (the master's own events through WAMP, or its
//! REST polling, and every action of this agent: a start, a drain step, a move) makes the next
//! read take a new snapshot, and none is older than [`TTL`]. The answer says how old it is
//! (`MasterInfo.snapshot_age_secs`). A failed read is kept for as long, so a master that does not
//! answer is asked once per [`TTL`], not once per reader.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Snapshot;
use crate::buildbot::{BuildbotApi, RestResult};

/// How long a snapshot serves while nothing happens.
pub const TTL: Duration = Duration::from_secs(1);

/// The number of the last event the agent published; a new number means something changed.
pub type EventSeq = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A snapshot, and how old it is.
pub struct Shared {
    pub snap: RestResult<Arc<Snapshot>>,
    pub age: Duration,
}

pub struct SnapshotCache {
    rest: Arc<dyn BuildbotApi>,
    seq: EventSeq,
    ttl: Duration,
    /// Held while a snapshot is taken: the readers that come meanwhile wait and share it.
    slot: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    snap: RestResult<Arc<Snapshot>>,
    taken_at: Instant,
    /// The event number when it was asked for.
    seq: u64,
}

impl SnapshotCache {
    pub fn new(rest: Arc<dyn BuildbotApi>, seq: EventSeq) -> Self {
        Self::with_ttl(rest, seq, TTL)
    }

    pub fn with_ttl(rest: Arc<dyn BuildbotApi>, seq: EventSeq, ttl: Duration) -> Self {
        SnapshotCache {
            rest,
            seq,
            ttl,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// A snapshot at most [`TTL`] old with no event since, or a new one.
    pub async fn get(&self) -> Shared {
        let mut slot = self.slot.lock().await;
        let seq = (self.seq)();
        if let Some(c) = slot.as_ref()
            && c.seq == seq
            && c.taken_at.elapsed() < self.ttl
        {
            return Shared {
                snap: c.snap.clone(),
                age: c.taken_at.elapsed(),
            };
        }
        // The number is read before asking: an event during the fetch makes the next reader
        // ask again.
        let taken_at = Instant::now();
        let snap = Snapshot::fetch(self.rest.as_ref()).await.map(Arc::new);
        *slot = Some(Cached {
            snap: snap.clone(),
            taken_at,
            seq,
        });
        Shared {
            snap,
            age: taken_at.elapsed(),
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
