//! The log scan on literal `twistd.log` text, shaped as Twisted 24 and Buildbot 4.3 write it.

use super::*;

/// 2023-11-14 22:13:20 UTC.
const SINCE: i64 = 1_700_000_000;

fn scan(text: &str) -> LogSignals {
    let mut scan = LogScan::new(SINCE);
    scan.feed(text);
    scan.finish()
}

#[test]
fn stamps_are_read_in_their_zone() {
    assert_eq!(stamp("2023-11-14 22:13:20+0000 [-] x"), Some(SINCE));
    assert_eq!(stamp("2023-11-14 23:13:20+0100 [-] x"), Some(SINCE));
    assert_eq!(stamp("2023-11-14 17:13:20-0500 [-] x"), Some(SINCE));
    assert_eq!(stamp("1999-12-31 23:59:59-0530 [-] x"), Some(946_704_599));
    assert_eq!(stamp("2024-02-29 12:00:00+0000 [-] x"), Some(1_709_208_000));
    assert_eq!(stamp("1970-01-01 00:00:00+0000 [-] x"), Some(0));
}

#[test]
fn lines_without_a_whole_stamp_are_not_stamped() {
    for line in [
        "",
        "\tTraceback (most recent call last):",
        "\t  File \"/venv/lib/python3.11/site-packages/buildbot/master.py\", line 1, in f",
        "2023-11-14 22:13:20+0000",
        "2023-11-14 22:13:20 [-] no offset",
        "2023-11-14T22:13:20+0000 [-] iso",
        "2023-13-14 22:13:20+0000 [-] month 13",
        "2023-11-14 24:13:20+0000 [-] hour 24",
        "2023-11-14 22:13:20*0000 [-] no sign",
        "2023-11-14 22:13:2x+0000 [-] not a digit",
    ] {
        assert_eq!(stamp(line), None, "{line:?}");
    }
}

/// An unhandled error in a reconfig, as Twisted's `log.err` writes a `Failure`: frames indented
/// beyond the TAB, the exception line not.
const RECONFIG_FAILED: &str = "\
2023-11-14 22:13:25+0000 [-] during reconfig:
\tTraceback (most recent call last):
\t  File \"/venv/lib/python3.11/site-packages/twisted/internet/defer.py\", line 2013, in _inlineCallbacks
\t    result = context.run(gen.send, result)
\t--- <exception caught here> ---
\t  File \"/venv/lib/python3.11/site-packages/buildbot/master.py\", line 433, in doReconfig
\t    yield self.reconfigServiceWithBuildbotConfig(new_config)
\t  File \"/venv/lib/python3.11/site-packages/buildbot/util/service.py\", line 170, in reconfigServiceWithBuildbotConfig
\t    raise RuntimeError(\"boom\")
\tbuiltins.RuntimeError: boom
\t
2023-11-14 22:13:25+0000 [-] WARNING: configuration update partially applied; master may malfunction (took 0.412 seconds)
";

#[test]
fn a_traceback_counts_once_with_its_exception_line_as_evidence() {
    let signals = scan(RECONFIG_FAILED);
    assert!(signals.readable);
    assert_eq!(signals.tracebacks, 1);
    assert_eq!(signals.reconfig_partial, 1);
    assert_eq!(signals.wamp_lost, 0);
    assert_eq!(
        signals.evidence,
        [
            "2023-11-14 22:13:25+0000 builtins.RuntimeError: boom",
            "2023-11-14 22:13:25+0000 [-] WARNING: configuration update partially applied; \
             master may malfunction (took 0.412 seconds)",
        ]
    );
}

#[test]
fn entries_before_since_count_nothing_whatever_their_continuation_lines_say() {
    let text = "\
2023-11-14 22:13:19+0000 [-] Unhandled Error
\tTraceback (most recent call last):
\t  File \"/venv/lib/python3.11/site-packages/buildbot/wamp/connector.py\", line 115, in publish
\tbuiltins.RuntimeError: before
\tconfiguration update partially applied
2023-11-14 23:13:19+0100 [-] Guru meditation! We have been disconnected from wamp server
2023-11-14 23:13:20+0100 [-] Guru meditation! We have been disconnected from wamp server
";
    let signals = scan(text);
    assert_eq!(
        (
            signals.tracebacks,
            signals.reconfig_partial,
            signals.wamp_lost
        ),
        (0, 0, 1),
        "only the +0100 entry of 22:13:20 UTC counts"
    );
    assert_eq!(
        signals.evidence,
        [
            "2023-11-14 23:13:20+0100 [-] Guru meditation! We have been disconnected from wamp server"
        ]
    );
}

#[test]
fn a_signal_on_a_continuation_line_belongs_to_the_entry_above() {
    let text = "\
2023-11-14 22:14:00+0000 [-] reconfig said:
\tWARNING: configuration update partially applied
\tand more
";
    let signals = scan(text);
    assert_eq!(signals.reconfig_partial, 1);
    assert_eq!(
        signals.evidence,
        ["2023-11-14 22:14:00+0000 WARNING: configuration update partially applied"]
    );
}

#[test]
fn a_failed_publish_is_a_lost_router_and_a_traceback() {
    let text = "\
2023-11-14 22:15:00+0000 [-] while publishing event ('builds', '12', 'new')
\tTraceback (most recent call last):
\t  File \"/venv/lib/python3.11/site-packages/buildbot/wamp/connector.py\", line 115, in publish
\t    ret = yield service.publish(topic, data, options=options)
\tautobahn.wamp.exception.TransportLost: failed to complete connection
\t
2023-11-14 22:15:01+0000 [-] BuildMaster is running
";
    let signals = scan(text);
    assert_eq!((signals.tracebacks, signals.wamp_lost), (1, 1));
    assert_eq!(
        signals.evidence,
        [
            "2023-11-14 22:15:00+0000 [-] while publishing event ('builds', '12', 'new')",
            "2023-11-14 22:15:00+0000 autobahn.wamp.exception.TransportLost: failed to complete \
             connection",
        ]
    );
}

#[test]
fn a_traceback_header_on_the_stamped_line_is_its_own_evidence() {
    let text = "2023-11-14 22:16:00+0000 [stderr#error] Traceback (most recent call last):\n";
    let signals = scan(text);
    assert_eq!(signals.tracebacks, 1);
    assert_eq!(signals.evidence, [text.trim_end()]);
}

#[test]
fn lines_before_the_first_stamp_continue_an_unknown_entry_and_are_skipped() {
    let text = "\
\tTraceback (most recent call last):
\tbuiltins.RuntimeError: cut off
2023-11-14 22:17:00+0000 [-] configuration update complete (took 0.1 seconds)
";
    let signals = scan(text);
    assert_eq!(
        signals,
        LogSignals {
            readable: true,
            ..LogSignals::default()
        }
    );
}

#[test]
fn evidence_stops_at_twenty_lines_while_counting_goes_on_across_texts() {
    let mut scan = LogScan::new(SINCE);
    let line = "2023-11-14 22:18:00+0000 [-] Guru meditation! We have been disconnected from \
                wamp server\n";
    scan.feed(&line.repeat(15));
    scan.feed(&format!("{}\n", line.repeat(15)));
    let signals = scan.finish();
    assert_eq!(signals.wamp_lost, 30);
    assert_eq!(signals.evidence.len(), MAX_EVIDENCE);
}

#[test]
fn a_long_evidence_line_is_cut() {
    let text = format!(
        "2023-11-14 22:19:00+0000 [-] while publishing event {}\n",
        "x".repeat(1000)
    );
    let signals = scan(&text);
    assert_eq!(signals.evidence[0].chars().count(), MAX_EVIDENCE_CHARS);
}
