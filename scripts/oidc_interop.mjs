// OIDC interop against an independent OpenID provider: `oidc-provider` (npm) signs a person
// in to a running Gatehouse through its login and consent pages, Gatehouse sends the browser
// to the provider's end_session_endpoint on sign-out, and the provider's back-channel logout
// ends a Gatehouse session. Run by scripts/oidc-interop, which starts the server.
import net from 'node:net';
import Provider from 'oidc-provider';

const GH = process.env.GATEHOUSE_URL;
const TOKEN = process.env.GATEHOUSE_TOKEN;
const KEY = 'oidc-provider';
const CLIENT = 'gatehouse-interop';
const SECRET = 'interop-secret';

function check(condition, what, detail = '') {
  if (!condition) {
    console.error(`oidc-interop: FAILED: ${what} ${detail}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A browser: follows nothing by itself, keeps cookies per host. */
class Browser {
  constructor() { this.jar = new Map(); }
  cookies(url) {
    const host = new URL(url).host;
    return [...(this.jar.get(host) || new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  keep(url, res) {
    const host = new URL(url).host;
    const jar = this.jar.get(host) || new Map();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
    this.jar.set(host, jar);
  }
  async go(url, { method = 'GET', form, headers = {} } = {}) {
    const init = { method, redirect: 'manual', headers: { ...headers, cookie: this.cookies(url) } };
    if (form) {
      init.body = new URLSearchParams(form).toString();
      init.headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, init);
    this.keep(url, res);
    const location = res.headers.get('location');
    return { status: res.status, location: location && new URL(location, url).toString(), text: await res.text(), res };
  }
  /** Follows redirects until `stop(url)` or a page that is not a redirect. */
  async follow(url, stop) {
    let r = { location: url };
    for (let i = 0; i < 20 && r.location; i++) {
      if (stop && stop(r.location)) return r;
      r = await this.go(r.location);
    }
    return r;
  }
}

/** The action and fields of the first form of a page. */
function form(page, base) {
  const action = /<form[^>]*action="([^"]+)"/.exec(page);
  const fields = {};
  for (const m of page.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]+)"/.exec(m[0]);
    const value = /value="([^"]*)"/.exec(m[0]);
    if (name) fields[name[1]] = value ? value[1] : '';
  }
  return { action: action && new URL(action[1].replace(/&amp;/g, '&'), base).toString(), fields };
}

async function api(method, path, body) {
  const res = await fetch(GH + path, {
    method,
    headers: { authorization: TOKEN, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function alive(session) {
  const res = await fetch(`${GH}/api/v2/me`, { headers: { cookie: `gatehouse_session=${session}` } });
  return res.status === 200;
}

async function signIn(browser, issuer, email) {
  const callback = `${GH}/sso/${KEY}/oidc/callback`;
  const start = await browser.go(`${GH}/sso/${KEY}/oidc/login?returnTo=/projects`);
  check(start.status === 302 && start.location.startsWith(issuer), 'the login redirects to the provider');
  let r = await browser.follow(start.location, (u) => u.startsWith(callback));
  for (let step = 0; step < 4 && !(r.location && r.location.startsWith(callback)); step++) {
    const f = form(r.text, issuer);
    check(f.action, 'the provider shows a form', r.text.slice(0, 300));
    if ('login' in f.fields) { f.fields.login = email; f.fields.password = 'any'; }
    const posted = await browser.go(f.action, { method: 'POST', form: f.fields });
    r = await browser.follow(posted.location, (u) => u.startsWith(callback));
  }
  check(r.location && r.location.startsWith(callback), 'the provider redirects back with a code');
  const done = await browser.go(r.location, { headers: { accept: 'application/json' } });
  check(done.status === 200, 'Gatehouse signs the person in', done.text);
  const body = JSON.parse(done.text);
  const session = browser.jar.get(new URL(GH).host).get('gatehouse_session');
  check(session && (await alive(session)), 'the session works');
  return { session, body };
}

async function main() {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map();
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT,
      client_secret: SECRET,
      redirect_uris: [`${GH}/sso/${KEY}/oidc/callback`],
      post_logout_redirect_uris: [`${GH}/`],
      backchannel_logout_uri: `${GH}/sso/${KEY}/oidc/backchannel-logout`,
      backchannel_logout_session_required: true,
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    features: { devInteractions: { enabled: true }, backchannelLogout: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    claims: { email: ['email', 'email_verified'], profile: ['given_name', 'family_name'] },
    async findAccount(ctx, id) {
      accounts.set(id, true);
      return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true, given_name: 'Interop' }; } };
    },
  });
  await new Promise((resolve) => provider.listen(port, '127.0.0.1', resolve));

  const created = await api('POST', '/api/v2/connections', {
    key: KEY, kind: 'generic', jit: true,
    oidc: { issuer, clientId: CLIENT, clientSecret: SECRET },
  });
  check(created.status === 201, 'the connection is created', JSON.stringify(created.body));

  // Sign in, then sign out at Gatehouse: the browser goes on to the provider's end_session
  // endpoint with the ID token as a hint, and the provider confirms the logout.
  const browser = new Browser();
  const first = await signIn(browser, issuer, 'ada@example.com');
  check(first.body.email === 'ada@example.com', 'the member is the provider\'s account');
  const out = await browser.go(`${GH}/sso/logout`, { method: 'POST' });
  check(out.status === 303 && out.location.startsWith(`${issuer}/session/end`), 'signing out here goes to the provider', out.location);
  const hint = new URL(out.location).searchParams.get('id_token_hint');
  check(hint && hint.split('.').length === 3, 'with the ID token as id_token_hint');
  check(!(await alive(first.session)), 'the Gatehouse session ended');
  const confirm = await browser.go(out.location);
  const f = form(confirm.text, issuer);
  check(f.action, 'the provider asks to confirm the logout', confirm.text.slice(0, 300));
  const confirmed = await browser.go(f.action, { method: 'POST', form: { ...f.fields, logout: 'yes' } });
  const landed = await browser.follow(confirmed.location, (u) => u.startsWith(GH));
  check(landed.location && landed.location.startsWith(`${GH}/`), 'the provider sends the browser back');

  // Sign in again, then sign out at the provider: its back-channel logout ends the session.
  const second = await signIn(browser, issuer, 'ada@example.com');
  const end = await browser.go(`${issuer}/session/end`);
  const g = form(end.text, issuer);
  check(g.action, 'the provider offers to sign out');
  await browser.go(g.action, { method: 'POST', form: { ...g.fields, logout: 'yes' } });
  let ended = false;
  for (let i = 0; i < 50 && !ended; i++) {
    ended = !(await alive(second.session));
    if (!ended) await new Promise((r) => setTimeout(r, 100));
  }
  check(ended, 'the provider\'s back-channel logout ended the Gatehouse session');
  const audit = await api('GET', '/api/v2/auditlog?action=signOut&limit=50');
  const idpLogouts = (audit.body.items || []).filter((e) => e.delta && e.delta.channel === 'idp' && e.delta.outcome === 'signedOut');
  check(idpLogouts.length >= 1, 'the back-channel logout is audited');
  console.log('oidc-interop: passed');
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
