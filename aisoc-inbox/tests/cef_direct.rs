//! CEF lines are mapped to OCSF without building their JSON payload
//! (`YamlTemplate::write_cef_json`, issue #17). The old path is the oracle: the payload as
//! `CefEvent::to_json` builds it, mapped by `YamlTemplate::write_json`. Both must write the
//! same bytes for every line of a varied corpus (escapes, unicode, empty values, labels,
//! repeated keys, numbers, every severity, strings past the length cap), for every bundled
//! template and for templates that read the payload in the less usual ways (whole objects,
//! labels, numeric keys, `skip_when`, rejected and incomplete values, a stamped object mapped
//! whole), and for generated lines. Through the pipeline, the CEF route publishes what the old
//! path gives, with the same dropped count.

mod support;

use std::sync::LazyLock;

use aisoc_inbox::InboxRoute;
use aisoc_inbox::cef::{self, CefEvent};
use aisoc_inbox::template::{BUNDLED, MAX_STRING_BYTES, WriteError, YamlTemplate};
use aisoc_inbox::token::mint;
use aisoc_notify_core::inbox_template::IngestContext;
use aisoc_notify_core::secret::ExposeSecret;
use proptest::prelude::*;
use serde_json::Value;

/// Templates that read a CEF payload in ways the bundled ones do not.
const UNUSUAL: [(&str, &str); 8] = [
    (
        "whole-objects.yaml",
        "id: whole-objects\nvendor_name: V\nproduct_name: P\nfield_map:\n  extensions: message\n  labels: finding_info.desc\n  cef_version: finding_info.title\n  severity_id: status\nseverity_field: severity\nseverity_map: { low: 2, medium: 3, high: 4, very-high: 5, \"10\": 5, \"0\": 1 }\ntime_field: extensions\n",
    ),
    (
        "members.yaml",
        "id: members\nvendor_name: V\nproduct_name: P\nfield_map:\n  labels.zone: finding_info.desc\n  labels.auth method: finding_info.title\n  extensions.0: message\n  extensions.src.x: status\n  name.0: finding_info.uid\n  extensions.cs1Label: finding_info.src_url\n  syslog_prefix: metadata.product.version\nseverity_field: labels.priority\nseverity_map: { p1: 5, p2: 4 }\ndefault_severity_id: 1\ntime_field: extensions.end\n",
    ),
    (
        "rejected.yaml",
        "id: rejected\nvendor_name: V\nproduct_name: P\nfield_map:\n  extensions.score: vulnerabilities.0.cve.cvss.0.base_score\n  extensions.vector: vulnerabilities.0.cve.cvss.0.vector_string\n  extensions.cve: vulnerabilities.0.cve.uid\n  extensions.start: finding_info.created_time\n  extensions.spt: finding_info.types.3\n  extensions.msg: message\nseverity_field: severity_id\nseverity_map: { \"2\": 2, \"5\": 5 }\ntime_field: cef_version\n",
    ),
    (
        "stamped-whole.yaml",
        "id: stamped-whole\nvendor_name: V\nproduct_name: P\nfield_map:\n  labels: finding_info\n  extensions.msg: message\ntime_field: extensions.rt\n",
    ),
    (
        "skip-heartbeat.yaml",
        "id: skip-heartbeat\nvendor_name: V\nproduct_name: P\nfield_map:\n  name: finding_info.title\nskip_when:\n  name: heartbeat\n  extensions.act: test\n",
    ),
    (
        "skip-number.yaml",
        "id: skip-number\nvendor_name: V\nproduct_name: P\nfield_map:\n  extensions.msg: message\nskip_when:\n  severity_id: 5\n",
    ),
    (
        "twice.yaml",
        "id: twice\nvendor_name: V\nproduct_name: P\nfield_map:\n  extensions.msg: [message, finding_info.desc]\n  extensions.rt: finding_info.modified_time\n  device_vendor: metadata.product.vendor_name\nconstants:\n  metadata.product.feature.name: cef\nseverity_field: extensions.sev\nseverity_map: { \"1\": 1, high: 4 }\ntime_field: extensions.rt\n",
    ),
    (
        "nothing.yaml",
        "id: nothing\nvendor_name: V\nproduct_name: P\n",
    ),
];

static TEMPLATES: LazyLock<Vec<YamlTemplate>> = LazyLock::new(|| {
    BUNDLED
        .iter()
        .chain(&UNUSUAL)
        .map(|(file, yaml)| YamlTemplate::from_yaml(file, yaml).unwrap())
        .collect()
});

fn context() -> IngestContext {
    IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::Utc::now(),
        event_uid: "00112233445566778899aabbccddeeff".into(),
    }
}

/// What each path writes: the JSON text, or the error's text.
fn written(result: Result<(), WriteError>, out: Vec<u8>) -> Result<String, String> {
    result
        .map(|()| String::from_utf8(out).unwrap())
        .map_err(|error| error.to_string())
}

fn old_path(
    template: &YamlTemplate,
    event: &CefEvent<'_>,
    context: &IngestContext,
) -> Result<String, String> {
    let mut out = Vec::new();
    let result = template.write_json(event.to_json(), context, &mut out);
    written(result, out)
}

fn new_path(
    template: &YamlTemplate,
    event: &CefEvent<'_>,
    context: &IngestContext,
) -> Result<String, String> {
    let mut out = Vec::new();
    let result = template.write_cef_json(event, context, &mut out);
    written(result, out)
}

fn assert_same_for_every_template(line: &str) {
    let Ok(event) = cef::parse_line(line) else {
        return;
    };
    let context = context();
    for template in TEMPLATES.iter() {
        let old = old_path(template, &event, &context);
        let new = new_path(template, &event, &context);
        assert_eq!(new, old, "{}: {line:?}", template_id(template));
    }
}

fn template_id(template: &YamlTemplate) -> &str {
    aisoc_notify_core::InboxTemplate::id(template)
}

/// Lines covering what the payload can hold.
fn corpus() -> Vec<String> {
    let mut lines: Vec<String> = [
        // SPEC appendix C.
        r"CEF:0|security|threatmanager|1.0|100|Detected a \| in message. No action needed.|10|src=10.0.0.1 msg=Detected a threat.\n No action needed act=blocked a \= dst=1.1.1.1",
        "Sep 29 08:26:10 host CEF:1|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        r"CEF:1|Security|threatmanager|1.0|100|worm successfully stopped|10|dst=2.1.2.2 path=\\home\\ spt=1232",
        r"CEF:0|security|threatmanager|1.0|100|trojan successfully stopped|10|go=start now query_string=key1\=value1&key2\=value3 aa.bc&key3\=value4 final=done",
        "CEF:0|security|threatmanager|1.0|100|trojan successfully stopped|10|moo=this|has an pipe",
        // The bench's line and the template fixture's.
        r"Sep 29 08:26:10 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|threat|Spyware Detected|8|src=10.0.0.7 dst=198.51.100.7 spt=51514 dpt=443 act=reset-both cs1=corp cs1Label=zone msg=C2 beacon to known bad domain \= escaped rt=1715158800000",
        r"CEF:0|Trend Micro|Deep Security Agent|20.0|4000000|Eicar_test_file|6|cn1=1 cn1Label=Host ID dvchost=hostname cs1=quarantined cs1Label=Quarantine Status filePath=C:\\Users\\alice\\eicar.com act=Delete msg=Realtime scan found malware rt=1715158800000 externalId=DSA-77",
        // Labels: orphans, clashes (the later key wins), a label without its value, a label
        // key on its own, every labelled family, labels that need JSON escapes.
        "CEF:0|V|P|1|1|n|Low|cs1=mfa cs1Label=auth method cn1=3 cn1Label=attempts cs2=orphan cs1=again",
        "CEF:0|V|P|1|1|n|Medium|cs1=a cs1Label=same cs2=b cs2Label=same cs10=c cs10Label=same",
        "CEF:0|V|P|1|1|n|High|cs3Label=lonely cs4= cs4Label= cfp1=1.5 cfp1Label=ratio flexString1=f flexString1Label=flex flexNumber2=7 flexNumber2Label=n deviceCustomDate1=May 08 2024 deviceCustomDate1Label=when c6a3=::1 c6a3Label=v6",
        "CEF:0|V|P|1|1|n|Very-High|cs1=x cs1Label=say \"hi\"\\\\ cs2=tab\there cs2Label=zone priority=P1",
        "CEF:0|V|P|1|1|n|very-high|cs1=p1 cs1Label=priority cs2=internal cs2Label=zone",
        "CEF:0|V|P|1|1|n|Unknown|cs1Label=zone cs1=late label",
        // Escapes, unicode, JSON-escaped characters, empty values, repeated keys.
        r"CEF:0|Ven\\dor|Pro\|duct|1\.0|sig\|1|na\\me|5|msg=line one\nline two\r act=a\=b path=C:\\x\\ empty= other= src=1",
        "CEF:0|Vendør|Prodüct 🚀|1|签名|名前 \u{1F600}|3|msg=caf\u{e9} \u{2028} \u{7f} quote=\"q\" ctl=\u{1}\u{1f} end=🙂",
        "CEF:0|V|P|1|1|n|4|a=1 a=2 b=3 a=4 b=",
        "CEF:0|V|P|1|1|n|2|=x k=v=w \\ a=1 msg=trailing blanks   \t",
        "CEF:0|V|P|1|1|n|1|",
        "CEF:0|||||||",
        "CEF:0|V|P|1|1|n||msg=no severity",
        "  CEF:0|V|P|1|1|n|7|msg=leading blanks\r",
        // Numeric and numeric-looking fields, times in every form.
        "CEF:0|V|P|1|1|n|6|0=zero 1=one spt=-4 cnt=12 score=9.8 vector=AV:N cve=CVE-2024-0001 start=1715158800 end=2026-05-08T09:00:00Z rt=1715158800000",
        "CEF:0|V|P|1|1|n|6|score=high vector=AV:N start=May 08 2024 09:00:00 end=-1 rt=not a time sev=HIGH",
        "CEF:0|V|P|1|1|n|9|vector=AV:L spt=80 rt=1e20 sev=1",
        "CEF:99|V|P|1|1|heartbeat|0|act=test msg=skip me",
        "CEF:0|V|P|1|1|heartbeat|0|act=live",
        "CEF:0|V|P|1|1|n|Low|src.x=dotted key[0]=bracket a-b=dash",
    ]
    .map(String::from)
    .to_vec();
    for severity in 0..=11 {
        lines.push(format!("CEF:0|V|P|1|1|n|{severity}|msg=sev {severity}"));
    }
    for severity in [
        "Low",
        "Medium",
        "High",
        "Very-High",
        "Very High",
        "VeryHigh",
        "LOW",
        " high ",
        "Unknown",
        "bogus",
    ] {
        lines.push(format!("CEF:0|V|P|1|1|n|{severity}|msg=sev {severity}"));
    }
    // Past the string cap: cut in the OCSF attribute, the whole kept under `unmapped`.
    let long = "é".repeat(MAX_STRING_BYTES);
    lines.push(format!(
        "CEF:0|V|P|1|1|{long}|5|msg={long} cs1={long} cs1Label=zone"
    ));
    lines
}

#[test]
fn every_corpus_line_maps_to_the_same_ocsf_for_every_template() {
    for line in corpus() {
        assert_same_for_every_template(&line);
    }
}

#[test]
fn the_corpus_covers_what_it_claims() {
    let context = context();
    let by_id = |id: &str| {
        TEMPLATES
            .iter()
            .find(|template| template_id(template) == id)
            .unwrap()
    };
    let parse = |line: &str| cef::parse_line(line).unwrap().to_json();
    // Not every write succeeds: skip_when applies, and a stamped object mapped whole is no
    // shortcut.
    let heartbeat = cef::parse_line("CEF:99|V|P|1|1|heartbeat|0|act=test msg=skip me").unwrap();
    assert!(new_path(by_id("skip-heartbeat"), &heartbeat, &context).is_err());
    // Rejected values and incomplete objects reach `unmapped`.
    let line = "CEF:0|V|P|1|1|n|6|score=high vector=AV:N start=May 08 2024 09:00:00 end=-1 rt=not a time sev=HIGH";
    let json: Value = serde_json::from_str(
        &new_path(by_id("rejected"), &cef::parse_line(line).unwrap(), &context).unwrap(),
    )
    .unwrap();
    assert!(json["unmapped"]["vulnerabilities"].is_array(), "{json}");
    assert_eq!(
        json["unmapped"]["finding_info"]["created_time"],
        "May 08 2024 09:00:00"
    );
    // Labels and extensions as the old payload has them.
    let labelled = parse("CEF:0|V|P|1|1|n|Medium|cs1=a cs1Label=same cs2=b cs2Label=same");
    assert_eq!(labelled["labels"]["same"], "b");
    // Lines that are not CEF exist in the corpus too.
    assert!(cef::parse_line("CEF:x|a|b|c|d|e|f|").is_err());
}

/// A body of the corpus with lines that are not CEF, blank lines and invalid UTF-8.
fn body() -> Vec<u8> {
    let mut body = Vec::new();
    for (n, line) in corpus().iter().enumerate() {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
        match n % 4 {
            0 => body.extend_from_slice(b"not cef at all\n"),
            1 => body.extend_from_slice(b"  \t\r\n"),
            2 => body.extend_from_slice(b"CEF:0|v\xff|p|1|s|n|5|msg=caf\xe9\n"),
            _ => body.extend_from_slice(b"CEF:0|a|b|c\n"),
        }
    }
    body
}

#[test]
fn a_body_maps_line_by_line_as_its_parsed_batch_does() {
    let body = body();
    let (values, dropped) = cef::parse_batch(&body);
    let text = cef::body_text(&body);
    let events: Vec<CefEvent<'_>> = cef::lines(&text)
        .filter_map(|line| cef::parse_line(line).ok())
        .collect();
    assert_eq!(events.len(), values.len());
    assert_eq!(cef::lines(&text).count() - events.len(), dropped);
    assert!(dropped > 0);
    let context = context();
    for template in TEMPLATES.iter() {
        for (event, value) in events.iter().zip(&values) {
            let mut old = Vec::new();
            let old = written(template.write_json(value.clone(), &context, &mut old), old);
            assert_eq!(new_path(template, event, &context), old);
        }
    }
}

/// An event as published, with what the ingest draws for it (uid, receive time) replaced.
fn normalized(json: &str) -> Value {
    let mut value: Value = serde_json::from_str(json).unwrap();
    let uid = value["metadata"]["uid"].as_str().unwrap().to_owned();
    let logged = value["metadata"]["logged_time"].clone();
    value["metadata"]["uid"] = "uid".into();
    value["metadata"]["logged_time"] = 0.into();
    if value["finding_info"]["uid"] == uid.as_str() {
        value["finding_info"]["uid"] = "uid".into();
    }
    if value["time"] == logged {
        value["time"] = 0.into();
    }
    value
}

#[tokio::test]
async fn the_cef_route_publishes_what_the_old_path_maps() {
    let body = body();
    for id in ["cef-syslog", "generic-json", "splunk-hec"] {
        let parts = support::memory_inbox(aisoc_inbox::InboxConfig::default());
        let token = mint(parts.store.as_ref(), "acme", id, None).await.unwrap();
        let record = parts
            .inbox
            .authenticate(token.token.expose_secret())
            .await
            .unwrap();
        let receipt = parts
            .inbox
            .accept(
                &record,
                InboxRoute::Cef,
                &http::HeaderMap::new(),
                bytes::Bytes::from(body.clone()),
            )
            .await
            .unwrap();
        let (values, dropped) = cef::parse_batch(&body);
        assert_eq!((receipt.accepted, receipt.dropped), (values.len(), dropped));
        let template = YamlTemplate::from_yaml(
            id,
            BUNDLED
                .iter()
                .find(|(file, _)| file.trim_end_matches(".yaml") == id)
                .unwrap()
                .1,
        )
        .unwrap();
        let published = parts.sink.events();
        assert_eq!(published.len(), values.len());
        for (event, value) in published.iter().zip(values) {
            assert_eq!(event.template_id, id);
            let mut old = Vec::new();
            template.write_json(value, &context(), &mut old).unwrap();
            assert_eq!(
                normalized(std::str::from_utf8(&event.payload).unwrap()),
                normalized(std::str::from_utf8(&old).unwrap()),
                "{id}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_lines_map_to_the_same_ocsf(
        prefix in "([A-Z][a-z]{2} [0-9]{2} host )?",
        header in "CEF:[0-9]\\|[a-zA-Z\\\\|= é]{0,6}\\|[a-z]{0,3}\\|1\\|[a-z0-9]{0,3}\\|(heartbeat|[a-zA-Z \\\\|]{0,8})\\|([0-9]{1,2}|Low|Medium|High|Very-High|x)?\\|",
        extension in "( (msg|act|rt|end|start|src|score|vector|cve|spt|sev|0|1|priority|cs1|cs1Label|cs2|cs2Label|cn1|cn1Label|[a-z]{1,3})=[a-zA-Z0-9\\\\= .:\"é\t-]{0,10}){0,12}",
    ) {
        let line = format!("{prefix}{header}{}", extension.trim_start());
        if let Ok(event) = cef::parse_line(&line) {
            let context = context();
            for template in TEMPLATES.iter() {
                prop_assert_eq!(
                    new_path(template, &event, &context),
                    old_path(template, &event, &context),
                    "{}: {:?}", template_id(template), line
                );
            }
        }
    }
}
