"""SAML interop against an independent IdP: pysaml2 (from PyPI) signs in to a running
Gatehouse, signs out through single logout in both directions, and rotates its signing
certificate through metadata that Gatehouse fetches over loopback.

Run by scripts/saml-interop, which starts the server; every step checks its answer and the
script exits non-zero at the first that is wrong.
"""

import base64
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import SIG_RSA_SHA256, DIGEST_SHA256

BASE = os.environ["GATEHOUSE_URL"]
TOKEN = os.environ["GATEHOUSE_TOKEN"]
KEY = "pysaml2"
WORK = tempfile.mkdtemp(prefix="saml-interop-")


def check(condition, what, detail=""):
    if not condition:
        print(f"saml-interop: FAILED: {what} {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(method, path, body=None, headers=None, form=None):
    """(status, headers, text) of a request to Gatehouse, redirects not followed."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    url = path if path.startswith("http") else BASE + path
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with OPENER.open(req) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def api(method, path, body=None):
    status, _, text = call(method, path, body, {"Authorization": TOKEN})
    return status, (json.loads(text) if text else None)


def key_pair(name):
    key, cert = os.path.join(WORK, f"{name}.key"), os.path.join(WORK, f"{name}.crt")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    return key, cert


class Metadata(http.server.BaseHTTPRequestHandler):
    """Serves the IdP's current metadata document."""
    document = ""

    def do_GET(self):
        body = Metadata.document.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/samlmetadata+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


metadata_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
threading.Thread(target=metadata_server.serve_forever, daemon=True).start()
IDP_BASE = f"http://127.0.0.1:{metadata_server.server_address[1]}"
IDP_ENTITY = f"{IDP_BASE}/idp"
SP_ENTITY = f"{BASE}/sso/{KEY}/saml/metadata"
ACS = f"{BASE}/sso/{KEY}/saml/acs"
SP_SLO = f"{BASE}/sso/{KEY}/saml/slo"


def idp(key, cert, sp_metadata=None):
    """A pysaml2 IdP signing with (key, cert), knowing our SP by its metadata."""
    config = {
        "entityid": IDP_ENTITY,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [(f"{IDP_BASE}/sso", BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [(f"{IDP_BASE}/slo", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "want_authn_requests_signed": True,
                "sign_response": True,
                "sign_assertion": True,
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
            }
        },
        "key_file": key,
        "cert_file": cert,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
    }
    conf = IdPConfig()
    conf.load(config)
    return conf, Server(config=conf)


def publish(conf):
    Metadata.document = str(entity_descriptor(conf))


def query_of(location):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def metadata_status():
    status, connection = api("GET", f"/api/v2/connections/{KEY}")
    check(status == 200, "the connection is readable", status) if status != 200 else None
    return connection["saml"].get("metadataStatus") or {}


def wait_for_fetch(after_ms):
    for _ in range(100):
        status = metadata_status()
        if status.get("lastAttempt", 0) >= after_ms:
            return status
        time.sleep(0.1)
    check(False, "Gatehouse fetched the IdP metadata")


def sign_in(server, email):
    """SP-initiated sign-in: our AuthnRequest (signed, checked by pysaml2), pysaml2's signed
    response posted to the ACS. Returns (status, session cookie, answer, the SessionIndex
    pysaml2 chose)."""
    status, headers, _ = call("GET", f"/sso/{KEY}/saml/login?returnTo=/projects")
    check(status == 302, "the login redirects to the IdP")
    q = query_of(headers["Location"])
    check("Signature" in q and q.get("SigAlg") == SIG_RSA_SHA256, "the AuthnRequest is signed")
    request = server.parse_authn_request(
        q["SAMLRequest"], BINDING_HTTP_REDIRECT, q.get("RelayState"), q["SigAlg"], q["Signature"]
    )
    check(request is not None, "pysaml2 verifies our AuthnRequest's signature")
    response = server.create_authn_response(
        identity={"email": [email], "firstName": ["Interop"], "groups": ["eng"]},
        in_response_to=request.message.id,
        destination=ACS,
        sp_entity_id=SP_ENTITY,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
               "authn_auth": IDP_ENTITY},
        sign_response=True,
        sign_assertion=True,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
        session_not_on_or_after=None,
    )
    session_index = re.search(r'SessionIndex="([^"]+)"', str(response)).group(1)
    encoded = base64.b64encode(str(response).encode()).decode()
    status, headers, text = call(
        "POST", f"/sso/{KEY}/saml/acs", form={"SAMLResponse": encoded},
        headers={"Accept": "application/json"},
    )
    cookie = None
    for value in headers.get_all("Set-Cookie") or []:
        if value.startswith("gatehouse_session="):
            cookie = value.split(";")[0].split("=", 1)[1]
    return status, cookie, text, session_index


def alive(cookie):
    status, _, _ = call("GET", "/api/v2/me", headers={"Cookie": f"gatehouse_session={cookie}"})
    return status == 200


def main():
    sp_key, sp_cert = key_pair("sp")
    idp_key, idp_cert = key_pair("idp")
    conf, _ = idp(idp_key, idp_cert)
    publish(conf)
    started = int(time.time() * 1000)
    status, body = api("POST", "/api/v2/connections", {
        "key": KEY, "kind": "generic", "jit": True,
        "saml": {"idpMetadataUrl": f"{IDP_BASE}/metadata", "metadataRefreshMinutes": 60,
                 "spPrivateKey": open(sp_key).read(), "spCertificate": open(sp_cert).read(),
                 "signRequests": True},
    })
    check(status == 201, "the connection is created", f"{status} {body}")
    fetched = wait_for_fetch(started)
    check(fetched.get("lastSuccess") and fetched.get("entityId") == IDP_ENTITY,
          "the IdP metadata is fetched over loopback", fetched)
    status, _, sp_metadata = call("GET", f"/sso/{KEY}/saml/metadata")
    check(status == 200 and 'AuthnRequestsSigned="true"' in sp_metadata, "our SP metadata")
    conf, server = idp(idp_key, idp_cert, sp_metadata)

    # Sign in, then the IdP signs the person out (IdP-initiated single logout).
    status, cookie, text, index = sign_in(server, "interop@example.com")
    check(status == 200 and cookie and alive(cookie), "pysaml2 signs in", f"{status} {text}")
    _, logout = server.create_logout_request(
        destination=SP_SLO, issuer_entity_id=SP_ENTITY,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="interop@example.com"),
        session_indexes=[index],
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    args = server.apply_binding(BINDING_HTTP_REDIRECT, str(logout), SP_SLO, "relay-1",
                                sign=True, sigalg=SIG_RSA_SHA256)
    location = dict(args["headers"])["Location"]
    status, headers, text = call("GET", location)
    check(status == 302, "Gatehouse answers the IdP's LogoutRequest", f"{status} {text}")
    check(not alive(cookie), "the IdP's LogoutRequest ended the session")
    q = query_of(headers["Location"])
    check(q.get("RelayState") == "relay-1", "the RelayState comes back")
    answer = server.parse_logout_request_response(q["SAMLResponse"], BINDING_HTTP_REDIRECT)
    check(answer is not None and answer.status_ok(),
          "pysaml2 reads our LogoutResponse as Success")

    # Sign in again, sign out at Gatehouse (SP-initiated single logout).
    status, cookie, text, index = sign_in(server, "interop@example.com")
    check(status == 200 and alive(cookie), "pysaml2 signs in again")
    status, headers, _ = call("POST", "/sso/logout", headers={"Cookie": f"gatehouse_session={cookie}"})
    check(status == 303 and not alive(cookie), "signing out here ends the session")
    q = query_of(headers["Location"])
    request = server.parse_logout_request(
        q["SAMLRequest"], BINDING_HTTP_REDIRECT, q.get("RelayState"), q.get("SigAlg"), q.get("Signature")
    )
    check(request is not None and request.message.name_id.text == "interop@example.com",
          "pysaml2 verifies our signed LogoutRequest")
    check(request.message.session_index[0].text == index, "it names the session")
    response = server.create_logout_response(
        request.message, [BINDING_HTTP_REDIRECT], sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
    )
    args = server.apply_binding(BINDING_HTTP_REDIRECT, str(response), SP_SLO, "",
                                response=True, sign=True, sigalg=SIG_RSA_SHA256)
    status, headers, _ = call("GET", dict(args["headers"])["Location"])
    check(status == 303 and headers["Location"] == "/", "the IdP's LogoutResponse lands on /")

    # The IdP rotates its certificate; Gatehouse fetches the metadata again.
    old_server = server
    new_key, new_cert = key_pair("idp-rotated")
    conf, server = idp(new_key, new_cert, sp_metadata)
    publish(conf)
    before = int(time.time() * 1000)
    _, connection = api("GET", f"/api/v2/connections/{KEY}")
    saml = {k: v for k, v in connection["saml"].items() if k not in ("metadataStatus",)}
    status, body = api("PATCH", f"/api/v2/connections/{KEY}", {"saml": saml})
    check(status == 200, "saving the connection fetches again", f"{status} {body}")
    rotated = wait_for_fetch(before)
    check(rotated.get("certificates") != fetched.get("certificates"),
          "the rotated certificate is fetched")
    status, cookie, _, _ = sign_in(server, "interop@example.com")
    check(status == 200 and alive(cookie), "a response signed with the new key signs in")
    status, _, _, _ = sign_in(old_server, "interop@example.com")
    check(status == 403, "a response signed with the old key is refused")
    print("saml-interop: passed")


if __name__ == "__main__":
    main()
