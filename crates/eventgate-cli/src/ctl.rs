//! `eventgate api ...` and `eventgate app ...`: clients of a running gateway's admin API.

use crate::cli::{
    ApiCommand, AppCommand, AsyncApiVersion, AuthType, DocFormat, GlobalArgs, KeyTypeArg,
    LifecycleAction, PlansCommand, RevisionCommand, TopicMode, TopicsCommand, Transport,
};
use crate::{Failure, Outcome};
use eventgate_cli::admin::client::{AdminClient, Answer, encode_segment};
use http::Method;
use serde_json::{Value, json};
use std::io::Write as _;

fn client(global: &GlobalArgs) -> Result<AdminClient, Failure> {
    AdminClient::from_flags(
        &global.data,
        global.admin.as_deref(),
        global.admin_token.as_deref(),
    )
    .map_err(Failure::from)
}

/// Calls the admin API; a non-2xx answer is a failure carrying the API's error.
async fn call(
    c: &AdminClient,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Answer, Failure> {
    let answer = c.call(method, path, body.as_ref()).await?;
    if answer.status.is_success() {
        return Ok(answer);
    }
    let err = answer.json();
    let code = err.get("code").and_then(Value::as_str).unwrap_or("error");
    let description = err.get("description").and_then(Value::as_str).map_or_else(
        || String::from_utf8_lossy(&answer.body).into_owned(),
        str::to_owned,
    );
    Err(Failure {
        message: format!("{code}: {description} (HTTP {})", answer.status.as_u16()),
        code: crate::EXIT_FAILURE,
        detail: Some(if err.is_null() {
            json!({"status": answer.status.as_u16(), "body": description})
        } else {
            err
        }),
    })
}

fn api_path(api: &impl std::fmt::Display, tail: &str) -> String {
    format!("/apis/{}{tail}", encode_segment(&api.to_string()))
}

/// Prints `v` with `--json`, else `human(v)`.
fn print(global: &GlobalArgs, v: &Value, human: impl FnOnce(&Value) -> String) -> Outcome {
    let mut out = std::io::stdout().lock();
    if global.json {
        writeln!(out, "{v}")?;
    } else {
        writeln!(out, "{}", human(v))?;
    }
    Ok(())
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

fn list(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn topic_lines(v: &Value) -> String {
    let topics = v
        .get("topics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    topics
        .iter()
        .map(|t| {
            let mut line = format!(
                "{}  mode {}  auth {}",
                s(t, "topic"),
                s(t, "mode"),
                s(t, "auth_type")
            );
            if let Some(b) = t.get("backend").and_then(Value::as_str) {
                line.push_str(&format!("  backend {b}"));
            }
            let scopes = list(t, "scopes");
            if !scopes.is_empty() {
                line.push_str(&format!("  scopes {scopes}"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn revision_lines(v: &Value) -> String {
    let revs = v
        .get("revisions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if revs.is_empty() {
        return "no revision".into();
    }
    revs.iter()
        .map(|r| {
            let on: Vec<String> = r
                .get("deployments")
                .and_then(Value::as_array)
                .map(|d| {
                    d.iter()
                        .map(|d| format!("{}@{}", s(d, "environment"), s(d, "vhost")))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "revision {}{}",
                r.get("revision").map_or_else(String::new, Value::to_string),
                if on.is_empty() {
                    String::new()
                } else {
                    format!("  deployed on {}", on.join(", "))
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn api_line(a: &Value) -> String {
    format!(
        "{}  {}  {}  context {}  topics {}  plans [{}]",
        s(a, "id"),
        s(a, "lifecycle"),
        s(a, "endpoint"),
        s(a, "context"),
        a.get("topics")
            .and_then(Value::as_array)
            .map(|t| t
                .iter()
                .map(|t| s(t, "topic").to_owned())
                .collect::<Vec<_>>()
                .join(","))
            .unwrap_or_default(),
        list(a, "plans"),
    )
}

fn action_word(a: LifecycleAction) -> &'static str {
    match a {
        LifecycleAction::Publish => "Publish",
        LifecycleAction::Prototype => "Deploy as a Prototype",
        LifecycleAction::Demote => "Demote to Created",
        LifecycleAction::Block => "Block",
        LifecycleAction::Deprecate => "Deprecate",
        LifecycleAction::Republish => "Re-Publish",
        LifecycleAction::Retire => "Retire",
    }
}

pub(crate) async fn api(global: &GlobalArgs, cmd: ApiCommand) -> Outcome {
    let c = client(global)?;
    match cmd {
        ApiCommand::Create(a) => {
            let transports: Vec<&str> = a
                .transports
                .iter()
                .map(|t| match t {
                    Transport::Http => "http",
                    Transport::Https => "https",
                })
                .collect();
            let body = json!({"name": a.name, "context": a.context, "version": a.version,
                              "endpoint": a.endpoint, "sandbox_endpoint": a.sandbox_endpoint,
                              "transports": transports});
            let v = call(&c, Method::POST, "/apis", Some(body)).await?.json();
            print(global, &v, |v| {
                format!(
                    "created API {} (context {}, {})",
                    s(v, "id"),
                    s(v, "context"),
                    s(v, "lifecycle")
                )
            })
        }
        ApiCommand::Topics(TopicsCommand::Add(a)) => {
            let body = json!({"topic": a.topic, "backend": a.backend, "scopes": a.scopes,
                "mode": match a.mode { TopicMode::Fanout => "fanout", TopicMode::Proxy => "proxy" },
                "auth_type": match a.auth_type { AuthType::None => "none", AuthType::Application => "application" }});
            let v = call(&c, Method::POST, &api_path(&a.api, "/topics"), Some(body))
                .await?
                .json();
            print(global, &v, |v| {
                format!("added topic {} to {}\n{}", a.topic, a.api, topic_lines(v))
            })
        }
        ApiCommand::Topics(TopicsCommand::Remove(a)) => {
            let body = json!({"topic": a.topic});
            let v = call(&c, Method::DELETE, &api_path(&a.api, "/topics"), Some(body))
                .await?
                .json();
            print(global, &v, |v| {
                format!(
                    "removed topic {} from {}\n{}",
                    a.topic,
                    a.api,
                    topic_lines(v)
                )
            })
        }
        ApiCommand::Topics(TopicsCommand::List(a)) => {
            let v = call(&c, Method::GET, &api_path(&a.api, "/topics"), None)
                .await?
                .json();
            print(global, &v, topic_lines)
        }
        ApiCommand::Plans(PlansCommand::Set(a)) => {
            let body = json!({"plans": a.plans});
            let v = call(&c, Method::PUT, &api_path(&a.api, "/plans"), Some(body))
                .await?
                .json();
            print(global, &v, |v| {
                format!("API {} plans: {}", a.api, list(v, "plans"))
            })
        }
        ApiCommand::Lifecycle(a) => {
            let body = json!({"action": action_word(a.action)});
            let v = call(
                &c,
                Method::POST,
                &api_path(&a.api, "/lifecycle"),
                Some(body),
            )
            .await?
            .json();
            print(global, &v, |v| {
                format!("API {}: {} -> {}", a.api, s(v, "from"), s(v, "lifecycle"))
            })
        }
        ApiCommand::Revision(RevisionCommand::Create(a)) => {
            let body = json!({"description": a.description});
            let v = call(
                &c,
                Method::POST,
                &api_path(&a.api, "/revisions"),
                Some(body),
            )
            .await?
            .json();
            print(global, &v, |v| {
                format!(
                    "created revision {} of {}",
                    v.get("revision").map_or_else(String::new, Value::to_string),
                    a.api
                )
            })
        }
        ApiCommand::Revision(RevisionCommand::List(a)) => {
            let v = call(&c, Method::GET, &api_path(&a.api, "/revisions"), None)
                .await?
                .json();
            print(global, &v, revision_lines)
        }
        ApiCommand::Revision(RevisionCommand::Delete(a)) => {
            let n = a.number.or(a.revision).unwrap_or_default();
            let v = call(
                &c,
                Method::DELETE,
                &api_path(&a.api, &format!("/revisions/{n}")),
                None,
            )
            .await?
            .json();
            print(global, &v, |_| format!("deleted revision {n} of {}", a.api))
        }
        ApiCommand::Deploy(a) => {
            let body = json!({"revision": a.revision, "environments": a.env, "vhost": a.vhost});
            let v = call(
                &c,
                Method::POST,
                &api_path(&a.api, "/deployments"),
                Some(body),
            )
            .await?
            .json();
            print(global, &v, |v| {
                let on: Vec<String> = v
                    .get("deployments")
                    .and_then(Value::as_array)
                    .map(|d| {
                        d.iter()
                            .map(|d| format!("{}@{}", s(d, "environment"), s(d, "vhost")))
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "deployed revision {} of {} on {}",
                    v.get("revision").map_or_else(String::new, Value::to_string),
                    a.api,
                    on.join(", ")
                )
            })
        }
        ApiCommand::Undeploy(a) => {
            let body = json!({"revision": a.revision, "environments": a.env, "vhost": a.vhost});
            let v = call(
                &c,
                Method::DELETE,
                &api_path(&a.api, "/deployments"),
                Some(body),
            )
            .await?
            .json();
            print(global, &v, |v| {
                format!(
                    "undeployed {} ({} deployment(s) removed)",
                    a.api,
                    v.get("undeployed")
                        .map_or_else(String::new, Value::to_string)
                )
            })
        }
        ApiCommand::Export(a) => {
            let version = match a.asyncapi {
                AsyncApiVersion::V2 => "2.0.0",
                AsyncApiVersion::V3 => "3.0.0",
            };
            let format = match a.format {
                DocFormat::Json => "json",
                DocFormat::Yaml => "yaml",
            };
            let answer = call(
                &c,
                Method::GET,
                &api_path(
                    &a.api,
                    &format!("/asyncapi?version={version}&format={format}"),
                ),
                None,
            )
            .await?;
            match a.output {
                Some(path) => {
                    std::fs::write(&path, &answer.body)
                        .map_err(|e| Failure::new(format!("--output {}: {e}", path.display())))?;
                    let v = json!({"api": a.api.to_string(), "asyncapi": version, "format": format,
                                   "file": path.display().to_string()});
                    print(global, &v, |_| {
                        format!(
                            "wrote AsyncAPI {version} ({format}) of {} to {}",
                            a.api,
                            path.display()
                        )
                    })
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&answer.body)?;
                    if !answer.body.ends_with(b"\n") {
                        out.write_all(b"\n")?;
                    }
                    Ok(())
                }
            }
        }
        ApiCommand::Import(a) => {
            let document = std::fs::read_to_string(&a.file)
                .map_err(|e| Failure::new(format!("{}: {e}", a.file.display())))?;
            let body = json!({"document": document, "context": a.context, "endpoint": a.endpoint,
                              "sandbox_endpoint": a.sandbox_endpoint, "name": a.name,
                              "version": a.version});
            let v = call(&c, Method::POST, "/apis/import", Some(body))
                .await?
                .json();
            print(global, &v, |v| {
                format!(
                    "imported API {} (context {}, topics {}, {})",
                    s(v, "id"),
                    s(v, "context"),
                    v.get("topics")
                        .and_then(Value::as_array)
                        .map(|t| t
                            .iter()
                            .map(|t| s(t, "topic").to_owned())
                            .collect::<Vec<_>>()
                            .join(","))
                        .unwrap_or_default(),
                    s(v, "lifecycle")
                )
            })
        }
        ApiCommand::List => {
            let v = call(&c, Method::GET, "/apis", None).await?.json();
            print(global, &v, |v| {
                let apis = v
                    .get("apis")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if apis.is_empty() {
                    "no API".into()
                } else {
                    apis.iter().map(api_line).collect::<Vec<_>>().join("\n")
                }
            })
        }
        ApiCommand::Delete(a) => {
            let v = call(&c, Method::DELETE, &api_path(&a.api, ""), None)
                .await?
                .json();
            print(global, &v, |_| format!("deleted API {}", a.api))
        }
        ApiCommand::Show(a) => {
            let v = call(&c, Method::GET, &api_path(&a.api, ""), None)
                .await?
                .json();
            print(global, &v, |v| {
                format!(
                    "{}\ntopics:\n{}\n{}",
                    api_line(v),
                    topic_lines(v),
                    revision_lines(v)
                )
            })
        }
    }
}

fn key_type(k: KeyTypeArg) -> &'static str {
    match k {
        KeyTypeArg::Production => "production",
        KeyTypeArg::Sandbox => "sandbox",
    }
}

pub(crate) async fn app(global: &GlobalArgs, cmd: AppCommand) -> Outcome {
    let c = client(global)?;
    let app_path = |name: &str, tail: &str| format!("/applications/{}{tail}", encode_segment(name));
    match cmd {
        AppCommand::Create(a) => {
            let body = json!({"name": a.name, "description": a.description});
            let v = call(&c, Method::POST, "/applications", Some(body))
                .await?
                .json();
            print(global, &v, |v| {
                format!("created application {}", s(v, "name"))
            })
        }
        AppCommand::Subscribe(a) => {
            let body = json!({"api": a.api.to_string(), "plan": a.plan});
            let v = call(
                &c,
                Method::POST,
                &app_path(&a.name, "/subscriptions"),
                Some(body),
            )
            .await?
            .json();
            print(global, &v, |v| {
                format!(
                    "subscribed {} to {} under {}",
                    a.name,
                    s(v, "api"),
                    s(v, "plan")
                )
            })
        }
        AppCommand::Token(a) => {
            let body = json!({"type": key_type(a.key_type), "scopes": a.scopes,
                              "ttl_secs": a.ttl.as_secs().max(1)});
            let v = call(&c, Method::POST, &app_path(&a.name, "/tokens"), Some(body))
                .await?
                .json();
            print(global, &v, |v| s(v, "token").to_owned())
        }
        AppCommand::Key(a) => {
            let body = json!({"type": key_type(a.key_type)});
            let v = call(&c, Method::POST, &app_path(&a.name, "/keys"), Some(body))
                .await?
                .json();
            print(global, &v, |v| s(v, "key").to_owned())
        }
    }
}
