//! Image sources (OCI layout, oci-archive, docker-archive) to digest-checked manifests, configs and streamed layers
#![deny(missing_docs)]
