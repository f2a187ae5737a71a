//! SASL frames (spec part 5, 5.3 "SASL"): the five bodies carried in frames of type 1
//! after the `AMQP 3 1.0.0` header, plus a parser for the PLAIN mechanism's response
//! (RFC 4616).

use crate::codes::descriptor as d;
use crate::encoder::{Encoder, Sink};
use crate::fields::{mismatch, Fields, Symbols};
use crate::frame::{write_frame, Frame, FrameType};
use crate::value::Described;
use crate::{AmqpError, Reader, Value};

/// `sasl-mechanisms` (0x40): the server's offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslMechanisms<'a> {
    /// Mechanisms the server supports, e.g. `ANONYMOUS`, `PLAIN` (mandatory).
    pub mechanisms: Symbols<'a>,
}

/// `sasl-init` (0x41): the client's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslInit<'a> {
    /// The chosen mechanism.
    pub mechanism: &'a str,
    /// The mechanism's initial response (PLAIN: `authzid NUL authcid NUL passwd`).
    pub initial_response: Option<&'a [u8]>,
    /// The host the client wants.
    pub hostname: Option<&'a str>,
}

/// `sasl-challenge` (0x42).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslChallenge<'a> {
    /// Mechanism-specific challenge bytes.
    pub challenge: &'a [u8],
}

/// `sasl-response` (0x43).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslResponse<'a> {
    /// Mechanism-specific response bytes.
    pub response: &'a [u8],
}

/// The SASL outcome code (spec 5.3.3.6 `sasl-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslCode {
    /// 0: authentication succeeded.
    Ok = 0,
    /// 1: bad credentials.
    Auth = 1,
    /// 2: system error (unspecified).
    Sys = 2,
    /// 3: permanent system error.
    SysPerm = 3,
    /// 4: transient system error.
    SysTemp = 4,
}

impl SaslCode {
    /// From the wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => SaslCode::Ok,
            1 => SaslCode::Auth,
            2 => SaslCode::Sys,
            3 => SaslCode::SysPerm,
            4 => SaslCode::SysTemp,
            _ => return None,
        })
    }
}

/// `sasl-outcome` (0x44): the server's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslOutcome<'a> {
    /// The result.
    pub code: SaslCode,
    /// Additional data for the client on success.
    pub additional_data: Option<&'a [u8]>,
}

/// Any SASL frame body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslFrame<'a> {
    /// `sasl-mechanisms`.
    Mechanisms(SaslMechanisms<'a>),
    /// `sasl-init`.
    Init(SaslInit<'a>),
    /// `sasl-challenge`.
    Challenge(SaslChallenge<'a>),
    /// `sasl-response`.
    Response(SaslResponse<'a>),
    /// `sasl-outcome`.
    Outcome(SaslOutcome<'a>),
}

impl<'a> SaslFrame<'a> {
    /// Reads one SASL body from `r`.
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, AmqpError> {
        let x = match Value::decode(r)? {
            Value::Described(x) => x,
            other => return Err(mismatch("sasl frame body", &other)),
        };
        Self::from_described(&x)
    }

    fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        let code = x
            .descriptor()
            .code()
            .ok_or(AmqpError::UnknownSymbolicDescriptor)?;
        let name = match code {
            d::SASL_MECHANISMS => "sasl-mechanisms",
            d::SASL_INIT => "sasl-init",
            d::SASL_CHALLENGE => "sasl-challenge",
            d::SASL_RESPONSE => "sasl-response",
            d::SASL_OUTCOME => "sasl-outcome",
            c => return Err(AmqpError::UnexpectedDescriptor(c)),
        };
        let mut f = Fields::new(x, name)?;
        let frame = match code {
            d::SASL_MECHANISMS => {
                let mechanisms = f.symbols()?;
                if mechanisms.is_empty() {
                    return Err(f.missing("sasl-server-mechanisms"));
                }
                SaslFrame::Mechanisms(SaslMechanisms { mechanisms })
            }
            d::SASL_INIT => SaslFrame::Init(SaslInit {
                mechanism: f.symbol("mechanism")?,
                initial_response: f.opt_binary()?,
                hostname: f.opt_str()?,
            }),
            d::SASL_CHALLENGE => SaslFrame::Challenge(SaslChallenge {
                challenge: f.binary("challenge")?,
            }),
            d::SASL_RESPONSE => SaslFrame::Response(SaslResponse {
                response: f.binary("response")?,
            }),
            _ => {
                let b = f.opt_ubyte()?.ok_or_else(|| f.missing("code"))?;
                let code = SaslCode::from_u8(b).ok_or_else(|| f.invalid("code"))?;
                SaslFrame::Outcome(SaslOutcome {
                    code,
                    additional_data: f.opt_binary()?,
                })
            }
        };
        f.finish()?;
        Ok(frame)
    }

    /// Decodes a complete SASL frame (see [`Frame::parse`]); the body must hold exactly
    /// one SASL performative.
    pub fn decode_frame(frame: &Frame<'a>) -> Result<Self, AmqpError> {
        if frame.header.frame_type != FrameType::Sasl {
            return Err(AmqpError::UnexpectedFrame);
        }
        let mut r = Reader::new(frame.body);
        let f = Self::decode(&mut r)?;
        r.expect_end()?;
        Ok(f)
    }

    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        match *self {
            SaslFrame::Mechanisms(m) => {
                e.composite(d::SASL_MECHANISMS, |e| m.mechanisms.encode(e));
            }
            SaslFrame::Init(i) => {
                e.composite(d::SASL_INIT, |e| {
                    e.symbol(i.mechanism);
                    e.opt(i.initial_response, |e, b| {
                        e.binary(b);
                    });
                    e.opt(i.hostname, |e, h| {
                        e.string(h);
                    });
                });
            }
            SaslFrame::Challenge(c) => {
                e.composite(d::SASL_CHALLENGE, |e| {
                    e.binary(c.challenge);
                });
            }
            SaslFrame::Response(r) => {
                e.composite(d::SASL_RESPONSE, |e| {
                    e.binary(r.response);
                });
            }
            SaslFrame::Outcome(o) => {
                e.composite(d::SASL_OUTCOME, |e| {
                    e.ubyte(o.code as u8);
                    e.opt(o.additional_data, |e, b| {
                        e.binary(b);
                    });
                });
            }
        }
    }

    /// Appends the encoded body to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write(&mut Encoder::new(out));
    }

    /// Appends a whole SASL frame (type 1, channel 0). Returns the frame size.
    pub fn write_frame<S: Sink + ?Sized>(&self, out: &mut S) -> Result<u32, AmqpError> {
        write_frame(out, FrameType::Sasl, 0, &[], |e| self.write(e))
    }
}

/// The three parts of a SASL PLAIN response (RFC 4616): `authzid NUL authcid NUL passwd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainCredentials<'a> {
    /// Authorization identity (often empty).
    pub authzid: &'a str,
    /// Authentication identity (the user name).
    pub authcid: &'a str,
    /// The password.
    pub passwd: &'a str,
}

impl<'a> PlainCredentials<'a> {
    /// Parses a PLAIN response; fails with [`AmqpError::InvalidFieldValue`] unless it
    /// has exactly two NULs and UTF-8 parts.
    pub fn parse(response: &'a [u8]) -> Result<Self, AmqpError> {
        let bad = AmqpError::InvalidFieldValue {
            composite: "sasl-init",
            field: "initial-response",
        };
        let s = core::str::from_utf8(response).map_err(|_| bad)?;
        let mut it = s.split('\0');
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(authzid), Some(authcid), Some(passwd), None) if !authcid.is_empty() => {
                Ok(PlainCredentials {
                    authzid,
                    authcid,
                    passwd,
                })
            }
            _ => Err(bad),
        }
    }
}
