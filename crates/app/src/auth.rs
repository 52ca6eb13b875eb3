//! Accounts, roles and what each role may do; password hashing (argon2id) and tokens
//! (random, 256 bits, kept only as SHA-256 hashes).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The roles of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    SearchCoordinator,
    DonorCoordinator,
    Auditor,
    /// A foreign registry's machine client: an API key instead of a password.
    Partner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::SearchCoordinator,
        Role::DonorCoordinator,
        Role::Auditor,
        Role::Partner,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SearchCoordinator => "search-coordinator",
            Role::DonorCoordinator => "donor-coordinator",
            Role::Auditor => "auditor",
            Role::Partner => "partner",
        }
    }

    pub fn parse(s: &str) -> Result<Role, AppError> {
        Role::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| AppError::Invalid {
                field: "role".into(),
                reason: format!(
                    "{s:?} is not one of admin, search-coordinator, donor-coordinator, auditor, partner"
                ),
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a caller may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Search,
    SavedSearches,
    Import,
    ReadDonor,
    ReadIdentity,
    ChangeStatus,
    Nomenclature,
    ReadAudit,
    /// Read patients' records, cases, requests and tasks.
    ReadPatients,
    /// Register patients, change their cases, open and end requests.
    ManagePatients,
    /// Read a patient's name and contact details.
    ReadPatientIdentity,
    /// Plan and record the steps of a donor's workup.
    Workup,
    /// Match likelihood by population and recruitment plans (figures, no person).
    Likelihood,
    /// Deliver messages from a partner registry, and compare requests with it.
    Exchange,
}

impl Permission {
    fn describe(self) -> &'static str {
        match self {
            Permission::Search => "search",
            Permission::SavedSearches => "keep or repeat saved searches",
            Permission::Import => "import donors",
            Permission::ReadDonor => "read donor records",
            Permission::ReadIdentity => "read donor identity",
            Permission::ChangeStatus => "change donor statuses",
            Permission::Nomenclature => "use the nomenclature routes",
            Permission::ReadAudit => "read the audit trail",
            Permission::ReadPatients => "read patients, requests and tasks",
            Permission::ManagePatients => "register patients or open and end requests",
            Permission::ReadPatientIdentity => "read patient identity",
            Permission::Workup => "plan or record workup steps",
            Permission::Likelihood => "compute match likelihoods or recruitment plans",
            Permission::Exchange => "exchange messages as a partner registry",
        }
    }
}

/// The role-permission table: one place that says who may do what.
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission as P;
    use Role as R;
    match p {
        P::Search => matches!(role, R::Admin | R::SearchCoordinator | R::Partner),
        P::SavedSearches => matches!(role, R::Admin | R::SearchCoordinator),
        P::Import => role == R::Admin,
        P::ReadDonor => matches!(role, R::Admin | R::SearchCoordinator | R::DonorCoordinator),
        P::ReadIdentity => matches!(role, R::Admin | R::DonorCoordinator),
        P::ChangeStatus => matches!(role, R::Admin | R::DonorCoordinator),
        P::Nomenclature => matches!(
            role,
            R::Admin | R::SearchCoordinator | R::DonorCoordinator | R::Auditor
        ),
        P::ReadAudit => matches!(role, R::Admin | R::Auditor),
        P::ReadPatients => matches!(role, R::Admin | R::SearchCoordinator | R::DonorCoordinator),
        P::ManagePatients | P::ReadPatientIdentity => {
            matches!(role, R::Admin | R::SearchCoordinator)
        }
        P::Workup => matches!(role, R::Admin | R::DonorCoordinator),
        P::Likelihood => matches!(
            role,
            R::Admin | R::SearchCoordinator | R::DonorCoordinator | R::Auditor
        ),
        P::Exchange => role == R::Partner,
    }
}

/// Who is asking: an authenticated account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub role: Role,
}

impl Actor {
    /// The actor of command-line work on the host (trusted as an administrator).
    pub fn local(user: &str) -> Actor {
        Actor {
            user: user.to_string(),
            role: Role::Admin,
        }
    }

    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if allows(self.role, p) {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                role: self.role.name().into(),
                action: p.describe().into(),
            })
        }
    }
}

/// An argon2id hash of a password (PHC string, random salt).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AppError::Internal(format!("randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AppError::Internal(e.to_string()))?
        .to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Check a password against a hash of the same cost as a real account's, and say no:
/// what a login for an unknown user name (or an account without a password) does, so
/// that it takes as long as one for a known name with a wrong password.
pub fn verify_password_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let mut b = [0u8; 24];
        getrandom::fill(&mut b).ok()?;
        hash_password(&hex(&b)).ok()
    });
    if let Some(h) = dummy {
        let _ = verify_password(password, h);
    }
}

/// Passwords are at least this long (characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// ... and at most this long (argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The strength estimator's (zxcvbn) least score, of 0 to 4: 3 is "safely unguessable:
/// moderate protection from offline slow-hash scenario".
pub const MIN_PASSWORD_SCORE: u8 = 3;

/// Whether `password` may be the password of `user`: at least
/// [`MIN_PASSWORD_CHARS`] characters, not the user name (nor the name with a few
/// characters around it), and not common, repetitive or otherwise guessable by the
/// zxcvbn estimator (score at least [`MIN_PASSWORD_SCORE`]). The refusal names the field
/// `password` and the reason (never the password).
pub fn check_password(user: &str, password: &str) -> Result<(), AppError> {
    let refuse = |reason: String| AppError::Invalid {
        field: "password".into(),
        reason,
    };
    // spaces padding a weak password (around it, or runs of them inside) add nothing an
    // attacker has to guess: the length and the strength are judged without them
    let core = password.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = core.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(refuse(format!(
            "at least {MIN_PASSWORD_CHARS} characters (this one has {chars})"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(refuse(format!("at most {MAX_PASSWORD_CHARS} characters")));
    }
    if password.chars().any(char::is_control) {
        return Err(refuse("no control characters (tab, newline ...)".into()));
    }
    let lower = password.trim().to_lowercase();
    let name = user.trim().to_lowercase();
    if !name.is_empty()
        && (lower == name || (lower.contains(&name) && lower.len() < name.len() + 6))
    {
        return Err(refuse("not the user name".into()));
    }
    // the estimator's time grows with the length: the first 100 characters tell
    let head: String = core.chars().take(100).collect();
    let estimate = zxcvbn::zxcvbn(&head, &[user, "medulla", "registry", "donor"]);
    let score = u8::from(estimate.score());
    if score < MIN_PASSWORD_SCORE {
        let mut reason = format!(
            "too easy to guess (strength {score} of 4, at least {MIN_PASSWORD_SCORE} needed)"
        );
        if let Some(w) = estimate.feedback().and_then(|f| f.warning()) {
            reason.push_str(&format!(": {w}"));
        }
        reason.push_str("; a few unrelated words make a strong password");
        return Err(refuse(reason));
    }
    Ok(())
}

/// A new random secret (a session token or an API key): 256 bits, hex.
pub fn new_secret(prefix: &str) -> Result<String, AppError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("randomness: {e}")))?;
    Ok(format!("{prefix}{}", hex(&b)))
}

/// The stored form of a token or key.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("wrong", &a));
    }

    #[test]
    fn weak_passwords_are_refused_naming_the_field_and_the_reason() {
        for (user, weak) in [
            ("ann", "            "),
            ("ann", "aaaaaaaaaaaa"),
            ("ann", "123456789012"),
            ("ann", "password1234"),
            ("coordinator1", "coordinator1"),
            ("coordinator1", "Coordinator1!"),
            ("ann", "short"),
            ("ann", "qwertyuiopas"),
            ("ann", "abcabcabcabc"),
            ("ann", "  aaaaaaaaaaaa  "),
            ("ann", "aaaa    aaaa    aaaa"),
        ] {
            match check_password(user, weak) {
                Err(AppError::Invalid { field, reason }) => {
                    assert_eq!(field, "password");
                    assert!(
                        !reason.contains(weak),
                        "the reason never repeats the password"
                    );
                }
                other => panic!("{weak:?} for {user}: {other:?}"),
            }
        }
        for strong in [
            "a long enough password",
            "correct horse battery staple",
            "Vy7#pQ2!mZ9&kL4",
        ] {
            assert!(check_password("ann", strong).is_ok(), "{strong:?}");
        }
    }

    #[test]
    fn secrets_are_long_random_and_stored_hashed() {
        let t = new_secret("mt_").unwrap();
        assert_eq!(t.len(), 3 + 64);
        assert_ne!(t, new_secret("mt_").unwrap());
        assert_ne!(secret_hash(&t), t);
    }

    #[test]
    fn partners_search_and_nothing_else() {
        for p in [
            Permission::SavedSearches,
            Permission::Import,
            Permission::ReadDonor,
            Permission::ReadIdentity,
            Permission::ChangeStatus,
            Permission::Nomenclature,
            Permission::ReadAudit,
            Permission::ReadPatients,
            Permission::ManagePatients,
            Permission::ReadPatientIdentity,
            Permission::Workup,
        ] {
            assert!(!allows(Role::Partner, p), "{p:?}");
        }
        assert!(allows(Role::Partner, Permission::Search));
        assert!(!allows(Role::SearchCoordinator, Permission::ReadIdentity));
        assert!(allows(Role::DonorCoordinator, Permission::ReadIdentity));
    }
}
