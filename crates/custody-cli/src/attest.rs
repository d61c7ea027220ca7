//! `custody attest`: the CI signing step. An image in; its exact manifest and config bytes,
//! its SBOMs, one signed layer attestation per layer this build added, a signed SLSA
//! provenance, and `index.json` listing every file with its digest and kind out, all in one
//! directory that appears complete or not at all (`custody submit DIR` records it).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custody_attest::{
    BaseImage, CiContext, Envelope, ImageBuild, KeyIdHint, LayerBlob, LayerPredicate,
    ProvenanceLayer, SbomDocument, SigningKey, bundle_json, sign_statement,
};
use custody_oci::{Image, ImageRef, ManifestOrigin, OpenOptions, Platform, Selector};
use custody_sbom::{Format, Options, SpecVersion};
use custody_types::{DiffId, Digest, Role, media_types, predicate_types};
use serde_json::{Value, json};

use crate::dsse::EnvelopeFormat;
use crate::key::{SignerArgs, statement_time};
use crate::output::{Outcome, write_stdout};

/// The OCI annotation naming a manifest's base image digest (image-spec annotations.md).
const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";
/// OCI image-spec media types of a manifest and a config.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Signing role on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    /// The CI build: signs the layers it added and the build provenance.
    Builder,
    /// The base-image library: signs a base image's layers and provenance.
    BaseLibrary,
}

/// How layer SBOMs go into layer attestations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SbomMode {
    /// Embed the SBOM document (and its digest).
    Embed,
    /// Only its digest (for very large SBOMs; the document is in DIR and the ledger).
    Digest,
}

/// Arguments of `custody attest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image: an OCI layout directory, an oci-archive or docker-archive tarball, or
    /// `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`, `docker-archive:PATH[:NAME:TAG]`.
    image: String,
    #[command(flatten)]
    signer: SignerArgs,
    /// Directory to write (created; must not exist unless --force).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The base image this one was built on: an image path (its DiffIDs must be a prefix of
    /// this image's), or its manifest digest with --base-layers. Only the layers above it are
    /// signed; the base's own layers carry the base library's attestations.
    #[arg(long, value_name = "IMAGE|DIGEST")]
    base: Option<String>,
    /// How many layers the base has, when --base is a digest.
    #[arg(long, value_name = "N", requires = "base")]
    base_layers: Option<usize>,
    /// The signer's role.
    #[arg(long, value_enum, default_value_t = RoleArg::Builder)]
    role: RoleArg,
    /// The builder ID recorded in the provenance (default: derived from GitHub Actions or
    /// GitLab CI variables, else `https://custody.dev/builders/local`).
    #[arg(long, value_name = "URI")]
    builder_id: Option<String>,
    /// The invocation ID recorded in the provenance (default: the CI run's URL).
    #[arg(long, value_name = "ID")]
    invocation_id: Option<String>,
    /// Output form of every attestation.
    #[arg(long, value_enum, default_value_t = EnvelopeFormat::Envelope)]
    format: EnvelopeFormat,
    /// Embed layer SBOMs in the layer attestations, or name them by digest only.
    #[arg(long, value_enum, default_value_t = SbomMode::Embed)]
    sbom: SbomMode,
    /// Layer SBOMs larger than this are named by digest only, even with `--sbom embed`.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    max_embed_size: usize,
    /// CycloneDX specification version of the SBOMs.
    #[arg(long, value_name = "VERSION", default_value = "1.6", value_parser = ["1.6", "1.5"])]
    spec_version: String,
    /// Platform to pick from a multi-platform image (`os/arch[/variant]`).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Image to pick from a layout or archive holding several (`NAME:TAG`, a ref name or a
    /// manifest digest); a name also names the image in the statements.
    #[arg(long = "image", value_name = "NAME:TAG")]
    select: Option<String>,
    /// Replace DIR if it exists.
    #[arg(long)]
    force: bool,
}

/// One file of the output directory, as index.json lists it.
struct OutFile {
    path: String,
    digest: Digest,
    size: usize,
    meta: Value,
}

/// The output directory while it is being written: a temporary directory beside DIR, removed
/// on drop unless it was renamed into place.
struct Staging {
    dir: tempfile::TempDir,
    files: Vec<OutFile>,
}

impl Staging {
    fn new(out: &Path) -> anyhow::Result<Staging> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(".custody-attest-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        Ok(Staging {
            dir,
            files: Vec::new(),
        })
    }

    fn write(&mut self, rel: &str, bytes: &[u8], meta: Value) -> anyhow::Result<Digest> {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut f =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        let digest = Digest::sha256_of(bytes);
        self.files.push(OutFile {
            path: rel.to_owned(),
            digest: digest.clone(),
            size: bytes.len(),
            meta,
        });
        Ok(digest)
    }

    /// Moves the finished directory to `out`. With `force`, an existing `out` is moved
    /// aside first and removed after the rename, so `out` is never half old, half new.
    fn commit(self, out: &Path, force: bool) -> anyhow::Result<()> {
        let staged = self.dir.keep();
        let result = (|| {
            if out.exists() {
                if !force {
                    bail!(
                        "{} already exists (pass --force to replace it)",
                        out.display()
                    );
                }
                let aside = staged.with_extension("old");
                std::fs::rename(out, &aside)
                    .with_context(|| format!("moving the old {} aside", out.display()))?;
                std::fs::rename(&staged, out)
                    .with_context(|| format!("renaming the new directory to {}", out.display()))?;
                std::fs::remove_dir_all(&aside)
                    .with_context(|| format!("removing the old {}", out.display()))?;
            } else {
                std::fs::rename(&staged, out)
                    .with_context(|| format!("renaming the new directory to {}", out.display()))?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staged);
        }
        result
    }
}

fn open_options(platform: Option<&str>, select: Option<&str>) -> anyhow::Result<OpenOptions> {
    let mut open = OpenOptions::default();
    if let Some(p) = platform {
        open.platform = Some(p.parse::<Platform>().context("reading --platform")?);
    }
    if let Some(s) = select {
        open.selector = Some(match s.parse() {
            Ok(digest) => Selector::Digest(digest),
            Err(_) => Selector::RefName(s.to_owned()),
        });
    }
    Ok(open)
}

fn open_image(reference: &str, open: &OpenOptions, what: &str) -> anyhow::Result<Image> {
    let parsed: ImageRef = reference
        .parse()
        .with_context(|| format!("reading {what} reference {reference:?}"))?;
    Image::open(&parsed, open).with_context(|| format!("opening {what} {reference}"))
}

/// Resolves `--base`: opens a base image and checks it is a prefix of `image`, or takes a
/// digest and a layer count on trust (recorded as such).
fn resolve_base(args: &Args, image: &Image) -> anyhow::Result<Option<BaseImage>> {
    let Some(base) = &args.base else {
        return Ok(None);
    };
    let diff_ids = image.config().diff_ids();
    let annotated = image
        .manifest()
        .annotations()
        .as_ref()
        .and_then(|a| a.get(BASE_DIGEST_ANNOTATION))
        .and_then(|d| d.parse::<Digest>().ok());
    let resolved = if let Ok(digest) = base.parse::<Digest>() {
        let Some(n) = args.base_layers else {
            bail!(
                "--base {digest} is a digest: say how many layers the base has with --base-layers N \
                 (or pass the base image itself)"
            );
        };
        if n > diff_ids.len() {
            bail!(
                "--base-layers {n} but the image has only {} layers",
                diff_ids.len()
            );
        }
        BaseImage {
            reference: None,
            manifest: digest,
            config: None,
            diff_ids: diff_ids[..n].to_vec(),
        }
    } else {
        if args.base_layers.is_some() {
            bail!("--base-layers is only for a --base given as a digest; {base} is read instead");
        }
        let base_image = open_image(
            base,
            &open_options(args.platform.as_deref(), None)?,
            "base image",
        )?;
        let base_ids = base_image.config().diff_ids();
        if !diff_ids.starts_with(base_ids) {
            let at = base_ids
                .iter()
                .zip(diff_ids)
                .position(|(a, b)| a != b)
                .unwrap_or(diff_ids.len().min(base_ids.len()));
            bail!(
                "base image {base} is not a prefix of image {}: layer {at} differs \
                 (base has {} layers, image has {}); the image was not built on this base",
                args.image,
                base_ids.len(),
                diff_ids.len()
            );
        }
        BaseImage {
            reference: Some(base.clone()),
            manifest: base_image.manifest_digest().clone(),
            config: Some(base_image.config_digest().clone()),
            diff_ids: base_ids.to_vec(),
        }
    };
    if let Some(annotated) = annotated
        && annotated != resolved.manifest
    {
        bail!(
            "the image's manifest names its base as {annotated} ({BASE_DIGEST_ANNOTATION}), not {}",
            resolved.manifest
        );
    }
    Ok(Some(resolved))
}

/// The media types of a manifest and of the config it names, as the manifest declares them
/// (OCI's when it does not: an OCI manifest may leave `mediaType` out).
fn image_media_types(manifest: &[u8]) -> (String, String) {
    let m: Value = serde_json::from_slice(manifest).unwrap_or(Value::Null);
    let manifest_type = m
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST)
        .to_owned();
    let config_type = m
        .pointer("/config/mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_CONFIG)
        .to_owned();
    (manifest_type, config_type)
}

fn builder_id(args: &Args, ci: Option<&CiContext>) -> String {
    args.builder_id
        .clone()
        .or_else(|| ci.map(CiContext::builder_id))
        .unwrap_or_else(|| "https://custody.dev/builders/local".to_owned())
}

/// Serializes a signed envelope in the chosen form, returning (file bytes, file extension,
/// envelope digest: the SHA-256 of its canonical JSON, whatever the file form).
fn envelope_file(
    envelope: &Envelope,
    key: &SigningKey,
    format: EnvelopeFormat,
) -> anyhow::Result<(Vec<u8>, &'static str, Digest)> {
    let canonical = envelope.to_json();
    let digest = Digest::sha256_of(&canonical);
    Ok(match format {
        EnvelopeFormat::Envelope => (canonical, "intoto.json", digest),
        EnvelopeFormat::Bundle => (
            bundle_json(envelope, &key.key_id())?,
            "sigstore.json",
            digest,
        ),
    })
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let started_on = statement_time()?;
    let key = args.signer.load()?;
    let hint: KeyIdHint = args.signer.keyid.into();
    if args.out.exists() && !args.force {
        bail!(
            "{} already exists (pass --force to replace it)",
            args.out.display()
        );
    }
    let spec: SpecVersion = args
        .spec_version
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let image = open_image(
        &args.image,
        &open_options(args.platform.as_deref(), args.select.as_deref())?,
        "image",
    )?;
    let base = resolve_base(&args, &image)?;
    let role = match args.role {
        RoleArg::Builder => Role::Builder,
        RoleArg::BaseLibrary => Role::BaseLibrary,
    };
    // The statements' subject name: `--image` when it names the image, else the name the
    // image carries when that is a full reference (a bare ref-name tag like `1.0` is not).
    let image_name = args
        .select
        .as_deref()
        .filter(|s| s.parse::<Digest>().is_err())
        .or(image.name().filter(|n| n.contains(['/', ':'])))
        .map(str::to_owned);

    let mut sbom_options = Options::from_env();
    sbom_options.name = image_name.clone();
    let sboms = custody_sbom::generate(&image, &sbom_options)
        .with_context(|| format!("cataloging image {}", args.image))?;
    {
        let mut stderr = std::io::stderr().lock();
        for w in &sboms.warnings {
            let _ = writeln!(stderr, "warning: {w}");
        }
    }

    let mut staging = Staging::new(&args.out)?;
    let diff_ids: Vec<DiffId> = image.config().diff_ids().to_vec();
    let base_len = base.as_ref().map_or(0, |b| b.diff_ids.len());

    // The manifest and config, byte for byte: their digests are what a deploy pins and what
    // the provenance names, so `custody submit DIR` can store them in the ledger and a gate
    // that only has the digest can read them from there (verifying by digest never needs
    // the image itself or a registry).
    let (manifest_type, config_type) = image_media_types(image.manifest_bytes());
    staging.write(
        "image/manifest.json",
        image.manifest_bytes(),
        json!({
            "kind": "manifest",
            "mediaType": manifest_type,
            "origin": match image.manifest_origin() {
                ManifestOrigin::Stored => "stored",
                ManifestOrigin::Synthesized => "synthesized",
            },
        }),
    )?;
    staging.write(
        "image/config.json",
        image.config_bytes(),
        json!({"kind": "config", "mediaType": config_type}),
    )?;

    // The image SBOM, normalized to the compact bytes whose digest the provenance names.
    let image_sbom = SbomDocument::from_json(
        &custody_sbom::render(&sboms.image, Format::CycloneDxJson, spec),
        media_types::CYCLONEDX_JSON,
    )
    .context("reading back the image SBOM")?;
    staging.write(
        "sboms/image.cdx.json",
        image_sbom.bytes(),
        json!({"kind": "image-sbom", "mediaType": media_types::CYCLONEDX_JSON}),
    )?;

    let mut layers: Vec<ProvenanceLayer> = Vec::with_capacity(diff_ids.len());
    let chain_ids = custody_types::chain_ids(&diff_ids);
    let by_index: HashMap<usize, &custody_sbom::LayerSbom> =
        sboms.layers.iter().map(|l| (l.layer.index, l)).collect();
    let mut out_lines = String::new();
    for (index, layer) in image.layers().iter().enumerate() {
        let layer_sbom = by_index
            .get(&index)
            .with_context(|| format!("no SBOM was generated for layer {index}"))?;
        let (bytes, _) = layer_sbom.cyclonedx(spec);
        let doc = SbomDocument::from_json(&bytes, media_types::CYCLONEDX_JSON)
            .with_context(|| format!("reading back the SBOM of layer {index}"))?;
        let sbom_path = format!("sboms/layer-{index}.cdx.json");
        staging.write(
            &sbom_path,
            doc.bytes(),
            json!({
                "kind": "layer-sbom",
                "mediaType": media_types::CYCLONEDX_JSON,
                "layer": index,
                "diffId": diff_ids[index],
            }),
        )?;
        let signed_here = index >= base_len;
        let mut envelope_digest = None;
        if signed_here {
            let embed = args.sbom == SbomMode::Embed && doc.bytes().len() <= args.max_embed_size;
            if args.sbom == SbomMode::Embed && !embed {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: the SBOM of layer {index} is {} bytes, over --max-embed-size; \
                     its attestation names it by digest only",
                    doc.bytes().len()
                );
            }
            let sbom_member = if embed {
                doc.into_embedded()
            } else {
                doc.by_digest()
            };
            let predicate = LayerPredicate::for_stack(
                &diff_ids,
                index,
                LayerBlob {
                    digest: layer.digest().clone(),
                    size: layer.size(),
                    media_type: layer.media_type().to_owned(),
                },
                sbom_member,
            )?;
            let envelope = sign_statement(&predicate.into_statement(), &key, hint);
            let (file, ext, digest) = envelope_file(&envelope, &key, args.format)?;
            let path = format!("attestations/layer-{index}.{ext}");
            staging.write(
                &path,
                &file,
                json!({
                    "kind": "layer-attestation",
                    "predicateType": predicate_types::LAYER_V1,
                    "layer": index,
                    "diffId": diff_ids[index],
                    "chainId": chain_ids[index],
                    "envelopeDigest": digest,
                    "sbom": sbom_path,
                    "sbomEmbedded": embed,
                }),
            )?;
            out_lines.push_str(&format!("{digest} {path}\n"));
            envelope_digest = Some(digest);
        }
        layers.push(ProvenanceLayer {
            index: u32::try_from(index).context("too many layers")?,
            diff_id: diff_ids[index].clone(),
            chain_id: chain_ids[index].clone(),
            envelope: envelope_digest,
        });
    }

    let ci = CiContext::from_env(|k| std::env::var(k).ok());
    let build = ImageBuild {
        image_name: image_name.clone(),
        manifest: image.manifest_digest().clone(),
        config: image.config_digest().clone(),
        source: args.image.clone(),
        platform: Some(image.platform().to_string()),
        role,
        base: base.clone(),
        builder_id: builder_id(&args, ci.as_ref()),
        custody_version: env!("CARGO_PKG_VERSION").to_owned(),
        ci,
        invocation_id: args.invocation_id.clone(),
        started_on,
        finished_on: statement_time()?,
        layers,
        image_sbom: Some((
            image_sbom.digest().clone(),
            media_types::CYCLONEDX_JSON.to_owned(),
        )),
    };
    let envelope = sign_statement(&build.statement(), &key, hint);
    let (file, ext, digest) = envelope_file(&envelope, &key, args.format)?;
    let path = format!("attestations/provenance.{ext}");
    staging.write(
        &path,
        &file,
        json!({
            "kind": "provenance",
            "predicateType": predicate_types::SLSA_PROVENANCE_V1,
            "envelopeDigest": digest,
        }),
    )?;
    out_lines.push_str(&format!("{digest} {path}\n"));

    let files: Vec<Value> = staging
        .files
        .iter()
        .map(|f| {
            let mut v = json!({"path": f.path, "digest": f.digest, "size": f.size});
            if let (Value::Object(m), Value::Object(extra)) = (&mut v, &f.meta) {
                m.extend(extra.clone());
            }
            v
        })
        .collect();
    let index = json!({
        "version": 1,
        "tool": format!("custody {}", env!("CARGO_PKG_VERSION")),
        "image": {
            "source": args.image,
            "name": image_name,
            "manifest": image.manifest_digest(),
            "config": image.config_digest(),
            "platform": image.platform().to_string(),
            "diffIds": diff_ids,
        },
        "role": role,
        "signer": {
            "keyId": key.key_id(),
            "keyType": key.key_type().as_str(),
            "securesystemslibKeyId": key.public_key().securesystemslib_keyid(),
        },
        "base": base.as_ref().map(|b| json!({
            "reference": b.reference,
            "manifest": b.manifest,
            "layers": b.diff_ids.len(),
            "checked": b.reference.is_some(),
        })),
        "format": match args.format {
            EnvelopeFormat::Envelope => "envelope",
            EnvelopeFormat::Bundle => "bundle",
        },
        "files": files,
    });
    let mut index_bytes = serde_json::to_vec_pretty(&index).context("writing index.json")?;
    index_bytes.push(b'\n');
    staging.write("index.json", &index_bytes, Value::Null)?;
    staging.commit(&args.out, args.force)?;

    let _ = writeln!(
        std::io::stderr(),
        "attested {} ({} of {} layers signed{}) into {}",
        image.manifest_digest(),
        diff_ids.len() - base_len,
        diff_ids.len(),
        if base_len > 0 {
            format!(", {base_len} from the base image")
        } else {
            String::new()
        },
        args.out.display()
    );
    write_stdout(out_lines.as_bytes())?;
    Ok(Outcome::Ok)
}
