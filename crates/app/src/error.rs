//! What a use case can answer instead of a result. Every interface maps these to its own
//! form (an exit status and a message; an HTTP status and `{"error": {...}}`).

use medulla_registry::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not logged in, or the credentials are wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but the role may not do this.
    #[error("the role {role} may not {action}")]
    Forbidden { role: String, action: String },
    #[error("{0}")]
    NotFound(String),
    /// A request field or input record that cannot be used, and why.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request conflicts with the registry's state (an existing name...).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins: try again later.
    #[error("{0}")]
    TooManyAttempts(String),
    /// The password was right, and the account needs its one-time code (TOTP) too.
    #[error("{0}")]
    MfaRequired(String),
    /// The account's role needs multi-factor authentication and the account has none
    /// enabled: an administrator must enable it first.
    #[error("{0}")]
    MfaNotEnabled(String),
    /// A rule of the workflow refuses the change: its name and why.
    #[error("[{rule}] {message}")]
    Rule { rule: String, message: String },
    /// Not possible now, possible later (a partner not yet known...): try again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchDonor(id) => {
                AppError::NotFound(format!("donor {id} is not in the registry"))
            }
            StoreError::Status { id, reason } => AppError::Invalid {
                field: "status".into(),
                reason: format!("donor {id}: {reason}"),
            },
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::NotFound(m) => AppError::NotFound(m),
            // a server started without the key of a keyed chain: a fault of its
            // configuration, said as one (the details in the message, no key in it)
            e @ StoreError::AuditKeyNeeded => AppError::Unavailable(e.to_string()),
            StoreError::Db(e) if e.is_unstorable_text() => AppError::Invalid {
                field: "text".into(),
                reason: "a NUL character (0x00) is not accepted in any text".into(),
            },
            other => match other.unavailable() {
                Some(why) => AppError::Unavailable(format!("{why}; try again shortly")),
                None => AppError::Store(other),
            },
        }
    }
}

impl From<medulla_workflow::WorkflowError> for AppError {
    fn from(e: medulla_workflow::WorkflowError) -> Self {
        match e {
            medulla_workflow::WorkflowError::Rule { rule, message } => AppError::Rule {
                rule: rule.to_string(),
                message,
            },
            medulla_workflow::WorkflowError::Invalid { field, reason } => AppError::Invalid {
                field: field.to_string(),
                reason,
            },
        }
    }
}

impl From<medulla_workflow::ids::IdentifierError> for AppError {
    fn from(e: medulla_workflow::ids::IdentifierError) -> Self {
        AppError::Invalid {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<medulla_matching::SearchError> for AppError {
    fn from(e: medulla_matching::SearchError) -> Self {
        use medulla_matching::SearchError as S;
        match e {
            S::Typing {
                locus,
                position,
                source,
            } => AppError::Invalid {
                field: "patient".into(),
                reason: format!("{locus}_{position}: {source}"),
            },
            S::Required(l) => AppError::Invalid {
                field: "patient".into(),
                reason: format!("the patient must be typed at {l} (position 1)"),
            },
            S::Request { option, reason } => AppError::Invalid {
                field: option.trim_start_matches("--").replace('-', "_"),
                reason,
            },
            S::Deadline { ms } => AppError::Unavailable(format!(
                "the search was stopped at its deadline of {ms} ms (the registry's cap search_ms); try again shortly, or narrow it"
            )),
        }
    }
}

impl AppError {
    /// A short machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyAttempts(_) => "too_many_attempts",
            AppError::MfaRequired(_) => "mfa_required",
            AppError::MfaNotEnabled(_) => "mfa_not_enabled",
            AppError::Rule { .. } => "rule",
            AppError::Unavailable(_) => "unavailable",
            AppError::Store(_) | AppError::Internal(_) => "internal",
        }
    }
}
