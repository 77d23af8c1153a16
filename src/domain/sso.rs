//! Pure rules of SSO sign-in: why a login is refused, and where a browser may be sent after.

/// Why a sign-in was refused. Each reason has a stable code (audited, returned in JSON) and a
/// message safe to show: it never echoes the XML or token that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    // ---- input ----
    /// The form or query lacks the SAML response / code, or it is not base64/XML/JSON.
    MalformedInput,
    /// The connection has no usable SAML or OIDC configuration.
    NotConfigured,
    // ---- SAML ----
    /// No XML signature at all.
    Unsigned,
    /// A signature does not verify with any certificate of this connection.
    BadSignature,
    /// A signature or digest algorithm outside the allow-list (SHA-1 unless opted in).
    AlgorithmNotAllowed,
    /// The document's structure admits signature wrapping: more than one assertion or
    /// response, a signature outside its enveloped position, or signed content that is not
    /// the assertion used.
    SignatureWrapping,
    /// A comment inside the signed assertion (NameID/attribute comment injection).
    CommentInjection,
    WrongIssuer,
    StatusNotSuccess,
    WrongDestination,
    WrongRecipient,
    WrongAudience,
    /// The subject confirmation is not `bearer`.
    NotBearer,
    MissingSubject,
    InResponseToMismatch,
    /// An IdP-initiated response on a connection that does not allow them.
    UnsolicitedResponse,
    Replay,
    EncryptedWithoutKey,
    DecryptionFailed,
    // ---- both ----
    Expired,
    NotYetValid,
    // ---- OIDC ----
    StateMismatch,
    NonceMismatch,
    /// `alg: none`.
    AlgNone,
    /// An algorithm outside the allow-list (HS* for an asymmetric provider, ...).
    AlgNotAllowed,
    /// The token's `kid` is not in the provider's JWKS, even after a refetch.
    UnknownKey,
    AzpMismatch,
    /// The provider answered the authorization with an error.
    ProviderError,
    /// Discovery, token or userinfo request failed.
    ProviderUnavailable,
    MissingEmail,
    /// A back-channel logout token without the logout event, with a nonce, or naming
    /// neither a session (`sid`) nor a subject (`sub`).
    NotALogoutToken,
    // ---- provisioning ----
    /// Unknown user and the connection does not create members just in time.
    UnknownUserJitOff,
    Deactivated,
    /// The member exists but belongs to another connection or is the local owner account
    /// reached through an IdP that may not sign it in.
    AccountConflict,
    /// The email or a name holds characters no member's may (NUL, control characters).
    InvalidIdentity,
}

impl Refusal {
    /// The stable code of the reason.
    pub fn code(self) -> &'static str {
        use Refusal::*;
        match self {
            MalformedInput => "malformed_input",
            NotConfigured => "not_configured",
            Unsigned => "unsigned",
            BadSignature => "bad_signature",
            AlgorithmNotAllowed => "algorithm_not_allowed",
            SignatureWrapping => "signature_wrapping",
            CommentInjection => "comment_injection",
            WrongIssuer => "wrong_issuer",
            StatusNotSuccess => "status_not_success",
            WrongDestination => "wrong_destination",
            WrongRecipient => "wrong_recipient",
            WrongAudience => "wrong_audience",
            NotBearer => "not_bearer",
            MissingSubject => "missing_subject",
            InResponseToMismatch => "in_response_to_mismatch",
            UnsolicitedResponse => "unsolicited_response",
            Replay => "replay",
            EncryptedWithoutKey => "encrypted_without_key",
            DecryptionFailed => "decryption_failed",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            StateMismatch => "state_mismatch",
            NonceMismatch => "nonce_mismatch",
            AlgNone => "alg_none",
            AlgNotAllowed => "alg_not_allowed",
            UnknownKey => "unknown_key",
            AzpMismatch => "azp_mismatch",
            ProviderError => "provider_error",
            ProviderUnavailable => "provider_unavailable",
            MissingEmail => "missing_email",
            NotALogoutToken => "not_a_logout_token",
            UnknownUserJitOff => "unknown_user_jit_off",
            Deactivated => "deactivated",
            AccountConflict => "account_conflict",
            InvalidIdentity => "invalid_identity",
        }
    }

    /// What the person signing in is told.
    pub fn message(self) -> &'static str {
        use Refusal::*;
        match self {
            MalformedInput => "The sign-in response could not be read.",
            NotConfigured => "Sign-in is not configured for this connection.",
            Unsigned => "The identity provider's response is not signed.",
            BadSignature => {
                "The identity provider's signature does not verify with the certificates configured for this connection."
            }
            AlgorithmNotAllowed => {
                "The response is signed with an algorithm this connection does not accept (SHA-1 is refused unless enabled)."
            }
            SignatureWrapping => {
                "The response's structure is not accepted: the signed content must be the single assertion used."
            }
            CommentInjection => "The signed assertion contains XML comments, which are refused.",
            WrongIssuer => {
                "The response comes from an issuer other than this connection's identity provider."
            }
            StatusNotSuccess => "The identity provider reported that sign-in did not succeed.",
            WrongDestination => "The response was addressed to another service.",
            WrongRecipient => "The assertion was issued for another service's sign-in endpoint.",
            WrongAudience => "The assertion is not meant for this service (audience).",
            NotBearer => "The assertion has no bearer subject confirmation.",
            MissingSubject => "The assertion names no subject.",
            InResponseToMismatch => {
                "The response does not answer a sign-in request of ours that is still open (it may have been used already)."
            }
            UnsolicitedResponse => {
                "This connection only accepts sign-ins started here (IdP-initiated sign-in is off)."
            }
            Replay => "This assertion has already been used.",
            EncryptedWithoutKey => {
                "The assertion is encrypted but the connection has no decryption key."
            }
            DecryptionFailed => "The encrypted assertion could not be decrypted.",
            Expired => "The sign-in response has expired; please sign in again.",
            NotYetValid => "The sign-in response is not valid yet (clock skew?).",
            StateMismatch => "The sign-in state does not match this browser; please start again.",
            NonceMismatch => "The ID token was not issued for this sign-in attempt.",
            AlgNone => "Unsigned ID tokens (alg none) are refused.",
            AlgNotAllowed => {
                "The ID token uses a signing algorithm this connection does not accept."
            }
            UnknownKey => "The ID token is signed with a key the provider does not publish.",
            AzpMismatch => "The ID token's authorized party is not this service.",
            ProviderError => "The identity provider refused the sign-in.",
            ProviderUnavailable => {
                "The identity provider could not be reached or gave an unusable answer."
            }
            MissingEmail => "The identity provider did not send an email address for this person.",
            NotALogoutToken => {
                "The token is not a back-channel logout token: it needs the logout event, a sid or sub, and no nonce."
            }
            UnknownUserJitOff => {
                "You have no account here yet and this connection does not create accounts on first sign-in. Ask an administrator to add you."
            }
            Deactivated => "Your account is deactivated.",
            AccountConflict => "This account cannot sign in through this connection.",
            InvalidIdentity => {
                "The identity provider sent an email address or name with characters that are not accepted."
            }
        }
    }
}

/// Where the browser goes after sign-in: only a same-origin relative path, never another
/// site (no open redirect). Anything else falls back to `/`.
pub fn safe_return_to(requested: Option<&str>) -> String {
    let Some(path) = requested.map(str::trim) else {
        return "/".to_owned();
    };
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace());
    if ok { path.to_owned() } else { "/".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_only_relative_paths() {
        assert_eq!(safe_return_to(Some("/projects?x=1#y")), "/projects?x=1#y");
        assert_eq!(safe_return_to(None), "/");
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "evil",
            "/a\nb",
            "/a b",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
    }

    #[test]
    fn every_reason_has_a_distinct_code() {
        use Refusal::*;
        let all = [
            MalformedInput,
            NotConfigured,
            Unsigned,
            BadSignature,
            AlgorithmNotAllowed,
            SignatureWrapping,
            CommentInjection,
            WrongIssuer,
            StatusNotSuccess,
            WrongDestination,
            WrongRecipient,
            WrongAudience,
            NotBearer,
            MissingSubject,
            InResponseToMismatch,
            UnsolicitedResponse,
            Replay,
            EncryptedWithoutKey,
            DecryptionFailed,
            Expired,
            NotYetValid,
            StateMismatch,
            NonceMismatch,
            AlgNone,
            AlgNotAllowed,
            NotALogoutToken,
            UnknownKey,
            AzpMismatch,
            ProviderError,
            ProviderUnavailable,
            MissingEmail,
            UnknownUserJitOff,
            Deactivated,
            AccountConflict,
        ];
        let mut codes: Vec<&str> = all.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
