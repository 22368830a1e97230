//! What one query came to, in a few words: filled in by [`super::respond_with`] and read by
//! the metrics and the sampled query log. Plain `Copy` data, no heap, so the transports can
//! keep one per worker and overwrite it for every packet.
use crate::serving::Steered;

/// The summary of one query and its reply.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// False when the packet was dropped (no reply sent): a runt, a response, …
    pub replied: bool,
    /// The full 12-bit rcode of the reply.
    pub rcode: u16,
    /// The question's type; `None` when the packet had no readable question.
    pub qtype: Option<u16>,
    /// The query carried a (well-formed) EDNS Client Subnet option.
    pub ecs: bool,
    /// The reply was cut to fit and has TC set.
    pub truncated: bool,
    /// For a pooled name: what the steering decided.
    pub steered: Option<Steered>,
    /// DO=1 and a signed zone: the reply carries RRSIGs (and denial proofs).
    pub signed: bool,
    /// Signed records taken from an online signer's caches for this reply.
    pub sig_cache_hits: u8,
    /// Signed records an online signer made for this reply (cache misses).
    pub sig_made: u8,
}
