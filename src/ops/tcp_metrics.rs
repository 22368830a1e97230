//! The TCP connection table in `/metrics`: connections open, and connections evicted to make
//! room for new ones under slot pressure (`dns::tcp`). Read only when `/metrics` is scraped.
use std::fmt::Write;
use std::sync::Arc;

use super::metrics::MetricsSource;
use crate::dns::tcp::TcpCounters;

/// The TCP counters of every listener (they share one table).
pub struct TcpMetrics(pub Arc<TcpCounters>);

impl MetricsSource for TcpMetrics {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP gslbd_tcp_connections TCP connections open.");
        let _ = writeln!(out, "# TYPE gslbd_tcp_connections gauge");
        let _ = writeln!(out, "gslbd_tcp_connections {}", self.0.open());
        let _ = writeln!(
            out,
            "# HELP gslbd_tcp_evicted_total TCP connections closed, the idlest first, to make room for new ones at \
             max_connections or max_connections_per_ip."
        );
        let _ = writeln!(out, "# TYPE gslbd_tcp_evicted_total counter");
        let _ = writeln!(out, "gslbd_tcp_evicted_total {}", self.0.evicted());
    }
}
