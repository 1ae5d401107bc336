//! Every stable error kind, in one place.
//!
//! Each error type of this project has a `kind()`: a stable `snake_case` name that the `evs`
//! command prints (`error: <kind>: <detail>`), that a server reports as `:error-code`, and that
//! tests and applications match on instead of on messages. An error that wraps another (a
//! session failure around a frame error, an adapter error around a session failure) has the
//! wrapped error's kind, so the same failure has the same kind at every layer and in every
//! adapter. [`KINDS`] lists them all with what each means; the README's "Error kinds" table is
//! the same list.
//!
//! | type | kinds |
//! |---|---|
//! | [`FrameError`](crate::frame::FrameError) | `truncated`, `prelude_checksum_mismatch`, `invalid_message_length`, `invalid_headers_length`, `headers_too_long`, `payload_too_long`, `too_many_headers`, `message_checksum_mismatch`, `invalid_header_name_length`, `invalid_header_value_type`, `invalid_header_value`, `invalid_utf8`, `duplicate_header` |
//! | [`EncodeError`](crate::frame::EncodeError) | `invalid_header_name_length`, `header_value_too_long`, `headers_too_long`, `payload_too_long`, `too_many_headers`, `message_too_long`, `buffer_too_small` |
//! | [`SignError`](crate::sign::SignError) | `signed_after_end`, or its encode error's kind |
//! | [`VerifyError`](crate::sign::VerifyError) | `signature_mismatch`, `invalid_envelope`, `frame_after_end`, `missing_end_frame`, `signature_expired`, or its frame error's kind |
//! | [`SeedError`](crate::sign::SeedError) | `no_signature`, `invalid_signature` |
//! | [`RequestSignError`](crate::sign::RequestSignError) | `invalid_http_header_value` |
//! | [`RequestVerifyError`](crate::sign::RequestVerifyError) | `missing_authorization`, `malformed_authorization`, `unsupported_algorithm`, `missing_signed_header`, `missing_date`, `invalid_date`, `request_expired`, `scope_mismatch`, `unknown_access_key`, `invalid_security_token`, `signature_does_not_match` |
//! | [`ProtocolError`](crate::session::ProtocolError) | `initial_response_after_events`, `initial_request_after_events`, `misdirected_initial_message`, `frame_after_end`, `unknown_message_type`, `missing_header` |
//! | [`SessionError`](crate::session::SessionError) | `reset`, or its frame, verify or protocol error's kind |
//! | [`SendError`](crate::session::SendError) | `finished`, `stream_over`, `aborted`, `not_allowed`, `initial_message_not_first`, `wrong_kind`, or its failure's or sign error's kind |
//! | the blocking and futures-io adapters' `Error` | `io`, `timed_out`, `clock_out_of_range`, `internal`, or the wrapped core error's kind |
//! | the tokio adapter's `Error` | `reset`, `go_away`, `connection_lost`, `h2`, `status`, `config`, `internal`, `timed_out`, `connect`, `clock_out_of_range`, `body`, `tls`, `invalid_pem`, `alpn_not_h2`, `credentials`, or the session failure's or refused command's kind |
//! | `evs` | the kinds above, and `io` (reading the input or writing the output failed), `time_out_of_range` (`evs sign`: a `--time` outside the years 0 to 9999) and `invalid_credentials_file` (`evs serve --credentials`: a file that is not a credentials file) |
//!
//! ```
//! use eventstream::frame::FrameDecoder;
//! use eventstream::kinds;
//!
//! let mut decoder = FrameDecoder::new();
//! decoder.handle_input(&[0, 0, 0, 16]);
//! let err = decoder.handle_end_of_input().unwrap_err();
//! assert_eq!(kinds::meaning(err.kind()), Some("the input ended inside a frame"));
//! ```

/// Every stable error kind and what it means, grouped by layer: frame, encode, sign, verify,
/// seed, request signing and verification, session, send, then the adapters' and `evs`'s own.
/// A kind shared by several error types (such as `headers_too_long`, from the decoder and the
/// encoder, or `frame_after_end`, from the verifier and the session) appears once.
pub const KINDS: &[(&str, &str)] = &[
    // Frames from the peer (`FrameError`).
    ("truncated", "the input ended inside a frame"),
    (
        "prelude_checksum_mismatch",
        "the CRC-32 of a frame's bytes 0..8 differs from its bytes 8..12",
    ),
    (
        "invalid_message_length",
        "a frame's declared total length is below 16",
    ),
    (
        "invalid_headers_length",
        "a frame's declared headers length is greater than its total length minus 16",
    ),
    (
        "headers_too_long",
        "a header block is longer than the configured limit (decoding or encoding)",
    ),
    (
        "payload_too_long",
        "a payload is longer than the configured limit (decoding or encoding)",
    ),
    (
        "too_many_headers",
        "a message has more headers than the configured limit (decoding or encoding)",
    ),
    (
        "message_checksum_mismatch",
        "a frame's trailing CRC-32 is wrong",
    ),
    (
        "invalid_header_name_length",
        "a header name is empty, runs past the header block, or (encoding) is longer than 255 bytes",
    ),
    (
        "invalid_header_value_type",
        "a header's type code is not one of 0 to 9",
    ),
    (
        "invalid_header_value",
        "a header value or its length runs past the header block, or is over 32,767 bytes",
    ),
    (
        "invalid_utf8",
        "a header name or string value is not UTF-8",
    ),
    (
        "duplicate_header",
        "a header name repeats in one message (only with `FrameDecoder::reject_duplicate_headers`)",
    ),
    // Messages that cannot be encoded (`EncodeError`; see also the limits above).
    (
        "header_value_too_long",
        "a string or byte array value to encode is longer than 32,767 bytes",
    ),
    (
        "message_too_long",
        "a frame to encode would be longer than the wire's `u32` length allows (4,294,967,295 bytes)",
    ),
    (
        "buffer_too_small",
        "a fixed-size buffer has no room for the whole frame",
    ),
    // Signing (`SignError`).
    (
        "signed_after_end",
        "the end frame was already signed: nothing more can be signed on that stream",
    ),
    // Verifying a signed stream (`VerifyError`).
    (
        "signature_mismatch",
        "the signing chain is broken (a tampered, dropped, reordered, replayed or injected frame, or other credentials or seed)",
    ),
    (
        "invalid_envelope",
        "a signed envelope lacks or has a malformed `:date` or `:chunk-signature`, or its payload is not one whole frame",
    ),
    (
        "frame_after_end",
        "a frame arrived after the end frame (signed or not)",
    ),
    (
        "missing_end_frame",
        "a signed stream ended without its end frame",
    ),
    (
        "signature_expired",
        "an envelope's `:date` is further from the receiver's time than the allowed clock skew",
    ),
    // The seed signature (`SeedError`).
    (
        "no_signature",
        "an `Authorization` header has no `Signature=` parameter",
    ),
    (
        "invalid_signature",
        "an `Authorization` header's signature is not 64 hex digits",
    ),
    // Signing a request (`RequestSignError`) and verifying one (`RequestVerifyError`).
    (
        "invalid_http_header_value",
        "a header the request signer adds (a session token, say) cannot be an HTTP header value",
    ),
    (
        "missing_authorization",
        "a signed request was expected and the request has no `Authorization` header",
    ),
    (
        "malformed_authorization",
        "the `Authorization` header is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`, or appears twice",
    ),
    (
        "unsupported_algorithm",
        "the `Authorization` header names a signing algorithm other than `AWS4-HMAC-SHA256`",
    ),
    (
        "missing_signed_header",
        "a header that `SignedHeaders` names is not in the request",
    ),
    (
        "missing_date",
        "a signed request has no `x-amz-date` header",
    ),
    (
        "invalid_date",
        "a request's `x-amz-date` is not a `YYYYMMDDTHHMMSSZ` time, or appears twice",
    ),
    (
        "request_expired",
        "a request's `x-amz-date` is further from the verifier's time than the allowed clock skew (5 minutes by default)",
    ),
    (
        "scope_mismatch",
        "a request's credential scope has another date than its `x-amz-date`, another region or service than the verifier's, or a terminator other than `aws4_request`",
    ),
    (
        "unknown_access_key",
        "the request verifier knows no secret for the request's access key id",
    ),
    (
        "invalid_security_token",
        "the access key's credentials are temporary and the request's `x-amz-security-token` is missing or not their session token",
    ),
    (
        "signature_does_not_match",
        "a request's signature is not the one recomputed from the request and the secret",
    ),
    // The peer's sequence (`ProtocolError`) and the session (`SessionError`).
    (
        "initial_response_after_events",
        "an RPC client received `initial-response` after events",
    ),
    (
        "initial_request_after_events",
        "an RPC server received `initial-request` after events",
    ),
    (
        "misdirected_initial_message",
        "`initial-request` arrived at a client, or `initial-response` at a server",
    ),
    (
        "unknown_message_type",
        "`:message-type` is not `event`, `exception` or `error`",
    ),
    (
        "missing_header",
        "a header the message's kind requires is missing or not a string",
    ),
    (
        "reset",
        "the stream was reset: by the transport (`Session::handle_reset`) or by the peer (HTTP/2 `RST_STREAM`)",
    ),
    // Commands the session refused (`SendError`).
    (
        "finished",
        "our side of the stream is closed: `finish`, an exception or an error was sent",
    ),
    (
        "stream_over",
        "the peer ended the stream with an exception or an error",
    ),
    ("aborted", "the stream was aborted"),
    (
        "not_allowed",
        "this end of the stream, or this mode, cannot send that (an exception from a client, an initial message in HTTP-binding mode)",
    ),
    (
        "initial_message_not_first",
        "an initial message must be the first message sent",
    ),
    (
        "wrong_kind",
        "the message is not of the kind the command sends",
    ),
    // The adapters and `evs`.
    (
        "io",
        "the transport failed (an I/O error), or `evs` could not read its input or write its output",
    ),
    (
        "timed_out",
        "a deadline passed: a blocking read's timeout, a server's handshake or keepalive deadline, or a client's connect, open or response timeout",
    ),
    (
        "clock_out_of_range",
        "the system clock is outside the years 0 to 9999, which SigV4 dates cannot express",
    ),
    (
        "internal",
        "an invariant of the adapter did not hold (a bug): the stream was failed rather than left to hang",
    ),
    (
        "go_away",
        "the peer is closing the HTTP/2 connection (`GOAWAY`) and will not process the stream",
    ),
    (
        "connection_lost",
        "the HTTP/2 connection was lost: an I/O error, or closed without `GOAWAY`",
    ),
    (
        "h2",
        "another HTTP/2 error: a protocol error detected locally, or a misuse of the connection",
    ),
    ("status", "the server answered with a status other than 200 OK"),
    ("config", "the configuration cannot work"),
    ("connect", "connecting failed"),
    (
        "body",
        "an HTTP body failed: its connection was lost, or it was malformed or incomplete",
    ),
    (
        "tls",
        "TLS failed: a handshake (an untrusted certificate, no ALPN `h2`, no common version or cipher suite) or a configuration rustls refused",
    ),
    (
        "invalid_pem",
        "a PEM input holds no certificate or no private key where one is needed, or a malformed block",
    ),
    (
        "alpn_not_h2",
        "the server of an `https://` URI did not select HTTP/2 with ALPN (another protocol, none, or a refusal)",
    ),
    (
        "credentials",
        "the credentials provider could not give credentials for a signed request",
    ),
    (
        "time_out_of_range",
        "`evs sign`: a time given on the command line is outside the years 0 to 9999",
    ),
    (
        "invalid_credentials_file",
        "`evs serve`: the credentials file cannot be parsed (a line without an access key id and a secret, an access key id twice, no credentials at all); the detail names the line",
    ),
];

/// What `kind` means, if it is one of [`KINDS`].
pub fn meaning(kind: &str) -> Option<&'static str> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|&(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::KINDS;

    #[test]
    fn each_kind_once_in_snake_case() {
        for (i, (kind, meaning)) in KINDS.iter().enumerate() {
            assert!(
                kind.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()),
                "{kind}"
            );
            assert!(!meaning.is_empty(), "{kind}");
            assert!(
                KINDS[..i].iter().all(|(k, _)| k != kind),
                "{kind} appears twice"
            );
        }
    }
}
