//! The CHAOS class (RFC 4892): `id.server.` / `hostname.bind.` answer the server's identity,
//! `version.bind.` / `version.server.` its version, as TXT records of class CH with TTL 0,
//! AA clear and no authority, as Knot and NSD answer them. Everything else in class CH, and
//! a name whose text is not configured, is REFUSED (RFC 4892 leaves the policy to the operator).
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::answer::{Rrs, Section};
use super::lookup::Lookup;

/// The configured CHAOS answers, built once per (re)load.
#[derive(Clone, Debug, Default)]
pub struct Chaos {
    identity: Option<[Record; 1]>,
    version: Option<[Record; 1]>,
    /// id.server., hostname.bind., version.bind., version.server. (hickory compares names
    /// case-insensitively, without allocating).
    names: Vec<Name>,
}

impl Chaos {
    /// `identity` for id.server/hostname.bind, `version` for version.bind/version.server.
    pub fn new(identity: Option<&str>, version: Option<&str>) -> Chaos {
        let txt = |s: &str| {
            let mut r = Record::from_rdata(Name::root(), 0, RData::TXT(TXT::new(vec![s.to_string()])));
            r.dns_class = DNSClass::CH;
            [r]
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
        let Some(records) = records else { return Lookup::refused() };
        let mut answer = Section::new();
        answer.push(Rrs::Records { owner: Some(qname), records });
        Lookup {
            rcode: ResponseCode::NoError,
            authoritative: false,
            answer,
            authority: Section::new(),
            additional: Section::new(),
            pooled: None,
        }
    }
}
