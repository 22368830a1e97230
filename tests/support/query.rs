//! Test queries: every header bit, EDNS field and option a test can vary ([`QuerySpec`]),
//! built into a hickory [`Message`], and query IDs.
use std::sync::atomic::{AtomicU32, Ordering};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// EDNS part of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnsSpec {
    pub version: u8,
    pub payload: u16,
    /// The whole 16-bit flags field (DO = 0x8000).
    pub flags: u16,
    pub options: Vec<(u16, Vec<u8>)>,
}

impl Default for EdnsSpec {
    fn default() -> Self {
        EdnsSpec { version: 0, payload: 1232, flags: 0, options: Vec::new() }
    }
}

/// Everything a test query can vary, built into a hickory [`Message`].
#[derive(Clone, Debug)]
pub struct QuerySpec {
    pub qname: String,
    pub qtype: u16,
    pub qclass: u16,
    pub opcode: u8,
    pub rd: bool,
    pub cd: bool,
    pub ad: bool,
    pub edns: Option<EdnsSpec>,
}

impl QuerySpec {
    /// IN class, QUERY opcode, RD clear, no EDNS.
    pub fn new(qname: &str, qtype: RecordType) -> QuerySpec {
        QuerySpec {
            qname: qname.to_string(),
            qtype: u16::from(qtype),
            qclass: 1,
            opcode: 0,
            rd: false,
            cd: false,
            ad: false,
            edns: None,
        }
    }

    pub fn to_message(&self, id: u16) -> Message {
        let name = Name::from_ascii(&self.qname).unwrap_or_else(|e| panic!("{}: {e}", self.qname));
        let mut m = Message::new(id, MessageType::Query, OpCode::from_u8(self.opcode));
        let mut q = Query::query(name, RecordType::from(self.qtype));
        q.set_query_class(DNSClass::from(self.qclass));
        m.add_query(q);
        m.metadata.recursion_desired = self.rd;
        m.metadata.checking_disabled = self.cd;
        m.metadata.authentic_data = self.ad;
        if let Some(e) = &self.edns {
            let mut edns = Edns::new();
            edns.set_version(e.version);
            edns.set_max_payload(e.payload);
            *edns.flags_mut() = e.flags.into();
            for (code, data) in &e.options {
                edns.options_mut().insert(EdnsOption::Unknown(*code, data.clone()));
            }
            m.set_edns(edns);
        }
        m
    }
}

/// A query ID that differs from call to call (no `rand` needed in tests).
pub fn rand_id() -> u16 {
    static N: AtomicU32 = AtomicU32::new(0x1234);
    (N.fetch_add(0x9e37, Ordering::Relaxed) & 0xffff) as u16
}

/// The query's ID, from its first two bytes.
pub fn msg_id(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}
