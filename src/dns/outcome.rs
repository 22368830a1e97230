//! What one query came to, in a few words: filled in by [`super::respond_with`] and read by
//! the metrics and the sampled query log. Plain `Copy` data, no heap, so the transports can
//! keep one per worker and overwrite it for every packet.
use crate::cookie::Decision;
use crate::serving::Steered;

/// The summary of one query and its reply.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// False when the packet was dropped (no reply sent); `drop` says why.
    pub replied: bool,
    /// Why no reply was sent (meaningful only when `replied` is false).
    pub drop: DropReason,
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
    /// The DNS cookie decision, when cookies are on and the query carried a COOKIE option:
    /// a valid server cookie exempts the reply from RRL; a client cookie turns a slip into
    /// BADCOOKIE ([`crate::dns::cookies::badcookie_in_place`]).
    pub cookie: Option<Decision>,
    /// The query's OPT had the DO bit (copied into a reply rewritten after the fact).
    pub dnssec_ok: bool,
    /// DO=1 and a signed zone: the reply carries RRSIGs (and denial proofs).
    pub signed: bool,
    /// Signed records taken from an online signer's caches for this reply.
    pub sig_cache_hits: u8,
    /// Signed records an online signer made for this reply (cache misses).
    pub sig_made: u8,
}

/// Why a received packet got no reply. Every packet a transport reads is counted either as
/// answered (by rcode) or as dropped for one of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DropReason {
    /// Not a readable DNS message: shorter than a header.
    #[default]
    Malformed,
    /// A UDP datagram longer than the receive buffer (no real query is that long).
    Oversize,
    /// Response rate limiting dropped the reply.
    Rrl,
    /// Anything else: a response (QR=1) sent to us, a client that cannot be answered (port 0).
    Other,
}

impl DropReason {
    /// Every reason, in the order metrics list them.
    pub const ALL: [DropReason; 4] = [DropReason::Malformed, DropReason::Oversize, DropReason::Rrl, DropReason::Other];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Oversize => "oversize",
            DropReason::Rrl => "rrl",
            DropReason::Other => "other",
        }
    }

    /// A packet that says nothing about itself but the reason it was dropped.
    pub fn outcome(self) -> Outcome {
        Outcome { drop: self, ..Outcome::default() }
    }
}
