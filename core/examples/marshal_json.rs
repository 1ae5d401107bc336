//! Marshal and unmarshal an application's own events, with serde_json payloads.
//!
//! A transcription-style client sends `AudioEvent`s and `ConfigurationEvent`s and receives
//! `TranscriptEvent`s; each event type is one variant of an enum, dispatched on `:event-type`.
//! An event type the application does not know is surfaced as `Unmarshalled::Unknown`, not dropped.
//!
//! Run it with `cargo run -p eventstream --example marshal_json`.

use eventstream::frame::Message;
use eventstream::session::{
    EventBuilder, Marshal, MarshalError, Mode, Role, Session, SessionConfig, SessionEvent,
    Transmit, Unmarshal, Unmarshalled,
};
use eventstream::sign::SigningTime;
use serde::{Deserialize, Serialize};

/// The JSON body of a `ConfigurationEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration {
    language_code: String,
    sample_rate: u32,
}

/// The JSON body of a `TranscriptEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Transcript {
    text: String,
    is_partial: bool,
}

/// Every event of this imaginary operation, in both directions.
#[derive(Debug, Clone, PartialEq)]
enum StreamEvent {
    /// Raw audio: a binary payload, no JSON.
    Audio(Vec<u8>),
    /// Configuration, as JSON.
    Configuration(Configuration),
    /// A transcript, as JSON.
    Transcript(Transcript),
}

fn json_event<T: Serialize>(event_type: &'static str, body: &T) -> Result<Message, MarshalError> {
    let payload = serde_json::to_vec(body).map_err(MarshalError::new)?;
    Ok(EventBuilder::new(event_type)
        .content_type("application/json")
        .payload(payload)
        .build())
}

fn from_json<T: for<'de> Deserialize<'de>>(message: &Message) -> Result<T, MarshalError> {
    serde_json::from_slice(message.payload()).map_err(MarshalError::new)
}

impl Marshal for StreamEvent {
    fn marshal(&self) -> Result<Message, MarshalError> {
        match self {
            StreamEvent::Audio(chunk) => Ok(EventBuilder::new("AudioEvent")
                .content_type("application/octet-stream")
                .payload(chunk.clone())
                .build()),
            StreamEvent::Configuration(c) => json_event("ConfigurationEvent", c),
            StreamEvent::Transcript(t) => json_event("TranscriptEvent", t),
        }
    }
}

impl Unmarshal for StreamEvent {
    fn unmarshal(message: &Message) -> Result<Unmarshalled<Self>, MarshalError> {
        Ok(match message.header_str(":event-type") {
            Some("AudioEvent") => {
                Unmarshalled::Known(StreamEvent::Audio(message.payload().to_vec()))
            }
            Some("ConfigurationEvent") => {
                Unmarshalled::Known(StreamEvent::Configuration(from_json(message)?))
            }
            Some("TranscriptEvent") => {
                Unmarshalled::Known(StreamEvent::Transcript(from_json(message)?))
            }
            other => Unmarshalled::Unknown {
                event_type: other.map(String::from),
                message: message.clone(),
            },
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = SigningTime::from_unix_seconds(1_700_000_000)?;
    let mut server = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
    let mut client = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));

    // The server sends two transcripts and an event type this client version does not know.
    for (text, is_partial) in [("hel", true), ("hello", false)] {
        let event = StreamEvent::Transcript(Transcript {
            text: text.into(),
            is_partial,
        });
        server.send(event.marshal()?, now)?;
    }
    server.send(
        EventBuilder::new("LanguageIdentificationEvent").build(),
        now,
    )?;
    server.finish(now)?;

    let mut wire = bytes::BytesMut::new();
    let mut ended = false;
    while let Some(t) = server.poll_transmit(&mut wire) {
        ended |= t == Transmit::Finish;
    }
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let n = client.handle_input(rest, eventstream::sign::SigningTime::EPOCH);
        rest = &rest[n..];
        drain(&mut client)?;
    }
    if ended {
        client.handle_end_of_input(eventstream::sign::SigningTime::EPOCH);
    }
    drain(&mut client)?;

    // And the other direction: what a client would marshal.
    let config = StreamEvent::Configuration(Configuration {
        language_code: "en-US".into(),
        sample_rate: 16_000,
    });
    let message = config.marshal()?;
    assert_eq!(
        StreamEvent::unmarshal(&message)?,
        Unmarshalled::Known(config)
    );
    println!(
        "ConfigurationEvent payload: {}",
        String::from_utf8_lossy(message.payload())
    );
    Ok(())
}

fn drain(client: &mut Session) -> Result<(), MarshalError> {
    while let Some(event) = client.poll_event() {
        match event {
            SessionEvent::Event(message) => match StreamEvent::unmarshal(&message)? {
                Unmarshalled::Known(event) => println!("event: {event:?}"),
                Unmarshalled::Unknown { event_type, .. } => {
                    println!("unknown event type: {event_type:?}")
                }
            },
            other => println!("session: {other:?}"),
        }
    }
    Ok(())
}
