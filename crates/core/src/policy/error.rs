//! Validation errors that point an operator at a file, a line and a dotted field path.

use std::fmt;

/// One problem in a policy pack: `file:line:field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file as the operator knows it (e.g. `policies/default/roles.toml`).
    pub file: String,
    /// 1-based line, when the problem can be located.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem can be located.
    pub column: Option<usize>,
    /// Dotted field path such as `role[3].permissions[2]`; `(file)` or `(syntax)` when no field applies.
    pub field: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}:{}: {}", self.file, line, self.field, self.message),
            None => write!(f, "{}:{}: {}", self.file, self.field, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found while loading a pack, not just the first, so one edit cycle fixes them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    /// The individual problems.
    pub fn iter(&self) -> std::slice::Iter<'_, PolicyError> {
        self.0.iter()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no problems.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl<'a> IntoIterator for &'a PolicyErrors {
    type Item = &'a PolicyError;
    type IntoIter = std::slice::Iter<'a, PolicyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A semantic problem before it is located: the validators work on plain structs and only know the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}
