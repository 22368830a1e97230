//! What zone transfers did, for `/status`, `/metrics` and the log: per zone the last transfer
//! out (to a secondary) and in (from a primary), the secondaries notified with their answers,
//! and counters. Written by the TCP observer (transfers out), the NOTIFY sender and the
//! secondary refresh tasks; read at scrape time. Never touched by the UDP path.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::metrics::{MetricsSource, esc, family};
use crate::dns::xfr::{XfrReport, XfrResult};
use crate::util::clock::unix_now;
use crate::util::lock;

/// One transfer, as `/status` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TransferEvent {
    pub at_unix: u64,
    /// The secondary (out) or the primary (in).
    pub peer: String,
    /// axfr, ixfr, ixfr-as-axfr, ixfr-up-to-date; refused, badkey, badsig, badtime, formerr; or an error.
    pub result: String,
    pub serial: Option<u32>,
    pub key: Option<String>,
    pub records: usize,
}

/// A NOTIFY sent to one secondary, and what it answered.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotifyEvent {
    pub at_unix: u64,
    pub secondary: String,
    pub serial: u32,
    /// NOERROR, REFUSED, NOTAUTH, … or "no answer" after every retry.
    pub answer: String,
    pub attempts: u32,
}

/// The transfer state of one zone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ZoneTransfers {
    pub last_out: Option<TransferEvent>,
    pub last_in: Option<TransferEvent>,
    /// The last failed transfer in (cleared by a good one), with its error.
    pub last_in_error: Option<TransferEvent>,
    pub notified: BTreeMap<String, NotifyEvent>,
}

#[derive(Default)]
struct Inner {
    zones: BTreeMap<String, ZoneTransfers>,
    /// (direction, zone, result) → count.
    counts: BTreeMap<(&'static str, String, String), u64>,
    tsig_rejected: u64,
}

/// Shared by the observer, the NOTIFY sender and the secondary tasks (one per process).
#[derive(Default)]
pub struct TransferLog {
    inner: Mutex<Inner>,
}

impl TransferLog {
    /// A transfer request answered over TCP (or refused): logged and counted.
    pub fn record_out(&self, r: &XfrReport) {
        let (result, serial, records) = match &r.result {
            XfrResult::Sent { kind, serial, records, .. } => (kind.as_str().to_string(), Some(*serial), *records),
            XfrResult::Refused => ("refused".to_string(), None, 0),
            XfrResult::BadTsig(e) => (tsig_error_name(*e).to_string(), None, 0),
            XfrResult::FormErr => ("formerr".to_string(), None, 0),
        };
        let zone = r.zone.to_string();
        let key = r.key.as_ref().map(|k| k.to_string());
        match &r.result {
            XfrResult::Sent { messages, bytes, .. } => tracing::info!(
                zone = %zone, client = %r.client, key = ?key, kind = %result, serial, records, messages, bytes,
                "zone transfer out"
            ),
            _ => {
                tracing::warn!(zone = %zone, client = %r.client, key = ?key, qtype = %r.qtype, result = %result, "zone transfer refused")
            }
        }
        let ev = TransferEvent {
            at_unix: unix_now(),
            peer: r.client.to_string(),
            result: result.clone(),
            serial,
            key,
            records,
        };
        let mut g = lock(&self.inner);
        if matches!(r.result, XfrResult::BadTsig(_)) {
            g.tsig_rejected += 1;
        }
        *g.counts.entry(("out", zone.clone(), result)).or_default() += 1;
        g.zones.entry(zone).or_default().last_out = Some(ev);
    }

    /// A query (not a transfer) whose TSIG was rejected.
    pub fn record_tsig_rejected(&self) {
        lock(&self.inner).tsig_rejected += 1;
    }

    /// A transfer in from a primary: `Ok(records)` or the error; logged and counted.
    pub fn record_in(
        &self,
        zone: &str,
        primary: &str,
        serial: Option<u32>,
        kind: &str,
        outcome: Result<usize, String>,
    ) {
        let mut g = lock(&self.inner);
        let z = g.zones.entry(zone.to_string()).or_default();
        let (result, records) = match &outcome {
            Ok(n) => (kind.to_string(), *n),
            Err(e) => (e.clone(), 0),
        };
        let ev = TransferEvent { at_unix: unix_now(), peer: primary.to_string(), result, serial, key: None, records };
        let label = match &outcome {
            Ok(_) => {
                tracing::info!(zone, primary, serial, kind, records, "zone transfer in");
                z.last_in = Some(ev);
                z.last_in_error = None;
                kind.to_string()
            }
            Err(e) => {
                tracing::warn!(zone, primary, error = %e, "zone transfer in failed; the data served before stays");
                z.last_in_error = Some(ev);
                "error".to_string()
            }
        };
        *g.counts.entry(("in", zone.to_string(), label)).or_default() += 1;
    }

    /// The answer (or silence) of a secondary to a NOTIFY.
    pub fn record_notify(&self, zone: &str, ev: NotifyEvent) {
        let label = if ev.answer == "NOERROR" { "ok" } else { "failed" };
        let mut g = lock(&self.inner);
        *g.counts.entry(("notify", zone.to_string(), label.to_string())).or_default() += 1;
        g.zones.entry(zone.to_string()).or_default().notified.insert(ev.secondary.clone(), ev);
    }

    /// Every zone's state (for `/status`).
    pub fn zones(&self) -> BTreeMap<String, ZoneTransfers> {
        lock(&self.inner).zones.clone()
    }

    /// The count for (direction, zone, result).
    pub fn count(&self, direction: &str, zone: &str, result: &str) -> u64 {
        let g = lock(&self.inner);
        g.counts.iter().filter(|((d, z, r), _)| *d == direction && z == zone && r == result).map(|(_, n)| *n).sum()
    }
}

pub fn tsig_error_name(e: u16) -> &'static str {
    match e {
        16 => "badsig",
        17 => "badkey",
        18 => "badtime",
        _ => "tsig-error",
    }
}

impl MetricsSource for TransferLog {
    fn render(&self, out: &mut String) {
        let g = lock(&self.inner);
        family(
            out,
            "gslbd_zone_transfers_total",
            "counter",
            "Zone transfers by direction (out: to secondaries, in: from primaries, notify: NOTIFY sent), zone and result.",
        );
        for ((dir, zone, result), n) in &g.counts {
            let _ = writeln!(
                out,
                "gslbd_zone_transfers_total{{direction=\"{dir}\",zone=\"{}\",result=\"{}\"}} {n}",
                esc(zone),
                esc(result)
            );
        }
        family(
            out,
            "gslbd_tsig_rejected_total",
            "counter",
            "Requests whose TSIG was rejected (NOTAUTH with BADKEY, BADSIG or BADTIME).",
        );
        let _ = writeln!(out, "gslbd_tsig_rejected_total {}", g.tsig_rejected);
        family(
            out,
            "gslbd_zone_transfer_in_failing",
            "gauge",
            "1 when the last transfer in of a secondary zone failed (the data served before stays).",
        );
        for (zone, z) in &g.zones {
            if z.last_in.is_some() || z.last_in_error.is_some() {
                let _ = writeln!(
                    out,
                    "gslbd_zone_transfer_in_failing{{zone=\"{}\"}} {}",
                    esc(zone),
                    u8::from(z.last_in_error.is_some())
                );
            }
        }
    }
}

/// One zone's transfer state in `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneTransferJson {
    pub origin: String,
    /// "primary" (served from its file) or "secondary" (transferred from `primaries`).
    pub role: &'static str,
    /// The serial served (`null`: not served, e.g. a secondary not transferred yet).
    pub serial: Option<u32>,
    /// Versions held for IXFR, and the oldest serial IXFR can start from.
    pub journal: usize,
    pub journal_oldest: Option<u32>,
    pub primaries: Vec<String>,
    pub notify: Vec<String>,
    #[serde(flatten)]
    pub state: ZoneTransfers,
}

/// Every configured zone's transfer state (for `/status`).
pub fn status_json(snap: &crate::config::Snapshot, log: &TransferLog) -> Vec<ZoneTransferJson> {
    let mut states = log.zones();
    snap.transfer
        .zones
        .iter()
        .map(|(origin, t)| {
            let zone = snap.zones.get(origin);
            ZoneTransferJson {
                origin: origin.to_string(),
                role: if t.is_secondary() { "secondary" } else { "primary" },
                serial: zone.map(|z| z.source.serial),
                journal: zone.map_or(0, |z| z.journal.len()),
                journal_oldest: zone.and_then(|z| z.journal.oldest_serial()),
                primaries: t.primary.iter().map(|a| a.to_string()).collect(),
                notify: t.notify.iter().map(|a| a.to_string()).collect(),
                state: states.remove(&origin.to_string()).unwrap_or_default(),
            }
        })
        .collect()
}
