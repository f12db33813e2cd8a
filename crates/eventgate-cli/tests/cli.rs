//! The binary's command line as a user meets it.

use std::process::Command;

fn eventgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_subcommand_has_help() {
    for path in [
        "",
        "demo",
        "serve",
        "sample-backend",
        "api",
        "api create",
        "api topics",
        "api topics add",
        "api topics remove",
        "api topics list",
        "api plans",
        "api plans set",
        "api lifecycle",
        "api revision",
        "api revision create",
        "api revision list",
        "api revision delete",
        "api deploy",
        "api undeploy",
        "api export",
        "api import",
        "api list",
        "api show",
        "app",
        "app create",
        "app subscribe",
        "app token",
        "app key",
        "tail",
        "token",
        "token mint",
        "token decode",
        "token verify",
        "token jwks",
    ] {
        let mut args: Vec<&str> = path.split_whitespace().collect();
        args.push("--help");
        let out = eventgate(&args);
        assert!(out.status.success(), "{path} --help: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: eventgate"), "{path}: {text}");
        assert!(
            text.contains("--data <DIR>"),
            "{path}: global flags listed: {text}"
        );
    }
}

#[test]
fn control_commands_without_a_running_gateway_fail_naming_the_admin_flags() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["api", "list"][..], &["app", "create", "DemoApp"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .env_remove("EVENTGATE_ADMIN_TOKEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--admin URL"), "{stderr}");
        assert!(stderr.contains("admin-url"), "{stderr}");
    }
}

#[test]
fn an_admin_token_that_starts_with_a_hyphen_is_a_value_not_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args([
            "api",
            "list",
            "--admin",
            "http://127.0.0.1:9",
            "--admin-token",
        ])
        .arg("-Zk3_token")
        .arg("--data")
        .arg(dir.path())
        .env_remove("EVENTGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Parsed: the command ran and failed to reach the admin API (1), not a usage error (2).
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
}

#[test]
fn a_bad_duration_is_a_usage_error_naming_the_flag() {
    let out = eventgate(&["token", "mint", "--ttl", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--ttl"), "{stderr}");
    assert!(stderr.contains("missing unit"), "{stderr}");
}

#[test]
fn a_closed_stdout_ends_a_command_quietly_with_the_sigpipe_status_not_a_panic() {
    let data = tempfile::tempdir().unwrap();
    let token = eventgate(&["token", "mint", "--data", data.path().to_str().unwrap()]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap();
    // A pipe whose reading end is already closed, as `eventgate ... | head -1` once head
    // has exited: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["token", "decode", token.trim()])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
