//! Session scope: begin, end, flow (windows), disposition, channel allocation.

use super::codec::Fields;
use super::conn::missing;
use super::link::Link;
use super::terminus;
use super::types::{condition, ApiError, ErrorCondition, Event, LinkId, Role, SessionId};
use super::write::{self, BeginArgs, DispositionArgs, LinkFlow, SessionFlow};
use super::{conn_err, Engine, Fault, Phase};
use crate::engine::types::DeliveryState;

/// Our outgoing-window: we never hold transfers back for it, so advertise "plenty".
pub(crate) const OUTGOING_WINDOW: u32 = i32::MAX as u32;

/// One session's state (spec 2.5.6), indexed by our local channel.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) remote_channel: Option<u16>,
    pub(crate) end_sent: bool,
    pub(crate) error: Option<ErrorCondition>,
    /// Transfer id of our next outgoing transfer frame.
    pub(crate) next_outgoing_id: u32,
    /// Transfer frames the peer will still accept from us.
    pub(crate) remote_incoming_window: u32,
    /// Transfer id we expect next from the peer.
    pub(crate) next_incoming_id: u32,
    /// Transfer frames we will still accept.
    pub(crate) incoming_window: u32,
    /// Delivery id of our next outgoing delivery.
    pub(crate) next_delivery_id: u32,
    pub(crate) remote_handle_max: u32,
    /// Links by local handle.
    pub(crate) links: Vec<Option<Link>>,
    /// Remote handle -> local handle.
    pub(crate) remote_handles: Vec<Option<u32>>,
}

impl Session {
    fn new(incoming_window: u32) -> Self {
        Self {
            remote_channel: None,
            end_sent: false,
            error: None,
            next_outgoing_id: 0,
            remote_incoming_window: 0,
            next_incoming_id: 0,
            incoming_window,
            next_delivery_id: 0,
            remote_handle_max: u32::MAX,
            links: Vec::new(),
            remote_handles: Vec::new(),
        }
    }

    pub(crate) fn flow_fields(&self) -> SessionFlow {
        SessionFlow {
            next_incoming_id: self.next_incoming_id,
            incoming_window: self.incoming_window,
            next_outgoing_id: self.next_outgoing_id,
            outgoing_window: OUTGOING_WINDOW,
        }
    }

    pub(crate) fn link_mut(&mut self, handle: u32) -> Option<&mut Link> {
        self.links.get_mut(handle as usize).and_then(Option::as_mut)
    }
}

impl Engine {
    pub(crate) fn session_mut(&mut self, ch: u16) -> Option<&mut Session> {
        self.sessions
            .get_mut(usize::from(ch))
            .and_then(Option::as_mut)
    }

    pub(crate) fn session_ref(&self, ch: u16) -> Option<&Session> {
        self.sessions.get(usize::from(ch)).and_then(Option::as_ref)
    }

    fn alloc_channel(&mut self) -> Option<u16> {
        let max = usize::from(self.cfg.channel_max.min(self.remote_channel_max));
        let free = self.sessions.iter().position(Option::is_none);
        match free {
            Some(i) if i <= max => Some(i as u16),
            None if self.sessions.len() <= max => {
                self.sessions.push(None);
                Some((self.sessions.len() - 1) as u16)
            }
            _ => None,
        }
    }

    fn write_begin(&mut self, local: u16, remote: Option<u16>) {
        let args = BeginArgs {
            remote_channel: remote,
            next_outgoing_id: 0,
            incoming_window: self.cfg.incoming_window,
            outgoing_window: OUTGOING_WINDOW,
            handle_max: self.cfg.handle_max,
        };
        self.emit(|o| write::begin(o, local, &args));
    }

    /// Begins a session (any side). Its `Event::SessionBegun` comes with the peer's begin.
    pub fn begin(&mut self) -> Result<SessionId, ApiError> {
        if !matches!(self.phase, Phase::Opened) {
            return Err(ApiError::NotOpen);
        }
        let ch = self.alloc_channel().ok_or(ApiError::LimitReached)?;
        self.sessions[usize::from(ch)] = Some(Session::new(self.cfg.incoming_window));
        self.write_begin(ch, None);
        Ok(SessionId(ch))
    }

    pub(super) fn on_begin(&mut self, ch: u16, mut f: Fields<'_>) -> Result<(), Fault> {
        let remote_channel = f.ushort()?;
        let next_out = f.uint()?.ok_or_else(|| missing("begin.next-outgoing-id"))?;
        let in_win = f.uint()?.ok_or_else(|| missing("begin.incoming-window"))?;
        f.uint()?.ok_or_else(|| missing("begin.outgoing-window"))?;
        let handle_max = f.uint()?.unwrap_or(u32::MAX);
        if ch > self.cfg.channel_max {
            return Err(conn_err(
                condition::CONNECTION_FRAMING_ERROR,
                format!(
                    "begin on channel {ch} exceeds our channel-max of {}",
                    self.cfg.channel_max
                ),
            ));
        }
        if self
            .remote_channels
            .get(usize::from(ch))
            .copied()
            .flatten()
            .is_some()
        {
            return Err(conn_err(
                condition::NOT_ALLOWED,
                format!("begin on channel {ch}, which already has a session"),
            ));
        }
        let local = match remote_channel {
            Some(lc) => match self.session_mut(lc) {
                Some(s) if s.remote_channel.is_none() => lc,
                _ => {
                    return Err(conn_err(
                        condition::NOT_ALLOWED,
                        format!("begin answers our channel {lc}, which we never began"),
                    ))
                }
            },
            None => {
                let Some(lc) = self.alloc_channel() else {
                    return Err(conn_err(
                        condition::RESOURCE_LIMIT_EXCEEDED,
                        format!(
                            "no free channel: channel-max {} reached",
                            self.cfg.channel_max
                        ),
                    ));
                };
                self.sessions[usize::from(lc)] = Some(Session::new(self.cfg.incoming_window));
                self.write_begin(lc, Some(ch));
                lc
            }
        };
        if self.remote_channels.len() <= usize::from(ch) {
            self.remote_channels.resize(usize::from(ch) + 1, None);
        }
        self.remote_channels[usize::from(ch)] = Some(local);
        let s = self
            .session_mut(local)
            .expect("session was just found or created");
        s.remote_channel = Some(ch);
        s.next_incoming_id = next_out;
        s.remote_incoming_window = in_win;
        s.remote_handle_max = handle_max;
        self.events.push_back(Event::SessionBegun(SessionId(local)));
        Ok(())
    }

    /// Frames 0x12..=0x17 carry a channel that must map to a begun session.
    pub(super) fn on_session_frame(
        &mut self,
        code: u64,
        ch: u16,
        f: Fields<'_>,
        payload: &[u8],
    ) -> Result<(), Fault> {
        let Some(local) = self.session_for(code, ch)? else {
            return Ok(()); // we sent end: discard everything until the peer's end
        };
        match code {
            0x12 => self.on_attach(local, f),
            0x13 => self.on_flow(local, f),
            0x14 => self.on_transfer(local, f, payload),
            0x15 => self.on_disposition(local, f),
            0x16 => self.on_detach(local, f),
            _ => self.on_end(local, f),
        }
    }

    /// The local session a frame (`code` 0x12..=0x17) on remote channel `ch` belongs to, or
    /// `None` when we sent end and only the peer's end still matters.
    pub(super) fn session_for(&self, code: u64, ch: u16) -> Result<Option<u16>, Fault> {
        let Some(local) = self.remote_channels.get(usize::from(ch)).copied().flatten() else {
            let what = ["attach", "flow", "transfer", "disposition", "detach", "end"]
                [(code - 0x12) as usize];
            return Err(conn_err(
                condition::NOT_FOUND,
                format!("{what} on channel {ch}, which has no session (never begun or ended)"),
            ));
        };
        let ending = self.session_ref(local).is_none_or(|s| s.end_sent);
        Ok((!ending || code == 0x17).then_some(local))
    }

    fn on_end(&mut self, local: u16, mut f: Fields<'_>) -> Result<(), Fault> {
        let error = terminus::opt_error(f.next_raw()?)?;
        let Some(s) = self
            .sessions
            .get_mut(usize::from(local))
            .and_then(Option::take)
        else {
            return Ok(());
        };
        if !s.end_sent {
            self.emit(|o| write::end(o, local, None));
        }
        if let Some(rc) = s.remote_channel {
            self.remote_channels[usize::from(rc)] = None;
        }
        let error = s.error.or(error);
        self.events.push_back(Event::SessionEnded {
            session: SessionId(local),
            error,
        });
        Ok(())
    }

    /// Ends a session from our side (API or session error).
    pub(super) fn end_with(&mut self, local: u16, error: Option<ErrorCondition>) {
        let Some(s) = self.session_mut(local) else {
            return;
        };
        if s.end_sent {
            return;
        }
        s.end_sent = true;
        s.error.clone_from(&error);
        self.emit(|o| write::end(o, local, error.as_ref()));
    }

    /// Ends a session; `Event::SessionEnded` follows when the peer answers.
    pub fn end(
        &mut self,
        session: SessionId,
        error: Option<ErrorCondition>,
    ) -> Result<(), ApiError> {
        if !matches!(self.phase, Phase::Opened) {
            return Err(ApiError::NotOpen);
        }
        if self.session_ref(session.0).is_none() {
            return Err(ApiError::UnknownSession);
        }
        self.end_with(session.0, error);
        Ok(())
    }

    fn on_flow(&mut self, local: u16, mut f: Fields<'_>) -> Result<(), Fault> {
        let nii = f.uint()?;
        let iw = f.uint()?.ok_or_else(|| missing("flow.incoming-window"))?;
        f.uint()?.ok_or_else(|| missing("flow.next-outgoing-id"))?;
        f.uint()?.ok_or_else(|| missing("flow.outgoing-window"))?;
        let handle = f.uint()?;
        let dc = f.uint()?;
        let credit = f.uint()?;
        f.uint()?; // available
        let drain = f.boolean()?.unwrap_or(false);
        let echo = f.boolean()?.unwrap_or(false);
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        s.remote_incoming_window = nii
            .unwrap_or(0)
            .wrapping_add(iw)
            .wrapping_sub(s.next_outgoing_id);
        match handle {
            Some(h) => self.on_link_flow(local, h, dc, credit.unwrap_or(0), drain, echo),
            None => {
                if echo {
                    self.send_flow(local, None);
                }
                Ok(())
            }
        }
    }

    /// Queues a flow for the session, with the link's state if `handle` is given.
    pub(crate) fn send_flow(&mut self, local: u16, handle: Option<u32>) {
        let Some(s) = self.session_mut(local) else {
            return;
        };
        let sf = s.flow_fields();
        let lf = handle.and_then(|h| {
            s.link_mut(h).map(|l| LinkFlow {
                handle: h,
                delivery_count: l.delivery_count,
                link_credit: l.credit,
                drain: l.drain,
                echo: false,
            })
        });
        self.emit(|o| write::flow(o, local, &sf, lf.as_ref()));
    }

    fn on_disposition(&mut self, local: u16, mut f: Fields<'_>) -> Result<(), Fault> {
        let role = f.boolean()?.ok_or_else(|| missing("disposition.role"))?;
        let first = f.uint()?.ok_or_else(|| missing("disposition.first"))?;
        let last = f.uint()?.unwrap_or(first);
        let settled = f.boolean()?.unwrap_or(false);
        let state = f.next_raw()?.map(terminus::delivery_state).transpose()?;
        self.events.push_back(Event::Disposition {
            session: SessionId(local),
            role: Role::from_wire(role),
            first,
            last,
            settled,
            state,
        });
        Ok(())
    }

    /// Sends a disposition for deliveries `first..=last` received or sent on `link`'s
    /// session, in `link`'s role: settle and/or give an outcome.
    pub fn disposition(
        &mut self,
        link: LinkId,
        first: u32,
        last: u32,
        settled: bool,
        state: Option<DeliveryState>,
    ) -> Result<(), ApiError> {
        let ch = link.session.0;
        let role = self
            .session_mut(ch)
            .and_then(|s| s.link_mut(link.handle))
            .map(|l| l.role)
            .ok_or(ApiError::UnknownLink)?;
        let args = DispositionArgs {
            role,
            first,
            last,
            settled,
            state: state.as_ref(),
        };
        self.emit(|o| write::disposition(o, ch, &args));
        Ok(())
    }

    /// Accounts one incoming transfer frame against our window; re-opens it at half.
    pub(super) fn take_incoming_window(&mut self, local: u16) -> Result<(), Fault> {
        let full = self.cfg.incoming_window;
        let s = self
            .session_mut(local)
            .expect("checked by on_session_frame");
        if s.incoming_window == 0 {
            return Err(Fault::Session(
                local,
                ErrorCondition::new(
                    condition::WINDOW_VIOLATION,
                    format!("transfer beyond our incoming-window of {full} frames"),
                ),
            ));
        }
        s.incoming_window -= 1;
        s.next_incoming_id = s.next_incoming_id.wrapping_add(1);
        if s.incoming_window <= full / 2 {
            s.incoming_window = full;
            self.send_flow(local, None);
        }
        Ok(())
    }
}
