//! `airlock trust init|sign|rotate|pin|update|sync|show`: making, signing, rotating and
//! installing trust roots, and fetching the trust material an import published to a registry.
//! Spec: `formats/trust-root.md`; for `sync`, `formats/bundle.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use airlock::import::{TRUST_TAG, fetch_trust};
use airlock::key::{self, KeyId, PublicKey};
use airlock::reference::{Reference, RegistryReference};
use airlock::revocation::SignedSnapshot;
use airlock::time::{self, Seconds, format_rfc3339};
use airlock::trust::root::{Role, RoleName};
use airlock::trust::signed::{DocKind, SignedDocument};
use airlock::trust::{SignedRoot, TrustError, TrustRoot, TrustStore};
use airlock::{Error, Limits};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::output::Output;
use super::target::RegistryArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// Create trust root version 1 from public keys (unsigned; each root key holder then runs
    /// `airlock trust sign`).
    Init(InitArgs),
    /// Add a signature to a trust root or revocation snapshot file, in place.
    Sign(SignArgs),
    /// Create the next trust-root version from the trust store's current one; roles given
    /// replace the current ones.
    Rotate(RotateArgs),
    /// Pin the first trust root of a new trust store, by the SHA-256 of its file given out of band.
    Pin(PinArgs),
    /// Install newer trust roots (each signed by the previous root's and its own root role).
    Update(UpdateArgs),
    /// Install the trust material an import published to a registry inside the network
    /// (`airlock import --publish-trust`): newer roots by the rotation rule, a newer revocation
    /// snapshot. The store must already be pinned.
    Sync(SyncArgs),
    /// Show the trust store, or a trust root or revocation snapshot file.
    Show(ShowArgs),
}

/// Keys and thresholds of roles and signer identities.
#[derive(Debug, Args)]
pub(crate) struct RoleArgs {
    /// A public key (SPKI PEM) of the `root` role, which signs the next root (repeatable).
    #[arg(long, value_name = "PUB")]
    root_key: Vec<PathBuf>,
    /// How many root keys must sign.
    #[arg(long, value_name = "N")]
    root_threshold: Option<usize>,
    /// A public key of the `revocation` role, which signs revocation snapshots (repeatable).
    #[arg(long, value_name = "PUB")]
    revocation_key: Vec<PathBuf>,
    /// How many revocation keys must sign.
    #[arg(long, value_name = "N")]
    revocation_threshold: Option<usize>,
    /// A public key of the `bundle` role, which signs bundles (repeatable).
    #[arg(long, value_name = "PUB")]
    bundle_key: Vec<PathBuf>,
    /// How many bundle keys must sign.
    #[arg(long, value_name = "N")]
    bundle_threshold: Option<usize>,
    /// A key of a signer identity, as NAME=PUB (repeatable; several keys per name allowed).
    #[arg(long, value_name = "NAME=PUB", value_parser = name_value)]
    signer: Vec<(String, String)>,
    /// How many of an identity's keys must sign an artifact, as NAME=N (default 1).
    #[arg(long, value_name = "NAME=N", value_parser = name_value)]
    signer_threshold: Vec<(String, String)>,
    /// How long the root stays valid (365d, 12h…).
    #[arg(long, value_parser = time::parse_duration)]
    expires: Option<Seconds>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    roles: RoleArgs,
    /// Where to write the root (never overwritten).
    #[arg(long, short = 'o')]
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The trust root or revocation snapshot file (rewritten in place).
    file: PathBuf,
    /// A private key to sign with (repeatable).
    #[arg(long, short = 'k', required = true)]
    key: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    roles: RoleArgs,
    /// Remove a signer identity (repeatable).
    #[arg(long, value_name = "NAME")]
    remove_signer: Vec<String>,
    /// Where to write the new root (never overwritten).
    #[arg(long, short = 'o')]
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The trust root file.
    file: PathBuf,
    /// The SHA-256 of the file, obtained over a channel you trust (`sha256:<hex>`).
    #[arg(long, required = true)]
    digest: Digest,
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Trust root files, in any order (versions already trusted must be identical).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The published trust material: REGISTRY/REPO[:TAG|@DIGEST] (default tag `current`),
    /// e.g. registry.example:5000/airgap/airlock/trust.
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]")]
    from: String,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// A trust root or revocation snapshot file (default: the trust store).
    file: Option<PathBuf>,
}

fn name_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

pub(crate) fn run(
    cmd: &TrustCommand,
    out: &Output,
    limits: &Limits,
    trust_dir: &Path,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    match cmd {
        TrustCommand::Init(a) => init(a, out, limits),
        TrustCommand::Sign(a) => sign(a, out, limits, trust_dir),
        TrustCommand::Rotate(a) => rotate(a, out, limits, trust_dir),
        TrustCommand::Pin(a) => pin(a, out, limits, trust_dir),
        TrustCommand::Update(a) => update(a, out, limits, trust_dir),
        TrustCommand::Sync(a) => sync(a, out, limits, trust_dir, registry),
        TrustCommand::Show(a) => show(a, out, limits, trust_dir),
    }
}

const DEFAULT_ROOT_LIFETIME: Seconds = 365 * 86_400;

fn read_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Error> {
    Ok(paths
        .iter()
        .map(|p| key::read_public_key(p))
        .collect::<Result<_, _>>()?)
}

fn role_of(keys: &[PublicKey], threshold: Option<usize>) -> Role {
    Role {
        keys: keys.iter().map(PublicKey::id).collect(),
        threshold: threshold.unwrap_or(1),
    }
}

fn usage(msg: String) -> Error {
    Error::Unsupported(msg)
}

/// Applies `args` to `roles`/`signers`/`keys` (replacing what they name).
fn apply_roles(
    args: &RoleArgs,
    root: &mut TrustRoot,
    table: &mut BTreeMap<KeyId, PublicKey>,
) -> Result<(), Error> {
    let fixed = [
        (RoleName::Root, &args.root_key, args.root_threshold),
        (
            RoleName::Revocation,
            &args.revocation_key,
            args.revocation_threshold,
        ),
        (RoleName::Bundle, &args.bundle_key, args.bundle_threshold),
    ];
    for (name, paths, threshold) in fixed {
        if !paths.is_empty() {
            let keys = read_keys(paths)?;
            for k in &keys {
                table.insert(k.id(), k.clone());
            }
            root.roles.insert(name, role_of(&keys, threshold));
        } else if let Some(t) = threshold {
            match root.roles.get_mut(&name) {
                Some(r) => r.threshold = t,
                None => return Err(usage(format!("--{name}-threshold needs --{name}-key"))),
            }
        }
    }
    let mut by_name: BTreeMap<&str, Vec<PublicKey>> = BTreeMap::new();
    for (name, path) in &args.signer {
        let k = key::read_public_key(Path::new(path))?;
        table.insert(k.id(), k.clone());
        by_name.entry(name).or_default().push(k);
    }
    for (name, keys) in by_name {
        root.signers.insert(name.to_owned(), role_of(&keys, None));
    }
    for (name, n) in &args.signer_threshold {
        let t: usize = n
            .parse()
            .map_err(|_| usage(format!("--signer-threshold {name}={n}: not a number")))?;
        root.signers
            .get_mut(name)
            .ok_or_else(|| {
                usage(format!(
                    "--signer-threshold {name}: no signer identity {name}"
                ))
            })?
            .threshold = t;
    }
    Ok(())
}

/// Keeps in `root.keys` exactly the keys some role or identity uses.
fn prune_keys(root: &mut TrustRoot, table: &BTreeMap<KeyId, PublicKey>) {
    let used: BTreeSet<KeyId> = root
        .roles
        .values()
        .chain(root.signers.values())
        .flat_map(|r| r.keys.iter().copied())
        .collect();
    root.keys = used
        .into_iter()
        .filter_map(|id| table.get(&id).map(|k| (id, k.clone())))
        .collect();
}

fn init(args: &InitArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    for (flag, keys) in [
        ("--root-key", &args.roles.root_key),
        ("--revocation-key", &args.roles.revocation_key),
        ("--bundle-key", &args.roles.bundle_key),
    ] {
        if keys.is_empty() {
            return Err(usage(format!("trust init needs at least one {flag}")));
        }
    }
    let now = time::now();
    let mut root = TrustRoot {
        version: 1,
        issued_at: now,
        expires: now.saturating_add(args.roles.expires.unwrap_or(DEFAULT_ROOT_LIFETIME)),
        keys: BTreeMap::new(),
        roles: BTreeMap::new(),
        signers: BTreeMap::new(),
    };
    let mut table = BTreeMap::new();
    apply_roles(&args.roles, &mut root, &mut table)?;
    prune_keys(&mut root, &table);
    let doc = SignedRoot::unsigned(root, limits)?;
    write_new(&args.output, &doc.to_vec())?;
    report_new_root(&doc, &args.output, out);
    Ok(())
}

fn rotate(args: &RotateArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    let store = TrustStore::open(dir, limits)?;
    let current = store.root().root().clone();
    let now = time::now();
    store.check_clock(now)?;
    let lifetime = args
        .roles
        .expires
        .unwrap_or(current.expires.saturating_sub(current.issued_at));
    let mut next = current.clone();
    next.version = current.version + 1;
    next.issued_at = now.max(current.issued_at);
    next.expires = next.issued_at.saturating_add(lifetime);
    let mut table = current.keys.clone();
    for name in &args.remove_signer {
        if next.signers.remove(name).is_none() {
            return Err(usage(format!(
                "--remove-signer {name}: trust root version {} has no signer {name}",
                current.version
            )));
        }
    }
    apply_roles(&args.roles, &mut next, &mut table)?;
    prune_keys(&mut next, &table);
    let doc = SignedRoot::unsigned(next, limits)?;
    write_new(&args.output, &doc.to_vec())?;
    report_new_root(&doc, &args.output, out);
    let old = current.role(RoleName::Root);
    out.status(format!(
        "  rotation needs {} signature(s) from the root role of version {} and {} from its own",
        old.threshold,
        current.version,
        doc.root().role(RoleName::Root).threshold
    ));
    Ok(())
}

fn report_new_root(doc: &SignedRoot, path: &Path, out: &Output) {
    let r = doc.root();
    out.status(format!(
        "wrote trust root version {} to {} (unsigned; expires {})",
        r.version,
        path.display(),
        format_rfc3339(r.expires)
    ));
    let root_role = r.role(RoleName::Root);
    out.status(format!(
        "  next: {} root key holder(s) of {} run `airlock trust sign {} --key ROOT.key`",
        root_role.threshold,
        root_role.keys.len(),
        path.display()
    ));
    out.result("trust-root", root_json(doc));
}

fn sign(args: &SignArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    let bytes = read_doc(&args.file, limits)?;
    let mut doc = SignedDocument::parse(&bytes, None, limits)?;
    // Parse the payload too, so a malformed document is never signed.
    let kind = doc.kind();
    let version = match kind {
        DocKind::Root => SignedRoot::parse(&bytes, limits)?.version(),
        DocKind::Revocation => SignedSnapshot::parse(&bytes, limits)?.version(),
    };
    for path in &args.key {
        let key = super::key::read_private(path)?;
        doc.add_signature(&key)?;
        out.status(format!(
            "signed {kind} version {version} with key {}",
            key.id()
        ));
    }
    let new = doc.to_vec();
    write_replace(&args.file, &new)?;
    let status = match kind {
        DocKind::Root => {
            let root = SignedRoot::parse(&new, limits)?;
            let own = root.verify_self();
            let mut s = vec![threshold_line("its own root role", &own)];
            if let Ok(store) = TrustStore::open(dir, limits)
                && store.root().version() + 1 == version
            {
                s.push(threshold_line(
                    &format!(
                        "the root role of trusted version {}",
                        store.root().version()
                    ),
                    &store.root().verify_successor(&root),
                ));
            }
            s
        }
        DocKind::Revocation => match TrustStore::open(dir, limits) {
            Ok(store) => {
                let snap = SignedSnapshot::parse(&new, limits)?;
                vec![threshold_line(
                    &format!(
                        "the revocation role of trusted root version {}",
                        store.root().version()
                    ),
                    &snap.verify(store.root().root()),
                )]
            }
            Err(_) => Vec::new(),
        },
    };
    for line in &status {
        out.status(format!("  {line}"));
    }
    out.status(format!(
        "  {} now has {} signature(s); sha256 of the file: {}",
        args.file.display(),
        doc.signers().len(),
        Digest::sha256_of(&new)
    ));
    out.result(
        "trust-sign",
        json!({
            "file": args.file,
            "documentKind": kind.type_name(),
            "version": version,
            "digest": Digest::sha256_of(&new),
            "signers": doc.signers().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "status": status,
        }),
    );
    Ok(())
}

fn threshold_line<T>(what: &str, r: &Result<T, TrustError>) -> String {
    match r {
        Ok(_) => format!("threshold of {what}: met"),
        Err(e) => format!("threshold of {what}: not met yet ({e})"),
    }
}

fn pin(args: &PinArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    let bytes = read_doc(&args.file, limits)?;
    let store = TrustStore::pin(dir, &bytes, &args.digest, time::now(), limits)?;
    let r = store.root().root();
    out.status(format!(
        "pinned trust root version {} ({}) in {}; expires {}",
        r.version,
        args.digest,
        dir.display(),
        format_rfc3339(r.expires)
    ));
    out.result(
        "trust-pin",
        json!({ "trustDir": dir, "digest": args.digest, "root": root_json(store.root()) }),
    );
    Ok(())
}

fn update(args: &UpdateArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    let mut store = TrustStore::open(dir, limits)?;
    let roots = args
        .files
        .iter()
        .map(|p| SignedRoot::parse(&read_doc(p, limits)?, limits).map_err(Error::from))
        .collect::<Result<Vec<_>, Error>>()?;
    let added = store.update_roots(roots, time::now())?;
    if added.is_empty() {
        out.status(format!(
            "trust root version {} is already the newest trusted; nothing to do",
            store.root().version()
        ));
    } else {
        out.status(format!(
            "trusted root version(s) {}; the newest is {} (expires {})",
            added
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            store.root().version(),
            format_rfc3339(store.root().root().expires)
        ));
    }
    out.result(
        "trust-update",
        json!({ "added": added, "root": root_json(store.root()) }),
    );
    Ok(())
}

/// `REGISTRY/REPO[:TAG|@DIGEST]`, tagged [`TRUST_TAG`] when it names neither tag nor digest.
fn sync_reference(from: &str) -> Result<RegistryReference, Error> {
    let not_registry = || {
        usage(format!(
            "--from {from}: expected a registry repository, REGISTRY/REPO[:TAG]"
        ))
    };
    let parsed = match from.parse::<Reference>()? {
        Reference::Registry(r) => r,
        Reference::Layout(_) => return Err(not_registry()),
    };
    if parsed.tag().is_some() || parsed.digest().is_some() {
        return Ok(parsed);
    }
    match format!("{parsed}:{TRUST_TAG}").parse::<Reference>()? {
        Reference::Registry(r) => Ok(r),
        Reference::Layout(_) => Err(not_registry()),
    }
}

fn sync(
    args: &SyncArgs,
    out: &Output,
    limits: &Limits,
    dir: &Path,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    // Opening refuses a store that is not pinned: nothing is trusted on first use.
    let mut store = TrustStore::open(dir, limits)?;
    let reference = sync_reference(&args.from)?;
    let now = time::now();
    store.check_clock(now)?;
    let before = (
        store.root().version(),
        store.revocation().map(SignedSnapshot::version),
    );
    let repo = registry.registries(limits, 1)?.repository_of(&reference);
    let synced = fetch_trust(&mut store, &repo, &reference, now)?;
    if synced.roots.is_empty() {
        out.status(format!(
            "trust root version {} is already the newest trusted",
            store.root().version()
        ));
    } else {
        out.status(format!(
            "trusted root version(s) {} from {reference}; the newest is {} (expires {})",
            synced
                .roots
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            store.root().version(),
            format_rfc3339(store.root().root().expires)
        ));
    }
    match (store.revocation(), synced.revocation) {
        (Some(s), true) => out.status(format!(
            "installed revocation snapshot version {} (was {}; expires {})",
            s.version(),
            before
                .1
                .map_or_else(|| "none".to_owned(), |v| v.to_string()),
            format_rfc3339(s.snapshot().expires)
        )),
        (Some(s), false) => out.status(format!(
            "revocation snapshot version {} kept: the published one is not newer",
            s.version()
        )),
        (None, _) => out.status(format!("{reference} carries no revocation snapshot")),
    }
    out.result(
        "trust-sync",
        json!({
            "from": reference.to_string(),
            "rootsInstalled": synced.roots,
            "revocationInstalled": synced.revocation,
            "previousRootVersion": before.0,
            "previousRevocationVersion": before.1,
            "root": root_json(store.root()),
            "revocation": store.revocation().map(snapshot_json),
        }),
    );
    Ok(())
}

fn show(args: &ShowArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    if let Some(file) = &args.file {
        let bytes = read_doc(file, limits)?;
        let doc = SignedDocument::parse(&bytes, None, limits)?;
        let kind = doc.kind();
        drop(doc);
        match kind {
            DocKind::Root => {
                let r = SignedRoot::parse(&bytes, limits)?;
                out.text(&root_text(&r));
                if out.is_json() {
                    out.result("trust-document", root_json(&r));
                }
            }
            DocKind::Revocation => {
                let s = SignedSnapshot::parse(&bytes, limits)?;
                out.text(&snapshot_text(&s));
                if out.is_json() {
                    out.result("trust-document", snapshot_json(&s));
                }
            }
        }
        return Ok(());
    }
    let store = TrustStore::open(dir, limits)?;
    let st = store.state();
    let mut text = format!(
        "trust store {}\n  pinned: {} (version {})\n  latest time observed: {}\n",
        dir.display(),
        st.pinned,
        st.pinned_version,
        format_rfc3339(st.latest_time)
    );
    text.push_str(&root_text(store.root()));
    match store.revocation() {
        Some(s) => text.push_str(&snapshot_text(s)),
        None => text.push_str("revocation snapshot: none installed\n"),
    }
    match store.policy() {
        Ok(Some(p)) => {
            text.push_str("policy:\n");
            for s in p.scopes() {
                text.push_str(&format!(
                    "  {}  {}  {}\n",
                    s.pattern,
                    s.level,
                    s.signers
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |x| x.describe())
                ));
            }
        }
        Ok(None) => text.push_str("policy: none installed (airlock policy set FILE)\n"),
        Err(e) => text.push_str(&format!("policy: {e}\n")),
    }
    out.text(&text);
    if !out.is_json() {
        return Ok(());
    }
    out.result(
        "trust-store",
        json!({
            "trustDir": dir,
            "state": st,
            "root": root_json(store.root()),
            "revocation": store.revocation().map(snapshot_json),
            "policyInstalled": matches!(store.policy(), Ok(Some(_))),
            "policyProblem": store.policy().err().map(|e| e.to_string()),
        }),
    );
    Ok(())
}

fn role_json(r: &Role) -> Value {
    json!({ "keys": r.keys.iter().map(ToString::to_string).collect::<Vec<_>>(), "threshold": r.threshold })
}

pub(crate) fn root_json(doc: &SignedRoot) -> Value {
    let r = doc.root();
    json!({
        "digest": doc.digest(),
        "version": r.version,
        "issuedAt": format_rfc3339(r.issued_at),
        "expires": format_rfc3339(r.expires),
        "keys": r.keys.iter().map(|(id, k)| (id.to_string(), json!(k.algorithm().name()))).collect::<serde_json::Map<_, _>>(),
        "roles": r.roles.iter().map(|(n, role)| (n.name().to_owned(), role_json(role))).collect::<serde_json::Map<_, _>>(),
        "signers": r.signers.iter().map(|(n, role)| (n.clone(), role_json(role))).collect::<serde_json::Map<_, _>>(),
        "signatures": doc.document().signers().iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn root_text(doc: &SignedRoot) -> String {
    let r = doc.root();
    let mut s = format!(
        "trust root version {}  issued {}  expires {}\n  file sha256: {}\n",
        r.version,
        format_rfc3339(r.issued_at),
        format_rfc3339(r.expires),
        doc.digest()
    );
    let role_line = |name: &str, role: &Role| {
        let keys: Vec<String> = role
            .keys
            .iter()
            .map(|k| {
                format!(
                    "{k} ({})",
                    r.keys.get(k).map_or("?", |p| p.algorithm().name())
                )
            })
            .collect();
        format!(
            "  {name}: {} of {}: {}\n",
            role.threshold,
            role.keys.len(),
            keys.join(", ")
        )
    };
    for (n, role) in &r.roles {
        s.push_str(&role_line(&format!("role {n}"), role));
    }
    for (n, role) in &r.signers {
        s.push_str(&role_line(&format!("signer {n}"), role));
    }
    s.push_str(&format!(
        "  signatures: {}\n",
        doc.document()
            .signers()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s
}

pub(crate) fn snapshot_json(doc: &SignedSnapshot) -> Value {
    let s = doc.snapshot();
    json!({
        "digest": Digest::sha256_of(&doc.to_vec()),
        "version": s.version,
        "issuedAt": format_rfc3339(s.issued_at),
        "expires": format_rfc3339(s.expires),
        "keys": s.keys.iter().map(|(k, e)| json!({"keyId": k.to_string(), "revokedAt": format_rfc3339(e.revoked_at), "reason": e.reason})).collect::<Vec<_>>(),
        "digests": s.digests.iter().map(|(d, e)| json!({"digest": d, "revokedAt": format_rfc3339(e.revoked_at), "reason": e.reason})).collect::<Vec<_>>(),
        "signatures": doc.document().signers().iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn snapshot_text(doc: &SignedSnapshot) -> String {
    let s = doc.snapshot();
    let mut t = format!(
        "revocation snapshot version {}  issued {}  expires {}  ({} key(s), {} digest(s) revoked)\n",
        s.version,
        format_rfc3339(s.issued_at),
        format_rfc3339(s.expires),
        s.keys.len(),
        s.digests.len()
    );
    for (k, e) in &s.keys {
        t.push_str(&format!(
            "  key {k} revoked {}: {}\n",
            format_rfc3339(e.revoked_at),
            e.reason
        ));
    }
    for (d, e) in &s.digests {
        t.push_str(&format!(
            "  digest {d} revoked {}: {}\n",
            format_rfc3339(e.revoked_at),
            e.reason
        ));
    }
    t
}

/// Reads a trust document file, refusing anything but a regular file over the limit.
pub(crate) fn read_doc(path: &Path, limits: &Limits) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |source| TrustError::Io {
        path: path.to_owned(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if !f.metadata().map_err(io)?.is_file() {
        return Err(Error::Unsupported(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    f.take(limits.max_trust_document_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

/// Creates `path` with `bytes`; never replaces an existing file.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let io = |source| TrustError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

/// Replaces `path` with `bytes` atomically (write beside, sync, rename).
fn write_replace(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let io = |source| TrustError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".airlock-")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
