//! The SSE API view: WSO2-shaped documents import, WSO2-mode export has WSO2's exact shape, and
//! for generated definitions eventgate's export then import gives the same definition (2.6 and
//! 3.0 output).

use std::collections::BTreeMap;

use eventgate_asyncapi::{
    ApiDefinition, ApiError, ApiVersion, AuthType, Context, DeliveryMode, Document, EndpointUrl,
    ExportOptions, Lifecycle, OAuth2, OutputVersion, PlanName, Scope, ScopeInfo, Security, Topic,
    TopicParameter, TopicSet, TopicTemplate, Transport,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const WSO2_OBSERVER: &str = r#"{"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
 "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"},
            "sandbox":{"url":"http://localhost:8080","protocol":"sse"}},
 "channels":{"/*":{"subscribe":{}}},
 "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
   "authorizationUrl":"http://localhost:9999","scopes":{},"x-scopes-bindings":{}}}}}}}"#;

fn observer() -> ApiDefinition {
    let mut api = ApiDefinition::new(
        "Observer",
        Context::new("/observer").unwrap(),
        ApiVersion::new("1.0.0").unwrap(),
    );
    let ep = EndpointUrl::new("http://localhost:8080").unwrap();
    api.endpoints.production = Some(ep.clone());
    api.endpoints.sandbox = Some(ep);
    api
}

/// Whether a key (or a string) anywhere in the value starts with `x-eventgate`.
fn has_eventgate_key(v: &Value) -> bool {
    v.to_string().contains("\"x-eventgate")
}

#[test]
fn wso2_document_imports_as_new_api_with_catch_all_topic() {
    let api = ApiDefinition::from_asyncapi(&Document::parse(WSO2_OBSERVER).unwrap()).unwrap();
    assert_eq!(api, observer());
    assert_eq!(api.topics.len(), 1);
    assert_eq!(api.topics[0].template.as_str(), "/*");
}

#[test]
fn wso2_mode_v2_export_of_new_api_is_exactly_wso2s_document() {
    let expected: Value = serde_json::from_str(WSO2_OBSERVER).unwrap();
    assert_eq!(
        observer().to_asyncapi(ExportOptions::wso2(OutputVersion::V2)),
        expected
    );
}

#[test]
fn wso2_mode_v3_export_matches_wso2s_3_0_form_and_reimports() {
    let v = observer().to_asyncapi(ExportOptions::wso2(OutputVersion::V3));
    assert_eq!(v["asyncapi"], "3.0.0");
    for server in ["production", "sandbox"] {
        assert_eq!(
            v["servers"][server],
            json!({"host": "localhost:8080", "pathname": "/", "protocol": "sse"})
        );
    }
    assert_eq!(v["channels"], json!({"*": {"address": "/*"}}));
    assert_eq!(
        v["operations"],
        json!({"receive_/*": {"action": "receive", "channel": {"$ref": "#/channels/*"}}})
    );
    assert!(!has_eventgate_key(&v));
    let doc = Document::from_value(v);
    assert!(doc.validate().is_valid());
    let back = ApiDefinition::from_asyncapi(&doc).unwrap();
    assert_eq!(back, observer());
}

#[test]
fn publish_and_send_operations_are_rejected_on_import() {
    let v2 = json!({"asyncapi": "2.0.0", "info": {"title": "T", "version": "1"},
        "channels": {"/in": {"publish": {}}}});
    let mut v3 = observer().to_asyncapi(ExportOptions::wso2(OutputVersion::V3));
    v3["operations"]["receive_/*"]["action"] = json!("send");
    for (doc, channel) in [(v2, "/in"), (v3, "/*")] {
        let err = ApiDefinition::from_asyncapi(&Document::from_value(doc)).unwrap_err();
        let channel = channel.to_owned();
        assert_eq!(err, ApiError::PublishOperation { channel });
    }
}

#[test]
fn context_from_name_is_lowercase_dashed() {
    assert_eq!(
        Context::from_name("Stock Quotes API!").as_str(),
        "/stock-quotes-api"
    );
    assert_eq!(Context::from_name("***").as_str(), "/api");
}

#[test]
fn invalid_document_import_lists_problems() {
    let doc =
        Document::parse(r#"{"asyncapi":"2.6.0","info":{"title":"T"},"channels":{}}"#).unwrap();
    match ApiDefinition::from_asyncapi(&doc) {
        Err(ApiError::Invalid(p)) => assert_eq!(p[0].pointer, "/info"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wso2_extensions_map_to_topic_scopes_auth_type_and_role_bindings() {
    let doc = Document::parse(
        r#"{"asyncapi":"2.0.0","info":{"title":"Stocks","version":"2.1","description":"quotes"},
        "channels":{
          "/quotes/{sym}":{"parameters":{"sym":{"description":"ticker","schema":{"type":"string"}}},
             "x-auth-type":"Application & Application User",
             "subscribe":{"x-scopes":["read"],"x-uri-mapping":"/feed/{sym}"}},
          "/*":{"parameters":{},"subscribe":{}}},
        "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
          "authorizationUrl":"https://idp/authorize","scopes":{"read":"Read quotes"},
          "x-scopes-bindings":{"read":"admin,trader"}}}}}}}"#,
    )
    .unwrap();
    let api = ApiDefinition::from_asyncapi(&doc).unwrap();
    assert_eq!(api.context.as_str(), "/stocks");
    assert_eq!(api.description.as_deref(), Some("quotes"));
    let t: Vec<&str> = api.topics.iter().map(|t| t.template.as_str()).collect();
    assert_eq!(t, vec!["/quotes/{sym}", "/*"], "precedence order");
    let q = &api.topics[0];
    assert_eq!(q.auth_type, AuthType::ApplicationAndUser);
    assert_eq!(q.scopes, vec![Scope::new("read").unwrap()]);
    assert_eq!(q.backend.as_ref().unwrap().as_str(), "/feed/{sym}");
    assert_eq!(q.parameters["sym"].description.as_deref(), Some("ticker"));
    let o = api.security.oauth2.as_ref().unwrap();
    assert_eq!(o.authorization_url, "https://idp/authorize");
    assert_eq!(
        o.scopes[&Scope::new("read").unwrap()].roles,
        vec!["admin".to_owned(), "trader".to_owned()]
    );
    // WSO2 export writes the same extensions back.
    let out = api.to_asyncapi(ExportOptions::wso2(OutputVersion::V2));
    assert_eq!(
        out["channels"]["/quotes/{sym}"]["subscribe"]["x-scopes"],
        json!(["read"])
    );
    assert_eq!(
        out["components"]["securitySchemes"]["oauth2"]["flows"]["implicit"]["x-scopes-bindings"],
        json!({"read": "admin,trader"})
    );
}

#[test]
fn topics_route_by_precedence_and_map_to_backend_path() {
    let mut api = observer();
    let mut quote = Topic::new(TopicTemplate::new("/quotes/{sym}").unwrap());
    quote.backend = Some(TopicTemplate::new("/feed/{sym}/live").unwrap());
    api.topics.push(quote);
    api.sort_topics();
    let set = TopicSet::new(api.topics.iter().map(|t| t.template.clone()));
    let (i, caps) = set.find("/quotes/IBM").unwrap();
    let backend = api.topics[i]
        .backend
        .as_ref()
        .unwrap()
        .expand(&caps)
        .unwrap();
    assert_eq!(backend, "/feed/IBM/live");
    let (j, caps) = set.find("/memory").unwrap();
    assert_eq!(api.topics[j].template.as_str(), "/*");
    // No mapping: WSO2 appends the topic path to the endpoint.
    assert_eq!(api.topics[j].template.expand(&caps).unwrap(), "/memory");
}

// ------------------------------------------------------------------ property: export -> import

fn template() -> impl Strategy<Value = (String, Vec<String>)> {
    let seg = prop_oneof![
        "[a-z]{1,5}".prop_map(|s| (s, false)),
        Just((String::new(), true)),
        Just((".json".to_owned(), true)),
    ];
    (prop::collection::vec(seg, 0..4), any::<bool>()).prop_map(|(segs, star)| {
        let mut t = String::new();
        let mut vars = Vec::new();
        for (lit, var) in segs {
            t.push('/');
            if var {
                let name = format!("v{}", vars.len());
                t.push_str(&format!("{{{name}}}{lit}"));
                vars.push(name);
            } else {
                t.push_str(&lit);
            }
        }
        if star || t.is_empty() {
            t.push_str("/*");
        }
        (t, vars)
    })
}

fn topic(scopes: Vec<Scope>) -> impl Strategy<Value = Topic> {
    (
        template(),
        proptest::option::of("[a-zA-Z ]{0,12}"),
        proptest::option::of(prop_oneof![
            Just(json!({"type": "object"})),
            (1u32..100).prop_map(|n| json!({"type": "string", "maxLength": n})),
        ]),
        prop::sample::subsequence(scopes.clone(), 0..=scopes.len()),
        prop::sample::select(vec![
            AuthType::Any,
            AuthType::None,
            AuthType::Application,
            AuthType::ApplicationUser,
            AuthType::ApplicationAndUser,
        ]),
        any::<bool>(),
        proptest::option::of("[a-z ]{0,8}"),
        any::<bool>(),
    )
        .prop_map(
            |((t, vars), description, schema, scopes, auth, map, pdesc, pschema)| {
                let mut topic = Topic::new(TopicTemplate::new(&t).unwrap());
                topic.description = description;
                topic.message_schema = schema;
                topic.scopes = scopes;
                topic.auth_type = auth;
                if map {
                    let mut b = String::from("/backend");
                    for v in &vars {
                        b.push_str(&format!("/{{{v}}}"));
                    }
                    topic.backend = Some(TopicTemplate::new(&b).unwrap());
                }
                for v in vars {
                    topic.parameters.insert(
                        v,
                        TopicParameter {
                            description: pdesc.clone(),
                            schema: pschema.then(|| json!({"type": "string"})),
                        },
                    );
                }
                topic
            },
        )
}

fn api_definition() -> impl Strategy<Value = ApiDefinition> {
    let scopes = prop::collection::btree_map(
        "[a-z]{1,6}",
        ("[a-z ]{0,10}", prop::collection::vec("[a-z]{1,5}", 0..3)),
        0..3,
    );
    (
        (
            "[A-Za-z][A-Za-z0-9 ]{0,12}",
            "/[a-z]{1,8}(/[a-z0-9]{1,5})?",
            "[0-9]\\.[0-9]\\.[0-9]",
            proptest::option::of("[a-zA-Z ]{0,20}"),
            proptest::option::of("https?://[a-z]{1,8}(:[0-9]{2,4})?(/[a-z]{1,5})?/?"),
            proptest::option::of("https?://[a-z]{1,8}(:[0-9]{2,4})?"),
        ),
        (
            prop::sample::subsequence(vec![Transport::Http, Transport::Https], 0..=2),
            proptest::option::of(scopes),
            proptest::option::of("X-[A-Za-z]{1,6}"),
            any::<bool>(),
            prop::collection::btree_set("[A-Z][a-z]{1,8}", 0..3),
            proptest::option::of(prop::sample::select(vec![
                Lifecycle::Created,
                Lifecycle::Prototyped,
                Lifecycle::Published,
                Lifecycle::Blocked,
                Lifecycle::Deprecated,
                Lifecycle::Retired,
            ])),
            prop::sample::select(vec![DeliveryMode::Shared, DeliveryMode::PerClient]),
        ),
    )
        .prop_flat_map(
            |(
                (name, ctx, ver, desc, prod, sand),
                (transports, oauth, key, jwt, plans, lifecycle, delivery),
            )| {
                let oauth2 = oauth.map(|m: BTreeMap<String, (String, Vec<String>)>| {
                    let scopes = m.into_iter().map(|(k, (description, roles))| {
                        (Scope::new(&k).unwrap(), ScopeInfo { description, roles })
                    });
                    let authorization_url = "https://idp.example/authorize".to_owned();
                    let scopes = scopes.collect();
                    OAuth2 {
                        authorization_url,
                        scopes,
                    }
                });
                let scope_names = oauth2.iter().flat_map(|o| o.scopes.keys().cloned());
                let scope_names: Vec<Scope> = scope_names.collect();
                let security = Security {
                    oauth2,
                    api_key_header: key,
                    bearer_jwt: jwt,
                };
                let mut api = ApiDefinition::new(
                    name,
                    Context::new(&ctx).unwrap(),
                    ApiVersion::new(&ver).unwrap(),
                );
                api.description = desc;
                api.endpoints.production = prod.map(|u| EndpointUrl::new(&u).unwrap());
                api.endpoints.sandbox = sand.map(|u| EndpointUrl::new(&u).unwrap());
                api.transports = transports;
                api.security = security;
                api.plans = plans.iter().map(|p| PlanName::new(p).unwrap()).collect();
                api.lifecycle = lifecycle;
                api.delivery = delivery;
                (Just(api), prop::collection::vec(topic(scope_names), 1..5))
            },
        )
        .prop_map(|(mut api, topics)| {
            api.topics.clear();
            for t in topics {
                if !api.topics.iter().any(|x| x.template == t.template) {
                    api.topics.push(t);
                }
            }
            api.sort_topics();
            api
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// For each output version: the export names it, survives JSON and YAML text (also through
    /// the typed model) and imports back to the same definition.
    #[test]
    fn eventgate_export_survives_text_and_imports_as_identity(api in api_definition()) {
        for (version, name) in [(OutputVersion::V2, "2.6.0"), (OutputVersion::V3, "3.0.0")] {
            let v = api.to_asyncapi(ExportOptions::eventgate(version));
            prop_assert_eq!(&v["asyncapi"], name);
            let json_text = serde_json::to_string_pretty(&v).unwrap();
            let yaml_text = serde_norway::to_string(&v).unwrap();
            for text in [json_text, yaml_text] {
                let doc = Document::parse(&text).unwrap();
                prop_assert_eq!(doc.value(), &v);
                prop_assert_eq!(doc.to_model().unwrap().to_value(), v.clone());
            }
            let doc = Document::from_value(v);
            let back = ApiDefinition::from_asyncapi(&doc);
            prop_assert_eq!(back.as_ref(), Ok(&api), "document: {}", doc.value());
        }
    }
}
