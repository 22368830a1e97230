//! TCP connection slots: counted in total and per client address, and under pressure taken
//! from the connection that has been idle the longest (RFC 7766 §6.2.3: a server may close idle
//! connections when it runs short of resources).
//!
//! ```text
//! accept from ip ─► ip at max_connections_per_ip? ─► evict the idlest connection of that ip
//!                ─► all at max_connections?       ─► evict the idlest connection of all
//!                ─► take the slot
//! ```
//!
//! "Idle" is the time since a connection last read anything (or was accepted): a client that
//! connected and sent nothing, or stopped half way through a query, or stopped reading its
//! answers. A flood of stalled connections therefore fills the table, but each new client
//! (a resolver retrying over TCP after a truncated UDP answer) takes the slot of the stalest
//! one instead of being refused; the per-address limit keeps one address from evicting the
//! others' connections wholesale, as each address only ever evicts its own once it is at its
//! limit.
//!
//! An evicted connection is told through its [`Slot`]; it stops waiting for input and closes
//! as an idle one does (FIN, and a short drain if it had sent part of a query). Its slot is
//! handed over at once, so the counts never exceed the limits by more than connections still
//! closing.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::util::lock;

/// Counts open TCP connections, in total and per client address, and evicts idle ones.
pub struct TcpCounters {
    /// Open connections (lock-free copy of `table.conns.len()`, for status and tests).
    total: AtomicUsize,
    table: Mutex<Table>,
    /// The zero of every connection's activity clock.
    epoch: Instant,
    next_id: AtomicU64,
    evicted: AtomicU64,
}

#[derive(Default)]
struct Table {
    /// SipHash (the keys are the clients' addresses).
    per_ip: HashMap<IpAddr, usize>,
    /// FxHash: the keys are our own counter.
    conns: rustc_hash::FxHashMap<u64, (IpAddr, Arc<Activity>)>,
}

/// What a connection shares with the table: when it last read, and the eviction signal.
struct Activity {
    /// Microseconds after `TcpCounters::epoch`.
    last: AtomicU64,
    evict: Notify,
}

impl Default for TcpCounters {
    fn default() -> Self {
        TcpCounters {
            total: AtomicUsize::new(0),
            table: Mutex::new(Table::default()),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }
}

impl TcpCounters {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Connections closed so far to make room for another (the idlest under slot pressure).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// A slot for a connection from `ip`, evicting the idlest connection (of `ip` when it is at
    /// its own limit, else of all) when a limit is reached; `None` only when there is nothing
    /// to evict (a limit of 0).
    pub fn take(self: &Arc<Self>, ip: IpAddr, max_total: usize, max_per_ip: usize) -> Option<Slot> {
        let now = self.now_us();
        let mut t = lock(&self.table);
        if t.per_ip.get(&ip).copied().unwrap_or(0) >= max_per_ip && !self.evict_idlest(&mut t, Some(ip)) {
            return None;
        }
        while t.conns.len() >= max_total {
            if !self.evict_idlest(&mut t, None) {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity { last: AtomicU64::new(now), evict: Notify::new() });
        t.conns.insert(id, (ip, activity.clone()));
        *t.per_ip.entry(ip).or_insert(0) += 1;
        self.total.store(t.conns.len(), Ordering::Relaxed);
        Some(Slot { counters: self.clone(), id, activity })
    }

    /// Evicts the connection (of `ip`, or of anyone) that read nothing for the longest time.
    fn evict_idlest(&self, t: &mut Table, ip: Option<IpAddr>) -> bool {
        let idlest = t
            .conns
            .iter()
            .filter(|(_, (from, _))| ip.is_none_or(|ip| *from == ip))
            .min_by_key(|(id, (_, a))| (a.last.load(Ordering::Relaxed), **id))
            .map(|(id, _)| *id);
        let Some(id) = idlest else { return false };
        if let Some((_, activity)) = release(t, id) {
            activity.evict.notify_one();
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        self.total.store(t.conns.len(), Ordering::Relaxed);
        true
    }
}

/// Removes connection `id` from the table and its address's count.
fn release(t: &mut Table, id: u64) -> Option<(IpAddr, Arc<Activity>)> {
    let (ip, activity) = t.conns.remove(&id)?;
    if let Some(c) = t.per_ip.get_mut(&ip) {
        *c -= 1;
        if *c == 0 {
            t.per_ip.remove(&ip);
        }
    }
    Some((ip, activity))
}

/// One connection's place in the table; released when dropped (unless it was evicted, which
/// released it already).
pub struct Slot {
    counters: Arc<TcpCounters>,
    id: u64,
    activity: Arc<Activity>,
}

impl Slot {
    /// The connection read something: it is not idle.
    pub fn touch(&self) {
        self.activity.last.store(self.counters.now_us(), Ordering::Relaxed);
    }

    /// Resolves when the connection is evicted to make room for another.
    pub async fn evicted(&self) {
        self.activity.evict.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = lock(&self.counters.table);
        release(&mut t, self.id);
        self.counters.total.store(t.conns.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_idlest_connection_makes_room() {
        let c = Arc::new(TcpCounters::default());
        let a = c.take(ip("127.0.0.1"), 3, 2).unwrap();
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        let b = c.take(ip("127.0.0.2"), 3, 2).unwrap();
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        let d = c.take(ip("127.0.0.3"), 3, 2).unwrap();
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        // `a` reads something: now `b` is the idlest, and the fourth connection takes its slot.
        a.touch();
        let e = c.take(ip("127.0.0.4"), 3, 2).unwrap();
        assert_eq!((c.open(), c.evicted()), (3, 1));
        tokio::time::timeout(std::time::Duration::from_millis(1), b.evicted()).await.expect("b is told");
        drop(b); // its slot was handed over already: nothing more is released
        assert_eq!(c.open(), 3);
        // At its own limit, an address evicts its own idlest connection, not someone else's.
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        let f = c.take(ip("127.0.0.4"), 10, 1).unwrap();
        tokio::time::timeout(std::time::Duration::from_millis(1), e.evicted()).await.expect("e is told");
        assert_eq!((c.open(), c.evicted()), (3, 2));
        drop((a, d, e, f));
        assert_eq!(c.open(), 0);
        assert!(lock(&c.table).per_ip.is_empty());
    }
}
