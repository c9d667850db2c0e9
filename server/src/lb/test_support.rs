//! Test helpers shared by the hook tests: a TCP echo server standing in for a master (it records
//! the peer address of every connection, exactly what a master logs for an attaching worker) and
//! a line-based client standing in for a worker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::WorkerAttach;

/// Echoes lines back. The first line of a connection is its tag; the peer address is recorded
/// under it.
pub(crate) struct EchoServer {
    pub addr: SocketAddr,
    peers: Arc<Mutex<HashMap<String, SocketAddr>>>,
    task: JoinHandle<()>,
}

impl EchoServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Arc::new(Mutex::new(HashMap::new()));
        let recorded = Arc::clone(&peers);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(echo(stream, peer, Arc::clone(&recorded)));
            }
        });
        EchoServer { addr, peers, task }
    }

    /// The attach record a master would have logged for the connection tagged `tag`.
    pub fn attach_of(&self, tag: &str) -> Option<WorkerAttach> {
        let peer = *self.peers.lock().unwrap().get(tag)?;
        Some(WorkerAttach {
            worker: tag.into(),
            peer_host: peer.ip().to_string(),
            peer_port: peer.port(),
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(stream: TcpStream, peer: SocketAddr, peers: Arc<Mutex<HashMap<String, SocketAddr>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut first = true;
    while let Ok(Some(line)) = lines.next_line().await {
        if first {
            peers.lock().unwrap().insert(line.clone(), peer);
            first = false;
        }
        if write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A worker stand-in: one connection, one line at a time.
pub(crate) struct Client {
    stream: BufReader<TcpStream>,
}

const WAIT: Duration = Duration::from_secs(5);

impl Client {
    /// Connects and sends `tag`; returns once the echo server has answered (so it has recorded
    /// the peer). `None` if the connection is refused or closed.
    pub async fn connect(addr: SocketAddr, tag: &str) -> Option<Self> {
        let stream = TcpStream::connect(addr).await.ok()?;
        let mut client = Client {
            stream: BufReader::new(stream),
        };
        client.echo(tag).await.then_some(client)
    }

    /// Whether `msg` comes back.
    pub async fn echo(&mut self, msg: &str) -> bool {
        if self
            .stream
            .get_mut()
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .is_err()
        {
            return false;
        }
        let mut line = String::new();
        match tokio::time::timeout(WAIT, self.stream.read_line(&mut line)).await {
            Ok(Ok(_)) => line == format!("{msg}\n"),
            _ => false,
        }
    }

    /// Whether the connection ends (EOF or reset) within a few seconds, without sending anything.
    pub async fn sees_close(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(WAIT, self.stream.read_line(&mut line)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}
