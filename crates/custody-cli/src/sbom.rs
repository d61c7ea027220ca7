//! `custody sbom`: an image in, its SBOM out (and one per layer with `--layers-dir`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use custody_oci::{Image, ImageRef, OpenOptions, Platform, Selector};
use custody_sbom::{Format, Options, SpecVersion};

use crate::output::{Outcome, write_atomic, write_stdout};

/// Document format of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    /// CycloneDX JSON (1.6 unless `--spec-version 1.5`).
    CyclonedxJson,
    /// SPDX 2.3 JSON.
    SpdxJson,
    /// A table for people: name, version, type and the layer that introduced it.
    Table,
}

/// Arguments of `custody sbom`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image: an OCI layout directory, an oci-archive or docker-archive tarball, or
    /// `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`, `docker-archive:PATH[:NAME:TAG]`.
    image: String,
    /// Write the image SBOM to this file (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write one CycloneDX SBOM per layer into DIR, named `<diffid-hex>.cdx.json`:
    /// what that layer added, changed or removed.
    #[arg(long, value_name = "DIR")]
    layers_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::CyclonedxJson)]
    format: FormatArg,
    /// CycloneDX specification version.
    #[arg(long, value_name = "VERSION", default_value = "1.6", value_parser = ["1.6", "1.5"])]
    spec_version: String,
    /// Platform to pick from a multi-platform image (`os/arch[/variant]`).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Image to pick from a layout or archive holding several (`NAME:TAG`, a ref name, or a
    /// manifest digest).
    #[arg(long = "image", value_name = "NAME:TAG")]
    select: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let reference: ImageRef = args
        .image
        .parse()
        .with_context(|| format!("reading image reference {:?}", args.image))?;
    let spec: SpecVersion = args
        .spec_version
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let mut open = OpenOptions::default();
    if let Some(p) = &args.platform {
        open.platform = Some(p.parse::<Platform>().context("reading --platform")?);
    }
    if let Some(s) = &args.select {
        open.selector = Some(match s.parse() {
            Ok(digest) => Selector::Digest(digest),
            Err(_) => Selector::RefName(s.clone()),
        });
    }
    let bar = progress_bar();
    if let Some(bar) = &bar {
        let bar = bar.clone();
        open.progress = Some(Arc::new(move |_layer, bytes| bar.inc(bytes)));
    }
    let image =
        Image::open(&reference, &open).with_context(|| format!("opening image {}", args.image))?;
    if let Some(bar) = &bar {
        bar.set_length(image.layers().iter().map(|l| l.size()).sum());
    }
    let sboms = custody_sbom::generate(&image, &Options::from_env())
        .with_context(|| format!("cataloging image {}", args.image))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    {
        let mut stderr = std::io::stderr().lock();
        for w in &sboms.warnings {
            let _ = writeln!(stderr, "warning: {w}");
        }
    }
    if let Some(dir) = &args.layers_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for layer in &sboms.layers {
            let (bytes, _digest) = layer.cyclonedx(spec);
            write_atomic(&dir.join(layer.file_name()), &bytes, None, true)?;
        }
    }
    let format = match args.format {
        FormatArg::CyclonedxJson => Format::CycloneDxJson,
        FormatArg::SpdxJson => Format::SpdxJson,
        FormatArg::Table => Format::Table,
    };
    let bytes = custody_sbom::render(&sboms.image, format, spec);
    match &args.output {
        Some(path) => write_atomic(path, &bytes, None, true)?,
        None => write_stdout(&bytes)?,
    }
    Ok(Outcome::Ok)
}

/// A progress bar over the image's compressed bytes, only when a person is watching stderr.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reading layers {bar:30} {bytes}/{total_bytes} {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
