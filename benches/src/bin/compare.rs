//! `compare`: our frame decoder and encoder against `aws-smithy-eventstream`, side by side, in one
//! process and one run, on the same bytes.
//!
//! ```text
//! cargo run --release -p eventstream-benches --bin compare
//! ```
//!
//! For each payload size (64 B, 1 KiB, 64 KiB; three string headers) it builds a stream of about
//! 1 MiB of frames, checks that both implementations decode it to the same messages, counts the
//! heap allocations per decoded message, then times, interleaved round-robin so that a burst of
//! load on the machine hits every implementation alike:
//!
//! - decoding the stream fed in 8 KiB chunks (ours: `handle_input` + `poll_message`; the
//!   reference: a `BytesMut` + `decode_frame`), and ours handed the whole stream as one `Bytes`;
//! - the floors: CRC-32 of the whole stream, and copying each 8 KiB chunk to its place in a
//!   buffer that holds a whole frame (as a decoder must, to hand out a payload as one slice)
//!   then CRC-32 of it; for frames larger than a chunk, also a reference point that is not a
//!   floor: the same copies into one 8 KiB scratch buffer, which never leaves the first-level
//!   cache (see `copy_crc_floor`), and one that computes only the checksums a decoder must
//!   compute frame by frame, each frame's prelude and message CRC-32 with nothing decoded (see
//!   `crc_frames_point`): its ratio to the CRC-32 floor is what one checksum per frame costs
//!   before any decoding. The copy buffers are placed where the copies run fastest (see
//!   `CopyBuffer`), so the floors are their best case;
//! - encoding one message into a reused, cleared `BytesMut`.
//!
//! Then signing, against `aws-sigv4` (`aws_sigv4::event_stream::sign_message`): a chain of 256
//! events (the 64 B message), the signing time advancing one second every 64 events, after a
//! frame-by-frame check that both chains carry the same `:chunk-signature` values. Ours signs
//! with `sign_to` into a reused `BytesMut` (the session's path, wire bytes), with `sign` (the
//! envelope as a message) and with `sign` + `Message::encode`; the reference with `sign_message`
//! (the envelope as a message, its `SigningParams` built per event since they carry the time)
//! and with `sign_message` + `write_message_to` into a reused `BytesMut`. The target compares the
//! two paths that produce wire bytes: `sign_to` against `sign_message` + `write_message_to`.
//!
//! Each implementation gets 2 s in batches of about 10 ms (as many passes over the stream as
//! fit), taken round-robin: one batch of each implementation, then the next round, so that a
//! slow spell of the machine falls on all of them alike. The figures come from the fastest
//! batch, which is what the code does when nothing else competes for the core (the machine has
//! two cores and other jobs may run); the median batch is shown too, and the gap between the
//! two says how noisy the run was. For the floors, the same ratios are also taken round by round
//! (the two batches of a round saw the machine in the same state) and their median printed as a
//! reference point: on a machine that is never quiet for long, the fastest batches of two
//! subjects may come from different moments. Nothing here fails on a duration: the process
//! exits non-zero only when the two implementations disagree on what a stream contains or on a
//! signature.

use bytes::BytesMut;
use eventstream_benches::frame::{
    build_stream, copy_crc_floor, crc_floor, crc_frames_point, decode_ours_chunked,
    decode_ours_whole, decode_reference_chunked, encode_ours, encode_reference, frame_len,
    frames_for, our_message, reference_message, size_label, CopyBuffer, Tally, CHUNK_LEN, HEADERS,
    PAYLOAD_SIZES,
};
use eventstream_benches::oracle::{check_agreement, check_signing};
use eventstream_benches::sign::{
    bench_sign_times, envelope_len, our_signer, reference_signer, sign_ours, sign_ours_encode,
    sign_ours_to, sign_reference, sign_reference_encode, SIGN_ADVANCE_EVERY, SIGN_PAYLOAD_LEN,
    SIGN_SEED,
};
use eventstream_testkit::alloc::{self as counting, CountingAllocator};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

/// Counts allocations, only while [`counting::count_allocations`] runs: the timed runs pay one
/// relaxed load per allocation, nothing more.
#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// About how many bytes of frames each decode stream holds: enough for thousands of small
/// messages per pass, small enough to stay in cache like freshly received socket data.
const STREAM_BYTES: usize = 1 << 20;
/// Timed samples per implementation, taken round-robin.
const SAMPLES: usize = 5;
/// How long one sample should last, in seconds.
const SAMPLE_SECS: f64 = 0.4;
/// How long one timed batch of passes should last, in seconds.
const BATCH_SECS: f64 = 0.01;

/// One implementation under test: a label and one pass of work (a whole stream decoded, or one
/// message encoded). A decoder returns what it consumed, a floor nothing.
struct Subject<'a> {
    label: &'static str,
    run: Box<dyn FnMut() -> Option<Tally> + 'a>,
}

/// The seconds per pass of every timed batch.
struct Timing {
    per_pass: Vec<f64>,
}

impl Timing {
    /// The fastest batch: seconds per pass.
    fn best(&self) -> f64 {
        self.per_pass.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The median batch: seconds per pass.
    fn median(&self) -> f64 {
        median(self.per_pass.clone())
    }

    /// How many times faster than `other` this subject ran, round by round (the two batches of
    /// a round ran back to back, so they saw the machine in the same state): the median over
    /// the rounds.
    fn paired_speedup(&self, other: &Timing) -> f64 {
        median(
            self.per_pass
                .iter()
                .zip(&other.per_pass)
                .map(|(ours, theirs)| theirs / ours)
                .collect(),
        )
    }
}

/// The median of some values (the upper one of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// How many passes make a batch of about `BATCH_SECS`; also warms caches and the allocator.
fn calibrate(run: &mut dyn FnMut() -> Option<Tally>) -> u64 {
    let mut n = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            black_box(run());
        }
        let secs = start.elapsed().as_secs_f64();
        if secs >= 0.05 {
            return ((BATCH_SECS * n as f64 / secs).ceil() as u64).max(1);
        }
        n *= 2;
    }
}

/// Times every subject: `SAMPLES` x `SAMPLE_SECS` each, in batches of about `BATCH_SECS` taken
/// round-robin (one batch of each subject, then the next round), so that a slow spell of the
/// machine, which can last seconds, falls on every subject alike.
fn measure(subjects: &mut [Subject<'_>]) -> Vec<Timing> {
    let passes: Vec<u64> = subjects.iter_mut().map(|s| calibrate(&mut s.run)).collect();
    let rounds = SAMPLES * (SAMPLE_SECS / BATCH_SECS).round() as usize;
    let mut timings: Vec<Timing> = subjects
        .iter()
        .map(|_| Timing {
            per_pass: Vec::with_capacity(rounds),
        })
        .collect();
    for _ in 0..rounds {
        for ((subject, &n), timing) in subjects.iter_mut().zip(&passes).zip(&mut timings) {
            let start = Instant::now();
            for _ in 0..n {
                black_box((subject.run)());
            }
            timing
                .per_pass
                .push(start.elapsed().as_secs_f64() / n as f64);
        }
    }
    timings
}

/// A ratio and the target it is held to, if any.
#[derive(Clone, Copy)]
struct Ratio {
    value: f64,
    target: Option<f64>,
}

impl Ratio {
    fn cell(self) -> String {
        match self.target {
            // Three decimals near the target, so that a miss never reads as the target itself.
            Some(t) if (self.value - t).abs() < 0.005 => format!(
                "{:.3}x (>= {t}x {})",
                self.value,
                pass_miss(self.value >= t)
            ),
            Some(t) => format!(
                "{:.2}x (>= {t}x {})",
                self.value,
                pass_miss(self.value >= t)
            ),
            None => format!("{:.2}x", self.value),
        }
    }
}

fn pass_miss(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

/// One line of the table.
struct Row {
    case: String,
    label: &'static str,
    msgs_per_sec: f64,
    mb_per_sec: f64,
    median_mb_per_sec: f64,
    allocs: Option<(f64, Option<f64>)>,
    vs_reference: Option<Ratio>,
    vs_floor: Option<(&'static str, Ratio)>,
}

/// One target of the issue and how it fared.
struct Verdict {
    what: String,
    measured: String,
    target: String,
    pass: bool,
}

/// The most heap allocations a decoded three-header message may cost us.
const MAX_ALLOCS_PER_MESSAGE: f64 = 2.0;

/// The issue's decode targets for a payload size: (ours / reference, ours chunked / copy+crc
/// floor, ours whole / crc floor).
fn decode_targets(payload_len: usize) -> (Option<f64>, Option<f64>, Option<f64>) {
    match payload_len {
        64 => (Some(3.0), None, None),
        1024 => (Some(2.0), None, None),
        65536 => (Some(1.0), Some(0.8), Some(0.8)),
        _ => (None, None, None),
    }
}

/// The issue's encode target (ours / reference) for a payload size.
fn encode_target(payload_len: usize) -> Option<f64> {
    (payload_len == 64).then_some(2.0)
}

fn ratio_verdict(what: String, ratio: Ratio, verdicts: &mut Vec<Verdict>) {
    if let Some(t) = ratio.target {
        verdicts.push(Verdict {
            what,
            measured: format!("{:.3}x", ratio.value),
            target: format!(">= {t}x"),
            pass: ratio.value >= t,
        });
    }
}

/// Decode rows for one payload size; `Err` when the implementations disagree.
fn decode_case(
    payload_len: usize,
    rows: &mut Vec<Row>,
    verdicts: &mut Vec<Verdict>,
    points: &mut Vec<String>,
) -> Result<(), String> {
    let frame = frame_len(payload_len);
    let count = frames_for(payload_len, STREAM_BYTES);
    let stream = build_stream(payload_len, count);
    let case = format!("decode {}", size_label(payload_len));
    println!(
        "{case}: frame {frame} B, stream of {count} frames = {} bytes",
        stream.len()
    );

    check_agreement(payload_len, count, CHUNK_LEN)?;
    // Promote the stream's buffer to a shared one now rather than in the first timed clone.
    drop(black_box(stream.clone()));

    let mut frame_buf = CopyBuffer::for_frames(payload_len, CHUNK_LEN, &stream);
    let mut scratch = CopyBuffer::new(CHUNK_LEN, &stream);
    let mut subjects = vec![
        Subject {
            label: "ours: handle_input, 8 KiB chunks",
            run: Box::new(|| Some(decode_ours_chunked(&stream, CHUNK_LEN))),
        },
        Subject {
            label: "ours: handle_bytes, whole stream as Bytes",
            run: Box::new(|| Some(decode_ours_whole(&stream))),
        },
        Subject {
            label: "reference: BytesMut + decode_frame, 8 KiB",
            run: Box::new(|| Some(decode_reference_chunked(&stream, CHUNK_LEN))),
        },
        Subject {
            label: "floor: copy 8 KiB chunks into frame + crc",
            run: Box::new(|| {
                black_box(copy_crc_floor(&stream, CHUNK_LEN, &mut frame_buf));
                None
            }),
        },
        Subject {
            label: "floor: crc32 of the whole stream",
            run: Box::new(|| {
                black_box(crc_floor(&stream));
                None
            }),
        },
    ];
    // Indices into `subjects`.
    let (ours_chunked, ours_whole, theirs, floor_copy, floor_crc, scratch_point, frames_point) =
        (0, 1, 2, 3, 4, 5, 6);
    if frame > CHUNK_LEN {
        subjects.push(Subject {
            label: "point: copy 8 KiB chunks into 8 KiB + crc",
            run: Box::new(|| {
                black_box(copy_crc_floor(&stream, CHUNK_LEN, &mut scratch));
                None
            }),
        });
        subjects.push(Subject {
            label: "point: crc32 frame by frame, no decoding",
            run: Box::new(|| {
                black_box(crc_frames_point(&stream, frame));
                None
            }),
        });
    }

    // One untimed pass each: allocations per message, and the tallies must agree.
    let expected = Tally {
        messages: count as u64,
        headers: 3 * count as u64,
        header_bytes: HEADERS
            .iter()
            .map(|(n, v)| (n.len() + v.len()) as u64)
            .sum::<u64>()
            * count as u64,
        payload_bytes: (payload_len * count) as u64,
    };
    let mut allocs = Vec::new();
    for subject in &mut subjects {
        (subject.run)(); // warm up the allocator's caches
        let (tally, n) = counting::count_allocations(&mut subject.run);
        if let Some(tally) = tally {
            if tally != expected {
                return Err(format!(
                    "{}: consumed {tally:?}, expected {expected:?}",
                    subject.label
                ));
            }
            allocs.push(Some(n as f64 / count as f64));
        } else {
            allocs.push(None);
        }
    }

    let timings = measure(&mut subjects);
    let best: Vec<f64> = timings.iter().map(Timing::best).collect();
    let (t_ref, t_floor_copy, t_floor_crc) = decode_targets(payload_len);
    let speed = |i: usize| 1.0 / best[i];
    if best.len() > scratch_point {
        let label = size_label(payload_len);
        points.push(format!(
            "decode {label}: ours chunked / 8 KiB point {:.3}x; floor (copy into frame + crc) / \
             8 KiB point {:.3}x",
            speed(ours_chunked) / speed(scratch_point),
            speed(floor_copy) / speed(scratch_point)
        ));
    }
    if best.len() > frames_point {
        points.push(format!(
            "decode {}: crc32 frame by frame / crc floor {:.3}x (round by round {:.3}x); ours \
             whole / crc32 frame by frame {:.3}x (round by round {:.3}x)",
            size_label(payload_len),
            speed(frames_point) / speed(floor_crc),
            timings[frames_point].paired_speedup(&timings[floor_crc]),
            speed(ours_whole) / speed(frames_point),
            timings[ours_whole].paired_speedup(&timings[frames_point]),
        ));
    }
    if t_floor_copy.is_some() {
        points.push(format!(
            "decode {}: round by round, median over {} rounds: ours chunked / copy+crc floor \
             {:.3}x; ours whole / crc floor {:.3}x",
            size_label(payload_len),
            timings[ours_chunked].per_pass.len(),
            timings[ours_chunked].paired_speedup(&timings[floor_copy]),
            timings[ours_whole].paired_speedup(&timings[floor_crc]),
        ));
    }
    for (i, (subject, timing)) in subjects.iter().zip(&timings).enumerate() {
        let ours = i == ours_chunked || i == ours_whole;
        let vs_reference = ours.then(|| Ratio {
            value: speed(i) / speed(theirs),
            target: if i == ours_chunked { t_ref } else { None },
        });
        let vs_floor = match i {
            _ if i == ours_chunked => Some((
                "copy+crc",
                Ratio {
                    value: speed(i) / speed(floor_copy),
                    target: t_floor_copy,
                },
            )),
            _ if i == ours_whole => Some((
                "crc",
                Ratio {
                    value: speed(i) / speed(floor_crc),
                    target: t_floor_crc,
                },
            )),
            _ => None,
        };
        let alloc_target = ours.then_some(MAX_ALLOCS_PER_MESSAGE);
        rows.push(Row {
            case: case.clone(),
            label: subject.label,
            msgs_per_sec: count as f64 / best[i],
            mb_per_sec: stream.len() as f64 / best[i] / 1e6,
            median_mb_per_sec: stream.len() as f64 / timing.median() / 1e6,
            allocs: allocs[i].map(|a| (a, alloc_target)),
            vs_reference,
            vs_floor,
        });
        let label = size_label(payload_len);
        if let Some(r) = vs_reference {
            ratio_verdict(
                format!("decode {label}: {} / reference", subject.label),
                r,
                verdicts,
            );
        }
        if let Some((floor, r)) = vs_floor {
            ratio_verdict(
                format!("decode {label}: {} / {floor} floor", subject.label),
                r,
                verdicts,
            );
        }
        if let (Some(a), Some(t)) = (allocs[i], alloc_target) {
            verdicts.push(Verdict {
                what: format!("decode {label}: {} allocations/message", subject.label),
                measured: format!("{a:.2}"),
                target: format!("<= {t}"),
                pass: a <= t,
            });
        }
    }
    Ok(())
}

/// Encode rows for one payload size.
fn encode_case(payload_len: usize, rows: &mut Vec<Row>, verdicts: &mut Vec<Verdict>) {
    let frame = frame_len(payload_len);
    let ours_msg = our_message(payload_len);
    let their_msg = reference_message(payload_len);
    let mut ours_buf = BytesMut::with_capacity(frame);
    let mut their_buf = BytesMut::with_capacity(frame);
    let mut subjects = vec![
        Subject {
            label: "ours: Message::encode into BytesMut",
            run: Box::new(|| {
                black_box(encode_ours(&ours_msg, &mut ours_buf));
                None
            }),
        },
        Subject {
            label: "reference: write_message_to BytesMut",
            run: Box::new(|| {
                black_box(encode_reference(&their_msg, &mut their_buf));
                None
            }),
        },
    ];
    const ENCODES: u64 = 10_000;
    let allocs: Vec<f64> = subjects
        .iter_mut()
        .map(|s| {
            (s.run)();
            let ((), n) = counting::count_allocations(|| {
                for _ in 0..ENCODES {
                    (s.run)();
                }
            });
            n as f64 / ENCODES as f64
        })
        .collect();
    let timings = measure(&mut subjects);
    let best: Vec<f64> = timings.iter().map(Timing::best).collect();
    let case = format!("encode {}", size_label(payload_len));
    for (i, (subject, timing)) in subjects.iter().zip(&timings).enumerate() {
        let vs_reference = (i == 0).then(|| Ratio {
            value: best[1] / best[0],
            target: encode_target(payload_len),
        });
        rows.push(Row {
            case: case.clone(),
            label: subject.label,
            msgs_per_sec: 1.0 / best[i],
            mb_per_sec: frame as f64 / best[i] / 1e6,
            median_mb_per_sec: frame as f64 / timing.median() / 1e6,
            allocs: Some((allocs[i], None)),
            vs_reference,
            vs_floor: None,
        });
        if let Some(r) = vs_reference {
            ratio_verdict(
                format!("{case}: {} / reference", subject.label),
                r,
                verdicts,
            );
        }
    }
}

/// The issue's signing target: ours (`sign_to`, wire bytes) / the reference (`sign_message` +
/// `write_message_to`, wire bytes), at 64 B.
const SIGN_TARGET: f64 = 2.0;

/// Signing rows (64 B events); `Err` when the two chains disagree.
fn sign_case(rows: &mut Vec<Row>, verdicts: &mut Vec<Verdict>) -> Result<(), String> {
    let payload_len = SIGN_PAYLOAD_LEN;
    let label = size_label(payload_len);
    let case = format!("sign {label}");
    let times = bench_sign_times();
    let events = times.len();
    let envelope = envelope_len(payload_len);
    println!(
        "{case}: chain of {events} events (inner frame {} B, envelope {envelope} B), the time \
         advancing 1 s every {SIGN_ADVANCE_EVERY} events; each implementation continues its own \
         chain from pass to pass",
        frame_len(payload_len)
    );
    println!(
        "  ours / reference: ours sign_to and ours sign + encode vs reference sign_message + \
         write_message_to (both wire bytes); ours sign vs reference sign_message (envelope \
         message, not encoded)"
    );

    check_signing(&times)?;

    let ours_msg = our_message(payload_len);
    let their_msg = reference_message(payload_len);
    let reference = reference_signer();
    let (mut s_to, mut s_msg, mut s_enc) = (our_signer(), our_signer(), our_signer());
    let (mut prior_msg, mut prior_enc) = (SIGN_SEED.to_owned(), SIGN_SEED.to_owned());
    let mut bufs: Vec<BytesMut> = (0..3).map(|_| BytesMut::with_capacity(envelope)).collect();
    let [buf_to, buf_enc, buf_ref] = &mut bufs[..] else {
        unreachable!("three buffers")
    };
    let mut subjects = vec![
        Subject {
            label: "ours: sign_to into reused BytesMut",
            run: Box::new(|| {
                black_box(sign_ours_to(&mut s_to, &ours_msg, &times, buf_to));
                None
            }),
        },
        Subject {
            label: "ours: sign -> envelope Message",
            run: Box::new(|| {
                black_box(sign_ours(&mut s_msg, &ours_msg, &times));
                None
            }),
        },
        Subject {
            label: "ours: sign + Message::encode",
            run: Box::new(|| {
                black_box(sign_ours_encode(&mut s_enc, &ours_msg, &times, buf_enc));
                None
            }),
        },
        Subject {
            label: "reference: sign_message -> Message",
            run: Box::new(|| {
                black_box(sign_reference(
                    &reference,
                    &mut prior_msg,
                    &their_msg,
                    &times,
                ));
                None
            }),
        },
        Subject {
            label: "reference: sign_message + write_message_to",
            run: Box::new(|| {
                black_box(sign_reference_encode(
                    &reference,
                    &mut prior_enc,
                    &their_msg,
                    &times,
                    buf_ref,
                ));
                None
            }),
        },
    ];

    // One untimed pass each (warm-up), then the allocations of one pass of the chain.
    let allocs: Vec<f64> = subjects
        .iter_mut()
        .map(|s| {
            (s.run)();
            let (_, n) = counting::count_allocations(&mut s.run);
            n as f64 / events as f64
        })
        .collect();

    let timings = measure(&mut subjects);
    let best: Vec<f64> = timings.iter().map(Timing::best).collect();
    // Indices into `subjects`.
    let (ours_to, ours_sign, ours_encode, theirs_sign, theirs_encode) = (0, 1, 2, 3, 4);
    for (i, (subject, timing)) in subjects.iter().zip(&timings).enumerate() {
        // Each of ours against the reference row that produces the same thing.
        let against = |reference: usize, target: Option<f64>| {
            Some(Ratio {
                value: best[reference] / best[i],
                target,
            })
        };
        let vs_reference = if i == ours_to {
            against(theirs_encode, Some(SIGN_TARGET))
        } else if i == ours_encode {
            against(theirs_encode, None)
        } else if i == ours_sign {
            against(theirs_sign, None)
        } else {
            None
        };
        rows.push(Row {
            case: case.clone(),
            label: subject.label,
            msgs_per_sec: events as f64 / best[i],
            mb_per_sec: (envelope * events) as f64 / best[i] / 1e6,
            median_mb_per_sec: (envelope * events) as f64 / timing.median() / 1e6,
            allocs: Some((allocs[i], None)),
            vs_reference,
            vs_floor: None,
        });
        if i == ours_to {
            if let Some(r) = vs_reference {
                ratio_verdict(
                    format!(
                        "signing {label}: ours / reference (sign_to vs sign_message + \
                         write_message_to)"
                    ),
                    r,
                    verdicts,
                );
            }
        }
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<13} {:<42} {:>9} {:>8} {:>10} {:>16} {:>20} {:>31}",
        "case",
        "implementation",
        "msgs/s",
        "MB/s",
        "(median)",
        "allocs/msg",
        "ours / reference",
        "ours / floor"
    );
    println!("{}", "-".repeat(156));
    let mut last_case = "";
    for row in rows {
        if !last_case.is_empty() && last_case != row.case {
            println!();
        }
        last_case = &row.case;
        let allocs = match row.allocs {
            Some((a, Some(t))) => format!("{a:.2} (<= {t} {})", pass_miss(a <= t)),
            Some((a, None)) => format!("{a:.2}"),
            None => String::new(),
        };
        let vs_ref = row.vs_reference.map(Ratio::cell).unwrap_or_default();
        let vs_floor = row
            .vs_floor
            .map(|(floor, r)| format!("{floor}: {}", r.cell()))
            .unwrap_or_default();
        println!(
            "{:<13} {:<42} {:>9} {:>8.0} {:>10} {:>16} {:>20} {:>31}",
            row.case,
            row.label,
            si(row.msgs_per_sec),
            row.mb_per_sec,
            format!("({:.0})", row.median_mb_per_sec),
            allocs,
            vs_ref,
            vs_floor
        );
    }
}

/// `12.3 M`, `456.7 k`.
fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn main() -> ExitCode {
    // Counting is switched on only around what is counted (`count_allocations`).
    counting::set_enabled(false);
    println!(
        "eventstream (ours) vs aws-smithy-eventstream 0.61 (reference): frame layer; \
         vs aws-sigv4 1 (reference): event signing"
    );
    println!(
        "messages: 3 string headers (:message-type=event, :event-type=Chunk, \
         :content-type=application/octet-stream) + payload"
    );
    println!(
        "msgs/s and MB/s: fastest ~{:.0} ms batch of ~{:.0} s each, one batch of each \
         implementation per round; (median): median batch, MB/s; MB = 10^6 bytes of frames",
        BATCH_SECS * 1e3,
        SAMPLES as f64 * SAMPLE_SECS
    );
    println!(
        "ratios compare the fastest batches; floors report the msgs/s the same bytes would be \
         at; allocs/msg: heap allocations (alloc + realloc) over one pass / messages; sign rows: \
         msgs/s = signed events/s, MB = 10^6 bytes of envelope frames"
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", load.trim());
    }
    println!();

    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    let mut disagreements = Vec::new();
    let mut points = Vec::new();
    for payload_len in PAYLOAD_SIZES {
        if let Err(e) = decode_case(payload_len, &mut rows, &mut verdicts, &mut points) {
            eprintln!("DISAGREEMENT at {}: {e}", size_label(payload_len));
            disagreements.push(e);
        }
    }
    for payload_len in PAYLOAD_SIZES {
        encode_case(payload_len, &mut rows, &mut verdicts);
    }
    println!();
    if let Err(e) = sign_case(&mut rows, &mut verdicts) {
        eprintln!("DISAGREEMENT in signing: {e}");
        disagreements.push(e);
    }

    print_table(&rows);

    println!();
    println!("targets:");
    for v in &verdicts {
        println!(
            "  {}  {:<80} {:>8}  (target {})",
            pass_miss(v.pass),
            v.what,
            v.measured,
            v.target
        );
    }
    if !points.is_empty() {
        println!(
            "reference points (no target; see copy_crc_floor; round by round: the targets' \
             ratios taken per round instead of between the fastest batches):"
        );
        for p in &points {
            println!("  {p}");
        }
    }
    let passed = verdicts.iter().filter(|v| v.pass).count();
    println!(
        "{passed} of {} targets met (timings are informational: nothing fails on them)",
        verdicts.len()
    );

    if disagreements.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "the implementations disagree on {} case(s)",
            disagreements.len()
        );
        ExitCode::FAILURE
    }
}
