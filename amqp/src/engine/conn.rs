//! Connection scope: protocol headers, SASL, open, close, frame dispatch.

use super::codec::{self, DecodeError, Fields};
use super::config::{ClientAuth, SaslPolicy, Side};
use super::terminus;
use super::transfer;
use super::types::{condition, ApiError, ErrorCondition, Event};
use super::write::{self, OpenArgs, AMQP_HEADER, FRAME_AMQP, FRAME_SASL, SASL_HEADER};
use super::{conn_err, Engine, Fault, Phase, CLOSE_GRACE, MIN_MAX_FRAME_SIZE};

impl From<DecodeError> for Fault {
    fn from(e: DecodeError) -> Self {
        conn_err(condition::DECODE_ERROR, e.0)
    }
}

/// A mandatory field was null or absent.
pub(super) fn missing(what: &'static str) -> Fault {
    conn_err(
        condition::INVALID_FIELD,
        format!("mandatory field {what} is missing"),
    )
}

fn name_of(code: u64) -> &'static str {
    match code {
        0x10 => "open",
        0x11 => "begin",
        0x12 => "attach",
        0x13 => "flow",
        0x14 => "transfer",
        0x15 => "disposition",
        0x16 => "detach",
        0x17 => "end",
        0x18 => "close",
        0x40 => "sasl-mechanisms",
        0x41 => "sasl-init",
        0x42 => "sasl-challenge",
        0x43 => "sasl-response",
        0x44 => "sasl-outcome",
        _ => "unknown performative",
    }
}

/// Splits a frame body into (descriptor code, fields, payload after the list).
fn performative(body: &[u8]) -> Result<(u64, Fields<'_>, &[u8]), DecodeError> {
    let (d, v) = codec::described(body)?;
    let code = codec::descriptor_code(d)?;
    let (fields, n) = Fields::open(v)?;
    Ok((code, fields, &v[n..]))
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .take(8)
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Engine {
    /// Client: queue the first protocol header (and open, when skipping SASL).
    pub(super) fn client_start(&mut self) {
        let Side::Client { auth, .. } = &self.cfg.side else {
            return;
        };
        if *auth == ClientAuth::None {
            self.emit_raw(&AMQP_HEADER);
            self.send_open();
            self.phase = Phase::Header { sasl_done: true };
        } else {
            self.emit_raw(&SASL_HEADER);
        }
    }

    pub(super) fn send_open(&mut self) {
        let hostname = match &self.cfg.side {
            Side::Client { hostname, .. } => hostname.clone(),
            Side::Server { .. } => None,
        };
        let cfg = &self.cfg;
        let args = OpenArgs {
            container_id: &cfg.container_id,
            hostname: hostname.as_deref(),
            max_frame_size: cfg.max_frame_size.max(MIN_MAX_FRAME_SIZE),
            channel_max: cfg.channel_max,
            idle_timeout_ms: cfg
                .idle_timeout
                .map(|t| t.as_millis().min(u32::MAX as u128) as u32),
        };
        let start = self.out.buf().len();
        write::open(self.out.buf(), &args);
        self.out.commit(start);
        self.last_tx = self.now;
    }

    /// Not an AMQP header at all: answer with ours, then close with the reason.
    pub(super) fn bad_header(&mut self, got: &[u8], sasl_done: bool) {
        let text = format!("expected an AMQP protocol header, got bytes {}", hex(got));
        self.reject_header(sasl_done, text);
    }

    fn reject_header(&mut self, sasl_done: bool, text: String) {
        let err = ErrorCondition::new(condition::CONNECTION_FRAMING_ERROR, text);
        let sasl_only = matches!(
            self.cfg.side,
            Side::Server {
                sasl: SaslPolicy::Required,
                ..
            }
        ) && !sasl_done;
        if self.cfg.is_server() && sasl_only {
            self.emit_raw(&SASL_HEADER);
        } else if self.cfg.is_server() {
            self.emit_raw(&AMQP_HEADER);
            self.send_open();
            self.emit(|o| write::close(o, Some(&err)));
        }
        self.phase = Phase::Closed;
        self.events.push_back(Event::Closed {
            local: true,
            error: Some(err),
        });
    }

    pub(super) fn on_header(&mut self, h: &[u8], sasl_done: bool) {
        let is_sasl = h == SASL_HEADER;
        let is_amqp = h == AMQP_HEADER;
        match &self.cfg.side {
            Side::Server {
                sasl,
                allow_anonymous,
                authenticator,
            } => {
                if is_sasl && !sasl_done && *sasl != SaslPolicy::Disabled {
                    let mut mechs: Vec<&str> = Vec::with_capacity(2);
                    if authenticator.is_some() {
                        mechs.push("PLAIN");
                    }
                    if *allow_anonymous {
                        mechs.push("ANONYMOUS");
                    }
                    let start = self.out.buf().len();
                    self.out.buf().extend_from_slice(&SASL_HEADER);
                    write::sasl_mechanisms(self.out.buf(), &mechs);
                    self.out.commit(start);
                    self.phase = Phase::SaslAwaitInit;
                } else if is_amqp && (sasl_done || *sasl != SaslPolicy::Required) {
                    self.emit_raw(&AMQP_HEADER);
                    self.phase = Phase::AwaitOpen { open_sent: false };
                } else {
                    let why = match (is_sasl, is_amqp) {
                        (true, _) => "SASL is not enabled on this listener",
                        (_, true) => "SASL authentication is required first",
                        _ => "unsupported AMQP protocol id or version",
                    };
                    self.reject_header(sasl_done, format!("{why} (got header {})", hex(h)));
                }
            }
            Side::Client { auth, .. } => {
                let want_sasl = !sasl_done && *auth != ClientAuth::None;
                if want_sasl && is_sasl {
                    self.phase = Phase::SaslAwaitMechanisms;
                } else if !want_sasl && is_amqp {
                    self.phase = Phase::AwaitOpen { open_sent: true };
                } else {
                    let text = format!("server answered with protocol header {}", hex(h));
                    self.reject_header(sasl_done, text);
                }
            }
        }
    }

    /// Dispatches one complete frame body.
    pub(super) fn on_frame(&mut self, kind: u8, ch: u16, body: &[u8]) -> Result<(), Fault> {
        let framing = condition::CONNECTION_FRAMING_ERROR;
        let sasl = matches!(
            self.phase,
            Phase::SaslAwaitInit | Phase::SaslAwaitMechanisms | Phase::SaslAwaitOutcome
        );
        if sasl {
            if kind != FRAME_SASL || body.is_empty() {
                return Err(conn_err(
                    framing,
                    format!("expected a SASL frame, got type {kind}"),
                ));
            }
            return self.on_sasl(body);
        }
        if kind != FRAME_AMQP {
            return Err(conn_err(
                framing,
                format!("frame type {kind} is not an AMQP frame"),
            ));
        }
        if body.is_empty() {
            return Ok(()); // heartbeat
        }
        // A transfer in the usual encodings, once open: read straight through.
        let quick = match self.phase {
            Phase::Opened => transfer::quick(body),
            _ => None,
        };
        let (code, result) = match quick {
            Some((head, payload)) => (0x14, self.on_quick_transfer(ch, head, payload)),
            None => {
                let (code, f, payload) = performative(body).map_err(|e| {
                    conn_err(
                        condition::DECODE_ERROR,
                        format!("cannot decode frame: {}", e.0),
                    )
                })?;
                if code != 0x14 && !payload.is_empty() {
                    let name = name_of(code);
                    return Err(conn_err(
                        condition::DECODE_ERROR,
                        format!(
                            "{} unexpected bytes after the {name} performative",
                            payload.len()
                        ),
                    ));
                }
                (code, self.dispatch(code, ch, f, payload))
            }
        };
        result.map_err(|f| match f {
            Fault::Conn(mut e) if e.condition == condition::DECODE_ERROR => {
                e.description = format!("cannot decode {}: {}", name_of(code), e.description);
                Fault::Conn(e)
            }
            other => other,
        })
    }

    /// A transfer read by `transfer::quick`: what `dispatch` does with one when open.
    fn on_quick_transfer(
        &mut self,
        ch: u16,
        head: transfer::TransferHead<'_>,
        payload: &[u8],
    ) -> Result<(), Fault> {
        match self.session_for(0x14, ch)? {
            Some(local) => self.apply_transfer(local, head, payload),
            None => Ok(()),
        }
    }

    fn dispatch(&mut self, code: u64, ch: u16, f: Fields<'_>, p: &[u8]) -> Result<(), Fault> {
        match (&self.phase, code) {
            (Phase::CloseSent { .. }, 0x18) => {
                self.phase = Phase::Closed;
                Ok(())
            }
            (Phase::CloseSent { .. }, _) => Ok(()),
            (Phase::AwaitOpen { .. }, 0x10) => self.on_open(f),
            (_, 0x18) => self.on_close(f),
            (Phase::AwaitOpen { .. }, c) => Err(conn_err(
                condition::NOT_ALLOWED,
                format!("expected open as the first frame, got {}", name_of(c)),
            )),
            (_, 0x10) => Err(conn_err(condition::NOT_ALLOWED, "open received twice")),
            (_, 0x11) => self.on_begin(ch, f),
            (_, 0x12..=0x17) => self.on_session_frame(code, ch, f, p),
            (_, c) => Err(conn_err(
                condition::CONNECTION_FRAMING_ERROR,
                format!(
                    "{} (descriptor {c:#x}) is not allowed in an AMQP frame",
                    name_of(c)
                ),
            )),
        }
    }

    fn on_open(&mut self, mut f: Fields<'_>) -> Result<(), Fault> {
        let container = f
            .string()?
            .ok_or_else(|| missing("open.container-id"))?
            .to_owned();
        let hostname = f.string()?.map(str::to_owned);
        let mfs = f.uint()?.unwrap_or(u32::MAX);
        if mfs < MIN_MAX_FRAME_SIZE {
            return Err(conn_err(
                condition::INVALID_FIELD,
                format!("open.max-frame-size {mfs} is below the minimum of 512"),
            ));
        }
        let channel_max = f.ushort()?.unwrap_or(u16::MAX);
        let idle = f.uint()?.unwrap_or(0);
        self.remote_max_frame = mfs;
        self.remote_channel_max = channel_max;
        // Heartbeats at half the peer's timeout; ignore absurd (< 100 ms) requests' floor.
        self.remote_idle =
            (idle > 0).then(|| std::time::Duration::from_millis(idle.max(100).into()));
        if let Phase::AwaitOpen { open_sent: false } = self.phase {
            self.send_open();
        }
        self.phase = Phase::Opened;
        self.events.push_back(Event::Opened {
            container_id: container,
            hostname,
        });
        Ok(())
    }

    fn on_close(&mut self, mut f: Fields<'_>) -> Result<(), Fault> {
        let error = terminus::opt_error(f.next_raw()?)?;
        self.emit(|o| write::close(o, None));
        self.phase = Phase::Closed;
        self.events.push_back(Event::Closed {
            local: false,
            error,
        });
        Ok(())
    }

    /// Closes the connection because of `e` (a protocol error or our idle timer).
    pub(super) fn fail(&mut self, e: ErrorCondition) {
        match self.phase {
            Phase::CloseSent { .. } | Phase::Closed => return,
            Phase::AwaitOpen { open_sent: false } => {
                self.send_open();
                self.emit(|o| write::close(o, Some(&e)));
                self.phase = Phase::CloseSent {
                    deadline: self.now + CLOSE_GRACE,
                };
            }
            Phase::AwaitOpen { open_sent: true } | Phase::Opened => {
                self.emit(|o| write::close(o, Some(&e)));
                self.phase = Phase::CloseSent {
                    deadline: self.now + CLOSE_GRACE,
                };
            }
            _ => self.phase = Phase::Closed,
        }
        self.events.push_back(Event::Closed {
            local: true,
            error: Some(e),
        });
    }

    /// Closes the connection, with an error if given. Emits `Event::Closed { local: true }`.
    pub fn close(&mut self, error: Option<ErrorCondition>) -> Result<(), ApiError> {
        match self.phase {
            Phase::Opened | Phase::AwaitOpen { .. } => {}
            _ => return Err(ApiError::NotOpen),
        }
        if let Phase::AwaitOpen { open_sent: false } = self.phase {
            self.send_open();
        }
        self.emit(|o| write::close(o, error.as_ref()));
        self.phase = Phase::CloseSent {
            deadline: self.now + CLOSE_GRACE,
        };
        self.events.push_back(Event::Closed { local: true, error });
        Ok(())
    }

    fn on_sasl(&mut self, body: &[u8]) -> Result<(), Fault> {
        let (code, mut f, _) = performative(body)?;
        match (&self.phase, code) {
            (Phase::SaslAwaitInit, 0x41) => {
                let mech = f.next_raw()?.map(codec::as_sym).transpose()?;
                let mech = mech
                    .ok_or_else(|| missing("sasl-init.mechanism"))?
                    .to_owned();
                let resp = f.binary()?.unwrap_or(&[]);
                self.sasl_server_init(&mech, resp);
                Ok(())
            }
            (Phase::SaslAwaitMechanisms, 0x40) => {
                let raw = f.next_raw()?.ok_or_else(|| missing("sasl-mechanisms"))?;
                let mut offered = Vec::new();
                codec::symbols(raw, |s| offered.push(s.to_owned()))?;
                self.sasl_client_init(&offered);
                Ok(())
            }
            (Phase::SaslAwaitOutcome, 0x44) => {
                let code = f.ubyte()?.ok_or_else(|| missing("sasl-outcome.code"))?;
                self.sasl_client_outcome(code);
                Ok(())
            }
            (_, c) => Err(conn_err(
                condition::CONNECTION_FRAMING_ERROR,
                format!("unexpected {} during SASL negotiation", name_of(c)),
            )),
        }
    }

    fn sasl_server_init(&mut self, mech: &str, resp: &[u8]) {
        let Side::Server {
            allow_anonymous,
            authenticator,
            ..
        } = &self.cfg.side
        else {
            return;
        };
        let (ok, user) = match mech {
            "ANONYMOUS" if *allow_anonymous => (true, None),
            "PLAIN" if authenticator.is_some() => {
                let mut parts = resp.split(|b| *b == 0).map(|p| std::str::from_utf8(p).ok());
                let (z, u, p) = (parts.next(), parts.next(), parts.next());
                match (z.flatten(), u.flatten(), p.flatten(), parts.next()) {
                    (Some(z), Some(u), Some(p), None) => {
                        let good = authenticator.as_ref().is_some_and(|a| a.plain(z, u, p));
                        (good, Some(u.to_owned()))
                    }
                    _ => (false, None),
                }
            }
            _ => (false, None),
        };
        self.emit(|o| write::sasl_outcome(o, if ok { 0 } else { 1 }));
        if ok {
            self.phase = Phase::Header { sasl_done: true };
            self.events.push_back(Event::Authenticated {
                mechanism: mech.to_owned(),
                user,
            });
        } else {
            let who = user.map(|u| format!(" for user '{u}'")).unwrap_or_default();
            let err = ErrorCondition::new(
                condition::UNAUTHORIZED_ACCESS,
                format!("SASL {mech} authentication failed{who}"),
            );
            self.phase = Phase::Closed;
            self.events.push_back(Event::Closed {
                local: true,
                error: Some(err),
            });
        }
    }

    fn sasl_client_init(&mut self, offered: &[String]) {
        let Side::Client { auth, hostname } = &self.cfg.side else {
            return;
        };
        let (mech, resp) = match auth {
            ClientAuth::Plain { user, password } => (
                "PLAIN",
                [&[0u8][..], user.as_bytes(), &[0], password.as_bytes()].concat(),
            ),
            _ => ("ANONYMOUS", b"anonymous".to_vec()),
        };
        if !offered.iter().any(|m| m == mech) {
            let err = ErrorCondition::new(
                condition::UNAUTHORIZED_ACCESS,
                format!(
                    "server does not offer SASL {mech} (offers {})",
                    offered.join(", ")
                ),
            );
            self.phase = Phase::Closed;
            self.events.push_back(Event::Closed {
                local: true,
                error: Some(err),
            });
            return;
        }
        let host = hostname.clone();
        self.emit(|o| write::sasl_init(o, mech, &resp, host.as_deref()));
        self.phase = Phase::SaslAwaitOutcome;
    }

    fn sasl_client_outcome(&mut self, code: u8) {
        if code != 0 {
            let err = ErrorCondition::new(
                condition::UNAUTHORIZED_ACCESS,
                format!("SASL authentication failed (outcome code {code})"),
            );
            self.phase = Phase::Closed;
            self.events.push_back(Event::Closed {
                local: true,
                error: Some(err),
            });
            return;
        }
        let mechanism = match &self.cfg.side {
            Side::Client {
                auth: ClientAuth::Plain { .. },
                ..
            } => "PLAIN",
            _ => "ANONYMOUS",
        };
        self.events.push_back(Event::Authenticated {
            mechanism: mechanism.into(),
            user: None,
        });
        self.emit_raw(&AMQP_HEADER);
        self.send_open();
        self.phase = Phase::Header { sasl_done: true };
    }
}
