//! The control plane: a tokio runtime on its own thread that accepts AMQP connections
//! (handing each socket to the data plane) and serves the console.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use tickwire_amqp::engine::{Authenticator, Config as EngineConfig, SaslPolicy, Side};
use tickwire_transport::{tune_stream, TcpTuning};

use super::stats::StatsBoard;
use crate::config::{AmqpConfig, Config, UserConfig};

/// What the control plane bound.
pub struct Control {
    /// The control-plane thread.
    pub thread: JoinHandle<()>,
    /// The AMQP listener's address.
    pub amqp_addr: SocketAddr,
    /// The console's address.
    pub console_addr: Option<SocketAddr>,
}

struct Users(Vec<UserConfig>);

impl Authenticator for Users {
    fn plain(&self, _authzid: &str, user: &str, password: &str) -> bool {
        self.0
            .iter()
            .any(|u| u.name == user && u.password == password)
    }
}

/// The engine settings every connection gets.
pub fn engine_config(a: &AmqpConfig) -> EngineConfig {
    let mut c = EngineConfig::server("tickwire");
    c.side = Side::Server {
        sasl: SaslPolicy::Optional,
        allow_anonymous: a.allow_anonymous,
        authenticator: Some(Arc::new(Users(a.users.clone()))),
    };
    c.max_frame_size = a.max_frame_size;
    c.channel_max = a.max_sessions.saturating_sub(1);
    c.handle_max = a.max_links_per_session.saturating_sub(1);
    c.max_pending_bytes = a.max_pending_bytes;
    c.max_message_size = a.max_message_size;
    c
}

fn bind(addr: SocketAddr, what: &str) -> Result<std::net::TcpListener, String> {
    let l = std::net::TcpListener::bind(addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another tickwire running? pick another port in the config or with a flag)"
        } else {
            ""
        };
        format!("{what} cannot listen on {addr}: {e}{hint}")
    })?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(l)
}

/// Binds the AMQP listener and the console, then serves them on a new thread until `stop`.
pub fn start(
    cfg: &Config,
    conns: Sender<std::net::TcpStream>,
    stats: Arc<StatsBoard>,
    stop: Arc<AtomicBool>,
) -> Result<Control, String> {
    let amqp = bind(cfg.amqp.listen, "AMQP")?;
    let amqp_addr = amqp.local_addr().map_err(|e| e.to_string())?;
    let console = if cfg.console.enabled {
        Some(bind(cfg.console.listen, "console")?)
    } else {
        None
    };
    let console_addr = console.as_ref().and_then(|c| c.local_addr().ok());
    let max_conns = cfg.amqp.max_connections;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("control plane runtime: {e}"))?;
    let thread = std::thread::Builder::new()
        .name("tw-control".into())
        .spawn(move || {
            rt.block_on(async move {
                if let Some(c) = console {
                    let s = Arc::clone(&stats);
                    let src: Arc<dyn crate::console::StatsSource> = Arc::new(move || s.to_json());
                    tokio::spawn(async move {
                        if let Ok(l) = tokio::net::TcpListener::from_std(c) {
                            let _ = crate::console::serve_listener(l, src).await;
                        }
                    });
                }
                let accept = accept_loop(amqp, conns, stats, max_conns);
                let stopped = async {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        })
        .map_err(|e| format!("cannot start the control plane: {e}"))?;
    Ok(Control {
        thread,
        amqp_addr,
        console_addr,
    })
}

async fn accept_loop(
    l: std::net::TcpListener,
    conns: Sender<std::net::TcpStream>,
    stats: Arc<StatsBoard>,
    max_conns: usize,
) {
    let Ok(l) = tokio::net::TcpListener::from_std(l) else {
        return;
    };
    let tuning = TcpTuning::default();
    loop {
        let Ok((s, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if stats.fanout().connections as usize >= max_conns {
            stats.raise(&format!(
                "connection limit {max_conns} reached: refusing new connections (last {peer})"
            ));
            continue;
        }
        let Ok(s) = s.into_std() else { continue };
        let _ = tune_stream(&s, &tuning);
        if conns.send(s).is_err() {
            return;
        }
    }
}
