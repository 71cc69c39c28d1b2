//! The trust store: a directory per user (or per site) holding the pinned root, every root
//! accepted since, the newest accepted revocation snapshot, the trust policy, pending
//! revocations, and the state that defeats rollback and clock attacks.
//!
//! Spec: `formats/trust-root.md`, section "Trust store". Every file is written beside its final
//! name, synced and renamed; `state.json` is written last and binds each current document by
//! digest, so a store is either before or after an update, never between. One process at a time
//! holds the store (an exclusive lock on `.lock`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::root::SignedRoot;
use super::signed::DocKind;
use super::{CLOCK_SKEW, TrustError};
use crate::digest::Digest;
use crate::key::KeyId;
use crate::limits::Limits;
use crate::policy::Policy;
use crate::revocation::{Added, Entry, SignedSnapshot, Snapshot};
use crate::time::Seconds;

const STATE_FILE: &str = "state.json";
const REVOCATIONS_DIR: &str = "revocations";
const POLICY_FILE: &str = "policy.json";
const DRAFT_FILE: &str = "revocation-draft.json";
const ROOTS_DIR: &str = "roots";
const LOCK_FILE: &str = ".lock";
/// Largest state or draft file read, in bytes.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// What the store has accepted, written last by every update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    /// The format of this file (1).
    pub state_version: u32,
    /// The digest given out of band for the first root.
    pub pinned: Digest,
    /// The first root's version.
    pub pinned_version: u64,
    /// The newest accepted root's version.
    pub root_version: u64,
    /// The newest accepted root file's digest.
    pub root_digest: Digest,
    /// The newest accepted revocation snapshot's version.
    pub revocation_version: Option<u64>,
    /// Its file's digest.
    pub revocation_digest: Option<Digest>,
    /// The root version that was current when it was accepted.
    pub revocation_root_version: Option<u64>,
    /// The latest time (epoch seconds) this store has observed.
    pub latest_time: Seconds,
}

/// Revocations recorded by `airlock revoke`, waiting for `airlock revocation publish`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// Keys to revoke.
    #[serde(default)]
    pub keys: BTreeMap<KeyId, DraftEntry>,
    /// Digests to revoke.
    #[serde(default)]
    pub digests: BTreeMap<Digest, DraftEntry>,
}

/// One pending revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DraftEntry {
    /// When it went bad.
    pub revoked_at: Seconds,
    /// Why.
    pub reason: String,
}

/// An open, locked trust store.
#[derive(Debug)]
pub struct TrustStore {
    dir: PathBuf,
    limits: Limits,
    state: State,
    root: SignedRoot,
    revocation: Option<SignedSnapshot>,
    policy: Option<Result<Policy, String>>,
    _lock: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        path: path.to_owned(),
        source,
    }
}

impl TrustStore {
    /// The default store: `$XDG_CONFIG_HOME/airlock/trust`, else `$HOME/.config/airlock/trust`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".config"))
            })?;
        Some(base.join("airlock").join("trust"))
    }

    /// Pins `root_bytes` as the first trusted root of a new store in `dir`: the file's SHA-256
    /// must equal `digest` (given out of band), a threshold of its own `root` role must have
    /// signed it, and it must be fresh at `now`.
    pub fn pin(
        dir: &Path,
        root_bytes: &[u8],
        digest: &Digest,
        now: Seconds,
        limits: &Limits,
    ) -> Result<TrustStore, TrustError> {
        fs::create_dir_all(dir.join(ROOTS_DIR)).map_err(io(dir))?;
        let lock = lock(dir)?;
        if dir.join(STATE_FILE).exists() {
            return Err(TrustError::AlreadyPinned {
                dir: dir.to_owned(),
            });
        }
        let found = Digest::sha256_of(root_bytes);
        if &found != digest {
            return Err(TrustError::PinMismatch {
                expected: digest.clone(),
                found,
            });
        }
        let root = SignedRoot::parse(root_bytes, limits)?;
        root.verify_self()?;
        root.check_fresh(now)?;
        write_atomic(&root_path(dir, root.version()), root_bytes)?;
        let state = State {
            state_version: 1,
            pinned: digest.clone(),
            pinned_version: root.version(),
            root_version: root.version(),
            root_digest: found,
            revocation_version: None,
            revocation_digest: None,
            revocation_root_version: None,
            latest_time: now,
        };
        write_state(dir, &state)?;
        Ok(TrustStore {
            dir: dir.to_owned(),
            limits: limits.clone(),
            state,
            root,
            revocation: None,
            policy: None,
            _lock: lock,
        })
    }

    /// Opens the store in `dir`, checking each current file against the digest `state.json`
    /// recorded when it was accepted.
    pub fn open(dir: &Path, limits: &Limits) -> Result<TrustStore, TrustError> {
        if !dir.join(STATE_FILE).exists() {
            return Err(TrustError::NotPinned {
                dir: dir.to_owned(),
            });
        }
        let lock = lock(dir)?;
        let corrupt = |reason: String| TrustError::Store {
            dir: dir.to_owned(),
            reason,
        };
        let state_bytes = read_capped(&dir.join(STATE_FILE), MAX_STATE_BYTES)?;
        let state: State = serde_json::from_slice(&state_bytes)
            .map_err(|e| corrupt(format!("{STATE_FILE}: {e}")))?;
        if state.state_version != 1 {
            return Err(corrupt(format!(
                "{STATE_FILE} has format {}, this airlock reads 1",
                state.state_version
            )));
        }
        let root_file = root_path(dir, state.root_version);
        let bytes = read_capped(&root_file, limits.max_trust_document_bytes)?;
        if Digest::sha256_of(&bytes) != state.root_digest {
            return Err(corrupt(format!(
                "{} does not have the digest recorded when it was accepted",
                root_file.display()
            )));
        }
        let root = SignedRoot::parse(&bytes, limits)?;
        if root.version() != state.root_version {
            return Err(corrupt(format!(
                "{} holds version {}",
                root_file.display(),
                root.version()
            )));
        }
        let revocation = match &state.revocation_digest {
            None => None,
            Some(d) => {
                let version = state.revocation_version.ok_or_else(|| {
                    corrupt(format!(
                        "{STATE_FILE} has a revocation digest but no version"
                    ))
                })?;
                let path = revocation_path(dir, version);
                let bytes = read_capped(&path, limits.max_trust_document_bytes)?;
                if &Digest::sha256_of(&bytes) != d {
                    return Err(corrupt(format!(
                        "{} does not have the digest recorded when it was accepted",
                        path.display()
                    )));
                }
                Some(SignedSnapshot::parse(&bytes, limits)?)
            }
        };
        // A policy that no longer reads (say, installed under a raised --limit) is reported
        // when it is used, not here: `policy set` must still be able to replace it.
        let policy_path = dir.join(POLICY_FILE);
        let policy = if policy_path.exists() {
            Some(
                read_capped(&policy_path, limits.max_policy_bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| Policy::parse(&bytes, limits).map_err(|e| e.to_string())),
            )
        } else {
            None
        };
        Ok(TrustStore {
            dir: dir.to_owned(),
            limits: limits.clone(),
            state,
            root,
            revocation,
            policy,
            _lock: lock,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The recorded state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The newest accepted root.
    pub fn root(&self) -> &SignedRoot {
        &self.root
    }

    /// The newest accepted revocation snapshot.
    pub fn revocation(&self) -> Option<&SignedSnapshot> {
        self.revocation.as_ref()
    }

    /// The trust policy: `Ok(None)` when none is installed, an error when the installed file
    /// does not read under the current limits.
    pub fn policy(&self) -> Result<Option<&Policy>, TrustError> {
        match &self.policy {
            None => Ok(None),
            Some(Ok(p)) => Ok(Some(p)),
            Some(Err(e)) => Err(TrustError::Store {
                dir: self.dir.clone(),
                reason: format!(
                    "the installed {POLICY_FILE} does not read: {e} (if it was installed with a raised --limit, pass the same limit, or install another with `airlock policy set`)"
                ),
            }),
        }
    }

    /// Every accepted root, oldest first (for carrying the chain to another site), checked
    /// again: the first against the pinned digest, each next one by the rotation rule, the
    /// newest against the digest recorded in `state.json`.
    pub fn chain(&self) -> Result<Vec<SignedRoot>, TrustError> {
        let corrupt = |reason: String| TrustError::Store {
            dir: self.dir.clone(),
            reason,
        };
        let mut chain: Vec<SignedRoot> = Vec::new();
        for v in self.state.pinned_version..=self.state.root_version {
            let path = root_path(&self.dir, v);
            let bytes = read_capped(&path, self.limits.max_trust_document_bytes)?;
            let root = SignedRoot::parse(&bytes, &self.limits)?;
            match chain.last() {
                None if Digest::sha256_of(&bytes) != self.state.pinned => {
                    return Err(corrupt(format!(
                        "{} does not have the pinned digest",
                        path.display()
                    )));
                }
                None => {
                    root.verify_self()?;
                }
                Some(prev) => prev.verify_successor(&root)?,
            }
            chain.push(root);
        }
        if chain.last().map(SignedRoot::digest) != Some(self.state.root_digest.clone()) {
            return Err(corrupt("the newest root is not the one recorded".into()));
        }
        Ok(chain)
    }

    /// The keys the stored revocation snapshot revokes.
    pub fn revoked_keys(&self) -> BTreeSet<KeyId> {
        self.revocation
            .as_ref()
            .map(|s| s.snapshot().keys.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Refuses a clock that reads more than [`CLOCK_SKEW`] before the latest time observed.
    pub fn check_clock(&self, now: Seconds) -> Result<(), TrustError> {
        if now < self.state.latest_time.saturating_sub(CLOCK_SKEW) {
            return Err(TrustError::ClockRollback {
                now,
                latest: self.state.latest_time,
            });
        }
        Ok(())
    }

    /// Checks the clock and records `now` as observed.
    pub fn observe(&mut self, now: Seconds) -> Result<(), TrustError> {
        self.check_clock(now)?;
        if now > self.state.latest_time {
            let mut state = self.state.clone();
            state.latest_time = now;
            write_state(&self.dir, &state)?;
            self.state = state;
        }
        Ok(())
    }

    /// Accepts newer roots. `candidates` may include versions already trusted (they must be
    /// identical to the stored ones); the new ones must follow the newest trusted root one
    /// version at a time, each signed by a threshold of the previous root's `root` role and of
    /// its own, at most `max_root_chain` of them, and the newest must be fresh at `now`.
    /// Returns the versions added.
    pub fn update_roots(
        &mut self,
        candidates: Vec<SignedRoot>,
        now: Seconds,
    ) -> Result<Vec<u64>, TrustError> {
        let new = self.check_roots(candidates, now, now)?;
        let Some(newest) = new.last().cloned() else {
            return Ok(Vec::new());
        };
        for r in &new {
            write_atomic(&root_path(&self.dir, r.version()), &r.to_vec())?;
        }
        let mut state = self.state.clone();
        state.root_version = newest.version();
        state.root_digest = newest.digest();
        state.latest_time = state.latest_time.max(now);
        write_state(&self.dir, &state)?;
        self.state = state;
        self.root = newest;
        Ok(new.iter().map(SignedRoot::version).collect())
    }

    /// What [`TrustStore::update_roots`] would accept, written nowhere: the new roots, oldest
    /// first (empty when `candidates` hold nothing newer). The clock is checked at `now`,
    /// freshness of the newest root judged at `at`.
    pub fn check_roots(
        &self,
        mut candidates: Vec<SignedRoot>,
        now: Seconds,
        at: Seconds,
    ) -> Result<Vec<SignedRoot>, TrustError> {
        self.check_clock(now)?;
        candidates.sort_by_key(SignedRoot::version);
        for pair in candidates.windows(2) {
            if pair[0].version() == pair[1].version()
                && pair[0].document().payload() != pair[1].document().payload()
            {
                return Err(TrustError::VersionConflict {
                    what: DocKind::Root,
                    version: pair[0].version(),
                });
            }
        }
        candidates.dedup_by_key(|r| r.version());
        let trusted = self.state.root_version;
        for c in candidates.iter().filter(|c| c.version() <= trusted) {
            if c.version() < self.state.pinned_version {
                continue;
            }
            let stored = read_capped(
                &root_path(&self.dir, c.version()),
                self.limits.max_trust_document_bytes,
            )?;
            let stored = SignedRoot::parse(&stored, &self.limits)?;
            if stored.document().payload() != c.document().payload() {
                return Err(TrustError::VersionConflict {
                    what: DocKind::Root,
                    version: c.version(),
                });
            }
        }
        let new: Vec<SignedRoot> = candidates
            .iter()
            .filter(|c| c.version() > trusted)
            .cloned()
            .collect();
        if new.is_empty() {
            let newest = candidates.last().map_or(trusted, SignedRoot::version);
            if newest < trusted {
                return Err(TrustError::Rollback {
                    what: DocKind::Root,
                    trusted,
                    offered: newest,
                });
            }
            return Ok(Vec::new());
        }
        if new.len() > self.limits.max_root_chain {
            return Err(TrustError::ChainTooLong {
                versions: new.len(),
                limit: self.limits.max_root_chain,
            });
        }
        // Revocations do not apply to the root role: root keys are retired by rotation, which
        // must stay possible whatever a snapshot says (a snapshot that could take root keys out
        // of their role could make every later rotation impossible).
        let mut prev = &self.root;
        for next in &new {
            prev.verify_successor(next)?;
            prev = next;
        }
        prev.check_fresh(at)?;
        Ok(new)
    }

    /// Accepts a revocation snapshot: signed by a threshold of the current root's `revocation`
    /// role, not older than the stored one (an equal version must be identical), keeping every
    /// stored entry, and fresh at `now`. Returns whether it replaced the stored snapshot.
    pub fn import_revocation(
        &mut self,
        snapshot: SignedSnapshot,
        now: Seconds,
    ) -> Result<bool, TrustError> {
        if !self.check_revocation(&self.root, &snapshot, now, now)? {
            return Ok(false);
        }
        let bytes = snapshot.to_vec();
        fs::create_dir_all(self.dir.join(REVOCATIONS_DIR)).map_err(io(&self.dir))?;
        write_atomic(&revocation_path(&self.dir, snapshot.version()), &bytes)?;
        let mut state = self.state.clone();
        state.revocation_version = Some(snapshot.version());
        state.revocation_digest = Some(Digest::sha256_of(&bytes));
        state.revocation_root_version = Some(self.root.version());
        state.latest_time = state.latest_time.max(now);
        write_state(&self.dir, &state)?;
        self.state = state;
        self.revocation = Some(snapshot);
        Ok(true)
    }

    /// What [`TrustStore::import_revocation`] would decide for `snapshot` if `root` were the
    /// current root, written nowhere: `Ok(true)` when it would replace the stored snapshot,
    /// `Ok(false)` when it is the stored one. The clock is checked at `now`, freshness of a new
    /// snapshot judged at `at`.
    pub fn check_revocation(
        &self,
        root: &SignedRoot,
        snapshot: &SignedSnapshot,
        now: Seconds,
        at: Seconds,
    ) -> Result<bool, TrustError> {
        self.check_clock(now)?;
        let revoked = self.revoked_keys();
        if let Err(e) = snapshot.verify(&root.root().without_keys(&revoked)) {
            return Err(revoked_signer(
                e,
                snapshot.document().signers(),
                &revoked,
                snapshot.version(),
            )
            .unwrap_or_else(|e| e));
        }
        if let Some(stored) = &self.revocation {
            stored.snapshot().check_successor(snapshot.snapshot())?;
            if stored.version() == snapshot.version() {
                return Ok(false);
            }
        }
        snapshot.check_fresh(at)?;
        let bytes = snapshot.to_vec();
        if bytes.len() as u64 > self.limits.max_trust_document_bytes {
            return Err(TrustError::TooLarge {
                what: DocKind::Revocation,
                detail: format!(
                    "{} bytes, more than max_trust_document_bytes ({})",
                    bytes.len(),
                    self.limits.max_trust_document_bytes
                ),
            });
        }
        snapshot
            .snapshot()
            .check()
            .map_err(|reason| TrustError::Malformed {
                what: DocKind::Revocation,
                reason,
            })?;
        Ok(true)
    }

    /// Installs a trust policy (checked first).
    pub fn set_policy(&mut self, bytes: &[u8]) -> Result<&Policy, crate::Error> {
        let policy = Policy::parse(bytes, &self.limits)?;
        write_atomic(&self.dir.join(POLICY_FILE), bytes)?;
        match self.policy.insert(Ok(policy)) {
            Ok(p) => Ok(p),
            Err(e) => Err(TrustError::Store {
                dir: self.dir.clone(),
                reason: e.clone(),
            }
            .into()),
        }
    }

    /// The pending revocations.
    pub fn draft(&self) -> Result<Draft, TrustError> {
        let path = self.dir.join(DRAFT_FILE);
        if !path.exists() {
            return Ok(Draft::default());
        }
        let bytes = read_capped(&path, MAX_STATE_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| TrustError::Store {
            dir: self.dir.clone(),
            reason: format!("{DRAFT_FILE}: {e}"),
        })
    }

    /// Records a pending revocation of a key or a digest (`airlock revoke`).
    pub fn add_to_draft(&mut self, item: Revoke, entry: DraftEntry) -> Result<Added, TrustError> {
        crate::revocation::check_entry(entry.revoked_at, &entry.reason).map_err(|reason| {
            TrustError::Malformed {
                what: DocKind::Revocation,
                reason,
            }
        })?;
        let mut draft = self.draft()?;
        let published = self.revocation.as_ref().map(SignedSnapshot::snapshot);
        let added = match item {
            Revoke::Key(k) => {
                if published.is_some_and(|s| s.key(&k).is_some()) || draft.keys.contains_key(&k) {
                    Added::AlreadyRevoked
                } else {
                    draft.keys.insert(k, entry);
                    Added::New
                }
            }
            Revoke::Digest(d) => {
                if published.is_some_and(|s| s.digest(&d).is_some())
                    || draft.digests.contains_key(&d)
                {
                    Added::AlreadyRevoked
                } else {
                    draft.digests.insert(d, entry);
                    Added::New
                }
            }
        };
        if added == Added::New {
            let bytes = serde_json::to_vec_pretty(&draft).unwrap_or_default();
            write_atomic(&self.dir.join(DRAFT_FILE), &bytes)?;
        }
        Ok(added)
    }

    /// The next snapshot: the stored one's entries plus the draft's, version one more.
    pub fn next_snapshot(
        &self,
        issued_at: Seconds,
        expires: Seconds,
    ) -> Result<Snapshot, TrustError> {
        let draft = self.draft()?;
        let mut next = match &self.revocation {
            Some(s) => s.snapshot().clone(),
            None => Snapshot {
                version: 0,
                issued_at,
                expires,
                keys: BTreeMap::new(),
                digests: BTreeMap::new(),
            },
        };
        next.version += 1;
        next.issued_at = issued_at;
        next.expires = expires;
        for (k, e) in draft.keys {
            next.keys.entry(k).or_insert(Entry {
                revoked_at: e.revoked_at,
                reason: e.reason,
            });
        }
        for (d, e) in draft.digests {
            next.digests.entry(d).or_insert(Entry {
                revoked_at: e.revoked_at,
                reason: e.reason,
            });
        }
        next.check().map_err(|reason| TrustError::Malformed {
            what: DocKind::Revocation,
            reason,
        })?;
        if next.len() > self.limits.max_revocation_entries {
            return Err(TrustError::TooLarge {
                what: DocKind::Revocation,
                detail: format!(
                    "{} entries, more than max_revocation_entries ({})",
                    next.len(),
                    self.limits.max_revocation_entries
                ),
            });
        }
        Ok(next)
    }

    /// Forgets the pending revocations that `snapshot` now carries.
    pub fn clear_published_draft(&mut self) -> Result<(), TrustError> {
        let Some(s) = self.revocation.as_ref().map(SignedSnapshot::snapshot) else {
            return Ok(());
        };
        let mut draft = self.draft()?;
        draft.keys.retain(|k, _| s.key(k).is_none());
        draft.digests.retain(|d, _| s.digest(d).is_none());
        let path = self.dir.join(DRAFT_FILE);
        if draft == Draft::default() {
            match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(&path)(e)),
            }
        } else {
            write_atomic(
                &path,
                &serde_json::to_vec_pretty(&draft).unwrap_or_default(),
            )
        }
    }
}

/// What `airlock revoke` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoke {
    /// A key, by id.
    Key(KeyId),
    /// Content, by digest.
    Digest(Digest),
}

/// When a document failed its threshold and some of its signers are revoked, says so.
fn revoked_signer(
    e: TrustError,
    signers: &[KeyId],
    revoked: &BTreeSet<KeyId>,
    version: u64,
) -> Result<TrustError, TrustError> {
    let by_revoked: Vec<KeyId> = signers
        .iter()
        .filter(|k| revoked.contains(k))
        .copied()
        .collect();
    match e {
        TrustError::Threshold { what, .. } | TrustError::WrongRole { what, .. }
            if !by_revoked.is_empty() =>
        {
            Ok(TrustError::RevokedSigner {
                what,
                version,
                keys: by_revoked,
                cause: Box::new(e),
            })
        }
        e => Err(e),
    }
}

fn revocation_path(dir: &Path, version: u64) -> PathBuf {
    dir.join(REVOCATIONS_DIR).join(format!("{version}.cose"))
}

fn root_path(dir: &Path, version: u64) -> PathBuf {
    dir.join(ROOTS_DIR).join(format!("{version}.cose"))
}

/// Takes the store's lock: exclusive for a process that may write it; shared, for reading only,
/// when the lock file cannot be opened for writing (a store administered by another account).
fn lock(dir: &Path) -> Result<File, TrustError> {
    let path = dir.join(LOCK_FILE);
    match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => {
            f.lock().map_err(io(&path))?;
            Ok(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let f = File::open(&path).map_err(io(&path))?;
            f.lock_shared().map_err(io(&path))?;
            Ok(f)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, TrustError> {
    // Refuses FIFOs and devices without blocking on them.
    let f = crate::layout::open_regular(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > max {
        return Err(TrustError::Store {
            dir: path.parent().unwrap_or(path).to_owned(),
            reason: format!(
                "{} is larger than {max} bytes (if it was accepted under a raised --limit, pass the same limit)",
                path.display()
            ),
        });
    }
    Ok(bytes)
}

fn write_state(dir: &Path, state: &State) -> Result<(), TrustError> {
    let mut bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(&dir.join(STATE_FILE), &bytes)
}

/// Writes `bytes` beside `path`, syncs, renames over `path`, and syncs the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use tempfile::TempDir;

    use super::*;
    use crate::key::PrivateKey;
    use crate::trust::root::TrustRoot;
    use crate::trust::root::tests::{DAY, T0, key, make_root, p384, sign_root};

    /// The time the tests run at: every root below is fresh then.
    const NOW: Seconds = T0 + 30 * DAY;

    /// The root key of version `v`: key 1 for version 1, then a new key per version (P-384
    /// for version 2).
    fn root_key(v: u64) -> PrivateKey {
        match v {
            1 => key(1),
            2 => p384(),
            v => key(10 + u8::try_from(v).expect("small versions")),
        }
    }

    fn rotating_root(v: u64) -> TrustRoot {
        make_root(v, (&[&root_key(v)], 1), &[&key(2)], &[&key(3)])
    }

    /// Version `v`, signed by the previous version's root key and its own.
    fn rotating(v: u64) -> SignedRoot {
        let own = root_key(v);
        if v == 1 {
            return sign_root(rotating_root(v), &[&own]);
        }
        sign_root(rotating_root(v), &[&root_key(v - 1), &own])
    }

    fn pin(root: &SignedRoot) -> (TempDir, TrustStore) {
        pin_with(root, &Limits::default())
    }

    fn pin_with(root: &SignedRoot, limits: &Limits) -> (TempDir, TrustStore) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let bytes = root.to_vec();
        let store = TrustStore::pin(tmp.path(), &bytes, &Digest::sha256_of(&bytes), NOW, limits)
            .expect("pin");
        (tmp, store)
    }

    fn reopen(store: TrustStore) -> TrustStore {
        let (dir, limits) = (store.dir().to_owned(), store.limits.clone());
        // The lock is per open file: release it before opening again.
        drop(store);
        TrustStore::open(&dir, &limits).expect("reopen")
    }

    fn code<T: fmt::Debug>(r: Result<T, TrustError>) -> &'static str {
        match r {
            Ok(v) => panic!("expected an error, got Ok({v:?})"),
            Err(e) => e.code(),
        }
    }

    fn snapshot(version: u64, digests: &[u8]) -> Snapshot {
        let issued_at = T0 + version as Seconds * DAY;
        Snapshot {
            version,
            issued_at,
            expires: issued_at + 60 * DAY,
            keys: BTreeMap::new(),
            digests: digests
                .iter()
                .map(|n| {
                    (
                        Digest::sha256_of(&[*n]),
                        Entry {
                            revoked_at: T0,
                            reason: format!("bad build {n}"),
                        },
                    )
                })
                .collect(),
        }
    }

    fn signed(s: Snapshot, by: &PrivateKey) -> SignedSnapshot {
        let mut d = SignedSnapshot::unsigned(s);
        d.sign(by).expect("sign");
        d
    }

    #[test]
    fn a_revoked_key_signs_nothing_more() {
        // Two revocation keys (2 and 4), one needed; root keys 10 and 11, one needed.
        let (r10, r11) = (key(10), key(11));
        let root = |v: u64| make_root(v, (&[&r10, &r11], 1), &[&key(2), &key(4)], &[&key(3)]);
        let (_tmp, mut store) = pin(&sign_root(root(1), &[&r10]));
        // Snapshot 1, by key 4, revokes key 2 (a leaked revocation key) and root key 11.
        let mut s1 = snapshot(1, &[]);
        for k in [key(2).id(), r11.id()] {
            s1.keys.insert(
                k,
                Entry {
                    revoked_at: T0,
                    reason: "leaked".into(),
                },
            );
        }
        store
            .import_revocation(signed(s1.clone(), &key(4)), NOW)
            .expect("snapshot 1");
        // The thief's snapshot 2 by key 2 (it keeps every entry, and would extend the expiry).
        let mut s2 = s1.clone();
        s2.version = 2;
        let e = store
            .import_revocation(signed(s2.clone(), &key(2)), NOW)
            .expect_err("signed by a revoked key");
        assert_eq!(e.code(), "revoked-signer", "{e}");
        assert!(e.to_string().contains(&key(2).id().to_string()), "{e}");
        // The same snapshot by the key in good standing is accepted.
        store
            .import_revocation(signed(s2, &key(4)), NOW)
            .expect("by key 4");
        // Revocation does not take keys out of the root role: a rotation signed by the revoked
        // root key alone still counts (rotation is how a root key is retired), so no snapshot can
        // make the root impossible to rotate.
        store
            .update_roots(vec![sign_root(root(2), &[&r11])], NOW)
            .expect("the root role is judged by the root, not by revocations");
        assert_eq!(store.state().root_version, 2);
    }

    #[test]
    fn a_policy_that_no_longer_reads_does_not_lock_the_store() {
        let (tmp, mut store) = pin(&rotating(1));
        let two = br#"{"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": "any"}, {"scope": "a.example/x", "level": "audit", "signers": "any"}]}"#;
        store
            .set_policy(two)
            .expect("two scopes under the defaults");
        drop(store);
        let tight = Limits {
            max_policy_scopes: 1,
            ..Limits::default()
        };
        let mut store = TrustStore::open(tmp.path(), &tight).expect("opens all the same");
        let e = store
            .policy()
            .expect_err("the policy is over the tightened limit");
        assert_eq!(e.code(), "store");
        assert!(e.to_string().contains("--limit"), "{e}");
        let one =
            br#"{"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": "any"}]}"#;
        store.set_policy(one).expect("and can be replaced");
        assert_eq!(
            store.policy().expect("reads").map(|p| p.scopes().len()),
            Some(1)
        );
    }

    #[test]
    fn pin_then_reopen() {
        let v1 = rotating(1);
        let (tmp, store) = pin(&v1);
        let want = State {
            state_version: 1,
            pinned: v1.digest(),
            pinned_version: 1,
            root_version: 1,
            root_digest: v1.digest(),
            revocation_version: None,
            revocation_digest: None,
            revocation_root_version: None,
            latest_time: NOW,
        };
        assert_eq!(store.state(), &want);
        assert_eq!(store.dir(), tmp.path());
        assert!(tmp.path().join("roots/1.cose").is_file());
        let store = reopen(store);
        assert_eq!(store.state(), &want);
        assert_eq!(store.root().to_vec(), v1.to_vec());
        assert!(store.revocation().is_none());
        assert!(matches!(store.policy(), Ok(None)));
        assert_eq!(store.chain().expect("chain").len(), 1);
    }

    #[test]
    fn pin_refuses_what_it_cannot_trust() {
        let limits = Limits::default();
        let tmp = tempfile::tempdir().expect("temp dir");
        let v1 = rotating(1).to_vec();
        let other = Digest::sha256_of(b"another root");
        let e = TrustStore::pin(tmp.path(), &v1, &other, NOW, &limits).expect_err("wrong digest");
        assert!(
            matches!(&e, TrustError::PinMismatch { expected, found } if *expected == other && *found == Digest::sha256_of(&v1)),
            "{e:?}"
        );
        // Nothing was pinned.
        assert_eq!(code(TrustStore::open(tmp.path(), &limits)), "not-pinned");
        let pin = |bytes: &[u8], now| {
            TrustStore::pin(tmp.path(), bytes, &Digest::sha256_of(bytes), now, &limits)
        };
        let unsigned = sign_root(rotating_root(1), &[]).to_vec();
        assert_eq!(code(pin(&unsigned, NOW)), "threshold");
        let by_other_role = sign_root(rotating_root(1), &[&key(2)]).to_vec();
        assert_eq!(code(pin(&by_other_role, NOW)), "wrong-role");
        let expires = rotating_root(1).expires;
        assert_eq!(code(pin(&v1, expires)), "expired");
        assert_eq!(code(pin(&v1, T0 - DAY)), "from-future");
        assert_eq!(code(pin(b"not a root", NOW)), "malformed");
        let snapshot = signed(snapshot(1, &[1]), &key(1)).to_vec();
        assert_eq!(code(pin(&snapshot, NOW)), "wrong-type");
        assert_eq!(code(TrustStore::open(tmp.path(), &limits)), "not-pinned");
        let store = pin(&v1, NOW).expect("the right digest");
        drop(store);
        let e = pin(&v1, NOW).expect_err("a second pin");
        assert_eq!(e.code(), "already-pinned");
        assert!(!e.is_verification());
    }

    #[test]
    fn open_detects_tampered_files() {
        let (tmp, mut store) = pin(&rotating(1));
        store.update_roots(vec![rotating(2)], NOW).expect("rotate");
        store
            .import_revocation(signed(snapshot(1, &[1]), &key(2)), NOW)
            .expect("import");
        let limits = store.limits.clone();
        drop(store);
        let dir = tmp.path();
        let open = || TrustStore::open(dir, &limits);
        open().expect("untouched");
        let tamper = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let path = dir.join(name);
            let before = fs::read(&path).expect("read");
            let mut bytes = before.clone();
            f(&mut bytes);
            fs::write(&path, &bytes).expect("write");
            let e = open().expect_err(name);
            fs::write(&path, &before).expect("restore");
            open().expect("restored");
            e
        };
        let flip_last = |b: &mut Vec<u8>| {
            let n = b.len() - 1;
            b[n] ^= 1;
        };
        let e = tamper("roots/2.cose", &flip_last);
        assert_eq!(e.code(), "store", "{e}");
        assert!(e.to_string().contains("2.cose"), "{e}");
        assert_eq!(tamper("revocations/1.cose", &flip_last).code(), "store");
        assert_eq!(tamper("state.json", &|b| b.truncate(10)).code(), "store");
        let unknown = |b: &mut Vec<u8>| {
            *b = String::from_utf8(b.clone())
                .expect("json")
                .replacen('{', "{\"trustedForever\": true,", 1)
                .into_bytes();
        };
        assert_eq!(tamper("state.json", &unknown).code(), "store");
        let format_2 = |b: &mut Vec<u8>| {
            *b = String::from_utf8(b.clone())
                .expect("json")
                .replacen("\"stateVersion\": 1", "\"stateVersion\": 2", 1)
                .into_bytes();
        };
        assert_eq!(tamper("state.json", &format_2).code(), "store");
        // The current root file swapped for an older one whose digest state.json records.
        let v1 = fs::read(dir.join("roots/1.cose")).expect("read v1");
        let swap_digest = |b: &mut Vec<u8>| {
            let s = String::from_utf8(b.clone()).expect("json");
            *b = s
                .replace(
                    &rotating(2).digest().to_string(),
                    &Digest::sha256_of(&v1).to_string(),
                )
                .into_bytes();
        };
        let (v2, state) = (
            fs::read(dir.join("roots/2.cose")).expect("read v2"),
            fs::read(dir.join(STATE_FILE)).expect("read state"),
        );
        fs::write(dir.join("roots/2.cose"), &v1).expect("swap");
        let mut swapped = state.clone();
        swap_digest(&mut swapped);
        fs::write(dir.join(STATE_FILE), &swapped).expect("write state");
        let e = open().expect_err("v1 in place of v2");
        assert_eq!(e.code(), "store");
        assert!(e.to_string().contains("holds version 1"), "{e}");
        fs::write(dir.join("roots/2.cose"), &v2).expect("restore");
        fs::write(dir.join(STATE_FILE), &state).expect("restore");
        open().expect("restored");
        // A missing file is an I/O error naming it.
        fs::remove_file(dir.join("revocations/1.cose")).expect("remove");
        assert_eq!(code(open()), "io");
    }

    #[test]
    fn update_roots_takes_a_chain_at_once() {
        let (_tmp, mut store) = pin(&rotating(1));
        let added = store
            .update_roots(vec![rotating(3), rotating(2), rotating(4)], NOW)
            .expect("v2, v3 and v4");
        assert_eq!(added, vec![2, 3, 4]);
        assert_eq!(store.state().root_version, 4);
        assert_eq!(store.state().root_digest, rotating(4).digest());
        assert_eq!(store.state().pinned_version, 1);
        let store = reopen(store);
        assert_eq!(store.root().version(), 4);
        let chain = store.chain().expect("chain");
        assert_eq!(
            chain.iter().map(SignedRoot::version).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        for r in &chain {
            assert_eq!(r.to_vec(), rotating(r.version()).to_vec());
        }
        let mut store = store;
        // The whole chain again, with one more: the trusted ones must match and are skipped.
        let all: Vec<SignedRoot> = (1..=5).rev().map(rotating).collect();
        assert_eq!(store.update_roots(all.clone(), NOW).expect("v5"), vec![5]);
        assert_eq!(
            store.update_roots(all, NOW).expect("nothing new"),
            Vec::<u64>::new()
        );
        // Duplicates of one version, identical, are fine.
        assert_eq!(
            store
                .update_roots(vec![rotating(5), rotating(5)], NOW)
                .expect("same twice"),
            Vec::<u64>::new()
        );
        assert_eq!(
            store.update_roots(vec![], NOW).expect("empty"),
            Vec::<u64>::new()
        );
        // Only older versions, even identical ones: a rollback.
        let e = store
            .update_roots(vec![rotating(3)], NOW)
            .expect_err("older only");
        assert!(
            matches!(
                e,
                TrustError::Rollback {
                    trusted: 5,
                    offered: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(reopen(store).state().root_version, 5);
    }

    #[test]
    fn update_roots_refuses_conflicting_versions() {
        let (_tmp, mut store) = pin(&rotating(1));
        let mut other = rotating_root(2);
        other.expires += DAY;
        let other = sign_root(other, &[&root_key(1), &root_key(2)]);
        let e = store
            .update_roots(vec![rotating(2), other.clone()], NOW)
            .expect_err("two v2");
        assert!(
            matches!(
                e,
                TrustError::VersionConflict {
                    what: DocKind::Root,
                    version: 2
                }
            ),
            "{e:?}"
        );
        assert_eq!(store.state().root_version, 1);
        store.update_roots(vec![rotating(2)], NOW).expect("v2");
        let before = store.state().clone();
        assert_eq!(
            code(store.update_roots(vec![other.clone()], NOW)),
            "version-conflict"
        );
        assert_eq!(
            code(store.update_roots(vec![other, rotating(3)], NOW)),
            "version-conflict"
        );
        // The pinned version differs too.
        let mut v1 = rotating_root(1);
        v1.issued_at += 1;
        let v1 = sign_root(v1, &[&root_key(1)]);
        assert_eq!(
            code(store.update_roots(vec![v1, rotating(3)], NOW)),
            "version-conflict"
        );
        assert_eq!(store.state(), &before);
        assert!(!store.dir().join("roots/3.cose").exists());
        // Extra signatures on an otherwise identical version are not a conflict.
        let resigned = sign_root(rotating_root(2), &[&root_key(1), &root_key(2), &key(3)]);
        assert_eq!(
            store
                .update_roots(vec![resigned, rotating(3)], NOW)
                .expect("v3"),
            vec![3]
        );
    }

    #[test]
    fn update_roots_limits_the_chain() {
        let limits = Limits {
            max_root_chain: 2,
            ..Limits::default()
        };
        let (_tmp, mut store) = pin_with(&rotating(1), &limits);
        let e = store
            .update_roots((2..=4).map(rotating).collect(), NOW)
            .expect_err("three new versions");
        assert!(
            matches!(
                e,
                TrustError::ChainTooLong {
                    versions: 3,
                    limit: 2
                }
            ),
            "{e:?}"
        );
        assert_eq!(store.state().root_version, 1);
        assert_eq!(
            store
                .update_roots((2..=3).map(rotating).collect(), NOW)
                .expect("two"),
            vec![2, 3]
        );
        // Versions already trusted do not count against the limit.
        assert_eq!(
            store
                .update_roots((1..=5).map(rotating).collect(), NOW)
                .expect("two new"),
            vec![4, 5]
        );
    }

    #[test]
    fn only_the_newest_root_must_be_fresh() {
        let (_tmp, mut store) = pin(&rotating(1));
        let mut short = rotating_root(2);
        short.expires = short.issued_at + DAY;
        let short = sign_root(short, &[&root_key(1), &root_key(2)]);
        let now = NOW;
        assert!(now >= short.root().expires, "v2 has expired");
        // The newest expired: freeze.
        let before = store.state().clone();
        let e = store
            .update_roots(vec![short.clone()], now)
            .expect_err("expired");
        assert!(
            matches!(
                e,
                TrustError::Expired {
                    what: DocKind::Root,
                    version: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(store.state(), &before);
        assert!(
            !store.dir().join("roots/2.cose").exists(),
            "nothing written"
        );
        // An expired intermediate is fine when the newest is fresh.
        assert_eq!(
            store
                .update_roots(vec![short, rotating(3)], now)
                .expect("v3 is fresh"),
            vec![2, 3]
        );
        // The newest issued in the future is refused.
        let mut future = rotating_root(4);
        future.issued_at = now + DAY;
        future.expires = now + 400 * DAY;
        let future = sign_root(future, &[&root_key(3), &root_key(4)]);
        assert_eq!(code(store.update_roots(vec![future], now)), "from-future");
    }

    #[test]
    fn update_roots_needs_each_next_version_properly_signed() {
        let (_tmp, mut store) = pin(&rotating(1));
        assert_eq!(
            code(store.update_roots(vec![rotating(3)], NOW)),
            "skipped-version"
        );
        assert_eq!(
            code(store.update_roots(vec![rotating(2), rotating(4)], NOW)),
            "skipped-version"
        );
        assert_eq!(store.state().root_version, 1, "v2 was not taken alone");
        let new_only = sign_root(rotating_root(2), &[&root_key(2)]);
        assert_eq!(code(store.update_roots(vec![new_only], NOW)), "wrong-role");
        let old_only = sign_root(rotating_root(2), &[&root_key(1)]);
        assert_eq!(code(store.update_roots(vec![old_only], NOW)), "wrong-role");
        let mut bad = rotating(2).to_vec();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        let bad = SignedRoot::parse(&bad, &Limits::default()).expect("parse");
        assert_eq!(
            code(store.update_roots(vec![bad], NOW)),
            "invalid-signature"
        );
        // A signature in the chain is checked even when a later version is fine.
        let v2_new_only = sign_root(rotating_root(2), &[&root_key(2)]);
        assert_eq!(
            code(store.update_roots(vec![v2_new_only, rotating(3)], NOW)),
            "wrong-role"
        );
        assert_eq!(store.state().root_version, 1);
    }

    #[test]
    fn a_store_pinned_at_a_later_version_ignores_older_ones() {
        let (_tmp, mut store) = pin(&rotating(2));
        assert_eq!(store.state().pinned_version, 2);
        let mut other_v1 = rotating_root(1);
        other_v1.issued_at += 1;
        let other_v1 = sign_root(other_v1, &[&root_key(1)]);
        assert_eq!(
            store
                .update_roots(vec![other_v1, rotating(2), rotating(3)], NOW)
                .expect("v3"),
            vec![3]
        );
        assert_eq!(
            store
                .chain()
                .expect("chain")
                .iter()
                .map(SignedRoot::version)
                .collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn revocation_snapshots_append_and_persist() {
        let (_tmp, mut store) = pin(&rotating(1));
        let rev = key(2);
        let s1 = signed(snapshot(1, &[1, 2]), &rev);
        assert!(store.import_revocation(s1.clone(), NOW).expect("v1"));
        assert!(!store.import_revocation(s1.clone(), NOW).expect("v1 again"));
        let mut conflicting = snapshot(1, &[1, 2]);
        conflicting.expires += DAY;
        assert_eq!(
            code(store.import_revocation(signed(conflicting, &rev), NOW)),
            "version-conflict"
        );
        let s2 = signed(snapshot(2, &[1, 2, 3]), &rev);
        assert!(store.import_revocation(s2.clone(), NOW).expect("v2"));
        assert_eq!(code(store.import_revocation(s1, NOW)), "rollback");
        assert_eq!(
            code(store.import_revocation(signed(snapshot(3, &[1, 3]), &rev), NOW)),
            "removed-entry"
        );
        let expired = snapshot(3, &[1, 2, 3]);
        let at = expired.expires;
        assert_eq!(
            code(store.import_revocation(signed(expired, &rev), at)),
            "expired"
        );
        let mut future = snapshot(3, &[1, 2, 3]);
        future.issued_at = NOW + DAY;
        assert_eq!(
            code(store.import_revocation(signed(future, &rev), NOW)),
            "from-future"
        );
        assert_eq!(
            code(store.import_revocation(signed(snapshot(3, &[1, 2, 3]), &key(1)), NOW)),
            "wrong-role"
        );
        let store = reopen(store);
        assert_eq!(store.state().revocation_version, Some(2));
        assert_eq!(
            store.state().revocation_digest,
            Some(Digest::sha256_of(&s2.to_vec()))
        );
        assert_eq!(store.state().revocation_root_version, Some(1));
        assert_eq!(
            store.revocation().map(SignedSnapshot::snapshot),
            Some(s2.snapshot())
        );
    }

    #[test]
    fn revocation_versions_may_jump() {
        let (_tmp, mut store) = pin(&rotating(1));
        let rev = key(2);
        // The first snapshot may have any version; later ones need not be the next.
        assert!(
            store
                .import_revocation(signed(snapshot(3, &[1]), &rev), NOW)
                .expect("v3 first")
        );
        assert!(
            store
                .import_revocation(signed(snapshot(7, &[1, 2]), &rev), NOW)
                .expect("v7 after v3")
        );
        assert_eq!(store.state().revocation_version, Some(7));
        // The same snapshot with another signature is the same snapshot: nothing changes.
        let mut cosigned = SignedSnapshot::unsigned(snapshot(7, &[1, 2]));
        cosigned.sign(&key(1)).expect("sign");
        cosigned.sign(&rev).expect("sign");
        let before = fs::read(revocation_path(store.dir(), 7)).expect("read");
        assert!(
            !store
                .import_revocation(cosigned, NOW)
                .expect("same payload")
        );
        assert_eq!(
            fs::read(revocation_path(store.dir(), 7)).expect("read"),
            before,
            "nothing written"
        );
    }

    #[test]
    fn an_accepted_snapshot_can_be_opened_again() {
        let (_tmp, mut store) = pin(&rotating(1));
        let mut far = snapshot(1, &[1]);
        far.expires = 1 << 53;
        let accepted = store.import_revocation(signed(far, &key(2)), NOW);
        if accepted.is_ok() {
            let (dir, limits) = (store.dir().to_owned(), store.limits.clone());
            drop(store);
            TrustStore::open(&dir, &limits).expect("a store opens after accepting a snapshot");
        }
    }

    #[test]
    fn mix_and_match_after_the_revocation_key_is_replaced() {
        let (old_rev, new_rev) = (key(2), key(4));
        let (_tmp, mut store) = pin(&rotating(1));
        store
            .import_revocation(signed(snapshot(1, &[1]), &old_rev), NOW)
            .expect("v1 by the old key");
        let v2 = sign_root(
            make_root(2, (&[&key(1)], 1), &[&new_rev], &[&key(3)]),
            &[&key(1)],
        );
        store
            .update_roots(vec![v2], NOW)
            .expect("rotate the revocation key");
        let e = store
            .import_revocation(signed(snapshot(2, &[1, 2]), &old_rev), NOW)
            .expect_err("the old revocation key");
        assert!(
            matches!(&e, TrustError::WrongRole { outside, .. } if outside == &vec![old_rev.id()]),
            "{e:?}"
        );
        // The stored snapshot, signed by the old key, cannot be re-imported under the new root.
        assert_eq!(
            code(store.import_revocation(signed(snapshot(1, &[1]), &old_rev), NOW)),
            "wrong-role"
        );
        assert!(
            store
                .import_revocation(signed(snapshot(2, &[1, 2]), &new_rev), NOW)
                .expect("the new key")
        );
        assert_eq!(store.state().revocation_root_version, Some(2));
    }

    #[test]
    fn the_clock_may_not_run_back_beyond_the_skew() {
        let (_tmp, mut store) = pin(&rotating(1));
        let later = NOW + 10 * DAY;
        store.observe(later).expect("forward");
        assert_eq!(store.state().latest_time, later);
        store
            .check_clock(later - CLOCK_SKEW)
            .expect("within the skew");
        store.observe(later - CLOCK_SKEW).expect("within the skew");
        assert_eq!(store.state().latest_time, later, "never moves back");
        let e = store
            .check_clock(later - CLOCK_SKEW - 1)
            .expect_err("beyond");
        assert!(
            matches!(e, TrustError::ClockRollback { latest, .. } if latest == later),
            "{e:?}"
        );
        assert_eq!(code(store.observe(later - DAY)), "clock-rollback");
        let s = signed(snapshot(1, &[1]), &key(2));
        assert_eq!(
            code(store.import_revocation(s.clone(), later - DAY)),
            "clock-rollback"
        );
        assert_eq!(
            code(store.update_roots(vec![rotating(2)], later - DAY)),
            "clock-rollback"
        );
        store
            .import_revocation(s, later - CLOCK_SKEW)
            .expect("within the skew");
        let store = reopen(store);
        assert_eq!(store.state().latest_time, later, "persisted");
        assert_eq!(code(store.check_clock(later - DAY)), "clock-rollback");
        // Accepting a document records the time too.
        let mut store = store;
        store
            .update_roots(vec![rotating(2)], later + DAY)
            .expect("v2");
        assert_eq!(store.state().latest_time, later + DAY);
    }

    #[test]
    fn drafts_collect_pending_revocations() {
        let (tmp, mut store) = pin(&rotating(1));
        let entry = |reason: &str| DraftEntry {
            revoked_at: NOW,
            reason: reason.to_owned(),
        };
        assert_eq!(store.draft().expect("no draft"), Draft::default());
        let leaked = key(7).id();
        let bad = Digest::sha256_of(b"bad image");
        assert_eq!(
            store
                .add_to_draft(Revoke::Key(leaked), entry("leaked"))
                .expect("add"),
            Added::New
        );
        assert_eq!(
            store
                .add_to_draft(Revoke::Key(leaked), entry("again"))
                .expect("add"),
            Added::AlreadyRevoked
        );
        assert_eq!(
            store
                .add_to_draft(Revoke::Digest(bad.clone()), entry("malware"))
                .expect("add"),
            Added::New
        );
        let draft = store.draft().expect("draft");
        assert_eq!(
            draft.keys[&leaked].reason, "leaked",
            "the first entry stays"
        );
        assert_eq!(draft.digests.len(), 1);

        let next = store.next_snapshot(NOW, NOW + 30 * DAY).expect("next");
        assert_eq!(next.version, 1);
        assert_eq!((next.issued_at, next.expires), (NOW, NOW + 30 * DAY));
        assert_eq!(next.key(&leaked).map(|e| e.reason.as_str()), Some("leaked"));
        assert!(next.digest(&bad).is_some());
        let small = Limits {
            max_revocation_entries: 1,
            ..Limits::default()
        };
        let limits = std::mem::replace(&mut store.limits, small);
        assert_eq!(code(store.next_snapshot(NOW, NOW + DAY)), "too-large");
        store.limits = limits;

        store
            .import_revocation(signed(next, &key(2)), NOW)
            .expect("publish v1");
        // Published entries are already revoked.
        assert_eq!(
            store
                .add_to_draft(Revoke::Digest(bad.clone()), entry("again"))
                .expect("add"),
            Added::AlreadyRevoked
        );
        let pending = Digest::sha256_of(b"another bad image");
        assert_eq!(
            store
                .add_to_draft(Revoke::Digest(pending.clone()), entry("later"))
                .expect("add"),
            Added::New
        );
        // A draft entry for an item the stored snapshot already revokes (written before the
        // import) is ignored: the stored entry stays as it is.
        let mut stale = store.draft().expect("draft");
        stale.keys.insert(leaked, entry("a second opinion"));
        write_atomic(
            &tmp.path().join(DRAFT_FILE),
            &serde_json::to_vec(&stale).expect("json"),
        )
        .expect("write the draft");
        let next = store.next_snapshot(NOW, NOW + 30 * DAY).expect("next");
        assert_eq!(next.key(&leaked).map(|e| e.reason.as_str()), Some("leaked"));
        store.clear_published_draft().expect("clear");
        let draft = store.draft().expect("draft");
        assert!(draft.keys.is_empty(), "published");
        assert_eq!(draft.digests.keys().collect::<Vec<_>>(), vec![&pending]);
        let next = store.next_snapshot(NOW, NOW + 30 * DAY).expect("next");
        assert_eq!(next.version, 2);
        assert_eq!(next.len(), 3, "v1's entries and the pending one");
        store
            .revocation()
            .expect("v1 is stored")
            .snapshot()
            .check_successor(&next)
            .expect("the next snapshot is a valid successor");
        store
            .import_revocation(signed(next, &key(2)), NOW)
            .expect("publish v2");
        store.clear_published_draft().expect("clear");
        assert!(
            !tmp.path().join(DRAFT_FILE).exists(),
            "an empty draft is removed"
        );
        assert_eq!(store.draft().expect("no draft"), Draft::default());
        store
            .clear_published_draft()
            .expect("clearing twice is fine");
        // A draft file that is not a draft.
        fs::write(tmp.path().join(DRAFT_FILE), b"{\"keys\": 1}").expect("write");
        assert_eq!(code(store.draft()), "store");
    }
}
