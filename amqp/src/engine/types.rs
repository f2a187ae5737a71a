//! The engine's public vocabulary: ids, events, termini, delivery states, errors.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Standard AMQP 1.0 error condition symbols the engine sends or recognizes.
pub mod condition {
    /// A frame or value could not be decoded.
    pub const DECODE_ERROR: &str = "amqp:decode-error";
    /// Generic framing error (used by some peers).
    pub const FRAMING_ERROR: &str = "amqp:framing-error";
    /// A frame broke the connection's framing rules (size, type, header).
    pub const CONNECTION_FRAMING_ERROR: &str = "amqp:connection:framing-error";
    /// The peer referred to something that does not exist (an unbegun channel).
    pub const NOT_FOUND: &str = "amqp:not-found";
    /// A mandatory field was missing or a field held an invalid value.
    pub const INVALID_FIELD: &str = "amqp:invalid-field";
    /// A configured limit was exceeded (frame size, sessions, links, idle time).
    pub const RESOURCE_LIMIT_EXCEEDED: &str = "amqp:resource-limit-exceeded";
    /// The peer attempted something the protocol state does not allow.
    pub const NOT_ALLOWED: &str = "amqp:not-allowed";
    /// Internal error on our side.
    pub const INTERNAL_ERROR: &str = "amqp:internal-error";
    /// A handle was used that is not attached.
    pub const UNATTACHED_HANDLE: &str = "amqp:session:unattached-handle";
    /// A handle was attached twice.
    pub const HANDLE_IN_USE: &str = "amqp:session:handle-in-use";
    /// The peer sent transfers beyond the session's incoming window.
    pub const WINDOW_VIOLATION: &str = "amqp:session:window-violation";
    /// The peer sent more messages than it had link credit for.
    pub const TRANSFER_LIMIT_EXCEEDED: &str = "amqp:link:transfer-limit-exceeded";
    /// A message was larger than the link's maximum message size.
    pub const MESSAGE_SIZE_EXCEEDED: &str = "amqp:link:message-size-exceeded";
    /// The link was detached by force (used when refusing).
    pub const DETACH_FORCED: &str = "amqp:link:detach-forced";
    /// Authentication failed.
    pub const UNAUTHORIZED_ACCESS: &str = "amqp:unauthorized-access";
}

/// An AMQP error: a condition symbol and a description a person understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCondition {
    /// The condition symbol, e.g. `amqp:decode-error`.
    pub condition: Cow<'static, str>,
    /// What went wrong, in words.
    pub description: String,
}

impl ErrorCondition {
    /// Builds a condition from one of the [`condition`] constants and a description.
    pub fn new(condition: &'static str, description: impl Into<String>) -> Self {
        Self {
            condition: Cow::Borrowed(condition),
            description: description.into(),
        }
    }
}

impl From<&crate::ErrorCondition<'_>> for ErrorCondition {
    /// From the codec's borrowed error (part 1); `info` is dropped.
    fn from(e: &crate::ErrorCondition<'_>) -> Self {
        Self {
            condition: Cow::Owned(e.condition.to_owned()),
            description: e.description.unwrap_or("").to_owned(),
        }
    }
}

impl ErrorCondition {
    /// As the codec's borrowed error type (part 1), e.g. to encode it with its encoder.
    pub fn as_codec(&self) -> crate::ErrorCondition<'_> {
        crate::ErrorCondition::new(&self.condition, &self.description)
    }
}

impl fmt::Display for ErrorCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.condition, self.description)
    }
}

/// Which end of a link we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends transfers (wire value `false`).
    Sender,
    /// Receives transfers and grants credit (wire value `true`).
    Receiver,
}

impl Role {
    pub(crate) fn wire(self) -> bool {
        self == Role::Receiver
    }
    pub(crate) fn from_wire(b: bool) -> Self {
        if b {
            Role::Receiver
        } else {
            Role::Sender
        }
    }
}

/// A session, named by its local channel number (unique within a connection while begun).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u16);

/// A link, named by its session and its local handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId {
    /// The session's local channel.
    pub session: SessionId,
    /// Our handle for the link (unique within the session while attached).
    pub handle: u32,
}

/// One entry of a source's filter set, e.g. `tickwire:format` -> `binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The filter map key (a symbol).
    pub key: String,
    /// The value's descriptor if it was a described value (symbolic or `0x..` numeric).
    pub descriptor: Option<String>,
    /// The value as text when it was a string or symbol.
    pub text: Option<String>,
    /// The raw encoding of the (undescribed) value, for anything else.
    pub raw: Vec<u8>,
}

/// A link source or target as the peer sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Terminus {
    /// The node address, if any.
    pub address: Option<String>,
    /// Source filters (empty for targets).
    pub filters: Vec<Filter>,
    /// Whether the peer asked for a dynamic node.
    pub dynamic: bool,
    /// The whole described source/target encoding, echoed back verbatim on accept.
    pub raw: Vec<u8>,
}

/// The outcome or state of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryState {
    /// Processed successfully.
    Accepted,
    /// Invalid and will not be processed; carries the reason if the peer gave one.
    Rejected(Option<ErrorCondition>),
    /// Not (and will not be) processed; may be redelivered.
    Released,
    /// Released with modifications.
    Modified {
        /// Count this as a failed delivery attempt.
        delivery_failed: bool,
        /// Do not redeliver to this link.
        undeliverable_here: bool,
    },
    /// Partially received (resumable deliveries; reported only).
    Received {
        /// Section number received so far.
        section_number: u32,
        /// Offset within that section.
        section_offset: u64,
    },
}

/// A peer's request to attach a link, for the application to accept or refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    /// The link id the engine allocated for it.
    pub link: LinkId,
    /// The link name.
    pub name: String,
    /// OUR role if accepted (the opposite of the peer's role).
    pub role: Role,
    /// The peer's source (where messages come from).
    pub source: Option<Terminus>,
    /// The peer's target (where messages go).
    pub target: Option<Terminus>,
    /// The peer's sender settle mode: 0 unsettled, 1 settled, 2 mixed.
    pub snd_settle_mode: u8,
    /// The peer's maximum message size in bytes (0 = no limit).
    pub max_message_size: u64,
}

/// A complete message received on a receiving link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The receiving link.
    pub link: LinkId,
    /// The session-scoped delivery id (used in dispositions).
    pub delivery_id: u32,
    /// The delivery tag.
    pub tag: Vec<u8>,
    /// Whether the sender settled it already (pre-settled, at-most-once).
    pub settled: bool,
    /// The encoded message sections, reassembled across frames.
    pub message: Vec<u8>,
}

/// Something the application should know; drained with `Engine::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// SASL finished successfully (server: the peer's identity; client: we are in).
    Authenticated {
        /// The mechanism used.
        mechanism: String,
        /// The authenticated user (PLAIN), if any.
        user: Option<String>,
    },
    /// The peer's open arrived; the connection is usable.
    Opened {
        /// The peer's container id.
        container_id: String,
        /// The hostname the peer asked for.
        hostname: Option<String>,
    },
    /// A session is mapped both ways.
    SessionBegun(SessionId),
    /// A session ended (by the peer, or by us on error), with the error if any.
    SessionEnded {
        /// The session.
        session: SessionId,
        /// The error carried by the end frame.
        error: Option<ErrorCondition>,
    },
    /// The peer wants to attach a link: answer with `accept_attach` or `refuse_attach`.
    /// Boxed: it is far larger than the other events, which it would otherwise make as
    /// large (every delivery's event would be copied at that size).
    AttachRequested(Box<AttachRequest>),
    /// A link we asked for is attached (client side).
    Attached {
        /// The link.
        link: LinkId,
        /// The source the peer attached with.
        source: Option<Terminus>,
        /// The target the peer attached with.
        target: Option<Terminus>,
    },
    /// A link is detached (closed) and its handle freed.
    Detached {
        /// The link.
        link: LinkId,
        /// The error carried by the peer's (or our) detach.
        error: Option<ErrorCondition>,
    },
    /// Credit on a sending link changed (the peer's flow); `drain` asks us to use it or
    /// call `Engine::drained`.
    Credit {
        /// The sending link.
        link: LinkId,
        /// Credit now available.
        credit: u32,
        /// The peer asked to drain.
        drain: bool,
    },
    /// The peer's flow on a receiving link (e.g. the answer to a drain).
    ReceiverFlow {
        /// The receiving link.
        link: LinkId,
        /// Credit left after the peer's flow.
        credit: u32,
    },
    /// A complete message arrived.
    Delivery(Delivery),
    /// The peer aborted a multi-frame delivery; its partial bytes were dropped.
    Aborted {
        /// The receiving link.
        link: LinkId,
        /// The aborted delivery's id.
        delivery_id: u32,
    },
    /// The peer's disposition for deliveries `first..=last` of a session.
    Disposition {
        /// The session.
        session: SessionId,
        /// The role of the peer that sent the disposition.
        role: Role,
        /// First delivery id.
        first: u32,
        /// Last delivery id (inclusive).
        last: u32,
        /// Whether the peer settled them.
        settled: bool,
        /// The outcome, if any.
        state: Option<DeliveryState>,
    },
    /// The connection is closed: `local` says whether we closed it (after a protocol error
    /// or an API call) or the peer did; `error` is the error sent or received.
    Closed {
        /// True if we initiated the close.
        local: bool,
        /// The error condition, if any.
        error: Option<ErrorCondition>,
    },
}

/// A message body encoded once and shared by every link that sends it.
#[derive(Debug, Clone)]
pub struct SharedBody(pub(crate) Arc<[u8]>);

impl SharedBody {
    /// Wraps encoded message sections.
    pub fn new(bytes: Arc<[u8]>) -> Self {
        Self(bytes)
    }
    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SharedBody {
    fn from(v: Vec<u8>) -> Self {
        Self(v.into())
    }
}

/// Why a send was refused; the caller keeps the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The link has no credit (the peer's back-pressure): wait for `Event::Credit`.
    NoCredit,
    /// The peer's session incoming window is full: wait for its flow.
    SessionWindow,
    /// More than `max_pending_bytes` are queued for transmit: drain transmit first.
    Backpressure,
    /// Our misuse: unknown link, not a sender, not attached, or connection not open.
    InvalidLink,
    /// The message is larger than the receiver's max-message-size from its attach.
    TooLarge,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NoCredit => "no link credit",
            SendError::SessionWindow => "session window full",
            SendError::Backpressure => "too many bytes pending transmit",
            SendError::InvalidLink => "link is not an attached sending link",
            SendError::TooLarge => "message exceeds the receiver's max-message-size",
        })
    }
}

impl std::error::Error for SendError {}

/// The application misused the API (whose fault: ours, the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiError {
    /// The connection is not open (or already closing).
    NotOpen,
    /// No such session, or it is not mapped.
    UnknownSession,
    /// No such link, or it is in the wrong state for this call.
    UnknownLink,
    /// A local limit (channels, handles) is exhausted.
    LimitReached,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_condition_converts_to_and_from_the_codec_type() {
        let e = ErrorCondition::new(condition::NOT_FOUND, "no such address");
        let c = e.as_codec();
        assert_eq!(c.condition, "amqp:not-found");
        assert_eq!(c.description, Some("no such address"));
        assert_eq!(ErrorCondition::from(&c), e);
    }
}
