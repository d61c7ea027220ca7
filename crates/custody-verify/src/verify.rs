//! The decision procedure: evidence in, one verdict per rule out.
//!
//! 1. The checkpoint is verified with the policy's log key and origin.
//! 2. Every envelope is verified against the policy's keys (by keyid hint first, so a
//!    decision costs one signature check per signature, all of them in one ed25519 batch;
//!    see custody-attest's `verify_batch`) and read as an in-toto statement;
//!    envelopes no policy key signed are kept aside only to explain denials.
//! 3. Every envelope's inclusion proof is checked against the checkpoint.
//! 4. The rules run in dependency order (provenance first: it names the base image and the
//!    image SBOM the other rules need) and each reports what it used.
//! 5. The ledger rule checks that everything used is logged, in the right order, under a
//!    checkpoint consistent with what this verifier trusted before.
//!
//! Nothing here does I/O or reads a clock: the time of the decision is an input.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use custody_attest::{
    Attestation, BatchItem, CheckedStatement, Decision as ReviewDecision, ImageProvenance,
    LayerPredicate, PublicKey, ReviewAttestation, ScanAttestation, parse_statement, subject_digest,
    verify_batch,
};
use custody_log::{SignedCheckpoint, TrustedCheckpoint, VerifiedCheckpoint, verify_inclusion};
use custody_types::{DiffId, Digest, KeyId, Role, predicate_types};
use custody_vuln::{SeverityLevel, VexDocument, VexStatement, VulnsPredicate, apply_vex};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::decision::{CheckpointRef, DECISION_MEDIA_TYPE, Decision, Item, RuleId, Verdict};
use crate::evidence::{Evidence, Origin};
use crate::image::{ImageFacts, LayerCheck, runs_as_root};
use crate::policy::{BaseImageMode, Policy, format_duration};
use crate::sbom;

/// How far in the future a signed time may be before it is refused (clock skew).
const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(300);

/// What a decision depends on besides the policy, the image and the evidence.
#[derive(Debug, Clone)]
pub struct Context {
    /// The time of the decision (scan ages are measured to it).
    pub now: Timestamp,
    /// The last checkpoint this verifier trusted (`--state`), if any.
    pub trusted: Option<TrustedCheckpoint>,
}

/// A verified, parsed attestation and its place in the log.
struct Att {
    envelope: Digest,
    signers: Vec<KeyId>,
    log_index: Option<u64>,
    logged: Result<(), String>,
    statement: CheckedStatement,
}

/// An envelope no policy key signed, read (unverified) only to explain a denial.
struct Stranger {
    envelope: Digest,
    predicate_type: String,
    subjects: Vec<Digest>,
    keyids: Vec<String>,
}

/// A scan statement: its subjects (custody-attest) and its predicate (custody-vuln's model).
struct Scan {
    subjects: ScanAttestation,
    predicate: VulnsPredicate,
}

/// An OpenVEX statement: the images it is attached to and its document (custody-vuln's model).
struct Vex {
    subjects: Vec<Digest>,
    document: VexDocument,
}

struct Seen {
    atts: Vec<Att>,
    layers: Vec<(usize, LayerPredicate)>,
    provenances: Vec<(usize, ImageProvenance)>,
    scans: Vec<(usize, Scan)>,
    reviews: Vec<(usize, ReviewAttestation)>,
    vex: Vec<(usize, Vex)>,
    strangers: Vec<Stranger>,
    unreadable: Vec<(Digest, String)>,
}

/// Decides whether `image` may run under `policy`, given `evidence`.
pub fn verify(policy: &Policy, image: &ImageFacts, evidence: &Evidence, cx: &Context) -> Decision {
    let checkpoint = check_checkpoint(policy, evidence);
    let seen = read_entries(policy, evidence, checkpoint.as_ref().ok());
    let mut used: BTreeSet<usize> = BTreeSet::new();

    let (provenance_verdict, provenance) = rule_provenance(policy, image, &seen, &mut used);
    let base_len = provenance
        .and_then(|p| seen.provenances[p].1.base.as_ref())
        .filter(|b| is_prefix(&b.diff_ids, &image.diff_ids))
        .map(|b| b.diff_ids.len());
    let (layers_verdict, chosen_layers) =
        rule_layers(policy, image, &seen, provenance, base_len, &mut used);
    let base_verdict = rule_base(policy, image, &seen, provenance, &chosen_layers, &mut used);
    let image_sbom = provenance.and_then(|p| seen.provenances[p].1.image_sbom.clone());
    let (scan_verdict, scan) = rule_scan(policy, image, &seen, image_sbom.as_ref(), cx, &mut used);
    let builder_keys = builder_keys(policy, &seen, provenance, &chosen_layers, base_len);
    let (reviews_verdict, reviews) = rule_reviews(policy, image, &seen, &builder_keys, &mut used);
    let config_verdict = rule_config(
        policy,
        image,
        &seen,
        evidence,
        image_sbom.as_ref(),
        &chosen_layers,
    );
    let (ledger_verdict, next_state) = rule_ledger(
        policy,
        evidence,
        &checkpoint,
        &seen,
        &used,
        provenance,
        scan,
        &reviews,
        cx,
    );

    let verdicts = vec![
        layers_verdict,
        base_verdict,
        provenance_verdict,
        scan_verdict,
        reviews_verdict,
        config_verdict,
        ledger_verdict,
    ];
    let allowed = verdicts.iter().all(|v| v.passed);
    let mut inputs: Vec<Digest> = used
        .iter()
        .map(|&i| seen.atts[i].envelope.clone())
        .collect();
    inputs.sort();
    inputs.dedup();
    Decision {
        media_type: DECISION_MEDIA_TYPE,
        image: image.manifest_digest.clone(),
        config: image.config_digest.clone(),
        policy: policy.digest().clone(),
        verified_at: cx.now,
        evidence_source: evidence.origin.clone(),
        checkpoint: checkpoint.as_ref().ok().map(|c| CheckpointRef {
            origin: c.origin().to_owned(),
            size: c.size(),
            root: c.root(),
        }),
        allowed,
        verdicts,
        inputs,
        next_state: if allowed { next_state } else { None },
    }
}

fn check_checkpoint(policy: &Policy, evidence: &Evidence) -> Result<VerifiedCheckpoint, String> {
    let note = evidence
        .checkpoint
        .as_deref()
        .ok_or("the evidence holds no signed checkpoint")?;
    SignedCheckpoint::parse(note)
        .and_then(|s| s.verify(policy.log_key()))
        .map_err(|e| format!("checkpoint rejected: {e}"))
}

/// The policy keys worth trying on an envelope: those its keyid hints name, or every key when
/// a hint is empty or names none.
fn candidate_keys(policy: &Policy, envelope: &custody_attest::Envelope) -> Vec<PublicKey> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for sig in envelope.signatures() {
        let hinted = policy.keys_for_hint(sig.keyid());
        if hinted.is_empty() {
            return policy.all_keys().map(|k| k.key.clone()).collect();
        }
        for k in hinted {
            if !keys.iter().any(|have| have.key_id() == k.key_id()) {
                keys.push(k);
            }
        }
    }
    keys
}

fn read_entries(
    policy: &Policy,
    evidence: &Evidence,
    checkpoint: Option<&VerifiedCheckpoint>,
) -> Seen {
    let mut seen = Seen {
        atts: Vec::new(),
        layers: Vec::new(),
        provenances: Vec::new(),
        scans: Vec::new(),
        reviews: Vec::new(),
        vex: Vec::new(),
        strangers: Vec::new(),
        unreadable: Vec::new(),
    };
    // Every envelope's candidate keys first, so that all signatures are checked in one
    // ed25519 batch (custody-attest's `verify_batch`; its module documentation says how its
    // acceptance compares with one-by-one strict verification).
    let keys: Vec<Vec<PublicKey>> = evidence
        .entries
        .iter()
        .map(|e| candidate_keys(policy, &e.envelope))
        .collect();
    let items: Vec<BatchItem<'_>> = evidence
        .entries
        .iter()
        .zip(&keys)
        .filter(|(_, k)| !k.is_empty())
        .map(|(e, k)| BatchItem {
            envelope: &e.envelope,
            keys: k,
            threshold: 1,
        })
        .collect();
    let mut results = verify_batch(&items).into_iter();
    for (entry, keys) in evidence.entries.iter().zip(&keys) {
        let verified = if keys.is_empty() {
            None
        } else {
            results.next().and_then(Result::ok)
        };
        let Some(verified) = verified else {
            let (predicate_type, subjects) =
                match parse_statement(entry.envelope.payload_unverified()) {
                    Ok(s) => (
                        s.predicate_type.clone(),
                        s.subject.iter().filter_map(subject_digest).collect(),
                    ),
                    Err(_) => (String::from("(unreadable)"), Vec::new()),
                };
            seen.strangers.push(Stranger {
                envelope: entry.envelope.digest(),
                predicate_type,
                subjects,
                keyids: entry
                    .envelope
                    .signatures()
                    .iter()
                    .map(|s| s.keyid().to_owned())
                    .collect(),
            });
            continue;
        };
        let statement = match CheckedStatement::try_from(&verified) {
            Ok(s) => s,
            Err(e) => {
                seen.unreadable
                    .push((verified.digest().clone(), e.to_string()));
                continue;
            }
        };
        let logged = match (checkpoint, entry.log_index, &entry.inclusion_path) {
            (None, _, _) => Err("no verified checkpoint to prove inclusion against".to_owned()),
            (_, None, _) | (_, _, None) => Err("no inclusion proof".to_owned()),
            (Some(cp), Some(index), Some(path)) => {
                verify_inclusion(&entry.leaf_hash(), index, cp.size(), path, &cp.root())
                    .map_err(|e| format!("inclusion proof at log index {index} fails: {e}"))
            }
        };
        let att = Att {
            envelope: verified.digest().clone(),
            signers: verified.signers().to_vec(),
            log_index: entry.log_index,
            logged,
            statement,
        };
        let i = seen.atts.len();
        let predicate = att.statement.predicate();
        match att.statement.attestation() {
            Ok(Attestation::Layer(l)) => seen.layers.push((i, l.predicate)),
            Ok(Attestation::Provenance(p)) => seen.provenances.push((i, *p)),
            Ok(Attestation::Scan(s)) => match VulnsPredicate::from_json(predicate) {
                Ok(predicate) => seen.scans.push((
                    i,
                    Scan {
                        subjects: *s,
                        predicate,
                    },
                )),
                Err(e) => seen.unreadable.push((
                    att.envelope.clone(),
                    format!("{} predicate is invalid: {e}", predicate_types::VULNS_V01),
                )),
            },
            Ok(Attestation::Review(r)) => seen.reviews.push((i, *r)),
            Ok(Attestation::Vex(v)) => match VexDocument::from_json(predicate) {
                Ok(document) => seen.vex.push((
                    i,
                    Vex {
                        subjects: v.subjects,
                        document,
                    },
                )),
                Err(e) => seen.unreadable.push((
                    att.envelope.clone(),
                    format!("{} predicate is invalid: {e}", predicate_types::OPENVEX_V02),
                )),
            },
            Ok(Attestation::Decision(_) | Attestation::Other(_)) => {}
            Err(e) => seen.unreadable.push((att.envelope.clone(), e.to_string())),
        }
        seen.atts.push(att);
    }
    seen
}

impl Seen {
    fn item(&self, i: usize, what: impl Into<String>, key: Option<KeyId>) -> Item {
        let a = &self.atts[i];
        Item {
            what: what.into(),
            log_index: a.log_index,
            key_id: key.or_else(|| a.signers.first().copied()),
            envelope: Some(a.envelope.clone()),
            digest: None,
            detail: None,
        }
    }

    /// The first signer of attestation `i` holding one of `roles`.
    fn signer_with(&self, policy: &Policy, i: usize, roles: &[Role]) -> Option<KeyId> {
        self.atts[i]
            .signers
            .iter()
            .copied()
            .find(|k| policy.key_has_role(k, roles))
    }

    fn describe_signers(&self, policy: &Policy, i: usize) -> String {
        self.atts[i]
            .signers
            .iter()
            .map(|k| {
                let roles: Vec<&str> = policy.roles_of(k).iter().map(|r| r.as_str()).collect();
                if roles.is_empty() {
                    format!("key {k} (no role)")
                } else {
                    format!("key {k} ({})", roles.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Problems about envelopes no policy key signed that concern `predicate_type` and
    /// `subject` (an attestation by an untrusted key).
    fn strangers_about(&self, predicate_type: &str, subject: Option<&Digest>) -> Vec<String> {
        self.strangers
            .iter()
            .filter(|s| s.predicate_type == predicate_type)
            .filter(|s| subject.is_none_or(|d| s.subjects.contains(d)))
            .map(|s| {
                format!(
                    "envelope {} is signed by no key in the policy (keyids {:?}); ignored",
                    s.envelope, s.keyids
                )
            })
            .collect()
    }
}

impl Seen {
    /// Envelopes signed by a policy key whose statement of `predicate_type` does not read.
    fn unreadable_about(&self, predicate_type: &str) -> Vec<String> {
        self.unreadable
            .iter()
            .filter(|(_, why)| why.contains(predicate_type))
            .map(|(d, why)| {
                format!("envelope {d} is signed by a policy key but cannot be used: {why}")
            })
            .collect()
    }
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn is_prefix(prefix: &[DiffId], of: &[DiffId]) -> bool {
    prefix.len() <= of.len() && prefix.iter().zip(of).all(|(a, b)| a == b)
}

/// The DiffIDs a custody provenance lists for its image (`internalParameters.layers`,
/// checked by custody-attest to carry consistent ChainIDs).
fn provenance_diff_ids(p: &ImageProvenance) -> Option<Vec<DiffId>> {
    if p.layers.is_empty() {
        return None;
    }
    Some(p.layers.iter().map(|l| l.diff_id.clone()).collect())
}

fn first_difference(a: &[DiffId], b: &[DiffId]) -> String {
    if a.len() != b.len() {
        return format!("{} layers instead of {}", a.len(), b.len());
    }
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("layer {i} is {} instead of {}", a[i], b[i]),
        None => "identical".into(),
    }
}

fn rule_provenance(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
    used: &mut BTreeSet<usize>,
) -> (Verdict, Option<usize>) {
    let roles = &policy.rules().provenance.signers;
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    for (pi, (i, p)) in seen.provenances.iter().enumerate() {
        let about_image = p.manifest.as_ref() == Some(&image.manifest_digest);
        let Some(key) = seen.signer_with(policy, *i, roles) else {
            if about_image {
                problems.push(format!(
                    "provenance envelope {} about this image is signed by {}, not a {} key",
                    seen.atts[*i].envelope,
                    seen.describe_signers(policy, *i),
                    roles_text(roles)
                ));
            }
            continue;
        };
        if !p.is_custody_build() {
            if about_image {
                problems.push(format!(
                    "provenance envelope {} has build type {:?}, not custody's",
                    seen.atts[*i].envelope, p.provenance.build_definition.build_type
                ));
            }
            continue;
        }
        if !about_image {
            // Another image's provenance (a base image's, or one replayed onto this image).
            continue;
        }
        let mut mine = Vec::new();
        if p.config.as_ref() != Some(&image.config_digest) {
            mine.push(format!(
                "provenance log#{} names config {}, but the image's config is {}",
                seen.atts[*i]
                    .log_index
                    .map_or("?".into(), |x| x.to_string()),
                p.config.as_ref().map_or("(none)".into(), Digest::to_string),
                image.config_digest
            ));
        }
        match provenance_diff_ids(p) {
            None => mine.push("provenance does not list the image's layers in order".into()),
            Some(ids) if ids != image.diff_ids => mine.push(format!(
                "provenance lists other diff_ids than the image: {}",
                first_difference(&ids, &image.diff_ids)
            )),
            Some(_) => {}
        }
        if mine.is_empty() {
            used.insert(*i);
            let mut item = seen.item(*i, "provenance", Some(key));
            item.digest = Some(image.manifest_digest.clone());
            item.detail = Some(format!("builder {}", p.builder_id()));
            evidence.push(item);
            return (
                Verdict::pass(
                    RuleId::Provenance,
                    format!(
                        "provenance by a {} key names this manifest, config and its {} diff_ids in order",
                        roles_text(roles),
                        image.diff_ids.len()
                    ),
                    evidence,
                ),
                Some(pi),
            );
        }
        problems.extend(mine);
    }
    problems.extend(seen.strangers_about(
        custody_types::predicate_types::SLSA_PROVENANCE_V1,
        Some(&image.manifest_digest),
    ));
    problems.extend(seen.unreadable_about(custody_types::predicate_types::SLSA_PROVENANCE_V1));
    // Provenance by trusted keys about other manifests that carry this image's config or
    // layers: what an attestation replayed from another image looks like.
    for (i, p) in &seen.provenances {
        if p.manifest.as_ref() != Some(&image.manifest_digest)
            && seen.signer_with(policy, *i, roles).is_some()
            && (p.config.as_ref() == Some(&image.config_digest)
                || provenance_diff_ids(p).is_some_and(|ids| ids == image.diff_ids))
        {
            problems.push(format!(
                "provenance log#{} names manifest {}, not this image {}",
                seen.atts[*i]
                    .log_index
                    .map_or("?".into(), |x| x.to_string()),
                p.manifest
                    .as_ref()
                    .map_or("(none)".into(), Digest::to_string),
                image.manifest_digest
            ));
        }
    }
    if problems.is_empty() {
        problems.push(format!(
            "no build provenance about manifest {} signed by a {} key",
            image.manifest_digest,
            roles_text(roles)
        ));
    }
    (
        Verdict::fail(
            RuleId::Provenance,
            "no trusted build provenance names this image exactly",
            problems,
            evidence,
        ),
        None,
    )
}

fn rule_layers(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
    provenance: Option<usize>,
    base_len: Option<usize>,
    used: &mut BTreeSet<usize>,
) -> (Verdict, Vec<Option<usize>>) {
    let rule = &policy.rules().layers;
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut chosen: Vec<Option<usize>> = vec![None; image.diff_ids.len()];
    if let LayerCheck::Failed(failures) = &image.layer_check {
        for (index, why) in failures {
            problems.push(format!("layer {index} of the image on disk: {why}"));
        }
    }
    let both: Vec<Role> = rule
        .base_signers
        .iter()
        .chain(&rule.build_signers)
        .copied()
        .collect();
    for (pos, (diff_id, chain_id)) in image.diff_ids.iter().zip(&image.chain_ids).enumerate() {
        let roles: &[Role] = match (provenance, base_len) {
            (Some(_), Some(b)) if pos < b => &rule.base_signers,
            (Some(_), _) => &rule.build_signers,
            (None, _) => &both,
        };
        let mut found = None;
        let mut near = Vec::new();
        for (li, l) in &seen.layers {
            let here = l.index as usize == pos && &l.chain_id == chain_id && &l.diff_id == diff_id;
            if !here {
                if &l.diff_id == diff_id && seen.signer_with(policy, *li, &both).is_some() {
                    near.push(format!(
                        "layer {pos}: attestation log#{} is for diffId {diff_id} at position {} with chainId {}, but here the chainId is {chain_id} (signed for another stack)",
                        seen.atts[*li].log_index.map_or("?".into(), |x| x.to_string()),
                        l.index,
                        l.chain_id
                    ));
                }
                continue;
            }
            match seen.signer_with(policy, *li, roles) {
                Some(key) => {
                    found = Some((*li, key));
                    break;
                }
                None => near.push(format!(
                    "layer {pos}: attestation log#{} is signed by {}, not a {} key",
                    seen.atts[*li]
                        .log_index
                        .map_or("?".into(), |x| x.to_string()),
                    seen.describe_signers(policy, *li),
                    roles_text(roles)
                )),
            }
        }
        match found {
            Some((li, key)) => {
                chosen[pos] = Some(li);
                used.insert(li);
                let mut item = seen.item(li, format!("layer {pos}"), Some(key));
                item.digest = Some(chain_id.0.clone());
                item.detail = Some(format!("chainId; diffId {diff_id}"));
                evidence.push(item);
            }
            None => {
                if near.is_empty() {
                    problems.push(format!(
                        "layer {pos} (diffId {diff_id}, chainId {chain_id}) has no attestation signed by a {} key",
                        roles_text(roles)
                    ));
                } else {
                    problems.extend(near);
                }
                problems.extend(seen.unreadable_about(custody_types::predicate_types::LAYER_V1));
                problems.extend(
                    seen.strangers_about(
                        custody_types::predicate_types::LAYER_V1,
                        Some(&diff_id.0),
                    )
                    .into_iter()
                    .map(|s| format!("layer {pos}: {s}")),
                );
            }
        }
    }
    if image.diff_ids.is_empty() {
        problems.push("the image has no layers".into());
    }
    let n = image.diff_ids.len();
    let verified = match image.layer_check {
        LayerCheck::Verified => "; blobs and DiffIDs verified on disk",
        LayerCheck::NotRead => "; layers not read (verified by digest)",
        LayerCheck::Failed(_) => "",
    };
    if problems.is_empty() {
        (
            Verdict::pass(
                RuleId::Layers,
                format!(
                    "all {n} layers attested at their ChainIDs by keys of the roles the policy names{verified}"
                ),
                evidence,
            ),
            chosen,
        )
    } else {
        (
            Verdict::fail(
                RuleId::Layers,
                format!(
                    "{} of {n} layers lack a valid attestation at their position",
                    chosen.iter().filter(|c| c.is_none()).count()
                ),
                problems,
                evidence,
            ),
            chosen,
        )
    }
}

fn rule_base(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
    provenance: Option<usize>,
    chosen_layers: &[Option<usize>],
    used: &mut BTreeSet<usize>,
) -> Verdict {
    let rules = policy.rules();
    let mode = rules.base_image;
    let Some(p) = provenance else {
        return Verdict::fail(
            RuleId::BaseImage,
            "cannot tell the base image: no trusted provenance",
            vec!["the base image is read from the build provenance, which did not verify".into()],
            Vec::new(),
        );
    };
    let prov = &seen.provenances[p].1;
    let Some(base) = &prov.base else {
        return match mode {
            BaseImageMode::Required => Verdict::fail(
                RuleId::BaseImage,
                "the provenance names no base image",
                vec!["the policy requires images built on a base image from the library".into()],
                Vec::new(),
            ),
            _ => Verdict::pass(RuleId::BaseImage, "built without a base image", Vec::new()),
        };
    };
    if mode == BaseImageMode::Forbidden {
        return Verdict::fail(
            RuleId::BaseImage,
            format!("the provenance names base image {}", base.manifest),
            vec!["the policy forbids base images".into()],
            Vec::new(),
        );
    }
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    if !is_prefix(&base.diff_ids, &image.diff_ids) {
        problems.push(format!(
            "base image {} ({} layers) is not a prefix of the image: {}",
            base.manifest,
            base.diff_ids.len(),
            first_difference(
                &base.diff_ids,
                &image.diff_ids[..base.diff_ids.len().min(image.diff_ids.len())]
            )
        ));
    }
    let roles = &rules.layers.base_signers;
    let mut found = false;
    for (bi, bp) in &seen.provenances {
        if bp.manifest.as_ref() != Some(&base.manifest) {
            continue;
        }
        let Some(key) = seen.signer_with(policy, *bi, roles) else {
            problems.push(format!(
                "base provenance log#{} is signed by {}, not a {} key",
                seen.atts[*bi]
                    .log_index
                    .map_or("?".into(), |x| x.to_string()),
                seen.describe_signers(policy, *bi),
                roles_text(roles)
            ));
            continue;
        };
        match provenance_diff_ids(bp) {
            Some(ids) if ids == base.diff_ids => {
                found = true;
                used.insert(*bi);
                let mut item = seen.item(*bi, "base provenance", Some(key));
                item.digest = Some(base.manifest.clone());
                evidence.push(item);
                break;
            }
            Some(ids) => problems.push(format!(
                "base provenance log#{} lists other layers than the build named: {}",
                seen.atts[*bi]
                    .log_index
                    .map_or("?".into(), |x| x.to_string()),
                first_difference(&ids, &base.diff_ids)
            )),
            None => problems.push("base provenance does not list its layers".into()),
        }
    }
    if !found {
        problems.push(format!(
            "no provenance of base image {} signed by a {} key",
            base.manifest,
            roles_text(roles)
        ));
        problems.extend(seen.strangers_about(
            custody_types::predicate_types::SLSA_PROVENANCE_V1,
            Some(&base.manifest),
        ));
    }
    for (pos, chosen) in chosen_layers.iter().enumerate().take(base.diff_ids.len()) {
        if chosen.is_none() {
            problems.push(format!(
                "base layer {pos} has no attestation by a {} key",
                roles_text(roles)
            ));
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            RuleId::BaseImage,
            format!(
                "base image {} is the image's first {} layers, attested by the {} role",
                base.manifest,
                base.diff_ids.len(),
                roles_text(roles)
            ),
            evidence,
        )
    } else {
        Verdict::fail(
            RuleId::BaseImage,
            format!("base image {} is not a trusted prefix", base.manifest),
            problems,
            evidence,
        )
    }
}

/// The SBOM a scan covers: its `sbom` subject, else custody scan's `custody.sbom.digest`;
/// when both are present they must agree.
fn scanned_sbom(scan: &Scan) -> Option<Digest> {
    match (scan.subjects.sbom.as_ref(), scan.predicate.sbom_digest()) {
        (Some(s), Some(i)) if s != i => None,
        (Some(s), _) => Some(s.clone()),
        (None, i) => i.cloned(),
    }
}

/// The VEX statements the policy lets waive findings of this image: from documents attached
/// to its manifest digest and signed by a `vex_signers` key, with their times filled in, in
/// log order (so that of two statements with one time the later logged decides), each with
/// the attestation and key it came from.
fn allowed_vex(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
) -> (Vec<VexStatement>, Vec<(usize, KeyId)>) {
    let signers = &policy.rules().scan.vex_signers;
    let mut docs: Vec<(u64, usize, KeyId)> = Vec::new();
    for (n, (vi, v)) in seen.vex.iter().enumerate() {
        if !v.subjects.contains(&image.manifest_digest) {
            continue;
        }
        let Some(key) = seen.atts[*vi]
            .signers
            .iter()
            .copied()
            .find(|k| policy.key_is(k, signers))
        else {
            continue;
        };
        docs.push((seen.atts[*vi].log_index.unwrap_or(0), n, key));
    }
    docs.sort_by_key(|(log_index, n, _)| (*log_index, *n));
    let mut statements = Vec::new();
    let mut origins = Vec::new();
    for (_, n, key) in docs {
        let (vi, v) = &seen.vex[n];
        for st in v.document.effective_statements() {
            statements.push(st);
            origins.push((*vi, key));
        }
    }
    (statements, origins)
}

fn rule_scan(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
    image_sbom: Option<&Digest>,
    cx: &Context,
    used: &mut BTreeSet<usize>,
) -> (Verdict, Option<usize>) {
    let rule = &policy.rules().scan;
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let scanner = [Role::Scanner];
    let mut covering: Vec<(usize, KeyId)> = Vec::new();
    let mut any_scan = false;
    for (si, (i, s)) in seen.scans.iter().enumerate() {
        if s.subjects.manifest != image.manifest_digest {
            continue;
        }
        any_scan = true;
        let Some(key) = seen.signer_with(policy, *i, &scanner) else {
            problems.push(format!(
                "scan log#{} is signed by {}, not a scanner key",
                seen.atts[*i]
                    .log_index
                    .map_or("?".into(), |x| x.to_string()),
                seen.describe_signers(policy, *i)
            ));
            continue;
        };
        let scanned = scanned_sbom(s);
        match (image_sbom, &scanned) {
            (Some(want), Some(have)) if want == have => covering.push((si, key)),
            (want, have) => problems.push(format!(
                "scan log#{} covers SBOM {}, not the image's SBOM {}",
                seen.atts[*i]
                    .log_index
                    .map_or("?".into(), |x| x.to_string()),
                have.as_ref()
                    .map_or("(none named)".into(), Digest::to_string),
                want.map_or("(the provenance names none)".into(), Digest::to_string)
            )),
        }
    }
    problems.extend(seen.strangers_about(
        custody_types::predicate_types::VULNS_V01,
        Some(&image.manifest_digest),
    ));
    if !rule.required && !any_scan {
        return (
            Verdict::pass(
                RuleId::Scan,
                "no scan, and the policy does not require one",
                Vec::new(),
            ),
            None,
        );
    }
    // The newest scan decides: an older clean scan never outvotes a newer one with findings.
    let newest = covering.iter().max_by_key(|(si, _)| {
        let (i, s) = &seen.scans[*si];
        (s.predicate.scanned_at(), seen.atts[*i].log_index)
    });
    let Some(&(si, key)) = newest else {
        problems.extend(seen.unreadable_about(predicate_types::VULNS_V01));
        if problems.is_empty() {
            problems.push(format!(
                "no scan of this image signed by a scanner key (image SBOM {})",
                image_sbom.map_or("unknown".into(), Digest::to_string)
            ));
        }
        return (
            Verdict::fail(
                RuleId::Scan,
                "no valid scan covers this image's SBOM",
                problems,
                evidence,
            ),
            None,
        );
    };
    // Other scans' problems do not matter once a scan by a scanner key covers the SBOM.
    problems.clear();
    let (i, scan) = &seen.scans[si];
    used.insert(*i);
    let mut item = seen.item(*i, "scan", Some(key));
    item.digest = image_sbom.cloned();
    let when = scan.predicate.scanned_at();
    item.detail = Some(format!(
        "scanned {}{}",
        when.map_or("at an unknown time".into(), |t| t.to_string()),
        scan.predicate
            .scanner
            .db
            .as_ref()
            .and_then(|d| d.version.as_ref())
            .map_or(String::new(), |v| format!(", database {v}"))
    ));
    evidence.push(item);
    match when {
        None => problems.push("the scan does not say when it ran".into()),
        Some(t) => {
            let age = cx.now.duration_since(t);
            if age > rule.max_age {
                problems.push(format!(
                    "the scan is stale: it ran at {t}, {} ago, more than the {} allowed",
                    format_duration(age),
                    format_duration(rule.max_age)
                ));
            } else if age < -MAX_CLOCK_SKEW {
                problems.push(format!("the scan claims to have run in the future ({t})"));
            }
        }
    }
    // VEX from allowed signers, applied by custody-vuln to every (finding, component) pair;
    // a finding above the threshold stands unless every one of its components is waived.
    let (statements, origins) = allowed_vex(policy, image, seen);
    let applied = apply_vex(&scan.predicate, Some(&image.manifest_digest), &statements);
    let mut waived = 0usize;
    let mut waivers: BTreeSet<(usize, KeyId, &str, &str)> = BTreeSet::new();
    // `apply_vex` decides per (result, component) in order: one pair per annotation, or one
    // for a result without annotations.
    let mut decisions = applied.decisions.iter();
    for f in &scan.predicate.scanner.result {
        let pairs: Vec<_> = decisions
            .by_ref()
            .take(f.annotations.len().max(1))
            .collect();
        let level = f.level();
        let rated = level.is_some();
        let level = level.unwrap_or(SeverityLevel::Critical);
        if level <= rule.max_severity {
            continue;
        }
        let standing: Vec<String> = pairs
            .iter()
            .filter(|d| !d.waived)
            .filter_map(|d| d.purl.clone())
            .collect();
        if !pairs.is_empty() && pairs.iter().all(|d| d.waived) {
            waived += 1;
            for d in &pairs {
                if let (Some(n), Some(status)) = (d.statement, d.status) {
                    let (vi, key) = origins[n];
                    waivers.insert((vi, key, f.id.as_str(), status.as_str()));
                }
            }
            continue;
        }
        problems.push(format!(
            "finding {} is {}{}, above the allowed {}, and no VEX statement from an allowed signer waives it{}",
            f.id,
            level.as_str(),
            if rated { "" } else { " (no readable severity: treated as critical)" },
            rule.max_severity.as_str(),
            if standing.is_empty() {
                String::new()
            } else {
                format!(" (component {})", standing.join(", "))
            }
        ));
    }
    for (vi, key, id, status) in waivers {
        used.insert(vi);
        let mut item = seen.item(vi, "vex", Some(key));
        item.detail = Some(format!("waives {id} ({status})"));
        evidence.push(item);
    }
    if rule.require_zero_unevaluated {
        match scan.predicate.unevaluated_count() {
            Some(0) => {}
            Some(n) => problems.push(format!(
                "the scan could not evaluate {n} components, and the policy requires zero"
            )),
            None => problems.push(
                "the scan does not list its unevaluated components (`unevaluated`), so zero cannot be shown"
                    .into(),
            ),
        }
    }
    let findings = scan.predicate.scanner.result.len();
    if problems.is_empty() {
        (
            Verdict::pass(
                RuleId::Scan,
                format!(
                    "scan of the image SBOM within {}: {findings} findings, none above {} unwaived{}",
                    format_duration(rule.max_age),
                    rule.max_severity.as_str(),
                    if waived > 0 {
                        format!(" ({waived} waived by VEX)")
                    } else {
                        String::new()
                    }
                ),
                evidence,
            ),
            Some(*i),
        )
    } else {
        (
            Verdict::fail(
                RuleId::Scan,
                "the newest scan of this image does not satisfy the policy",
                problems,
                evidence,
            ),
            Some(*i),
        )
    }
}

/// Keys that count as "the builder" for four eyes: every key with a build-signing role in the
/// policy, and every key that actually signed this image's provenance or its build layers.
fn builder_keys(
    policy: &Policy,
    seen: &Seen,
    provenance: Option<usize>,
    chosen_layers: &[Option<usize>],
    base_len: Option<usize>,
) -> BTreeSet<KeyId> {
    let rules = policy.rules();
    let build_roles: Vec<Role> = rules
        .layers
        .build_signers
        .iter()
        .chain(&rules.provenance.signers)
        .copied()
        .collect();
    let mut out: BTreeSet<KeyId> = policy
        .keys()
        .iter()
        .filter(|k| build_roles.iter().any(|r| k.roles.contains(r)))
        .map(|k| k.key.key_id())
        .collect();
    if let Some(p) = provenance {
        out.extend(seen.atts[seen.provenances[p].0].signers.iter().copied());
    }
    for (pos, l) in chosen_layers.iter().enumerate() {
        if pos >= base_len.unwrap_or(0)
            && let Some(li) = l
        {
            out.extend(seen.atts[*li].signers.iter().copied());
        }
    }
    out
}

fn rule_reviews(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
    builder_keys: &BTreeSet<KeyId>,
    used: &mut BTreeSet<usize>,
) -> (Verdict, Vec<usize>) {
    let min = policy.rules().reviews.min as usize;
    let reviewer = [Role::Reviewer];
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    // The latest decision of each reviewer key, by log position.
    let mut latest: BTreeMap<KeyId, (usize, &ReviewAttestation)> = BTreeMap::new();
    for (i, r) in &seen.reviews {
        if r.manifest != image.manifest_digest {
            continue;
        }
        let key = r.predicate.reviewer.key_id;
        if !policy.key_has_role(&key, &reviewer) {
            notes.push(format!(
                "review log#{} by key {key} ignored: not a reviewer key",
                seen.atts[*i]
                    .log_index
                    .map_or("?".into(), |x| x.to_string())
            ));
            continue;
        }
        if builder_keys.contains(&key) {
            notes.push(format!(
                "review log#{} by key {key} ignored: that key is the builder's (four eyes)",
                seen.atts[*i]
                    .log_index
                    .map_or("?".into(), |x| x.to_string())
            ));
            continue;
        }
        let order =
            |j: usize, r: &ReviewAttestation| (seen.atts[j].log_index, r.predicate.reviewed_on);
        match latest.get(&key) {
            Some((j, prev)) if order(*j, prev) >= order(*i, r) => {
                notes.push(format!(
                    "review log#{} by key {key} is not counted again: one key is one reviewer",
                    seen.atts[*i]
                        .log_index
                        .map_or("?".into(), |x| x.to_string())
                ));
            }
            Some(_) => {
                notes.push(format!("an earlier review by key {key} is superseded"));
                latest.insert(key, (*i, r));
            }
            None => {
                latest.insert(key, (*i, r));
            }
        }
    }
    let mut evidence = Vec::new();
    let mut counted = Vec::new();
    for (key, (i, r)) in &latest {
        match r.predicate.decision {
            ReviewDecision::Approved => {
                counted.push(*i);
                used.insert(*i);
                let mut item = seen.item(*i, "review", Some(*key));
                item.digest = Some(image.manifest_digest.clone());
                item.detail = Some("approved".into());
                evidence.push(item);
            }
            ReviewDecision::Rejected => {
                used.insert(*i);
                problems.push(format!(
                    "reviewer key {key} rejected this image (log#{})",
                    seen.atts[*i]
                        .log_index
                        .map_or("?".into(), |x| x.to_string())
                ));
            }
        }
    }
    if counted.len() < min {
        problems.push(format!(
            "{} distinct reviewer keys approved this image; the policy requires {min}",
            counted.len()
        ));
        problems.extend(notes.iter().cloned());
        problems.extend(seen.strangers_about(
            custody_types::predicate_types::REVIEW_V1,
            Some(&image.manifest_digest),
        ));
    }
    let summary = format!(
        "{} distinct reviewer keys approved (at least {min} required, none a builder key)",
        counted.len()
    );
    if problems.is_empty() {
        for n in notes {
            evidence.push(Item {
                what: "note".into(),
                detail: Some(n),
                ..Item::default()
            });
        }
        (Verdict::pass(RuleId::Reviews, summary, evidence), counted)
    } else {
        (
            Verdict::fail(RuleId::Reviews, summary, problems, evidence),
            counted,
        )
    }
}

fn rule_config(
    policy: &Policy,
    image: &ImageFacts,
    seen: &Seen,
    evidence_in: &Evidence,
    image_sbom: Option<&Digest>,
    chosen_layers: &[Option<usize>],
) -> Verdict {
    let rule = &policy.rules().config;
    let mut problems = Vec::new();
    let mut evidence = vec![Item {
        what: "config".into(),
        digest: Some(image.config_digest.clone()),
        detail: Some(format!("User {:?}", image.user.as_deref().unwrap_or(""))),
        ..Item::default()
    }];
    if rule.non_root && runs_as_root(image.user.as_deref()) {
        problems.push(format!(
            "the image runs as root (config User {:?}); set a non-root user, e.g. a numeric uid",
            image.user.as_deref().unwrap_or("")
        ));
    }
    let mut checked = 0;
    if !rule.forbidden_packages.is_empty() {
        match final_components(seen, evidence_in, image_sbom, chosen_layers) {
            Err(e) => problems.push(format!("cannot list the final filesystem's packages: {e}")),
            Ok((components, from)) => {
                checked = components.len();
                evidence.push(Item {
                    what: "packages".into(),
                    digest: image_sbom.cloned(),
                    detail: Some(format!("{checked} components from {from}")),
                    ..Item::default()
                });
                for c in &components {
                    for pattern in &rule.forbidden_packages {
                        if pattern.matches(&c.name, c.purl.as_deref()) {
                            problems.push(format!(
                                "forbidden package {} is in the final filesystem ({}{})",
                                pattern.as_str(),
                                c.purl.as_deref().unwrap_or(&c.name),
                                c.version
                                    .as_ref()
                                    .map_or(String::new(), |v| format!(" {v}"))
                            ));
                        }
                    }
                }
            }
        }
    }
    let summary = format!(
        "{}{}",
        if rule.non_root {
            "runs as a non-root user"
        } else {
            "root allowed by the policy"
        },
        if rule.forbidden_packages.is_empty() {
            String::new()
        } else {
            format!(
                "; none of {} forbidden packages among {checked} components",
                rule.forbidden_packages.len()
            )
        }
    );
    if problems.is_empty() {
        Verdict::pass(RuleId::Config, summary, evidence)
    } else {
        Verdict::fail(
            RuleId::Config,
            "the image config or filesystem breaks the policy",
            problems,
            evidence,
        )
    }
}

fn final_components(
    seen: &Seen,
    evidence: &Evidence,
    image_sbom: Option<&Digest>,
    chosen_layers: &[Option<usize>],
) -> Result<(Vec<sbom::Component>, String), String> {
    if let Some(d) = image_sbom
        && let Some(blob) = evidence.blob(d)
    {
        let doc: Value = serde_json::from_slice(&blob.data)
            .map_err(|e| format!("image SBOM {d} is not JSON: {e}"))?;
        let comps = sbom::components(&doc).map_err(|e| format!("image SBOM {d}: {e}"))?;
        return Ok((
            comps
                .into_iter()
                .filter(|(_, removed)| !removed)
                .map(|(c, _)| c)
                .collect(),
            format!("the image SBOM {d}"),
        ));
    }
    let mut layers = Vec::with_capacity(chosen_layers.len());
    for (pos, l) in chosen_layers.iter().enumerate() {
        let Some(li) = l else {
            return Err(format!(
                "layer {pos} has no trusted attestation, so no trusted SBOM"
            ));
        };
        let Some((_, pred)) = seen.layers.iter().find(|(i, _)| i == li) else {
            return Err(format!("layer {pos}: attestation missing"));
        };
        let doc: Cow<'_, Value> = match &pred.sbom.document {
            Some(doc) => Cow::Borrowed(doc),
            None => {
                let blob = evidence.blob(&pred.sbom.digest).ok_or_else(|| {
                    format!(
                        "layer {pos}'s SBOM {} is neither embedded nor in the evidence",
                        pred.sbom.digest
                    )
                })?;
                Cow::Owned(
                    serde_json::from_slice(&blob.data)
                        .map_err(|e| format!("layer {pos}'s SBOM is not JSON: {e}"))?,
                )
            }
        };
        layers.push(sbom::components(&doc).map_err(|e| format!("layer {pos}'s SBOM: {e}"))?);
    }
    Ok((
        sbom::replay(&layers),
        format!("{} layer SBOMs replayed", layers.len()),
    ))
}

#[allow(clippy::too_many_arguments)]
fn rule_ledger(
    policy: &Policy,
    evidence: &Evidence,
    checkpoint: &Result<VerifiedCheckpoint, String>,
    seen: &Seen,
    used: &BTreeSet<usize>,
    provenance: Option<usize>,
    scan: Option<usize>,
    reviews: &[usize],
    cx: &Context,
) -> (Verdict, Option<TrustedCheckpoint>) {
    let rule = &policy.rules().ledger;
    let mut problems = Vec::new();
    let mut items = Vec::new();
    if let Origin::Bundle { digest } = &evidence.origin
        && !rule.accept_bundles
    {
        problems.push(format!(
            "the evidence is an offline bundle ({digest}) and the policy does not accept bundles (rules.ledger.accept_bundles)"
        ));
    }
    let mut next = None;
    match checkpoint {
        Err(e) => problems.push(e.clone()),
        Ok(cp) => {
            items.push(Item {
                what: "checkpoint".into(),
                detail: Some(format!(
                    "{} size {} root {}",
                    cp.origin(),
                    cp.size(),
                    cp.root()
                )),
                ..Item::default()
            });
            match &cx.trusted {
                None => next = Some(TrustedCheckpoint::from(cp)),
                Some(trusted) => {
                    let proof: Option<&[custody_log::Hash]> = if trusted.size == 0
                        || trusted.size == cp.size()
                        || cp.size() < trusted.size
                    {
                        Some(&[])
                    } else {
                        evidence
                            .consistency
                            .iter()
                            .find(|c| c.from_size == trusted.size)
                            .map(|c| c.hashes.as_slice())
                    };
                    match proof {
                        None => problems.push(format!(
                            "no consistency proof from the trusted tree size {} to {}: cannot rule out a fork",
                            trusted.size,
                            cp.size()
                        )),
                        Some(p) => match trusted.advance(cp, p) {
                            Ok(n) => {
                                items.push(Item {
                                    what: "consistent with trusted state".into(),
                                    detail: Some(format!("size {} root {}", trusted.size, trusted.root)),
                                    ..Item::default()
                                });
                                next = Some(n);
                            }
                            Err(e) => problems.push(e.to_string()),
                        },
                    }
                }
            }
        }
    }
    for &i in used {
        let a = &seen.atts[i];
        match &a.logged {
            Ok(()) => {}
            Err(e) => problems.push(format!(
                "attestation {} ({}) is not proven to be in the ledger: {e}",
                a.envelope,
                a.statement.predicate_type()
            )),
        }
    }
    let logged = used
        .iter()
        .filter(|&&i| seen.atts[i].logged.is_ok())
        .count();
    if rule.logged_after_build
        && let Some(p) = provenance
    {
        let build = seen.atts[seen.provenances[p].0].log_index;
        for (what, i) in scan
            .iter()
            .map(|&i| ("scan", i))
            .chain(reviews.iter().map(|&i| ("review", i)))
        {
            let at = seen.atts[i].log_index;
            if let (Some(b), Some(a)) = (build, at)
                && a <= b
            {
                problems.push(format!(
                    "{what} log#{a} was logged before the build provenance log#{b}"
                ));
            }
        }
    }
    if problems.is_empty() {
        (
            Verdict::pass(
                RuleId::Ledger,
                format!(
                    "all {logged} attestations used are included under a checkpoint signed by the log key{}",
                    if cx.trusted.is_some() {
                        ", consistent with the trusted state"
                    } else {
                        ""
                    }
                ),
                items,
            ),
            next,
        )
    } else {
        (
            Verdict::fail(
                RuleId::Ledger,
                "the ledger does not vouch for this evidence",
                problems,
                items,
            ),
            None,
        )
    }
}
