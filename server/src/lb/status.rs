//! The load-balancer hook as readers see it: `GET /v1/master` (its `routing`), `GET
//! /v1/routing` and `/readyz` (the settings [`super::check`]). A reader must never be slowed
//! down by a load balancer that does not answer: every question here has a short timeout, and
//! after a load balancer failed to answer, the failure is repeated from memory for a moment
//! instead of asking again. Answers that succeed are never cached, so a routing change shows at
//! once.
//!
//! A hook of several load balancers ([`super::multi`]) is asked one load balancer at a time, all
//! at once, each with its own timeout and memory, so that one that does not answer is named and
//! does not hide the others. Readers get the truth about each: the routing state is one state
//! only when all agree; when they disagree, or one does not answer, it is an error saying what
//! each said (`GET /v1/master` shows `unknown` with that reason). The drain itself asks the
//! hook, not this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::multi::routing_word;
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
    /// Per load balancer (`""` for a hook of one): the last time it did not answer, and why.
    failed: Mutex<HashMap<String, (Instant, String)>>,
}

/// What the settings check of one load balancer came to: `Ok(Err(_))` is a wrong setting (it
/// answered), `Err(_)` a failure to answer.
type CheckAnswer = Result<Result<(), String>, String>;

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

    /// The routing state, or why it cannot be told (a load balancer did not answer; several
    /// disagree).
    pub async fn routing(&self) -> Result<Routing, String> {
        let hook = self.hook();
        let members = hook.load_balancers();
        if members.is_empty() {
            return self
                .ask("", async {
                    hook.routing_state().await.map_err(|e| e.to_string())
                })
                .await;
        }
        let answers = join_all(members.iter().map(|(name, lb)| async move {
            let answer = self
                .ask(name, async {
                    lb.routing_state().await.map_err(|e| e.to_string())
                })
                .await;
            (name.as_str(), answer)
        }))
        .await;
        combine_routing(&answers)
    }

    /// The settings check, as `/readyz` needs it: `Err` is the reason the master is not ready.
    pub async fn check(&self) -> Result<(), String> {
        let hook = self.hook();
        let members = hook.load_balancers();
        if members.is_empty() {
            return self.ask("", check_one(hook.as_ref())).await.and_then(|a| a);
        }
        let answers = join_all(members.iter().map(|(name, lb)| async move {
            (name.as_str(), self.ask(name, check_one(*lb)).await)
        }))
        .await;
        combine_checks(&answers)
    }

    /// Runs `question` within [`PROBE_TIMEOUT`], unless the load balancer `name` failed to
    /// answer less than [`FAILURE_TTL`] ago.
    async fn ask<T>(
        &self,
        name: &str,
        question: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        if let Some((at, why)) = lock(&self.inner.failed).get(name).cloned()
            && at.elapsed() < FAILURE_TTL
        {
            return Err(why);
        }
        let answer = match tokio::time::timeout(PROBE_TIMEOUT, question).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "the load balancer{}{name} did not answer within {} s",
                if name.is_empty() { "" } else { " " },
                PROBE_TIMEOUT.as_secs()
            )),
        };
        let mut failed = lock(&self.inner.failed);
        match &answer {
            Ok(_) => failed.remove(name),
            Err(why) => failed.insert(name.to_owned(), (Instant::now(), why.clone())),
        };
        answer
    }
}

/// One load balancer's settings check; a wrong setting is an answer, not a failure to answer.
async fn check_one(hook: &dyn LoadBalancerHook) -> CheckAnswer {
    match hook.check().await {
        Ok(()) => Ok(Ok(())),
        Err(e @ LbCheckError::Setting { .. }) => Ok(Err(e.to_string())),
        Err(e) => Err(e.to_string()),
    }
}

/// Several load balancers' routing states: one state when they all answer the same.
fn combine_routing(answers: &[(&str, Result<Routing, String>)]) -> Result<Routing, String> {
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|(name, a)| a.as_ref().err().map(|why| with_name(name, why)))
        .collect();
    let said: Vec<String> = answers
        .iter()
        .filter_map(|(name, a)| {
            a.as_ref()
                .ok()
                .map(|r| format!("{} on {name}", routing_word(*r)))
        })
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "{}{}",
            failed.join("; "),
            if said.is_empty() {
                String::new()
            } else {
                format!(" (the others: {})", said.join(", "))
            }
        ));
    }
    let first = answers.first().and_then(|(_, a)| a.as_ref().ok().copied());
    match first {
        Some(r) if answers.iter().all(|(_, a)| a.as_ref() == Ok(&r)) => Ok(r),
        _ => Err(format!(
            "the load balancers disagree about this master: {}",
            said.join(", ")
        )),
    }
}

/// Several load balancers' settings checks: a wrong setting on any one first, then the ones
/// that did not answer, each named.
fn combine_checks(answers: &[(&str, CheckAnswer)]) -> Result<(), String> {
    if let Some(setting) = answers.iter().find_map(|(name, a)| match a {
        Ok(Err(setting)) => Some(with_name(name, setting)),
        _ => None,
    }) {
        return Err(setting);
    }
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|(name, a)| a.as_ref().err().map(|why| with_name(name, why)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// `why`, with the load balancer's name added unless it already says it.
fn with_name(name: &str, why: &str) -> String {
    if why.contains(name) {
        why.to_owned()
    } else {
        format!("{why} (load balancer {name})")
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
        if let Some((at, _)) = lock(&status.inner.failed).get_mut("") {
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
