//! `SamlVerifier`: the one place a SAML Response becomes a trusted assertion.
//!
//! samael (with xmlsec) does the cryptography: it verifies every signature in the document
//! against this connection's certificates and reduces the document to the verified content
//! only. Everything around it is ours, because samael leaves it open or reads the system clock:
//! structural refusals of signature wrapping before any crypto, the algorithm allow-list with
//! a named reason, a required audience, issuer/destination/recipient, the time window on the
//! service clock with at most two minutes of skew, `InResponseTo`, comment injection, and
//! decryption. After verification only the verified document is read.

use std::collections::BTreeMap;

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};

use super::decrypt::decrypt_assertion;
use super::sp_key::SpKey;
use super::xml::{self, Element, NS_ASSERTION, NS_DSIG, NS_PROTOCOL};
use crate::domain::sso::Refusal;

/// The largest clock skew tolerated between us and the IdP.
pub const MAX_SKEW_MS: i64 = 2 * 60 * 1000;

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

const STRONG_SIGNATURES: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const STRONG_DIGESTS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const SHA1_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1_DIGEST: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// What a connection trusts, as the verifier needs it.
pub struct SamlTrust {
    /// Our entity ID (= the metadata URL): the audience we require.
    pub sp_entity_id: String,
    /// Our ACS URL: the Destination and Recipient we require.
    pub acs_url: String,
    pub idp_entity_id: String,
    /// The IdP's signing certificates (DER); several during a rotation.
    pub idp_certificates: Vec<Vec<u8>>,
    pub allow_sha1: bool,
    pub allow_idp_initiated: bool,
    /// Our private key for encrypted assertions, when the connection has one.
    pub sp_key: Option<SpKey>,
}

/// Which element carried the verified signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedElement {
    Response,
    Assertion,
}

/// A verified assertion: every field was read from signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// The `SessionIndex` of the `AuthnStatement`: the IdP's id for this sign-in session.
    pub session_index: Option<String>,
    /// The request this answers, or None for an IdP-initiated sign-in.
    pub in_response_to: Option<String>,
    /// Until when the assertion could be replayed (the replay record lives until then).
    pub replay_until_ms: i64,
    /// Attribute name (and friendly name) -> values.
    pub attributes: BTreeMap<String, Vec<String>>,
    pub signed: SignedElement,
    pub encrypted: bool,
}

/// Parses an `xs:dateTime` (UTC with `Z` or an offset; fractions allowed) to epoch ms.
fn parse_time(value: &str) -> Result<i64, Refusal> {
    let value = value.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp_millis());
    }
    // Some IdPs omit the zone; SAML times are UTC.
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| Refusal::MalformedInput)
}

fn time_attr(e: &Element, name: &str) -> Result<Option<i64>, Refusal> {
    e.attr(name).map(parse_time).transpose()
}

/// Checks a NotBefore/NotOnOrAfter window with the skew, naming the failed side.
fn check_window(
    now: i64,
    not_before: Option<i64>,
    not_on_or_after: Option<i64>,
) -> Result<(), Refusal> {
    if let Some(nb) = not_before
        && now + MAX_SKEW_MS < nb
    {
        return Err(Refusal::NotYetValid);
    }
    if let Some(noa) = not_on_or_after
        && now - MAX_SKEW_MS >= noa
    {
        return Err(Refusal::Expired);
    }
    Ok(())
}

impl SamlTrust {
    fn allowed_algorithms(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let mut signatures = STRONG_SIGNATURES.to_vec();
        let mut digests = STRONG_DIGESTS.to_vec();
        if self.allow_sha1 {
            signatures.push(SHA1_SIGNATURE);
            digests.push(SHA1_DIGEST);
        }
        (signatures, digests)
    }

    fn certificates(&self) -> Vec<CertificateDer> {
        self.idp_certificates
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect()
    }

    /// Verifies a decoded SAML Response (the XML text) at `now_ms`.
    pub fn verify(&self, response_xml: &str, now_ms: i64) -> Result<VerifiedAssertion, Refusal> {
        if self.idp_certificates.is_empty() {
            // samael would parse an unverified document when it has no certificate.
            return Err(Refusal::NotConfigured);
        }
        let raw = xml::parse(response_xml).map_err(|_| Refusal::MalformedInput)?;
        if !raw.is(NS_PROTOCOL, "Response") {
            return Err(Refusal::MalformedInput);
        }
        // ---- structure, before any crypto (signature wrapping) ----
        let assertions = raw.count_named(NS_ASSERTION, "Assertion");
        let encrypted = raw.count_named(NS_ASSERTION, "EncryptedAssertion");
        if raw.count_named(NS_PROTOCOL, "Response") != 1 || assertions + encrypted > 1 {
            return Err(Refusal::SignatureWrapping);
        }
        if assertions + encrypted == 0 {
            return Err(Refusal::MissingSubject);
        }
        let raw_assertion = raw
            .elements()
            .find(|e| e.is(NS_ASSERTION, "Assertion") || e.is(NS_ASSERTION, "EncryptedAssertion"))
            .ok_or(Refusal::SignatureWrapping)?;
        // The (unsigned) status: a failure report is honoured as such.
        let status = raw
            .child(NS_PROTOCOL, "Status")
            .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"))
            .and_then(|c| c.attr("Value"));
        if status != Some(STATUS_SUCCESS) {
            return Err(Refusal::StatusNotSuccess);
        }
        // Comments vanish from the canonical form a signature covers, so a comment in a signed
        // NameID splits its text without breaking the signature: refuse them outright.
        if raw_assertion.contains_comment() {
            return Err(Refusal::CommentInjection);
        }
        if let Some(dest) = raw.attr("Destination")
            && dest != self.acs_url
        {
            return Err(Refusal::WrongDestination);
        }
        let (signatures, digests) = self.allowed_algorithms();
        let has_outer_signature = raw.count_named(NS_DSIG, "Signature") > 0;
        // An encrypted assertion may carry its only signature inside the encryption.
        if has_outer_signature || raw_assertion.is(NS_ASSERTION, "Assertion") {
            check_signatures(&raw, &signatures, &digests)?;
        }

        // ---- cryptography (samael + xmlsec) ----
        let (verified_root, assertion_xml_owned, signed, was_encrypted) =
            if raw_assertion.is(NS_ASSERTION, "EncryptedAssertion") {
                let key = self.sp_key.as_ref().ok_or(Refusal::EncryptedWithoutKey)?;
                if has_outer_signature {
                    // The response is signed over the encrypted assertion.
                    let verified = self.reduce(response_xml)?;
                    let root = xml::parse(&verified).map_err(|_| Refusal::BadSignature)?;
                    if !root.is(NS_PROTOCOL, "Response") || root.attr("ID") != raw.attr("ID") {
                        return Err(Refusal::SignatureWrapping);
                    }
                    let enc = root
                        .child(NS_ASSERTION, "EncryptedAssertion")
                        .ok_or(Refusal::SignatureWrapping)?;
                    let plain = decrypt_assertion(enc, key)?;
                    (Some(root), plain, SignedElement::Response, true)
                } else {
                    // Only the assertion inside can be signed: decrypt, then verify it alone.
                    let plain = decrypt_assertion(raw_assertion, key)?;
                    (None, plain, SignedElement::Assertion, true)
                }
            } else {
                if raw_assertion.attr("ID").is_none() {
                    return Err(Refusal::MalformedInput);
                }
                (None, String::new(), SignedElement::Assertion, false)
            };

        let (response_signed, assertion) = if was_encrypted {
            let decrypted =
                xml::parse(&assertion_xml_owned).map_err(|_| Refusal::DecryptionFailed)?;
            if !decrypted.is(NS_ASSERTION, "Assertion")
                || decrypted.count_named(NS_ASSERTION, "Assertion") != 1
            {
                return Err(Refusal::SignatureWrapping);
            }
            if decrypted.contains_comment() {
                return Err(Refusal::CommentInjection);
            }
            let inner_signed = decrypted.count_named(NS_DSIG, "Signature") > 0;
            let assertion = if inner_signed {
                check_signatures(&decrypted, &signatures, &digests)?;
                let verified = self.reduce(&assertion_xml_owned)?;
                let root = xml::parse(&verified).map_err(|_| Refusal::BadSignature)?;
                if !root.is(NS_ASSERTION, "Assertion") || root.attr("ID") != decrypted.attr("ID") {
                    return Err(Refusal::SignatureWrapping);
                }
                root
            } else if signed == SignedElement::Response {
                decrypted
            } else {
                return Err(Refusal::Unsigned);
            };
            (verified_root, assertion)
        } else {
            let verified = self.reduce(response_xml)?;
            let root = xml::parse(&verified).map_err(|_| Refusal::BadSignature)?;
            if root.is(NS_PROTOCOL, "Response") {
                if root.attr("ID") != raw.attr("ID") {
                    return Err(Refusal::SignatureWrapping);
                }
                let mut found = Vec::new();
                root.descendants_named(NS_ASSERTION, "Assertion", &mut found);
                let [assertion] = found.as_slice() else {
                    return Err(Refusal::SignatureWrapping);
                };
                let assertion = (*assertion).clone();
                (Some(root), assertion)
            } else if root.is(NS_ASSERTION, "Assertion") {
                (None, root)
            } else {
                return Err(Refusal::SignatureWrapping);
            }
        };
        if assertion.attr("ID") != raw_assertion.attr("ID") && !was_encrypted {
            return Err(Refusal::SignatureWrapping);
        }
        let signed = if response_signed.is_some() {
            SignedElement::Response
        } else {
            SignedElement::Assertion
        };
        self.check_assertion(
            response_signed.as_ref(),
            &assertion,
            signed,
            was_encrypted,
            now_ms,
        )
    }

    /// samael's verification: every signature must verify with one of our certificates; the
    /// result holds only verified content.
    fn reduce(&self, xml_text: &str) -> Result<String, Refusal> {
        let allowed: Option<Vec<AllowedSignatureAlgorithm>> = if self.allow_sha1 {
            // samael's list has no SHA-1 entry; our own check above enforced the list.
            None
        } else {
            Some(vec![
                AllowedSignatureAlgorithm::RsaSha256,
                AllowedSignatureAlgorithm::RsaSha384,
                AllowedSignatureAlgorithm::RsaSha512,
                AllowedSignatureAlgorithm::EcdsaSha256,
                AllowedSignatureAlgorithm::EcdsaSha384,
                AllowedSignatureAlgorithm::EcdsaSha512,
            ])
        };
        Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml_text,
            &self.certificates(),
            ReduceMode::ValidateAndMarkNoAncestors,
            allowed.as_deref(),
        )
        .map_err(|_| Refusal::BadSignature)
    }

    /// The checks on verified content.
    fn check_assertion(
        &self,
        response: Option<&Element>,
        assertion: &Element,
        signed: SignedElement,
        encrypted: bool,
        now: i64,
    ) -> Result<VerifiedAssertion, Refusal> {
        if assertion.contains_comment() {
            return Err(Refusal::CommentInjection);
        }
        let assertion_id = assertion
            .attr("ID")
            .filter(|id| !id.is_empty())
            .ok_or(Refusal::MalformedInput)?
            .to_owned();
        let issuer = assertion
            .child(NS_ASSERTION, "Issuer")
            .map(Element::text)
            .unwrap_or_default();
        if issuer != self.idp_entity_id {
            return Err(Refusal::WrongIssuer);
        }
        let mut response_in_response_to = None;
        if let Some(response) = response {
            if let Some(resp_issuer) = response.child(NS_ASSERTION, "Issuer")
                && resp_issuer.text() != self.idp_entity_id
            {
                return Err(Refusal::WrongIssuer);
            }
            // A signed response must name us as its destination.
            if response.attr("Destination") != Some(self.acs_url.as_str()) {
                return Err(Refusal::WrongDestination);
            }
            let status = response
                .child(NS_PROTOCOL, "Status")
                .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"))
                .and_then(|c| c.attr("Value"));
            if status != Some(STATUS_SUCCESS) {
                return Err(Refusal::StatusNotSuccess);
            }
            response_in_response_to = response.attr("InResponseTo").map(str::to_owned);
        }
        if let Some(issued) = time_attr(assertion, "IssueInstant")?
            && issued > now + MAX_SKEW_MS
        {
            return Err(Refusal::NotYetValid);
        }
        // ---- subject and its bearer confirmation ----
        let subject = assertion
            .child(NS_ASSERTION, "Subject")
            .ok_or(Refusal::MissingSubject)?;
        let name_id_el = subject
            .child(NS_ASSERTION, "NameID")
            .ok_or(Refusal::MissingSubject)?;
        let name_id = name_id_el.text();
        if name_id.is_empty() {
            return Err(Refusal::MissingSubject);
        }
        let bearers: Vec<&Element> = subject
            .children_named(NS_ASSERTION, "SubjectConfirmation")
            .filter(|c| c.attr("Method") == Some(BEARER))
            .collect();
        if bearers.is_empty() {
            return Err(Refusal::NotBearer);
        }
        // Every bearer confirmation must hold (no picking the convenient one).
        let mut in_response_to: Option<String> = None;
        let mut confirmation_until = i64::MAX;
        for bearer in bearers {
            let data = bearer
                .child(NS_ASSERTION, "SubjectConfirmationData")
                .ok_or(Refusal::NotBearer)?;
            if data.attr("Recipient") != Some(self.acs_url.as_str()) {
                return Err(Refusal::WrongRecipient);
            }
            let noa = time_attr(data, "NotOnOrAfter")?.ok_or(Refusal::Expired)?;
            check_window(now, time_attr(data, "NotBefore")?, Some(noa))?;
            confirmation_until = confirmation_until.min(noa);
            match (data.attr("InResponseTo"), &in_response_to) {
                (Some(id), None) => in_response_to = Some(id.to_owned()),
                (Some(id), Some(prev)) if id != prev => {
                    return Err(Refusal::InResponseToMismatch);
                }
                _ => {}
            }
        }
        match (&response_in_response_to, &in_response_to) {
            (Some(r), Some(a)) if r != a => return Err(Refusal::InResponseToMismatch),
            (Some(r), None) => in_response_to = Some(r.clone()),
            _ => {}
        }
        if in_response_to.is_none() && !self.allow_idp_initiated {
            return Err(Refusal::UnsolicitedResponse);
        }
        // ---- conditions: time window and a required audience ----
        let conditions = assertion
            .child(NS_ASSERTION, "Conditions")
            .ok_or(Refusal::WrongAudience)?;
        let conditions_until = time_attr(conditions, "NotOnOrAfter")?;
        check_window(now, time_attr(conditions, "NotBefore")?, conditions_until)?;
        let restrictions: Vec<&Element> = conditions
            .children_named(NS_ASSERTION, "AudienceRestriction")
            .collect();
        if restrictions.is_empty() {
            return Err(Refusal::WrongAudience);
        }
        // Each restriction must include us (they are ANDed).
        for r in restrictions {
            if !r
                .children_named(NS_ASSERTION, "Audience")
                .any(|a| a.text() == self.sp_entity_id)
            {
                return Err(Refusal::WrongAudience);
            }
        }
        // ---- attributes ----
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for statement in assertion.children_named(NS_ASSERTION, "AttributeStatement") {
            for attr in statement.children_named(NS_ASSERTION, "Attribute") {
                let values: Vec<String> = attr
                    .children_named(NS_ASSERTION, "AttributeValue")
                    .map(Element::text)
                    .collect();
                for name in [attr.attr("Name"), attr.attr("FriendlyName")]
                    .into_iter()
                    .flatten()
                {
                    attributes
                        .entry(name.to_owned())
                        .or_default()
                        .extend(values.iter().cloned());
                }
            }
        }
        let replay_until_ms = conditions_until
            .unwrap_or(i64::MAX)
            .min(confirmation_until)
            .saturating_add(MAX_SKEW_MS);
        // The IdP's session, which its LogoutRequest names.
        let session_index = assertion
            .children_named(NS_ASSERTION, "AuthnStatement")
            .find_map(|s| s.attr("SessionIndex"))
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        Ok(VerifiedAssertion {
            assertion_id,
            issuer,
            session_index,
            name_id,
            name_id_format: name_id_el.attr("Format").map(str::to_owned),
            in_response_to,
            replay_until_ms,
            attributes,
            signed,
            encrypted,
        })
    }
}

/// Refuses signatures outside their enveloped place (a direct child of the Response or the
/// Assertion, referencing exactly that element) and algorithms outside the allow-list.
fn check_signatures(doc: &Element, signatures: &[&str], digests: &[&str]) -> Result<(), Refusal> {
    let mut all = Vec::new();
    doc.descendants_named(NS_DSIG, "Signature", &mut all);
    if all.is_empty() {
        return Err(Refusal::Unsigned);
    }
    let mut enveloped = 0usize;
    check_enveloped(doc, &mut enveloped)?;
    if enveloped != all.len() {
        return Err(Refusal::SignatureWrapping);
    }
    for sig in all {
        let signed_info = sig
            .child(NS_DSIG, "SignedInfo")
            .ok_or(Refusal::BadSignature)?;
        let method = signed_info
            .child(NS_DSIG, "SignatureMethod")
            .and_then(|m| m.attr("Algorithm"))
            .unwrap_or("");
        if !signatures.contains(&method) {
            return Err(Refusal::AlgorithmNotAllowed);
        }
        for reference in signed_info.children_named(NS_DSIG, "Reference") {
            let digest = reference
                .child(NS_DSIG, "DigestMethod")
                .and_then(|m| m.attr("Algorithm"))
                .unwrap_or("");
            if !digests.contains(&digest) {
                return Err(Refusal::AlgorithmNotAllowed);
            }
        }
    }
    Ok(())
}

/// Counts signatures that sit directly in a Response or Assertion and reference only it.
fn check_enveloped(e: &Element, count: &mut usize) -> Result<(), Refusal> {
    let envelope = e.is(NS_PROTOCOL, "Response") || e.is(NS_ASSERTION, "Assertion");
    for child in e.elements() {
        if child.is(NS_DSIG, "Signature") {
            if !envelope {
                continue;
            }
            let id = e.attr("ID").ok_or(Refusal::SignatureWrapping)?;
            let references: Vec<&Element> = child
                .child(NS_DSIG, "SignedInfo")
                .map(|si| si.children_named(NS_DSIG, "Reference").collect())
                .unwrap_or_default();
            let [reference] = references.as_slice() else {
                return Err(Refusal::SignatureWrapping);
            };
            if reference.attr("URI") != Some(format!("#{id}").as_str()) {
                return Err(Refusal::SignatureWrapping);
            }
            *count += 1;
        } else {
            check_enveloped(child, count)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signed by the `xmlsec1` tool (see fuzz/seeds); valid 07:59-08:05 on 2027-01-15 UTC.
    const SIGNED: &str = include_str!("../../../fuzz/seeds/saml_acs/signed-assertion.xml");
    const CERT: &str = include_str!("../../../fuzz/seeds/idp-cert.pem");
    const OTHER_CERT: &str = include_str!("../../../fuzz/seeds/sp-cert.pem");
    const NOW: i64 = 1_800_000_060_000; // 08:01

    fn trust(cert: &str) -> SamlTrust {
        SamlTrust {
            sp_entity_id: "https://gatehouse.example.com/sso/fuzz/saml/metadata".into(),
            acs_url: "https://gatehouse.example.com/sso/fuzz/saml/acs".into(),
            idp_entity_id: "https://idp.example.com/entity".into(),
            idp_certificates: vec![super::super::metadata::certificate_der(cert).unwrap()],
            allow_sha1: false,
            allow_idp_initiated: false,
            sp_key: None,
        }
    }

    #[test]
    fn verifies_a_response_signed_by_xmlsec1_on_the_given_clock() {
        let a = trust(CERT).verify(SIGNED, NOW).unwrap();
        assert_eq!(a.name_id, "ada@example.com");
        assert_eq!(a.assertion_id, "_assert1");
        assert_eq!(a.in_response_to.as_deref(), Some("_req1"));
        assert_eq!(a.signed, SignedElement::Assertion);
        assert_eq!(a.attributes["role"], vec!["writer".to_owned()]);
        // 08:05 + 2 min skew bounds the replay record.
        assert_eq!(a.replay_until_ms, 1_800_000_300_000 + MAX_SKEW_MS);
    }

    #[test]
    fn the_clock_and_the_skew_decide_expiry() {
        let t = trust(CERT);
        // 08:06:59 is within the 2-minute skew of 08:05; 08:07 is not.
        assert!(
            t.verify(SIGNED, 1_800_000_300_000 + MAX_SKEW_MS - 1_000)
                .is_ok()
        );
        assert_eq!(
            t.verify(SIGNED, 1_800_000_300_000 + MAX_SKEW_MS),
            Err(Refusal::Expired)
        );
        // 07:57 is more than 2 minutes before NotBefore 07:59.
        assert_eq!(
            t.verify(SIGNED, 1_799_999_820_000),
            Err(Refusal::NotYetValid)
        );
    }

    #[test]
    fn another_certificate_or_tampering_fails_the_signature() {
        assert_eq!(
            trust(OTHER_CERT).verify(SIGNED, NOW),
            Err(Refusal::BadSignature)
        );
        let tampered = SIGNED.replace(">writer<", ">admin<");
        assert_eq!(
            trust(CERT).verify(&tampered, NOW),
            Err(Refusal::BadSignature)
        );
        let mut no_cert = trust(CERT);
        no_cert.idp_certificates.clear();
        assert_eq!(no_cert.verify(SIGNED, NOW), Err(Refusal::NotConfigured));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
        /// Cutting the signed document anywhere never panics and never verifies.
        #[test]
        fn truncations_are_refused(cut in 0usize..3686) {
            // Cutting only the trailing newline would leave the whole document.
            let whole = SIGNED.trim_end();
            let cut = whole.char_indices().map(|(i, _)| i).take_while(|i| *i <= cut).last().unwrap_or(0);
            let partial = &whole[..cut];
            proptest::prop_assert!(trust(CERT).verify(partial, NOW).is_err());
        }
    }
}
