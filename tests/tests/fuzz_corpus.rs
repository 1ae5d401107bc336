//! Replays the committed fuzz corpus through the fuzz target bodies (`eventstream_tests::fuzz`),
//! on stable, in `cargo test`: every file under `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`. A failing input is named with its path and its panic.
//!
//! `cargo test -p eventstream-tests --test fuzz_corpus -- --ignored write_seed_corpus` rewrites
//! the hand-made seeds (`seed-*` files) from the conformance vectors and a fixed RNG; see
//! `fuzz/README.md`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use eventstream::frame::{Limits, Message};
use eventstream_testkit::hex::from_hex;
use eventstream_testkit::SplitMix64;
use eventstream_tests::fuzz::{self, DecodeSetup};
use eventstream_tests::sigv4::{sign_chain, Keys, Setup};
use eventstream_tests::{encode_all, frames_dir, read_vector_json};

/// `fuzz/` at the project's root.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs every corpus and regression file of `target` through `body`.
fn replay(target: &str, body: fn(&[u8])) {
    let corpus = files_under(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "no corpus files for {target} under {}",
        fuzz_dir().display()
    );
    let regressions = files_under(&fuzz_dir().join("regressions").join(target));
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            failures.push(format!("{}: {}", path.display(), panic_text(&*panic)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs failed:\n{}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n")
    );
}

#[test]
fn decode_corpus() {
    replay("decode", fuzz::decode);
}

#[test]
fn round_trip_corpus() {
    replay("round_trip", fuzz::round_trip);
}

#[test]
fn session_corpus() {
    replay("session", fuzz::session);
}

#[test]
fn verify_corpus() {
    replay("verify", fuzz::verify);
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// Every frame of the conformance vectors (raw files and `encoded_hex` of the JSON sets; not the
/// 24 MiB constructions), named.
fn vector_frames() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in [
        "aws-sdk-go/encoded/positive",
        "aws-sdk-go/encoded/negative",
        "smithy-rs/test_data",
    ] {
        for path in files_under(&frames_dir().join(sub)) {
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            let set = sub.split('/').next().expect("a set");
            out.push((
                format!("{set}-{name}"),
                std::fs::read(&path).expect("reads"),
            ));
        }
    }
    for set in ["aws-c-event-stream.json", "botocore.json"] {
        let json = read_vector_json(&format!("frames/{set}"));
        let vectors = json["vectors"].as_array().expect("vectors");
        for (i, v) in vectors.iter().enumerate() {
            if let Some(hex) = v["encoded_hex"].as_str() {
                let stem = set.trim_end_matches(".json");
                out.push((format!("{stem}-{i}"), from_hex(hex).expect("hex")));
            }
        }
    }
    out
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Writes the hand-made seeds into `fuzz/corpus/<target>/seed-*`.
#[test]
#[ignore = "rewrites the seed corpus; run by hand (see fuzz/README.md)"]
fn write_seed_corpus() {
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("creates the corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), data).expect("writes a seed");
    };

    // decode: every vector frame, fed in 7-byte reads; a few streams in several plans.
    let frames = vector_frames();
    let sevens = DecodeSetup::parse(&[0, 0]).0;
    for (name, frame) in &frames {
        write("decode", name, &sevens.encode(frame));
    }
    let positives: Vec<Message> = ["all_headers", "int32_header", "payload_one_str_header"]
        .iter()
        .map(|n| {
            let raw = std::fs::read(frames_dir().join("aws-sdk-go/encoded/positive").join(n))
                .expect("reads");
            eventstream_tests::decode_all(&raw).messages.remove(0)
        })
        .collect();
    let stream = encode_all(&positives);
    let mut truncated = stream.to_vec();
    truncated.truncate(stream.len() - 5);
    let setup = Setup::new(
        Keys::new("AKIDEXAMPLE", "secret"),
        "us-east-1",
        "demo",
        "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b",
    );
    let chain = sign_chain(
        &mut setup.signer(),
        &positives,
        &[1_700_000_000, 1_700_000_001, 1_700_000_002, 1_700_000_003],
        None,
    );
    let signed = encode_all(&chain);
    let plans = [
        ("whole", vec![(1 << 10, false, true)]),
        ("ones", vec![(1, false, true)]),
        (
            "mixed",
            vec![(5, true, true), (13, false, false), (64, true, true)],
        ),
    ];
    for (stream_name, bytes) in [
        ("three-frames", &stream[..]),
        ("three-frames-truncated", &truncated[..]),
        ("signed-chain", &signed[..]),
    ] {
        for (plan_name, plan) in &plans {
            let decode_setup = DecodeSetup {
                reject_duplicates: false,
                limits: Limits::DEFAULT,
                finish_before_drain: *plan_name == "mixed",
                plan: plan.clone(),
            };
            write(
                "decode",
                &format!("{stream_name}-{plan_name}"),
                &decode_setup.encode(bytes),
            );
        }
    }
    // A message with every header type, re-encoded through the encoder.
    let mut one = BytesMut::new();
    positives[0].encode(&mut one).expect("encodes");
    write("decode", "all-headers-dup-reject", &{
        let mut d = DecodeSetup::parse(&[1, 0]).0.encode(&one);
        d.extend_from_slice(&one);
        d
    });

    // The others read their inputs with `Unstructured`: random bytes, with a few fixed first
    // bytes (the session's flags: mode, signing per direction, small limits, skew, reports).
    for i in 0..8u64 {
        write(
            "round_trip",
            &format!("random-{i}"),
            &random_bytes(i, 64 << i),
        );
        write(
            "verify",
            &format!("random-{i}"),
            &random_bytes(100 + i, 48 << (i % 5)),
        );
    }
    for (i, flags) in [0x00u8, 0x01, 0x02, 0x0a, 0x0c, 0x80, 0x22, 0x42, 0x8b, 0x15]
        .into_iter()
        .enumerate()
    {
        let mut data = vec![flags];
        data.extend(random_bytes(200 + i as u64, 400));
        write("session", &format!("flags-{flags:02x}"), &data);
    }
}
