//! Policy files: the documented examples parse, and every mistake is reported with its line.

use custody_verify::{BaseImageMode, Policy, PolicyError};

use crate::scenario::Scenario;

fn parse(text: &str) -> Result<Policy, PolicyError> {
    let files = Scenario::new(1).key_files();
    Policy::parse(text, &mut |p: &str| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| "no such file or directory".to_owned())
    })
}

#[test]
fn the_issue_shaped_policy_parses_with_defaults_for_unmentioned_rules() {
    let p = parse(
        "version: 1
log_key: keys/log.vkey
roles:
  base-library: [keys/base.pub]
  builder: [keys/ci.pub]
  scanner: [keys/scanner.pub]
  reviewer: [keys/alice.pub, keys/bob.pub]
rules:
  base_image: required          # layers below the build's base are signed by base-library
  scan: {required: true, max_age: 7d, max_severity: high}
  reviews: {min: 2}             # distinct reviewer keys, none of them a builder key
  config: {non_root: true, forbidden_packages: [openssh-server, telnetd]}
",
    )
    .unwrap();
    let r = p.rules();
    assert_eq!(r.base_image, BaseImageMode::Required);
    assert_eq!(r.reviews.min, 2);
    assert_eq!(r.scan.max_age.as_secs(), 7 * 86_400);
    assert_eq!(r.config.forbidden_packages.len(), 2);
    assert!(
        !r.ledger.accept_bundles,
        "bundles are refused unless accepted"
    );
    assert_eq!(p.log_origin(), "custody.test/log");
}

#[test]
fn every_mistake_is_reported_with_its_line() {
    let text = "version: 2
log_key: keys/missing.pub
roles:
  builder: [keys/ci.pub]
  admin: [keys/alice.pub]
  reviewer: [keys/alice.pub, keys/nope.pub]
rules:
  scan: {required: yes, max_age: 7days, max_severity: severe}
  reviews: {min: 2, min: 0}
  sbom: required
  layers: optional
  config: {non_root: true, forbidden_packages: [\"pkg:\"]}
";
    let err = parse(text).unwrap_err();
    let lines: Vec<(usize, String)> = err
        .problems
        .iter()
        .map(|p| (p.at.map_or(0, |a| a.line), p.message.clone()))
        .collect();
    let want = [
        (1, "version 2 is not supported"),
        (2, "log_key keys/missing.pub: no such file"),
        (3, "the rules need keys of role base-library"),
        (3, "the rules need keys of role scanner"),
        (5, "unknown role \"admin\""),
        (6, "roles.reviewer key keys/nope.pub: no such file"),
        (8, "rules.scan.required must be true or false"),
        (8, "rules.scan.max_age"),
        (8, "max_severity is \"severe\""),
        (9, "duplicate key `min` (first given on line 9)"),
        (10, "unknown rule `sbom`"),
        (11, "layer attestations cannot be turned off"),
        (12, "is not a package URL"),
    ];
    for (line, needle) in want {
        assert!(
            lines.iter().any(|(l, m)| *l == line && m.contains(needle)),
            "missing line {line}: {needle:?} in\n{err}"
        );
    }
    insta::assert_snapshot!("policy_mistakes", err.to_string());
}

#[test]
fn keys_that_do_not_parse_are_errors() {
    let files = Scenario::new(1).key_files();
    let mut load = |p: &str| -> Result<String, String> {
        match p {
            "keys/rsa.pub" => Ok("-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA\n-----END RSA PUBLIC KEY-----\n".into()),
            "keys/garbage.pub" => Ok("not a key".into()),
            "keys/private.pem" => Ok("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\n-----END PRIVATE KEY-----\n".into()),
            other => files.get(other).cloned().ok_or_else(|| "no such file".into()),
        }
    };
    let text = "version: 1
log_key: keys/ci.pub
roles:
  builder: [keys/rsa.pub]
  scanner: [keys/garbage.pub]
  reviewer: [keys/private.pem]
";
    let err = Policy::parse(text, &mut load).unwrap_err();
    let s = err.to_string();
    assert!(
        s.contains("line 2: log_key keys/ci.pub is a PEM key, so `log_origin`"),
        "{s}"
    );
    assert!(s.contains("line 4: roles.builder key keys/rsa.pub"), "{s}");
    assert!(
        s.contains("line 5: roles.scanner key keys/garbage.pub is not a PEM key"),
        "{s}"
    );
    assert!(
        s.contains("line 6: roles.reviewer key keys/private.pem is a private key"),
        "{s}"
    );
}

#[test]
fn malformed_yaml_is_an_error_with_a_location() {
    for (text, needle) in [
        ("version: 1\nroles: [a, b\n", "invalid YAML"),
        ("- 1\n- 2\n", "a policy is a mapping"),
        ("", "the policy file is empty"),
        ("{}", "`version: 1` is missing"),
        ("version: 1\nversion: 1\n", "duplicate key `version`"),
        ("a: &x 1\nb: *x\n", "aliases"),
    ] {
        let err = parse(text).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn the_examples_in_docs_policy_md_parse() {
    let doc =
        std::fs::read_to_string(custody_testkit::workspace_root().join("docs/policy.md")).unwrap();
    let s = Scenario::new(1);
    let files = s.key_files();
    let pem = {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        s.keys
            .log
            .verifier()
            .public_key()
            .to_public_key_pem(Default::default())
            .unwrap()
    };
    let mut load = |p: &str| -> Result<String, String> {
        if p == "keys/log.pub" {
            return Ok(pem.clone());
        }
        if p == "keys/log.vkey" {
            let name = custody_log::KeyName::new("custody.example/log").unwrap();
            return Ok(
                custody_log::VerifierKey::new(name, *s.keys.log.verifier().public_key())
                    .to_string(),
            );
        }
        // Any other key file of the examples: some valid key.
        Ok(files
            .get(p)
            .cloned()
            .unwrap_or_else(|| files["keys/stranger.pub"].clone()))
    };
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2);
    for block in blocks {
        let p = Policy::parse(block, &mut load).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(p.log_origin(), "custody.example/log");
    }
}
