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
//! Output, one line per input line (an empty line is a token too, and prints
//! `err malformed`): `ok sub=<subject> client=<client id> scopes=<space separated>` or
//! `err <kind>`, where `<kind>` is [`TokenError::kind`](eventgate_policy::TokenError::kind).
//! Whitespace around a token (a CRLF line ending's CR) is not part of it.

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
    let mut issuer_config = IssuerConfig::builder(issuer, algorithms, JwksCache::fixed(keys));
    issuer_config.leeway(Duration::from_secs(
        config.get("leeway_s").and_then(Value::as_u64).unwrap_or(0),
    ));
    match config.get("audience") {
        Some(Value::String(a)) => {
            issuer_config.audience(a.as_str());
        }
        Some(Value::Array(list)) => {
            for a in list.iter().filter_map(Value::as_str) {
                issuer_config.audience(a);
            }
        }
        _ => {}
    }
    let validator = JwtValidator::builder()
        .issuer(issuer_config.build().map_err(|e| format!("config: {e}"))?)
        .build()
        .map_err(|e| format!("config: {e}"))?;

    check_lines(
        &validator,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        || Timestamp::from(SystemTime::now()),
    )
}

/// One output line per input line, in order.
fn check_lines(
    validator: &JwtValidator,
    input: impl BufRead,
    mut out: impl Write,
    now: impl Fn() -> Timestamp,
) -> Result<(), String> {
    for line in input.lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let result = check_line(validator, &line, now());
        writeln!(out, "{result}").map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(())
}

/// The output line for one input line.
fn check_line(validator: &JwtValidator, line: &str, now: Timestamp) -> String {
    match validator.verify(line.trim(), now) {
        Ok(p) => format!(
            "ok sub={} client={} scopes={}",
            p.subject.as_deref().unwrap_or(""),
            p.client_id.as_deref().unwrap_or(""),
            p.scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Err(e) => format!("err {}", e.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> JwtValidator {
        let mut keys = KeySet::new();
        keys.push(VerificationKey::hmac(&[7; 32], None).unwrap());
        JwtValidator::builder()
            .issuer(
                IssuerConfig::builder("iss", vec![Algorithm::HS256], JwksCache::fixed(keys))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn run(input: &str) -> String {
        let mut out = Vec::new();
        check_lines(&validator(), input.as_bytes(), &mut out, || {
            Timestamp::from_unix_secs(1_800_000_000)
        })
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_input_line_gives_one_output_line_empty_ones_included() {
        assert_eq!(
            run("a.b\n\n  \r\neyJhbGciOiJub25lIn0.e30.\n"),
            "err malformed\nerr malformed\nerr malformed\nerr algorithm_not_allowed\n"
        );
        assert_eq!(run("\n"), "err malformed\n");
        assert_eq!(run(""), "");
    }
}
