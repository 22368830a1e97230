//! The CHAOS class (RFC 4892): `id.server.` / `hostname.bind.` answer the server's identity,
//! `version.bind.` / `version.server.` its version, as TXT records of class CH with TTL 0,
//! AA clear and no authority, as Knot and NSD answer them. Everything else in class CH, and
//! a name whose text is not configured, is REFUSED (RFC 4892 leaves the policy to the operator).
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::answer::{Rrs, Section};
use super::lookup::Lookup;
use super::rrset::RRset;

/// The configured CHAOS answers, built once per (re)load.
#[derive(Clone, Debug, Default)]
pub struct Chaos {
    /// One TXT record each (TTL 0), RDATA in wire form; the encoder writes class CH.
    identity: Option<RRset>,
    version: Option<RRset>,
    /// id.server., hostname.bind., version.bind., version.server. (hickory compares names
    /// case-insensitively, without allocating).
    names: Vec<Name>,
}

impl Chaos {
    /// `identity` for id.server/hostname.bind, `version` for version.bind/version.server.
    pub fn new(identity: Option<&str>, version: Option<&str>) -> Chaos {
        // One character-string: its length octet, then the text (the config allows 1 to 255
        // bytes; longer text is cut rather than written as a wrong length).
        let txt = |s: &str| {
            let text = &s.as_bytes()[..s.len().min(255)];
            let mut rdata = Vec::with_capacity(text.len() + 1);
            rdata.push(text.len() as u8);
            rdata.extend_from_slice(text);
            RRset::new(RecordType::TXT, 0, [rdata.as_slice()])
        };
        let names = ["id.server.", "hostname.bind.", "version.bind.", "version.server."]
            .iter()
            .filter_map(|n| Name::from_ascii(n).ok())
            .collect();
        Chaos { identity: identity.map(txt), version: version.map(txt), names }
    }

    /// The reply to a class CH query for `qname`/`qtype` (the owner keeps the query's case).
    pub fn lookup<'a>(&'a self, qname: &'a Name, qtype: RecordType) -> Lookup<'a> {
        let at = self.names.iter().position(|n| n == qname);
        let records = match at {
            _ if !matches!(qtype, RecordType::TXT | RecordType::ANY) => None,
            Some(0 | 1) => self.identity.as_ref(),
            Some(2 | 3) => self.version.as_ref(),
            _ => None,
        };
        let Some(set) = records else { return Lookup::refused() };
        let mut answer = Section::new();
        answer.push(Rrs::Chaos { owner: qname, set });
        Lookup {
            rcode: ResponseCode::NoError,
            authoritative: false,
            answer,
            authority: Section::new(),
            additional: Section::new(),
            pooled: None,
            signed: false,
        }
    }
}
