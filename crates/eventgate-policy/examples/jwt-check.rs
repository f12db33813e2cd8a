//! Verify JWTs from stdin against a JSON configuration.
//!
//! ```sh
//! cargo run -q -p eventgate-policy --example jwt-check -- --config FILE < tokens.txt
//! ```
//!
//! Configuration (JSON):
//! `{"jwks": {...} | "jwks_file": "..", "pem_files": [".."], "issuer": "..",
//!   "audience": ".." | [".."], "algorithms": ["RS256", ...], "leeway_s": 0}`.
//! `jwks` may also be a single JWK, and `jwks_file` a PEM public key. Relative paths are read
//! from the configuration file's folder (or the working directory, if the file exists there).
//! Without `algorithms`, the algorithms the keys can serve are allowed (never what a token
//! asks for).
//!
//! Output, one line per non-empty input line:
//! `ok sub=<subject> client=<client id> scopes=<space separated>` or `err <kind>`, where
//! `<kind>` is [`TokenError::kind`](eventgate_policy::TokenError::kind).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use eventgate_policy::{
    Algorithm, IssuerConfig, JwksCache, JwtValidator, KeySet, Timestamp, VerificationKey,
};
use serde_json::Value;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwt-check: {e}");
            ExitCode::from(2)
        }
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() || p.exists() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config_path = match args.as_slice() {
        [flag, path] if flag == "--config" => PathBuf::from(path),
        _ => return Err("usage: jwt-check --config FILE  (tokens on stdin, one per line)".into()),
    };
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config: Value = serde_json::from_str(&text).map_err(|e| format!("config: {e}"))?;

    let mut keys = KeySet::new();
    let jwks_text = match (
        config.get("jwks"),
        config.get("jwks_file").and_then(Value::as_str),
    ) {
        (Some(v), _) => Some(v.to_string()),
        (None, Some(f)) => {
            let p = resolve(&base, f);
            Some(std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?)
        }
        (None, None) => None,
    };
    if let Some(mut t) = jwks_text {
        if t.trim_start().starts_with("-----BEGIN") {
            // A PEM public key where a JWKS was expected: accept it.
            keys.push(VerificationKey::from_pem(t.as_bytes(), None).map_err(|e| e.to_string())?);
        } else {
            if serde_json::from_str::<Value>(&t).is_ok_and(|v| v.get("kty").is_some()) {
                // A single JWK: wrap it into a set.
                t = format!("{{\"keys\":[{t}]}}");
            }
            for k in KeySet::from_jwks(t.as_bytes(), 1 << 20, 256).map_err(|e| e.to_string())? {
                keys.push(k);
            }
        }
    }
    for f in config
        .get("pem_files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = resolve(&base, f.as_str().ok_or("pem_files: strings expected")?);
        let pem = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        keys.push(
            VerificationKey::from_pem(&pem, None).map_err(|e| format!("{}: {e}", p.display()))?,
        );
    }
    if keys.is_empty() {
        return Err("config: no keys (jwks, jwks_file or pem_files)".into());
    }
    let algorithms: Vec<Algorithm> = match config.get("algorithms").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .map(|a| {
                a.as_str()
                    .ok_or_else(|| "algorithms: strings expected".to_owned())?
                    .parse()
                    .map_err(|e| format!("{e}"))
            })
            .collect::<Result<_, String>>()?,
        None => keys.algorithms(),
    };
    let issuer = config
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or("config: issuer missing")?;
    let mut issuer_config = IssuerConfig::new(issuer, algorithms, JwksCache::fixed(keys)).leeway(
        Duration::from_secs(config.get("leeway_s").and_then(Value::as_u64).unwrap_or(0)),
    );
    match config.get("audience") {
        Some(Value::String(a)) => issuer_config = issuer_config.audience(a.as_str()),
        Some(Value::Array(list)) => {
            for a in list.iter().filter_map(Value::as_str) {
                issuer_config = issuer_config.audience(a);
            }
        }
        _ => {}
    }
    let validator = JwtValidator::new(vec![issuer_config]);

    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let token = line.trim();
        if token.is_empty() {
            continue;
        }
        let result = match validator.verify(token, Timestamp::from(SystemTime::now())) {
            Ok(p) => format!(
                "ok sub={} client={} scopes={}",
                p.subject.as_deref().unwrap_or(""),
                p.client_id.as_deref().unwrap_or(""),
                p.scopes.join(" ")
            ),
            Err(e) => format!("err {}", e.kind()),
        };
        writeln!(out, "{result}").map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(())
}
