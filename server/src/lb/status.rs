//! The load-balancer hook as readers see it: `GET /v1/master` (its `routing`), `GET
//! /v1/routing` and `/readyz` (the settings [`super::check`]). A reader must never be slowed
//! down by a load balancer that does not answer: every question here has a short timeout, and
//! after a load balancer failed to answer, the failure is repeated from memory for a moment
//! instead of asking again. Answers that succeed are never cached, so a routing change shows at
//! once.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::{LbCheckError, LoadBalancerHook, NoopHook, Routing};

/// How long one question may take here (the hook's own commands allow more: a drain may wait).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a failure to answer is repeated from memory.
pub const FAILURE_TTL: Duration = Duration::from_secs(2);

/// Cheap to clone.
#[derive(Clone, Default)]
pub struct LbStatus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    hook: OnceLock<Arc<dyn LoadBalancerHook>>,
    /// The last time the load balancer did not answer, and why.
    failed: Mutex<Option<(Instant, String)>>,
}

impl LbStatus {
    /// Sets the hook (once; later calls are ignored). Until then it is [`NoopHook`].
    pub fn set(&self, hook: Arc<dyn LoadBalancerHook>) {
        let _ = self.inner.hook.set(hook);
    }

    pub fn hook(&self) -> Arc<dyn LoadBalancerHook> {
        self.inner
            .hook
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::new(NoopHook))
    }

    /// The routing state, or why the load balancer could not be asked.
    pub async fn routing(&self) -> Result<Routing, String> {
        let hook = self.hook();
        self.ask(async move { hook.routing_state().await.map_err(|e| e.to_string()) })
            .await
    }

    /// The settings check, as `/readyz` needs it: `Err` is the reason the master is not ready.
    pub async fn check(&self) -> Result<(), String> {
        let hook = self.hook();
        self.ask(async move {
            match hook.check().await {
                Ok(()) => Ok(Ok(())),
                // The load balancer answered: the setting error is not a failure to answer.
                Err(e @ LbCheckError::Setting { .. }) => Ok(Err(e.to_string())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
        .and_then(|answer| answer)
    }

    /// Runs `question` within [`PROBE_TIMEOUT`], unless the load balancer failed to answer less
    /// than [`FAILURE_TTL`] ago.
    async fn ask<T>(
        &self,
        question: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        if let Some((at, why)) = lock(&self.inner.failed).clone()
            && at.elapsed() < FAILURE_TTL
        {
            return Err(why);
        }
        let answer = match tokio::time::timeout(PROBE_TIMEOUT, question).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "the load balancer did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        };
        *lock(&self.inner.failed) = answer
            .as_ref()
            .err()
            .map(|why| (Instant::now(), why.clone()));
        answer
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::lb::{CloseOutcome, LbError, WorkerAttach};

    /// A hook whose routing state answers from a script: `None` hangs forever.
    struct Scripted {
        asked: AtomicUsize,
        answer: Mutex<Option<Result<Routing, ()>>>,
    }

    impl LoadBalancerHook for Scripted {
        fn kind(&self) -> &'static str {
            "haproxy"
        }
        fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
            Box::pin(async { Ok(()) })
        }
        fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
            Box::pin(async { Ok(()) })
        }
        fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let answer = *lock(&self.answer);
            Box::pin(async move {
                match answer {
                    Some(Ok(r)) => Ok(r),
                    Some(Err(())) => Err(LbError::io(
                        "HAProxy runtime API at /nowhere",
                        std::io::ErrorKind::NotFound.into(),
                    )),
                    None => std::future::pending().await,
                }
            })
        }
        fn close_worker_session<'a>(
            &'a self,
            _attach: &'a WorkerAttach,
        ) -> BoxFuture<'a, Result<CloseOutcome, LbError>> {
            Box::pin(async { Err(LbError::NotConfigured) })
        }
    }

    fn status(answer: Option<Result<Routing, ()>>) -> (LbStatus, Arc<Scripted>) {
        let hook = Arc::new(Scripted {
            asked: AtomicUsize::new(0),
            answer: Mutex::new(answer),
        });
        let status = LbStatus::default();
        status.set(hook.clone());
        (status, hook)
    }

    #[tokio::test]
    async fn an_unset_hook_is_unmanaged() {
        let status = LbStatus::default();
        assert_eq!(status.routing().await, Ok(Routing::Unmanaged));
        assert_eq!(status.check().await, Ok(()));
    }

    #[tokio::test]
    async fn answers_are_fresh_each_time() {
        let (status, hook) = status(Some(Ok(Routing::Maint)));
        assert_eq!(status.routing().await, Ok(Routing::Maint));
        *lock(&hook.answer) = Some(Ok(Routing::Ready));
        assert_eq!(status.routing().await, Ok(Routing::Ready));
        assert_eq!(hook.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_silent_load_balancer_costs_one_timeout_then_answers_from_memory() {
        let (status, hook) = status(None);
        let err = status.routing().await.unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
        // Asked again at once: the failure comes from memory, the hook is not asked.
        assert_eq!(status.routing().await.unwrap_err(), err);
        assert_eq!(hook.asked.load(Ordering::SeqCst), 1);
        // Once the memory expires (backdated here), it is asked again.
        *lock(&hook.answer) = Some(Ok(Routing::Ready));
        if let Some((at, _)) = lock(&status.inner.failed).as_mut() {
            *at = Instant::now().checked_sub(FAILURE_TTL).unwrap();
        }
        assert_eq!(status.routing().await, Ok(Routing::Ready));
        assert_eq!(hook.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_error_names_the_load_balancer() {
        let (status, _) = status(Some(Err(())));
        let err = status.routing().await.unwrap_err();
        assert!(err.contains("HAProxy runtime API at /nowhere"), "{err}");
    }
}
