//! The memory guard: past MEMORY_SOFT_LIMIT_MB of resident memory, heavy work (uploads, scans) is refused
//! with 503 and Retry-After instead of growing until the kernel kills the process.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::error::AppError;

const MIB: u64 = 1024 * 1024;

#[derive(Debug)]
pub struct MemoryGuard {
    /// 0: the guard is off.
    limit_bytes: u64,
    warned: AtomicBool,
}

impl MemoryGuard {
    pub fn new(limit_mb: u64) -> Arc<Self> {
        Arc::new(Self { limit_bytes: limit_mb * MIB, warned: AtomicBool::new(false) })
    }

    /// Resident set size of this process, in bytes (0 where the platform cannot tell).
    pub fn rss_bytes() -> u64 {
        memory_stats::memory_stats().map_or(0, |s| s.physical_mem as u64)
    }

    /// Ok while there is room for heavy work; otherwise the 503 to answer.
    pub fn admit(&self) -> Result<(), AppError> {
        if self.limit_bytes == 0 {
            return Ok(());
        }
        let rss = Self::rss_bytes();
        if rss <= self.limit_bytes {
            return Ok(());
        }
        tracing::warn!(
            rss_mib = rss / MIB,
            limit_mib = self.limit_bytes / MIB,
            "memory guard: refusing heavy work, resident memory is above MEMORY_SOFT_LIMIT_MB"
        );
        Err(AppError::Unavailable {
            message: "the server is short of memory; try again shortly".into(),
            retry_after_secs: 10,
        })
    }

    /// Samples RSS now and then: publishes it as a metric and warns once when it crosses 80% of the limit.
    pub fn spawn_sampler(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => self.sample(),
                }
            }
        });
    }

    pub fn sample(&self) {
        let rss = Self::rss_bytes();
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
        if self.limit_bytes == 0 {
            return;
        }
        let high = rss * 10 > self.limit_bytes * 8;
        if high && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                rss_mib = rss / MIB,
                limit_mib = self.limit_bytes / MIB,
                "memory above 80% of MEMORY_SOFT_LIMIT_MB; heavy work will be refused past the limit"
            );
        } else if !high {
            self.warned.store(false, Ordering::Relaxed);
        }
    }
}
