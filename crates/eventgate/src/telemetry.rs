//! What the gateway counts, and how it is read: Prometheus text exposition and a JSON-ready
//! snapshot (the developer portal's live view reads the same numbers).
//!
//! The counters are plain atomics owned by the [`Gateway`](crate::Gateway) (no global
//! recorder, so two gateways in one process never mix their numbers); a delivered event
//! costs two relaxed atomic adds (events and bytes of its API) on a cache line of the
//! calling thread's stripe ([`Striped`]), so streams served by different worker threads do
//! not pass one line back and forth on every event. Per-API counters are created
//! when an API first serves a stream and kept while the process runs (bounded by the number of
//! APIs ever routed).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `eventgate_streams_open` | gauge | `api` |
//! | `eventgate_streams_total` | counter | `api` |
//! | `eventgate_events_out_total` | counter | `api` |
//! | `eventgate_bytes_out_total` | counter | `api` |
//! | `eventgate_quota_cuts_total` | counter | `api` |
//! | `eventgate_denials_total` | counter | `code` |
//! | `eventgate_channels_open` | gauge | |
//! | `eventgate_upstream_connects_total` | counter | |
//! | `eventgate_upstream_failures_total` | counter | |
//! | `eventgate_replayed_total` | counter | |
//! | `eventgate_replay_misses_total` | counter | |
//! | `eventgate_slow_consumers_cut_total` | counter | |
//! | `eventgate_heartbeats_total` | counter | |
//!
//! At the close of every stream one `tracing` event (target `eventgate::stream`) records the
//! summary WSO2 publishes as analytics: API, topic, application, key type, duration, events,
//! bytes and the close reason.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use eventgate_relay::MetricsSnapshot;

/// Counters of one API (`name:version`).
#[derive(Debug, Default)]
pub(crate) struct ApiStats {
    pub(crate) streams_open: AtomicI64,
    pub(crate) streams_total: AtomicU64,
    /// Events and bytes delivered.
    pub(crate) out: Striped,
    pub(crate) quota_cuts: AtomicU64,
}

impl ApiStats {
    #[inline]
    pub(crate) fn delivered(&self, bytes: usize) {
        self.out.add(bytes as u64);
    }
}

/// Stripes of [`Striped`] (threads beyond this share them).
const STRIPES: usize = 8;

/// A pair of counters (events, bytes) split into per-thread stripes, each on its own cache
/// line, summed when read.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    stripes: [Stripe; STRIPES],
}

#[derive(Debug, Default)]
#[repr(align(128))] // two 64-byte lines: adjacent-line prefetch pairs them on x86
struct Stripe {
    events: AtomicU64,
    bytes: AtomicU64,
}

/// The calling thread's stripe, given out round-robin on first use.
fn stripe_index() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
}

impl Striped {
    /// Count one event of `bytes` bytes.
    #[inline]
    pub(crate) fn add(&self, bytes: u64) {
        let s = &self.stripes[stripe_index()];
        s.events.fetch_add(1, Relaxed);
        s.bytes.fetch_add(bytes, Relaxed);
    }

    /// Events and bytes counted so far.
    pub(crate) fn sum(&self) -> (u64, u64) {
        self.stripes.iter().fold((0, 0), |(e, b), s| {
            (
                e.wrapping_add(s.events.load(Relaxed)),
                b.wrapping_add(s.bytes.load(Relaxed)),
            )
        })
    }
}

/// The gateway's counters.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    apis: RwLock<BTreeMap<Arc<str>, Arc<ApiStats>>>,
    denials: Mutex<BTreeMap<String, u64>>,
}

impl Telemetry {
    /// The counters of `api`, created on first use.
    pub(crate) fn api(&self, api: &str) -> Arc<ApiStats> {
        if let Some(s) = self
            .apis
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(api)
        {
            return Arc::clone(s);
        }
        let mut w = self
            .apis
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(w.entry(Arc::from(api)).or_default())
    }

    /// Counts one refusal by its WSO2 code.
    pub(crate) fn denied(&self, code: &str) {
        let mut d = self
            .denials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match d.get_mut(code) {
            Some(n) => *n += 1,
            // Codes come from a fixed table; the map stays small.
            None => {
                d.insert(code.to_owned(), 1);
            }
        }
    }

    /// A copy of every counter, with the relay's.
    pub(crate) fn snapshot(&self, relay: MetricsSnapshot) -> StatsSnapshot {
        let apis = self
            .apis
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, s)| {
                let (events_out, bytes_out) = s.out.sum();
                ApiSnapshot {
                    api: k.to_string(),
                    streams_open: s.streams_open.load(Relaxed).max(0) as u64,
                    streams_total: s.streams_total.load(Relaxed),
                    events_out,
                    bytes_out,
                    quota_cuts: s.quota_cuts.load(Relaxed),
                }
            })
            .collect();
        let denials = self
            .denials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        StatsSnapshot {
            apis,
            denials,
            relay,
        }
    }
}

/// Counters of one API at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiSnapshot {
    /// `name:version`.
    pub api: String,
    /// Streams open now.
    pub streams_open: u64,
    /// Streams ever opened.
    pub streams_total: u64,
    /// Events delivered (replayed and live; not heartbeats).
    pub events_out: u64,
    /// Bytes of those events.
    pub bytes_out: u64,
    /// Streams ended because their plan's quota ran out.
    pub quota_cuts: u64,
}

/// Every counter of a gateway at one moment ([`Gateway::stats`](crate::Gateway::stats)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Per API, by name.
    pub apis: Vec<ApiSnapshot>,
    /// Refusals by WSO2 code.
    pub denials: BTreeMap<String, u64>,
    /// The relay's counters.
    pub relay: MetricsSnapshot,
}

impl StatsSnapshot {
    /// The snapshot as JSON (what the portal's live view reads).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let apis: Vec<serde_json::Value> = self
            .apis
            .iter()
            .map(|a| {
                serde_json::json!({
                    "api": a.api, "streams_open": a.streams_open, "streams_total": a.streams_total,
                    "events_out": a.events_out, "bytes_out": a.bytes_out, "quota_cuts": a.quota_cuts,
                })
            })
            .collect();
        let mut out = serde_json::json!({ "apis": apis, "denials": self.denials });
        for (key, _, _, v) in relay_families(&self.relay) {
            out[key] = v.into();
        }
        out
    }

    /// The snapshot in the Prometheus text exposition format (version 0.0.4).
    #[must_use]
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(1024);
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        type Field = fn(&ApiSnapshot) -> u64;
        let per_api: [(&str, &str, &str, Field); 5] = [
            (
                "eventgate_streams_open",
                "gauge",
                "Streams open now.",
                |a| a.streams_open,
            ),
            (
                "eventgate_streams_total",
                "counter",
                "Streams opened.",
                |a| a.streams_total,
            ),
            (
                "eventgate_events_out_total",
                "counter",
                "Events delivered to clients.",
                |a| a.events_out,
            ),
            (
                "eventgate_bytes_out_total",
                "counter",
                "Bytes of events delivered to clients.",
                |a| a.bytes_out,
            ),
            (
                "eventgate_quota_cuts_total",
                "counter",
                "Streams ended by their plan's quota.",
                |a| a.quota_cuts,
            ),
        ];
        for (name, kind, help, get) in per_api {
            family(&mut out, name, kind, help);
            for a in &self.apis {
                let _ = writeln!(out, "{name}{{api=\"{}\"}} {}", escape_label(&a.api), get(a));
            }
        }
        family(
            &mut out,
            "eventgate_denials_total",
            "counter",
            "Requests refused, by WSO2 code.",
        );
        for (code, n) in &self.denials {
            let _ = writeln!(
                out,
                "eventgate_denials_total{{code=\"{}\"}} {n}",
                escape_label(code)
            );
        }
        for (key, kind, help, v) in relay_families(&self.relay) {
            let name = format!(
                "eventgate_{key}{}",
                if kind == "counter" { "_total" } else { "" }
            );
            family(&mut out, &name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
        out
    }
}

/// The relay's counters as (JSON key, Prometheus kind, help, value); the Prometheus name is
/// `eventgate_` + key, with `_total` for a counter.
fn relay_families(r: &MetricsSnapshot) -> [(&'static str, &'static str, &'static str, u64); 22] {
    [
        (
            "channels_open",
            "gauge",
            "Upstream channels open.",
            r.channels_open,
        ),
        (
            "channels_refused",
            "counter",
            "Subscribes refused at the channel bound.",
            r.channels_refused,
        ),
        (
            "subscribers_active",
            "gauge",
            "Relay subscribers attached now.",
            r.subscribers_active,
        ),
        (
            "subscribers",
            "counter",
            "Relay subscribers ever attached.",
            r.subscribers_total,
        ),
        (
            "events_in",
            "counter",
            "Events received from upstreams and published (after duplicate removal).",
            r.events_published,
        ),
        (
            "deliveries",
            "counter",
            "Events handed to subscribers, replayed and live (flushed every 64 per subscriber).",
            r.deliveries,
        ),
        (
            "direct_deliveries",
            "counter",
            "Of the deliveries, the events the relay wrote to a subscriber's socket itself (direct delivery).",
            r.direct_deliveries,
        ),
        (
            "upstream_connects",
            "counter",
            "Upstream connections made.",
            r.upstream_connects,
        ),
        (
            "upstream_failures",
            "counter",
            "Upstream connections or streams failed.",
            r.upstream_failures,
        ),
        (
            "duplicates_dropped",
            "counter",
            "Events an upstream sent again after a reconnect, dropped.",
            r.duplicates_dropped,
        ),
        (
            "replayed",
            "counter",
            "Events replayed from a backlog.",
            r.replayed,
        ),
        (
            "replay_misses",
            "counter",
            "Last-Event-IDs not found in the backlog.",
            r.replay_misses,
        ),
        (
            "slow_consumers_cut",
            "counter",
            "Slow clients cut off.",
            r.slow_consumers_cut,
        ),
        (
            "cutoffs",
            "counter",
            "Streams stopped by their delivery gate (quota, credential).",
            r.cutoffs,
        ),
        (
            "heartbeats",
            "counter",
            "Heartbeat comments sent.",
            r.heartbeats,
        ),
        (
            "shared_appends",
            "counter",
            "Events appended to the shared backlog.",
            r.shared_appends,
        ),
        (
            "shared_replays",
            "counter",
            "Resumes answered from the shared backlog.",
            r.shared_replays,
        ),
        (
            "shared_errors",
            "counter",
            "Failed or timed-out shared backlog calls.",
            r.shared_errors,
        ),
        (
            "shared_resets",
            "counter",
            "New shared backlog epochs started after a failed append.",
            r.shared_resets,
        ),
        (
            "upstream_leases",
            "counter",
            "Upstream leases taken (one upstream per channel across nodes).",
            r.upstream_leases,
        ),
        (
            "tail_reads",
            "counter",
            "Answered reads of the shared history by following channels.",
            r.tail_reads,
        ),
        (
            "tailed_events",
            "counter",
            "Events following channels published from the shared history.",
            r.tailed_events,
        ),
    ]
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_one_sample_per_api_and_code() {
        let t = Telemetry::default();
        let a = t.api("Observer:1.0.0");
        a.streams_open.fetch_add(2, Relaxed);
        a.delivered(10);
        a.delivered(5);
        assert!(Arc::ptr_eq(&a, &t.api("Observer:1.0.0")));
        t.denied("900901");
        t.denied("900901");
        let text = t.snapshot(MetricsSnapshot::default()).to_prometheus();
        assert!(
            text.contains("eventgate_streams_open{api=\"Observer:1.0.0\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("eventgate_events_out_total{api=\"Observer:1.0.0\"} 2\n"));
        assert!(text.contains("eventgate_bytes_out_total{api=\"Observer:1.0.0\"} 15\n"));
        assert!(text.contains("eventgate_denials_total{code=\"900901\"} 2\n"));
        assert!(text.contains("# TYPE eventgate_channels_open gauge\neventgate_channels_open 0\n"));
        let mut relay = MetricsSnapshot::default();
        relay.events_published = 7;
        relay.upstream_leases = 3;
        relay.subscribers_active = 4;
        let text = t.snapshot(relay).to_prometheus();
        for line in [
            "# TYPE eventgate_events_in_total counter\neventgate_events_in_total 7\n",
            "# TYPE eventgate_upstream_leases_total counter\neventgate_upstream_leases_total 3\n",
            "# TYPE eventgate_subscribers_active gauge\neventgate_subscribers_active 4\n",
            "eventgate_upstream_connects_total 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        // Every relay counter is exported, once.
        assert_eq!(text.matches("# TYPE eventgate_").count(), 5 + 1 + 22);
        assert_eq!(t.snapshot(relay).to_json()["events_in"], 7);
        let json = t.snapshot(MetricsSnapshot::default()).to_json();
        assert_eq!(json["apis"][0]["events_out"], 2);
    }

    #[test]
    fn striped_counts_from_many_threads_sum_exactly() {
        let s = Arc::new(Striped::default());
        let threads: Vec<_> = (0..12)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.add(t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 12 threads over 8 stripes: some share one, and no add is lost.
        assert_eq!(s.sum(), (12_000, (0..12).sum::<u64>() * 1000));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
