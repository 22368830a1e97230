//! NOTIFY (RFC 1996) to each zone's `notify` secondaries whenever a reload changes the zone's
//! serial. Each NOTIFY goes over UDP (signed with `notify_key` when set) and is retried until
//! the secondary answers: 5 tries, 1, 2, 4 and 8 s apart. A newer serial supersedes the retries
//! of an older one. The answers go to the `TransferLog` (`/status`, `/metrics`) and the log.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio::sync::watch;

use super::client::{self, OPCODE_NOTIFY};
use crate::ops::{NotifyEvent, TransferLog};
use crate::serving::{Serving, Shared};
use crate::tsig::Key;
use crate::tsig::message::{Signer, Verifier};
use crate::util::clock::unix_now;
use crate::util::rng::{Random, SplitMix64, entropy_seed};
use crate::zone::Record;

/// How often the serving snapshot is checked for a new one.
const TICK: Duration = Duration::from_millis(50);
/// Tries per secondary, and the first wait for an answer (doubled after each try).
const TRIES: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// Watches the serving snapshot and notifies on every serial change (not at start: the
/// secondaries ask on their own timers then).
pub async fn run(shared: Shared<Serving>, log: Arc<TransferLog>, mut stop: watch::Receiver<bool>) {
    let mut serials: HashMap<Name, u32> = serials(&shared.load());
    let mut last = Arc::as_ptr(&shared.load_full()) as usize;
    let mut sending: HashMap<Name, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut rng = SplitMix64::new(entropy_seed());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let serving = shared.load_full();
        if Arc::as_ptr(&serving) as usize == last {
            continue;
        }
        last = Arc::as_ptr(&serving) as usize;
        let snap = &serving.config;
        for zone in snap.zones.zones() {
            let serial = zone.source.serial;
            if serials.insert(zone.origin.clone(), serial) == Some(serial) {
                continue;
            }
            let Some(t) = snap.transfer.zone(&zone.origin).filter(|t| !t.notify.is_empty()) else { continue };
            let Some(soa) = zone.soa_record() else { continue };
            let key = t.notify_key.as_ref().and_then(|k| snap.transfer.keys.get(k)).cloned();
            if let Some(old) = sending.remove(&zone.origin) {
                old.abort(); // a newer serial: the old retries are moot
            }
            let job = Notify { zone: zone.origin.clone(), serial, soa, key, log: log.clone() };
            let targets = t.notify.clone();
            let seed = rng.next_u64();
            sending.insert(zone.origin.clone(), tokio::spawn(job.send_all(targets, seed)));
        }
    }
    for (_, h) in sending {
        h.abort();
    }
}

fn serials(serving: &Serving) -> HashMap<Name, u32> {
    serving.config.zones.zones().iter().map(|z| (z.origin.clone(), z.source.serial)).collect()
}

struct Notify {
    zone: Name,
    serial: u32,
    soa: Record,
    key: Option<Key>,
    log: Arc<TransferLog>,
}

impl Notify {
    async fn send_all(self, targets: Vec<SocketAddr>, seed: u64) {
        let me = Arc::new(self);
        let mut rng = SplitMix64::new(seed);
        let mut set = tokio::task::JoinSet::new();
        for t in targets {
            let (me, id) = (me.clone(), rng.next_u64() as u16);
            set.spawn(async move { me.send_one(t, id).await });
        }
        while set.join_next().await.is_some() {}
    }

    async fn send_one(&self, to: SocketAddr, id: u16) {
        let mut wait = FIRST_WAIT;
        let mut answer = "no answer".to_string();
        let mut attempts = 0;
        for _ in 0..TRIES {
            attempts += 1;
            let mut msg = client::request(id, OPCODE_NOTIFY, &self.zone, 6, Some(&self.soa), None);
            let signer = self.key.clone().map(|k| {
                let mut s = Signer::new(k, &[], unix_now());
                s.sign(&mut msg);
                s
            });
            match client::udp_exchange(to, &msg, wait).await {
                Ok(reply) => {
                    answer = match (client::reply_header(&reply), &signer) {
                        (Some((_, true, OPCODE_NOTIFY, rcode)), None) => client::rcode_name(rcode),
                        (Some((_, true, OPCODE_NOTIFY, rcode)), Some(s)) => match Verifier::new(s).check(&reply) {
                            Ok(_) => client::rcode_name(rcode),
                            Err(e) => format!("{} (reply TSIG: {e:?})", client::rcode_name(rcode)),
                        },
                        _ => "a reply that is not a NOTIFY response".to_string(),
                    };
                    break;
                }
                Err(e) => {
                    answer = e;
                    wait *= 2;
                }
            }
        }
        let zone = self.zone.to_string();
        if answer == "NOERROR" {
            tracing::info!(zone = %zone, secondary = %to, serial = self.serial, attempts, "NOTIFY answered");
        } else {
            tracing::warn!(zone = %zone, secondary = %to, serial = self.serial, attempts, answer = %answer, "NOTIFY not accepted");
        }
        let ev = NotifyEvent { at_unix: unix_now(), secondary: to.to_string(), serial: self.serial, answer, attempts };
        self.log.record_notify(&zone, ev);
    }
}
