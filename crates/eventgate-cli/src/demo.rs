//! `eventgate demo`: the seed tutorial in one command. The sample backend, a gateway with the
//! Observer API (context `/observer`, version 1.0.0, topic `/memory`, AsyncGold) published and
//! deployed to WSO2's hybrid `Default` environment on vhost `localhost` (production and sandbox
//! keys, each routed to its endpoint), an application subscribed to it, and tokens of the
//! local issuer to call it with. The admin API runs too, over a state kept in memory (the
//! demo starts from its embedded configuration every time), so every `eventgate api` and
//! `eventgate app` command works against a running demo with the same `--data`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventgate::Gateway;
use eventgate::config::Config;
use eventgate::server::{Listener, Server, TlsConfig};
use eventgate_policy::KeyType;
use tokio::net::TcpListener;

use crate::backend;
use crate::control::{self, ControlError, ControlPlane};
use crate::issuer::{IssuerError, TokenRequest};
use crate::store::{Change, SqliteStore, Store, StoreError};

/// The configuration the demo serves: the tutorial's API, its environments, plan and
/// subscribed application. `{backend}` is replaced by the sample backend's address.
pub const DEMO_CONFIG: &str = include_str!("demo.toml");

/// The application the demo's token is minted for, and its OAuth2 client ids.
pub const DEMO_APPLICATION: &str = "DemoApp";
/// The demo application's production client id (the token's `azp`).
pub const DEMO_CLIENT_ID: &str = "demo-app";
/// The demo application's sandbox client id.
pub const DEMO_SANDBOX_CLIENT_ID: &str = "demo-app-sandbox";
/// How long the printed token is valid.
pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The embedded configuration was refused (a bug, reported with its line).
    #[error("demo configuration: {0}")]
    Config(#[from] eventgate::config::ConfigError),
    /// The policy half of the configuration was refused.
    #[error("demo policy: {0}")]
    Policy(#[from] eventgate::PolicyConfigError),
    /// The gateway could not be built.
    #[error(transparent)]
    Gateway(#[from] eventgate::GatewayError),
    /// The control plane (admin API, in-memory state, issuer key) could not start.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The in-memory state could not be prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The local issuer's key could not be read or created.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] eventgate::server::ServerError),
    /// A file in the data directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a started demo tells its user.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ready {
    /// The gateway's HTTP address.
    pub http: SocketAddr,
    /// The gateway's HTTPS address.
    pub https: SocketAddr,
    /// The sample backend's address.
    pub backend: SocketAddr,
    /// The admin API's address (its token is in `DATA/admin-token`).
    pub admin: SocketAddr,
    /// The data directory the `eventgate api` / `app` commands find the admin API through.
    pub data: std::path::PathBuf,
    /// A production JWT of the demo application.
    pub token: String,
    /// A sandbox JWT of the demo application.
    pub sandbox_token: String,
    /// Where the self-signed certificate of the HTTPS listener was written.
    pub cert_path: std::path::PathBuf,
    /// The developer portal's address, when it is served (the default; see
    /// [`Demo::devportal`]).
    pub devportal: Option<String>,
}

impl Ready {
    /// The ready lines printed for a person: the curl command and the `eventgate tail`
    /// equivalent.
    #[must_use]
    pub fn lines(&self) -> String {
        let port = self.http.port();
        let sport = self.https.port();
        format!(
            "eventgate demo is ready: the Observer API (context /observer, version 1.0.0, topic /memory, plan AsyncGold)\n\
             sample backend: http://{backend}/memory\n\
             {portal}\
             \n\
             curl -N http://localhost:{port}/observer/1.0.0/memory -H \"Authorization: Bearer {token}\"\n\
             eventgate tail http://localhost:{port}/observer/1.0.0/memory -H \"Authorization: Bearer {token}\"\n\
             \n\
             over HTTPS (self-signed): curl -N --cacert {cert} https://localhost:{sport}/observer/1.0.0/memory -H \"Authorization: Bearer {token}\"\n\
             sandbox key: curl -N http://localhost:{port}/observer/1.0.0/memory -H \"Authorization: Bearer {sandbox}\"\n\
             admin API: http://{admin} (try: eventgate api list --data {data})\n",
            backend = self.backend,
            admin = self.admin,
            data = self.data.display(),
            token = self.token,
            sandbox = self.sandbox_token,
            cert = self.cert_path.display(),
            portal = match &self.devportal {
                Some(url) => format!("developer portal: {url}#token={}\n", self.token),
                None => String::new(),
            },
        )
    }
}

/// The demo's parts, built but not yet serving.
#[derive(Debug)]
pub struct Demo {
    /// The gateway (its registry, gate and relay).
    pub gateway: Gateway,
    /// The ready information.
    pub ready: Ready,
    tls: TlsConfig,
    control: ControlPlane,
    portal: bool,
}

impl Demo {
    /// Builds the gateway for a sample backend at `backend` and mints the tokens, keeping
    /// the local issuer's key, the certificate and the admin token in `data`; the admin API
    /// is to be served on `admin`.
    ///
    /// # Errors
    /// [`DemoError`].
    pub fn build(
        data: &Path,
        backend: SocketAddr,
        http: SocketAddr,
        https: SocketAddr,
        admin: Listener,
    ) -> Result<Demo, DemoError> {
        let text = DEMO_CONFIG.replace("{backend}", &backend.to_string());
        let cfg = Config::from_str("eventgate demo (embedded)", &text)?;
        // The demo's state lives in memory and starts from the embedded configuration,
        // environments included: marked initialised so the control plane adds no defaults.
        let store = SqliteStore::in_memory()?;
        store.apply(&[Change::SetMeta {
            key: "initialized".into(),
            value: "1".into(),
        }])?;
        let control = control::start_with(data, admin, Arc::new(store))?;
        cfg.apply(&control.registry)?;
        cfg.apply_policy(&control.gate)?;
        let gateway = Gateway::builder()
            .registry(Arc::clone(&control.registry))
            .gate(Arc::clone(&control.gate))
            .build()?;
        let issuer = &control.issuer;
        let now = SystemTime::now();
        let token = issuer.mint(
            &TokenRequest::new(DEMO_CLIENT_ID)
                .subject("demo")
                .ttl(DEMO_TOKEN_TTL),
            now,
        )?;
        let sandbox_token = issuer.mint(
            &TokenRequest::new(DEMO_SANDBOX_CLIENT_ID)
                .subject("demo")
                .key_type(KeyType::Sandbox)
                .ttl(DEMO_TOKEN_TTL),
            now,
        )?;
        let (tls, cert) = TlsConfig::self_signed(&["localhost", "127.0.0.1"])?;
        let cert_path = data.join("demo-cert.pem");
        std::fs::write(&cert_path, cert.cert_pem).map_err(|source| DemoError::Io {
            path: cert_path.display().to_string(),
            source,
        })?;
        Ok(Demo {
            gateway,
            ready: Ready {
                http,
                https,
                backend,
                admin: control.admin_addr,
                data: data.to_owned(),
                token,
                sandbox_token,
                cert_path,
                devportal: Some(format!(
                    "http://localhost:{}{}/",
                    http.port(),
                    crate::devportal::PREFIX
                )),
            },
            tls,
            control,
            portal: true,
        })
    }

    /// Serve the developer portal at `/devportal` (true, the default) or not.
    #[must_use]
    pub fn devportal(mut self, on: bool) -> Self {
        self.portal = on;
        if !on {
            self.ready.devportal = None;
        }
        self
    }

    /// Serves the sample backend on `backend`, the gateway on `http` and `https` and the
    /// admin API until `shutdown` completes, then ends every stream with a final `retry:`
    /// hint.
    ///
    /// # Errors
    /// [`DemoError::Server`] when serving fails.
    pub async fn run<F>(
        self,
        backend: TcpListener,
        http: TcpListener,
        https: TcpListener,
        shutdown: F,
    ) -> Result<(), DemoError>
    where
        F: Future<Output = ()> + Send,
    {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut backend_stop = stop_rx.clone();
        let backend_task = tokio::spawn(async move {
            let _ = backend::run(
                backend,
                backend::Settings::new(Duration::from_millis(5000), Duration::from_millis(1000)),
                async move {
                    let _ = backend_stop.changed().await;
                },
            )
            .await;
        });
        let mut admin_stop = stop_rx.clone();
        let admin_task = tokio::spawn(self.control.serve_admin(async move {
            let _ = admin_stop.changed().await;
        }));
        let listeners = vec![
            Listener::from_tcp(http, None),
            Listener::from_tcp(https, Some(self.tls)),
        ];
        let gateway = self.gateway.clone();
        let front = crate::devportal::Front::new(self.gateway).portal(self.portal);
        let served = Server::builder()
            .build()?
            .run(listeners, front, async move {
                shutdown.await;
                let _ = gateway.shutdown(eventgate::DEFAULT_SHUTDOWN_DEADLINE).await;
            });
        served.await?;
        let _ = stop_tx.send(true);
        let _ = backend_task.await;
        let _ = admin_task.await;
        Ok(())
    }
}
