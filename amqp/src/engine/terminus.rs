//! Decoding the composite fields performatives carry: source, target, error, delivery state.

use std::borrow::Cow;

use super::codec::*;
use super::types::{DeliveryState, ErrorCondition, Filter, Terminus};

type R<T> = Result<T, DecodeError>;

/// Parses a described source (0x28) or target (0x29).
pub(crate) fn terminus(raw: &[u8], source: bool) -> R<Terminus> {
    let (d, v) = described(raw)?;
    let want = if source { 0x28 } else { 0x29 };
    if descriptor_code(d)? != want {
        return Err(DecodeError(if source {
            "source is not a source"
        } else {
            "target is not a target"
        }));
    }
    let (mut f, _) = Fields::open(v)?;
    let address = f.next_raw()?.map(as_text).transpose()?.map(str::to_owned);
    f.skip(3)?; // durable, expiry-policy, timeout
    let dynamic = f.boolean()?.unwrap_or(false);
    let mut filters = Vec::new();
    if source {
        f.skip(2)?; // dynamic-node-properties, distribution-mode
        if let Some(m) = f.next_raw()? {
            filters = filter_set(m)?;
        }
    }
    Ok(Terminus {
        address,
        filters,
        dynamic,
        raw: raw.to_vec(),
    })
}

fn filter_set(m: &[u8]) -> R<Vec<Filter>> {
    let mut out = Vec::new();
    let mut err = None;
    map_entries(m, |k, v| {
        if err.is_some() {
            return;
        }
        match filter(k, v) {
            Ok(f) => out.push(f),
            Err(e) => err = Some(e),
        }
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn filter(k: &[u8], v: &[u8]) -> R<Filter> {
    let key = as_text(k)?.to_owned();
    let (descriptor, value) = if v[0] == 0x00 {
        let (d, val) = described(v)?;
        let name = match as_sym(d) {
            Ok(s) => s.to_owned(),
            Err(_) => format!("{:#x}", as_ulong(d)?),
        };
        (Some(name), val)
    } else {
        (None, v)
    };
    let text = as_text(value).ok().map(str::to_owned);
    Ok(Filter {
        key,
        descriptor,
        text,
        raw: value.to_vec(),
    })
}

/// Parses a described error (0x1d).
pub(crate) fn error(raw: &[u8]) -> R<ErrorCondition> {
    let (d, v) = described(raw)?;
    if descriptor_code(d)? != 0x1d {
        return Err(DecodeError("error field is not an amqp:error"));
    }
    let (mut f, _) = Fields::open(v)?;
    let cond = f
        .next_raw()?
        .ok_or(DecodeError("error without a condition"))?;
    let condition = Cow::Owned(as_text(cond)?.to_owned());
    let description = f
        .next_raw()?
        .map(as_text)
        .transpose()?
        .unwrap_or("")
        .to_owned();
    Ok(ErrorCondition {
        condition,
        description,
    })
}

/// Parses an optional error field.
pub(crate) fn opt_error(raw: Option<&[u8]>) -> R<Option<ErrorCondition>> {
    raw.map(error).transpose()
}

/// Parses a described delivery state or outcome.
pub(crate) fn delivery_state(raw: &[u8]) -> R<DeliveryState> {
    let (d, v) = described(raw)?;
    let (mut f, _) = Fields::open(v)?;
    Ok(match descriptor_code(d)? {
        0x23 => DeliveryState::Received {
            section_number: f.uint()?.unwrap_or(0),
            section_offset: f.ulong()?.unwrap_or(0),
        },
        0x24 => DeliveryState::Accepted,
        0x25 => DeliveryState::Rejected(opt_error(f.next_raw()?)?),
        0x26 => DeliveryState::Released,
        0x27 => DeliveryState::Modified {
            delivery_failed: f.boolean()?.unwrap_or(false),
            undeliverable_here: f.boolean()?.unwrap_or(false),
        },
        _ => return Err(DecodeError("unknown delivery state")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::write;
    use super::*;

    #[test]
    fn source_with_filters_round_trips() {
        let mut out = Vec::new();
        write::terminus(
            &mut out,
            true,
            "opra/SPY/#",
            &[("tickwire:format", "binary")],
        );
        let t = terminus(&out, true).unwrap();
        assert_eq!(t.address.as_deref(), Some("opra/SPY/#"));
        assert_eq!(t.filters.len(), 1);
        assert_eq!(t.filters[0].key, "tickwire:format");
        assert_eq!(t.filters[0].text.as_deref(), Some("binary"));
        assert!(terminus(&out, false).is_err());
    }

    #[test]
    fn states_round_trip() {
        let states = [
            DeliveryState::Accepted,
            DeliveryState::Released,
            DeliveryState::Rejected(Some(ErrorCondition::new("amqp:x", "why"))),
            DeliveryState::Modified {
                delivery_failed: true,
                undeliverable_here: false,
            },
            DeliveryState::Received {
                section_number: 2,
                section_offset: 300,
            },
        ];
        for s in states {
            let mut out = Vec::new();
            write::delivery_state(&mut out, &s);
            assert_eq!(delivery_state(&out).unwrap(), s);
        }
    }
}
