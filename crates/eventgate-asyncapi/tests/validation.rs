//! Validation of documents written for these tests: every problem is reported at once, each with
//! the expected JSON pointer.

use ProblemKind::{
    Duplicate, InvalidValue, NotAsyncApi, Parameter, Reference, Required, Schema, Security,
    ServerVariable, UnexpectedProperty, UnsupportedVersion,
};
use eventgate_asyncapi::{Document, ProblemKind};

/// The problems of a document, each checked to point at a value of it.
fn problems(text: &str) -> Vec<(String, ProblemKind)> {
    let doc = Document::parse(text).expect("well-formed");
    let problems = doc.validate().problems;
    for p in &problems {
        let at = doc.value().pointer(&p.pointer);
        assert!(at.is_some(), "{} names no value: {}", p.pointer, p.message);
    }
    problems.into_iter().map(|p| (p.pointer, p.kind)).collect()
}

#[test]
fn valid_sse_document_has_no_problems_and_counts_objects() {
    let doc = Document::parse(
        r##"
asyncapi: 2.6.0
info: {title: Quotes, version: 1.0.0, x-team: markets}
servers:
  production: {url: "https://quotes.example/{region}", protocol: sse, variables: {region: {default: eu}}}
channels:
  /stocks/{symbol}:
    parameters: {symbol: {schema: {type: string}}}
    subscribe:
      operationId: quotes
      message:
        oneOf:
          - $ref: "#/components/messages/Quote"
          - {name: heartbeat, payload: {type: "null"}}
  /news:
    subscribe:
      operationId: news
      message: {$ref: "#/components/messages/Quote"}
components:
  messages:
    Quote: {payload: {type: object, properties: {price: {type: number}}}}
"##,
    )
    .unwrap();
    let r = doc.validate();
    assert!(r.is_valid(), "{:?}", r.problems);
    assert_eq!(r.counts.channels, 2);
    assert_eq!(r.counts.operations, 2);
    // Quote is referenced twice but counts once; the inline heartbeat counts too.
    assert_eq!(r.counts.messages, 2);
    assert_eq!(r.counts.servers, 1);
}

/// Problems a document must give: pointer and kind, in report order.
type Expected = &'static [(&'static str, ProblemKind)];

/// Documents (with a description) and their problems. Every verdict is the one
/// `@asyncapi/parser` 3.6.3 gives the document (default `Parser()`, no diagnostic of severity
/// error means valid); the pointers are where it reports them, unless a case says otherwise.
const CASES: &[(&str, &str, Expected)] = &[
    (
        "missing asyncapi field: not an AsyncAPI document",
        "openapi: 3.0.0\ninfo: {title: t, version: v}\n",
        &[("", NotAsyncApi)],
    ),
    (
        "unknown version, reported at the asyncapi field",
        "asyncapi: 1.2.0\ninfo: {title: t, version: v}\nchannels: {}\n",
        &[("/asyncapi", UnsupportedVersion)],
    ),
    (
        "external and malformed refs",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  a:
    subscribe:
      message: {$ref: "other.yaml#/components/messages/M"}
  b:
    subscribe:
      message: {$ref: "# /components/messages/M"}
"##,
        &[
            ("/channels/a/subscribe/message/$ref", Reference),
            ("/channels/b/subscribe/message/$ref", Reference),
        ],
    ),
    (
        "the same dangling reference, met twice, is reported at both places",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  a:
    subscribe:
      message: {$ref: "#/components/messages/Gone"}
  b:
    subscribe:
      message: {$ref: "#/components/messages/Gone"}
"##,
        &[
            ("/channels/a/subscribe/message/$ref", Reference),
            ("/channels/b/subscribe/message/$ref", Reference),
        ],
    ),
    (
        "ref cycle",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels: {}
components:
  messages:
    A: {$ref: "#/components/messages/B"}
    B: {$ref: "#/components/messages/A"}
"##,
        &[
            ("/components/messages/A/$ref", Reference),
            ("/components/messages/B/$ref", Reference),
        ],
    ),
    (
        "server protocol and undefined OAuth scope",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
servers:
  p: {url: "http://h", protocol: "", security: [{oauth2: [read, write]}]}
channels: {}
components:
  securitySchemes:
    oauth2: {type: oauth2, flows: {implicit: {authorizationUrl: "http://a", scopes: {read: r}}}}
"##,
        &[
            ("/servers/p/protocol", InvalidValue),
            ("/servers/p/security/0/oauth2/1", Security),
        ],
    ),
    (
        "implicit flow without authorizationUrl, API key in body",
        r##"
asyncapi: 2.0.0
info: {title: t, version: v}
channels: {"/*": {subscribe: {}}}
components:
  securitySchemes:
    oauth2: {type: oauth2, flows: {implicit: {scopes: {}}}}
    key: {type: httpApiKey, name: X-Key, in: body}
    jwt: {type: http, scheme: bearer, bearerFormat: JWT}
"##,
        &[
            ("/components/securitySchemes/key/in", InvalidValue),
            (
                "/components/securitySchemes/oauth2/flows/implicit",
                Required,
            ),
        ],
    ),
    (
        "unknown schema type, bad required, example without payload",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  c:
    subscribe:
      message:
        payload: {type: object, properties: {n: {type: integer32}}, required: name}
        examples: [{name: no-payload}]
"##,
        &[
            ("/channels/c/subscribe/message/examples/0", Required),
            (
                "/channels/c/subscribe/message/payload/properties/n/type",
                Schema,
            ),
            ("/channels/c/subscribe/message/payload/required", Schema),
        ],
    ),
    (
        "3.0 operation rules",
        r##"
asyncapi: 3.0.0
info: {title: t, version: v}
channels:
  quotes:
    address: /stocks/{symbol}
    messages: {q: {payload: {type: object}}}
  other:
    address: /other
    messages: {o: {payload: {type: string}}}
operations:
  a: {action: listen, channel: {$ref: "#/channels/quotes"}}
  b: {action: receive, channel: {$ref: "#/channels/quotes"}, messages: [{$ref: "#/channels/other/messages/o"}]}
  c: {action: receive}
"##,
        &[
            ("/operations/a/action", InvalidValue),
            ("/operations/b/messages/0", Reference),
            ("/operations/c", Required),
        ],
    ),
    (
        "every problem at once",
        r##"{
  "asyncapi": "2.6.0",
  "info": {"title": "Broken", "colour": "red"},
  "servers": {"prod": {"url": "http://h", "security": [{"nope": []}]}},
  "channels": {
    "/memory/{kind}": {
      "subscribe": {"operationId": "dup", "message": {"$ref": "#/components/messages/Missing"}}
    },
    "/other": {"publish": {"operationId": "dup", "tags": [{"name": "a"}, {"name": "a"}]}}
  }
}"##,
        &[
            (
                "/channels/~1memory~1{kind}/subscribe/message/$ref",
                Reference,
            ),
            ("/channels/~1other/publish/operationId", Duplicate),
            ("/channels/~1other/publish/tags/1/name", Duplicate),
            ("/info", Required),
            ("/info/colour", UnexpectedProperty),
            ("/servers/prod", Required),
            ("/servers/prod/security/0/nope", Security),
        ],
    ),
    (
        "pointers escape keys and count indexes at every depth",
        "asyncapi: 2.6.0\ninfo: {title: t, version: v}\nchannels:\n  a~b/c:\n    subscribe:\n      message:\n        oneOf:\n          - {messageId: m, payload: {items: [{type: string}, {type: nope}]}}\n          - {messageId: m}\n",
        &[
            (
                "/channels/a~0b~1c/subscribe/message/oneOf/0/payload/items/1/type",
                Schema,
            ),
            (
                "/channels/a~0b~1c/subscribe/message/oneOf/1/messageId",
                Duplicate,
            ),
        ],
    ),
    (
        "2.x parameters are checked only against a declared map, redundant ones only when the name has a placeholder",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  /a/{x}: {}
  /b: {parameters: {y: {}}}
  /c/{x}: {parameters: {x: {}, y: {}}}
  /d/{x}/{z}: {parameters: {}}
components:
  channels:
    e/{q}: {parameters: {r: {}}}
"##,
        &[
            ("/channels/~1c~1{x}/parameters/y", Parameter),
            ("/channels/~1d~1{x}~1{z}/parameters", Parameter),
        ],
    ),
    (
        "3.0 parameters the address does not use are redundant, with a null or absent address too",
        r##"
asyncapi: 3.0.0
info: {title: t, version: v}
channels:
  a: {address: "/a/{x}"}
  b: {address: "/b", parameters: {y: {}}}
  c: {address: null, parameters: {y: {}}}
  d: {address: "/d/{}", parameters: {}}
"##,
        &[
            ("/channels/b/parameters/y", Parameter),
            ("/channels/c/parameters/y", Parameter),
        ],
    ),
    (
        "server variables: 2.x checked only against a declared map, 3.0 not at all",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
servers:
  a: {url: "h/{zz}", protocol: ws}
  b: {url: "h", protocol: ws, variables: {yy: {}}}
  c: {url: "h/{zz}", protocol: ws, variables: {yy: {}}}
channels: {}
"##,
        &[
            ("/servers/c/variables", ServerVariable),
            ("/servers/c/variables/yy", ServerVariable),
        ],
    ),
    (
        "3.0 server variables are not checked against host and pathname",
        "asyncapi: 3.0.0\ninfo: {title: t, version: v}\nservers:\n  p: {host: \"h{zz}\", protocol: ws, variables: {}}\n",
        &[],
    ),
    (
        "ids are unique on the resolved document: a component met twice is a duplicate, a trait's id stands for its object's",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  a: {subscribe: {message: {$ref: "#/components/messages/M"}}}
  b: {$ref: "#/components/channels/C"}
  c: {$ref: "#/components/channels/C"}
  d:
    subscribe:
      operationId: p
      traits: [{operationId: q}]
      message: {oneOf: [{messageId: n}, {messageId: x, traits: [{messageId: n}, {summary: s}]}]}
    publish: {operationId: q}
components:
  channels:
    C: {publish: {operationId: o, message: {$ref: "#/components/messages/M"}}}
  messages:
    M: {messageId: m, payload: {type: string}}
"##,
        &[
            ("/channels/d/publish/operationId", Duplicate),
            (
                "/channels/d/subscribe/message/oneOf/1/traits/0/messageId",
                Duplicate,
            ),
            ("/components/channels/C/publish/operationId", Duplicate),
            ("/components/messages/M/messageId", Duplicate),
        ],
    ),
    (
        "schema keywords have the draft-07 meta-schema's shapes (AsyncAPI's discriminator a string, not in an OpenAPI schema; the parser stops at the first of some of these, each was checked alone)",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  c:
    subscribe:
      message:
        payload:
          properties:
            a: {type: [string, string], deprecated: "yes"}
            b: {enum: [1, 1], minLength: -1, multipleOf: 0, maximum: "1"}
            c: {$ref: 1, readOnly: 1, items: [], examples: {}}
            d: {discriminator: {propertyName: x}, dependencies: {x: [y], z: {type: nope}}}
            e: {$defs: 1, required: [a, a], allOf: [], type: [], minItems: 1.0, externalDocs: {description: d}}
  o:
    subscribe:
      message:
        schemaFormat: application/vnd.oai.openapi;version=3.0.0
        payload: {discriminator: {propertyName: x}}
"##,
        &[
            (
                "/channels/c/subscribe/message/payload/properties/a/deprecated",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/a/type",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/b/enum",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/b/maximum",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/b/minLength",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/b/multipleOf",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/c/$ref",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/c/examples",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/c/items",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/c/readOnly",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/d/dependencies/z/type",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/d/discriminator",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/e/allOf",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/e/externalDocs",
                Required,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/e/required",
                Schema,
            ),
            (
                "/channels/c/subscribe/message/payload/properties/e/type",
                Schema,
            ),
        ],
    ),
    (
        "2.x fields are only allowed from the minor version that added them (2.2.0 here)",
        r##"
asyncapi: 2.2.0
info: {title: t, version: v}
servers:
  s: {url: "h", protocol: ws, tags: [{name: a}]}
channels:
  c:
    servers: [s]
    subscribe:
      security: []
      message: {messageId: m}
components:
  channels: {}
  servers: {}
  serverVariables: {}
"##,
        &[
            (
                "/channels/c/subscribe/message/messageId",
                UnexpectedProperty,
            ),
            ("/channels/c/subscribe/security", UnexpectedProperty),
            ("/components/channels", UnexpectedProperty),
            ("/components/serverVariables", UnexpectedProperty),
            ("/components/servers", UnexpectedProperty),
            ("/servers/s/tags", UnexpectedProperty),
        ],
    ),
    (
        "security schemes: SASL types from 2.1, bearerFormat only for the bearer scheme, oauth2 open to other keys, openIdConnect scopes only in 3.0",
        r##"
asyncapi: 2.0.0
info: {title: t, version: v}
channels: {}
components:
  securitySchemes:
    sasl: {type: gssapi}
    basic: {type: http, scheme: basic, bearerFormat: x}
    bearer: {type: http, scheme: bearer, bearerFormat: JWT}
    open: {type: oauth2, flows: {}, foo: 1, scopes: a}
    oidc: {type: openIdConnect, openIdConnectUrl: "https://a", scopes: [a]}
"##,
        &[
            (
                "/components/securitySchemes/basic/bearerFormat",
                UnexpectedProperty,
            ),
            (
                "/components/securitySchemes/oidc/scopes",
                UnexpectedProperty,
            ),
            ("/components/securitySchemes/sasl/type", InvalidValue),
        ],
    ),
    (
        "3.0 security scheme scopes are arrays",
        r##"
asyncapi: 3.0.0
info: {title: t, version: v}
components:
  securitySchemes:
    sasl: {type: gssapi}
    open: {type: oauth2, flows: {}, foo: 1, scopes: a}
    oidc: {type: openIdConnect, openIdConnectUrl: "https://a", scopes: [a]}
"##,
        &[("/components/securitySchemes/open/scopes", InvalidValue)],
    ),
    (
        "3.0 operations: inline channels and messages are checked as such, message references must start with the channel's, root references stay under the root",
        r##"
asyncapi: 3.0.0
info: {title: t, version: v}
servers:
  s: {host: h, protocol: ws}
channels:
  a:
    address: /a
    servers: [{$ref: "#/servers/s"}, {$ref: "#/components/servers/t"}, {host: other, protocol: ws}]
    messages: {m: {$ref: "#/components/messages/M"}}
operations:
  inline: {action: send, channel: {address: /x, messages: {}}, messages: [{payload: {type: string}}, {$ref: "#/channels/a/messages/m"}]}
  viaComponent: {action: send, channel: {$ref: "#/channels/a"}, messages: [{$ref: "#/components/messages/M"}]}
  outside: {action: send, channel: {$ref: "#/components/channels/c"}}
components:
  servers:
    t: {host: t, protocol: ws}
  channels:
    c: {address: /c, servers: [{$ref: "#/components/servers/t"}]}
  messages:
    M: {payload: {type: string}}
  operations:
    o: {action: send, channel: {$ref: "#/components/channels/c"}}
"##,
        &[
            ("/channels/a/servers/1/$ref", Reference),
            ("/operations/inline/messages/1", Reference),
            ("/operations/outside/channel/$ref", Reference),
            ("/operations/viaComponent/messages/0", Reference),
        ],
    ),
    (
        "formats: URIs, e-mail addresses and 2.x channel names as RFC 6570 templates; tag externalDocs checked",
        r##"
asyncapi: 2.6.0
id: "urn:example:api"
info:
  title: t
  version: v
  termsOfService: terms
  contact: {url: "https://a", email: "a@b"}
  license: {name: n, url: "a:"}
tags: [{name: a, externalDocs: {url: "https://x/#a#b"}}, {name: b, externalDocs: {description: d}}]
channels:
  /a/{b-c}: {}
  /a/{+b}/{c:3}: {}
"##,
        &[
            ("/channels", InvalidValue),
            ("/info/contact/email", InvalidValue),
            ("/info/license/url", InvalidValue),
            ("/info/termsOfService", InvalidValue),
            ("/tags/0/externalDocs/url", InvalidValue),
            ("/tags/1/externalDocs", Required),
        ],
    ),
    (
        "a reference's target is checked as the type of the place that references it, at the target",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  a: {$ref: "#/components/messages/M"}
  b:
    subscribe:
      message: {$ref: "#/components/schemas/S"}
  c:
    publish:
      message: {oneOf: [{$ref: "#/components/messages/M"}, {$ref: "#/components/messages"}]}
components:
  schemas:
    S: {type: object}
  messages:
    M: {payload: {type: string}}
"##,
        &[
            ("/components/messages/M", UnexpectedProperty),
            ("/components/messages/M/payload", UnexpectedProperty),
            ("/components/schemas/S/type", UnexpectedProperty),
        ],
    ),
    (
        "3.0 replies are checked, channel servers are unique once resolved, a parameter that is not an object passes",
        r##"
asyncapi: 3.0.0
info: {title: t, version: v}
servers:
  s: {host: h, protocol: ws}
channels:
  a:
    address: /a/{p}
    parameters: {p: some-string}
    servers: [{$ref: "#/servers/s"}, {$ref: "#/servers/s"}]
    messages: {m: {payload: {type: string}}}
operations:
  o:
    action: send
    channel: {$ref: "#/channels/a"}
    reply: {address: {location: "$message.header#/r"}, messages: [{$ref: "#/channels/a/messages/m"}]}
  p:
    action: send
    channel: {$ref: "#/channels/a"}
    reply: {address: {location: "header"}, foo: 1}
  q: {action: send, channel: {$ref: "#/channels/a"}, reply: 1}
"##,
        &[
            ("/channels/a/servers", InvalidValue),
            ("/operations/p/reply/address/location", InvalidValue),
            ("/operations/p/reply/foo", UnexpectedProperty),
            ("/operations/q/reply", InvalidValue),
        ],
    ),
    (
        "2.x channel servers and requirement scopes are unique; parameters that are not objects pass",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
servers:
  s: {url: h, protocol: ws, security: [{k: [a, a]}]}
channels:
  /a/{p}:
    parameters: {p: 1, x-q: s}
    servers: [s, s]
components:
  parameters: {q: s}
  securitySchemes:
    k: {type: oauth2, flows: {implicit: {authorizationUrl: "https://a", scopes: {a: a}}}}
"##,
        &[
            ("/channels/~1a~1{p}/parameters/x-q", Parameter),
            ("/channels/~1a~1{p}/servers", InvalidValue),
            ("/servers/s/security/0/k", InvalidValue),
        ],
    ),
    (
        "server variables, correlation ids and scope names are checked; 2.x oneOf messages may nest",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
servers:
  s:
    url: "h:{port}"
    protocol: ws
    security: [{k: [1]}]
    variables:
      port: {default: 1, enum: ["1", "1"], examples: [2], foo: x}
channels:
  c:
    subscribe:
      message: {oneOf: [{oneOf: [{payload: {type: string}, correlationId: {description: d}}]}]}
components:
  securitySchemes:
    k: {type: oauth2, flows: {}}
  correlationIds:
    i: {location: "$message.header#/i", foo: 1}
"##,
        &[
            (
                "/channels/c/subscribe/message/oneOf/0/oneOf/0/correlationId",
                Required,
            ),
            ("/components/correlationIds/i/foo", UnexpectedProperty),
            ("/servers/s/security/0/k/0", InvalidValue),
            ("/servers/s/variables/port/default", InvalidValue),
            ("/servers/s/variables/port/enum", InvalidValue),
            ("/servers/s/variables/port/examples", InvalidValue),
            ("/servers/s/variables/port/foo", UnexpectedProperty),
        ],
    ),
    (
        "3.0 parameter enum/default and message example names and summaries are strings",
        r##"
asyncapi: 3.0.0
info: {title: t, version: v}
channels:
  a:
    address: /a/{p}
    parameters:
      p: {enum: [x, 1], default: 2, examples: [y, y]}
    messages:
      m: {payload: {type: string}, examples: [{summary: 1, payload: x}]}
"##,
        &[
            ("/channels/a/messages/m/examples/0/summary", InvalidValue),
            ("/channels/a/parameters/p/default", InvalidValue),
            ("/channels/a/parameters/p/enum", InvalidValue),
        ],
    ),
    (
        "a $ref that is not a string, where a reference may stand, is refused",
        r##"
asyncapi: 2.6.0
info: {title: t, version: v}
channels:
  c:
    subscribe:
      message: {$ref: null}
    publish:
      message: {payload: {type: string}, traits: [{$ref: 1}]}
"##,
        &[
            ("/channels/c/publish/message/traits/0/$ref", Reference),
            ("/channels/c/subscribe/message/$ref", Reference),
        ],
    ),
];

#[test]
fn each_case_reports_exactly_its_problems() {
    for (what, text, expected) in CASES {
        let expected: Vec<_> = expected
            .iter()
            .map(|(p, k)| ((*p).to_owned(), *k))
            .collect();
        assert_eq!(problems(text), expected, "{what}");
    }
}

#[test]
fn external_ref_message_says_not_supported() {
    let doc = Document::parse("{\"asyncapi\":\"2.6.0\",\"x\":{\"$ref\":\"refs/a.yaml\"}}").unwrap();
    let report = doc.validate();
    let p = report
        .problems
        .iter()
        .find(|p| p.pointer == "/x/$ref")
        .unwrap();
    assert!(p.message.contains("not supported"), "{}", p.message);
}

#[test]
fn v3_null_address_and_extensions_are_accepted() {
    let doc = Document::parse(
        r##"
asyncapi: 3.0.0
info: {title: t, version: v, x-owner: me}
channels:
  dynamic: {address: null, x-eventgate-backend-path: /feed}
operations:
  r: {action: receive, channel: {$ref: "#/channels/dynamic"}}
"##,
    )
    .unwrap();
    let r = doc.validate();
    assert!(r.is_valid(), "{:?}", r.problems);
    assert_eq!((r.counts.channels, r.counts.operations), (1, 1));
}

#[test]
fn typed_model_round_trip_keeps_extensions_nulls_and_unknown_fields() {
    for text in [
        r##"{"asyncapi":"2.6.0","info":{"title":"t","version":"v","x-a":[1,{"b":null}]},
            "channels":{"/c":{"x-auth-type":"None","subscribe":{"x-scopes":["s"],"message":{"payload":null,"x-m":1}}}},
            "components":{"messageTraits":{"t":{"headers":{}}},"securitySchemes":{"o":{"type":"oauth2","flows":{"implicit":{"authorizationUrl":"u","scopes":{},"x-scopes-bindings":{"s":"admin"}}}}}},
            "x-root":true}"##,
        "asyncapi: 3.0.0\ninfo: {title: t, version: v}\nchannels:\n  c: {address: null, messages: {m: {payload: {schemaFormat: 'application/vnd.apache.avro;version=1.9.0', schema: {type: record}}}}}\noperations:\n  o: {action: send, channel: {$ref: '#/channels/c'}, reply: {address: {location: '$message.header#/r'}}, x-o: 1}\n",
    ] {
        // (The first document is invalid: a null payload. The model still keeps it.)
        let doc = Document::parse(text).unwrap();
        let model = doc.to_model().unwrap();
        assert_eq!(model.to_value(), *doc.value());
    }
}

#[test]
fn one_element_array_is_not_read_as_a_reference() {
    // serde's derive accepts `["x"]` for a one-field struct; the model must not.
    let doc = Document::parse(
        r##"{"asyncapi":"3.0.0","info":{"title":"t","version":"v"},"operations":{"o":["read"]}}"##,
    )
    .unwrap();
    if let Ok(model) = doc.to_model() {
        assert_eq!(model.to_value(), *doc.value());
    }
    assert!(!doc.validate().is_valid());
}
