//! The admin API's endpoints (see `docs/admin-api.md`).

use std::time::{Duration, SystemTime};

use eventgate::{Api, ApiContext, ApiId, Endpoint, Lifecycle, LifecycleAction, Transports};
use eventgate_asyncapi::{ExportOptions, OutputVersion, TopicTemplate};
use eventgate_policy::{ApiKeyStore, ApplicationId, KeyType, Subscription};
use eventgate_types::PlanName;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Admin, AdminError, AppEntry, Reply, method_not_allowed, percent_decode, store_error};
use crate::control::{application, client_id};
use crate::issuer::TokenRequest;
use crate::store::codec::{
    StoredApi, StoredApplication, auth_type_name, auth_type_of, delivery_name, delivery_of,
};
use crate::store::{ApiKeyRow, Change, DeploymentRow, SubscriptionRow};

type Res = Result<Reply, AdminError>;

/// The longest lifetime `app token` mints.
pub(crate) const MAX_TOKEN_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

fn ok(v: Value) -> Res {
    Ok(Reply::Json(StatusCode::OK, v))
}

fn created(v: Value) -> Res {
    Ok(Reply::Json(StatusCode::CREATED, v))
}

pub(super) fn route(admin: &Admin, method: &Method, path: &str, query: &str, body: &[u8]) -> Res {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.clone();
    let body = || parse_body(body);
    match (segs.as_slice(), m) {
        (["apis"], Method::GET) => list_apis(admin),
        (["apis"], Method::POST) => create_api(admin, &body()?),
        (["apis", "import"], Method::POST) => import(admin, &body()?),
        (["apis", id], Method::GET) => show_api(admin, &api_id(id)?),
        (["apis", id], Method::DELETE) => delete_api(admin, &api_id(id)?),
        (["apis", id, "topics"], Method::GET) => {
            let api = current(admin, &api_id(id)?)?;
            ok(json!({"topics": topics_json(&api)}))
        }
        (["apis", id, "topics"], Method::POST) => add_topic(admin, &api_id(id)?, &body()?),
        (["apis", id, "topics"], Method::DELETE) => remove_topic(admin, &api_id(id)?, &body()?),
        (["apis", id, "plans"], Method::PUT) => set_plans(admin, &api_id(id)?, &body()?),
        (["apis", id, "lifecycle"], Method::POST) => lifecycle(admin, &api_id(id)?, &body()?),
        (["apis", id, "revisions"], Method::GET) => {
            let id = api_id(id)?;
            ok(json!({"revisions": revisions_json(admin, &id)?}))
        }
        (["apis", id, "revisions"], Method::POST) => create_revision(admin, &api_id(id)?, &body()?),
        (["apis", id, "revisions", n], Method::DELETE) => {
            let n: u32 = n.parse().map_err(|_| {
                AdminError::bad_request(
                    "invalid_revision",
                    format!("revision {n:?} is not a number"),
                )
            })?;
            delete_revision(admin, &api_id(id)?, n)
        }
        (["apis", id, "deployments"], Method::POST) => deploy(admin, &api_id(id)?, &body()?),
        (["apis", id, "deployments"], Method::DELETE) => undeploy(admin, &api_id(id)?, &body()?),
        (["apis", id, "asyncapi"], Method::GET) => export(admin, &api_id(id)?, query),
        (["applications"], Method::GET) => list_apps(admin),
        (["applications"], Method::POST) => create_app(admin, &body()?),
        (["applications", name, "subscriptions"], Method::POST) => subscribe(admin, name, &body()?),
        (["applications", name, "tokens"], Method::POST) => token(admin, name, &body()?),
        (["applications", name, "keys"], Method::POST) => api_key(admin, name, &body()?),
        (["environments"], Method::GET) => ok(json!({"environments": admin
            .registry
            .environments()
            .iter()
            .map(|e| json!({"name": e.name, "type": e.kind.as_str(), "vhosts": e.vhosts.iter()
                .map(|v| json!({"host": v.host.as_str(), "http_port": v.http_port,
                                "https_port": v.https_port})).collect::<Vec<_>>()}))
            .collect::<Vec<_>>()})),
        (
            ["apis"]
            | ["apis", _]
            | [
                "apis",
                _,
                "topics" | "plans" | "lifecycle" | "revisions" | "deployments" | "asyncapi",
            ]
            | ["apis", _, "revisions", _]
            | ["applications"]
            | ["applications", _, "subscriptions" | "tokens" | "keys"]
            | ["environments"],
            m,
        ) => Err(method_not_allowed(&m, path)),
        _ => Err(AdminError::not_found(
            "no_such_endpoint",
            format!("no admin endpoint at {path} (see docs/admin-api.md)"),
        )),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, AdminError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| AdminError::bad_request("invalid_json", format!("request body: {e}")))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(AdminError::bad_request(
            "invalid_json",
            "the request body must be a JSON object",
        ))
    }
}

fn str_field<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, AdminError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AdminError::bad_request(
            "invalid_field",
            format!("'{key}' must be a string"),
        )),
    }
}

fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, AdminError> {
    str_field(body, key)?
        .ok_or_else(|| AdminError::bad_request("missing_field", format!("'{key}' is required")))
}

fn str_list(body: &Value, key: &str) -> Result<Vec<String>, AdminError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    AdminError::bad_request(
                        "invalid_field",
                        format!("'{key}' must be a list of strings"),
                    )
                })
            })
            .collect(),
        Some(_) => Err(AdminError::bad_request(
            "invalid_field",
            format!("'{key}' must be a list of strings"),
        )),
    }
}

fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::bad_request("invalid_api", e.to_string())
}

fn api_id(s: &str) -> Result<ApiId, AdminError> {
    s.parse().map_err(|e| {
        AdminError::bad_request("invalid_api_id", format!("{e} (expected NAME:VERSION)"))
    })
}

fn current(admin: &Admin, id: &ApiId) -> Result<Api, AdminError> {
    admin
        .registry
        .api(id)
        .map(|a| (*a).clone())
        .ok_or_else(|| eventgate::RegistryError::ApiNotFound(id.clone()).into())
}

fn topics_json(api: &Api) -> Vec<Value> {
    api.topics
        .iter()
        .map(|t| {
            json!({"topic": t.template.as_str(),
                   "backend": t.backend.as_ref().map(|b| b.as_str()),
                   "scopes": t.scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                   "auth_type": auth_type_name(t.auth_type),
                   "mode": if delivery_name(t.delivery) == "shared" { "fanout" } else { "proxy" }})
        })
        .collect()
}

fn revisions_json(admin: &Admin, id: &ApiId) -> Result<Vec<Value>, AdminError> {
    let deployments = admin.registry.deployments();
    Ok(admin
        .registry
        .revisions(id)?
        .iter()
        .map(|r| {
            let on: Vec<Value> = deployments
                .iter()
                .filter(|d| &d.api == id && d.revision == r.number())
                .map(|d| json!({"environment": d.environment, "vhost": d.vhost.as_str()}))
                .collect();
            json!({"revision": r.number(), "description": r.description(), "deployments": on})
        })
        .collect())
}

fn api_json(admin: &Admin, api: &Api) -> Result<Value, AdminError> {
    let id = api.id();
    let lifecycle = admin.registry.lifecycle(&id)?;
    Ok(json!({
        "id": id.as_str(),
        "name": api.name,
        "context": api.context.as_str(),
        "version": api.version.as_str(),
        "lifecycle": lifecycle.as_str(),
        "endpoint": api.endpoints.production.as_ref().map(Endpoint::as_str),
        "sandbox_endpoint": api.endpoints.sandbox.as_ref().map(Endpoint::as_str),
        "transports": api.transports.as_wso2_list(),
        "topics": topics_json(api),
        "plans": api.plans.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "revisions": revisions_json(admin, &id)?,
    }))
}

fn list_apis(admin: &Admin) -> Res {
    let mut out = Vec::new();
    for id in admin.registry.apis() {
        if let Some(api) = admin.registry.api(&id) {
            out.push(api_json(admin, &api)?);
        }
    }
    ok(json!({"apis": out}))
}

fn show_api(admin: &Admin, id: &ApiId) -> Res {
    ok(api_json(admin, &current(admin, id)?)?)
}

fn put_api(api: &Api, lifecycle: Lifecycle) -> Change {
    Change::PutApi {
        id: api.id().to_string(),
        body: StoredApi::json(api),
        lifecycle: lifecycle.as_str().to_owned(),
    }
}

fn endpoint(s: &str) -> Result<Endpoint, AdminError> {
    Endpoint::new(s).map_err(invalid)
}

fn transports(body: &Value) -> Result<Transports, AdminError> {
    let list = str_list(body, "transports")?;
    if list.is_empty() {
        return Ok(Transports::default());
    }
    let mut t = Transports::default();
    t.http = false;
    t.https = false;
    for x in list {
        match x.to_ascii_lowercase().as_str() {
            "http" => t.http = true,
            "https" => t.https = true,
            other => {
                return Err(AdminError::bad_request(
                    "invalid_transport",
                    format!("transport {other:?}: expected http or https"),
                ));
            }
        }
    }
    Ok(t)
}

fn create_with(admin: &Admin, api: Api) -> Res {
    let _w = admin.write_lock()?;
    let api2 = api.clone();
    admin.commit(move |tx| {
        tx.create_api(api2.clone())?;
        Ok(((), vec![put_api(&api2, Lifecycle::Created)]))
    })?;
    let mut v = api_json(admin, &api)?;
    v["created"] = json!(true);
    created(v)
}

fn create_api(admin: &Admin, body: &Value) -> Res {
    let name = required(body, "name")?;
    let context = ApiContext::new(required(body, "context")?).map_err(invalid)?;
    let version =
        eventgate_asyncapi::ApiVersion::new(required(body, "version")?).map_err(invalid)?;
    let mut api = Api::new(name, context, version);
    let production = endpoint(required(body, "endpoint")?)?;
    api.endpoints.sandbox = match str_field(body, "sandbox_endpoint")? {
        Some(s) => Some(endpoint(s)?),
        None => Some(production.clone()),
    };
    api.endpoints.production = Some(production);
    api.transports = transports(body)?;
    api.description = str_field(body, "description")?.map(str::to_owned);
    create_with(admin, api)
}

fn import(admin: &Admin, body: &Value) -> Res {
    let doc = required(body, "document")?;
    let mut api = Api::from_asyncapi(doc)
        .map_err(|e| AdminError::bad_request("invalid_asyncapi", e.to_string()))?;
    if let Some(c) = str_field(body, "context")? {
        api.context = ApiContext::new(c).map_err(invalid)?;
    }
    if let Some(n) = str_field(body, "name")? {
        n.clone_into(&mut api.name);
    }
    if let Some(v) = str_field(body, "version")? {
        api.version = eventgate_asyncapi::ApiVersion::new(v).map_err(invalid)?;
    }
    if let Some(e) = str_field(body, "endpoint")? {
        let production = endpoint(e)?;
        api.endpoints.sandbox = Some(production.clone());
        api.endpoints.production = Some(production);
    }
    if let Some(e) = str_field(body, "sandbox_endpoint")? {
        api.endpoints.sandbox = Some(endpoint(e)?);
    }
    create_with(admin, api)
}

fn delete_api(admin: &Admin, id: &ApiId) -> Res {
    let _w = admin.write_lock()?;
    admin.commit(|tx| {
        tx.delete_api(id)?;
        Ok(((), vec![Change::DeleteApi { id: id.to_string() }]))
    })?;
    for (name, app) in admin.apps().iter_mut() {
        if app.subscriptions.remove(id.as_str()).is_some() {
            admin.gate.remove_subscription(name, id.as_str());
        }
    }
    ok(json!({"deleted": id.as_str()}))
}

/// Replaces the working copy with `change(api)` and stores it.
fn update(
    admin: &Admin,
    id: &ApiId,
    change: impl FnOnce(&mut Api) -> Result<(), AdminError>,
) -> Result<Api, AdminError> {
    let _w = admin.write_lock()?;
    let mut api = current(admin, id)?;
    change(&mut api)?;
    let a = api.clone();
    admin.commit(move |tx| {
        tx.update_api(a.clone())?;
        let lifecycle = tx.lifecycle(id)?;
        Ok(((), vec![put_api(&a, lifecycle)]))
    })?;
    Ok(api)
}

fn add_topic(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let template = TopicTemplate::new(required(body, "topic")?).map_err(invalid)?;
    let mut topic = eventgate::Topic::new(template);
    topic.backend = str_field(body, "backend")?
        .map(TopicTemplate::new)
        .transpose()
        .map_err(invalid)?;
    topic.scopes = str_list(body, "scopes")?
        .iter()
        .map(|s| s.parse().map_err(invalid))
        .collect::<Result<_, _>>()?;
    if let Some(a) = str_field(body, "auth_type")? {
        topic.auth_type = auth_type_of(a).ok_or_else(|| {
            AdminError::bad_request(
                "invalid_field",
                format!("auth_type {a:?}: expected none or application"),
            )
        })?;
    }
    if let Some(m) = str_field(body, "mode")? {
        let d = match m {
            "fanout" => "shared",
            "proxy" => "per-client",
            other => other,
        };
        topic.delivery = delivery_of(d).ok_or_else(|| {
            AdminError::bad_request(
                "invalid_field",
                format!("mode {m:?}: expected fanout or proxy"),
            )
        })?;
    }
    let api = update(admin, id, |api| {
        // As in WSO2's publisher, a new API's catch-all `/*` stays beside the topics added
        // until it is removed (the tutorial's "optionally delete the existing topic").
        if api
            .topics
            .iter()
            .any(|t| t.template.as_str() == topic.template.as_str())
        {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                "topic_exists",
                "Conflict",
                format!("API {id} already has topic {}", topic.template.as_str()),
            ));
        }
        api.topics.push(topic);
        Ok(())
    })?;
    ok(json!({"topics": topics_json(&api)}))
}

fn remove_topic(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let topic = required(body, "topic")?.to_owned();
    let api = update(admin, id, |api| {
        let before = api.topics.len();
        api.topics.retain(|t| t.template.as_str() != topic);
        if api.topics.len() == before {
            return Err(AdminError::not_found(
                "topic_not_found",
                format!("API {id} has no topic {topic}"),
            ));
        }
        Ok(())
    })?;
    ok(json!({"topics": topics_json(&api)}))
}

fn known_plans() -> Vec<PlanName> {
    eventgate_policy::Plan::wso2_async_defaults()
        .into_iter()
        .map(|p| p.name)
        .collect()
}

fn set_plans(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let names = str_list(body, "plans")?;
    let known = known_plans();
    let mut plans = Vec::new();
    for n in &names {
        let p =
            PlanName::new(n).map_err(|e| AdminError::bad_request("invalid_plan", e.to_string()))?;
        if !known.contains(&p) {
            return Err(AdminError::bad_request(
                "plan_not_found",
                format!(
                    "no business plan {n:?} (known: {})",
                    known
                        .iter()
                        .map(PlanName::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        plans.push(p);
    }
    let api = update(admin, id, |api| {
        api.plans = plans;
        Ok(())
    })?;
    ok(json!({"plans": api.plans.iter().map(|p| p.as_str()).collect::<Vec<_>>()}))
}

fn lifecycle(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let word = required(body, "action")?;
    let action: LifecycleAction = word.parse().map_err(|_| {
        AdminError::bad_request(
            "invalid_action",
            format!(
                "lifecycle action {word:?}: expected one of {}",
                LifecycleAction::ALL.map(|a| a.as_str()).join(", ")
            ),
        )
    })?;
    let _w = admin.write_lock()?;
    let api = current(admin, id)?;
    let from = admin.registry.lifecycle(id)?;
    let to = admin.commit(|tx| {
        let to = tx.change_lifecycle(id, action)?;
        let mut changes = vec![put_api(&api, to)];
        if to == Lifecycle::Retired {
            changes.push(Change::DeleteDeploymentsOf {
                api: id.to_string(),
            });
        }
        Ok((to, changes))
    })?;
    ok(
        json!({"api": id.as_str(), "action": action.as_str(), "from": from.as_str(), "lifecycle": to.as_str()}),
    )
}

fn create_revision(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let description = str_field(body, "description")?.map(str::to_owned);
    let _w = admin.write_lock()?;
    let api = current(admin, id)?;
    let n = admin.commit(|tx| {
        let n = tx.create_revision(id, description.clone())?;
        Ok((
            n,
            vec![Change::PutRevision {
                api: id.to_string(),
                number: n,
                body: StoredApi::json(&api),
                description,
            }],
        ))
    })?;
    created(json!({"api": id.as_str(), "revision": n}))
}

fn delete_revision(admin: &Admin, id: &ApiId, n: u32) -> Res {
    let _w = admin.write_lock()?;
    admin.commit(|tx| {
        tx.delete_revision(id, n)?;
        Ok((
            (),
            vec![Change::DeleteRevision {
                api: id.to_string(),
                number: n,
            }],
        ))
    })?;
    ok(json!({"api": id.as_str(), "deleted": n}))
}

fn hostname(s: &str) -> Result<eventgate::Hostname, AdminError> {
    eventgate::Hostname::new(s).map_err(|e| AdminError::bad_request("invalid_vhost", e.to_string()))
}

fn revision_field(body: &Value) -> Result<Option<u32>, AdminError> {
    match body.get("revision") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                AdminError::bad_request("invalid_revision", "'revision' must be a number")
            }),
    }
}

fn environments(body: &Value) -> Result<Vec<String>, AdminError> {
    let envs = str_list(body, "environments")?;
    if envs.is_empty() {
        return Err(AdminError::bad_request(
            "missing_field",
            "'environments' is required",
        ));
    }
    Ok(envs)
}

/// The vhost `asked` names in environment `env`: `asked` itself when the environment has it,
/// else the environment's one vhost under it (`sandbox.localhost` for `localhost`), so that
/// `--env production,sandbox --vhost localhost` deploys to both default environments (host
/// names are unique across environments). Otherwise `asked`, which the registry refuses.
fn env_vhost(admin: &Admin, env: &str, asked: &eventgate::Hostname) -> eventgate::Hostname {
    let Some(e) = admin.registry.environment(env) else {
        return asked.clone();
    };
    if e.vhosts.iter().any(|v| &v.host == asked) {
        return asked.clone();
    }
    let suffix = format!(".{}", asked.as_str());
    let mut under = e
        .vhosts
        .iter()
        .filter(|v| v.host.as_str().ends_with(&suffix));
    match (under.next(), under.next()) {
        (Some(v), None) => v.host.clone(),
        _ => asked.clone(),
    }
}

fn deploy(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let envs = environments(body)?;
    let vhost = str_field(body, "vhost")?.map(hostname).transpose()?;
    let _w = admin.write_lock()?;
    // Without a vhost, each environment's first one (host names are unique across
    // environments, so production and sandbox cannot share one).
    let mut targets = Vec::new();
    for env in &envs {
        let host = match &vhost {
            Some(h) => env_vhost(admin, env, h),
            None => admin
                .registry
                .environment(env)
                .and_then(|e| e.vhosts.first().map(|v| v.host.clone()))
                .ok_or_else(|| eventgate::RegistryError::EnvironmentNotFound(env.clone()))?,
        };
        targets.push((env.clone(), host));
    }
    let revision = match revision_field(body)? {
        Some(n) => n,
        None => admin
            .registry
            .revisions(id)?
            .last()
            .map(|r| r.number())
            .ok_or_else(|| {
                AdminError::bad_request(
                    "no_revision",
                    format!("API {id} has no revision to deploy; create one first"),
                )
            })?,
    };
    admin.commit(|tx| {
        let mut changes = Vec::new();
        for (env, host) in &targets {
            tx.deploy(id, revision, env, host)?;
            changes.push(Change::PutDeployment(DeploymentRow {
                api: id.to_string(),
                environment: env.clone(),
                vhost: host.to_string(),
                revision,
            }));
        }
        Ok(((), changes))
    })?;
    let on: Vec<Value> = targets
        .iter()
        .map(|(e, h)| json!({"environment": e, "vhost": h.as_str()}))
        .collect();
    ok(json!({"api": id.as_str(), "revision": revision, "environments": envs, "deployments": on}))
}

fn undeploy(admin: &Admin, id: &ApiId, body: &Value) -> Res {
    let envs = environments(body)?;
    let vhost = str_field(body, "vhost")?.map(hostname).transpose()?;
    let revision = revision_field(body)?;
    let _w = admin.write_lock()?;
    let targets: Vec<_> = admin
        .registry
        .deployments()
        .into_iter()
        .filter(|d| {
            &d.api == id
                && envs.contains(&d.environment)
                && vhost
                    .as_ref()
                    .is_none_or(|v| env_vhost(admin, &d.environment, v) == d.vhost)
                && revision.is_none_or(|r| r == d.revision)
        })
        .collect();
    let removed = admin.commit(|tx| {
        if targets.is_empty() {
            let host = vhost.clone().unwrap_or(hostname("localhost")?);
            tx.undeploy(id, &envs[0], &host)?;
        }
        let mut changes = Vec::new();
        for d in &targets {
            tx.undeploy(id, &d.environment, &d.vhost)?;
            changes.push(Change::DeleteDeployment {
                api: id.to_string(),
                environment: d.environment.clone(),
                vhost: d.vhost.to_string(),
            });
        }
        Ok((targets.len(), changes))
    })?;
    ok(json!({"api": id.as_str(), "undeployed": removed}))
}

fn export(admin: &Admin, id: &ApiId, query: &str) -> Res {
    let mut version = "2.0.0".to_owned();
    let mut format = "json".to_owned();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "version" => version = percent_decode(v),
            "format" => format = percent_decode(v),
            _ => {}
        }
    }
    let out = match version.as_str() {
        "2.0.0" | "2" => OutputVersion::V2,
        "3.0.0" | "3" => OutputVersion::V3,
        other => {
            return Err(AdminError::bad_request(
                "invalid_version",
                format!("AsyncAPI version {other:?}: expected 2.0.0 or 3.0.0"),
            ));
        }
    };
    let api = current(admin, id)?;
    let lifecycle = admin.registry.lifecycle(id)?;
    let doc = api.to_asyncapi(Some(lifecycle), ExportOptions::wso2(out));
    match format.as_str() {
        "json" => Ok(Reply::Text(
            "application/json",
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        )),
        "yaml" => Ok(Reply::Text(
            "application/yaml",
            serde_norway::to_string(&doc).map_err(|e| {
                AdminError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal Server Error",
                    e.to_string(),
                )
            })?,
        )),
        other => Err(AdminError::bad_request(
            "invalid_format",
            format!("format {other:?}: expected json or yaml"),
        )),
    }
}

fn app_json(e: &AppEntry) -> Value {
    json!({"name": e.stored.name, "description": e.stored.description,
           "subscriptions": e.subscriptions.iter()
               .map(|(api, plan)| json!({"api": api, "plan": plan})).collect::<Vec<_>>(),
           "api_keys": e.keys.len()})
}

fn list_apps(admin: &Admin) -> Res {
    ok(json!({"applications": admin.apps().values().map(app_json).collect::<Vec<_>>()}))
}

/// The longest application name.
const MAX_APP_NAME: usize = 100;

fn create_app(admin: &Admin, body: &Value) -> Res {
    let name = required(body, "name")?.trim().to_owned();
    if name.is_empty()
        || name.len() > MAX_APP_NAME
        || name.chars().any(|c| c.is_control() || c == '/' || c == ':')
    {
        return Err(AdminError::bad_request(
            "invalid_name",
            format!(
                "application name {name:?}: 1 to {MAX_APP_NAME} characters, no '/', ':' or control characters"
            ),
        ));
    }
    let stored = StoredApplication {
        format: crate::store::codec::FORMAT,
        name: name.clone(),
        description: str_field(body, "description")?.map(str::to_owned),
        owner: "admin".into(),
    };
    let _w = admin.write_lock()?;
    let mut apps = admin.apps();
    if apps.contains_key(&name) {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "application_exists",
            "Conflict",
            format!("application {name:?} already exists"),
        ));
    }
    admin
        .persist(&[Change::PutApplication {
            name: name.clone(),
            body: serde_json::to_string(&stored).unwrap_or_default(),
        }])
        .map_err(|e| store_error(&e))?;
    admin.gate.put_application(application(&stored));
    let entry = AppEntry {
        stored,
        subscriptions: Default::default(),
        keys: Vec::new(),
    };
    let v = app_json(&entry);
    apps.insert(name, entry);
    created(v)
}

fn no_app(name: &str) -> AdminError {
    AdminError::not_found("application_not_found", format!("no application {name:?}"))
}

fn subscribe(admin: &Admin, name: &str, body: &Value) -> Res {
    let id = api_id(required(body, "api")?)?;
    let plan_text = required(body, "plan")?;
    let plan = PlanName::new(plan_text)
        .map_err(|e| AdminError::bad_request("invalid_plan", e.to_string()))?;
    let _w = admin.write_lock()?;
    let mut apps = admin.apps();
    let app = apps.get_mut(name).ok_or_else(|| no_app(name))?;
    let api = current(admin, &id)?;
    let lifecycle = admin.registry.lifecycle(&id)?;
    if !lifecycle.accepts_subscriptions() {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "api_not_published",
            "Conflict",
            format!("API {id} is {lifecycle}; applications subscribe to PUBLISHED APIs"),
        ));
    }
    if !api.plans.contains(&plan) {
        return Err(AdminError::bad_request(
            "plan_not_allowed",
            format!(
                "API {id} does not offer plan {plan_text} (it offers: {})",
                api.plans
                    .iter()
                    .map(PlanName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let row = SubscriptionRow {
        application: name.to_owned(),
        api: id.to_string(),
        plan: plan.as_str().to_owned(),
        state: "UNBLOCKED".into(),
    };
    admin
        .persist(&[Change::PutSubscription(row)])
        .map_err(|e| store_error(&e))?;
    admin
        .gate
        .put_subscription(Subscription::new(name, id.as_str(), plan.clone()));
    app.subscriptions
        .insert(id.to_string(), plan.as_str().to_owned());
    created(
        json!({"application": name, "api": id.as_str(), "plan": plan.as_str(), "state": "UNBLOCKED"}),
    )
}

fn key_type(body: &Value) -> Result<KeyType, AdminError> {
    match str_field(body, "type")?
        .unwrap_or("production")
        .to_ascii_lowercase()
        .as_str()
    {
        "production" => Ok(KeyType::Production),
        "sandbox" => Ok(KeyType::Sandbox),
        other => Err(AdminError::bad_request(
            "invalid_key_type",
            format!("key type {other:?}: expected production or sandbox"),
        )),
    }
}

fn token(admin: &Admin, name: &str, body: &Value) -> Res {
    let kt = key_type(body)?;
    let scopes = str_list(body, "scopes")?;
    let ttl = match body.get("ttl_secs") {
        None | Some(Value::Null) => Duration::from_secs(3600),
        Some(v) => v
            .as_u64()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                AdminError::bad_request("invalid_ttl", "'ttl_secs' must be a positive number")
            })?,
    };
    if ttl > MAX_TOKEN_TTL {
        return Err(AdminError::bad_request(
            "invalid_ttl",
            format!(
                "ttl {}s is longer than the most allowed, {}s",
                ttl.as_secs(),
                MAX_TOKEN_TTL.as_secs()
            ),
        ));
    }
    if !admin.apps().contains_key(name) {
        return Err(no_app(name));
    }
    let request = TokenRequest::new(client_id(name, kt))
        .subject(name)
        .scopes(scopes)
        .key_type(kt)
        .ttl(ttl);
    let token = admin
        .issuer
        .mint(&request, SystemTime::now())
        .map_err(|e| {
            AdminError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
                e.to_string(),
            )
        })?;
    created(
        json!({"token": token, "token_type": "Bearer", "expires_in": ttl.as_secs(),
                   "key_type": kt.as_str()}),
    )
}

fn api_key(admin: &Admin, name: &str, body: &Value) -> Res {
    let kt = key_type(body)?;
    let _w = admin.write_lock()?;
    let mut apps = admin.apps();
    let app = apps.get_mut(name).ok_or_else(|| no_app(name))?;
    // Issued in a scratch store: the live gate gets the record only once it is persisted.
    let scratch = ApiKeyStore::new();
    let issued = scratch
        .issue(ApplicationId::new(name), kt, Vec::new(), None)
        .map_err(|e| {
            AdminError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
                e.to_string(),
            )
        })?;
    let record = scratch.record(&issued.id).ok_or_else(|| {
        AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal Server Error",
            "issued key not found",
        )
    })?;
    admin
        .persist(&[Change::PutApiKey(ApiKeyRow {
            id: record.id.clone(),
            application: name.to_owned(),
            secret_sha256: record.secret_sha256,
            key_type: kt.as_str().to_owned(),
            scopes: Vec::new(),
            expires_at: None,
            revoked: false,
        })])
        .map_err(|e| store_error(&e))?;
    admin.gate.api_keys().insert(record);
    app.keys.push(issued.id.clone());
    created(json!({"key": issued.expose_secret(), "id": issued.id, "key_type": kt.as_str()}))
}
