//! Link scope: attach, detach, link flow and credit, incoming transfers.

use super::codec::Fields;
use super::conn::missing;
use super::terminus;
use super::transfer::{self, TransferHead};
use super::types::{
    condition, ApiError, AttachRequest, Delivery, ErrorCondition, Event, LinkId, Role, SessionId,
    Terminus,
};
use super::write::{self, AttachArgs};
use super::{conn_err, Engine, Fault, Phase};

/// What the application asks for when it attaches a link itself (client side).
#[derive(Debug, Clone, Copy)]
pub struct LinkSpec<'a> {
    /// The link name (unique per connection and direction).
    pub name: &'a str,
    /// Our role.
    pub role: Role,
    /// Source address (for a receiver: the node to consume from).
    pub source: Option<&'a str>,
    /// Target address (for a sender: the node to publish to).
    pub target: Option<&'a str>,
    /// Source filters as (symbol key, string value).
    pub filters: &'a [(&'a str, &'a str)],
    /// Sender settle mode: 0 unsettled, 1 settled (pre-settled), 2 mixed.
    pub snd_settle_mode: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// We sent attach; waiting for the peer's.
    AttachSent,
    /// The peer sent attach; the application has not answered.
    AttachReceived,
    /// Attached both ways.
    Attached,
    /// We sent detach; waiting for the peer's.
    DetachSent,
}

/// Most buffers [`Engine::recycle`] keeps for reuse (two per delivery: tag and message).
pub const SPARE_BUFFERS: usize = 4096;

/// Largest buffer capacity [`Engine::recycle`] keeps, bytes.
pub const SPARE_BUFFER_BYTES: usize = 4 << 10;

/// A multi-frame delivery being reassembled.
#[derive(Debug)]
pub(crate) struct Partial {
    delivery_id: u32,
    tag: Vec<u8>,
    settled: bool,
    buf: Vec<u8>,
}

/// One link's state (spec 2.6), indexed by local handle within its session.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) remote_handle: Option<u32>,
    pub(crate) state: LinkState,
    pub(crate) delivery_count: u32,
    /// Receiver: the highest delivery-limit (delivery-count + credit) the peer may still
    /// be acting on; grants that lower credit only bind once the sender has seen them.
    limit: u32,
    pub(crate) credit: u32,
    pub(crate) drain: bool,
    snd_settle_mode: u8,
    rcv_settle_mode: u8,
    source: Option<Vec<u8>>,
    target: Option<Vec<u8>>,
    pub(crate) peer_max_message: u64,
    partial: Option<Partial>,
    error: Option<ErrorCondition>,
}

/// A decoded attach from the peer (spec 2.7.3).
struct PeerAttach {
    name: String,
    handle: u32,
    /// The PEER's role.
    role: Role,
    snd_settle_mode: u8,
    rcv_settle_mode: u8,
    source: Option<Terminus>,
    target: Option<Terminus>,
    initial_delivery_count: Option<u32>,
    max_message_size: u64,
}

impl PeerAttach {
    fn decode(mut f: Fields<'_>) -> Result<Self, Fault> {
        let name = f
            .string()?
            .ok_or_else(|| missing("attach.name"))?
            .to_owned();
        let handle = f.uint()?.ok_or_else(|| missing("attach.handle"))?;
        let role = Role::from_wire(f.boolean()?.ok_or_else(|| missing("attach.role"))?);
        let snd_settle_mode = f.ubyte()?.unwrap_or(2);
        let rcv_settle_mode = f.ubyte()?.unwrap_or(0);
        let source = f
            .next_raw()?
            .map(|r| terminus::terminus(r, true))
            .transpose()?;
        let target = f
            .next_raw()?
            .map(|r| terminus::terminus(r, false))
            .transpose()?;
        f.skip(2)?; // unsettled, incomplete-unsettled
        let initial_delivery_count = f.uint()?;
        let max_message_size = f.ulong()?.unwrap_or(0);
        Ok(Self {
            name,
            handle,
            role,
            snd_settle_mode,
            rcv_settle_mode,
            source,
            target,
            initial_delivery_count,
            max_message_size,
        })
    }
}

fn link_err(link: LinkId, cond: &'static str, text: String) -> Fault {
    Fault::Link(link, ErrorCondition::new(cond, text))
}

fn alloc_handle(links: &mut Vec<Option<Link>>, max: u32) -> Option<u32> {
    match links.iter().position(Option::is_none) {
        Some(i) if i as u64 <= u64::from(max) => Some(i as u32),
        None if links.len() as u64 <= u64::from(max) => {
            links.push(None);
            Some((links.len() - 1) as u32)
        }
        _ => None,
    }
}

impl Engine {
    fn link_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        self.session_mut(link.session.0)?.link_mut(link.handle)
    }

    /// Hands a received delivery's buffers back for reuse by the next incoming deliveries:
    /// a receiver that recycles every [`Delivery`] it is done with allocates nothing per
    /// message once warm. Optional; at most [`SPARE_BUFFERS`] are kept, and none over
    /// [`SPARE_BUFFER_BYTES`] of capacity (one huge message does not pin its memory).
    pub fn recycle(&mut self, d: Delivery) {
        for mut b in [d.tag, d.message] {
            if self.spare.len() < SPARE_BUFFERS && b.capacity() <= SPARE_BUFFER_BYTES {
                b.clear();
                self.spare.push(b);
            }
        }
    }

    /// Credit the peer gave a sending link (0 for unknown links).
    pub fn credit(&self, link: LinkId) -> u32 {
        self.session_ref(link.session.0)
            .and_then(|s| s.links.get(link.handle as usize))
            .and_then(Option::as_ref)
            .map_or(0, |l| l.credit)
    }

    /// How many single-frame deliveries a sending link can take right now: its credit,
    /// bounded by the peer's session incoming window. A sender that polls its own queue
    /// only while this is non-zero never has a `send` refused for credit or window.
    pub fn sendable(&self, link: LinkId) -> u32 {
        // A closing or closed connection sends nothing more (`send` refuses it too).
        if !matches!(self.phase, Phase::Opened) {
            return 0;
        }
        let Some(s) = self.session_ref(link.session.0) else {
            return 0;
        };
        let credit = s
            .links
            .get(link.handle as usize)
            .and_then(Option::as_ref)
            .filter(|l| l.role == Role::Sender && l.state == LinkState::Attached)
            .map_or(0, |l| l.credit);
        if s.end_sent {
            return 0;
        }
        credit.min(s.remote_incoming_window)
    }

    /// Attaches a link from our side; `Event::Attached` follows with the peer's attach.
    pub fn attach(&mut self, session: SessionId, spec: LinkSpec<'_>) -> Result<LinkId, ApiError> {
        if !matches!(self.phase, Phase::Opened) {
            return Err(ApiError::NotOpen);
        }
        let handle_max = self.cfg.handle_max;
        let s = self
            .session_mut(session.0)
            .ok_or(ApiError::UnknownSession)?;
        let h = alloc_handle(&mut s.links, handle_max.min(s.remote_handle_max))
            .ok_or(ApiError::LimitReached)?;
        let mut src = Vec::new();
        let mut tgt = Vec::new();
        if let Some(a) = spec.source {
            write::terminus(&mut src, true, a, spec.filters);
        }
        if let Some(a) = spec.target {
            write::terminus(&mut tgt, false, a, &[]);
        }
        let link = Link {
            name: spec.name.to_owned(),
            role: spec.role,
            remote_handle: None,
            state: LinkState::AttachSent,
            delivery_count: 0,
            limit: 0,
            credit: 0,
            drain: false,
            snd_settle_mode: spec.snd_settle_mode,
            rcv_settle_mode: 0,
            source: spec.source.map(|_| src),
            target: spec.target.map(|_| tgt),
            peer_max_message: 0,
            partial: None,
            error: None,
        };
        s.links[h as usize] = Some(link);
        let id = LinkId { session, handle: h };
        self.write_attach(id, false);
        Ok(id)
    }

    /// Writes our attach for `link`; `refuse` nulls our own terminus (spec 2.6.3).
    fn write_attach(&mut self, link: LinkId, refuse: bool) {
        let max_msg = self.cfg.max_message_size;
        let Some(l) = self.link_mut(link) else { return };
        let (src, tgt) = match (refuse, l.role) {
            (true, Role::Sender) => (None, l.target.clone()),
            (true, Role::Receiver) => (l.source.clone(), None),
            _ => (l.source.clone(), l.target.clone()),
        };
        let name = l.name.clone();
        let args = AttachArgs {
            name: &name,
            handle: link.handle,
            role: l.role,
            snd_settle_mode: l.snd_settle_mode,
            rcv_settle_mode: l.rcv_settle_mode,
            source: src.as_deref(),
            target: tgt.as_deref(),
            initial_delivery_count: (l.role == Role::Sender).then_some(l.delivery_count),
            max_message_size: if l.role == Role::Receiver { max_msg } else { 0 },
        };
        self.emit(|o| write::attach(o, link.session.0, &args));
    }

    pub(super) fn on_attach(&mut self, local: u16, f: Fields<'_>) -> Result<(), Fault> {
        let at = PeerAttach::decode(f)?;
        let handle = at.handle;
        if handle > self.cfg.handle_max {
            let max = self.cfg.handle_max;
            let text = format!("attach with handle {handle} exceeds our handle-max of {max}");
            return Err(conn_err(condition::CONNECTION_FRAMING_ERROR, text));
        }
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        if s.remote_handles
            .get(handle as usize)
            .copied()
            .flatten()
            .is_some()
        {
            let text = format!("attach on handle {handle}, which is already attached");
            let e = ErrorCondition::new(condition::HANDLE_IN_USE, text);
            return Err(Fault::Session(local, e));
        }
        if s.remote_handles.len() <= handle as usize {
            s.remote_handles.resize(handle as usize + 1, None);
        }
        let ours = s.links.iter().position(|l| {
            l.as_ref().is_some_and(|l| {
                l.state == LinkState::AttachSent && l.name == at.name && l.role != at.role
            })
        });
        match ours {
            Some(lh) => {
                self.attach_answered(local, lh as u32, at);
                Ok(())
            }
            None => self.attach_requested(local, at),
        }
    }

    /// The peer's attach answers ours: the link is attached.
    fn attach_answered(&mut self, local: u16, lh: u32, at: PeerAttach) {
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        s.remote_handles[at.handle as usize] = Some(lh);
        let l = s.links[lh as usize].as_mut().expect("found by the caller");
        l.remote_handle = Some(at.handle);
        l.state = LinkState::Attached;
        l.peer_max_message = at.max_message_size;
        if l.role == Role::Receiver {
            l.delivery_count = at.initial_delivery_count.unwrap_or(0);
            l.limit = l.delivery_count;
        }
        let link = LinkId {
            session: SessionId(local),
            handle: lh,
        };
        let (source, target) = (at.source, at.target);
        self.events.push_back(Event::Attached {
            link,
            source,
            target,
        });
    }

    /// A new link from the peer: allocate a handle and ask the application.
    fn attach_requested(&mut self, local: u16, at: PeerAttach) -> Result<(), Fault> {
        if at.role == Role::Sender && at.initial_delivery_count.is_none() {
            return Err(missing("attach.initial-delivery-count"));
        }
        let handle_max = self.cfg.handle_max;
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        let Some(lh) = alloc_handle(&mut s.links, handle_max) else {
            let e = ErrorCondition::new(condition::RESOURCE_LIMIT_EXCEEDED, "no free link handle");
            return Err(Fault::Session(local, e));
        };
        s.remote_handles[at.handle as usize] = Some(lh);
        let role = match at.role {
            Role::Sender => Role::Receiver,
            Role::Receiver => Role::Sender,
        };
        s.links[lh as usize] = Some(Link {
            name: at.name.clone(),
            role,
            remote_handle: Some(at.handle),
            state: LinkState::AttachReceived,
            delivery_count: at.initial_delivery_count.unwrap_or(0),
            limit: at.initial_delivery_count.unwrap_or(0),
            credit: 0,
            drain: false,
            snd_settle_mode: at.snd_settle_mode,
            rcv_settle_mode: at.rcv_settle_mode,
            source: at.source.as_ref().map(|t| t.raw.clone()),
            target: at.target.as_ref().map(|t| t.raw.clone()),
            peer_max_message: at.max_message_size,
            partial: None,
            error: None,
        });
        let link = LinkId {
            session: SessionId(local),
            handle: lh,
        };
        self.events
            .push_back(Event::AttachRequested(Box::new(AttachRequest {
                link,
                name: at.name,
                role,
                source: at.source,
                target: at.target,
                snd_settle_mode: at.snd_settle_mode,
                max_message_size: at.max_message_size,
            })));
        Ok(())
    }

    fn pending_attach(&mut self, link: LinkId) -> Result<(), ApiError> {
        match self.link_mut(link) {
            Some(l) if l.state == LinkState::AttachReceived => Ok(()),
            _ => Err(ApiError::UnknownLink),
        }
    }

    /// Accepts a peer's attach: answers with our attach echoing its source and target.
    pub fn accept_attach(&mut self, link: LinkId) -> Result<(), ApiError> {
        self.pending_attach(link)?;
        self.write_attach(link, false);
        if let Some(l) = self.link_mut(link) {
            l.state = LinkState::Attached;
        }
        Ok(())
    }

    /// Refuses a peer's attach: attach with our terminus null, then detach with `error`
    /// (spec 2.6.3). `Event::Detached` follows with the peer's detach.
    pub fn refuse_attach(&mut self, link: LinkId, error: ErrorCondition) -> Result<(), ApiError> {
        self.pending_attach(link)?;
        self.detach_with(link, Some(error)); // writes the refusing attach first

        Ok(())
    }

    /// Detaches (closes) a link; `Event::Detached` follows with the peer's detach.
    pub fn detach(&mut self, link: LinkId, error: Option<ErrorCondition>) -> Result<(), ApiError> {
        match self.link_mut(link) {
            Some(l) if l.state != LinkState::DetachSent => {}
            _ => return Err(ApiError::UnknownLink),
        }
        self.detach_with(link, error);
        Ok(())
    }

    pub(super) fn detach_with(&mut self, link: LinkId, error: Option<ErrorCondition>) {
        let Some(l) = self.link_mut(link) else { return };
        match l.state {
            LinkState::DetachSent => return,
            LinkState::AttachReceived => self.write_attach(link, true),
            _ => {}
        }
        let Some(l) = self.link_mut(link) else { return };
        l.state = LinkState::DetachSent;
        l.partial = None;
        l.error.clone_from(&error);
        self.emit(|o| write::detach(o, link.session.0, link.handle, error.as_ref()));
    }

    /// Maps a peer handle to our link, or fails the session with unattached-handle.
    fn by_remote(&mut self, local: u16, handle: u32, what: &str) -> Result<LinkId, Fault> {
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        match s.remote_handles.get(handle as usize).copied().flatten() {
            Some(lh) => Ok(LinkId {
                session: SessionId(local),
                handle: lh,
            }),
            None => Err(Fault::Session(
                local,
                ErrorCondition::new(
                    condition::UNATTACHED_HANDLE,
                    format!("{what} on handle {handle}, which is not attached"),
                ),
            )),
        }
    }

    pub(super) fn on_detach(&mut self, local: u16, mut f: Fields<'_>) -> Result<(), Fault> {
        let handle = f.uint()?.ok_or_else(|| missing("detach.handle"))?;
        f.boolean()?; // closed: we treat every detach as closing
        let error = terminus::opt_error(f.next_raw()?)?;
        let link = self.by_remote(local, handle, "detach")?;
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        s.remote_handles[handle as usize] = None;
        let Some(l) = s.links[link.handle as usize].take() else {
            return Ok(());
        };
        if l.state != LinkState::DetachSent {
            if l.state == LinkState::AttachReceived {
                // Put it back briefly so the refusal attach can be written.
                self.session_mut(local).expect("exists").links[link.handle as usize] = Some(l);
                self.write_attach(link, true);
                let s = self.session_mut(local).expect("exists");
                s.links[link.handle as usize] = None;
            }
            self.emit(|o| write::detach(o, local, link.handle, None));
            self.events.push_back(Event::Detached { link, error });
        } else {
            self.events.push_back(Event::Detached {
                link,
                error: l.error.or(error),
            });
        }
        Ok(())
    }

    pub(super) fn on_link_flow(
        &mut self,
        local: u16,
        handle: u32,
        dc: Option<u32>,
        credit: u32,
        drain: bool,
        echo: bool,
    ) -> Result<(), Fault> {
        let link = self.by_remote(local, handle, "flow")?;
        let l = self.link_mut(link).expect("mapped handles have links");
        let event = match l.role {
            Role::Sender => {
                let base = dc.unwrap_or(l.delivery_count);
                l.credit = credit_left(base.wrapping_add(credit), l.delivery_count);
                l.drain = drain;
                Event::Credit {
                    link,
                    credit: l.credit,
                    drain,
                }
            }
            Role::Receiver => {
                if let Some(dc) = dc {
                    l.credit = credit_left(l.delivery_count.wrapping_add(l.credit), dc);
                    l.delivery_count = dc;
                    // The sender's own view bounds what it may still send.
                    let ours = dc.wrapping_add(l.credit);
                    l.limit = later(dc.wrapping_add(credit), ours);
                }
                if l.credit == 0 {
                    l.drain = false;
                }
                Event::ReceiverFlow {
                    link,
                    credit: l.credit,
                }
            }
        };
        self.events.push_back(event);
        if echo {
            self.send_flow(local, Some(link.handle));
        }
        Ok(())
    }

    /// Receiving link: sets the link credit to `n` (and asks the sender to drain it if
    /// `drain`), sending a flow.
    pub fn grant_credit(&mut self, link: LinkId, n: u32, drain: bool) -> Result<(), ApiError> {
        match self.link_mut(link) {
            Some(l) if l.role == Role::Receiver && l.state != LinkState::DetachSent => {
                l.credit = n;
                l.drain = drain;
                l.limit = later(l.limit, l.delivery_count.wrapping_add(n));
            }
            _ => return Err(ApiError::UnknownLink),
        }
        self.send_flow(link.session.0, Some(link.handle));
        Ok(())
    }

    /// Sending link: the application has nothing more to send while the peer asked to
    /// drain: consume the remaining credit (advance delivery-count) and tell the peer.
    pub fn drained(&mut self, link: LinkId) -> Result<(), ApiError> {
        match self.link_mut(link) {
            Some(l) if l.role == Role::Sender => {
                if !l.drain {
                    return Ok(());
                }
                l.delivery_count = l.delivery_count.wrapping_add(l.credit);
                l.credit = 0;
            }
            _ => return Err(ApiError::UnknownLink),
        }
        self.send_flow(link.session.0, Some(link.handle));
        Ok(())
    }

    pub(super) fn on_transfer(
        &mut self,
        local: u16,
        mut f: Fields<'_>,
        payload: &[u8],
    ) -> Result<(), Fault> {
        let head = transfer::read(&mut f)?;
        self.apply_transfer(local, head, payload)
    }

    /// A transfer whose fields are read (by either path, see `transfer.rs`).
    pub(super) fn apply_transfer(
        &mut self,
        local: u16,
        head: TransferHead<'_>,
        payload: &[u8],
    ) -> Result<(), Fault> {
        let TransferHead {
            handle,
            delivery_id,
            tag,
            settled,
            more,
            aborted,
        } = head;
        self.take_incoming_window(local)?;
        let link = self.by_remote(local, handle, "transfer")?;
        let limit = self.cfg.max_message_size;
        let l = self
            .sessions
            .get_mut(usize::from(link.session.0))
            .and_then(Option::as_mut)
            .and_then(|s| s.link_mut(link.handle))
            .expect("mapped handles have links");
        if l.role != Role::Receiver {
            return Err(Fault::Session(
                local,
                ErrorCondition::new(
                    condition::NOT_ALLOWED,
                    format!("transfer on handle {handle}, but the peer is the receiver there"),
                ),
            ));
        }
        if l.state == LinkState::DetachSent {
            return Ok(());
        }
        if l.partial.is_none() && !more && !aborted && self.borrowing && self.events.is_empty() {
            // Whole in this frame, nothing queued before it: hand it over where it lies.
            let tag_at = tag.map_or(Some((0, 0)), |t| self.borrowed.at(t));
            if let (Some(tag), Some(message)) = (tag_at, self.borrowed.at(payload)) {
                let delivery_id = take_credit(l, link, delivery_id)?;
                within_limit(link, payload.len() as u64, limit)?;
                self.borrowed.found.push(super::BorrowedAt {
                    link,
                    delivery_id,
                    settled: settled.unwrap_or(false),
                    tag,
                    message,
                    in_rest: self.borrowed.in_rest,
                });
                return Ok(());
            }
        }
        if l.partial.is_none() {
            if aborted {
                return Ok(());
            }
            start_delivery(l, link, delivery_id, tag, &mut self.spare)?;
        }
        let p = l.partial.as_mut().expect("set above");
        if aborted {
            let delivery_id = p.delivery_id;
            l.partial = None;
            self.events.push_back(Event::Aborted { link, delivery_id });
            return Ok(());
        }
        within_limit(link, p.buf.len() as u64 + payload.len() as u64, limit)?;
        p.buf.extend_from_slice(payload);
        p.settled |= settled.unwrap_or(false);
        if !more {
            let p = l.partial.take().expect("set above");
            self.events.push_back(Event::Delivery(Delivery {
                link,
                delivery_id: p.delivery_id,
                tag: p.tag,
                settled: p.settled,
                message: p.buf,
            }));
        }
        Ok(())
    }
}

/// Credit left when the limit is delivery-count `limit` and the count is `count`, in
/// serial-number arithmetic (RFC 1982, spec 2.6.7): a limit already passed (a grant that
/// crossed a drain in flight) is 0 credit, not 4 billion.
fn credit_left(limit: u32, count: u32) -> u32 {
    let d = limit.wrapping_sub(count);
    if d > i32::MAX as u32 {
        0
    } else {
        d
    }
}

/// The later of two delivery-limits in serial-number arithmetic.
fn later(a: u32, b: u32) -> u32 {
    if credit_left(a, b) > 0 {
        a
    } else {
        b
    }
}

/// A message of at least `size` bytes so far is refused (the link detached) above `limit`.
fn within_limit(link: LinkId, size: u64, limit: u64) -> Result<(), Fault> {
    if size > limit {
        let text = format!("message of at least {size} bytes exceeds the limit of {limit} bytes");
        return Err(link_err(link, condition::MESSAGE_SIZE_EXCEEDED, text));
    }
    Ok(())
}

/// Counts a new incoming delivery on `l` against its credit; returns its delivery id.
fn take_credit(l: &mut Link, link: LinkId, delivery_id: Option<u32>) -> Result<u32, Fault> {
    let id = delivery_id.ok_or_else(|| missing("transfer.delivery-id"))?;
    if credit_left(l.limit, l.delivery_count) == 0 {
        let dc = l.delivery_count;
        let text = format!("transfer with no link credit (delivery-count {dc})");
        return Err(link_err(link, condition::TRANSFER_LIMIT_EXCEEDED, text));
    }
    l.credit = l.credit.saturating_sub(1);
    l.delivery_count = l.delivery_count.wrapping_add(1);
    Ok(id)
}

/// Opens a new incoming delivery on `l`: consumes one credit.
fn start_delivery(
    l: &mut Link,
    link: LinkId,
    delivery_id: Option<u32>,
    tag: Option<&[u8]>,
    spare: &mut Vec<Vec<u8>>,
) -> Result<(), Fault> {
    let id = take_credit(l, link, delivery_id)?;
    let mut t = spare.pop().unwrap_or_default();
    t.extend_from_slice(tag.unwrap_or(&[]));
    let buf = spare.pop().unwrap_or_default();
    l.partial = Some(Partial {
        delivery_id: id,
        tag: t,
        settled: false,
        buf,
    });
    Ok(())
}
