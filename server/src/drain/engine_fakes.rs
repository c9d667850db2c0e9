//! The fakes the drain state machine is tested against (`super`): a Buildbot with its log and
//! master process (`FakeEnv`), and a load balancer that records what it is asked (`FakeLb`).

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use crate::buildbot::{Build, Master, MasterRef, Worker};
use crate::drain::env::{Attachment, DrainEnv, EnvError, Observation};
use crate::lb::{CloseOutcome, LbError, LoadBalancerHook, Routing, WorkerAttach};

pub const ME: i64 = 2;
pub const OTHER: i64 = 1;

#[derive(Default)]
pub struct World {
    pub workers: Vec<Worker>,
    pub builds: Vec<Build>,
    pub attaches: HashMap<String, Attachment>,
    pub complete_at: HashMap<i64, f64>,
    pub stopped: bool,
    /// The master died without a clean stop (its pid file is left behind).
    pub crashed: bool,
    pub calls: Vec<String>,
    /// Workers whose pause the master refuses (its REST API fails).
    pub pause_fails: Vec<i64>,
    /// Build requests this master has claimed and not finished.
    pub claimed: Vec<i64>,
    /// Workers whose latest line in this master's log is their detach.
    pub logged_detached: std::collections::BTreeSet<String>,
}

#[derive(Default)]
pub struct FakeEnv(Mutex<World>);

impl FakeEnv {
    pub fn with(f: impl FnOnce(&mut World)) -> Self {
        let env = FakeEnv::default();
        f(&mut env.0.lock().unwrap());
        env
    }
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().unwrap()
    }
    pub fn calls(&self) -> Vec<String> {
        self.world().calls.clone()
    }
    /// The worker reconnects to master `to`.
    pub fn move_worker(&self, name: &str, to: Option<i64>) {
        let mut w = self.world();
        let worker = w.workers.iter_mut().find(|x| x.name == name).unwrap();
        worker.connected_to = to.map(|m| MasterRef { masterid: m }).into_iter().collect();
    }
    pub fn end_build(&self, buildid: i64, at: f64) {
        let mut w = self.world();
        w.builds.retain(|b| b.buildid != buildid);
        w.complete_at.insert(buildid, at);
    }
}

pub fn worker(id: i64, name: &str, on: i64, paused: bool) -> Worker {
    Worker {
        workerid: id,
        name: name.into(),
        paused,
        pause_reason: None,
        connected_to: vec![MasterRef { masterid: on }],
    }
}

pub fn build(id: i64, workerid: i64, on: i64) -> Build {
    Build {
        buildid: id,
        builderid: 1,
        number: None,
        workerid: Some(workerid),
        masterid: Some(on),
        buildrequestid: None,
        started_at: None,
        complete_at: None,
        complete: false,
        state_string: None,
        results: None,
    }
}

pub fn settled(name: &str, port: u16) -> Attachment {
    Attachment {
        attach: WorkerAttach {
            worker: name.into(),
            peer_host: "127.0.0.1".into(),
            peer_port: port,
        },
        settled: true,
        failed: false,
    }
}

impl DrainEnv for FakeEnv {
    fn masterid(&self) -> BoxFuture<'_, Result<i64, EnvError>> {
        Box::pin(async { Ok(ME) })
    }
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EnvError>> {
        let w = self.world();
        let obs = Observation {
            masters: vec![
                Master {
                    masterid: OTHER,
                    name: "h:/m1".into(),
                    active: true,
                    last_active: None,
                },
                Master {
                    masterid: ME,
                    name: "h:/m2".into(),
                    active: true,
                    last_active: None,
                },
            ],
            workers: w.workers.clone(),
            builds: w.builds.clone(),
            logged_detached: w.logged_detached.clone(),
        };
        Box::pin(async move { Ok(obs) })
    }
    fn set_paused<'a>(
        &'a self,
        workerid: i64,
        paused: bool,
        _reason: &'a str,
    ) -> BoxFuture<'a, Result<(), EnvError>> {
        let mut w = self.world();
        if paused && w.pause_fails.contains(&workerid) {
            return Box::pin(async { Err(EnvError("REST: 503".into())) });
        }
        let x = w
            .workers
            .iter_mut()
            .find(|x| x.workerid == workerid)
            .unwrap();
        x.paused = paused;
        let call = format!("{} {}", if paused { "pause" } else { "unpause" }, x.name);
        w.calls.push(call);
        Box::pin(async { Ok(()) })
    }
    fn build_complete_at(&self, buildid: i64) -> BoxFuture<'_, Option<f64>> {
        let at = self.world().complete_at.get(&buildid).copied();
        Box::pin(async move { at })
    }
    fn claimed_requests(&self, _masterid: i64) -> BoxFuture<'_, Result<Vec<i64>, EnvError>> {
        let claimed = self.world().claimed.clone();
        Box::pin(async move { Ok(claimed) })
    }
    fn failed_attaches(&self) -> Vec<String> {
        let w = self.world();
        w.attaches
            .iter()
            .filter(|(_, a)| a.failed)
            .map(|(name, _)| name.clone())
            .collect()
    }
    fn attachment(&self, worker: &str) -> Option<Attachment> {
        self.world().attaches.get(worker).cloned()
    }
    fn master_running(&self) -> bool {
        !self.world().stopped
    }
    fn master_crashed(&self) -> bool {
        let w = self.world();
        w.stopped && w.crashed
    }
    fn restart_master<'a>(
        &'a self,
        _actor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), EnvError>> {
        let mut w = self.world();
        w.stopped = false;
        w.crashed = false;
        w.calls.push("restart master".into());
        Box::pin(async { Ok(()) })
    }
    fn stop_master<'a>(&'a self, _actor: Option<&'a str>) -> BoxFuture<'a, Result<(), EnvError>> {
        let mut w = self.world();
        w.stopped = true;
        w.calls.push("stop master".into());
        Box::pin(async { Ok(()) })
    }
}

#[derive(Default)]
/// Records every call; a close of a session whose peer port is in `.1` fails as a load balancer
/// that does not answer would.
pub struct FakeLb(pub Mutex<Vec<String>>, pub Mutex<Vec<u16>>);

impl LoadBalancerHook for FakeLb {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        self.0.lock().unwrap().push("stop routing".into());
        Box::pin(async { Ok(()) })
    }
    fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        self.0.lock().unwrap().push("resume routing".into());
        Box::pin(async { Ok(()) })
    }
    fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>> {
        Box::pin(async { Ok(Routing::Ready) })
    }
    fn close_worker_session<'a>(
        &'a self,
        attach: &'a WorkerAttach,
    ) -> BoxFuture<'a, Result<CloseOutcome, LbError>> {
        if self.1.lock().unwrap().contains(&attach.peer_port) {
            self.0.lock().unwrap().push(format!(
                "close failed {}:{}",
                attach.worker, attach.peer_port
            ));
            return Box::pin(async {
                Err(LbError::Timeout {
                    what: "HAProxy runtime API at tcp:10.0.0.21:9999".into(),
                    secs: 1,
                })
            });
        }
        self.0
            .lock()
            .unwrap()
            .push(format!("close {}:{}", attach.worker, attach.peer_port));
        Box::pin(async move {
            Ok(CloseOutcome::Closed {
                session: format!("s{}", attach.peer_port),
            })
        })
    }
}

/// One tick of `d` at `now` against the fakes, as agent `m2`; the notes it took.
pub async fn step(
    d: &mut crate::drain::model::Drain,
    env: &FakeEnv,
    lb: &FakeLb,
    now: f64,
) -> Vec<String> {
    let ctx = crate::drain::engine::Ctx {
        env,
        lb,
        agent: "m2",
    };
    let mut notes = Vec::new();
    crate::drain::engine::tick(d, &ctx, now, &mut notes)
        .await
        .unwrap();
    notes
}
