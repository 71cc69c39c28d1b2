//! Output for people (stderr status, stdout results) and for programs (`--json` on stdout),
//! progress bars, and the mapping from errors to exit codes.

use std::io::{IsTerminal, Write};

use airlock::error::{Class, Error};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::{EXIT_USAGE, EXIT_VERIFICATION};

/// The version of every JSON document the CLI prints (`schemaVersion`).
pub(crate) const JSON_SCHEMA_VERSION: u32 = 1;

/// Where results, status and errors go.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    /// Whether results are printed as JSON (so a large JSON result need only be built then).
    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// A status line on stderr (suppressed by `-q`).
    pub(crate) fn status(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{msg}");
            }
        }
    }

    /// A human-readable result on stdout (only without `--json`).
    pub(crate) fn text(&self, text: &str) {
        if !self.json {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
    }

    /// A JSON result on stdout (only with `--json`): `{"schemaVersion":1,"kind":KIND,...}`.
    pub(crate) fn result(&self, kind: &str, body: Value) {
        if self.json {
            let mut doc = json!({ "schemaVersion": JSON_SCHEMA_VERSION, "kind": kind });
            if let (Some(d), Value::Object(b)) = (doc.as_object_mut(), body) {
                d.extend(b);
            }
            let mut stdout = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut stdout, &doc);
            let _ = stdout.write_all(b"\n");
            let _ = stdout.flush();
        }
    }

    /// Reports an error (stderr, and a JSON error document on stdout with `--json`) and returns
    /// the exit code for it.
    pub(crate) fn error(&self, e: &Error) -> u8 {
        let class = e.class();
        let hint = e.hint();
        #[allow(clippy::print_stderr)]
        {
            eprintln!("error: {e}");
            if let Some(h) = &hint {
                eprintln!("hint: {h}");
            }
        }
        // A failed verification has already printed its report, which says why; one JSON
        // document per run.
        if self.json && !matches!(e, Error::Unverified(_)) {
            self.result(
                "error",
                json!({
                    "error": {
                        "class": match class { Class::Verification => "verification", Class::Usage => "usage" },
                        "message": e.to_string(),
                        "hint": hint,
                    }
                }),
            );
        }
        match class {
            Class::Verification => EXIT_VERIFICATION,
            Class::Usage => EXIT_USAGE,
        }
    }

    /// A byte-count progress bar on stderr, hidden when stderr is not a terminal or with `-q`.
    pub(crate) fn progress(&self, total: Option<u64>, message: &str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        } else {
            "{spinner} {msg} {bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_owned());
        bar
    }
}

/// Bytes in a human unit: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A digest shortened for terminals: `sha256:0123456789ab`.
pub(crate) fn short(d: &airlock::Digest) -> String {
    format!("{}:{}", d.algorithm(), &d.hex()[..12])
}
