//! `custody key`: generate signing keys and show key IDs; plus the key and file helpers the
//! signing commands (`dsse sign`, `review`, `attest`) share.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custody_attest::{
    KeyIdHint, KeySource, KeyType, SigningKey, load_public_key, load_signing_key,
};
use jiff::Timestamp;

use crate::output::{Outcome, write_atomic, write_stdout};

/// The environment variable holding the password of encrypted private keys.
pub(crate) const PASSWORD_ENV: &str = "CUSTODY_KEY_PASSWORD";

/// Subcommands of `custody key`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Generate a key pair: PREFIX.key (PKCS#8 PEM, mode 0600, encrypted when
    /// CUSTODY_KEY_PASSWORD is set) and PREFIX.pub (SPKI PEM); print the key ID.
    Generate(GenerateArgs),
    /// Print the key IDs of public (or private) keys: custody's (SHA-256 of the SPKI DER)
    /// and securesystemslib's.
    Id(IdArgs),
}

/// Key algorithm on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyTypeArg {
    /// Ed25519 (the default).
    Ed25519,
    /// ECDSA P-256 with SHA-256 (cosign's default key type).
    P256,
}

impl From<KeyTypeArg> for KeyType {
    fn from(k: KeyTypeArg) -> KeyType {
        match k {
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
            KeyTypeArg::P256 => KeyType::P256,
        }
    }
}

/// Which key ID to write in DSSE signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyIdArg {
    /// securesystemslib's key ID, which python/go securesystemslib (in-toto, TUF) match on.
    Securesystemslib,
    /// custody's key ID (SHA-256 of the SPKI DER).
    Custody,
    /// No key ID (an empty keyid).
    None,
}

impl From<KeyIdArg> for KeyIdHint {
    fn from(k: KeyIdArg) -> KeyIdHint {
        match k {
            KeyIdArg::Securesystemslib => KeyIdHint::Securesystemslib,
            KeyIdArg::Custody => KeyIdHint::Custody,
            KeyIdArg::None => KeyIdHint::Empty,
        }
    }
}

/// The signing-key options every signing command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct SignerArgs {
    /// The private key: a PKCS#8 PEM file, or `env:NAME` for an environment variable holding
    /// the PEM. Encrypted keys are decrypted with CUSTODY_KEY_PASSWORD.
    #[arg(long, value_name = "FILE|env:NAME")]
    pub(crate) key: String,
    /// Refuse to sign unless the key is of this type.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub(crate) key_type: Option<KeyTypeArg>,
    /// Key ID written in the envelope's signatures (a hint for verifiers).
    #[arg(long, value_enum, default_value_t = KeyIdArg::Securesystemslib)]
    pub(crate) keyid: KeyIdArg,
}

impl SignerArgs {
    /// Loads the key (decrypting with CUSTODY_KEY_PASSWORD) and checks `--key-type`.
    pub(crate) fn load(&self) -> anyhow::Result<SigningKey> {
        load_signer(&self.key, self.key_type.map(KeyType::from))
    }
}

/// Loads a signing key from a path or `env:NAME`, decrypting it with CUSTODY_KEY_PASSWORD when
/// set, and checks its type when `expected` is given.
pub(crate) fn load_signer(key: &str, expected: Option<KeyType>) -> anyhow::Result<SigningKey> {
    let source: KeySource = key.parse()?;
    let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    let signer = load_signing_key(&source, password.as_deref().map(str::as_bytes))?;
    if let Some(expected) = expected {
        signer
            .expect_type(expected)
            .map_err(|reason| anyhow::anyhow!("key {source} {reason} (--key-type {expected})"))?;
    }
    Ok(signer)
}

/// The time statements are stamped with: `SOURCE_DATE_EPOCH` when set (reproducible builds),
/// else now; whole seconds, as SLSA timestamps are written.
pub(crate) fn statement_time() -> anyhow::Result<Timestamp> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let secs: i64 = v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?;
            Timestamp::from_second(secs)
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is out of range"))
        }
        _ => Ok(Timestamp::from_second(Timestamp::now().as_second())?),
    }
}

/// Arguments of `custody key generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Path prefix: writes PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Key algorithm.
    #[arg(long, value_enum, default_value_t = KeyTypeArg::Ed25519)]
    key_type: KeyTypeArg,
    /// Overwrite existing PREFIX.key / PREFIX.pub.
    #[arg(long)]
    force: bool,
}

/// Arguments of `custody key id`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    /// Key files (SPKI PEM, securesystemslib JSON, or a private key) or `env:NAME`.
    #[arg(required = true, value_name = "KEY")]
    keys: Vec<String>,
}

pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Generate(args) => generate(args),
        Command::Id(args) => id(args),
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn generate(args: GenerateArgs) -> anyhow::Result<Outcome> {
    let key_path = with_suffix(&args.out, ".key");
    let pub_path = with_suffix(&args.out, ".pub");
    if !args.force {
        for p in [&key_path, &pub_path] {
            if p.exists() {
                bail!(
                    "{} already exists (pass --force to overwrite it)",
                    p.display()
                );
            }
        }
    }
    let key = SigningKey::generate(args.key_type.into()).context("generating a key")?;
    let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    let pem = key
        .to_pkcs8_pem(password.as_deref().map(str::as_bytes))
        .context("encoding the private key")?;
    write_atomic(&key_path, pem.as_bytes(), Some(0o600), args.force)?;
    write_atomic(
        &pub_path,
        key.public_key().to_spki_pem().as_bytes(),
        Some(0o644),
        args.force,
    )?;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "wrote {} ({}{}) and {}",
        key_path.display(),
        key.key_type(),
        if password.is_some() {
            ", encrypted with CUSTODY_KEY_PASSWORD"
        } else {
            ", not encrypted: set CUSTODY_KEY_PASSWORD to encrypt"
        },
        pub_path.display()
    );
    write_stdout(format!("{}\n", key.key_id()).as_bytes())?;
    Ok(Outcome::Ok)
}

fn id(args: IdArgs) -> anyhow::Result<Outcome> {
    let mut out = String::new();
    for key in &args.keys {
        let source: KeySource = key.parse()?;
        let public = match load_public_key(&source) {
            Ok(p) => p,
            Err(e) if matches!(e.reason, custody_attest::KeyError::PrivateKeyForVerifying) => {
                load_signer(key, None)?.public_key().clone()
            }
            Err(e) => return Err(e.into()),
        };
        out.push_str(&format!(
            "{}\t{}\tsecuresystemslib:{}\t{key}\n",
            public.key_id(),
            public.key_type(),
            public.securesystemslib_keyid()
        ));
    }
    write_stdout(out.as_bytes())?;
    Ok(Outcome::Ok)
}
