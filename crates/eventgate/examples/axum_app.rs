//! The gateway inside an axum application with routes of its own, mounted under `/sse` with
//! `nest_service` (axum strips the prefix, so the gateway routes `/observer/1.0.0/memory`).
//! Start an SSE backend first (`cargo run -p eventgate-cli -- sample-backend`).
//!
//! ```sh
//! cargo run -p eventgate --example axum_app
//! curl http://localhost:3001/hello
//! curl -N http://localhost:3001/sse/observer/1.0.0/memory -H "apikey: <printed key>"
//! ```

use axum::Router;
use axum::routing::get;
use eventgate::Gateway;
use eventgate::config::Config;

/// The Observer API, an application subscribed to it and an API key to issue
/// (`examples/observer-apikey.toml`, shared by the embedding examples).
const CONFIG: &str = include_str!("observer-apikey.toml");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = Config::from_str("axum_app example", CONFIG)?;
    let gate = eventgate_policy::Gate::builder().build()?;
    let (gateway, keys) = cfg.build_gateway(Gateway::builder(), gate)?;
    for issued in keys {
        println!(
            "API key of {}: {}",
            issued.application,
            issued.key.expose_secret()
        );
    }

    let app = Router::new()
        .route("/hello", get(|| async { "hello from the app\n" }))
        // The gateway is a tower Service over any body type: axum mounts it as it is.
        .nest_service("/sse", gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://127.0.0.1:3001");
    axum::serve(listener, app).await?;
    Ok(())
}
