//! The `eventgate` binary. See `docs/cli.md`.

mod cli;
mod ctl;

use clap::Parser as _;
use cli::{Cli, Command, GlobalArgs, SampleBackendArgs, TailArgs, TokenCommand};
use eventgate_cli::issuer::{LocalIssuer, TokenRequest, decode_unverified};
use eventgate_cli::{backend, tail};
use serde_json::json;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Exit status of a failed command.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error and of a command this build does not provide (as clap's own
/// usage errors).
const EXIT_USAGE: u8 = 2;
/// Exit status when stdout is closed under us (`eventgate tail ... | head`): what a shell
/// reports for a program ended by SIGPIPE, with nothing printed.
const EXIT_BROKEN_PIPE: u8 = 141;

/// `println!` that returns the write error instead of panicking (a closed pipe ends the
/// command quietly, see [`EXIT_BROKEN_PIPE`]).
macro_rules! outln {
    ($($t:tt)*) => { writeln!(std::io::stdout(), $($t)*)? };
}
/// `print!` likewise.
macro_rules! out {
    ($($t:tt)*) => { write!(std::io::stdout(), $($t)*)? };
}

/// A failed command: its message and exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
    /// The admin API's JSON error, printed as is with `--json`.
    pub(crate) detail: Option<serde_json::Value>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: EXIT_FAILURE,
            detail: None,
        }
    }
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut broken_pipe = false;
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                broken_pipe |= io.kind() == std::io::ErrorKind::BrokenPipe;
            }
            cause = c.source();
        }
        Failure {
            code: if broken_pipe {
                EXIT_BROKEN_PIPE
            } else {
                EXIT_FAILURE
            },
            ..Failure::new(e.to_string())
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.global.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.code == EXIT_BROKEN_PIPE => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(failure) => {
            if json {
                match failure.detail {
                    Some(detail) => eprintln!("{}", json!({"error": detail})),
                    None => eprintln!("{}", json!({"error": failure.message})),
                }
            } else {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// The environment variable that filters what `serve` and `demo` log to stderr: `target=level`
/// directives and a default level, comma-separated (`info`, `warn,eventgate::stream=info`,
/// `off`).
const LOG_ENV: &str = "EVENTGATE_LOG";

/// What `serve` and `demo` log without [`LOG_ENV`]: warnings, and the one record per stream
/// at close (api, topic, application, duration, events, bytes, close reason).
const DEFAULT_LOG: &str = "warn,eventgate::stream=info";

/// Sends the gateway's `tracing` events to stderr, one line each, filtered by [`LOG_ENV`].
fn init_logging() -> Result<(), Failure> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let spec = std::env::var(LOG_ENV).unwrap_or_else(|_| DEFAULT_LOG.to_owned());
    let filter: tracing_subscriber::filter::Targets = spec.parse().map_err(|e| Failure {
        message: format!(
            "{LOG_ENV}={spec:?}: {e} (expected e.g. \"info\" or \"warn,eventgate::stream=info\")"
        ),
        code: EXIT_USAGE,
        detail: None,
    })?;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // Only fails when a subscriber is already set, which this process never does.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))
}

fn run(cli: Cli) -> Outcome {
    let global = &cli.global;
    match cli.command {
        Command::Demo(args) => {
            init_logging()?;
            runtime()?.block_on(demo(global, args))
        }
        Command::Serve(args) => {
            init_logging()?;
            runtime()?.block_on(serve(global, args))
        }
        Command::Api(cmd) => runtime()?.block_on(ctl::api(global, cmd)),
        Command::App(cmd) => runtime()?.block_on(ctl::app(global, cmd)),
        Command::SampleBackend(args) => runtime()?.block_on(sample_backend(global, args)),
        Command::Tail(args) => runtime()?.block_on(tail_cmd(global, args)),
        Command::Token(cmd) => token(global, cmd),
    }
}

/// Resolves on Ctrl-C (SIGINT) or on SIGTERM (what `kill`, systemd and `docker stop` send),
/// so that either one stops a command gracefully: `serve` and `demo` end their streams with a
/// final `retry:` hint, `tail` prints its totals.
async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A listener on `addr`, or an error that names the port and the flag to change it.
async fn bind(addr: std::net::SocketAddr, flag: &str) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Failure::new(format!(
                "port {} is already in use ({flag} {}); stop what listens there or choose \
                 another with {flag}",
                addr.port(),
                addr.port()
            ))
        } else {
            Failure::new(format!("cannot listen on {addr} ({flag}): {e}"))
        }
    })
}

/// The admin API's listen address for `serve` and `demo`: `--admin` (an address, or an
/// `http://` URL naming one), default 127.0.0.1:9443.
fn admin_listen_addr(global: &GlobalArgs) -> Result<std::net::SocketAddr, Failure> {
    let Some(text) = global.admin.as_deref() else {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], 9443)));
    };
    let bare = text
        .strip_prefix("http://")
        .unwrap_or(text)
        .trim_end_matches('/');
    bare.parse().map_err(|_| Failure {
        message: format!("--admin {text:?}: expected an address such as 127.0.0.1:9443"),
        code: EXIT_USAGE,
        detail: None,
    })
}

/// Where `serve` writes the certificate it generates for a self-signed HTTPS listener.
const SELF_SIGNED_CERT: &str = "gateway-cert.pem";

/// A server's settings, the listeners it accepts on, and what to say about their TLS.
type ListenerGroup = (
    eventgate::server::ServerBuilder,
    Vec<eventgate::server::Listener>,
    Option<String>,
);

/// A self-signed certificate for `localhost` and 127.0.0.1, its PEM written into the data
/// directory (for `curl --cacert`), and the note saying so.
fn self_signed(
    data: &std::path::Path,
) -> Result<(eventgate::server::TlsConfig, Option<String>), Failure> {
    let (tls, cert) = eventgate::server::TlsConfig::self_signed(&["localhost", "127.0.0.1"])?;
    let path = data.join(SELF_SIGNED_CERT);
    std::fs::create_dir_all(data)?;
    std::fs::write(&path, cert.cert_pem)?;
    Ok((tls, Some(format!("self-signed: {}", path.display()))))
}

/// The configuration file's listeners, bound, each with its own server settings.
async fn file_listeners(
    file: &[eventgate::config::ListenerConfig],
    data: &std::path::Path,
) -> Result<Vec<ListenerGroup>, Failure> {
    use eventgate::config::ListenerTls;
    use eventgate::server::{Listener, Server, TlsConfig};
    let mut out = Vec::new();
    // One self-signed certificate for every listener that asks for one (its PEM is the file).
    let mut generated = None;
    for l in file {
        let tcp = bind(l.address, "[[gateway.listeners]] address").await?;
        let (tls, note) = match &l.tls {
            None => (None, None),
            Some(ListenerTls::Files { cert, key }) => {
                let tls = TlsConfig::from_pem_files(cert, key).map_err(|e| {
                    Failure::new(format!("[[gateway.listeners]] {}: {e}", l.address))
                })?;
                (Some(tls), Some(format!("certificate {}", cert.display())))
            }
            Some(ListenerTls::SelfSigned) => {
                let (tls, note) = match &generated {
                    Some(made) => Clone::clone(made),
                    None => generated.insert(self_signed(data)?).clone(),
                };
                (Some(tls), note)
            }
            Some(other) => {
                return Err(Failure::new(format!(
                    "[[gateway.listeners]] {}: {other:?} is not a TLS setting this build serves",
                    l.address
                )));
            }
        };
        let mut settings = Server::builder()
            .http2(l.http2)
            .header_read_timeout(l.header_read_timeout);
        if let Some(n) = l.max_connections {
            settings = settings.max_connections(n);
        }
        out.push((settings, vec![Listener::from_tcp(tcp, tls)], note));
    }
    Ok(out)
}

async fn serve(global: &GlobalArgs, args: cli::ServeArgs) -> Outcome {
    use eventgate::server::{Listener, Server};
    let admin = bind(admin_listen_addr(global)?, "--admin").await?;
    let cfg = match &args.config {
        Some(path) => Some(eventgate::config::Config::load(path)?),
        None => None,
    };
    // The file's `[[gateway.listeners]]` when it has some, else `--http` and `--https`.
    let listeners = match cfg.as_ref().map(|c| c.gateway.listeners.as_slice()) {
        Some(file) if !file.is_empty() => file_listeners(file, &global.data).await?,
        _ => {
            let http = bind(args.http, "--http").await?;
            let https = bind(args.https, "--https").await?;
            let (tls, note) = self_signed(&global.data)?;
            vec![(
                Server::builder(),
                vec![
                    Listener::from_tcp(http, None),
                    Listener::from_tcp(https, Some(tls)),
                ],
                note,
            )]
        }
    };
    let cluster = cfg.as_ref().and_then(|c| c.cluster()).cloned();
    let admin = Listener::from_tcp(admin, None);
    // `[cluster] redis`: plan quotas and connection limits counted across nodes (leased
    // blocks, expiring slot leases; the connection is made lazily).
    let counters = match cluster.as_ref().and_then(|c| c.redis.as_deref()) {
        Some(url) => {
            let c = eventgate_policy::redis::RedisCounters::builder(url)
                .build()
                .map_err(|e| Failure::new(format!("[cluster] redis: {e}")))?;
            let c: std::sync::Arc<dyn eventgate_policy::CounterStore> = std::sync::Arc::new(c);
            Some(c)
        }
        None => None,
    };
    // `[cluster] postgres`: the state several nodes share; otherwise DATA/state.db.
    let (cp, shared) = match cluster.as_ref().and_then(|c| c.postgres.as_deref()) {
        Some(url) => {
            let store: std::sync::Arc<dyn eventgate_cli::store::Store> =
                std::sync::Arc::new(eventgate_cli::store::PgStore::connect(url)?);
            let cp = eventgate_cli::control::start_shared(
                &global.data,
                admin,
                std::sync::Arc::clone(&store),
                eventgate_cli::control::GateSetup::new(counters, cfg.as_ref()),
            )?;
            (cp, Some(store))
        }
        None => (
            eventgate_cli::control::start_local(
                &global.data,
                admin,
                eventgate_cli::control::GateSetup::new(counters, cfg.as_ref()),
            )?,
            None,
        ),
    };
    let _watcher = match (&cluster, shared) {
        (Some(c), Some(store)) => {
            let node = c.node.clone();
            // Each distinct failure at most once a minute, not once per poll.
            let said = std::sync::Mutex::new(std::collections::HashMap::new());
            Some(cp.watch(store, c.poll_interval, move |e| {
                let text = e.to_string();
                let mut said = said
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = std::time::Instant::now();
                said.retain(|_, at: &mut std::time::Instant| {
                    now.duration_since(*at) < Duration::from_secs(60)
                });
                if said.len() < 64 && !said.contains_key(&text) {
                    eprintln!("eventgate: node {node}: shared state: {text}");
                    said.insert(text, now);
                }
            })?)
        }
        _ => None,
    };
    let registry = std::sync::Arc::clone(&cp.registry);
    let gate = std::sync::Arc::clone(&cp.gate);
    if let Some(cfg) = &cfg {
        // A file with only [cluster] (and [gateway]) declares no APIs to serve.
        if cluster.is_none() || !cfg.declares_no_state() {
            cfg.apply(&registry)?;
            for issued in cfg.apply_policy(&gate)? {
                outln!(
                    "API key of {} (shown once): {}",
                    issued.application,
                    issued.key.expose_secret()
                );
            }
        }
    }
    if let Some(c) = &cluster
        && !global.json
    {
        outln!(
            "cluster node {}: control plane in {} (version {}, polled every {}), replay backlogs in {}{}",
            c.node,
            c.postgres.as_deref().map_or_else(
                || "the data directory (no [cluster] postgres)".to_owned(),
                |u| format!("PostgreSQL {}", eventgate::config::redact_url(u))
            ),
            cp.version(),
            eventgate_cli::duration::format_duration(c.poll_interval),
            c.redis.as_deref().map_or_else(
                || "this node's memory (no [cluster] redis)".to_owned(),
                |u| format!("Redis {}", eventgate::config::redact_url(u))
            ),
            c.upstream_lease.map_or_else(String::new, |l| format!(
                ", one upstream per channel across nodes (lease {})",
                eventgate_cli::duration::format_duration(l)
            )),
        );
    }
    let mut builder = eventgate::Gateway::builder().registry(registry).gate(gate);
    // `[cluster] redis`: replay backlogs in Redis Streams, so a client that drops from one
    // node resumes on another (the connection is lazy: a Redis that is down serves live
    // events with a reset for resumes only it could answer, see docs/shared-backlog.md).
    if let Some(url) = cluster.as_ref().and_then(|c| c.redis.as_deref()) {
        let settings = eventgate_relay::RedisSettings::default();
        let store = eventgate_relay::RedisBacklog::connect(url, &settings)
            .await
            .map_err(|e| Failure::new(format!("[cluster] redis: {e}")))?;
        let mut relay = eventgate_relay::Relay::builder();
        relay.shared_backlog(std::sync::Arc::new(store), settings.maxlen);
        // `[cluster] shared_upstream`: one backend connection per fan-out channel across
        // the nodes (the lease holder's); the others follow the channel's Redis stream.
        relay.shared_upstream(cluster.as_ref().and_then(|c| c.upstream_lease));
        builder = builder.relay(relay.build()?);
    }
    let gateway = builder.build()?;
    let admin_addr = cp.admin_addr;
    let mut urls = Vec::new();
    let (mut http_addr, mut https_addr, mut notes) = (None, None, Vec::new());
    for (_, group, note) in &listeners {
        for l in group {
            let addr = l.local_addr()?;
            let (scheme, first) = match l.is_tls() {
                true => ("https", &mut https_addr),
                false => ("http", &mut http_addr),
            };
            first.get_or_insert(addr);
            urls.push(format!("{scheme}://{addr}"));
        }
        if let Some(n) = note
            && !notes.contains(n)
        {
            notes.push(n.clone());
        }
    }
    let cert_path = global.data.join(SELF_SIGNED_CERT);
    let portal = http_addr
        .filter(|_| args.devportal)
        .map(|a| format!("http://{a}{}/", eventgate_cli::devportal::PREFIX));
    if global.json {
        let mut ready = json!({"http": http_addr.map(|a| a.to_string()),
               "https": https_addr.map(|a| a.to_string()), "listeners": urls,
               "admin": format!("http://{admin_addr}"), "data": global.data.display().to_string(),
               "cert": notes.iter().any(|n| n.starts_with("self-signed"))
                   .then(|| cert_path.display().to_string()),
               "devportal": portal});
        if let Some(c) = &cluster {
            ready["node"] = json!(c.node);
        }
        outln!("{ready}");
    } else {
        let notes = match notes.is_empty() {
            true => String::new(),
            false => format!(" ({})", notes.join(", ")),
        };
        outln!(
            "eventgate gateway on {}{notes}, admin API on http://{admin_addr} (token in {})",
            urls.join(" and "),
            global.data.join("admin-token").display()
        );
        if let Some(url) = &portal {
            outln!("developer portal: {url}");
        }
    }
    std::io::stdout().flush()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut admin_stop = stop_rx.clone();
    let admin_task = tokio::spawn(cp.serve_admin(async move {
        let _ = admin_stop.changed().await;
    }));
    let drain = gateway.clone();
    let front = eventgate_cli::devportal::Front::new(gateway).portal(args.devportal);
    // One server per group of listeners (each file listener has its own settings), all
    // stopped together after the gateway's streams are drained.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for (settings, group, _) in listeners {
        let server = settings.build()?;
        let (front, mut done) = (front.clone(), done_rx.clone());
        servers.spawn(server.run(group, front, async move {
            let _ = done.changed().await;
        }));
    }
    tokio::select! {
        () = stop_signal() => {}
        // A server that ends on its own (it cannot accept any more) ends them all.
        Some(ended) = servers.join_next() => {
            if let Ok(Err(e)) = ended {
                return Err(e.into());
            }
        }
    }
    let _ = drain.shutdown(eventgate::DEFAULT_SHUTDOWN_DEADLINE).await;
    let _ = done_tx.send(true);
    while let Some(ended) = servers.join_next().await {
        if let Ok(Err(e)) = ended {
            return Err(e.into());
        }
    }
    let _ = stop_tx.send(true);
    let _ = admin_task.await;
    drop(stop_rx);
    Ok(())
}

async fn demo(global: &GlobalArgs, args: cli::DemoArgs) -> Outcome {
    let backend_addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.backend_port));
    let backend = bind(backend_addr, "--backend-port").await?;
    let http = bind(args.http, "--http").await?;
    let https = bind(args.https, "--https").await?;
    let admin = bind(admin_listen_addr(global)?, "--admin").await?;
    let d = eventgate_cli::demo::Demo::build(
        &global.data,
        backend.local_addr()?,
        http.local_addr()?,
        https.local_addr()?,
        eventgate::server::Listener::from_tcp(admin, None),
    )?
    .devportal(!args.no_devportal);
    if global.json {
        let r = &d.ready;
        outln!(
            "{}",
            json!({
                "http": r.http.to_string(), "https": r.https.to_string(),
                "backend": r.backend.to_string(), "token": r.token,
                "sandbox_token": r.sandbox_token, "cert": r.cert_path.display().to_string(),
                "admin": format!("http://{}", r.admin),
                "url": format!("http://localhost:{}/observer/1.0.0/memory", r.http.port()),
                "devportal": r.devportal,
            })
        );
    } else {
        out!("{}", d.ready.lines());
    }
    std::io::stdout().flush()?;
    d.run(backend, http, https, async {
        stop_signal().await;
    })
    .await?;
    Ok(())
}

async fn sample_backend(global: &GlobalArgs, args: SampleBackendArgs) -> Outcome {
    let listener = bind(std::net::SocketAddr::new(args.host, args.port), "--port").await?;
    let local = listener.local_addr()?;
    let url = format!("http://{local}{}", backend::PATH);
    let mut settings = backend::Settings::new(
        Duration::from_millis(args.time),
        Duration::from_millis(args.interval),
    );
    settings.history = args.history;
    if global.json {
        outln!(
            "{}",
            json!({"listening": url, "time_ms": args.time, "interval_ms": args.interval})
        );
    } else {
        outln!(
            "sample backend on {url}: one memory sample every {} ms, each response ended after {} ms",
            args.interval,
            args.time
        );
    }
    std::io::stdout().flush()?;
    backend::run(listener, settings, async {
        stop_signal().await;
    })
    .await?;
    Ok(())
}

fn parse_header(text: &str) -> Result<(http::HeaderName, http::HeaderValue), Failure> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| Failure::new(format!("-H {text:?}: expected 'Name: value'")))?;
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| Failure::new(format!("-H {text:?}: invalid header name")))?;
    let value = http::HeaderValue::from_str(value.trim())
        .map_err(|_| Failure::new(format!("-H {text:?}: invalid header value")))?;
    Ok((name, value))
}

fn read_cacert(path: &std::path::Path) -> Result<Vec<Vec<u8>>, Failure> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path)
        .map_err(|e| Failure::new(format!("--cacert {}: {e}", path.display())))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(format!("--cacert {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Failure::new(format!(
            "--cacert {}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

async fn tail_cmd(global: &GlobalArgs, args: TailArgs) -> Outcome {
    let url: http::Uri = args
        .url
        .parse()
        .map_err(|e| Failure::new(format!("URL {:?}: {e}", args.url)))?;
    let mut opts = tail::Options::new(url);
    for h in &args.headers {
        let (name, value) = parse_header(h)?;
        opts.headers.append(name, value);
    }
    opts.last_event_id = args.last_event_id;
    opts.json = global.json;
    opts.pretty = args.pretty;
    opts.merge = args.merge;
    opts.max_reconnects = args.max_reconnects;
    opts.count = args.count;
    opts.duration = args.duration;
    opts.connect_timeout = args.connect_timeout;
    opts.insecure = args.insecure;
    if let Some(path) = &args.cacert {
        opts.extra_roots = read_cacert(path)?;
    }
    opts.color = !global.json
        && match args.color {
            cli::ColorChoice::Always => true,
            cli::ColorChoice::Never => false,
            cli::ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
    let mut stdout = std::io::stdout().lock();
    let summary = tail::run(&opts, &mut stdout, async {
        stop_signal().await;
    })
    .await?;
    if summary.last_attempt_failed {
        return Err(Failure::new(match summary.ended_by {
            Some(tail::EndReason::NotEventStream) => "the response is not a 200 event stream",
            _ => "the last connection attempt failed",
        }));
    }
    Ok(())
}

fn read_token(arg: &str) -> Result<String, Failure> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| Failure::new(format!("reading the token from stdin: {e}")))?;
        Ok(s.trim().to_owned())
    } else {
        Ok(arg.trim().to_owned())
    }
}

fn exp_note(claims: &serde_json::Value, now: SystemTime) -> Option<String> {
    let exp = claims.get("exp")?.as_u64()?;
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let at = eventgate_policy::Timestamp::from_unix_secs(exp).to_rfc3339();
    Some(if exp > now_s {
        format!(
            "expires {at} (in {})",
            eventgate_cli::duration::format_duration(Duration::from_secs(exp - now_s))
        )
    } else {
        format!(
            "expired {at} ({} ago)",
            eventgate_cli::duration::format_duration(Duration::from_secs(now_s - exp))
        )
    })
}

fn token(global: &GlobalArgs, cmd: TokenCommand) -> Outcome {
    let now = SystemTime::now();
    match cmd {
        TokenCommand::Mint(args) => {
            let issuer = LocalIssuer::load_or_create(&global.data)?.with_issuer(args.issuer.issuer);
            let mut request = TokenRequest::new(args.client_id)
                .subject(args.sub)
                .scopes(args.scopes)
                .key_type(args.key_type.into())
                .ttl(args.ttl);
            if let Some(aud) = args.aud {
                request = request.audience(aud);
            }
            let token = issuer.mint(&request, now)?;
            if global.json {
                outln!(
                    "{}",
                    json!({"token": token, "issuer": issuer.issuer(), "kid": issuer.key_id(),
                           "expires_in": args.ttl.as_secs()})
                );
            } else {
                outln!("{token}");
            }
        }
        TokenCommand::Decode(arg) => {
            let token = read_token(&arg.token)?;
            let decoded = decode_unverified(&token)?;
            if global.json {
                outln!(
                    "{}",
                    json!({"verified": false, "header": decoded.header, "claims": decoded.claims})
                );
            } else {
                let pretty = |v: &serde_json::Value| {
                    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
                };
                outln!("NOT VERIFIED: decoded only; use `eventgate token verify` to check it");
                outln!("header:\n{}", pretty(&decoded.header));
                outln!("claims:\n{}", pretty(&decoded.claims));
                if let Some(note) = exp_note(&decoded.claims, now) {
                    outln!("{note}");
                }
            }
        }
        TokenCommand::Verify(args) => {
            let token = read_token(&args.token)?;
            let issuer = LocalIssuer::load_or_create(&global.data)?.with_issuer(args.issuer.issuer);
            match issuer.verify(&token, args.aud.as_deref(), now) {
                Ok(p) => {
                    let expires = p.expires_at.map(|t| t.to_rfc3339());
                    if global.json {
                        outln!(
                            "{}",
                            json!({"valid": true, "issuer": p.issuer, "subject": p.subject,
                                   "client_id": p.client_id, "scopes": p.scopes,
                                   "key_type": p.key_type.as_str(), "expires_at": expires})
                        );
                    } else {
                        outln!(
                            "valid: issuer {}, subject {}, client id {}, scopes [{}], {}, expires {}",
                            p.issuer.as_deref().unwrap_or("-"),
                            p.subject.as_deref().unwrap_or("-"),
                            p.client_id.as_deref().unwrap_or("-"),
                            p.scopes.join(" "),
                            p.key_type.as_str(),
                            expires.as_deref().unwrap_or("never"),
                        );
                    }
                }
                Err(eventgate_cli::issuer::IssuerError::Refused(e)) => {
                    if global.json {
                        outln!(
                            "{}",
                            json!({"valid": false, "error": e.kind(), "message": e.to_string()})
                        );
                    }
                    return Err(Failure::new(format!("token refused: {e} ({})", e.kind())));
                }
                Err(e) => return Err(e.into()),
            }
        }
        TokenCommand::Jwks(args) => {
            let issuer = LocalIssuer::load_or_create(&global.data)?.with_issuer(args.issuer);
            let jwks = issuer.jwks();
            if global.json {
                outln!("{jwks}");
            } else {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&jwks).unwrap_or_else(|_| jwks.to_string())
                );
            }
        }
    }
    Ok(())
}
