//! eventgate-asyncapi: parse and validate.
//!
//! A generated AsyncAPI 2.6 document with 1,000 channels (each with a parameter, a subscribe
//! operation with WSO2 extensions and a message reference, plus 10 component messages), as JSON
//! and as YAML text:
//! * `parse/{json,yaml}`: text to JSON value (`Document::parse`), limits checked.
//! * `validate`: every rule and the counts on the parsed value.
//! * `parse_validate/{json,yaml}`: both, the cost of `asyncapi-check` minus I/O.
//! * `model`: the typed model from the parsed value.
//! * `topic_match/*`: routing one path among 1,000 topic templates (`TopicSet::find`) and one
//!   `TopicTemplate::is_match`.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventgate_asyncapi::{Document, TopicSet, TopicTemplate};

const CHANNELS: usize = 1_000;

fn json_doc() -> String {
    let mut s = String::from(
        r#"{"asyncapi":"2.6.0","info":{"title":"Big","version":"1.0.0","x-team":"bench"},
"servers":{"production":{"url":"http://localhost:8080","protocol":"sse"}},"channels":{"#,
    );
    for i in 0..CHANNELS {
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            r##""/topic{i}/{{id}}":{{"description":"channel {i}","x-auth-type":"Any","parameters":{{"id":{{"schema":{{"type":"string"}}}}}},"subscribe":{{"operationId":"op{i}","x-scopes":["read"],"message":{{"$ref":"#/components/messages/M{m}"}}}}}}"##,
            m = i % 10
        )
        .unwrap();
    }
    s.push_str(r#"},"components":{"messages":{"#);
    for m in 0..10 {
        if m > 0 {
            s.push(',');
        }
        write!(
            s,
            r#""M{m}":{{"name":"m{m}","payload":{{"type":"object","properties":{{"price":{{"type":"number"}},"symbol":{{"type":"string"}}}}}}}}"#
        )
        .unwrap();
    }
    s.push_str(r#"},"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{"authorizationUrl":"http://localhost:9999","scopes":{"read":"r"}}}}}}}"#);
    s
}

fn yaml_doc() -> String {
    let mut s = String::from(
        "asyncapi: 2.6.0\ninfo:\n  title: Big\n  version: 1.0.0\n  x-team: bench\nservers:\n  production:\n    url: http://localhost:8080\n    protocol: sse\nchannels:\n",
    );
    for i in 0..CHANNELS {
        write!(
            s,
            "  /topic{i}/{{id}}:\n    description: channel {i}\n    x-auth-type: Any\n    parameters:\n      id:\n        schema:\n          type: string\n    subscribe:\n      operationId: op{i}\n      x-scopes: [read]\n      message:\n        $ref: '#/components/messages/M{m}'\n",
            m = i % 10
        )
        .unwrap();
    }
    s.push_str("components:\n  messages:\n");
    for m in 0..10 {
        write!(
            s,
            "    M{m}:\n      name: m{m}\n      payload:\n        type: object\n        properties:\n          price: {{type: number}}\n          symbol: {{type: string}}\n"
        )
        .unwrap();
    }
    s.push_str("  securitySchemes:\n    oauth2:\n      type: oauth2\n      flows:\n        implicit:\n          authorizationUrl: http://localhost:9999\n          scopes: {read: r}\n");
    s
}

fn bench(c: &mut Criterion) {
    let json = json_doc();
    let yaml = yaml_doc();
    let parsed = Document::parse(&json).unwrap();
    assert_eq!(
        parsed,
        Document::from_value(Document::parse(&yaml).unwrap().into_value())
    );
    let report = parsed.validate();
    assert!(report.is_valid(), "{:?}", report.problems.first());
    assert_eq!(report.counts.channels, CHANNELS);

    let mut g = c.benchmark_group("asyncapi");
    for (name, text) in [("json", &json), ("yaml", &yaml)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| Document::parse(black_box(text)).unwrap())
        });
        g.bench_function(format!("parse_validate/{name}"), |b| {
            b.iter(|| {
                let d = Document::parse(black_box(text)).unwrap();
                d.validate().is_valid()
            })
        });
    }
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("validate", |b| b.iter(|| black_box(&parsed).validate()));
    g.bench_function("model", |b| {
        b.iter(|| black_box(&parsed).to_model().unwrap())
    });
    g.finish();

    let templates: Vec<TopicTemplate> = (0..CHANNELS)
        .map(|i| TopicTemplate::new(&format!("/topic{i}/{{id}}")).unwrap())
        .chain([TopicTemplate::catch_all()])
        .collect();
    let set = TopicSet::new(templates.clone());
    let one = TopicTemplate::new("/stocks/{symbol}/quotes").unwrap();
    let mut g = c.benchmark_group("topic_match");
    g.throughput(Throughput::Elements(1));
    g.bench_function("set_find_1000/last", |b| {
        b.iter(|| set.find(black_box("/topic999/abc")).map(|(i, _)| i))
    });
    g.bench_function("set_find_1000/fallback", |b| {
        b.iter(|| set.find(black_box("/other/path")).map(|(i, _)| i))
    });
    g.bench_function("template_is_match", |b| {
        b.iter(|| one.is_match(black_box("/stocks/IBM/quotes")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
