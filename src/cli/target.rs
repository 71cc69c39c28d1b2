//! Resolving the artifact a signing command acts on.

use airlock::layout::{IndexEntry, Layout};
use airlock::reference::Reference;
use airlock::{Error, Limits};

/// A resolved layout artifact.
pub(crate) struct LayoutTarget {
    pub(crate) reference: Reference,
    pub(crate) layout: Layout,
    pub(crate) entry: IndexEntry,
}

/// Parses `reference` and resolves it in its layout. Registry references are not handled by
/// `verb` yet.
pub(crate) fn resolve(reference: &str, verb: &str, limits: &Limits) -> Result<LayoutTarget, Error> {
    let reference: Reference = reference.parse()?;
    let Reference::Layout(lref) = &reference else {
        return Err(Error::Unsupported(format!(
            "{verb} works on OCI layouts (oci:PATH[:TAG|@DIGEST]); {reference} is a registry reference"
        )));
    };
    let layout = Layout::open(lref.path(), limits.clone())?;
    let entry = layout.resolve(lref.selector())?;
    Ok(LayoutTarget {
        reference,
        layout,
        entry,
    })
}
