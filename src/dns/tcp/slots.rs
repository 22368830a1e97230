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
//!
//! Idle time and lifetime are enforced the same way: each listener sweeps the table a few
//! times per idle timeout ([`TcpCounters::sweep`]) and tells the connections past either limit
//! to close, so no connection keeps a timer of its own while it waits for input (a timer entry
//! made and cancelled on each wait was the largest part of tokio's work per short connection).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

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

/// What a connection shares with the table: when it was accepted and last read, and the signal
/// that tells it to close (with why).
struct Activity {
    /// Microseconds after `TcpCounters::epoch`: when it last read, or began to wait for input.
    last: AtomicU64,
    born: u64,
    /// Waiting for input (idle time counts only then, as a timer on each wait would).
    waiting: AtomicBool,
    /// [`NOT_ENDED`], or an [`Ending`] as `u8`; set once, before `evict` is notified.
    ending: AtomicU8,
    evict: Notify,
}

const NOT_ENDED: u8 = 0;

/// Why a connection was told to close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It was the idlest when another connection needed its slot.
    Evicted = 1,
    /// It read nothing for the idle timeout.
    Idle = 2,
    /// It reached its lifetime.
    Lifetime = 3,
}

impl Ending {
    fn from_u8(v: u8) -> Option<Ending> {
        match v {
            1 => Some(Ending::Evicted),
            2 => Some(Ending::Idle),
            3 => Some(Ending::Lifetime),
            _ => None,
        }
    }
}

impl Activity {
    /// Sets the ending unless one is set; true when this call set it.
    fn end(&self, why: Ending) -> bool {
        self.ending.compare_exchange(NOT_ENDED, why as u8, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
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
        let activity = Arc::new(Activity {
            last: AtomicU64::new(now),
            born: now,
            waiting: AtomicBool::new(false),
            ending: AtomicU8::new(NOT_ENDED),
            evict: Notify::new(),
        });
        t.conns.insert(id, (ip, activity.clone()));
        *t.per_ip.entry(ip).or_insert(0) += 1;
        self.total.store(t.conns.len(), Ordering::Relaxed);
        Some(Slot { counters: self.clone(), id, activity })
    }

    /// Tells each connection that has waited for input for `idle`, or has been open for `lifetime`,
    /// to close (each once); returns how many were told. Called by every listener a few times
    /// per idle timeout ([`sweep_every`]), so a connection ends at most that much after its limit.
    pub fn sweep(&self, idle: Duration, lifetime: Duration) -> usize {
        let now = self.now_us();
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let (idle, lifetime) = (us(idle), us(lifetime));
        let t = lock(&self.table);
        let mut told = 0;
        for (_, a) in t.conns.values() {
            let why = if now.saturating_sub(a.born) >= lifetime {
                Ending::Lifetime
            } else if a.waiting.load(Ordering::Acquire) && now.saturating_sub(a.last.load(Ordering::Relaxed)) >= idle {
                Ending::Idle
            } else {
                continue;
            };
            if a.end(why) {
                a.evict.notify_one();
                told += 1;
            }
        }
        told
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
            // Already told to close (idle or at its lifetime) or not: it was evicted now.
            activity.ending.store(Ending::Evicted as u8, Ordering::Release);
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
    /// The connection read something: it is not idle. An idle mark a sweep made as the input
    /// arrived is taken back (the connection then sees a signal with no [`Slot::ending`]).
    pub fn touch(&self) {
        self.activity.last.store(self.counters.now_us(), Ordering::Relaxed);
        let idle = Ending::Idle as u8;
        let _ = self.activity.ending.compare_exchange(idle, NOT_ENDED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The connection begins (`true`) or ends a wait for input: idle time is the time spent
    /// in one wait, as with a timer per wait.
    pub fn waiting(&self, waiting: bool) {
        if waiting {
            self.activity.last.store(self.counters.now_us(), Ordering::Relaxed);
        }
        self.activity.waiting.store(waiting, Ordering::Release);
    }

    /// Resolves when the connection is told to close: evicted to make room for another, idle,
    /// or at its lifetime ([`Slot::ending`] says which).
    pub async fn evicted(&self) {
        self.activity.evict.notified().await;
    }

    /// Why the connection was told to close; `None` while it was not.
    pub fn ending(&self) -> Option<Ending> {
        Ending::from_u8(self.activity.ending.load(Ordering::Acquire))
    }
}

/// How often a listener sweeps the connection table: an eighth of the shorter of the idle
/// timeout and the lifetime, between 10 ms and 1 s (so the default 10 s idle timeout closes a
/// silent connection within 10–11 s).
pub fn sweep_every(idle: Duration, lifetime: Duration) -> Duration {
    (idle.min(lifetime) / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
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

    #[tokio::test(start_paused = true)]
    async fn sweeps_tell_idle_and_old_connections_once() {
        let ms = std::time::Duration::from_millis;
        let c = Arc::new(TcpCounters::default());
        let old = c.take(ip("127.0.0.1"), 10, 10).unwrap();
        tokio::time::advance(ms(300)).await;
        let quiet = c.take(ip("127.0.0.2"), 10, 10).unwrap();
        let busy = c.take(ip("127.0.0.3"), 10, 10).unwrap();
        let writing = c.take(ip("127.0.0.5"), 10, 10).unwrap();
        quiet.waiting(true);
        busy.waiting(true);
        tokio::time::advance(ms(150)).await;
        busy.touch();
        // idle 100 ms, lifetime 400 ms: `quiet` waited 150 ms, `busy` read 0 ms ago, `writing`
        // has not waited for input at all (idle time is time spent waiting), `old` is 450 ms old.
        assert_eq!(c.sweep(ms(100), ms(400)), 2);
        assert_eq!((old.ending(), quiet.ending(), busy.ending()), (Some(Ending::Lifetime), Some(Ending::Idle), None));
        assert_eq!(writing.ending(), None);
        // A mark made as input arrived is taken back by the read.
        tokio::time::advance(ms(150)).await;
        assert_eq!(c.sweep(ms(100), ms(400)), 1);
        assert_eq!(busy.ending(), Some(Ending::Idle));
        busy.touch();
        assert_eq!(busy.ending(), None);
        tokio::time::timeout(ms(1), busy.evicted()).await.expect("its signal was sent");
        drop(writing);
        tokio::time::timeout(ms(1), old.evicted()).await.expect("old is told");
        tokio::time::timeout(ms(1), quiet.evicted()).await.expect("quiet is told");
        // Told once: they stay in the table until they close, and the next sweep passes them by
        // (`busy` is no longer waiting).
        busy.waiting(false);
        assert_eq!(c.sweep(ms(100), ms(400)), 0);
        assert_eq!((c.open(), c.evicted()), (3, 0));
        // An idle connection evicted under pressure is told it was evicted.
        let next = c.take(ip("127.0.0.4"), 3, 10).unwrap();
        assert_eq!(c.evicted(), 1);
        let told = [&old, &quiet, &busy].iter().filter(|s| s.ending() == Some(Ending::Evicted)).count();
        assert_eq!(told, 1);
        drop((old, quiet, busy, next));
        assert_eq!(c.open(), 0);
        assert_eq!(sweep_every(ms(300), ms(500)), ms(37) + std::time::Duration::from_micros(500));
        assert_eq!(sweep_every(std::time::Duration::from_secs(10), std::time::Duration::from_secs(120)), ms(1000));
        assert_eq!(sweep_every(ms(0), ms(500)), ms(10));
    }
}
