//! The ECS scope of one decision as it is built: the largest prefix that mattered and why,
//! with the GeoIP block kept apart (it alone may exceed the source prefix, RFC 7871 §7.2.1)
//! and the state that picks which GeoIP block applies (every region of the asked pool usable);
//! and the prefix arithmetic the decision's scope is made of.
use std::net::IpAddr;

use ipnet::IpNet;

use super::decide::Client;

/// Why the ECS scope has its value: the largest contribution (no heap, so it is always kept).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ScopeWhy {
    /// Location did not matter.
    #[default]
    Nothing,
    /// The client is inside this mapped network.
    MapNetwork(IpNet),
    /// The client is outside this mapped network; the scope must not reach into it.
    MapNonMatch(IpNet),
    /// The GeoIP network's country, continent or coordinates decided.
    GeoNetwork,
    /// Sticky hashing granularity.
    Sticky,
    /// Load shedding hashes the client at the sticky granularity.
    Shed,
    /// The client's autonomous system (an `asns` map) decided; the ASN database's network.
    AsnNetwork(IpNet),
    /// RTTs posted by clients of the /24 (/56) decided (`latency_client_samples`).
    ClientSamples,
}

#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Scope {
    pub(super) value: u8,
    pub(super) why: ScopeWhy,
    /// The GeoIP block's prefix when the GeoIP location mattered: it is not capped at the
    /// source prefix (a longer one says the source block holds two answers, RFC 7871 §7.2.1).
    pub(super) geo: u8,
    /// Every region of the asked pool is usable: the wider GeoIP block of that state applies.
    pub(super) all_up: bool,
    /// This is the asked pool (the all-up block was looked up for it, not for a fallback).
    pub(super) asked: bool,
}

impl Scope {
    pub(super) fn need(&mut self, prefix: u8, why: ScopeWhy) {
        if why == ScopeWhy::GeoNetwork {
            self.geo = self.geo.max(prefix);
        }
        if prefix > self.value {
            self.value = prefix;
            self.why = why;
        }
    }

    /// The GeoIP location mattered.
    pub(super) fn need_geo(&mut self, client: &Client) {
        self.need(client.geo_prefix_when(self.all_up), ScopeWhy::GeoNetwork);
    }

    /// The scope to return to a client with source prefix `cap`.
    pub(super) fn capped(&self, cap: u8) -> u8 {
        self.value.min(cap).max(self.geo)
    }
}

/// A network's prefix in the client's family (an IPv4 client found in an IPv4-mapped IPv6
/// tree has the ::ffff:0:0/96 part dropped; a network of the other family claims the whole
/// source prefix).
pub(super) fn family_prefix(client: IpNet, n: IpNet) -> u8 {
    match (client, n) {
        (IpNet::V4(_), IpNet::V4(n)) => n.prefix_len(),
        (IpNet::V6(_), IpNet::V6(n)) => n.prefix_len(),
        (IpNet::V4(_), IpNet::V6(n)) => n.prefix_len().saturating_sub(96),
        (IpNet::V6(s), IpNet::V4(_)) => s.prefix_len(),
    }
}

/// Number of leading bits two same-family addresses share.
pub(super) fn common_prefix(a: IpAddr, b: IpAddr) -> Option<u8> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Some((u32::from(a) ^ u32::from(b)).leading_zeros() as u8),
        (IpAddr::V6(a), IpAddr::V6(b)) => Some((u128::from(a) ^ u128::from(b)).leading_zeros() as u8),
        _ => None,
    }
}
