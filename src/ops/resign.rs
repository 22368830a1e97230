//! Keeping an online-signed zone's signatures fresh, in the background, never on the query
//! path:
//!
//! ```text
//! every second: the earliest `Signer::next_due` of the serving zones has come ─► Reloader::reload(Resign)
//!     (the reload reads the keys, starts a ZSK rollover that is due, and signs again only the RRsets
//!      whose signatures are due or were made by a key that no longer signs: config::load_after)
//! every refresh/4 (1 s to 1 h): each signer's caches ─► Signer::refresh on a blocking thread
//!     (pooled answer sets and NSEC records expiring within `refresh`, or made by an old key)
//! ```
//! A reload that does not move the due time (the config has errors and the zone is kept)
//! is retried after a back-off, not every second; the kept zone itself is signed again by the
//! reload (config's `resign_kept`).
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::reload::{Reloader, Trigger};
use crate::serving::{Serving, Shared};
use crate::util::clock::unix_now;

/// After a re-signing reload that left the due time where it was, wait this long.
const BACKOFF: Duration = Duration::from_secs(30);

/// The earliest moment a serving zone needs signing again, and the shortest cache refresh
/// interval among the signed zones (`None`: no zone is signed online).
fn plan(serving: &Serving) -> Option<(Option<u64>, Duration)> {
    let signers: Vec<_> = serving.config.zones.zones().iter().filter_map(|z| z.signer.clone()).collect();
    if signers.is_empty() {
        return None;
    }
    let due = signers.iter().filter_map(|s| s.next_due()).min();
    let refresh = signers.iter().map(|s| s.params.refresh).min().unwrap_or(3600);
    Some((due, Duration::from_secs(u64::from(refresh / 4).clamp(1, 3600))))
}

/// Runs until `stop` turns true.
pub async fn run_resigner(reloader: Arc<Reloader>, shared: Shared<Serving>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_refresh = tokio::time::Instant::now();
    let mut backoff_until: Option<(tokio::time::Instant, Option<u64>)> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let serving = shared.load_full();
        let Some((due, refresh_every)) = plan(&serving) else { continue };
        let now = unix_now();
        if let Some(d) = due.filter(|d| *d <= now) {
            let waiting =
                backoff_until.is_some_and(|(until, same)| tokio::time::Instant::now() < until && same == Some(d));
            if !waiting {
                let report = reloader.reload(Trigger::Resign).await;
                let after = plan(&shared.load()).and_then(|(d, _)| d);
                tracing::info!(generation = report.generation, ok = report.ok, "re-signed");
                backoff_until = (after == Some(d)).then(|| (tokio::time::Instant::now() + BACKOFF, after));
            }
        }
        if last_refresh.elapsed() >= refresh_every {
            last_refresh = tokio::time::Instant::now();
            let serving = shared.load_full();
            let done = tokio::task::spawn_blocking(move || {
                let now = unix_now();
                serving
                    .config
                    .zones
                    .zones()
                    .iter()
                    .filter_map(|z| z.signer.as_deref())
                    .map(|s| s.refresh(now))
                    .sum::<usize>()
            })
            .await
            .unwrap_or(0);
            if done > 0 {
                tracing::info!(entries = done, "cached signatures refreshed");
            }
        }
    }
}
