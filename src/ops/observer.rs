//! The server's [`Observer`]: every handled packet is counted ([`Metrics::record`], the
//! serving state's per-member counters) and a sampled fraction is logged.
use std::net::IpAddr;
use std::sync::Arc;

use super::metrics::{Metrics, rcode_name};
use crate::dns::{Observer, Outcome, Transport};
use crate::serving::{NO_REGION, Serving, SteeredAnswer};
use crate::util::rng::{Random, SplitMix64, entropy_seed};

/// Counts and samples. Each worker and connection gets its own clone, with its own sampling
/// generator.
pub struct QueryObserver {
    metrics: Arc<Metrics>,
    rng: SplitMix64,
}

impl QueryObserver {
    pub fn new(metrics: Arc<Metrics>) -> QueryObserver {
        QueryObserver { metrics, rng: SplitMix64::new(entropy_seed()) }
    }
}

impl Clone for QueryObserver {
    fn clone(&self) -> Self {
        QueryObserver::new(self.metrics.clone())
    }
}

impl Observer<Serving> for QueryObserver {
    #[inline]
    fn observe(&mut self, state: &Serving, outcome: &Outcome, transport: Transport, packet: &[u8], client: IpAddr) {
        self.metrics.record(outcome, transport);
        if outcome.tsig_error {
            self.metrics.transfers.record_tsig_rejected();
        }
        if let Some(s) = outcome.steered.as_ref().filter(|_| outcome.replied) {
            state.live.count_steered(&state.config, s);
        }
        let rate = state.config.ops.log.query_sample;
        if rate > 0.0 && outcome.replied {
            // 53 random bits as a fraction in [0, 1).
            let x = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            if x < rate {
                log_query(state, outcome, transport, packet, client);
            }
        }
    }

    fn observe_transfer(&mut self, _state: &Serving, report: &crate::dns::xfr::XfrReport) {
        self.metrics.transfers.record_out(report);
    }
}

/// One sampled query at info: the resolver's address, the ECS subnet (or "-"), qname, qtype,
/// rcode, the region and the steered answer (addresses, "CNAME", "NODATA"; "-" for answers
/// from the zone file, which are the same for every client).
#[cold]
fn log_query(state: &Serving, outcome: &Outcome, transport: Transport, packet: &[u8], client: IpAddr) {
    use crate::dns::wire::{Parsed, parse};
    let (qname, ecs) = match parse(packet) {
        Parsed::Query(q) => (q.question.name.to_string(), q.edns.and_then(|e| e.ecs).map(|c| c.net())),
        Parsed::Error { question, .. } => (question.map(|q| q.name.to_string()).unwrap_or_default(), None),
        Parsed::Drop | Parsed::CookieOnly { .. } | Parsed::Signed => return,
    };
    let resolver = client.to_string();
    let ecs = ecs.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let qtype = outcome.qtype.map(|t| hickory_proto::rr::RecordType::from(t).to_string()).unwrap_or_default();
    let region = outcome
        .steered
        .and_then(|s| {
            let pool = state.config.zones.zones().get(s.zone)?.pools.pool(s.pool)?;
            Some(s.region.and_then(|r| pool.region(r)).map(|r| r.name.clone()).unwrap_or_else(|| NO_REGION.to_string()))
        })
        .unwrap_or_default();
    let answer = match outcome.steered.map(|s| s.answer) {
        Some(SteeredAnswer::Addresses(list)) => {
            list.as_slice().iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")
        }
        Some(SteeredAnswer::Cname) => "CNAME".into(),
        Some(SteeredAnswer::NoData) => "NODATA".into(),
        None => "-".into(),
    };
    let transport = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    let rcode = rcode_name(outcome.rcode);
    tracing::info!(target: "gslbd::query", %resolver, %ecs, %qname, %qtype, rcode, %region, %answer, transport,
        "query {qname} {qtype} from {resolver} (ecs {ecs}) via {transport}: {rcode} {answer} region {region}");
}
