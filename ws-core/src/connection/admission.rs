//! Admission control: a connection holds a [`Slot`] from before the 101
//! response until its task ends, whatever ends it. Reservation is atomic, so
//! a burst of connects can never overshoot the cap, and a refused connect
//! consumes nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dashmap::DashMap;
use tokio::sync::Notify;

use super::per_ip::PerIp;
use crate::registry::UserId;

pub(crate) struct Admission {
    open: AtomicUsize,
    max: usize,
    per_user: DashMap<UserId, usize>,
    max_per_user: usize,
    per_ip: PerIp,
    stopped: AtomicBool,
    /// Signalled whenever the last slot is released.
    drained: Notify,
}

impl Admission {
    pub(crate) fn new(max: usize, max_per_user: usize, per_ip: PerIp) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            max,
            per_user: DashMap::new(),
            max_per_user,
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
            user: None,
            ip: None,
        })
    }

    /// Counts `slot` against `user`'s own cap; `false` when it is reached
    /// (the slot is then still whole, and its drop frees it).
    pub(crate) fn admit_user(&self, slot: &mut Slot, user: &UserId) -> bool {
        if self.max_per_user != 0 {
            let mut count = self.per_user.entry(user.clone()).or_insert(0);
            if *count >= self.max_per_user {
                return false;
            }
            *count += 1;
        }
        slot.user = Some(user.clone());
        true
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

    fn release(&self, user: Option<&UserId>, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.per_ip.release(ip);
        }
        if let (Some(user), true) = (user, self.max_per_user != 0) {
            self.per_user.remove_if_mut(user, |_, count| {
                *count -= 1;
                *count == 0
            });
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
    user: Option<UserId>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.user.as_ref(), self.ip);
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
        let admission = Admission::new(2, 0, off());
        let a = admission.try_admit().unwrap();
        let _b = admission.try_admit().unwrap();
        assert!(admission.try_admit().is_none());
        assert_eq!(admission.open(), 2);
        drop(a);
        assert!(admission.try_admit().is_some());
    }

    #[test]
    fn zero_means_unlimited() {
        let admission = Admission::new(0, 0, off());
        let slots: Vec<_> = (0..1000).map(|_| admission.try_admit().unwrap()).collect();
        assert_eq!(admission.open(), 1000);
        drop(slots);
        assert_eq!(admission.open(), 0);
    }

    #[test]
    fn per_user_cap() {
        let admission = Admission::new(0, 1, off());
        let alice = UserId::from("alice");
        let mut first = admission.try_admit().unwrap();
        assert!(admission.admit_user(&mut first, &alice));
        let mut second = admission.try_admit().unwrap();
        assert!(!admission.admit_user(&mut second, &alice));
        drop(second);
        drop(first);
        assert!(admission.per_user.is_empty());
        assert_eq!(admission.open(), 0);
    }
}
