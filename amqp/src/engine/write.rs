//! Writers for every frame the engine sends. Each appends one whole frame to `out`.

use super::codec::*;
use super::types::{DeliveryState, ErrorCondition, Role};

/// `AMQP\0\1\0\0`.
pub(crate) const AMQP_HEADER: [u8; 8] = *b"AMQP\x00\x01\x00\x00";
/// `AMQP\3\1\0\0`.
pub(crate) const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";
/// An empty AMQP frame on channel 0: the heartbeat.
pub(crate) const EMPTY_FRAME: [u8; 8] = [0, 0, 0, 8, 2, 0, 0, 0];

pub(crate) const FRAME_AMQP: u8 = 0;
pub(crate) const FRAME_SASL: u8 = 1;

/// Fields of an open frame we send.
pub(crate) struct OpenArgs<'a> {
    pub container_id: &'a str,
    pub hostname: Option<&'a str>,
    pub max_frame_size: u32,
    pub channel_max: u16,
    pub idle_timeout_ms: Option<u32>,
}

pub(crate) fn open(out: &mut Vec<u8>, a: &OpenArgs<'_>) {
    let f = begin_frame(out, FRAME_AMQP, 0);
    let l = begin_list(out, 0x10);
    put_str(out, a.container_id);
    put_opt_str(out, a.hostname);
    put_uint(out, a.max_frame_size);
    put_ushort(out, a.channel_max);
    let mut n = 4;
    if let Some(ms) = a.idle_timeout_ms {
        put_uint(out, ms);
        n = 5;
    }
    end_list(out, l, n);
    end_frame(out, f);
}

pub(crate) fn error(out: &mut Vec<u8>, e: &ErrorCondition) {
    let l = begin_list(out, 0x1d);
    put_sym(out, &e.condition);
    put_str(out, &e.description);
    end_list(out, l, 2);
}

fn opt_error(out: &mut Vec<u8>, e: Option<&ErrorCondition>) -> u32 {
    match e {
        Some(e) => {
            error(out, e);
            1
        }
        None => 0,
    }
}

pub(crate) fn close(out: &mut Vec<u8>, e: Option<&ErrorCondition>) {
    let f = begin_frame(out, FRAME_AMQP, 0);
    let l = begin_list(out, 0x18);
    let n = opt_error(out, e);
    end_list(out, l, n);
    end_frame(out, f);
}

pub(crate) fn end(out: &mut Vec<u8>, ch: u16, e: Option<&ErrorCondition>) {
    let f = begin_frame(out, FRAME_AMQP, ch);
    let l = begin_list(out, 0x17);
    let n = opt_error(out, e);
    end_list(out, l, n);
    end_frame(out, f);
}

/// Fields of a begin frame we send.
pub(crate) struct BeginArgs {
    pub remote_channel: Option<u16>,
    pub next_outgoing_id: u32,
    pub incoming_window: u32,
    pub outgoing_window: u32,
    pub handle_max: u32,
}

pub(crate) fn begin(out: &mut Vec<u8>, ch: u16, a: &BeginArgs) {
    let f = begin_frame(out, FRAME_AMQP, ch);
    let l = begin_list(out, 0x11);
    match a.remote_channel {
        Some(r) => put_ushort(out, r),
        None => put_null(out),
    }
    put_uint(out, a.next_outgoing_id);
    put_uint(out, a.incoming_window);
    put_uint(out, a.outgoing_window);
    put_uint(out, a.handle_max);
    end_list(out, l, 5);
    end_frame(out, f);
}

/// Fields of an attach frame we send.
pub(crate) struct AttachArgs<'a> {
    pub name: &'a str,
    pub handle: u32,
    pub role: Role,
    pub snd_settle_mode: u8,
    pub rcv_settle_mode: u8,
    pub source: Option<&'a [u8]>,
    pub target: Option<&'a [u8]>,
    pub initial_delivery_count: Option<u32>,
    pub max_message_size: u64,
}

pub(crate) fn attach(out: &mut Vec<u8>, ch: u16, a: &AttachArgs<'_>) {
    let f = begin_frame(out, FRAME_AMQP, ch);
    let l = begin_list(out, 0x12);
    put_str(out, a.name);
    put_uint(out, a.handle);
    put_bool(out, a.role.wire());
    put_ubyte(out, a.snd_settle_mode);
    put_ubyte(out, a.rcv_settle_mode);
    for t in [a.source, a.target] {
        match t {
            Some(raw) => out.extend_from_slice(raw),
            None => put_null(out),
        }
    }
    put_null(out); // unsettled
    put_null(out); // incomplete-unsettled
    match a.initial_delivery_count {
        Some(c) => put_uint(out, c),
        None => put_null(out),
    }
    put_ulong(out, a.max_message_size);
    end_list(out, l, 11);
    end_frame(out, f);
}

/// A described source or target with an address and (sources only) string filters.
pub(crate) fn terminus(out: &mut Vec<u8>, source: bool, address: &str, filters: &[(&str, &str)]) {
    let l = begin_list(out, if source { 0x28 } else { 0x29 });
    put_str(out, address);
    if !source || filters.is_empty() {
        end_list(out, l, 1);
        return;
    }
    for _ in 0..6 {
        put_null(out); // durable .. distribution-mode
    }
    out.push(0xd1);
    let m = out.len();
    out.extend_from_slice(&[0; 8]);
    for (k, v) in filters {
        put_sym(out, k);
        put_str(out, v);
    }
    end_list(out, m, 2 * filters.len() as u32);
    end_list(out, l, 8);
}

/// Session part of a flow frame.
pub(crate) struct SessionFlow {
    pub next_incoming_id: u32,
    pub incoming_window: u32,
    pub next_outgoing_id: u32,
    pub outgoing_window: u32,
}

/// Link part of a flow frame.
pub(crate) struct LinkFlow {
    pub handle: u32,
    pub delivery_count: u32,
    pub link_credit: u32,
    pub drain: bool,
    pub echo: bool,
}

pub(crate) fn flow(out: &mut Vec<u8>, ch: u16, s: &SessionFlow, link: Option<&LinkFlow>) {
    let f = begin_frame(out, FRAME_AMQP, ch);
    let l = begin_list(out, 0x13);
    put_uint(out, s.next_incoming_id);
    put_uint(out, s.incoming_window);
    put_uint(out, s.next_outgoing_id);
    put_uint(out, s.outgoing_window);
    let n = match link {
        Some(k) => {
            put_uint(out, k.handle);
            put_uint(out, k.delivery_count);
            put_uint(out, k.link_credit);
            put_null(out); // available
            put_bool(out, k.drain);
            put_bool(out, k.echo);
            10
        }
        None => 4,
    };
    end_list(out, l, n);
    end_frame(out, f);
}

pub(crate) fn delivery_state(out: &mut Vec<u8>, s: &DeliveryState) {
    match s {
        DeliveryState::Accepted => out.extend_from_slice(&[0x00, 0x53, 0x24, 0x45]),
        DeliveryState::Released => out.extend_from_slice(&[0x00, 0x53, 0x26, 0x45]),
        DeliveryState::Rejected(e) => {
            let l = begin_list(out, 0x25);
            let n = opt_error(out, e.as_ref());
            end_list(out, l, n);
        }
        DeliveryState::Modified {
            delivery_failed,
            undeliverable_here,
        } => {
            let l = begin_list(out, 0x27);
            put_bool(out, *delivery_failed);
            put_bool(out, *undeliverable_here);
            end_list(out, l, 2);
        }
        DeliveryState::Received {
            section_number,
            section_offset,
        } => {
            let l = begin_list(out, 0x23);
            put_uint(out, *section_number);
            put_ulong(out, *section_offset);
            end_list(out, l, 2);
        }
    }
}

/// Fields of a disposition frame.
pub(crate) struct DispositionArgs<'a> {
    pub role: Role,
    pub first: u32,
    pub last: u32,
    pub settled: bool,
    pub state: Option<&'a DeliveryState>,
}

pub(crate) fn disposition(out: &mut Vec<u8>, ch: u16, a: &DispositionArgs<'_>) {
    let f = begin_frame(out, FRAME_AMQP, ch);
    let l = begin_list(out, 0x15);
    put_bool(out, a.role.wire());
    put_uint(out, a.first);
    put_uint(out, a.last);
    put_bool(out, a.settled);
    let n = match a.state {
        Some(s) => {
            delivery_state(out, s);
            5
        }
        None => 4,
    };
    end_list(out, l, n);
    end_frame(out, f);
}

pub(crate) fn detach(out: &mut Vec<u8>, ch: u16, handle: u32, e: Option<&ErrorCondition>) {
    let f = begin_frame(out, FRAME_AMQP, ch);
    let l = begin_list(out, 0x16);
    put_uint(out, handle);
    put_bool(out, true);
    let n = 2 + opt_error(out, e);
    end_list(out, l, n);
    end_frame(out, f);
}

/// Fields of a transfer frame header (the performative without the payload).
pub(crate) struct TransferArgs<'a> {
    pub handle: u32,
    pub delivery_id: u32,
    pub tag: &'a [u8],
    pub settled: bool,
    pub more: bool,
    pub aborted: bool,
}

/// Most bytes [`transfer_header`] writes with a tag of at most 8 bytes.
pub(crate) const TRANSFER_HEADER_MAX: usize = 8 // frame header
    + 3 // descriptor 0x00 0x53 0x14
    + 3 // list8 constructor, size, count
    + 5 + 5 // handle, delivery-id (uint)
    + 10 // delivery-tag vbin8 of <= 8 bytes
    + 1 + 1 + 1 // message-format, settled, more
    + 4; // rcv-settle-mode, state, resume (null), aborted

/// Writes frame header + transfer performative for `payload_len` bytes that follow.
/// This is the per-link cost of a fan-out send: about 30 bytes, no allocation once `out`
/// has capacity.
#[inline]
pub(crate) fn transfer_header(
    out: &mut Vec<u8>,
    ch: u16,
    a: &TransferArgs<'_>,
    payload_len: usize,
) {
    debug_assert!(a.tag.len() <= 8);
    let f = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, 2, FRAME_AMQP]);
    out.extend_from_slice(&ch.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x53, 0x14, 0xc0, 0, 0]);
    let l = out.len() - 2;
    put_uint(out, a.handle);
    put_uint(out, a.delivery_id);
    out.extend_from_slice(&[0xa0, a.tag.len() as u8]);
    out.extend_from_slice(a.tag);
    out.push(0x43); // message-format 0
    put_bool(out, a.settled);
    let mut n = 5;
    if a.more || a.aborted {
        put_bool(out, a.more);
        n = 6;
    }
    if a.aborted {
        out.extend_from_slice(&[0x40, 0x40, 0x40, 0x41]); // rcv-settle, state, resume, aborted
        n = 10;
    }
    out[l] = (out.len() - l - 1) as u8;
    out[l + 1] = n;
    let size = (out.len() - f + payload_len) as u32;
    out[f..f + 4].copy_from_slice(&size.to_be_bytes());
    debug_assert!(out.len() - f <= TRANSFER_HEADER_MAX);
}

pub(crate) fn sasl_mechanisms(out: &mut Vec<u8>, mechs: &[&str]) {
    let f = begin_frame(out, FRAME_SASL, 0);
    let l = begin_list(out, 0x40);
    put_sym_array(out, mechs);
    end_list(out, l, 1);
    end_frame(out, f);
}

pub(crate) fn sasl_init(out: &mut Vec<u8>, mech: &str, resp: &[u8], host: Option<&str>) {
    let f = begin_frame(out, FRAME_SASL, 0);
    let l = begin_list(out, 0x41);
    put_sym(out, mech);
    put_bin(out, resp);
    put_opt_str(out, host);
    end_list(out, l, 3);
    end_frame(out, f);
}

pub(crate) fn sasl_outcome(out: &mut Vec<u8>, code: u8) {
    let f = begin_frame(out, FRAME_SASL, 0);
    let l = begin_list(out, 0x44);
    put_ubyte(out, code);
    end_list(out, l, 1);
    end_frame(out, f);
}
