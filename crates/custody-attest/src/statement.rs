//! in-toto Statement v1: building, validating (the rules of the in-toto Go bindings), and the
//! checked form verifiers consume.

use custody_types::{Algorithm, Digest, KeyId, media_types, predicate_types};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sigstore_types::{Sha256Hash, Sha512Hash, Statement, Subject};

use crate::dsse::{Envelope, KeyIdHint, VerifiedEnvelope};
use crate::keys::SigningKey;
use crate::predicates::{
    ImageProvenance, LayerAttestation, ReviewAttestation, ScanAttestation, VerificationSummary,
    VexAttestation,
};

/// Why a payload is not an acceptable in-toto statement, or a predicate not the expected one.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// The envelope's payloadType is not `application/vnd.in-toto+json`.
    #[error("payloadType is {0:?}, not application/vnd.in-toto+json")]
    WrongPayloadType(String),
    /// The payload is not JSON (or repeats an object key).
    #[error("payload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The statement breaks an in-toto Statement v1 rule.
    #[error("not a valid in-toto statement: {0}")]
    Invalid(#[from] ValidationError),
    /// The statement carries another predicate type than the one asked for.
    #[error("predicateType is {actual:?}, expected {expected:?}")]
    WrongPredicateType {
        /// Asked for.
        expected: &'static str,
        /// Found.
        actual: String,
    },
    /// The predicate does not have the shape its type requires.
    #[error("{predicate_type} predicate is invalid: {reason}")]
    Predicate {
        /// The predicate type.
        predicate_type: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Building a statement from bad inputs.
    #[error("cannot build statement: {0}")]
    Build(String),
}

/// A rule of the in-toto Statement v1 / ResourceDescriptor / SLSA Provenance v1 validation the
/// in-toto Go bindings perform (in-toto/attestation go/v1, go/predicates/provenance/v1); the
/// variant names follow their sentinel errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// `_type` is not a Statement type.
    #[error("_type {0:?} is not https://in-toto.io/Statement/v1")]
    InvalidStatementType(String),
    /// No subjects.
    #[error("subject must list at least one artifact")]
    SubjectRequired,
    /// A resource descriptor with none of name, uri, digest.
    #[error("{0}: at least one of name, uri or digest is required")]
    RdRequiredField(String),
    /// A subject without a digest.
    #[error("{0}: statement subjects must have a digest")]
    DigestRequired(String),
    /// A digest value of a known algorithm that is not lowercase hex.
    #[error("{path}: {alg} digest is not lowercase hex")]
    InvalidDigestEncoding {
        /// Where.
        path: String,
        /// Algorithm.
        alg: String,
    },
    /// A digest value of a known algorithm with the wrong length.
    #[error("{path}: {alg} digest has {got} bytes, want {want}")]
    IncorrectDigestLength {
        /// Where.
        path: String,
        /// Algorithm.
        alg: String,
        /// Bytes found.
        got: usize,
        /// Bytes expected.
        want: String,
    },
    /// Empty `predicateType`.
    #[error("predicateType is required")]
    PredicateTypeRequired,
    /// Missing `predicate`.
    #[error("predicate is required")]
    PredicateRequired,
    /// SLSA: missing or empty buildDefinition.
    #[error("provenance buildDefinition is required")]
    BuildDefinitionRequired,
    /// SLSA: empty buildType.
    #[error("provenance buildDefinition.buildType is required")]
    BuildTypeRequired,
    /// SLSA: missing externalParameters.
    #[error("provenance buildDefinition.externalParameters is required")]
    ExternalParamsRequired,
    /// SLSA: missing or empty runDetails.
    #[error("provenance runDetails is required")]
    RunDetailsRequired,
    /// SLSA: missing or empty builder.
    #[error("provenance runDetails.builder is required")]
    BuilderRequired,
    /// SLSA: empty builder id.
    #[error("provenance runDetails.builder.id is required")]
    BuilderIdRequired,
    /// A member of the wrong JSON type.
    #[error("{path} must be {expected}")]
    WrongType {
        /// Where.
        path: String,
        /// What it must be.
        expected: &'static str,
    },
}

/// Digest algorithms whose values the in-toto bindings check, and their sizes in bytes
/// (`gitCommit` may be SHA-1 or SHA-256).
fn known_digest_sizes(alg: &str) -> Option<&'static [usize]> {
    Some(match alg {
        "md5" => &[16],
        "sha1" => &[20],
        "sha224" | "sha512_224" | "sha3_224" => &[28],
        "sha256" | "sha512_256" | "sha3_256" | "dirHash" => &[32],
        "sha384" | "sha3_384" => &[48],
        "sha512" | "sha3_512" => &[64],
        "gitCommit" => &[20, 32],
        _ => return None,
    })
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ValidationError> {
    v.as_object().ok_or_else(|| ValidationError::WrongType {
        path: path.to_owned(),
        expected: "an object",
    })
}

fn opt_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ValidationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::WrongType {
            path: format!("{path}.{key}"),
            expected: "a string",
        }),
    }
}

/// Validates a DigestSet: known algorithms must be lowercase hex of the right length; unknown
/// ones are carried without interpretation (the spec says consumers ignore them).
pub fn validate_digest_set(v: &Value, path: &str) -> Result<(), ValidationError> {
    for (alg, value) in object(v, path)? {
        let Some(value) = value.as_str() else {
            return Err(ValidationError::WrongType {
                path: format!("{path}.{alg}"),
                expected: "a string",
            });
        };
        let Some(sizes) = known_digest_sizes(alg) else {
            continue;
        };
        let hex_ok = value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok || value.len() % 2 != 0 {
            return Err(ValidationError::InvalidDigestEncoding {
                path: path.to_owned(),
                alg: alg.clone(),
            });
        }
        if !sizes.contains(&(value.len() / 2)) {
            return Err(ValidationError::IncorrectDigestLength {
                path: path.to_owned(),
                alg: alg.clone(),
                got: value.len() / 2,
                want: sizes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        }
    }
    Ok(())
}

/// Validates an in-toto ResourceDescriptor (spec/v1/resource_descriptor.md).
pub fn validate_resource_descriptor(v: &Value, path: &str) -> Result<(), ValidationError> {
    let m = object(v, path)?;
    let name = opt_str(m, "name", path)?.unwrap_or("");
    let uri = opt_str(m, "uri", path)?.unwrap_or("");
    for key in ["downloadLocation", "mediaType", "content"] {
        opt_str(m, key, path)?;
    }
    let has_digest = match m.get("digest") {
        None | Some(Value::Null) => false,
        Some(d) => {
            validate_digest_set(d, &format!("{path}.digest"))?;
            d.as_object().is_some_and(|o| !o.is_empty())
        }
    };
    if name.is_empty() && uri.is_empty() && !has_digest {
        return Err(ValidationError::RdRequiredField(path.to_owned()));
    }
    if let Some(a) = m.get("annotations")
        && !a.is_null()
    {
        object(a, &format!("{path}.annotations"))?;
    }
    Ok(())
}

/// Validates an in-toto Statement (spec/v1/statement.md) as the in-toto Go bindings do,
/// including their acceptance of the v0.1 `_type`.
pub fn validate_statement(v: &Value) -> Result<(), ValidationError> {
    let m = object(v, "statement")?;
    let ty = opt_str(m, "_type", "statement")?.unwrap_or("");
    if ty != predicate_types::STATEMENT_V1 && ty != STATEMENT_V01 {
        return Err(ValidationError::InvalidStatementType(ty.to_owned()));
    }
    let subjects = match m.get("subject") {
        None | Some(Value::Null) => return Err(ValidationError::SubjectRequired),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ValidationError::WrongType {
                path: "subject".into(),
                expected: "an array",
            });
        }
    };
    if subjects.is_empty() {
        return Err(ValidationError::SubjectRequired);
    }
    for (i, s) in subjects.iter().enumerate() {
        let path = format!("subject[{i}]");
        validate_resource_descriptor(s, &path)?;
        let has_digest = s
            .get("digest")
            .and_then(Value::as_object)
            .is_some_and(|d| !d.is_empty());
        if !has_digest {
            return Err(ValidationError::DigestRequired(path));
        }
    }
    if opt_str(m, "predicateType", "statement")?
        .unwrap_or("")
        .is_empty()
    {
        return Err(ValidationError::PredicateTypeRequired);
    }
    match m.get("predicate") {
        None | Some(Value::Null) => Err(ValidationError::PredicateRequired),
        Some(p) => object(p, "predicate").map(|_| ()),
    }
}

fn non_empty_object<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ValidationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let o = object(v, &format!("{path}.{key}"))?;
            Ok((!o.is_empty()).then_some(o))
        }
    }
}

fn validate_rd_list(m: &Map<String, Value>, key: &str, path: &str) -> Result<(), ValidationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) => a.iter().enumerate().try_for_each(|(i, rd)| {
            validate_resource_descriptor(rd, &format!("{path}.{key}[{i}]"))
        }),
        Some(_) => Err(ValidationError::WrongType {
            path: format!("{path}.{key}"),
            expected: "an array",
        }),
    }
}

/// Validates a SLSA Provenance v1 predicate as the in-toto Go bindings do
/// (go/predicates/provenance/v1), plus the member types of the SLSA schema
/// (../shared/testdata/intoto/slsa/provenance-v1.schema.cue).
pub fn validate_provenance(v: &Value) -> Result<(), ValidationError> {
    let m = object(v, "predicate")?;
    let bd = non_empty_object(m, "buildDefinition", "predicate")?
        .ok_or(ValidationError::BuildDefinitionRequired)?;
    let path = "predicate.buildDefinition";
    if opt_str(bd, "buildType", path)?.unwrap_or("").is_empty() {
        return Err(ValidationError::BuildTypeRequired);
    }
    match bd.get("externalParameters") {
        None | Some(Value::Null) => return Err(ValidationError::ExternalParamsRequired),
        Some(p) => {
            object(p, "predicate.buildDefinition.externalParameters")?;
        }
    }
    if let Some(p) = bd.get("internalParameters")
        && !p.is_null()
    {
        object(p, "predicate.buildDefinition.internalParameters")?;
    }
    validate_rd_list(bd, "resolvedDependencies", path)?;
    let rd = non_empty_object(m, "runDetails", "predicate")?
        .ok_or(ValidationError::RunDetailsRequired)?;
    let path = "predicate.runDetails";
    let builder = non_empty_object(rd, "builder", path)?.ok_or(ValidationError::BuilderRequired)?;
    if opt_str(builder, "id", "predicate.runDetails.builder")?
        .unwrap_or("")
        .is_empty()
    {
        return Err(ValidationError::BuilderIdRequired);
    }
    validate_rd_list(
        builder,
        "builderDependencies",
        "predicate.runDetails.builder",
    )?;
    if let Some(version) = builder.get("version")
        && !version.is_null()
    {
        for (k, v) in object(version, "predicate.runDetails.builder.version")? {
            if !v.is_string() {
                return Err(ValidationError::WrongType {
                    path: format!("predicate.runDetails.builder.version.{k}"),
                    expected: "a string",
                });
            }
        }
    }
    if let Some(meta) = non_empty_object(rd, "metadata", path)? {
        for key in ["invocationId", "startedOn", "finishedOn"] {
            let s = opt_str(meta, key, "predicate.runDetails.metadata")?;
            if key != "invocationId"
                && let Some(s) = s
                && s.parse::<jiff::Timestamp>().is_err()
            {
                return Err(ValidationError::WrongType {
                    path: format!("predicate.runDetails.metadata.{key}"),
                    expected: "an RFC 3339 timestamp",
                });
            }
        }
    }
    validate_rd_list(rd, "byproducts", path)
}

/// The in-toto Statement v0.1 `_type`, still accepted by the in-toto Go bindings.
const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// A Statement subject naming `digest` (sha256 or sha512) as `name`.
pub fn subject(name: &str, digest: &Digest) -> Subject {
    let d = match digest.algorithm() {
        Algorithm::Sha256 => digest
            .sha256_bytes()
            .map(|b| sigstore_types::Digest::sha256(Sha256Hash::new(b))),
        Algorithm::Sha512 => <[u8; 64]>::try_from(digest.to_bytes().as_slice())
            .ok()
            .map(|b| sigstore_types::Digest::sha512(Sha512Hash::new(b))),
    }
    // A checked Digest always has the right length; the fallback keeps the name and refuses
    // nothing silently because validate_statement rejects an empty digest set.
    .unwrap_or_default();
    Subject::new(name, d)
}

/// The custody Digest of a subject's sha256 (or else sha512) entry.
pub fn subject_digest(subject: &Subject) -> Option<Digest> {
    if let Some(h) = &subject.digest.sha256 {
        return Digest::new(Algorithm::Sha256, &h.to_hex()).ok();
    }
    subject
        .digest
        .sha512
        .as_ref()
        .and_then(|h| Digest::new(Algorithm::Sha512, &h.to_hex()).ok())
}

/// Serializes a statement: compact JSON, members in a fixed order, so the same statement
/// always gives the same bytes.
pub fn statement_json(statement: &Statement) -> Vec<u8> {
    // A Statement is strings, arrays and a Value: serializing it into a Vec cannot fail.
    serde_json::to_vec(statement).unwrap_or_default()
}

/// Signs a statement into a DSSE envelope (payloadType `application/vnd.in-toto+json`).
pub fn sign_statement(statement: &Statement, key: &SigningKey, hint: KeyIdHint) -> Envelope {
    Envelope::sign(
        media_types::IN_TOTO_JSON,
        statement_json(statement),
        &[key],
        hint,
    )
}

/// A statement from a verified envelope, validated, with the keys that signed it. Verifiers
/// read predicates through its typed accessors, each of which checks its predicate's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedStatement {
    statement: Statement,
    signers: Vec<KeyId>,
    envelope_digest: Digest,
}

impl TryFrom<&VerifiedEnvelope> for CheckedStatement {
    type Error = StatementError;

    fn try_from(envelope: &VerifiedEnvelope) -> Result<Self, Self::Error> {
        if envelope.payload_type() != media_types::IN_TOTO_JSON {
            return Err(StatementError::WrongPayloadType(
                envelope.payload_type().to_owned(),
            ));
        }
        let statement = parse_statement(envelope.payload())?;
        Ok(CheckedStatement {
            statement,
            signers: envelope.signers().to_vec(),
            envelope_digest: envelope.digest().clone(),
        })
    }
}

/// Parses and validates statement JSON (duplicate keys refused).
pub fn parse_statement(payload: &[u8]) -> Result<Statement, StatementError> {
    let value = crate::json::from_slice_strict(payload)?;
    validate_statement(&value)?;
    Ok(serde_json::from_value(value)?)
}

/// What a checked statement attests, by predicate type.
#[derive(Debug, Clone, PartialEq)]
pub enum Attestation {
    /// A layer at its position (`https://custody.dev/attestation/layer/v1`).
    Layer(Box<LayerAttestation>),
    /// SLSA Provenance v1 of an image.
    Provenance(Box<ImageProvenance>),
    /// A reviewer's decision.
    Review(Box<ReviewAttestation>),
    /// in-toto vulns v0.1 scan results.
    Scan(Box<ScanAttestation>),
    /// OpenVEX statements.
    Vex(Box<VexAttestation>),
    /// SLSA Verification Summary (a deploy decision).
    Decision(Box<VerificationSummary>),
    /// Any other predicate type, left uninterpreted.
    Other(String),
}

impl CheckedStatement {
    /// The statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }

    /// The statement, consumed.
    pub fn into_statement(self) -> Statement {
        self.statement
    }

    /// The predicate type URI.
    pub fn predicate_type(&self) -> &str {
        &self.statement.predicate_type
    }

    /// The raw predicate.
    pub fn predicate(&self) -> &Value {
        &self.statement.predicate
    }

    /// Key IDs that verified the envelope.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }

    /// SHA-256 of the envelope's canonical JSON.
    pub fn envelope_digest(&self) -> &Digest {
        &self.envelope_digest
    }

    /// Subjects with a sha256 or sha512 digest, as (name, digest).
    pub fn subjects(&self) -> Vec<(&str, Digest)> {
        self.statement
            .subject
            .iter()
            .filter_map(|s| subject_digest(s).map(|d| (s.name.as_str(), d)))
            .collect()
    }

    /// Whether any subject has `digest`.
    pub fn is_about(&self, digest: &Digest) -> bool {
        self.statement
            .subject
            .iter()
            .any(|s| subject_digest(s).as_ref() == Some(digest))
    }

    pub(crate) fn expect_type(&self, expected: &'static str) -> Result<(), StatementError> {
        if self.statement.predicate_type != expected {
            return Err(StatementError::WrongPredicateType {
                expected,
                actual: self.statement.predicate_type.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn predicate_as<T: DeserializeOwned>(
        &self,
        predicate_type: &'static str,
    ) -> Result<T, StatementError> {
        self.expect_type(predicate_type)?;
        T::deserialize(&self.statement.predicate).map_err(|e| StatementError::Predicate {
            predicate_type,
            reason: e.to_string(),
        })
    }

    /// [`CheckedStatement::attestation`], consuming the statement: a layer's embedded SBOM is
    /// moved, not copied (most of the cost of reading a layer attestation).
    pub fn into_attestation(self) -> Result<Attestation, StatementError> {
        if self.predicate_type() == predicate_types::LAYER_V1 {
            return Ok(Attestation::Layer(Box::new(self.into_layer()?)));
        }
        self.attestation()
    }

    /// The predicate, interpreted by its type.
    pub fn attestation(&self) -> Result<Attestation, StatementError> {
        Ok(match self.predicate_type() {
            predicate_types::LAYER_V1 => Attestation::Layer(Box::new(self.layer()?)),
            predicate_types::SLSA_PROVENANCE_V1 => {
                Attestation::Provenance(Box::new(self.provenance()?))
            }
            predicate_types::REVIEW_V1 => Attestation::Review(Box::new(self.review()?)),
            predicate_types::VULNS_V01 => Attestation::Scan(Box::new(self.scan()?)),
            predicate_types::OPENVEX_V02 => Attestation::Vex(Box::new(self.vex()?)),
            predicate_types::VERIFICATION_SUMMARY_V1 => {
                Attestation::Decision(Box::new(self.decision()?))
            }
            other => Attestation::Other(other.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_carry_hex_digests() {
        let d = Digest::sha256_of(b"x");
        let s = subject("thing", &d);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["digest"]["sha256"], d.hex());
        assert_eq!(subject_digest(&s), Some(d));
    }

    #[test]
    fn statements_with_a_repeated_key_are_refused() {
        let json = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}],"predicateType":"x","predicateType":"y","predicate":{}}"#;
        let err = parse_statement(json).unwrap_err();
        assert!(err.to_string().contains("duplicate key"), "{err}");
    }
}
