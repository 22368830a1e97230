//! The front end's one outward report: every packet it handled, with its [`Outcome`], goes to
//! an [`Observer`] that the caller injects (the server's counts metrics and samples the query
//! log; tools and tests observe nothing).
use std::net::IpAddr;

use super::{Outcome, Transport};

/// Told about every packet a transport handled, after the reply was made and before it is
/// sent. Runs on the query path: an implementation must not lock, and must not allocate on the
/// common path. Each worker thread and TCP connection gets its own clone.
pub trait Observer<S>: Clone + Send + 'static {
    fn observe(&mut self, state: &S, outcome: &Outcome, transport: Transport, packet: &[u8], client: IpAddr);
    /// Told about every zone transfer request over TCP (off the UDP path; may lock and log).
    fn observe_transfer(&mut self, _state: &S, _report: &super::xfr::XfrReport) {}
}

/// Observes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl<S> Observer<S> for NoObserver {
    #[inline]
    fn observe(&mut self, _: &S, _: &Outcome, _: Transport, _: &[u8], _: IpAddr) {}
}
