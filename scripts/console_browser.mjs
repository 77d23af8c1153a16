// The console in Debian's Chromium, driven by playwright-core: a person signs in through an
// independent OpenID provider's own pages (`oidc-provider`), lands on "You", approves and
// applies a request from the approvals inbox, and finds the approval in the audit log. Each
// page is screenshotted into $SCREENSHOTS; a Content-Security-Policy violation or a script
// error on any page fails the run. Run by scripts/console-browser, which starts the server.
import net from 'node:net';
import path from 'node:path';
import Provider from 'oidc-provider';
import { chromium } from 'playwright-core';

const GH = process.env.GATEHOUSE_URL;
const TOKEN = process.env.GATEHOUSE_TOKEN;
const SHOTS = process.env.SCREENSHOTS;
const KEY = 'acme-idp';
const CLIENT = 'gatehouse-console';
const SECRET = 'console-secret';

function check(condition, what, detail = '') {
  if (!condition) {
    console.error(`console-browser: FAILED: ${what} ${detail}`);
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

async function api(method, urlPath, body, token = TOKEN) {
  const res = await fetch(GH + urlPath, {
    method,
    headers: { authorization: token, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** A project with production, a flag, and a writer's request to turn it on there. */
async function seed() {
  const steps = [
    ['POST', '/api/v2/projects', { key: 'shop', name: 'Shop' }],
    ['POST', '/api/v2/projects/shop/environments', { key: 'production', name: 'Production', critical: true }],
    ['POST', '/api/v2/flags/shop', { key: 'new-checkout', name: 'New checkout' }],
    ['POST', '/api/v2/members', { email: 'wes@example.com', role: 'writer' }],
  ];
  for (const [method, p, body] of steps) {
    const r = await api(method, p, body);
    check(r.status === 201, `created ${p}`, JSON.stringify(r.body));
  }
  const token = await api('POST', '/api/v2/tokens', { name: 'wes', serviceToken: true, role: 'writer' });
  check(token.status === 201, 'a writer token', JSON.stringify(token.body));
  const request = await api('POST', '/api/v2/approval-requests', {
    resourceId: 'proj/shop:env/production:flag/new-checkout',
    description: 'Launch the new checkout',
    instructions: [{ kind: 'turnFlagOn' }],
  }, token.body.token);
  check(request.status === 201, 'a request to turn the flag on in production', JSON.stringify(request.body));
  return request.body._id;
}

async function startProvider() {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT,
      client_secret: SECRET,
      redirect_uris: [`${GH}/sso/${KEY}/oidc/callback`],
      post_logout_redirect_uris: [`${GH}/`],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    claims: { email: ['email', 'email_verified'], profile: ['given_name', 'family_name'] },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true, given_name: 'Ada' }; } };
    },
  });
  await new Promise((resolve) => provider.listen(port, '127.0.0.1', resolve));
  const created = await api('POST', '/api/v2/connections', {
    key: KEY, name: 'Acme IdP', kind: 'generic', jit: true, defaultRole: 'admin',
    oidc: { issuer, clientId: CLIENT, clientSecret: SECRET },
  });
  check(created.status === 201, 'the OIDC connection is created', JSON.stringify(created.body));
  return issuer;
}

async function main() {
  const requestId = await seed();
  const issuer = await startProvider();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await (await browser.newContext()).newPage();
  const problems = [];
  // Only Gatehouse's pages are judged (the provider's pages load fonts from the internet).
  const ours = () => page.url().startsWith(GH);
  page.on('console', (m) => { if (m.type() === 'error' && ours()) problems.push(m.text()); });
  page.on('pageerror', (e) => { if (ours()) problems.push(String(e)); });
  const shot = async (name) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    check(problems.length === 0, `${name}: no CSP violation or script error`, problems.join(' | '));
  };

  // Signed out: the sign-in page; the first Tab reaches the skip link.
  await page.goto(`${GH}/`);
  check(await page.locator('h1').textContent() === 'Sign in', 'signed out, / is the sign-in page');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.textContent) === 'Skip to content', 'the keyboard starts at the skip link');
  await shot('01-sign-in');

  // Sign in through the provider's own login and consent pages.
  await page.getByRole('link', { name: 'Sign in with Acme IdP (OIDC)' }).click();
  for (let step = 0; step < 4 && page.url().startsWith(issuer); step++) {
    if (await page.locator('input[name=login]').count()) {
      await page.fill('input[name=login]', 'ada@example.com');
      await page.fill('input[name=password]', 'any');
    }
    await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').first().click()]);
  }
  check(page.url() === `${GH}/`, 'the provider sends the browser back to /', page.url());
  check(await page.locator('h1').textContent() === 'You', 'signed in, / is "You"');
  check((await page.content()).includes('ada@example.com'), '"You" shows the member');
  check((await page.content()).includes('<td>Ada</td>'), '"You" shows the name the provider gave');
  check((await page.content()).includes('sign-in through acme-idp'), 'the base role shows its source');
  await shot('02-you');

  // The inbox lists the request; its page shows the change; approve, then apply.
  await page.getByRole('link', { name: 'Approvals' }).click();
  const waiting = page.locator('section', { has: page.locator('#to-review') });
  check(await waiting.getByRole('link', { name: 'Launch the new checkout' }).count() === 1, 'the request waits for review in the inbox');
  await shot('03-approvals-inbox');
  await waiting.getByRole('link', { name: 'Launch the new checkout' }).click();
  check((await page.locator('.diff-add').allTextContents()).some((t) => t.includes('"on": true')), 'the change reads as a diff');
  await shot('04-approval-request');
  await page.getByLabel('Approve').check();
  await page.getByLabel('Comment', { exact: true }).fill('Looks right');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send review' }).click()]);
  check((await page.content()).includes('pending, approved'), 'the request is approved');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Apply the change' }).click()]);
  check((await page.content()).includes('completed'), 'the request is applied');
  await shot('05-approval-applied');
  const flag = await api('GET', '/api/v2/flags/shop/new-checkout');
  check(flag.body.environments.production.on === true, 'the flag is on in production');

  // The audit log shows the approval; its entry page names the request.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Action (a trailing * matches a prefix)').fill('reviewApprovalRequest');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Filter' }).click()]);
  const rows = page.locator('tbody tr');
  check(await rows.count() === 1, 'the audit log finds the approval', String(await rows.count()));
  await shot('06-audit-log');
  await Promise.all([page.waitForNavigation(), rows.first().locator('a').click()]);
  check((await page.content()).includes(requestId), 'the entry names the approval request');
  check((await page.content()).includes('ada@example.com'), 'the entry names the reviewer');
  await shot('07-audit-entry');
  await page.goto(`${GH}/console/audit/chain`);
  check((await page.content()).includes('The chain is intact'), 'the chain verifies');
  await shot('08-audit-chain');
  await page.goto(`${GH}/console/directory`);
  await shot('09-directory');

  // Sign out: back to the sign-in page (the provider's logout page is its own business).
  await page.goto(`${GH}/`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()]);
  await browser.close();
  console.log('console-browser: passed');
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
