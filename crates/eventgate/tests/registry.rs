//! Registry rules: every error, lifecycle transitions through the registry, revisions,
//! deployments, atomic transactions and end signals.

mod support;

use std::sync::Arc;

use eventgate::{
    EnvironmentType, Lifecycle, LifecycleAction, ModelError, RegistryError, RouteEnd, RouteError,
};
use support::*;

#[test]
fn invalid_api_is_a_model_error() {
    let r = registry();
    let mut a = api("Observer", "/observer", "1.0.0");
    a.topics.clear();
    assert!(matches!(
        r.create_api(a),
        Err(RegistryError::Model(ModelError::NoTopic))
    ));
}

#[test]
fn same_name_and_version_twice_is_refused() {
    let r = registry();
    r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    assert!(matches!(
        r.create_api(api("Observer", "/observer", "1.0.0")),
        Err(RegistryError::ApiExists(id)) if id.as_str() == "Observer:1.0.0"
    ));
}

#[test]
fn unknown_api_is_not_found_everywhere() {
    let r = registry();
    let id: eventgate::ApiId = "Nope:1".parse().unwrap();
    let nf = |e: RegistryError| matches!(e, RegistryError::ApiNotFound(_));
    assert!(nf(r.update_api(api("Nope", "/nope", "1")).unwrap_err()));
    assert!(nf(r.delete_api(&id).unwrap_err()));
    assert!(nf(r
        .change_lifecycle(&id, LifecycleAction::Publish)
        .unwrap_err()));
    assert!(nf(r.create_revision(&id, None).unwrap_err()));
    assert!(nf(r.lifecycle(&id).unwrap_err()));
    assert!(nf(r
        .deploy(&id, 1, "Default", &host("localhost"))
        .unwrap_err()));
}

#[test]
fn context_of_another_api_name_is_taken_but_versions_share_it() {
    let r = registry();
    r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    r.create_api(api("Observer", "/observer", "2.0.0")).unwrap();
    match r.create_api(api("Spy", "/observer", "1.0.0")) {
        Err(RegistryError::ContextTaken { context, owner }) => {
            assert_eq!(
                (context.as_str(), owner.as_str()),
                ("/observer", "Observer")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deployed_api_cannot_be_deleted_until_undeployed() {
    let r = registry();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    assert!(matches!(
        r.delete_api(&id),
        Err(RegistryError::ApiDeployed(_))
    ));
    r.undeploy(&id, "Default", &host("localhost")).unwrap();
    r.delete_api(&id).unwrap();
    assert!(r.apis().is_empty());
}

#[test]
fn every_state_action_pair_through_the_registry_matches_wso2() {
    for from in Lifecycle::ALL {
        for action in LifecycleAction::ALL {
            let r = registry();
            let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
            for step in Lifecycle::Created.path_to(from).unwrap() {
                r.change_lifecycle(&id, step).unwrap();
            }
            let got = r.change_lifecycle(&id, action);
            match from.apply(action) {
                Some(to) => {
                    assert_eq!(got.unwrap(), to, "{from} {action}");
                    assert_eq!(r.lifecycle(&id).unwrap(), to);
                }
                None => {
                    match got {
                        Err(RegistryError::Transition {
                            from: f, action: a, ..
                        }) => {
                            assert_eq!((f, a), (from, action));
                        }
                        other => panic!("{from} {action}: {other:?}"),
                    }
                    assert_eq!(
                        r.lifecycle(&id).unwrap(),
                        from,
                        "refused change kept the state"
                    );
                }
            }
        }
    }
}

#[test]
fn retired_api_cannot_be_revised_deployed_or_edited_and_loses_its_deployments() {
    let r = registry();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    r.change_lifecycle(&id, LifecycleAction::Deprecate).unwrap();
    r.change_lifecycle(&id, LifecycleAction::Retire).unwrap();
    assert!(r.deployments().is_empty());
    assert!(matches!(
        r.create_revision(&id, None),
        Err(RegistryError::Retired(_))
    ));
    assert!(matches!(
        r.deploy(&id, 1, "Default", &host("localhost")),
        Err(RegistryError::Retired(_))
    ));
    assert!(matches!(
        r.update_api(api("Observer", "/observer", "1.0.0")),
        Err(RegistryError::Retired(_))
    ));
}

#[test]
fn revisions_are_numbered_max_plus_one_and_limited_to_five() {
    let r = registry();
    let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    for n in 1..=5 {
        assert_eq!(r.create_revision(&id, None).unwrap(), n);
    }
    let err = r.create_revision(&id, None).unwrap_err();
    assert!(matches!(err, RegistryError::RevisionLimit { max: 5, .. }));
    assert_eq!(err.wso2_code(), Some(900_351));
    r.delete_revision(&id, 2).unwrap();
    assert_eq!(
        r.create_revision(&id, None).unwrap(),
        6,
        "max + 1, not the gap"
    );
    r.delete_revision(&id, 6).unwrap();
    assert_eq!(r.create_revision(&id, None).unwrap(), 6);
    let numbers: Vec<u32> = r
        .revisions(&id)
        .unwrap()
        .iter()
        .map(|v| v.number())
        .collect();
    assert_eq!(numbers, [1, 3, 4, 5, 6]);
}

#[test]
fn revision_limit_is_configurable() {
    let r = eventgate::Registry::builder().max_revisions(1).build();
    let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    r.create_revision(&id, None).unwrap();
    assert!(matches!(
        r.create_revision(&id, None),
        Err(RegistryError::RevisionLimit { max: 1, .. })
    ));
}

#[test]
fn revision_is_an_immutable_snapshot_of_the_working_copy() {
    let r = registry();
    let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    r.create_revision(&id, Some("first".into())).unwrap();
    let mut changed = api("Observer", "/observer", "1.0.0");
    changed.topics = vec![topic("/memory", None)];
    r.update_api(changed).unwrap();
    let revs = r.revisions(&id).unwrap();
    assert_eq!(revs[0].api().topics[0].template.as_str(), "/*");
    assert_eq!(revs[0].description(), Some("first"));
    assert_eq!(r.api(&id).unwrap().topics[0].template.as_str(), "/memory");
}

#[test]
fn missing_and_deployed_revisions_cannot_be_deleted() {
    let r = registry();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    assert!(matches!(
        r.delete_revision(&id, 9),
        Err(RegistryError::RevisionNotFound { revision: 9, .. })
    ));
    let err = r.delete_revision(&id, 1).unwrap_err();
    assert!(matches!(
        err,
        RegistryError::RevisionDeployed { revision: 1, .. }
    ));
    assert_eq!(err.wso2_code(), Some(900_348));
    assert!(matches!(
        r.deploy(&id, 7, "Default", &host("localhost")),
        Err(RegistryError::RevisionNotFound { revision: 7, .. })
    ));
}

#[test]
fn environment_rules() {
    let r = registry();
    assert!(matches!(
        r.add_environment(env("Default", EnvironmentType::Hybrid, &["other"])),
        Err(RegistryError::EnvironmentExists(_))
    ));
    match r.add_environment(env("Prod", EnvironmentType::Production, &["LOCALHOST"])) {
        Err(RegistryError::HostTaken { host, environment }) => {
            assert_eq!(
                (host.as_str(), environment.as_str()),
                ("localhost", "Default")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.add_environment(env("Empty", EnvironmentType::Hybrid, &[])),
        Err(RegistryError::Model(ModelError::NoVhost(_)))
    ));
    let mut f1 = env("F1", EnvironmentType::Hybrid, &["f1"]);
    f1.fallback = true;
    r.add_environment(f1).unwrap();
    let mut f2 = env("F2", EnvironmentType::Hybrid, &["f2"]);
    f2.fallback = true;
    assert!(matches!(
        r.add_environment(f2),
        Err(RegistryError::FallbackTaken(e)) if e == "F1"
    ));
    let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    r.create_revision(&id, None).unwrap();
    assert!(matches!(
        r.deploy(&id, 1, "Nowhere", &host("localhost")),
        Err(RegistryError::EnvironmentNotFound(_))
    ));
    assert!(matches!(
        r.deploy(&id, 1, "Default", &host("f1")),
        Err(RegistryError::VhostNotFound { .. })
    ));
    r.deploy(&id, 1, "Default", &host("localhost")).unwrap();
    assert!(matches!(
        r.remove_environment("Default"),
        Err(RegistryError::EnvironmentInUse(_))
    ));
    assert!(matches!(
        r.remove_environment("Nowhere"),
        Err(RegistryError::EnvironmentNotFound(_))
    ));
    r.remove_environment("F1").unwrap();
}

#[test]
fn deploy_needs_the_endpoint_the_environment_serves() {
    let r = registry();
    r.add_environment(env("Prod", EnvironmentType::Production, &["prod"]))
        .unwrap();
    r.add_environment(env("Sand", EnvironmentType::Sandbox, &["sand"]))
        .unwrap();
    let mut only_sandbox = api("Observer", "/observer", "1.0.0");
    only_sandbox.endpoints.production = None;
    let id = r.create_api(only_sandbox).unwrap();
    r.create_revision(&id, None).unwrap();
    assert!(matches!(
        r.deploy(&id, 1, "Prod", &host("prod")),
        Err(RegistryError::MissingEndpoint {
            kind: "production",
            ..
        })
    ));
    r.deploy(&id, 1, "Sand", &host("sand")).unwrap();
    r.deploy(&id, 1, "Default", &host("localhost")).unwrap();

    let mut none = api("Bare", "/bare", "1");
    none.endpoints = Default::default();
    let id = r.create_api(none).unwrap();
    r.create_revision(&id, None).unwrap();
    assert!(matches!(
        r.deploy(&id, 1, "Default", &host("localhost")),
        Err(RegistryError::MissingEndpoint { .. })
    ));
}

#[test]
fn two_apis_mounted_at_the_same_path_on_a_vhost_conflict() {
    let r = registry();
    publish(&r, api("A", "/a", "v1"));
    let mut b = api("B", "/a/v1", "2");
    b.default_version = true; // also mounted at /a/v1
    let id = r.create_api(b).unwrap();
    r.create_revision(&id, None).unwrap();
    match r.deploy(&id, 1, "Default", &host("localhost")) {
        Err(RegistryError::RouteConflict { path, other, .. }) => {
            assert_eq!((path.as_str(), other.as_str()), ("/a/v1", "A:v1"));
        }
        other => panic!("{other:?}"),
    }
    // On another vhost there is no conflict.
    r.add_environment(env("Other", EnvironmentType::Hybrid, &["other"]))
        .unwrap();
    r.deploy(&id, 1, "Other", &host("other")).unwrap();
}

#[test]
fn two_default_versions_of_one_api_on_a_vhost_conflict() {
    let r = registry();
    let mut v1 = api("Observer", "/observer", "1.0.0");
    v1.default_version = true;
    publish(&r, v1);
    let mut v2 = api("Observer", "/observer", "2.0.0");
    v2.default_version = true;
    let id = r.create_api(v2).unwrap();
    r.create_revision(&id, None).unwrap();
    assert!(matches!(
        r.deploy(&id, 1, "Default", &host("localhost")),
        Err(RegistryError::RouteConflict { path, .. }) if path == "/observer"
    ));
}

#[test]
fn undeploying_what_is_not_deployed_is_refused() {
    let r = registry();
    let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    assert!(matches!(
        r.undeploy(&id, "Default", &host("localhost")),
        Err(RegistryError::NotDeployed { .. })
    ));
}

#[test]
fn a_failed_transaction_changes_nothing() {
    let r = registry();
    let before = r.generation();
    let err = r.transaction(|tx| {
        let id = tx.create_api(api("Observer", "/observer", "1.0.0"))?;
        tx.create_revision(&id, None)?;
        tx.deploy(&id, 1, "Nowhere", &host("localhost"))
    });
    assert!(matches!(err, Err(RegistryError::EnvironmentNotFound(_))));
    assert_eq!(r.generation(), before);
    assert!(r.apis().is_empty());
}

#[test]
fn each_commit_bumps_the_generation_and_tells_watchers() {
    let r = registry();
    let mut rx = r.subscribe();
    let g = r.generation();
    r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
    assert_eq!(r.generation(), g + 1);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), g + 1);
    assert_eq!(r.router().generation(), g + 1);
}

#[test]
fn every_lifecycle_state_routes_as_wso2_does() {
    for state in Lifecycle::ALL {
        let r = registry();
        let id = r.create_api(api("Observer", "/observer", "1.0.0")).unwrap();
        r.create_revision(&id, None).unwrap();
        r.deploy(&id, 1, "Default", &host("localhost")).unwrap();
        for step in Lifecycle::Created.path_to(state).unwrap() {
            r.change_lifecycle(&id, step).unwrap();
        }
        let got = r
            .router()
            .route(Some("localhost"), "/observer/1.0.0/memory");
        match state {
            Lifecycle::Published => assert!(got.unwrap().accepts_subscriptions()),
            Lifecycle::Deprecated => {
                let route = got.unwrap();
                assert!(!route.accepts_subscriptions());
                assert_eq!(route.lifecycle(), Lifecycle::Deprecated);
            }
            Lifecycle::Blocked => {
                let e = got.unwrap_err();
                assert_eq!(e, RouteError::Blocked(id.clone()));
                assert_eq!(e.wso2_code(), Some(700_700));
                assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
            }
            _ => assert_eq!(got.unwrap_err(), RouteError::NotFound, "{state}"),
        }
    }
}

#[tokio::test]
async fn undeploy_ends_only_that_apis_streams() {
    let r = registry();
    let a = publish(&r, api("A", "/a", "1"));
    publish(&r, api("B", "/b", "1"));
    let ra = r.router().route(Some("localhost"), "/a/1/x").unwrap();
    let rb = r.router().route(Some("localhost"), "/b/1/x").unwrap();
    r.undeploy(&a, "Default", &host("localhost")).unwrap();
    assert_eq!(ra.signal().ended().await, RouteEnd::Undeployed);
    assert!(!ra.is_current());
    assert!(rb.is_current(), "another API's stream is untouched");
    assert_eq!(
        r.router().route(Some("localhost"), "/a/1/x").unwrap_err(),
        RouteError::NotFound
    );
}

#[tokio::test]
async fn redeploy_swaps_the_revision_and_ends_the_old_ones_streams() {
    let r = registry();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    let mut v2 = api("Observer", "/observer", "1.0.0");
    v2.endpoints.production = Some(eventgate::Endpoint::new("http://new:1").unwrap());
    r.update_api(v2).unwrap();
    let rev2 = r.create_revision(&id, None).unwrap();
    let old = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    let held = r.router();
    r.deploy(&id, rev2, "Default", &host("localhost")).unwrap();
    assert_eq!(old.signal().ended().await, RouteEnd::Replaced);
    let new = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    assert_eq!(new.revision().number(), 2);
    assert!(new.is_current());
    assert_eq!(
        new.backend_url(eventgate_policy::KeyType::Production, None)
            .unwrap(),
        "http://new:1/m"
    );
    // A snapshot taken before the swap still routes to revision 1.
    let before = held.route(Some("localhost"), "/observer/1.0.0/m").unwrap();
    assert_eq!(before.revision().number(), 1);
    // Deploying the same revision again is a no-op for streams.
    r.deploy(&id, rev2, "Default", &host("localhost")).unwrap();
    assert!(new.is_current());
    assert_eq!(r.deployments().len(), 1);
}

#[tokio::test]
async fn block_ends_streams_republish_serves_with_a_fresh_signal_and_deprecate_keeps_them() {
    let r = registry();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    let before = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    r.change_lifecycle(&id, LifecycleAction::Block).unwrap();
    assert_eq!(before.signal().ended().await, RouteEnd::Blocked);
    r.change_lifecycle(&id, LifecycleAction::RePublish).unwrap();
    let after = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    assert!(after.is_current());
    assert!(!Arc::ptr_eq(before.signal(), after.signal()));
    r.change_lifecycle(&id, LifecycleAction::Deprecate).unwrap();
    assert!(after.is_current(), "DEPRECATED keeps serving open streams");
    r.change_lifecycle(&id, LifecycleAction::Retire).unwrap();
    assert_eq!(after.signal().end_reason(), Some(RouteEnd::Retired));
}

#[test]
fn demote_ends_streams_with_the_new_state() {
    let r = registry();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    let route = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    r.change_lifecycle(&id, LifecycleAction::DeployAsPrototype)
        .unwrap();
    assert_eq!(
        route.signal().end_reason(),
        Some(RouteEnd::Demoted(Lifecycle::PreReleased))
    );
}
