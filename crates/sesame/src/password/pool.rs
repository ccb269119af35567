//! The bounded blocking pool: a semaphore caps how many argon2 computations run at once, and
//! on Linux each runs under `SCHED_BATCH` so that it never preempts the threads serving requests.

use std::num::NonZeroUsize;
use std::sync::Arc;

use super::{PasswordError, PasswordHasher};

impl PasswordHasher {
    /// Runs `work` on the blocking pool once a permit is free. The permit moves into the
    /// blocking task, so it stays held until the work ends even if this future is dropped.
    pub(super) async fn run_bounded<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            .map_err(PasswordError::PoolClosed)?;
        self.inner
            .computations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        #[cfg(test)]
        let inner = Arc::clone(&self.inner);
        let task = move || {
            let _permit = permit;
            #[cfg(target_os = "linux")]
            let _batch = batch::enter();
            #[cfg(test)]
            let _gauge = inner.stats.enter();
            work()
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(task)
                .await
                .map_err(PasswordError::Task)?,
            Err(_) => task(),
        }
    }
}

/// Half the CPUs, at least one.
pub(super) fn default_concurrency() -> usize {
    (std::thread::available_parallelism().map_or(1, NonZeroUsize::get) / 2).max(1)
}

/// While a hash is computed, its (blocking pool) thread runs under Linux's `SCHED_BATCH`
/// policy: CPU-bound work that does not preempt other threads on their wakeup, so the threads
/// serving requests get the CPU back at once instead of after a time slice of argon2. The
/// thread's normal policy is restored afterwards. Best effort: a failure is only logged.
#[cfg(target_os = "linux")]
mod batch {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
    };

    /// Restores `SCHED_OTHER` when dropped, if it was switched.
    pub(super) struct Batch(bool);

    pub(super) fn enter() -> Batch {
        let is = |policy| thread_schedule_policy() == Ok(ThreadSchedulePolicy::Normal(policy));
        if !is(NormalThreadSchedulePolicy::Other) {
            return Batch(false);
        }
        set(NormalThreadSchedulePolicy::Batch);
        // The policy can change even when the niceness part fails (a niced process that may
        // not lower its niceness): restore whenever it did.
        Batch(is(NormalThreadSchedulePolicy::Batch))
    }

    impl Drop for Batch {
        fn drop(&mut self) {
            if self.0 {
                set(NormalThreadSchedulePolicy::Other);
            }
        }
    }

    fn set(policy: NormalThreadSchedulePolicy) {
        // thread-priority's cross-platform value 49 is niceness 0, the default.
        let Ok(nice_zero) = ThreadPriorityValue::try_from(49u8) else {
            return;
        };
        if let Err(error) = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(nice_zero),
            ThreadSchedulePolicy::Normal(policy),
        ) {
            tracing::debug!(
                ?error,
                ?policy,
                "sesame: could not set the hashing thread's scheduling policy"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::password::tests::fast;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_hashing_is_bounded() {
        let hasher = fast().with_max_concurrency(2);
        assert_eq!(hasher.max_concurrency(), 2);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let hasher = hasher.clone();
            tasks.push(tokio::spawn(async move {
                let password = format!("password {i}");
                let phc = hasher.hash(&password).await.expect("hash");
                hasher.verify(&phc, &password).await.expect("verify")
            }));
        }
        for task in tasks {
            assert!(task.await.expect("task").is_valid());
        }
        let stats = &hasher.inner.stats;
        assert_eq!(stats.total.load(Ordering::SeqCst), 32);
        let peak = stats.peak.load(Ordering::SeqCst);
        // Computations did overlap, and never more than two at once.
        assert_eq!(peak, 2, "peak concurrency");
        assert_eq!(stats.running.load(Ordering::SeqCst), 0);
        assert_eq!(hasher.inner.semaphore.available_permits(), 2);
    }

    #[test]
    fn default_concurrency_leaves_half_the_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(fast().max_concurrency(), (cpus / 2).max(1));
    }

    /// The hashing thread computes under `SCHED_BATCH` and gets its policy back afterwards.
    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_runs_under_sched_batch_and_restores_the_policy() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let policy = || thread_priority::thread_schedule_policy().expect("policy");
        assert_eq!(
            policy(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
        {
            let _batch = batch::enter();
            assert_eq!(
                policy(),
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch)
            );
        }
        assert_eq!(
            policy(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
    }

    #[tokio::test]
    async fn cancelled_verification_releases_its_permit() {
        let hasher = fast().with_max_concurrency(1);
        let phc = hasher.hash("pw").await.expect("hash");
        // Drop a verification future before it completes.
        drop(
            tokio::time::timeout(
                std::time::Duration::from_nanos(1),
                hasher.verify(&phc, "pw"),
            )
            .await,
        );
        // The permit comes back once the blocking work (if started) ends.
        assert!(hasher.verify(&phc, "pw").await.expect("verify").is_valid());
    }

    #[test]
    fn zero_concurrency_means_one() {
        assert_eq!(fast().with_max_concurrency(0).max_concurrency(), 1);
        assert!(fast().max_concurrency() >= 1);
    }

    #[test]
    fn works_outside_a_tokio_runtime() {
        // Inline fallback: no runtime, no panic. Drive the future with a minimal executor.
        let hasher = fast();
        let phc = block_on(hasher.hash("pw")).expect("hash");
        assert!(
            block_on(hasher.verify(&phc, "pw"))
                .expect("verify")
                .is_valid()
        );
    }

    fn block_on<F: std::future::Future>(fut: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::yield_now();
        }
    }
}
