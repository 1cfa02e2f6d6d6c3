//! Admission control: a connection holds a [`Slot`] from before the 101
//! response until its task ends, whatever ends it. Reservation is atomic, so
//! a burst of connects can never overshoot the cap, and a refused connect
//! consumes nothing. The per-user cap is not counted here but in the
//! registry's user index ([`Registry::reserve`](crate::registry::Registry::reserve)),
//! the one place that also sees a user set later by a handler.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

pub(crate) mod per_ip;

use per_ip::PerIp;

pub(crate) struct Admission {
    open: AtomicUsize,
    max: usize,
    per_ip: PerIp,
    stopped: AtomicBool,
    /// Signalled whenever the last slot is released.
    drained: Notify,
}

impl Admission {
    pub(crate) fn new(max: usize, per_ip: PerIp) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            max,
            per_ip,
            stopped: AtomicBool::new(false),
            drained: Notify::new(),
        })
    }

    /// Reserves a slot, or `None` when the cap is reached or admission has
    /// stopped. A cap of 0 means unlimited.
    pub(crate) fn try_admit(self: &Arc<Self>) -> Option<Slot> {
        if self.is_stopped() {
            return None;
        }
        let max = if self.max == 0 { usize::MAX } else { self.max };
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()?;
        Some(Slot {
            admission: Arc::clone(self),
            ip: None,
        })
    }

    pub(crate) fn per_ip(&self) -> &PerIp {
        &self.per_ip
    }

    /// Counts `slot` against `ip`'s cap; `false` when it is reached.
    pub(crate) fn admit_ip(&self, slot: &mut Slot, ip: IpAddr) -> bool {
        if !self.per_ip.admit(ip) {
            return false;
        }
        slot.ip = Some(ip);
        true
    }

    /// Connections currently holding a slot.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Refuses every connect from now on.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Waits until no slot is held.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn release(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.per_ip.release(ip);
        }
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }
}

/// One admitted connection; dropping it frees the slot.
#[must_use = "dropping the slot frees it at once"]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn off() -> PerIp {
        PerIp::new(&Config::DEFAULT)
    }

    #[test]
    fn cap_is_never_exceeded_and_slots_come_back() {
        let admission = Admission::new(2, off());
        let a = admission.try_admit().unwrap();
        let _b = admission.try_admit().unwrap();
        assert!(admission.try_admit().is_none());
        assert_eq!(admission.open(), 2);
        drop(a);
        assert!(admission.try_admit().is_some());
    }

    #[test]
    fn zero_means_unlimited() {
        let admission = Admission::new(0, off());
        let slots: Vec<_> = (0..1000).map(|_| admission.try_admit().unwrap()).collect();
        assert_eq!(admission.open(), 1000);
        drop(slots);
        assert_eq!(admission.open(), 0);
    }
}
