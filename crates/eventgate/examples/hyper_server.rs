//! The gateway in a plain hyper server of your own: your accept loop, your connection
//! settings, the gateway as the service. Run it, then in another shell start an SSE backend
//! (`cargo run -p eventgate-cli -- sample-backend`) and
//! `curl -N http://localhost:3000/observer/1.0.0/memory -H "apikey: <printed key>"`.
//!
//! ```sh
//! cargo run -p eventgate --example hyper_server
//! ```

use eventgate::Gateway;
use eventgate::config::Config;
use eventgate::server::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The Observer API, an application subscribed to it and an API key to issue
/// (`examples/observer-apikey.toml`, shared by the embedding examples).
const CONFIG: &str = include_str!("observer-apikey.toml");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = Config::from_str("hyper_server example", CONFIG)?;
    let gate = eventgate_policy::Gate::builder().build()?;
    let (gateway, keys) = cfg.build_gateway(Gateway::builder(), gate)?;
    for issued in keys {
        println!(
            "API key of {}: {}",
            issued.application,
            issued.key.expose_secret()
        );
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000");
    loop {
        let (tcp, remote) = listener.accept().await?;
        let local = tcp.local_addr()?;
        let gateway = gateway.clone();
        tokio::spawn(async move {
            // The gateway reads ConnectInfo for the transport (http/https) and client address.
            let svc = hyper::service::service_fn(move |mut req| {
                req.extensions_mut()
                    .insert(ConnectInfo::new(remote, local, false));
                let gateway = gateway.clone();
                async move { Ok::<_, std::convert::Infallible>(gateway.handle(req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
