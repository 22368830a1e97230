//! Wake-ups from the query path to the transfer services: a NOTIFY from a secondary zone's
//! primary (RFC 1996) wakes that zone's refresh task. One per process, shared by every
//! snapshot; only NOTIFY messages touch it (never an ordinary query).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hickory_proto::rr::Name;
use tokio::sync::Notify;

use crate::util::lock;

#[derive(Default)]
pub struct ZoneSignals {
    zones: Mutex<HashMap<Name, Arc<Notify>>>,
}

impl ZoneSignals {
    pub fn new() -> Arc<ZoneSignals> {
        Arc::new(ZoneSignals::default())
    }
    /// The wake-up of zone `origin` (made on first use).
    pub fn of(&self, origin: &Name) -> Arc<Notify> {
        lock(&self.zones).entry(origin.clone()).or_default().clone()
    }
    /// Wakes the task of zone `origin` (it refreshes once, however many NOTIFYs came).
    pub fn wake(&self, origin: &Name) {
        self.of(origin).notify_one();
    }
}
