//! Issue 8 on the lab's secured profile (`KAFKA_LAB_PROFILE=secured`): dc1 speaks SASL_SSL
//! with SCRAM-SHA-512, dc2 mutual TLS (client certificates mapped to principals), both
//! Connect workers HTTPS (dc1's wants a client certificate, dc2's basic auth). kafka-dr
//! reaches them through the operators' own properties files (PEM truststore, PKCS#12 and
//! PEM keystores) and the topology's `connect` TLS settings. These tests need that lab:
//! `scripts/test` runs them (with the full failover/failback test) in its second phase;
//! on the default profile they fail, they never pass by skipping.

use std::time::Duration;

use crate::common::*;

fn secured_lab() -> &'static Lab {
    let lab = lab();
    assert!(
        lab.secured(),
        "these tests need the secured lab (KAFKA_LAB_PROFILE=secured): scripts/test runs them in its second phase"
    );
    lab
}

/// `check` until it passes: MM2 gives a new in-scope topic its source task within a few
/// seconds (its topic refresh), and `check` rightly fails until then.
fn check_until_ok(sb: &Sandbox) -> serde_json::Value {
    wait_for("`check` to pass", Duration::from_secs(60), || {
        let out = sb.run(&["--output", "json", "check"]);
        (out.code == Some(0)).then(|| out.json())
    })
}

/// Writes a variant of the sandbox topology and runs `check` with it.
fn check_with(
    sb: &Sandbox,
    name: &str,
    edit: impl Fn(&str) -> String,
) -> (Output, serde_json::Value) {
    let text = std::fs::read_to_string(&sb.topology).expect("sandbox topology");
    let edited = edit(&text);
    assert_ne!(edited, text, "{name}: the edit changed nothing");
    let path = sb.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, edited).expect("write topology variant");
    let raw = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-dr"))
        .arg("--topology")
        .arg(&path)
        .arg("--journal")
        .arg(sb.dir.path().join(format!("{name}.db")))
        .args(["--output", "json", "check", "--timeout", "10"])
        .envs(sb.lab.child_env())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kafka-dr");
    let out = Output {
        code: raw.status.code(),
        stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
    };
    let json = out.json();
    (out, json)
}

fn problems(v: &serde_json::Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["subject"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Inserts `properties: {...}` under cluster `dc`'s `client_properties:` line.
fn with_properties(text: &str, dc: &str, props: &str) -> String {
    let mut out = String::new();
    let mut in_dc = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_end() == format!("  {dc}:") {
            in_dc = true;
        } else if in_dc && line.trim_start().starts_with("client_properties:") {
            out.push_str(&format!("    properties: {{ {props} }}\n"));
            in_dc = false;
        }
    }
    out
}

/// `check` reaches both clusters and both Connect workers: SCRAM-SHA-512 over TLS with a
/// PEM truststore (dc1), a client certificate from a PKCS#12 keystore and from a PEM
/// keystore (dc2), Connect over HTTPS with the lab CA and basic auth.
#[test]
fn secured_check_reaches_every_cluster_and_connect() {
    let lab = secured_lab();
    let _g = shared();
    let sb = Sandbox::new("sec-check");
    let topic = sb.name("orders");
    create_topic(lab, "dc1", &topic, 2);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 20, 2),
    );
    let v = check_until_ok(&sb);
    for c in v["clusters"].as_array().expect("clusters") {
        assert_eq!(c["reachable"], true, "{c}");
        assert_eq!(c["authenticated"], true, "{c}");
        assert_eq!(c["may_alter_acls"], true, "{c}");
    }
    let flow = &v["flows"][0];
    assert_eq!(flow["reachable"], true, "{flow}");
    assert!(
        flow["connect_url"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://"),
        "{flow}"
    );
    assert!(flow["connect_version"].is_string(), "{flow}");
    // The PEM keystore form of the same identity works as well.
    let (out, v) = check_with(&sb, "pem-keystore", |t| {
        t.replace(
            "client/dc2-admin.properties",
            "client/dc2-admin-pem.properties",
        )
    });
    let dc2 = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dc2")
        .unwrap()
        .clone();
    assert_eq!(dc2["authenticated"], true, "{out}");
    // No secret of the lab in anything printed.
    for pw in lab.passwords() {
        assert!(
            !out.stdout.contains(&pw) && !out.stderr.contains(&pw),
            "a lab password leaked"
        );
    }
}

/// A wrong CA is refused as a TLS problem naming the cluster and the certificate; a wrong
/// SCRAM password as an authentication failure, not as "unreachable"; the same on the
/// Connect side (TLS, HTTP 401). Nothing echoes the wrong password.
#[test]
fn secured_wrong_ca_and_wrong_credentials_say_what_is_wrong() {
    let lab = secured_lab();
    let _g = shared();
    let sb = Sandbox::new("sec-wrong");
    let rogue = lab.var("KAFKA_LAB_ROGUE_CA_FILE");
    let wrong_pw = "not-the-scram-password-4711";

    for dc in ["dc1", "dc2"] {
        let (out, v) = check_with(&sb, &format!("rogue-{dc}"), |t| {
            with_properties(t, dc, &format!("ssl.ca.location: \"{rogue}\""))
        });
        assert_eq!(out.code, Some(3), "{out}");
        let c = v["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == dc)
            .unwrap()
            .clone();
        assert_eq!(c["authenticated"], false, "{c}");
        let p = problems(&v).join("\n");
        assert!(
            p.contains(&format!("TLS handshake with Kafka cluster `{dc}`"))
                && p.contains("certificate is not signed by a CA this client trusts"),
            "{dc} with the rogue CA:\n{p}"
        );
        assert!(!p.contains("cannot reach"), "{p}");
    }

    let (out, v) = check_with(&sb, "wrong-scram", |t| {
        with_properties(t, "dc1", &format!("sasl.password: \"{wrong_pw}\""))
    });
    assert_eq!(out.code, Some(3), "{out}");
    let p = problems(&v).join("\n");
    assert!(
        p.contains("authentication to Kafka cluster `dc1` failed") && p.contains("SCRAM-SHA-512"),
        "wrong SCRAM password:\n{p}"
    );
    assert!(
        !p.contains("cannot reach") && !p.contains("unreachable"),
        "{p}"
    );
    assert!(
        !out.stdout.contains(wrong_pw) && !out.stderr.contains(wrong_pw),
        "the wrong password was echoed:\n{out}"
    );

    let ca = lab.var("KAFKA_LAB_CA_FILE");
    let (out, v) = check_with(&sb, "rogue-connect", |t| {
        let i = t.find("  dc2:").expect("dc2");
        format!("{}{}", &t[..i], t[i..].replacen(&ca, &rogue, 1))
    });
    assert_eq!(out.code, Some(3), "{out}");
    let p = problems(&v).join("\n");
    assert!(
        p.contains("TLS handshake with Connect at")
            && p.contains("(cluster `dc2`)")
            && p.contains("not trust"),
        "Connect with the rogue CA:\n{p}"
    );

    let (out, v) = check_with(&sb, "wrong-connect-password", |t| {
        let i = t.find("      password:").expect("connect password");
        let end = i + t[i..].find('\n').expect("line end");
        format!("{}      password: \"{wrong_pw}\"{}", &t[..i], &t[end..])
    });
    assert_eq!(out.code, Some(3), "{out}");
    let p = problems(&v).join("\n");
    assert!(
        p.contains("HTTP 401") && p.contains("username` and `password`"),
        "Connect, wrong password:\n{p}"
    );
    assert!(
        !out.stdout.contains(wrong_pw) && !out.stderr.contains(wrong_pw),
        "{out}"
    );
}
