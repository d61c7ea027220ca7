//! The jobs a signer can hold in an image's chain of custody.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A signer's role. The ledger registers each key with one; the policy names which keys hold
/// which role; the verifier accepts an attestation only from a key of the role its rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Publishes the trusted base images; signs their layers and provenance.
    BaseLibrary,
    /// The CI build; signs the layers it adds and the build provenance.
    Builder,
    /// Signs vulnerability scan results (and VEX statements when allowed).
    Scanner,
    /// A person approving an image digest (four eyes: never the builder).
    Reviewer,
    /// The deploy gate; signs its decisions back into the ledger.
    Gate,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 5] = [
        Role::BaseLibrary,
        Role::Builder,
        Role::Scanner,
        Role::Reviewer,
        Role::Gate,
    ];

    /// The role's name as written in policies, CLIs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::BaseLibrary => "base-library",
            Role::Builder => "builder",
            Role::Scanner => "scanner",
            Role::Reviewer => "reviewer",
            Role::Gate => "gate",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of custody's roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected one of base-library, builder, scanner, reviewer, gate)")]
pub struct RoleError(pub String);

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
