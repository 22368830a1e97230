//! gslbd's answers behind hickory-server's [`RequestHandler`], so that hickory's `Server`
//! (and the DoT listeners it adds, [`super::tls`]) serves exactly what [`super::respond`] decides.
//!
//! gslbd's own UDP and TCP loops call `respond` directly: hickory's `Server` spawns a task
//! per UDP packet and has no TCP connection limits (see shared notes). This adapter hands
//! hickory the raw request bytes, and turns our reply back into a `MessageResponse`. It is
//! not a second implementation: every decision is `respond_with`'s, and every outcome goes to
//! the same [`Observer`] as the other transports (a stream transport counts as TCP).
use hickory_proto::op::{Header, HeaderCounts, Message, MessageType, Metadata, ResponseCode};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::{NoObserver, Observer, Outcome, Transport, respond_with};
use crate::serving::{AnswerSource, Shared};
use crate::util::rng::{SplitMix64, entropy_seed};

/// A [`RequestHandler`] that answers from the state in service.
pub struct HickoryHandler<S: AnswerSource, O: Observer<S> = NoObserver> {
    pub shared: Shared<S>,
    /// Cloned for each request (handlers are shared between hickory's connection tasks).
    pub observer: O,
}

impl<S: AnswerSource> HickoryHandler<S, NoObserver> {
    pub fn new(shared: Shared<S>) -> HickoryHandler<S, NoObserver> {
        HickoryHandler { shared, observer: NoObserver }
    }
}

impl<S: AnswerSource, O: Observer<S>> HickoryHandler<S, O> {
    pub fn with_observer(shared: Shared<S>, observer: O) -> HickoryHandler<S, O> {
        HickoryHandler { shared, observer }
    }
}

fn info(metadata: Metadata) -> ResponseInfo {
    ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
}

#[async_trait::async_trait]
impl<S: AnswerSource, O: Observer<S> + Sync + Unpin> RequestHandler for HickoryHandler<S, O> {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let transport = match request.protocol() {
            Protocol::Udp => Transport::Udp,
            _ => Transport::Tcp,
        };
        let mut out = Vec::new();
        let reply = {
            let snap = self.shared.load();
            let mut outcome = Outcome::default();
            let w = respond_with(
                &**snap,
                request.as_slice(),
                request.src().ip(),
                transport,
                &mut out,
                &mut SplitMix64::new(entropy_seed()),
                &mut outcome,
            );
            self.observer.clone().observe(&snap, &outcome, transport, request.as_slice(), request.src().ip());
            w.and_then(|w| Message::from_vec(&out[..w.len]).ok())
        };
        let Some(msg) = reply else {
            // Dropped (a response or a runt): nothing is sent.
            let mut md = Metadata::new(request.metadata.id, MessageType::Response, request.metadata.op_code);
            md.response_code = ResponseCode::Refused;
            return info(md);
        };
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(e) = msg.edns.as_ref() {
            builder.edns(e);
        }
        let metadata = msg.metadata;
        let response = builder.build(
            metadata,
            msg.answers.iter(),
            msg.authorities.iter(),
            std::iter::empty(),
            msg.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!(error = %e, "hickory send failed");
                let mut md = metadata;
                md.response_code = ResponseCode::ServFail;
                info(md)
            }
        }
    }
}
