//! Layers to components (catalogers) to CycloneDX and SPDX documents, per layer and per image
#![deny(missing_docs)]
