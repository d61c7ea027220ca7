//! SLSA Provenance v1 (<https://slsa.dev/provenance/v1>): the generic types, and the
//! provenance custody writes for an image (its build type, base image, CI invocation, layer
//! attestations as byproducts).

use std::collections::BTreeMap;

use custody_types::{ChainId, DiffId, Digest, Role, predicate_types};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigstore_types::Statement;

use crate::statement::{
    CheckedStatement, StatementError, subject, subject_digest, validate_provenance,
};

/// custody's build type: an OCI image attested by `custody attest`.
pub const BUILD_TYPE_OCI_IMAGE: &str = "https://custody.dev/buildtypes/oci-image/v1";
/// Media type of a DSSE envelope (as cosign and the OCI referrers API name it).
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Name of the base image's resolved dependency.
pub const BASE_IMAGE_NAME: &str = "base-image";
/// Name of the config subject of an image provenance.
pub const CONFIG_SUBJECT_NAME: &str = "config";
/// Name of the image SBOM byproduct.
pub const IMAGE_SBOM_NAME: &str = "sbom/image";

/// An in-toto ResourceDescriptor (spec/v1/resource_descriptor.md).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A URI naming the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Digests by algorithm, lowercase hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// A name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where to download it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Inline content (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
}

impl ResourceDescriptor {
    /// A descriptor named `name` with `digest` as its DigestSet entry.
    pub fn named(name: &str, digest: &Digest) -> ResourceDescriptor {
        let mut set = BTreeMap::new();
        set.insert(
            digest.algorithm().as_str().to_owned(),
            digest.hex().to_owned(),
        );
        ResourceDescriptor {
            name: Some(name.to_owned()),
            digest: set,
            ..ResourceDescriptor::default()
        }
    }

    /// The sha256 entry as a custody Digest.
    pub fn sha256(&self) -> Option<Digest> {
        self.digest
            .get("sha256")
            .and_then(|h| Digest::new(custody_types::Algorithm::Sha256, h).ok())
    }

    fn annotation_str(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key)?.as_str()
    }
}

/// SLSA `buildDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// The build type URI.
    pub build_type: String,
    /// Parameters the build's caller chose.
    pub external_parameters: Map<String, Value>,
    /// Parameters the builder set.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub internal_parameters: Map<String, Value>,
    /// Inputs (the base image, the source commit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// SLSA `runDetails.builder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// Who built it (a URI).
    pub id: String,
    /// Versions of the builder's components.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// The builder's own dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// SLSA `runDetails.metadata`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// The CI run (a URL where there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// When the build started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<Timestamp>,
    /// When the build finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<Timestamp>,
}

/// SLSA `runDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The builder.
    pub builder: Builder,
    /// The run.
    #[serde(default)]
    pub metadata: BuildMetadata,
    /// Other artifacts the run produced (custody: the layer attestations, the image SBOM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// A SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// What was built and from what.
    pub build_definition: BuildDefinition,
    /// Who built it and when.
    pub run_details: RunDetails,
}

/// The CI system a build ran in, read from its environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiContext {
    /// GitHub Actions.
    GitHub {
        /// `GITHUB_SERVER_URL`.
        server_url: String,
        /// `GITHUB_REPOSITORY` (owner/name).
        repository: String,
        /// `GITHUB_WORKFLOW_REF` (owner/name/.github/workflows/x.yml@refs/heads/main).
        workflow_ref: String,
        /// `GITHUB_RUN_ID`.
        run_id: String,
        /// `GITHUB_RUN_ATTEMPT`.
        run_attempt: String,
        /// `GITHUB_SHA`.
        sha: Option<String>,
        /// `GITHUB_REF`.
        git_ref: Option<String>,
        /// `GITHUB_EVENT_NAME`.
        event_name: Option<String>,
        /// `GITHUB_REPOSITORY_ID`.
        repository_id: Option<String>,
        /// `GITHUB_REPOSITORY_OWNER_ID`.
        repository_owner_id: Option<String>,
        /// `RUNNER_ENVIRONMENT` (github-hosted or self-hosted).
        runner_environment: Option<String>,
    },
    /// GitLab CI.
    GitLab {
        /// `CI_SERVER_URL`.
        server_url: String,
        /// `CI_PROJECT_PATH` (group/project).
        project_path: String,
        /// `CI_PIPELINE_ID`.
        pipeline_id: String,
        /// `CI_JOB_ID`.
        job_id: String,
        /// `CI_COMMIT_SHA`.
        sha: Option<String>,
        /// `CI_COMMIT_REF_NAME`.
        ref_name: Option<String>,
        /// `CI_CONFIG_PATH` (default `.gitlab-ci.yml`).
        config_path: String,
        /// `CI_PIPELINE_SOURCE`.
        pipeline_source: Option<String>,
        /// `CI_RUNNER_ID`.
        runner_id: Option<String>,
    },
}

impl CiContext {
    /// Reads the CI context from environment variables through `get` (so tests pass a map):
    /// GitHub Actions when `GITHUB_ACTIONS=true`, GitLab CI when `GITLAB_CI=true`, with their
    /// required variables present; `None` otherwise.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<CiContext> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            return Some(CiContext::GitHub {
                server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
                repository: var("GITHUB_REPOSITORY")?,
                workflow_ref: var("GITHUB_WORKFLOW_REF")?,
                run_id: var("GITHUB_RUN_ID")?,
                run_attempt: var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into()),
                sha: var("GITHUB_SHA"),
                git_ref: var("GITHUB_REF"),
                event_name: var("GITHUB_EVENT_NAME"),
                repository_id: var("GITHUB_REPOSITORY_ID"),
                repository_owner_id: var("GITHUB_REPOSITORY_OWNER_ID"),
                runner_environment: var("RUNNER_ENVIRONMENT"),
            });
        }
        if var("GITLAB_CI").as_deref() == Some("true") {
            return Some(CiContext::GitLab {
                server_url: var("CI_SERVER_URL")?,
                project_path: var("CI_PROJECT_PATH")?,
                pipeline_id: var("CI_PIPELINE_ID")?,
                job_id: var("CI_JOB_ID")?,
                sha: var("CI_COMMIT_SHA"),
                ref_name: var("CI_COMMIT_REF_NAME"),
                config_path: var("CI_CONFIG_PATH").unwrap_or_else(|| ".gitlab-ci.yml".into()),
                pipeline_source: var("CI_PIPELINE_SOURCE"),
                runner_id: var("CI_RUNNER_ID"),
            });
        }
        None
    }

    /// The builder ID: the workflow file at its ref (GitHub, as GitHub's own attestations
    /// name it) or the pipeline definition at its ref (GitLab).
    pub fn builder_id(&self) -> String {
        match self {
            CiContext::GitHub {
                server_url,
                workflow_ref,
                ..
            } => format!("{}/{workflow_ref}", server_url.trim_end_matches('/')),
            CiContext::GitLab {
                server_url,
                project_path,
                ref_name,
                config_path,
                ..
            } => format!(
                "{}/{project_path}/-/blob/{}/{config_path}",
                server_url.trim_end_matches('/'),
                ref_name.as_deref().unwrap_or("HEAD")
            ),
        }
    }

    /// The invocation ID: the URL of this run attempt (GitHub) or job (GitLab).
    pub fn invocation_id(&self) -> String {
        match self {
            CiContext::GitHub {
                server_url,
                repository,
                run_id,
                run_attempt,
                ..
            } => format!(
                "{}/{repository}/actions/runs/{run_id}/attempts/{run_attempt}",
                server_url.trim_end_matches('/')
            ),
            CiContext::GitLab {
                server_url,
                project_path,
                job_id,
                ..
            } => format!(
                "{}/{project_path}/-/jobs/{job_id}",
                server_url.trim_end_matches('/')
            ),
        }
    }

    fn repository_url(&self) -> String {
        match self {
            CiContext::GitHub {
                server_url,
                repository,
                ..
            } => format!("{}/{repository}", server_url.trim_end_matches('/')),
            CiContext::GitLab {
                server_url,
                project_path,
                ..
            } => format!("{}/{project_path}", server_url.trim_end_matches('/')),
        }
    }

    /// The source commit as a resolved dependency (`git+<repo>@<ref>` with its gitCommit).
    pub fn source_dependency(&self) -> Option<ResourceDescriptor> {
        let (sha, git_ref) = match self {
            CiContext::GitHub { sha, git_ref, .. } => (sha.as_ref()?, git_ref.as_deref()),
            CiContext::GitLab { sha, ref_name, .. } => (sha.as_ref()?, ref_name.as_deref()),
        };
        let mut digest = BTreeMap::new();
        digest.insert("gitCommit".to_owned(), sha.clone());
        Some(ResourceDescriptor {
            uri: Some(match git_ref {
                Some(r) => format!("git+{}@{r}", self.repository_url()),
                None => format!("git+{}", self.repository_url()),
            }),
            digest,
            ..ResourceDescriptor::default()
        })
    }

    /// External parameters: the workflow (GitHub, as in GitHub's build type) or pipeline.
    pub fn external_parameters(&self) -> (String, Value) {
        match self {
            CiContext::GitHub {
                workflow_ref,
                git_ref,
                repository,
                ..
            } => {
                // GITHUB_WORKFLOW_REF is "<owner>/<repo>/<path>@<ref>".
                let path = workflow_ref
                    .split_once('@')
                    .map(|(p, _)| p)
                    .unwrap_or(workflow_ref)
                    .strip_prefix(&format!("{repository}/"))
                    .unwrap_or(workflow_ref)
                    .to_owned();
                (
                    "workflow".to_owned(),
                    json!({
                        "ref": git_ref,
                        "repository": self.repository_url(),
                        "path": path,
                    }),
                )
            }
            CiContext::GitLab {
                ref_name,
                config_path,
                ..
            } => (
                "pipeline".to_owned(),
                json!({
                    "ref": ref_name,
                    "repository": self.repository_url(),
                    "path": config_path,
                }),
            ),
        }
    }

    /// Internal parameters: the CI system's run details.
    pub fn internal_parameters(&self) -> (String, Value) {
        match self {
            CiContext::GitHub {
                event_name,
                repository_id,
                repository_owner_id,
                runner_environment,
                ..
            } => (
                "github".to_owned(),
                strip_nulls(json!({
                    "event_name": event_name,
                    "repository_id": repository_id,
                    "repository_owner_id": repository_owner_id,
                    "runner_environment": runner_environment,
                })),
            ),
            CiContext::GitLab {
                pipeline_id,
                job_id,
                pipeline_source,
                runner_id,
                ..
            } => (
                "gitlab".to_owned(),
                strip_nulls(json!({
                    "pipeline_id": pipeline_id,
                    "job_id": job_id,
                    "pipeline_source": pipeline_source,
                    "runner_id": runner_id,
                })),
            ),
        }
    }
}

fn strip_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, v| !v.is_null());
    }
    v
}

/// The base image an image was built on, as `--base` named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// How it was named (a reference or path), if not only by digest.
    pub reference: Option<String>,
    /// Its manifest digest.
    pub manifest: Digest,
    /// Its config digest, when known.
    pub config: Option<Digest>,
    /// Its DiffIDs, bottom first (a prefix of the image's).
    pub diff_ids: Vec<DiffId>,
}

impl BaseImage {
    /// The resolved dependencies naming the base: the image itself (manifest digest), then one
    /// per layer (`base-image/layer/<i>`, DiffID, with its ChainID annotated).
    pub fn resolved_dependencies(&self) -> Vec<ResourceDescriptor> {
        let mut base = ResourceDescriptor::named(BASE_IMAGE_NAME, &self.manifest);
        base.uri = self.reference.clone();
        let mut ann = Map::new();
        if let Some(config) = &self.config {
            ann.insert("config".into(), Value::String(config.to_string()));
        }
        ann.insert("layers".into(), Value::from(self.diff_ids.len()));
        base.annotations = Some(ann);
        let mut out = vec![base];
        for (i, (diff_id, chain_id)) in self
            .diff_ids
            .iter()
            .zip(custody_types::chain_ids(&self.diff_ids))
            .enumerate()
        {
            let mut rd =
                ResourceDescriptor::named(&format!("{BASE_IMAGE_NAME}/layer/{i}"), &diff_id.0);
            let mut ann = Map::new();
            ann.insert("chainId".into(), Value::String(chain_id.to_string()));
            rd.annotations = Some(ann);
            out.push(rd);
        }
        out
    }
}

/// One layer of the image as the provenance lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceLayer {
    /// Position, bottom first.
    pub index: u32,
    /// DiffID.
    pub diff_id: DiffId,
    /// ChainID.
    pub chain_id: ChainId,
    /// SHA-256 of this build's layer attestation envelope (`None` for base layers, which the
    /// base library attested).
    pub envelope: Option<Digest>,
}

/// Everything custody records about an image build; [`ImageBuild::statement`] turns it into
/// a SLSA Provenance v1 statement over the manifest and config digests.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBuild {
    /// The image's name (`--image NAME:TAG`), used as the manifest subject's name.
    pub image_name: Option<String>,
    /// The image's manifest digest.
    pub manifest: Digest,
    /// The image's config digest.
    pub config: Digest,
    /// Where the image was read from (the `IMAGE` argument).
    pub source: String,
    /// The platform selected from an index, if any.
    pub platform: Option<String>,
    /// The role the signer acts in (builder or base-library).
    pub role: Role,
    /// The base image, when the build had one.
    pub base: Option<BaseImage>,
    /// The builder ID.
    pub builder_id: String,
    /// custody's version (recorded as `builder.version.custody`).
    pub custody_version: String,
    /// The CI context, when run in CI.
    pub ci: Option<CiContext>,
    /// An invocation ID overriding the CI's.
    pub invocation_id: Option<String>,
    /// When the build (the attest run) started.
    pub started_on: Timestamp,
    /// When it finished.
    pub finished_on: Timestamp,
    /// Every layer, bottom first.
    pub layers: Vec<ProvenanceLayer>,
    /// The image SBOM's digest, when written.
    pub image_sbom: Option<(Digest, String)>,
}

impl ImageBuild {
    /// The SLSA predicate.
    pub fn predicate(&self) -> Provenance {
        let mut image = Map::new();
        image.insert("source".into(), Value::String(self.source.clone()));
        if let Some(name) = &self.image_name {
            image.insert("name".into(), Value::String(name.clone()));
        }
        if let Some(p) = &self.platform {
            image.insert("platform".into(), Value::String(p.clone()));
        }
        let mut external = Map::new();
        external.insert("image".into(), Value::Object(image));
        external.insert("role".into(), Value::String(self.role.to_string()));
        if let Some(base) = &self.base {
            external.insert(
                "base".into(),
                Value::String(
                    base.reference
                        .clone()
                        .unwrap_or_else(|| base.manifest.to_string()),
                ),
            );
        }
        let mut internal = Map::new();
        let mut deps = Vec::new();
        if let Some(ci) = &self.ci {
            let (k, v) = ci.external_parameters();
            external.insert(k, v);
            let (k, v) = ci.internal_parameters();
            internal.insert(k, v);
            deps.extend(ci.source_dependency());
        }
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                json!({
                    "index": l.index,
                    "diffId": l.diff_id,
                    "chainId": l.chain_id,
                    "attestedBy": if l.envelope.is_some() { "this-build" } else { BASE_IMAGE_NAME },
                })
            })
            .collect();
        internal.insert("layers".into(), Value::Array(layers));
        if let Some(base) = &self.base {
            deps.extend(base.resolved_dependencies());
        }
        let mut byproducts = Vec::new();
        for l in &self.layers {
            if let Some(env) = &l.envelope {
                let mut rd = ResourceDescriptor::named(&format!("layer/{}", l.index), env);
                rd.media_type = Some(DSSE_ENVELOPE_MEDIA_TYPE.into());
                let mut ann = Map::new();
                ann.insert(
                    "predicateType".into(),
                    Value::String(predicate_types::LAYER_V1.into()),
                );
                ann.insert("diffId".into(), Value::String(l.diff_id.to_string()));
                ann.insert("chainId".into(), Value::String(l.chain_id.to_string()));
                rd.annotations = Some(ann);
                byproducts.push(rd);
            }
        }
        if let Some((digest, media_type)) = &self.image_sbom {
            let mut rd = ResourceDescriptor::named(IMAGE_SBOM_NAME, digest);
            rd.media_type = Some(media_type.clone());
            byproducts.push(rd);
        }
        let mut version = BTreeMap::new();
        version.insert("custody".to_owned(), self.custody_version.clone());
        Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE_OCI_IMAGE.into(),
                external_parameters: external,
                internal_parameters: internal,
                resolved_dependencies: deps,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: self.builder_id.clone(),
                    version,
                    builder_dependencies: Vec::new(),
                },
                metadata: BuildMetadata {
                    invocation_id: self
                        .invocation_id
                        .clone()
                        .or_else(|| self.ci.as_ref().map(CiContext::invocation_id)),
                    started_on: Some(self.started_on),
                    finished_on: Some(self.finished_on),
                },
                byproducts,
            },
        }
    }

    /// The statement: subjects are the manifest (named by the image name, or `manifest`) and
    /// the config (`config`).
    pub fn statement(&self) -> Statement {
        let subjects = vec![
            subject(
                self.image_name.as_deref().unwrap_or("manifest"),
                &self.manifest,
            ),
            subject(CONFIG_SUBJECT_NAME, &self.config),
        ];
        // Serializing the predicate's strings, maps and timestamps cannot fail.
        let predicate = serde_json::to_value(self.predicate()).unwrap_or_default();
        Statement::new(subjects, predicate_types::SLSA_PROVENANCE_V1, predicate)
    }
}

/// A verified SLSA provenance, with what custody reads from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProvenance {
    /// The predicate.
    pub provenance: Provenance,
    /// Subjects as (name, digest).
    pub subjects: Vec<(String, Digest)>,
    /// The manifest digest (the first subject), for custody's build type.
    pub manifest: Option<Digest>,
    /// The config digest (the subject named `config`), for custody's build type.
    pub config: Option<Digest>,
    /// The base image (custody's build type): manifest digest and DiffIDs, bottom first.
    pub base: Option<BaseImage>,
    /// Every layer of the image, bottom first, for custody's build type: DiffID, ChainID
    /// (checked to follow from the DiffIDs) and, for the layers this build attested, the
    /// SHA-256 of their layer attestation envelope (from the byproducts). The base image's
    /// DiffIDs are checked to be a prefix of these.
    pub layers: Vec<ProvenanceLayer>,
    /// The image SBOM's digest (custody's build type).
    pub image_sbom: Option<Digest>,
}

impl ImageProvenance {
    /// Whether custody wrote this provenance (its build type).
    pub fn is_custody_build(&self) -> bool {
        self.provenance.build_definition.build_type == BUILD_TYPE_OCI_IMAGE
    }

    /// The builder ID.
    pub fn builder_id(&self) -> &str {
        &self.provenance.run_details.builder.id
    }
}

impl CheckedStatement {
    /// The SLSA provenance, validated (in-toto Go binding rules), with custody's build-type
    /// fields extracted.
    pub fn provenance(&self) -> Result<ImageProvenance, StatementError> {
        let pt = predicate_types::SLSA_PROVENANCE_V1;
        self.expect_type(pt)?;
        validate_provenance(self.predicate())?;
        let provenance: Provenance = self.predicate_as(pt)?;
        let bad = |reason: String| StatementError::Predicate {
            predicate_type: pt,
            reason,
        };
        let subjects: Vec<(String, Digest)> = self
            .statement()
            .subject
            .iter()
            .filter_map(|s| subject_digest(s).map(|d| (s.name.clone(), d)))
            .collect();
        let mut out = ImageProvenance {
            provenance,
            subjects,
            manifest: None,
            config: None,
            base: None,
            layers: Vec::new(),
            image_sbom: None,
        };
        if !out.is_custody_build() {
            return Ok(out);
        }
        if out.subjects.len() != 2 || out.subjects[1].0 != CONFIG_SUBJECT_NAME {
            return Err(bad(
                "custody image provenance must have exactly the manifest and `config` subjects"
                    .into(),
            ));
        }
        out.manifest = Some(out.subjects[0].1.clone());
        out.config = Some(out.subjects[1].1.clone());
        let deps = &out.provenance.build_definition.resolved_dependencies;
        if let Some(base_rd) = deps
            .iter()
            .find(|d| d.name.as_deref() == Some(BASE_IMAGE_NAME))
        {
            let manifest = base_rd
                .sha256()
                .ok_or_else(|| bad("the base image has no sha256 digest".into()))?;
            let mut diff_ids = Vec::new();
            for i in 0.. {
                let name = format!("{BASE_IMAGE_NAME}/layer/{i}");
                let Some(rd) = deps
                    .iter()
                    .find(|d| d.name.as_deref() == Some(name.as_str()))
                else {
                    break;
                };
                diff_ids.push(DiffId(
                    rd.sha256()
                        .ok_or_else(|| bad(format!("{name} has no sha256 digest")))?,
                ));
            }
            let declared = base_rd
                .annotations
                .as_ref()
                .and_then(|a| a.get("layers"))
                .and_then(Value::as_u64);
            if declared != Some(diff_ids.len() as u64) {
                return Err(bad(format!(
                    "the base image declares {declared:?} layers but {} are listed",
                    diff_ids.len()
                )));
            }
            out.base = Some(BaseImage {
                reference: base_rd.uri.clone(),
                manifest,
                config: base_rd
                    .annotation_str("config")
                    .and_then(|c| c.parse().ok()),
                diff_ids,
            });
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct LayerEntry {
            index: u32,
            diff_id: DiffId,
            chain_id: ChainId,
            attested_by: String,
        }
        let entries: Vec<LayerEntry> = out
            .provenance
            .build_definition
            .internal_parameters
            .get("layers")
            .map(Vec::<LayerEntry>::deserialize)
            .transpose()
            .map_err(|e| bad(format!("internalParameters.layers: {e}")))?
            .ok_or_else(|| bad("internalParameters.layers is missing".into()))?;
        let diff_ids: Vec<DiffId> = entries.iter().map(|e| e.diff_id.clone()).collect();
        let chains = custody_types::chain_ids(&diff_ids);
        for (i, (entry, chain)) in entries.iter().zip(&chains).enumerate() {
            if entry.index as usize != i {
                return Err(bad(format!(
                    "internalParameters.layers[{i}] has index {}",
                    entry.index
                )));
            }
            if &entry.chain_id != chain {
                return Err(bad(format!(
                    "layer {i} chainId {} does not follow from the diffIds (expected {chain})",
                    entry.chain_id
                )));
            }
        }
        if let Some(base) = &out.base
            && !diff_ids.starts_with(&base.diff_ids)
        {
            return Err(bad(
                "the base image's layers are not a prefix of the image's".into(),
            ));
        }
        let base_len = out.base.as_ref().map_or(0, |b| b.diff_ids.len());
        let mut by_this_build = Vec::with_capacity(entries.len());
        for e in &entries {
            by_this_build.push(match e.attested_by.as_str() {
                "this-build" => true,
                BASE_IMAGE_NAME => false,
                other => {
                    return Err(bad(format!(
                        "layer {}: attestedBy {other:?} is neither this-build nor {BASE_IMAGE_NAME}",
                        e.index
                    )));
                }
            });
        }
        let mut layers: Vec<ProvenanceLayer> = entries
            .into_iter()
            .map(|e| ProvenanceLayer {
                index: e.index,
                diff_id: e.diff_id,
                chain_id: e.chain_id,
                envelope: None,
            })
            .collect();
        for rd in &out.provenance.run_details.byproducts {
            let name = rd.name.as_deref().unwrap_or("");
            if name == IMAGE_SBOM_NAME {
                out.image_sbom = rd.sha256();
                continue;
            }
            let Some(index) = name
                .strip_prefix("layer/")
                .and_then(|i| i.parse::<usize>().ok())
            else {
                continue;
            };
            let layer = layers
                .get_mut(index)
                .ok_or_else(|| bad(format!("byproduct {name} names no layer of the image")))?;
            let annotated = |k: &str| rd.annotation_str(k).and_then(|v| v.parse::<Digest>().ok());
            if annotated("diffId").as_ref() != Some(&layer.diff_id.0)
                || annotated("chainId").as_ref() != Some(&layer.chain_id.0)
            {
                return Err(bad(format!(
                    "byproduct {name} does not name layer {index}'s diffId and chainId"
                )));
            }
            if layer.envelope.is_some() {
                return Err(bad(format!("byproduct {name} is listed twice")));
            }
            layer.envelope = Some(
                rd.sha256()
                    .ok_or_else(|| bad(format!("byproduct {name} has no sha256 digest")))?,
            );
        }
        for (l, this_build) in layers.iter().zip(by_this_build) {
            if this_build != l.envelope.is_some() || this_build == ((l.index as usize) < base_len) {
                return Err(bad(format!(
                    "layer {}: attestedBy disagrees with the byproducts or the base image",
                    l.index
                )));
            }
        }
        out.layers = layers;
        Ok(out)
    }
}
