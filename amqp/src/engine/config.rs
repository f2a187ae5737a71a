//! Engine configuration: side, limits, SASL and timers.

use std::sync::Arc;
use std::time::Duration;

/// Checks SASL PLAIN credentials (server side). Called on the control plane.
pub trait Authenticator: Send + Sync {
    /// True if `user`/`password` (optionally acting as `authzid`) may connect.
    fn plain(&self, authzid: &str, user: &str, password: &str) -> bool;
}

/// How the server treats the SASL layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslPolicy {
    /// Clients must start with the SASL header (`AMQP\3\1\0\0`).
    Required,
    /// Clients may do SASL or go straight to AMQP.
    Optional,
    /// SASL is refused; only `AMQP\0\1\0\0` is accepted.
    Disabled,
}

/// What a client engine does at the SASL layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// Skip SASL: send the AMQP header directly.
    None,
    /// SASL ANONYMOUS.
    Anonymous,
    /// SASL PLAIN with a user and password.
    Plain {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

/// Which end of the connection the engine plays.
#[derive(Clone)]
pub enum Side {
    /// Accepts connections (the appliance).
    Server {
        /// SASL policy.
        sasl: SaslPolicy,
        /// Offer ANONYMOUS.
        allow_anonymous: bool,
        /// Offer PLAIN, checked by this authenticator.
        authenticator: Option<Arc<dyn Authenticator>>,
    },
    /// Opens connections (tests, benches, federation).
    Client {
        /// The SASL behaviour.
        auth: ClientAuth,
        /// The hostname sent in sasl-init and open.
        hostname: Option<String>,
    },
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Side::Server {
                sasl,
                allow_anonymous,
                authenticator,
            } => f
                .debug_struct("Server")
                .field("sasl", sasl)
                .field("allow_anonymous", allow_anonymous)
                .field("plain", &authenticator.is_some())
                .finish(),
            Side::Client { auth, hostname } => f
                .debug_struct("Client")
                .field("auth", auth)
                .field("hostname", hostname)
                .finish(),
        }
    }
}

/// Engine configuration. Limits are enforced with AMQP errors, see `docs/amqp-engine.md`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server or client.
    pub side: Side,
    /// Our container id, sent in open.
    pub container_id: String,
    /// Largest frame we accept, in bytes (advertised in open; >= 512).
    pub max_frame_size: u32,
    /// Highest channel number we accept (so at most `channel_max + 1` sessions).
    pub channel_max: u16,
    /// Highest link handle per session (so at most `handle_max + 1` links per session).
    pub handle_max: u32,
    /// Close the connection if the peer sends nothing for this long (advertised in open).
    pub idle_timeout: Option<std::time::Duration>,
    /// Most bytes queued for transmit before sends are refused with `Backpressure`.
    pub max_pending_bytes: usize,
    /// Largest incoming message we reassemble, in bytes; larger ones detach the link.
    pub max_message_size: u64,
    /// Our session incoming window, in transfer frames.
    pub incoming_window: u32,
}

impl Config {
    /// Server defaults: SASL optional, ANONYMOUS allowed, 64 KiB frames, 60 s idle timeout.
    pub fn server(container_id: impl Into<String>) -> Self {
        Self::with_side(
            container_id.into(),
            Side::Server {
                sasl: SaslPolicy::Optional,
                allow_anonymous: true,
                authenticator: None,
            },
        )
    }

    /// Client defaults: SASL ANONYMOUS, 64 KiB frames, no idle timeout of our own.
    pub fn client(container_id: impl Into<String>) -> Self {
        let mut c = Self::with_side(
            container_id.into(),
            Side::Client {
                auth: ClientAuth::Anonymous,
                hostname: None,
            },
        );
        c.idle_timeout = None;
        c
    }

    fn with_side(container_id: String, side: Side) -> Self {
        Self {
            side,
            container_id,
            max_frame_size: 65_536,
            channel_max: 255,
            handle_max: 1023,
            idle_timeout: Some(Duration::from_secs(60)),
            max_pending_bytes: 16 << 20,
            max_message_size: 16 << 20,
            incoming_window: 2048,
        }
    }

    pub(crate) fn is_server(&self) -> bool {
        matches!(self.side, Side::Server { .. })
    }
}
