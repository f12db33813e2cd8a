//! The command line: every subcommand and flag of `eventgate`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use eventgate_cli::duration::parse_duration;
use eventgate_cli::jsonpath::JsonPath;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A duration flag value (`30s`, `15m`, `1h`); clap names the flag in the error.
fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn jsonpath_arg(s: &str) -> Result<JsonPath, String> {
    s.parse()
        .map_err(|e: eventgate_cli::jsonpath::JsonPathError| e.to_string())
}

/// Server-Sent Events APIs behind an API gateway: run the gateway, manage APIs and
/// applications, serve the tutorial's sample backend, watch a stream.
#[derive(Debug, Parser)]
#[command(name = "eventgate", version)]
#[command(after_help = "Start with `eventgate demo`, then follow the ready line it prints.")]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every subcommand takes, before or after its own arguments.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Directory of the gateway's state (database, admin token, issuer key)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "./eventgate-data"
    )]
    pub(crate) data: PathBuf,
    /// Admin API: for `serve` and `demo` the address it listens on (default 127.0.0.1:9443);
    /// for other commands the URL of a running gateway's admin API (default: found in DIR)
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) admin: Option<String>,
    /// Admin token for the admin API (default: DIR/admin-token)
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "EVENTGATE_ADMIN_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub(crate) admin_token: Option<String>,
    /// Print JSON instead of human text (one object per line for `tail`)
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the sample backend and a gateway with the tutorial's Observer API, ready to curl
    Demo(DemoArgs),
    /// Run the gateway, its admin API and its state in --data DIR
    Serve(ServeArgs),
    /// The tutorial's memory observer: GET /memory as text/event-stream
    SampleBackend(SampleBackendArgs),
    /// Create, configure, publish, deploy, export and import APIs
    #[command(subcommand)]
    Api(ApiCommand),
    /// Applications: create, subscribe, get tokens and API keys
    #[command(subcommand)]
    App(AppCommand),
    /// Watch an event stream as a timeline (an SSE debugging client)
    Tail(TailArgs),
    /// Mint, decode and verify JWTs of the local issuer (for testing)
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `eventgate demo`
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Address of the gateway's HTTP listener
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8280")]
    pub(crate) http: SocketAddr,
    /// Address of the gateway's HTTPS listener (self-signed certificate)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8243")]
    pub(crate) https: SocketAddr,
    /// Port of the sample backend (on 127.0.0.1)
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub(crate) backend_port: u16,
    /// Serve the developer portal at /devportal (the default for demo)
    #[arg(long, overrides_with = "no_devportal")]
    pub(crate) devportal: bool,
    /// Do not serve the developer portal
    #[arg(long, overrides_with = "devportal")]
    pub(crate) no_devportal: bool,
}

/// `eventgate serve`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (TOML); without it the state in --data DIR is served
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address of the gateway's HTTP listener
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8280")]
    pub(crate) http: SocketAddr,
    /// Address of the gateway's HTTPS listener
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8243")]
    pub(crate) https: SocketAddr,
    /// Serve the developer portal at /devportal (off by default for serve)
    #[arg(long, overrides_with = "no_devportal")]
    pub(crate) devportal: bool,
    /// Do not serve the developer portal (the default for serve)
    #[arg(long, overrides_with = "devportal")]
    pub(crate) no_devportal: bool,
}

/// `eventgate sample-backend`
#[derive(Debug, Args)]
pub(crate) struct SampleBackendArgs {
    /// Milliseconds after which the server ends each response (the client reconnects)
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) time: u64,
    /// Milliseconds between two memory samples
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) interval: u64,
    /// Port to listen on (0: any free port)
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub(crate) port: u16,
    /// Address to listen on
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// Events kept for Last-Event-ID replay
    #[arg(long, value_name = "N", default_value_t = eventgate_cli::backend::DEFAULT_HISTORY)]
    pub(crate) history: usize,
}

/// An API named as `NAME:VERSION`, e.g. `Observer:1.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiRef {
    pub(crate) name: String,
    pub(crate) version: String,
}

impl FromStr for ApiRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((name, version))
                if !name.trim().is_empty()
                    && !version.trim().is_empty()
                    && !version.contains(':') =>
            {
                Ok(ApiRef {
                    name: name.trim().to_owned(),
                    version: version.trim().to_owned(),
                })
            }
            _ => Err(format!(
                "expected NAME:VERSION (e.g. Observer:1.0.0), got {s:?}"
            )),
        }
    }
}

impl fmt::Display for ApiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.version)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiCommand {
    /// Create an SSE API (lifecycle state Created)
    Create(ApiCreateArgs),
    /// Add, remove or list an API's topics
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Set an API's business plans
    #[command(subcommand)]
    Plans(PlansCommand),
    /// Move an API through its lifecycle (publish, block, deprecate, ...)
    Lifecycle(LifecycleArgs),
    /// Create, list or delete an API's revisions
    #[command(subcommand)]
    Revision(RevisionCommand),
    /// Deploy a revision to gateway environments on a vhost
    Deploy(DeployArgs),
    /// Undeploy an API from gateway environments
    Undeploy(UndeployArgs),
    /// Print an API's AsyncAPI definition (WSO2's shape)
    Export(ExportArgs),
    /// Create an API from an AsyncAPI 2.x or 3.0 document (e.g. one exported from WSO2)
    Import(ImportArgs),
    /// List APIs
    List,
    /// Show one API: topics, plans, lifecycle state, revisions, deployments
    Show(ApiOnly),
    /// Delete an API that is not deployed, with its revisions and subscriptions
    Delete(ApiOnly),
}

/// An API argument alone.
#[derive(Debug, Args)]
pub(crate) struct ApiOnly {
    /// The API, as NAME:VERSION (e.g. Observer:1.0.0)
    pub(crate) api: ApiRef,
}

/// A transport an API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    Http,
    Https,
}

/// `eventgate api create`
#[derive(Debug, Args)]
pub(crate) struct ApiCreateArgs {
    /// API name (e.g. Observer)
    #[arg(long)]
    pub(crate) name: String,
    /// Context: the first path segment(s) (e.g. /observer)
    #[arg(long)]
    pub(crate) context: String,
    /// Version (e.g. 1.0.0)
    #[arg(long)]
    pub(crate) version: String,
    /// Production endpoint: the SSE backend (e.g. http://localhost:8080)
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: String,
    /// Sandbox endpoint (default: the production endpoint)
    #[arg(long, value_name = "URL")]
    pub(crate) sandbox_endpoint: Option<String>,
    /// Transports accepted from clients
    #[arg(long, value_delimiter = ',', default_value = "http,https")]
    pub(crate) transports: Vec<Transport>,
}

/// How a topic's upstream is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TopicMode {
    /// One upstream connection per topic, shared by every client, with replay
    Fanout,
    /// One upstream connection per client
    Proxy,
}

/// Who may subscribe to a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthType {
    /// Anyone (no credential)
    None,
    /// Subscribed applications (a token or API key)
    Application,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Add a topic (e.g. /memory)
    Add(TopicAddArgs),
    /// Remove a topic
    Remove(TopicArgs),
    /// List an API's topics
    List(ApiOnly),
}

/// `eventgate api topics add`
#[derive(Debug, Args)]
pub(crate) struct TopicAddArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// The topic path template (e.g. /memory or /orders/{id})
    pub(crate) topic: String,
    /// Backend path the topic maps to (default: the topic path)
    #[arg(long, value_name = "PATH")]
    pub(crate) backend: Option<String>,
    /// Scopes a token needs for this topic
    #[arg(long, value_delimiter = ',')]
    pub(crate) scopes: Vec<String>,
    /// Upstream sharing
    #[arg(long, value_enum, default_value = "fanout")]
    pub(crate) mode: TopicMode,
    /// Authentication
    #[arg(long, value_enum, default_value = "application")]
    pub(crate) auth_type: AuthType,
}

/// An API and one of its topics.
#[derive(Debug, Args)]
pub(crate) struct TopicArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// The topic path template
    pub(crate) topic: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PlansCommand {
    /// Set the business plans applications can subscribe under (e.g. AsyncGold,AsyncSilver)
    Set(PlansSetArgs),
}

/// `eventgate api plans set`
#[derive(Debug, Args)]
pub(crate) struct PlansSetArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// Comma-separated plan names
    #[arg(value_delimiter = ',', required = true, num_args = 1..)]
    pub(crate) plans: Vec<String>,
}

/// A WSO2 lifecycle transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LifecycleAction {
    /// Created or Prototyped -> Published
    Publish,
    /// Created or Published -> Prototyped ("Deploy as a Prototype")
    #[value(alias = "deploy-as-a-prototype", alias = "deploy-as-prototype")]
    Prototype,
    /// Prototyped or Published -> Created ("Demote to Created")
    #[value(alias = "demote-to-created")]
    Demote,
    /// Published -> Blocked
    Block,
    /// Published or Blocked -> Deprecated
    Deprecate,
    /// Blocked -> Published ("Re-Publish")
    #[value(alias = "re-publish")]
    Republish,
    /// Deprecated -> Retired
    Retire,
}

/// `eventgate api lifecycle`
#[derive(Debug, Args)]
pub(crate) struct LifecycleArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// The transition
    #[arg(value_enum, ignore_case = true)]
    pub(crate) action: LifecycleAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RevisionCommand {
    /// Snapshot the API's current definition as a new revision
    Create(RevisionCreateArgs),
    /// List an API's revisions and where they are deployed
    List(ApiOnly),
    /// Delete a revision that is not deployed
    Delete(RevisionDeleteArgs),
}

/// `eventgate api revision create`
#[derive(Debug, Args)]
pub(crate) struct RevisionCreateArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// A note kept with the revision
    #[arg(long)]
    pub(crate) description: Option<String>,
}

/// `eventgate api revision delete`
#[derive(Debug, Args)]
pub(crate) struct RevisionDeleteArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// The revision number
    #[arg(value_name = "N", required_unless_present = "revision")]
    pub(crate) number: Option<u32>,
    /// The revision number (same as the positional N)
    #[arg(long, value_name = "N", conflicts_with = "number")]
    pub(crate) revision: Option<u32>,
}

/// `eventgate api deploy`
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// The revision to deploy (default: the latest)
    #[arg(long, value_name = "N")]
    pub(crate) revision: Option<u32>,
    /// Gateway environments
    #[arg(long, value_delimiter = ',', default_value = "production,sandbox")]
    pub(crate) env: Vec<String>,
    /// Virtual host the API answers on (default: each environment's first vhost, e.g.
    /// `localhost` for production and `sandbox.localhost` for sandbox)
    #[arg(long)]
    pub(crate) vhost: Option<String>,
}

/// `eventgate api undeploy`
#[derive(Debug, Args)]
pub(crate) struct UndeployArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// Only this revision (default: whatever is deployed)
    #[arg(long, value_name = "N")]
    pub(crate) revision: Option<u32>,
    /// Gateway environments
    #[arg(long, value_delimiter = ',', default_value = "production,sandbox")]
    pub(crate) env: Vec<String>,
    /// Virtual host
    #[arg(long)]
    pub(crate) vhost: Option<String>,
}

/// AsyncAPI versions `api export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AsyncApiVersion {
    #[value(name = "2.0.0", alias = "2")]
    V2,
    #[value(name = "3.0.0", alias = "3")]
    V3,
}

/// Document formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DocFormat {
    Json,
    Yaml,
}

/// `eventgate api export`
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The API, as NAME:VERSION
    pub(crate) api: ApiRef,
    /// AsyncAPI version of the document
    #[arg(long, value_enum, default_value = "2.0.0")]
    pub(crate) asyncapi: AsyncApiVersion,
    /// Document format
    #[arg(long, value_enum, default_value = "json")]
    pub(crate) format: DocFormat,
    /// Write to FILE instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// `eventgate api import`
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// AsyncAPI document (JSON or YAML, 2.x or 3.0)
    pub(crate) file: PathBuf,
    /// Context for the new API (e.g. /observer)
    #[arg(long)]
    pub(crate) context: String,
    /// Production endpoint
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: String,
    /// Sandbox endpoint (default: the production endpoint)
    #[arg(long, value_name = "URL")]
    pub(crate) sandbox_endpoint: Option<String>,
    /// Name (default: the document's info.title)
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Version (default: the document's info.version)
    #[arg(long)]
    pub(crate) version: Option<String>,
}

/// Production or sandbox credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyTypeArg {
    Production,
    Sandbox,
}

impl From<KeyTypeArg> for eventgate_policy::KeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::Production => eventgate_policy::KeyType::Production,
            KeyTypeArg::Sandbox => eventgate_policy::KeyType::Sandbox,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Create an application
    Create(AppCreateArgs),
    /// Subscribe an application to an API under a business plan
    Subscribe(AppSubscribeArgs),
    /// Print a JWT for the application from the gateway's local issuer
    Token(AppTokenArgs),
    /// Print a new API key for the application
    Key(AppKeyArgs),
}

/// `eventgate app create`
#[derive(Debug, Args)]
pub(crate) struct AppCreateArgs {
    /// Application name
    pub(crate) name: String,
    /// Description
    #[arg(long)]
    pub(crate) description: Option<String>,
}

/// `eventgate app subscribe`
#[derive(Debug, Args)]
pub(crate) struct AppSubscribeArgs {
    /// Application name
    pub(crate) name: String,
    /// The API, as NAME:VERSION
    #[arg(long)]
    pub(crate) api: ApiRef,
    /// Business plan (e.g. AsyncGold)
    #[arg(long)]
    pub(crate) plan: String,
}

/// `eventgate app token`
#[derive(Debug, Args)]
pub(crate) struct AppTokenArgs {
    /// Application name
    pub(crate) name: String,
    /// Key type
    #[arg(long = "type", value_enum, default_value = "production")]
    pub(crate) key_type: KeyTypeArg,
    /// Scopes to grant
    #[arg(long, value_delimiter = ',')]
    pub(crate) scopes: Vec<String>,
    /// Lifetime (e.g. 30s, 15m, 1h)
    #[arg(long, value_parser = duration_arg, default_value = "1h")]
    pub(crate) ttl: Duration,
}

/// `eventgate app key`
#[derive(Debug, Args)]
pub(crate) struct AppKeyArgs {
    /// Application name
    pub(crate) name: String,
    /// Key type
    #[arg(long = "type", value_enum, default_value = "production")]
    pub(crate) key_type: KeyTypeArg,
}

/// `eventgate tail`
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The event stream URL
    pub(crate) url: String,
    /// Request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "K: V")]
    pub(crate) headers: Vec<String>,
    /// Last-Event-ID to send on the first request
    #[arg(long, value_name = "ID")]
    pub(crate) last_event_id: Option<String>,
    /// Pretty-print JSON event data
    #[arg(long)]
    pub(crate) pretty: bool,
    /// Accumulate the text at this JSONPath of each event (e.g. '$.choices[0].delta.content')
    #[arg(long, value_name = "JSONPATH", value_parser = jsonpath_arg)]
    pub(crate) merge: Option<JsonPath>,
    /// Stop after N reconnections (default: unlimited, as EventSource)
    #[arg(long, value_name = "N")]
    pub(crate) max_reconnects: Option<u64>,
    /// Stop after N events
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// Stop after this long (e.g. 30s)
    #[arg(long, value_parser = duration_arg)]
    pub(crate) duration: Option<Duration>,
    /// Time allowed for each connection to answer with headers
    #[arg(long, value_parser = duration_arg, default_value = "10s")]
    pub(crate) connect_timeout: Duration,
    /// Accept any TLS certificate (e.g. the demo's self-signed one)
    #[arg(long, short = 'k')]
    pub(crate) insecure: bool,
    /// Also trust the CA certificate(s) in this PEM file
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,
    /// Colours: auto (on a terminal), always, never (NO_COLOR also turns them off)
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: ColorChoice,
}

/// When to colour the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Print a signed JWT from the local issuer (key in DIR/issuer-key.pem)
    Mint(TokenMintArgs),
    /// Print a token's header and claims WITHOUT verifying it
    Decode(TokenArg),
    /// Verify a token against the local issuer's key set, as the gateway does
    Verify(TokenVerifyArgs),
    /// Print the local issuer's public key set (JWKS)
    Jwks(IssuerArg),
}

/// The issuer name flag.
#[derive(Debug, Args)]
pub(crate) struct IssuerArg {
    /// The issuer (iss claim)
    #[arg(long, default_value = eventgate_cli::issuer::DEFAULT_ISSUER)]
    pub(crate) issuer: String,
}

/// `eventgate token mint`
#[derive(Debug, Args)]
pub(crate) struct TokenMintArgs {
    /// Subject (sub claim)
    #[arg(long, default_value = eventgate_cli::issuer::DEFAULT_SUBJECT)]
    pub(crate) sub: String,
    /// Client id (azp and client_id claims)
    #[arg(long, default_value = "eventgate-local")]
    pub(crate) client_id: String,
    /// Scopes (scope claim)
    #[arg(long, value_delimiter = ',')]
    pub(crate) scopes: Vec<String>,
    /// Key type (keytype claim)
    #[arg(long = "type", value_enum, default_value = "production")]
    pub(crate) key_type: KeyTypeArg,
    /// Lifetime (e.g. 30s, 15m, 1h)
    #[arg(long, value_parser = duration_arg, default_value = "1h")]
    pub(crate) ttl: Duration,
    /// Audience (aud claim)
    #[arg(long)]
    pub(crate) aud: Option<String>,
    #[command(flatten)]
    pub(crate) issuer: IssuerArg,
}

/// A token argument.
#[derive(Debug, Args)]
pub(crate) struct TokenArg {
    /// The token ('-' reads it from stdin)
    pub(crate) token: String,
}

/// `eventgate token verify`
#[derive(Debug, Args)]
pub(crate) struct TokenVerifyArgs {
    /// The token ('-' reads it from stdin)
    pub(crate) token: String,
    /// Require this audience
    #[arg(long)]
    pub(crate) aud: Option<String>,
    #[command(flatten)]
    pub(crate) issuer: IssuerArg,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("eventgate").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn global_flags_are_accepted_before_and_after_the_subcommand() {
        let a = parse(&["--json", "--data", "/tmp/x", "api", "list"]);
        let b = parse(&["api", "list", "--data", "/tmp/x", "--json"]);
        for cli in [a, b] {
            assert!(cli.global.json);
            assert_eq!(cli.global.data, PathBuf::from("/tmp/x"));
        }
        let c = parse(&["app", "token", "Demo", "--admin", "http://127.0.0.1:9443"]);
        assert_eq!(c.global.admin.as_deref(), Some("http://127.0.0.1:9443"));
        assert_eq!(
            parse(&["api", "list"]).global.data,
            PathBuf::from("./eventgate-data")
        );
    }

    #[test]
    fn the_tutorial_commands_parse_as_the_issue_spells_them() {
        for line in [
            "api create --name Observer --context /observer --version 1.0.0 --endpoint http://localhost:8080",
            "api create --name Observer --context /observer --version 1.0.0 --endpoint http://localhost:8080 --sandbox-endpoint http://localhost:8081 --transports http,https",
            "api topics add Observer:1.0.0 /memory --backend /memory --scopes a,b --mode fanout --auth-type application",
            "api topics add Observer:1.0.0 /memory --mode proxy --auth-type none",
            "api topics remove Observer:1.0.0 /memory",
            "api topics list Observer:1.0.0",
            "api plans set Observer:1.0.0 AsyncGold,AsyncSilver",
            "api lifecycle Observer:1.0.0 publish",
            "api lifecycle Observer:1.0.0 deploy-as-a-prototype",
            "api lifecycle Observer:1.0.0 Re-Publish",
            "api revision create Observer:1.0.0",
            "api revision list Observer:1.0.0",
            "api revision delete Observer:1.0.0 2",
            "api revision delete Observer:1.0.0 --revision 2",
            "api deploy Observer:1.0.0 --revision 1 --env production,sandbox --vhost localhost",
            "api undeploy Observer:1.0.0 --revision 1 --env production",
            "api export Observer:1.0.0",
            "api export Observer:1.0.0 --asyncapi 3.0.0 --format yaml",
            "api import observer.yaml --context /observer --endpoint http://localhost:8080",
            "api list",
            "api show Observer:1.0.0",
            "app create DemoApp",
            "app subscribe DemoApp --api Observer:1.0.0 --plan AsyncGold",
            "app token DemoApp",
            "app token DemoApp --type sandbox --scopes a,b --ttl 15m",
            "app key DemoApp",
            "demo",
            "demo --http 127.0.0.1:8280 --https 127.0.0.1:8243 --admin 127.0.0.1:9443 --backend-port 8080",
            "serve --config eventgate.toml --data ./eventgate-data",
            "serve --http 127.0.0.1:8280 --https 127.0.0.1:8243 --admin 127.0.0.1:9443",
            "sample-backend --time 5000 --interval 1000 --port 8080",
            "sample-backend --time=5000 --interval=1000",
            "tail http://localhost:8280/observer/1.0.0/memory -H Authorization:x --last-event-id 3 --json --pretty",
            "token mint --sub alice --client-id c1 --scopes a,b --type sandbox --ttl 1h --aud eventgate",
            "token decode abc",
            "token verify abc",
            "token jwks",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            if let Err(e) = Cli::try_parse_from(std::iter::once("eventgate").chain(args)) {
                panic!("{line}: {e}");
            }
        }
        let cli = parse(&["tail", "http://x/", "--merge", "$.choices[0].delta.content"]);
        let Command::Tail(t) = cli.command else {
            panic!()
        };
        assert!(t.merge.is_some());
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err =
            Cli::try_parse_from(["eventgate", "app", "token", "A", "--ttl", "5y"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--ttl"), "{text}");
        assert!(text.contains("unknown unit"), "{text}");
        let err = Cli::try_parse_from(["eventgate", "api", "show", "Observer"]).unwrap_err();
        assert!(err.to_string().contains("NAME:VERSION"), "{err}");
        let err =
            Cli::try_parse_from(["eventgate", "tail", "http://x/", "--merge", "$..x"]).unwrap_err();
        assert!(err.to_string().contains("--merge"), "{err}");
    }
}
