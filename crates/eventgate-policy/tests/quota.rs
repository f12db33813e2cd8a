//! Meters against a naive model, and under concurrency.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventgate_policy::{
    AtomicWindow, ChargeError, Meter, Quota, QuotaScope, Timestamp, WindowCounter,
};
use proptest::prelude::*;

/// The obvious implementation: a map from (counter, window index) to a count.
struct Naive {
    quotas: Vec<Quota>,
    counts: HashMap<(usize, u64), u64>,
}

impl Naive {
    fn charge(&mut self, counters: &[usize], t_ms: u64) -> Result<(), (usize, u64)> {
        for &c in counters {
            let per = self.quotas[c].per.as_millis() as u64;
            let w = t_ms / per;
            if self.counts.get(&(c, w)).copied().unwrap_or(0) >= self.quotas[c].events {
                return Err((c, (w + 1) * per));
            }
        }
        for &c in counters {
            let w = t_ms / self.quotas[c].per.as_millis() as u64;
            *self.counts.entry((c, w)).or_default() += 1;
        }
        Ok(())
    }
}

fn quota() -> impl Strategy<Value = Quota> {
    (1u64..6, 1u64..5000).prop_map(|(n, ms)| Quota::new(n, Duration::from_millis(ms)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Two meters (subscription A, subscription B) with bursts, sharing an application
    /// counter: every admit/refuse and every reset time agrees with the naive model.
    #[test]
    fn meters_agree_with_a_naive_model_for_any_event_timing(
        quotas in proptest::collection::vec(quota(), 3),
        events in proptest::collection::vec((any::<bool>(), 0u64..3000), 1..300),
        start in 0u64..10_000_000_000,
    ) {
        let counters: Vec<Arc<dyn WindowCounter>> =
            quotas.iter().map(|q| Arc::new(AtomicWindow::new(*q)) as _).collect();
        let meter_a = Meter::new(vec![(Arc::clone(&counters[0]), QuotaScope::Subscription), (Arc::clone(&counters[2]), QuotaScope::Application)]);
        let meter_b = Meter::new(vec![(Arc::clone(&counters[1]), QuotaScope::Subscription), (Arc::clone(&counters[2]), QuotaScope::Application)]);
        let mut naive = Naive { quotas: quotas.clone(), counts: HashMap::new() };
        let mut t = start;
        for (use_a, dt) in events {
            t += dt;
            let (meter, idx) = if use_a { (&meter_a, [0, 2]) } else { (&meter_b, [1, 2]) };
            let got = meter.charge(Timestamp::from_unix_millis(t));
            let want = naive.charge(&idx, t);
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(ChargeError::Exceeded(e)), Err((c, reset))) => {
                    prop_assert_eq!(e.resets_at.as_unix_millis(), reset);
                    prop_assert_eq!(e.quota, quotas[c]);
                }
                (g, w) => prop_assert!(false, "at {}: meter {:?}, model {:?}", t, g, w),
            }
        }
    }

    /// With times out of order (a charger holding an older `now`), a stale event counts into
    /// the newest window already open, so no window ever admits more than its limit: exact
    /// agreement with that model.
    #[test]
    fn out_of_order_times_count_into_the_newest_window_and_never_over_admit(
        q in quota(),
        times in proptest::collection::vec(0u64..20_000, 1..400),
    ) {
        let w = AtomicWindow::new(q);
        let per = q.per.as_millis() as u64;
        let mut newest = 0u64;
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for t in times {
            newest = newest.max(t / per);
            let c = counts.entry(newest).or_default();
            let want = *c < q.events;
            if want {
                *c += 1;
            }
            prop_assert_eq!(w.try_take(Timestamp::from_unix_millis(t)).is_ok(), want, "at {}", t);
        }
        prop_assert!(counts.values().all(|n| *n <= q.events));
    }
}

#[test]
fn concurrent_charging_from_many_threads_admits_exactly_the_quota() {
    let q = Quota::new(10_000, Duration::from_secs(3600));
    let meter = Meter::new(vec![(
        Arc::new(AtomicWindow::new(q)) as _,
        QuotaScope::Subscription,
    )]);
    let admitted = AtomicU64::new(0);
    let now = Timestamp::from_unix_secs(1_800_000_000);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..5_000 {
                    if meter.charge(now).is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 10_000);
}

#[test]
fn concurrent_meters_sharing_an_application_counter_never_over_admit() {
    let app: Arc<dyn WindowCounter> = Arc::new(AtomicWindow::new(Quota::new(
        3_000,
        Duration::from_secs(3600),
    )));
    let meters: Vec<Meter> = (0..4)
        .map(|_| {
            let sub = Arc::new(AtomicWindow::new(Quota::new(
                1_000,
                Duration::from_secs(3600),
            )));
            Meter::new(vec![
                (sub as _, QuotaScope::Subscription),
                (Arc::clone(&app), QuotaScope::Application),
            ])
        })
        .collect();
    let per_meter: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    let now = Timestamp::from_unix_secs(1_800_000_000);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (meter, count) = (&meters[i % 4], &per_meter[i % 4]);
            s.spawn(move || {
                for _ in 0..2_000 {
                    if meter.charge(now).is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let counts: Vec<u64> = per_meter
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    assert!(counts.iter().all(|c| *c <= 1_000), "{counts:?}");
    let total: u64 = counts.iter().sum();
    assert!(total <= 3_000, "{counts:?}");
    // Rollbacks may refuse an event transiently, never admit one too many; with this much
    // retrying the application quota is still used up.
    assert!(total >= 2_990, "{counts:?}");
    assert_eq!(app.remaining(now), 3_000 - total);
}
