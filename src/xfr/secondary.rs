//! The secondary role: a zone with `primary = [...]` is loaded from its primaries by AXFR/IXFR
//! and kept in its `file` (by default under `state_dir/secondary/`), which is what the config
//! loads, so a restart serves the last good copy at once.
//!
//! ```text
//! per secondary zone: wait (SOA refresh, or retry after a failure; a NOTIFY from a primary
//! wakes it at once) ─► inbound::fetch from each primary in turn: SOA, then IXFR (AXFR when we
//! have no copy, or the IXFR does not apply) ─► the new version built and checked as a zone
//! ─► written (atomic rename) ─► Reloader::reload(Transfer): served, with the pool file's
//! pooled names overlaid.  Any failure: the old data keeps serving; TransferLog and the log say why.
//! ```
//! The copy is written as RFC 3597 generic records (`TYPEn \# len hex`): every octet as the
//! primary sent it, whatever the type. SOA expire: past it without a successful refresh the
//! zone is reported expired (log, `/status`) and still served (a gap: RFC 1035 would stop).
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::inbound::{self, Fetched, Limits};
use crate::config::ZoneTransfer;
use crate::ops::{Reloader, TransferLog, Trigger};
use crate::serving::{Serving, Shared, ZoneSignals};
use crate::zone::{Record, Signing, parse_zone};

/// The soonest a zone is refreshed again, whatever its SOA says.
const MIN_WAIT: Duration = Duration::from_secs(1);
/// The SOA timers when there is no copy yet: refresh, retry.
const NO_COPY: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(10));

/// Keeps one refresh task per secondary zone of the serving config.
pub async fn run(
    shared: Shared<Serving>,
    reloader: Arc<Reloader>,
    log: Arc<TransferLog>,
    signals: Arc<ZoneSignals>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tasks: HashMap<Name, (ZoneTransfer, tokio::task::JoinHandle<()>)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let serving = shared.load();
        let wanted: Vec<(Name, ZoneTransfer)> =
            serving.config.transfer.zones.iter().filter(|(_, t)| t.is_secondary()).cloned().collect();
        tasks.retain(|origin, (t, h)| {
            let keep = wanted.iter().any(|(o, w)| o == origin && w == t);
            if !keep {
                h.abort();
            }
            keep
        });
        for (origin, t) in wanted {
            if tasks.contains_key(&origin) {
                continue;
            }
            let zone = ZoneTask {
                origin: origin.clone(),
                settings: t.clone(),
                shared: shared.clone(),
                reloader: reloader.clone(),
                log: log.clone(),
                wake: signals.of(&origin),
            };
            tasks.insert(origin, (t, tokio::spawn(zone.run())));
        }
    }
    for (_, (_, h)) in tasks {
        h.abort();
    }
}

struct ZoneTask {
    origin: Name,
    settings: ZoneTransfer,
    shared: Shared<Serving>,
    reloader: Arc<Reloader>,
    log: Arc<TransferLog>,
    wake: Arc<Notify>,
}

/// The copy a secondary holds: its SOA and every other record.
struct Copy {
    soa: Record,
    records: Vec<Record>,
}

impl ZoneTask {
    async fn run(self) {
        let mut copy = self.read_copy();
        let mut next = Instant::now();
        let mut last_ok = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.wake.notified() => {}
            }
            let (refresh, retry, expire) =
                copy.as_ref().map(|c| timers(&c.soa)).unwrap_or((NO_COPY.0, NO_COPY.1, None));
            match self.refresh(&mut copy).await {
                Ok(()) => {
                    last_ok = Instant::now();
                    next = Instant::now() + refresh;
                }
                Err(()) => {
                    next = Instant::now() + retry;
                    if expire.is_some_and(|e| last_ok.elapsed() > e) {
                        tracing::error!(zone = %self.origin, "the zone expired: no primary answered within the SOA expire time; the old data is still served");
                    }
                }
            }
        }
    }

    /// The copy on disk, as the config loads it (no pools), if there is one.
    fn read_copy(&self) -> Option<Copy> {
        let zone = crate::zone::load_zone(&self.origin, &self.settings.file).ok()?;
        Some(Copy { soa: zone.soa_record()?, records: zone.transfer_records() })
    }

    /// One refresh from the primaries in turn; `Err` when none gave a good answer.
    async fn refresh(&self, copy: &mut Option<Copy>) -> Result<(), ()> {
        let (key, limits) = {
            let s = self.shared.load();
            let t = &s.config.transfer.settings;
            let limits = Limits {
                max_bytes: t.max_in_bytes,
                max_time: Duration::from_secs(t.max_in_seconds),
                ..Limits::default()
            };
            (self.settings.primary_key.as_ref().and_then(|k| s.config.transfer.keys.get(k)).cloned(), limits)
        };
        let zone = self.origin.to_string();
        for primary in &self.settings.primary {
            let p = primary.to_string();
            let ours = copy.as_ref().map(|c| &c.soa);
            let fetched = inbound::fetch(*primary, &self.origin, key.as_ref(), ours, limits).await;
            let (kind, new) = match fetched {
                Ok(Fetched::UpToDate(_)) => return Ok(()),
                Ok(Fetched::Full { soa, records }) => ("axfr", Copy { soa, records }),
                Ok(Fetched::Incremental { soa, steps }) => {
                    let Some(c) = copy.as_ref() else { continue };
                    match inbound::apply(c.records.clone(), serial(&c.soa), &steps) {
                        Ok(records) => ("ixfr", Copy { soa, records }),
                        Err(e) => {
                            // The copies differ: the whole zone instead.
                            self.log.record_in(
                                &zone,
                                &p,
                                None,
                                "ixfr",
                                Err(format!("IXFR does not apply ({e}); trying AXFR")),
                            );
                            match inbound::fetch(*primary, &self.origin, key.as_ref(), None, limits).await {
                                Ok(Fetched::Full { soa, records }) => ("axfr", Copy { soa, records }),
                                Ok(_) => continue,
                                Err(e) => {
                                    self.log.record_in(&zone, &p, None, "axfr", Err(e));
                                    continue;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    self.log.record_in(&zone, &p, None, "", Err(e));
                    continue;
                }
            };
            let serial = serial(&new.soa);
            let count = new.records.len() + 1;
            if let Err(e) = self.install(&new).await {
                self.log.record_in(&zone, &p, Some(serial), kind, Err(e));
                continue;
            }
            self.log.record_in(&zone, &p, Some(serial), kind, Ok(count));
            *copy = Some(new);
            return Ok(());
        }
        Err(())
    }

    /// Checks the new version as a zone, writes it over the copy and reloads.
    async fn install(&self, new: &Copy) -> Result<(), String> {
        let text = zone_text(new);
        let file = self.settings.file.clone();
        let origin = self.origin.clone();
        let checked = tokio::task::spawn_blocking(move || -> Result<(), String> {
            if let Err(errors) = parse_zone(text.as_bytes(), &file, &origin, Signing::None) {
                let first: Vec<String> = errors.iter().take(3).map(|e| e.message.clone()).collect();
                return Err(format!("the transferred zone is not valid: {}", first.join("; ")));
            }
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            crate::util::fs::write_atomic(&file, text.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", file.display()))
        })
        .await
        .map_err(|e| format!("the check task failed: {e}"))?;
        checked?;
        let report = self.reloader.reload(Trigger::Transfer).await;
        let problem = self
            .shared
            .load()
            .config
            .zones
            .problems()
            .iter()
            .find(|p| p.origin == self.origin)
            .map(|p| p.errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "));
        match (report.published, problem) {
            (true, None) => Ok(()),
            (_, Some(p)) => Err(format!("the new copy does not load: {p}")),
            (false, None) => Err("the reload after the transfer failed (see the reload report)".into()),
        }
    }
}

/// SOA refresh, retry and expire, the first two at least [`MIN_WAIT`].
fn timers(soa: &Record) -> (Duration, Duration, Option<Duration>) {
    let at = soa.rdata.len().saturating_sub(16);
    let field = |i: usize| {
        soa.rdata.get(at + 4 * i..at + 4 * i + 4).map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    };
    let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d)).max(MIN_WAIT);
    (secs(field(0), 3600), secs(field(1), 600), field(2).map(Duration::from_secs))
}

fn serial(soa: &Record) -> u32 {
    crate::zone::master::wire::soa_serial(&soa.rdata).unwrap_or(0)
}

/// The copy as a master file: one RFC 3597 generic record per line, SOA first.
fn zone_text(c: &Copy) -> String {
    let mut out = String::with_capacity(64 * (c.records.len() + 1));
    out.push_str("; written by gslbd after a zone transfer from the primary; replaced on the next one\n");
    for r in std::iter::once(&c.soa).chain(&c.records) {
        let _ = write!(
            out,
            "{} {} IN TYPE{} \\# {}",
            crate::dnssec::name::to_text(&r.owner),
            r.ttl,
            r.rtype,
            r.rdata.len()
        );
        if !r.rdata.is_empty() {
            out.push(' ');
            out.push_str(&data_encoding::HEXUPPER.encode(&r.rdata));
        }
        out.push('\n');
    }
    out
}

/// Whether `path` holds a copy (for `/status`).
pub fn has_copy(path: &Path) -> bool {
    path.exists()
}
