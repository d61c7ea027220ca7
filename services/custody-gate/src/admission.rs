//! Kubernetes admission: which images a Pod (or a workload's pod template) runs, and the
//! AdmissionReview v1 response.

use custody_types::Digest;
use serde_json::{Value, json};

/// An image reference from a pod spec, with the digest it pins (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The container (or init/ephemeral container) name.
    pub container: String,
    /// The reference as written.
    pub reference: String,
    /// The manifest digest after `@`, when the reference is pinned.
    pub digest: Option<Digest>,
}

/// Why a request cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// Not an AdmissionReview v1 request.
    #[error("not an admission.k8s.io/v1 AdmissionReview request: {0}")]
    NotAReview(String),
    /// The object has no pod spec custody knows how to find.
    #[error("{kind} objects are not understood by the custody gate")]
    UnknownKind {
        /// The object's kind.
        kind: String,
    },
}

/// The request part of an AdmissionReview: its uid and the object's images.
#[derive(Debug, Clone)]
pub struct Review {
    /// `request.uid`, echoed in the response.
    pub uid: String,
    /// `request.kind.kind`.
    pub kind: String,
    /// `request.namespace/name` for messages.
    pub object: String,
    /// Every container image.
    pub images: Vec<ImageRef>,
    /// `request.dryRun`: nothing may be recorded.
    pub dry_run: bool,
}

/// Where the pod spec of each supported kind lives.
fn pod_spec<'a>(kind: &str, object: &'a Value) -> Option<&'a Value> {
    match kind {
        "Pod" => object.get("spec"),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => object.pointer("/spec/template/spec"),
        "CronJob" => object.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The digest a reference pins: `name@sha256:<hex>` (a tag before `@` is ignored, as the
/// runtime ignores it).
pub fn pinned_digest(reference: &str) -> Option<Digest> {
    reference.rsplit_once('@')?.1.parse().ok()
}

/// Reads an AdmissionReview request.
pub fn parse_review(body: &Value) -> Result<Review, AdmissionError> {
    let bad = |m: &str| AdmissionError::NotAReview(m.to_owned());
    if body.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || body.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(bad(
            "apiVersion must be admission.k8s.io/v1 and kind AdmissionReview",
        ));
    }
    let req = body.get("request").ok_or_else(|| bad("no request"))?;
    let uid = req
        .get("uid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no request.uid"))?
        .to_owned();
    let kind = req
        .pointer("/kind/kind")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no request.kind.kind"))?
        .to_owned();
    let object = req.get("object").ok_or_else(|| bad("no request.object"))?;
    let spec = pod_spec(&kind, object)
        .ok_or_else(|| AdmissionError::UnknownKind { kind: kind.clone() })?;
    let mut images = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let reference = c
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            images.push(ImageRef {
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                digest: pinned_digest(&reference),
                reference,
            });
        }
    }
    let name = object
        .pointer("/metadata/name")
        .or_else(|| req.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = req.get("namespace").and_then(Value::as_str).unwrap_or("");
    Ok(Review {
        uid,
        kind,
        object: format!("{namespace}/{name}"),
        images,
        dry_run: req.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The AdmissionReview response: allowed, or denied with `message` (HTTP 403 in the status).
pub fn response(uid: &str, allowed: bool, message: &str) -> Value {
    let mut resp = json!({"uid": uid, "allowed": allowed});
    if !allowed {
        resp["status"] = json!({"code": 403, "reason": "Forbidden", "message": message});
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_found_in_every_workload_kind() {
        let d = format!("sha256:{}", "a".repeat(64));
        let pod = json!({"spec": {"initContainers": [{"name": "i", "image": format!("reg/x@{d}")}],
                                  "containers": [{"name": "c", "image": "reg/y:latest"}]}});
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"kind": "Pod"}, "namespace": "ns", "object": pod}});
        let r = parse_review(&review).unwrap();
        assert_eq!(r.uid, "u1");
        assert_eq!(r.images.len(), 2);
        assert_eq!(r.images[0].digest.as_ref().unwrap().to_string(), d);
        assert_eq!(r.images[1].digest, None);
        let dep = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u2", "kind": {"kind": "CronJob"}, "object": {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": format!("r@{d}")}]}}}}}}}});
        assert_eq!(parse_review(&dep).unwrap().images.len(), 1);
        let other = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u3", "kind": {"kind": "ConfigMap"}, "object": {}}});
        assert!(matches!(
            parse_review(&other),
            Err(AdmissionError::UnknownKind { .. })
        ));
        assert!(parse_review(&json!({"kind": "AdmissionReview"})).is_err());
    }

    #[test]
    fn pinned_digests_ignore_tags_and_refuse_bad_digests() {
        let d = format!("sha256:{}", "b".repeat(64));
        assert!(pinned_digest(&format!("reg:5000/app:1.0@{d}")).is_some());
        assert!(pinned_digest("reg/app:1.0").is_none());
        assert!(pinned_digest("reg/app@sha256:short").is_none());
    }
}
