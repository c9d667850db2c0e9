//! Which connection each worker is attached by, read from the master's `twistd.log`.
//!
//! The master is the only party that knows both a worker's name and its connection: Buildbot's
//! PB protocol logs (`buildbot/worker/protocols/pb.py`, 4.3.0)
//! `f"worker '{workerName}' attaching from {transport.getPeer()}"`, e.g.
//!
//! ```text
//! 2026-11-23 13:47:04+0000 [Broker,0,127.0.0.1] worker 'w1' attaching from IPv4Address(type='TCP', host='127.0.0.1', port=34578)
//! 2026-11-23 13:48:03+0000 [Broker,1,::1] worker 'w1' attaching from IPv6Address(type='TCP', host='::1', port=48060, flowInfo=0, scopeID=0)
//! 2026-11-23 13:47:22+0000 [Broker,0,127.0.0.1] Worker.detached(w1)
//! ```
//!
//! The peer is the load balancer's (or the relay's) end of the connection, which is how a hook
//! finds the one session to close. A worker that reconnects logs a new line; the latest wins.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One worker attachment as the master logged it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct WorkerAttach {
    pub worker: String,
    /// The peer host as Twisted printed it (`127.0.0.1`, `::1`).
    pub peer_host: String,
    pub peer_port: u16,
}

/// A log line that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    Attach(WorkerAttach),
    /// `Worker NAME attached to BUILDER`: the attach handshake completed (one line per builder).
    Settled(String),
    /// `Worker.detached(NAME)`: the master noticed the connection end.
    Detach(String),
    /// `worker NAME cannot attach`: the master's side of the attach failed (e.g. a database
    /// error writing `connected_workers`) after the worker was told it is attached.
    CannotAttach(String),
}

/// Parses one `twistd.log` line; `None` for every other line (and for non-TCP peers).
pub fn parse_line(line: &str) -> Option<LogEvent> {
    const ATTACH: &str = "' attaching from ";
    if let Some(end) = line.rfind(ATTACH) {
        let start = line[..end].find("] worker '")? + "] worker '".len();
        let worker = &line[start..end];
        let (peer_host, peer_port) = parse_peer(&line[end + ATTACH.len()..])?;
        return (!worker.is_empty()).then(|| {
            LogEvent::Attach(WorkerAttach {
                worker: worker.to_owned(),
                peer_host,
                peer_port,
            })
        });
    }
    if let Some(start) = line.find("] Worker ").map(|i| i + "] Worker ".len())
        && let Some((name, _builder)) = line[start..].split_once(" attached to ")
    {
        return (!name.is_empty()).then(|| LogEvent::Settled(name.to_owned()));
    }
    if let Some(start) = line.find("] worker ").map(|i| i + "] worker ".len())
        && let Some(name) = line[start..].trim_end().strip_suffix(" cannot attach")
    {
        return (!name.is_empty() && !name.contains(' '))
            .then(|| LogEvent::CannotAttach(name.to_owned()));
    }
    let start = line.find("] Worker.detached(")? + "] Worker.detached(".len();
    let name = line[start..].strip_suffix(')')?;
    (!name.is_empty()).then(|| LogEvent::Detach(name.to_owned()))
}

/// `IPv4Address(type='TCP', host='H', port=P)` or `IPv6Address(type='TCP', host='H', port=P, …)`.
fn parse_peer(repr: &str) -> Option<(String, u16)> {
    let inner = repr
        .strip_prefix("IPv4Address(")
        .or_else(|| repr.strip_prefix("IPv6Address("))?
        .trim_end()
        .strip_suffix(')')?;
    let mut host = None;
    let mut port = None;
    for field in inner.split(", ") {
        if let Some(h) = field.strip_prefix("host='") {
            host = Some(h.strip_suffix('\'')?.to_owned());
        } else if let Some(p) = field.strip_prefix("port=") {
            port = Some(p.parse().ok()?);
        }
    }
    Some((host?, port?))
}

/// The latest attachment of every worker in `text` (log order; later lines win).
pub fn latest_attaches(text: &str) -> HashMap<String, WorkerAttach> {
    let mut tracker = AttachState::default();
    tracker.feed(text);
    tracker.attaches
}

/// Attachments and detachments accumulated from log text, in order.
#[derive(Debug, Default, Clone)]
pub struct AttachState {
    attaches: HashMap<String, WorkerAttach>,
    /// Workers whose latest event is a detach.
    detached: std::collections::HashSet<String>,
    /// Workers whose latest attach completed its handshake.
    settled: std::collections::HashSet<String>,
    /// Workers whose latest attach failed on the master's side (`worker NAME cannot attach`)
    /// and whose connection has not ended since.
    failed: std::collections::HashSet<String>,
}

impl AttachState {
    pub fn feed(&mut self, text: &str) {
        for event in text.lines().filter_map(parse_line) {
            match event {
                LogEvent::Attach(a) => {
                    self.detached.remove(&a.worker);
                    self.settled.remove(&a.worker);
                    self.failed.remove(&a.worker);
                    self.attaches.insert(a.worker.clone(), a);
                }
                LogEvent::Settled(worker) => {
                    self.settled.insert(worker);
                }
                LogEvent::Detach(worker) => {
                    self.settled.remove(&worker);
                    self.failed.remove(&worker);
                    self.detached.insert(worker);
                }
                LogEvent::CannotAttach(worker) => {
                    self.settled.remove(&worker);
                    self.failed.insert(worker);
                }
            }
        }
    }

    /// The latest attachment of `worker`, even if a detach was logged after it.
    pub fn latest(&self, worker: &str) -> Option<&WorkerAttach> {
        self.attaches.get(worker)
    }

    /// Whether the last thing logged for `worker` is `Worker.detached`. A hint only: when a
    /// worker reconnects before the old connection is noticed dead, the order can interleave.
    pub fn detached_since_attach(&self, worker: &str) -> bool {
        self.detached.contains(worker)
    }

    /// Whether the latest attach of `worker` completed (`Worker NAME attached to BUILDER`).
    /// Close a session only once it has: Buildbot 4.3.0 wedges when a connection drops during the
    /// handshake (`worker NAME cannot attach` … `DeadReferenceError: Calling Stale Broker`; the
    /// master's clean shutdown then waits forever in "waiting for worker to finish
    /// disconnecting"). A worker configured on no builder never logs this line.
    pub fn is_settled(&self, worker: &str) -> bool {
        self.settled.contains(worker)
    }

    /// Whether the latest attach of `worker` failed on the master's side (`worker NAME cannot
    /// attach`) and its connection is still up: Buildbot 4.3.0 has told the worker it is
    /// attached, keeps the connection and never retries, so the worker sits idle for good.
    pub fn attach_failed(&self, worker: &str) -> bool {
        self.failed.contains(worker)
    }

    /// The workers for which [`Self::attach_failed`] holds.
    pub fn failed(&self) -> impl Iterator<Item = &str> {
        self.failed.iter().map(String::as_str)
    }

    pub fn attaches(&self) -> &HashMap<String, WorkerAttach> {
        &self.attaches
    }
}

/// Follows a growing `twistd.log` from an offset, keeping what it has seen. Only complete lines
/// are consumed; a log that shrank was rotated and is read again from its start (attachments
/// seen in the old file stay known).
#[derive(Debug)]
pub struct AttachLogFollower {
    path: PathBuf,
    offset: u64,
    state: AttachState,
}

impl AttachLogFollower {
    /// Starts at `offset` (0 = the whole log; the log's length at master start = this run only).
    pub fn new(path: impl Into<PathBuf>, offset: u64) -> Self {
        AttachLogFollower {
            path: path.into(),
            offset,
            state: AttachState::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads what was appended since the last call. A missing log reads as empty.
    pub fn refresh(&mut self) -> std::io::Result<&AttachState> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(&self.state),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.take(len - self.offset).read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.state
            .feed(&String::from_utf8_lossy(&bytes[..complete]));
        self.offset += complete as u64;
        Ok(&self.state)
    }

    pub fn state(&self) -> &AttachState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a real Buildbot 4.3.0 master behind HAProxy 2.6 (IPv4, then the PB port on
    /// `tcp:PORT:interface=\:\:1`); the session cut at 13:47:22 was `shutdown session` at HAProxy.
    const REAL_LOG: &str = "\
2026-11-23 13:47:04+0000 [Broker,0,127.0.0.1] worker 'w1' attaching from IPv4Address(type='TCP', host='127.0.0.1', port=34578)
2026-11-23 13:47:04+0000 [-] bot attached
2026-11-23 13:47:04+0000 [Broker,0,127.0.0.1] Worker w1 attached to b
2026-11-23 13:47:05+0000 [Broker,1,127.0.0.1] worker 'w2' attaching from IPv4Address(type='TCP', host='127.0.0.1', port=34598)
2026-11-23 13:47:05+0000 [Broker,1,127.0.0.1] Got workerinfo from 'w2'
2026-11-23 13:47:22+0000 [Broker,0,127.0.0.1] Worker.detached(w1)
2026-11-23 13:47:22+0000 [Broker,0,127.0.0.1] releaseLocks(<Worker 'w1'>): []
2026-11-23 13:47:22+0000 [-] Worker w1 detached from b
2026-11-23 13:47:24+0000 [Broker,2,127.0.0.1] worker 'w1' attaching from IPv4Address(type='TCP', host='127.0.0.1', port=51650)
2026-11-23 13:47:32+0000 [Broker,1,127.0.0.1] Worker.detached(w2)
2026-11-23 13:47:32+0000 [-] Worker w2 detached from b
2026-11-23 13:48:03+0000 [Broker,1,::1] worker 'w3' attaching from IPv6Address(type='TCP', host='::1', port=48060, flowInfo=0, scopeID=0)
";

    fn attach(worker: &str, host: &str, port: u16) -> WorkerAttach {
        WorkerAttach {
            worker: worker.into(),
            peer_host: host.into(),
            peer_port: port,
        }
    }

    #[test]
    fn parses_real_attach_and_detach_lines() {
        let events: Vec<LogEvent> = REAL_LOG.lines().filter_map(parse_line).collect();
        assert_eq!(
            events,
            vec![
                LogEvent::Attach(attach("w1", "127.0.0.1", 34578)),
                LogEvent::Settled("w1".into()),
                LogEvent::Attach(attach("w2", "127.0.0.1", 34598)),
                LogEvent::Detach("w1".into()),
                LogEvent::Attach(attach("w1", "127.0.0.1", 51650)),
                LogEvent::Detach("w2".into()),
                LogEvent::Attach(attach("w3", "::1", 48060)),
            ]
        );
    }

    #[test]
    fn latest_attach_per_worker_wins() {
        let latest = latest_attaches(REAL_LOG);
        assert_eq!(latest.len(), 3);
        assert_eq!(latest["w1"], attach("w1", "127.0.0.1", 51650));
        assert_eq!(latest["w2"], attach("w2", "127.0.0.1", 34598));
        assert_eq!(latest["w3"], attach("w3", "::1", 48060));
        let mut state = AttachState::default();
        state.feed(REAL_LOG);
        assert!(!state.detached_since_attach("w1"));
        assert!(state.detached_since_attach("w2"));
        // w1's first attach settled; its second (and w3's) has not logged completion.
        assert!(!state.is_settled("w1") && !state.is_settled("w2") && !state.is_settled("w3"));
        state.feed(SETTLED_W3);
        assert!(state.is_settled("w3"));
    }

    /// A complete attach handshake and a broken one, from the same real master.
    const SETTLED_W3: &str = "\
2026-11-23 13:48:03+0000 [Broker,1,::1] Got workerinfo from 'w3'
2026-11-23 13:48:03+0000 [-] bot attached
2026-11-23 13:48:03+0000 [Broker,1,::1] Worker w3 attached to b
";

    #[test]
    fn a_failed_handshake_is_not_settled() {
        let text = "\
2026-11-23 13:58:18+0000 [Broker,5,::1] worker 'w2' attaching from IPv6Address(type='TCP', host='::1', port=44192, flowInfo=0, scopeID=0)
2026-11-23 13:58:18+0000 [Broker,5,::1] Got workerinfo from 'w2'
2026-11-23 13:58:18+0000 [-] bot attached
2026-11-23 13:58:18+0000 [-] worker w2 cannot attach
";
        let mut state = AttachState::default();
        state.feed(text);
        assert_eq!(state.latest("w2"), Some(&attach("w2", "::1", 44192)));
        assert!(!state.is_settled("w2"));
        assert!(state.attach_failed("w2"));
        assert_eq!(
            parse_line("2026-12-02 11:33:50+0000 [-] worker worker-2 cannot attach"),
            Some(LogEvent::CannotAttach("worker-2".into()))
        );
        // The connection ends, or the worker attaches again: no longer a failed attach.
        state.feed("2026-11-23 13:58:30+0000 [Broker,5,::1] Worker.detached(w2)\n");
        assert!(!state.attach_failed("w2"));
        state.feed(text);
        state.feed(
            "2026-11-23 13:59:00+0000 [Broker,6,::1] worker 'w2' attaching from \
             IPv6Address(type='TCP', host='::1', port=44200, flowInfo=0, scopeID=0)\n",
        );
        assert!(!state.attach_failed("w2"));
    }

    #[test]
    fn odd_lines_are_ignored() {
        for line in [
            "2026-11-23 13:47:04+0000 [-] worker 'w1' attaching from UNIXAddress('/tmp/s')",
            "2026-11-23 13:47:04+0000 [-] worker '' attaching from IPv4Address(type='TCP', host='h', port=1)",
            "2026-11-23 13:47:04+0000 [-] worker 'w1' attaching from IPv4Address(type='TCP', host='h', port=99999)",
            "2026-11-23 13:47:04+0000 [-] some text about worker 'w1'",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
        // A quote in a name is kept: the suffix is matched from the right.
        let odd =
            "x [B] worker 'it's' attaching from IPv4Address(type='TCP', host='10.0.0.1', port=7)";
        assert_eq!(
            parse_line(odd),
            Some(LogEvent::Attach(attach("it's", "10.0.0.1", 7)))
        );
    }

    #[test]
    fn follower_reads_complete_lines_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("twistd.log");
        let mut f = AttachLogFollower::new(&log, 0);
        assert!(f.refresh().unwrap().attaches().is_empty());
        let (first, rest) = REAL_LOG.split_at(REAL_LOG.find("\n").unwrap() + 1);
        // Half of the second line is not consumed until its newline arrives.
        std::fs::write(&log, format!("{first}{}", &rest[..40])).unwrap();
        assert_eq!(
            f.refresh().unwrap().latest("w1"),
            Some(&attach("w1", "127.0.0.1", 34578))
        );
        assert_eq!(f.offset(), first.len() as u64);
        std::fs::write(&log, REAL_LOG).unwrap();
        assert_eq!(f.refresh().unwrap().attaches().len(), 3);
        std::fs::write(
            &log,
            "2026-11-23 14:00:00+0000 [Broker,9,127.0.0.1] worker 'w2' attaching from \
             IPv4Address(type='TCP', host='127.0.0.1', port=40000)\n",
        )
        .unwrap();
        let state = f.refresh().unwrap();
        assert_eq!(state.latest("w2"), Some(&attach("w2", "127.0.0.1", 40000)));
        assert_eq!(state.latest("w1"), Some(&attach("w1", "127.0.0.1", 51650)));
    }
}
