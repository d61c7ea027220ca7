//! Integration tests of custody-sbom: real images from `../shared/testdata/images`
//! (built from Debian packages by `../shared/tools/make-real-images.sh`, ground truth in
//! each image's `truth/`), read through custody-oci.

#![allow(clippy::unwrap_used)]

mod layers;
mod real_images;
mod support;
