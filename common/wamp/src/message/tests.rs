//! Codec tests: every message type round-trips through its JSON form, frames captured from the
//! wire decode as expected, and malformed frames are rejected with an error instead of a panic.

use serde_json::{Value, json};

use super::{CodecError, Dict, MAX_ID, Message};

fn obj(value: Value) -> Dict {
    value.as_object().cloned().expect("test dictionary")
}

/// Encodes `message`, checks the JSON is `expected`, and decodes it back to the same message.
fn check(message: Message, expected: Value) {
    let encoded = message.to_value();
    assert_eq!(encoded, expected, "encoding of {message:?}");
    let decoded = Message::from_json(&message.to_json()).expect("decodes");
    assert_eq!(decoded, message);
}

#[test]
fn hello_welcome_abort_goodbye() {
    check(
        Message::Hello {
            realm: "buildbot".into(),
            details: obj(json!({"roles": {"subscriber": {}}})),
        },
        json!([1, "buildbot", {"roles": {"subscriber": {}}}]),
    );
    check(
        Message::Welcome {
            session: 4242,
            details: obj(json!({"realm": "buildbot"})),
        },
        json!([2, 4242, {"realm": "buildbot"}]),
    );
    check(
        Message::Abort {
            details: obj(json!({"message": "no realm"})),
            reason: "wamp.error.no_such_realm".into(),
        },
        json!([3, {"message": "no realm"}, "wamp.error.no_such_realm"]),
    );
    check(
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        },
        json!([6, {}, "wamp.close.close_realm"]),
    );
}

#[test]
fn pubsub_messages() {
    check(
        Message::Subscribe {
            request: 1,
            options: obj(json!({"match": "prefix"})),
            topic: "org.buildbot.mq.".into(),
        },
        json!([32, 1, {"match": "prefix"}, "org.buildbot.mq."]),
    );
    check(
        Message::Subscribed {
            request: 1,
            subscription: 77,
        },
        json!([33, 1, 77]),
    );
    check(
        Message::Unsubscribe {
            request: 2,
            subscription: 77,
        },
        json!([34, 2, 77]),
    );
    check(
        Message::Unsubscribed {
            request: 2,
            details: None,
        },
        json!([35, 2]),
    );
    check(
        Message::Unsubscribed {
            request: 0,
            details: Some(obj(json!({"subscription": 77}))),
        },
        json!([35, 0, {"subscription": 77}]),
    );
    check(
        Message::Publish {
            request: 3,
            options: obj(json!({"acknowledge": true})),
            topic: "org.buildbot.mq.builds.1.new".into(),
            args: vec![json!({"buildid": 1})],
            kwargs: Dict::new(),
        },
        json!([16, 3, {"acknowledge": true}, "org.buildbot.mq.builds.1.new", [{"buildid": 1}]]),
    );
    check(
        Message::Published {
            request: 3,
            publication: 99,
        },
        json!([17, 3, 99]),
    );
    check(
        Message::Event {
            subscription: 77,
            publication: 99,
            details: obj(json!({"topic": "org.buildbot.mq.builds.1.new"})),
            args: vec![],
            kwargs: obj(json!({"k": 1})),
        },
        // Keyword arguments without positional ones still need the (empty) list before them.
        json!([36, 77, 99, {"topic": "org.buildbot.mq.builds.1.new"}, [], {"k": 1}]),
    );
}

#[test]
fn rpc_and_error_messages() {
    check(
        Message::Call {
            request: 4,
            options: Dict::new(),
            procedure: "wamp.session.count".into(),
            args: vec![],
            kwargs: Dict::new(),
        },
        json!([48, 4, {}, "wamp.session.count"]),
    );
    check(
        Message::Result {
            request: 4,
            details: Dict::new(),
            args: vec![json!(2)],
            kwargs: Dict::new(),
        },
        json!([50, 4, {}, [2]]),
    );
    check(
        Message::Error {
            request_type: 48,
            request: 5,
            details: Dict::new(),
            error: "wamp.error.no_such_procedure".into(),
            args: vec![json!("no callee registered")],
            kwargs: obj(json!({"x": true})),
        },
        json!([8, 48, 5, {}, "wamp.error.no_such_procedure", ["no callee registered"], {"x": true}]),
    );
}

#[test]
fn decodes_a_crossbar_event_without_payload_fields() {
    let message = Message::from_json(r#"[36, 5, 6, {}]"#).expect("decodes");
    assert_eq!(
        message,
        Message::Event {
            subscription: 5,
            publication: 6,
            details: Dict::new(),
            args: vec![],
            kwargs: Dict::new()
        }
    );
}

#[test]
fn rejects_malformed_frames() {
    let cases: &[(&str, CodecError)] = &[
        ("not json", CodecError::Json(String::new())),
        (r#"{"a": 1}"#, CodecError::NotAnArray),
        ("[]", CodecError::NotAnArray),
        (r#"["36"]"#, CodecError::NotAnArray),
        ("[-1]", CodecError::NotAnArray),
        ("[999, 1]", CodecError::UnknownType(999)),
        (
            "[2]",
            CodecError::BadField {
                code: 2,
                index: 1,
                problem: "",
            },
        ),
        (
            r#"[2, "x", {}]"#,
            CodecError::BadField {
                code: 2,
                index: 1,
                problem: "",
            },
        ),
        (
            "[2, 1.5, {}]",
            CodecError::BadField {
                code: 2,
                index: 1,
                problem: "",
            },
        ),
        (
            r#"[2, 1, []]"#,
            CodecError::BadField {
                code: 2,
                index: 2,
                problem: "",
            },
        ),
        (
            r#"[3, {}, ""]"#,
            CodecError::BadField {
                code: 3,
                index: 2,
                problem: "",
            },
        ),
        (
            r#"[36, 1, 2, {}, {"not": "a list"}]"#,
            CodecError::BadField {
                code: 36,
                index: 4,
                problem: "",
            },
        ),
        (
            r#"[50, 1, {}, [], []]"#,
            CodecError::BadField {
                code: 50,
                index: 4,
                problem: "",
            },
        ),
        (
            r#"[8, 48, 1, {}]"#,
            CodecError::BadField {
                code: 8,
                index: 4,
                problem: "",
            },
        ),
    ];
    for (frame, expected) in cases {
        let error = Message::from_json(frame).expect_err(frame);
        // Compare the kind and position, not the human wording.
        match (&error, expected) {
            (CodecError::Json(_), CodecError::Json(_)) => {}
            (
                CodecError::BadField { code, index, .. },
                CodecError::BadField {
                    code: c, index: i, ..
                },
            ) => {
                assert_eq!((code, index), (c, i), "frame {frame}: {error}");
            }
            _ => assert_eq!(&error, expected, "frame {frame}"),
        }
    }
}

#[test]
fn ids_above_2_pow_53_are_rejected() {
    assert!(Message::from_json(&format!("[33, 1, {MAX_ID}]")).is_ok());
    let error = Message::from_json(&format!("[33, 1, {}]", MAX_ID + 1)).expect_err("too large");
    assert!(
        matches!(
            error,
            CodecError::BadField {
                code: 33,
                index: 2,
                ..
            }
        ),
        "{error}"
    );
}
