//! The [`Performative`] enum and whole-frame helpers for AMQP frames (spec 2.3.2).

use crate::codes::descriptor as d;
use crate::encoder::{Encoder, Sink};
use crate::frame::{write_frame, Frame, FrameType};
use crate::transport::{Attach, Begin, Close, Detach, Disposition, End, Flow, Open, Transfer};
use crate::value::Described;
use crate::{AmqpError, Reader, Value};

/// A decoded AMQP frame body: `None` for a heartbeat, else the performative and the
/// payload bytes after it (message bytes of a transfer).
pub type FrameBody<'a> = Option<(Performative<'a>, &'a [u8])>;

/// Any of the nine AMQP performatives.
///
/// `Attach` is much larger than the others (two termini); it is kept inline so that
/// decoding never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Performative<'a> {
    /// `open` (0x10).
    Open(Open<'a>),
    /// `begin` (0x11).
    Begin(Begin<'a>),
    /// `attach` (0x12).
    Attach(Attach<'a>),
    /// `flow` (0x13).
    Flow(Flow<'a>),
    /// `transfer` (0x14).
    Transfer(Transfer<'a>),
    /// `disposition` (0x15).
    Disposition(Disposition<'a>),
    /// `detach` (0x16).
    Detach(Detach<'a>),
    /// `end` (0x17).
    End(End<'a>),
    /// `close` (0x18).
    Close(Close<'a>),
}

impl<'a> Performative<'a> {
    /// Reads one performative (any of the nine) from `r`.
    #[inline]
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, AmqpError> {
        // The usual `0x00 0x53 code` form: dispatch without decoding a Value first.
        if let [0x00, 0x53, c, ..] = *r.rest() {
            return Ok(match u64::from(c) {
                d::OPEN => Performative::Open(Open::decode(r)?),
                d::BEGIN => Performative::Begin(Begin::decode(r)?),
                d::ATTACH => Performative::Attach(Attach::decode(r)?),
                d::FLOW => Performative::Flow(Flow::decode(r)?),
                d::TRANSFER => Performative::Transfer(Transfer::decode(r)?),
                d::DISPOSITION => Performative::Disposition(Disposition::decode(r)?),
                d::DETACH => Performative::Detach(Detach::decode(r)?),
                d::END => Performative::End(End::decode(r)?),
                d::CLOSE => Performative::Close(Close::decode(r)?),
                other => return Err(AmqpError::UnexpectedDescriptor(other)),
            });
        }
        let x = match Value::decode(r)? {
            Value::Described(x) => x,
            other => return Err(crate::fields::mismatch("performative", &other)),
        };
        Self::from_described(&x)
    }

    fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        let code = x
            .descriptor()
            .code()
            .ok_or(AmqpError::UnknownSymbolicDescriptor)?;
        Ok(match code {
            d::OPEN => Performative::Open(Open::from_described(x)?),
            d::BEGIN => Performative::Begin(Begin::from_described(x)?),
            d::ATTACH => Performative::Attach(Attach::from_described(x)?),
            d::FLOW => Performative::Flow(Flow::from_described(x)?),
            d::TRANSFER => Performative::Transfer(Transfer::from_described(x)?),
            d::DISPOSITION => Performative::Disposition(Disposition::from_described(x)?),
            d::DETACH => Performative::Detach(Detach::from_described(x)?),
            d::END => Performative::End(End::from_described(x)?),
            d::CLOSE => Performative::Close(Close::from_described(x)?),
            other => return Err(AmqpError::UnexpectedDescriptor(other)),
        })
    }

    /// The descriptor code (0x10..=0x18).
    pub fn descriptor_code(&self) -> u64 {
        match self {
            Performative::Open(_) => d::OPEN,
            Performative::Begin(_) => d::BEGIN,
            Performative::Attach(_) => d::ATTACH,
            Performative::Flow(_) => d::FLOW,
            Performative::Transfer(_) => d::TRANSFER,
            Performative::Disposition(_) => d::DISPOSITION,
            Performative::Detach(_) => d::DETACH,
            Performative::End(_) => d::END,
            Performative::Close(_) => d::CLOSE,
        }
    }

    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        match self {
            Performative::Open(p) => p.write(e),
            Performative::Begin(p) => p.write(e),
            Performative::Attach(p) => p.write(e),
            Performative::Flow(p) => p.write(e),
            Performative::Transfer(p) => p.write(e),
            Performative::Disposition(p) => p.write(e),
            Performative::Detach(p) => p.write(e),
            Performative::End(p) => p.write(e),
            Performative::Close(p) => p.write(e),
        }
    }

    /// Appends the encoded performative to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write(&mut Encoder::new(out));
    }

    /// Decodes an AMQP frame body: `None` for an empty body (heartbeat), else the
    /// performative and the payload after it (message bytes of a transfer; must be
    /// empty for other performatives).
    #[inline]
    pub fn decode_body(body: &'a [u8]) -> Result<FrameBody<'a>, AmqpError> {
        if body.is_empty() {
            return Ok(None);
        }
        let mut r = Reader::new(body);
        let p = Performative::decode(&mut r)?;
        let payload = r.rest();
        if !payload.is_empty() && !matches!(p, Performative::Transfer(_)) {
            return Err(AmqpError::TrailingBytes(payload.len()));
        }
        Ok(Some((p, payload)))
    }

    /// Decodes a complete AMQP frame (see [`Frame::parse`]): channel, and the
    /// performative with its payload or `None` for a heartbeat.
    #[inline]
    pub fn decode_frame(frame: &Frame<'a>) -> Result<(u16, FrameBody<'a>), AmqpError> {
        if frame.header.frame_type != FrameType::Amqp {
            return Err(AmqpError::UnexpectedFrame);
        }
        Ok((frame.header.channel, Self::decode_body(frame.body)?))
    }

    /// Appends a whole AMQP frame: header, this performative, `payload`. Returns the
    /// frame size.
    pub fn write_frame<S: Sink + ?Sized>(
        &self,
        out: &mut S,
        channel: u16,
        payload: &[u8],
    ) -> Result<u32, AmqpError> {
        write_frame(out, FrameType::Amqp, channel, payload, |e| self.write(e))
    }
}

/// Appends an empty AMQP frame (a heartbeat, spec 2.4.5) to `out`.
pub fn write_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 0, 8, 2, 0, 0, 0]);
}
