//! `StepError`: why a step failed, in the terms an operator acts on (which command, its exit
//! code, the tail of its output, what to do), turned into the `StepFailure` of `TASK_FAILED`.

use scaleio::step::StepFailure;

use crate::host::{CmdOutput, HostError};

/// A failed step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// One line (or a line and a `hint:` line) a person can act on.
    pub message: String,
    /// The failing argv, secrets as `***`.
    pub command: Option<Vec<String>>,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Its output tail.
    pub output_tail: String,
    /// Whether retrying may help.
    pub retryable: bool,
}

impl StepError {
    /// A failure that is not a command's.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            command: None,
            exit_code: None,
            output_tail: String::new(),
            retryable: false,
        }
    }

    /// A command failed: `what` says what it was for, `hint` what to do.
    pub fn command(what: &str, out: &CmdOutput, hint: &str) -> Self {
        let how = match (out.timed_out, out.exit_code) {
            (true, _) => "timed out and was killed".to_owned(),
            (false, Some(c)) => format!("exited with code {c}"),
            (false, None) => "was killed by a signal".to_owned(),
        };
        let mut message = format!("{what}: `{}` {how}", out.argv.join(" "));
        let tail = out.tail();
        if let Some(last) = tail.lines().last() {
            message.push_str(&format!(": {last}"));
        }
        if !hint.is_empty() {
            message.push_str(&format!("\nhint: {hint}"));
        }
        Self {
            message,
            command: Some(out.argv.clone()),
            exit_code: out.exit_code,
            output_tail: tail,
            retryable: out.timed_out,
        }
    }

    /// Marks the failure as worth retrying.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// The `StepFailure` reported for step `kind`.
    pub fn into_failure(self, kind: &str) -> StepFailure {
        StepFailure {
            kind: kind.to_owned(),
            message: self.message,
            command: self.command,
            exit_code: self.exit_code,
            output_tail: self.output_tail,
            retryable: self.retryable,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<HostError> for StepError {
    fn from(e: HostError) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        StepError::msg(message)
    }
}

impl From<scaleio::SecretError> for StepError {
    fn from(e: scaleio::SecretError) -> Self {
        StepError::msg(e.to_string())
    }
}
