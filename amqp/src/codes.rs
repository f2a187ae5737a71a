//! AMQP 1.0 format codes (spec part 1, section 1.6 "Primitive Type Definitions") and
//! descriptor codes of the composite types (parts 2, 3 and 5).
//!
//! The high nibble of a format code gives the width category (spec 1.2 "Type
//! Encodings"): 0x4 fixed 0 bytes, 0x5 fixed 1, 0x6 fixed 2, 0x7 fixed 4, 0x8 fixed 8,
//! 0x9 fixed 16, 0xa variable with 1-byte length, 0xb variable with 4-byte length,
//! 0xc/0xd compound with 1-/4-byte size and count, 0xe/0xf array with 1-/4-byte size
//! and count.

#![allow(missing_docs)] // the names say what each constant is; see the spec section above.

/// Constructor byte that introduces a described type: descriptor, then value.
pub const DESCRIBED: u8 = 0x00;

pub const NULL: u8 = 0x40;
pub const TRUE: u8 = 0x41;
pub const FALSE: u8 = 0x42;
pub const UINT0: u8 = 0x43;
pub const ULONG0: u8 = 0x44;
pub const LIST0: u8 = 0x45;
pub const UBYTE: u8 = 0x50;
pub const BYTE: u8 = 0x51;
pub const SMALLUINT: u8 = 0x52;
pub const SMALLULONG: u8 = 0x53;
pub const SMALLINT: u8 = 0x54;
pub const SMALLLONG: u8 = 0x55;
pub const BOOLEAN: u8 = 0x56;
pub const USHORT: u8 = 0x60;
pub const SHORT: u8 = 0x61;
pub const UINT: u8 = 0x70;
pub const INT: u8 = 0x71;
pub const FLOAT: u8 = 0x72;
pub const CHAR: u8 = 0x73;
pub const DECIMAL32: u8 = 0x74;
pub const ULONG: u8 = 0x80;
pub const LONG: u8 = 0x81;
pub const DOUBLE: u8 = 0x82;
pub const TIMESTAMP: u8 = 0x83;
pub const DECIMAL64: u8 = 0x84;
pub const DECIMAL128: u8 = 0x94;
pub const UUID: u8 = 0x98;
pub const VBIN8: u8 = 0xa0;
pub const STR8: u8 = 0xa1;
pub const SYM8: u8 = 0xa3;
pub const VBIN32: u8 = 0xb0;
pub const STR32: u8 = 0xb1;
pub const SYM32: u8 = 0xb3;
pub const LIST8: u8 = 0xc0;
pub const MAP8: u8 = 0xc1;
pub const LIST32: u8 = 0xd0;
pub const MAP32: u8 = 0xd1;
pub const ARRAY8: u8 = 0xe0;
pub const ARRAY32: u8 = 0xf0;

/// True for every format code defined by AMQP 1.0 (not counting 0x00, described).
pub const fn is_known(code: u8) -> bool {
    matches!(
        code,
        0x40..=0x45
            | 0x50..=0x56
            | 0x60
            | 0x61
            | 0x70..=0x74
            | 0x80..=0x84
            | 0x94
            | 0x98
            | 0xa0
            | 0xa1
            | 0xa3
            | 0xb0
            | 0xb1
            | 0xb3
            | 0xc0
            | 0xc1
            | 0xd0
            | 0xd1
            | 0xe0
            | 0xf0
    )
}

/// Descriptor codes (domain 0x00000000) of the composite types, with their symbolic names.
pub mod descriptor {
    // Transport (spec 2.7, 2.8).
    pub const OPEN: u64 = 0x10;
    pub const BEGIN: u64 = 0x11;
    pub const ATTACH: u64 = 0x12;
    pub const FLOW: u64 = 0x13;
    pub const TRANSFER: u64 = 0x14;
    pub const DISPOSITION: u64 = 0x15;
    pub const DETACH: u64 = 0x16;
    pub const END: u64 = 0x17;
    pub const CLOSE: u64 = 0x18;
    pub const ERROR: u64 = 0x1d;
    // Delivery states (spec 3.4).
    pub const RECEIVED: u64 = 0x23;
    pub const ACCEPTED: u64 = 0x24;
    pub const REJECTED: u64 = 0x25;
    pub const RELEASED: u64 = 0x26;
    pub const MODIFIED: u64 = 0x27;
    // Terminus (spec 3.5).
    pub const SOURCE: u64 = 0x28;
    pub const TARGET: u64 = 0x29;
    pub const DELETE_ON_CLOSE: u64 = 0x2b;
    pub const DELETE_ON_NO_LINKS: u64 = 0x2c;
    pub const DELETE_ON_NO_MESSAGES: u64 = 0x2d;
    pub const DELETE_ON_NO_LINKS_OR_MESSAGES: u64 = 0x2e;
    // SASL (spec 5.3.3).
    pub const SASL_MECHANISMS: u64 = 0x40;
    pub const SASL_INIT: u64 = 0x41;
    pub const SASL_CHALLENGE: u64 = 0x42;
    pub const SASL_RESPONSE: u64 = 0x43;
    pub const SASL_OUTCOME: u64 = 0x44;
    // Message sections (spec 3.2).
    pub const HEADER: u64 = 0x70;
    pub const DELIVERY_ANNOTATIONS: u64 = 0x71;
    pub const MESSAGE_ANNOTATIONS: u64 = 0x72;
    pub const PROPERTIES: u64 = 0x73;
    pub const APPLICATION_PROPERTIES: u64 = 0x74;
    pub const DATA: u64 = 0x75;
    pub const AMQP_SEQUENCE: u64 = 0x76;
    pub const AMQP_VALUE: u64 = 0x77;
    pub const FOOTER: u64 = 0x78;

    /// Symbolic descriptor names (spec: `amqp:<name>:<encoding>`) and their codes.
    pub const NAMES: &[(&str, u64)] = &[
        ("amqp:open:list", OPEN),
        ("amqp:begin:list", BEGIN),
        ("amqp:attach:list", ATTACH),
        ("amqp:flow:list", FLOW),
        ("amqp:transfer:list", TRANSFER),
        ("amqp:disposition:list", DISPOSITION),
        ("amqp:detach:list", DETACH),
        ("amqp:end:list", END),
        ("amqp:close:list", CLOSE),
        ("amqp:error:list", ERROR),
        ("amqp:received:list", RECEIVED),
        ("amqp:accepted:list", ACCEPTED),
        ("amqp:rejected:list", REJECTED),
        ("amqp:released:list", RELEASED),
        ("amqp:modified:list", MODIFIED),
        ("amqp:source:list", SOURCE),
        ("amqp:target:list", TARGET),
        ("amqp:delete-on-close:list", DELETE_ON_CLOSE),
        ("amqp:delete-on-no-links:list", DELETE_ON_NO_LINKS),
        ("amqp:delete-on-no-messages:list", DELETE_ON_NO_MESSAGES),
        (
            "amqp:delete-on-no-links-or-messages:list",
            DELETE_ON_NO_LINKS_OR_MESSAGES,
        ),
        ("amqp:sasl-mechanisms:list", SASL_MECHANISMS),
        ("amqp:sasl-init:list", SASL_INIT),
        ("amqp:sasl-challenge:list", SASL_CHALLENGE),
        ("amqp:sasl-response:list", SASL_RESPONSE),
        ("amqp:sasl-outcome:list", SASL_OUTCOME),
        ("amqp:header:list", HEADER),
        ("amqp:delivery-annotations:map", DELIVERY_ANNOTATIONS),
        ("amqp:message-annotations:map", MESSAGE_ANNOTATIONS),
        ("amqp:properties:list", PROPERTIES),
        ("amqp:application-properties:map", APPLICATION_PROPERTIES),
        ("amqp:data:binary", DATA),
        ("amqp:amqp-sequence:list", AMQP_SEQUENCE),
        ("amqp:amqp-value:*", AMQP_VALUE),
        ("amqp:footer:map", FOOTER),
    ];

    /// The numeric code of a known symbolic descriptor.
    pub fn code_of(name: &str) -> Option<u64> {
        NAMES.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
    }
}
