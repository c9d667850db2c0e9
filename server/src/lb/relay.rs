//! The `relay` hook: the agent itself is the worker port. It accepts worker connections on
//! `listen` and relays each to the master's real PB port (`target`, on loopback), so it can close
//! any single worker's connection and refuse new ones — behind any load balancer (DNS, a
//! Kubernetes Service, HAProxy health-checking the relay port).
//!
//! The master sees the relay's outbound connection, so the peer port it logs for a worker is the
//! relay's outbound local port: live connections are tracked by that address. Stopping routing
//! closes the listener (connections are refused and a load balancer's health check marks this
//! master down); resuming binds the same address again. Existing connections are never touched
//! by either.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{CloseOutcome, LbError, LoadBalancerHook, Routing, WorkerAttach};

/// One relayed connection, as [`Relay::connections`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayedConnection {
    /// The worker (or the load balancer in front of the relay).
    pub client: SocketAddr,
    /// The relay's local address towards the master: what the master logs as the peer.
    pub outbound: SocketAddr,
}

struct Live {
    id: u64,
    client: SocketAddr,
    close: oneshot::Sender<()>,
}

struct Inner {
    listen: SocketAddr,
    target: SocketAddr,
    /// The accept loop while routing; `None` while stopped.
    accept: Mutex<Option<JoinHandle<()>>>,
    /// Serialises stop/resume so that two callers never race a bind against an abort.
    switching: tokio::sync::Mutex<()>,
    live: Mutex<HashMap<SocketAddr, Live>>,
    next_id: AtomicU64,
}

/// The relay. Dropping it stops accepting and closes every relayed connection.
pub struct Relay {
    inner: Arc<Inner>,
}

impl Relay {
    /// Binds `listen` (port 0 picks one; resuming re-binds the same one) and starts relaying.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> Result<Self, LbError> {
        let listener = bind(listen).await?;
        let listen = listener
            .local_addr()
            .map_err(|e| LbError::io("relay listen address", e))?;
        let inner = Arc::new(Inner {
            listen,
            target,
            accept: Mutex::new(None),
            switching: tokio::sync::Mutex::new(()),
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(Arc::clone(&inner), listener));
        *lock(&inner.accept) = Some(task);
        Ok(Relay { inner })
    }

    /// The address workers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.listen
    }

    /// Every live relayed connection.
    pub fn connections(&self) -> Vec<RelayedConnection> {
        lock(&self.inner.live)
            .iter()
            .map(|(outbound, l)| RelayedConnection {
                client: l.client,
                outbound: *outbound,
            })
            .collect()
    }

    async fn stop(&self) {
        let _switching = self.inner.switching.lock().await;
        let task = lock(&self.inner.accept).take();
        if let Some(task) = task {
            task.abort();
            // The listener lives in the task: once it has ended, the port is closed.
            let _ = task.await;
            tracing::info!(listen = %self.inner.listen, "relay stopped accepting worker connections");
        }
    }

    async fn resume(&self) -> Result<(), LbError> {
        let _switching = self.inner.switching.lock().await;
        if lock(&self.inner.accept).is_some() {
            return Ok(());
        }
        let listener = bind(self.inner.listen).await?;
        let task = tokio::spawn(accept_loop(Arc::clone(&self.inner), listener));
        *lock(&self.inner.accept) = Some(task);
        tracing::info!(listen = %self.inner.listen, "relay accepts worker connections again");
        Ok(())
    }

    fn close(&self, attach: &WorkerAttach) -> Result<CloseOutcome, LbError> {
        let mut live = lock(&self.inner.live);
        let key = live
            .keys()
            .find(|a| a.port() == attach.peer_port && super::same_host(&attach.peer_host, a.ip()))
            .copied();
        let Some(entry) = key.and_then(|k| live.remove(&k).map(|e| (k, e))) else {
            return Err(LbError::SessionNotFound {
                worker: attach.worker.clone(),
                peer_host: attach.peer_host.clone(),
                peer_port: attach.peer_port,
            });
        };
        let (outbound, conn) = entry;
        // The task may have ended a moment ago; either way the connection is gone.
        let _ = conn.close.send(());
        let session = format!("{} -> {outbound}", conn.client);
        tracing::info!(worker = %attach.worker, %session, "closed the worker's relayed connection");
        Ok(CloseOutcome::Closed { session })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.inner.accept).take() {
            task.abort();
        }
        for (_, conn) in lock(&self.inner.live).drain() {
            let _ = conn.close.send(());
        }
    }
}

impl LoadBalancerHook for Relay {
    fn kind(&self) -> &'static str {
        "relay"
    }

    fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(async {
            self.stop().await;
            Ok(())
        })
    }

    fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(self.resume())
    }

    fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>> {
        let routing = if lock(&self.inner.accept).is_some() {
            Routing::Ready
        } else {
            Routing::Maint
        };
        Box::pin(async move { Ok(routing) })
    }

    fn close_worker_session<'a>(
        &'a self,
        attach: &'a WorkerAttach,
    ) -> BoxFuture<'a, Result<CloseOutcome, LbError>> {
        Box::pin(async move { self.close(attach) })
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, LbError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| LbError::io(format!("relay cannot listen on {addr}"), e))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, client)) => {
                tokio::spawn(relay_one(Arc::clone(&inner), stream, client));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "relay accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Removes the connection's entry when its task ends, however it ends.
struct Unregister {
    inner: Arc<Inner>,
    outbound: SocketAddr,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        let mut live = lock(&self.inner.live);
        if live.get(&self.outbound).is_some_and(|l| l.id == self.id) {
            live.remove(&self.outbound);
        }
    }
}

async fn relay_one(inner: Arc<Inner>, mut inbound: TcpStream, client: SocketAddr) {
    let mut outbound = match TcpStream::connect(inner.target).await {
        Ok(s) => s,
        Err(e) => {
            // Dropping the inbound side tells the worker to retry (possibly elsewhere).
            tracing::warn!(%client, target = %inner.target, error = %e, "relay cannot reach the master");
            return;
        }
    };
    let Ok(local) = outbound.local_addr() else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    let (close, closed) = oneshot::channel();
    lock(&inner.live).insert(local, Live { id, client, close });
    let _unregister = Unregister {
        inner: Arc::clone(&inner),
        outbound: local,
        id,
    };
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {
            if let Err(e) = result {
                tracing::debug!(%client, error = %e, "relayed connection ended with an error");
            }
        }
        _ = closed => {}
    }
    // Both streams drop here: the worker and the master each see their connection end.
}

#[cfg(test)]
mod tests;
