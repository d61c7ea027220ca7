//! The layer attestation: a layer's content (DiffID), its place in the stack (ChainID and the
//! parent ChainID), its blob, and its SBOM.

use custody_types::{ChainId, DiffId, Digest, chain_ids, media_types, predicate_types};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sigstore_types::Statement;

use crate::statement::{CheckedStatement, StatementError, subject, subject_digest};

/// The compressed blob the layer was shipped as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerBlob {
    /// The blob's digest as the manifest lists it.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The blob's media type (gzip, zstd or uncompressed tar).
    pub media_type: String,
}

/// The layer's SBOM: its digest always, the document itself unless the attestation was made
/// in "digest only" mode (for SBOMs too large to embed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerSbom {
    /// The SBOM's media type (`application/vnd.cyclonedx+json`).
    pub media_type: String,
    /// SHA-256 of the SBOM document's bytes (the compact JSON of `document`).
    pub digest: Digest,
    /// Size of those bytes.
    pub size: u64,
    /// The SBOM document, when embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
}

/// An SBOM document normalized to the bytes custody signs and stores: compact JSON, member
/// order kept. Embedding the parsed document in a statement and serializing it again gives
/// back exactly these bytes, so the digest can be re-checked from the statement alone.
#[derive(Debug, Clone, PartialEq)]
pub struct SbomDocument {
    value: Value,
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
}

impl SbomDocument {
    /// Parses (refusing duplicate keys) and normalizes an SBOM given as JSON bytes.
    pub fn from_json(bytes: &[u8], media_type: &str) -> Result<SbomDocument, StatementError> {
        let value = crate::json::from_slice_strict(bytes)?;
        if !value.is_object() {
            return Err(StatementError::Build(
                "an SBOM must be a JSON object".into(),
            ));
        }
        Ok(SbomDocument::from_value(value, media_type))
    }

    /// Normalizes an SBOM given as a parsed JSON value.
    pub fn from_value(value: Value, media_type: &str) -> SbomDocument {
        // Serializing a Value into a Vec cannot fail.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        let digest = Digest::sha256_of(&bytes);
        SbomDocument {
            value,
            bytes,
            digest,
            media_type: media_type.to_owned(),
        }
    }

    /// The normalized bytes (write these to disk; their SHA-256 is [`SbomDocument::digest`]).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parsed document.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// SHA-256 of [`SbomDocument::bytes`].
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// A predicate member embedding the document.
    pub fn embedded(&self) -> LayerSbom {
        LayerSbom {
            document: Some(self.value.clone()),
            ..self.by_digest()
        }
    }

    /// A predicate member embedding the document, consuming it so the document tree is
    /// moved rather than copied (what `custody attest` does once the SBOM file is written).
    pub fn into_embedded(self) -> LayerSbom {
        LayerSbom {
            media_type: self.media_type,
            digest: self.digest,
            size: self.bytes.len() as u64,
            document: Some(self.value),
        }
    }

    /// A predicate member naming the document by digest only.
    pub fn by_digest(&self) -> LayerSbom {
        LayerSbom {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            document: None,
        }
    }
}

/// The layer predicate (`https://custody.dev/attestation/layer/v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerPredicate {
    /// Zero-based position in the image, bottom first.
    pub index: u32,
    /// The layer's DiffID.
    pub diff_id: DiffId,
    /// The layer's ChainID at this position.
    pub chain_id: ChainId,
    /// The ChainID of the layer beneath (`null` for the bottom layer).
    pub parent_chain_id: Option<ChainId>,
    /// The compressed blob.
    pub blob: LayerBlob,
    /// The layer's SBOM.
    pub sbom: LayerSbom,
}

impl LayerPredicate {
    /// The predicate for layer `index` of a stack whose DiffIDs (bottom first, at least up to
    /// `index`) are `diff_ids`: ChainID and parent ChainID are computed, not taken on trust.
    pub fn for_stack(
        diff_ids: &[DiffId],
        index: usize,
        blob: LayerBlob,
        sbom: LayerSbom,
    ) -> Result<LayerPredicate, StatementError> {
        let Some(diff_id) = diff_ids.get(index) else {
            return Err(StatementError::Build(format!(
                "layer index {index} is beyond the {} layers given",
                diff_ids.len()
            )));
        };
        let index_u32 = u32::try_from(index)
            .map_err(|_| StatementError::Build(format!("layer index {index} is too large")))?;
        let chain = chain_ids(&diff_ids[..=index]);
        Ok(LayerPredicate {
            index: index_u32,
            diff_id: diff_id.clone(),
            chain_id: chain[index].clone(),
            parent_chain_id: index.checked_sub(1).map(|p| chain[p].clone()),
            blob,
            sbom,
        })
    }

    /// The subject name of the layer's DiffID (`layer/<index>`).
    pub fn subject_name(&self) -> String {
        format!("layer/{}", self.index)
    }

    /// The statement: subject `layer/<index>` with the DiffID and, when the blob is
    /// compressed, `layer/<index>/blob` with the compressed digest.
    pub fn statement(&self) -> Statement {
        self.clone().into_statement()
    }

    /// [`LayerPredicate::statement`], consuming the predicate: an embedded SBOM document is
    /// moved into the statement, not copied (a large SBOM is most of a layer's signing cost).
    pub fn into_statement(mut self) -> Statement {
        let mut subjects = vec![subject(&self.subject_name(), &self.diff_id.0)];
        if self.blob.digest != self.diff_id.0 {
            subjects.push(subject(
                &format!("{}/blob", self.subject_name()),
                &self.blob.digest,
            ));
        }
        let document = self.sbom.document.take();
        // Serializing a struct of strings and digests cannot fail.
        let mut predicate = serde_json::to_value(&self).unwrap_or_default();
        if let (Some(doc), Some(sbom)) = (
            document,
            predicate.get_mut("sbom").and_then(Value::as_object_mut),
        ) {
            // `document` is the last member of `sbom`, so appending it keeps the order the
            // derived serialization has.
            sbom.insert("document".to_owned(), doc);
        }
        Statement::new(subjects, predicate_types::LAYER_V1, predicate)
    }

    /// Checks the predicate's internal consistency: the ChainID follows from the parent ChainID
    /// and the DiffID, the bottom layer alone has no parent, an embedded SBOM matches its
    /// digest.
    pub fn check(&self) -> Result<(), String> {
        let expected = match (&self.parent_chain_id, self.index) {
            (None, 0) => ChainId::base(&self.diff_id),
            (Some(parent), i) if i > 0 => parent.extend(&self.diff_id),
            (None, i) => return Err(format!("layer {i} has no parentChainId")),
            (Some(_), _) => return Err("layer 0 has a parentChainId".into()),
        };
        if expected != self.chain_id {
            return Err(format!(
                "chainId {} does not follow from parentChainId and diffId (expected {expected})",
                self.chain_id
            ));
        }
        if self.sbom.media_type.is_empty() {
            return Err("sbom.mediaType is empty".into());
        }
        if let Some(doc) = &self.sbom.document {
            let bytes = serde_json::to_vec(doc).map_err(|e| e.to_string())?;
            let digest = Digest::sha256_of(&bytes);
            if digest != self.sbom.digest || bytes.len() as u64 != self.sbom.size {
                return Err(format!(
                    "embedded SBOM has digest {digest} ({} bytes), but sbom.digest is {} ({} bytes)",
                    bytes.len(),
                    self.sbom.digest,
                    self.sbom.size
                ));
            }
        }
        Ok(())
    }
}

/// A verified layer attestation.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerAttestation {
    /// The predicate (checked).
    pub predicate: LayerPredicate,
}

impl LayerAttestation {
    /// Whether the SBOM media type is CycloneDX JSON.
    pub fn sbom_is_cyclonedx(&self) -> bool {
        self.predicate.sbom.media_type == media_types::CYCLONEDX_JSON
    }
}

impl CheckedStatement {
    /// The layer predicate, checked: consistent ChainIDs, subjects naming exactly the DiffID
    /// (and the compressed digest), an embedded SBOM matching its digest.
    pub fn layer(&self) -> Result<LayerAttestation, StatementError> {
        let predicate: LayerPredicate = self.predicate_as(predicate_types::LAYER_V1)?;
        check_layer(predicate, &self.statement().subject)
    }

    /// [`CheckedStatement::layer`], consuming the statement so an embedded SBOM document is
    /// moved out rather than copied.
    pub fn into_layer(self) -> Result<LayerAttestation, StatementError> {
        let pt = predicate_types::LAYER_V1;
        self.expect_type(pt)?;
        let statement = self.into_statement();
        let predicate: LayerPredicate =
            serde_json::from_value(statement.predicate).map_err(|e| StatementError::Predicate {
                predicate_type: pt,
                reason: e.to_string(),
            })?;
        check_layer(predicate, &statement.subject)
    }
}

fn check_layer(
    predicate: LayerPredicate,
    subjects: &[sigstore_types::Subject],
) -> Result<LayerAttestation, StatementError> {
    let bad = |reason: String| StatementError::Predicate {
        predicate_type: predicate_types::LAYER_V1,
        reason,
    };
    predicate.check().map_err(bad)?;
    let first = subjects.first().and_then(subject_digest);
    if first.as_ref() != Some(&predicate.diff_id.0) {
        return Err(bad(format!(
            "the first subject is not the layer's diffId {}",
            predicate.diff_id
        )));
    }
    let compressed = predicate.blob.digest != predicate.diff_id.0;
    let expected_subjects = if compressed { 2 } else { 1 };
    if subjects.len() != expected_subjects
        || (compressed
            && subjects.get(1).and_then(subject_digest).as_ref() != Some(&predicate.blob.digest))
    {
        return Err(bad(format!(
            "subjects must be the diffId{}",
            if compressed {
                " and then the blob digest"
            } else {
                ""
            }
        )));
    }
    Ok(LayerAttestation { predicate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_the_document_gives_the_same_statement_as_copying_it() {
        let doc = SbomDocument::from_json(
            br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"a","version":"1"}]}"#,
            media_types::CYCLONEDX_JSON,
        )
        .unwrap();
        let ids = [
            DiffId(Digest::sha256_of(b"0")),
            DiffId(Digest::sha256_of(b"1")),
        ];
        let blob = LayerBlob {
            digest: Digest::sha256_of(b"blob"),
            size: 1,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        };
        let copied = LayerPredicate::for_stack(&ids, 1, blob.clone(), doc.embedded()).unwrap();
        let moved = LayerPredicate::for_stack(&ids, 1, blob, doc.clone().into_embedded()).unwrap();
        let a = crate::statement::statement_json(&copied.statement());
        let b = crate::statement::statement_json(&moved.into_statement());
        assert_eq!(a, b);
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(
            serde_json::to_vec(&v["predicate"]["sbom"]["document"]).unwrap(),
            doc.bytes()
        );
        assert_eq!(
            v["predicate"]["sbom"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["mediaType", "digest", "size", "document"]
        );
    }
}
