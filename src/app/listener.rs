//! The control plane: a tokio runtime on its own thread that accepts AMQP connections
//! (handing each socket to the data plane) and serves the console.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use tickwire_amqp::engine::{
    condition, Authenticator, Config as EngineConfig, Engine, ErrorCondition, Event, SaslPolicy,
    Side,
};
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
    // Without anonymous access every client must authenticate: one that skips SASL and
    // sends the AMQP header straight away is refused, not let in unauthenticated.
    let sasl = if a.allow_anonymous {
        SaslPolicy::Optional
    } else {
        SaslPolicy::Required
    };
    c.side = Side::Server {
        sasl,
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
    let limit = ConnLimit {
        max: cfg.amqp.max_connections,
        engine: engine_config(&cfg.amqp),
    };
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
                let accept = accept_loop(amqp, conns, stats, limit);
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

/// Most refused connections being answered at once; past this a refused socket is just
/// closed (a flood must not cost the control plane more than this many small tasks).
const MAX_REFUSING: usize = 64;
/// How long a refused connection gets to receive its close before the socket is dropped.
const REFUSE_DEADLINE: Duration = Duration::from_secs(5);
/// Connections handed to the data plane this recently may be missing from its published
/// count (it publishes every 100 ms); after this long they are in it.
const UNCOUNTED_WINDOW: Duration = Duration::from_millis(250);

/// The connection limit and how refused connections are answered.
struct ConnLimit {
    max: usize,
    engine: EngineConfig,
}

async fn accept_loop(
    l: std::net::TcpListener,
    conns: Sender<std::net::TcpStream>,
    stats: Arc<StatsBoard>,
    limit: ConnLimit,
) {
    let Ok(l) = tokio::net::TcpListener::from_std(l) else {
        return;
    };
    let tuning = TcpTuning::default();
    let refusing = Arc::new(AtomicUsize::new(0));
    let mut recent: VecDeque<Instant> = VecDeque::new();
    loop {
        let Ok((s, _peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let open = open_count(&stats, &mut recent, limit.max).await;
        if open >= limit.max {
            // One fixed text: the console shows it once however many are refused.
            stats.raise(&format!(
                "connection limit {} reached: refusing new connections",
                limit.max
            ));
            stats.count_refused();
            refuse(s, &limit, &refusing);
            continue;
        }
        let Ok(s) = s.into_std() else { continue };
        let _ = tune_stream(&s, &tuning);
        if conns.send(s).is_err() {
            return;
        }
        recent.push_back(Instant::now());
    }
}

/// Open connections: the data plane's published count plus handoffs it may not show yet.
/// Near `max` with such handoffs, waits (at most [`UNCOUNTED_WINDOW`]) until they show, so
/// a burst cannot slip past the limit and a connection under it is not refused.
async fn open_count(stats: &StatsBoard, recent: &mut VecDeque<Instant>, max: usize) -> usize {
    loop {
        while recent
            .front()
            .is_some_and(|t| t.elapsed() >= UNCOUNTED_WINDOW)
        {
            recent.pop_front();
        }
        let counted = stats.fanout().connections as usize;
        let Some(oldest) = recent.front() else {
            return counted;
        };
        if counted + recent.len() < max {
            return counted + recent.len();
        }
        tokio::time::sleep(UNCOUNTED_WINDOW.saturating_sub(oldest.elapsed())).await;
    }
}

/// Answers a connection over the limit the AMQP way (spec 2.4.1: open, then close at
/// once with the error) so the client reports `amqp:resource-limit-exceeded` rather than
/// a dropped socket; bounded by [`MAX_REFUSING`] and [`REFUSE_DEADLINE`].
fn refuse(s: tokio::net::TcpStream, limit: &ConnLimit, refusing: &Arc<AtomicUsize>) {
    if refusing.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSING {
        refusing.fetch_sub(1, Ordering::Relaxed);
        return; // dropping the socket closes it
    }
    let engine = Engine::new(limit.engine.clone(), Instant::now());
    let why = format!(
        "connection limit of {} reached: the appliance accepts no more connections \
         until one closes",
        limit.max
    );
    let refusing = Arc::clone(refusing);
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSE_DEADLINE, close_refused(s, engine, why)).await;
        refusing.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Drives a server engine through the client's header, SASL and open, then closes with
/// `amqp:resource-limit-exceeded`; returns once the engine is done or the peer leaves.
async fn close_refused(
    mut s: tokio::net::TcpStream,
    mut e: Engine,
    why: String,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    let mut why = Some(why);
    loop {
        while let Some(ev) = e.poll_event() {
            if !matches!(ev, Event::Opened { .. }) {
                continue;
            }
            if let Some(w) = why.take() {
                let err = ErrorCondition::new(condition::RESOURCE_LIMIT_EXCEEDED, w);
                let _ = e.close(Some(err));
            }
        }
        out.clear();
        e.poll_transmit(&mut out);
        s.write_all(&out).await?;
        if e.is_closed() {
            return Ok(());
        }
        // The engine's timers: after our close it waits a grace period for the peer's.
        let read = s.read(&mut buf);
        let n = match e.poll_timeout() {
            Some(at) => match tokio::time::timeout_at(at.into(), read).await {
                Ok(r) => r?,
                Err(_) => {
                    e.handle_timeout(Instant::now());
                    continue;
                }
            },
            None => read.await?,
        };
        if n == 0 {
            return Ok(());
        }
        e.handle_input(&buf[..n], Instant::now());
    }
}
