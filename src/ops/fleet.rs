//! The fleet's hooks into operations: its metrics on `/metrics`, and a reload whenever the
//! fleet's pool-file edits change (a weight or a member changed on any node).
use std::sync::Arc;

use super::metrics::MetricsSource;
use super::reload::{Reloader, Trigger};
use crate::cluster::Fleet;

/// `gslbd_fleet_*` on every scrape.
pub struct FleetMetrics(pub Arc<Fleet>);

impl MetricsSource for FleetMetrics {
    fn render(&self, out: &mut String) {
        self.0.render_metrics(out);
    }
}

/// Reloads (files + runtime changes) each time the fleet's pool-file edits change, until the
/// fleet stops. One reload at a time; changes that arrive during one are folded into the next.
pub async fn follow_changes(fleet: Arc<Fleet>, reloader: Arc<Reloader>) {
    let mut changes = fleet.config_changes();
    drop(fleet);
    while changes.changed().await.is_ok() {
        changes.borrow_and_update();
        let report = reloader.reload(Trigger::Change).await;
        if !report.ok {
            tracing::error!(
                errors = report.errors.len(),
                "reload after a fleet change failed; the old config keeps serving"
            );
        }
    }
}
