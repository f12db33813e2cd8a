//! Model check of a `Channel` against a naive oracle: random interleavings of publish,
//! heartbeat, subscribe (no id, a kept id, an evicted or unknown id), partial reads and
//! drops, under random queue and backlog bounds. Every subscriber must receive exactly the
//! oracle's events after its resume point, in order, each once; it may be cut off only if
//! it really fell more than the queue depth behind; resume outcomes must match the oracle.

mod support;

use eventgate_relay::{Channel, EventId, Feed, Frame, RESET_EVENT, Replay, SubscribeOptions};
use support::Rng;

struct Sub {
    sub: Feed,
    /// Next event number expected.
    next: u64,
    /// Position in the live ring (frames pushed before it subscribed + live frames read).
    cursor: u64,
    /// Replayed events still to come before live frames.
    replay_left: usize,
    /// The reset notice is still to come.
    expect_reset: bool,
    ended: bool,
}

fn frame(n: u64) -> Frame {
    support::numbered(n)
}

fn number(f: &[u8]) -> u64 {
    let s = std::str::from_utf8(f).unwrap();
    s.strip_prefix("id: ")
        .and_then(|r| r.split('\n').next())
        .unwrap()
        .parse()
        .unwrap()
}

fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let depth = rng.range(1, 16) as usize;
    let backlog = rng.range(0, 32) as usize;
    let ch = Channel::builder()
        .queue_depth(depth)
        .backlog_events(backlog)
        .backlog_bytes(usize::MAX)
        .build()
        .unwrap();
    let mut published: Vec<u64> = Vec::new();
    let mut pushed: u64 = 0; // frames pushed into the live ring (events + heartbeats)
    let mut subs: Vec<Sub> = Vec::new();
    for _ in 0..300 {
        match rng.range(0, 9) {
            0..=2 => {
                let n = published.len() as u64 + 1;
                ch.publish(EventId::from_text(&n.to_string()), frame(n));
                published.push(n);
                pushed += 1;
            }
            3 => {
                ch.heartbeat();
                pushed += 1;
            }
            4 => {
                // Resume point: none, a recent id, an old one, or one never sent.
                let (id, want_found) = match rng.range(0, 3) {
                    0 => (None, None),
                    1 | 2 if !published.is_empty() => {
                        let back = rng.range(0, published.len() as u64 - 1) as usize;
                        let n = published[published.len() - 1 - back];
                        (Some(n), Some(back < backlog))
                    }
                    _ => (Some(1_000_000), Some(false)),
                };
                let sub = ch
                    .subscribe(
                        SubscribeOptions::new()
                            .last_event_id(id.and_then(|n| EventId::from_text(&n.to_string()))),
                    )
                    .unwrap();
                let last = published.len() as u64;
                let (next, replay_left, expect_reset) = match (id, want_found) {
                    (None, _) => {
                        assert_eq!(sub.replay(), Replay::None);
                        (last + 1, 0, false)
                    }
                    (Some(n), Some(true)) => {
                        assert_eq!(
                            sub.replay(),
                            Replay::Found((last - n) as usize),
                            "seed {seed}"
                        );
                        (n + 1, (last - n) as usize, false)
                    }
                    _ => {
                        assert_eq!(sub.replay(), Replay::Unknown, "seed {seed}");
                        (last + 1, 0, true)
                    }
                };
                subs.push(Sub {
                    sub,
                    next,
                    cursor: pushed,
                    replay_left,
                    expect_reset,
                    ended: false,
                });
            }
            5..=7 if !subs.is_empty() => {
                let k = rng.range(0, subs.len() as u64 - 1) as usize;
                let reads = rng.range(1, 20);
                let s = &mut subs[k];
                for _ in 0..reads {
                    if s.ended {
                        assert!(s.sub.try_next().is_none());
                        break;
                    }
                    match s.sub.try_next() {
                        None => {
                            assert_eq!(s.replay_left, 0, "seed {seed}: replay stalled");
                            assert!(!s.expect_reset);
                            assert_eq!(s.cursor, pushed, "seed {seed}: frames not delivered");
                            break;
                        }
                        Some(Err(e)) => {
                            assert!(e.is_lagged());
                            assert!(
                                pushed - s.cursor > depth as u64,
                                "seed {seed}: cut off while only {} behind (depth {depth})",
                                pushed - s.cursor
                            );
                            s.ended = true;
                        }
                        Some(Ok(f)) => {
                            if s.expect_reset {
                                assert_eq!(f, RESET_EVENT.into_bytes());
                                s.expect_reset = false;
                            } else if s.replay_left > 0 {
                                assert_eq!(number(&f), s.next, "seed {seed}: replay");
                                s.next += 1;
                                s.replay_left -= 1;
                            } else if f == Frame::KEEP_ALIVE.into_bytes() {
                                s.cursor += 1;
                            } else {
                                assert_eq!(number(&f), s.next, "seed {seed}: live");
                                s.next += 1;
                                s.cursor += 1;
                            }
                        }
                    }
                }
            }
            8 if !subs.is_empty() => {
                let k = rng.range(0, subs.len() as u64 - 1) as usize;
                subs.swap_remove(k);
            }
            _ => {}
        }
        assert!(ch.queued_frames() <= depth);
        assert!(ch.backlog_len() <= backlog);
        assert_eq!(ch.subscriber_count(), subs.len());
    }
}

#[test]
fn channel_matches_the_oracle_for_random_interleavings() {
    for seed in 1..=3000 {
        run(seed);
    }
}
