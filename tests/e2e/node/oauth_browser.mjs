// Drives mcpgw auth's browser flow in headless Chromium (playwright-core, Debian's chromium).
//
//   node oauth_browser.mjs consent <authorize-url> <redirect-prefix>
//       opens the authorization URL, clicks "Approve" on the consent page, lets the (fake)
//       GitHub redirect back, and prints {"location": <the URL the browser was sent to>,
//       "consent": {...what the page showed}} once a request to <redirect-prefix> starts.
//   node oauth_browser.mjs sdk <mcp-server-url> <redirect-url>
//       the official TypeScript SDK's OAuth client (auth()): discovery (RFC 9728, RFC 8414),
//       dynamic registration, authorization through the consent page in Chromium, token,
//       then a refresh; prints what happened as JSON.
import { chromium } from 'playwright-core';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function approveInBrowser(authorizeUrl, redirectPrefix) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    let resolveRedirect;
    const redirected = new Promise((r) => { resolveRedirect = r; });
    // The client's redirect URI has no server behind it: answer it here and record the URL.
    await page.route((url) => url.href.startsWith(redirectPrefix), async (route) => {
      resolveRedirect(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'done' });
    });
    await page.goto(authorizeUrl);
    await page.waitForSelector('#approve', { timeout: 15000 });
    const consent = {
      title: await page.title(),
      text: await page.locator('body').innerText(),
      frameOptions: null,
    };
    await page.click('#approve');
    const location = await Promise.race([
      redirected,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no redirect to the client')), 20000)),
    ]);
    const cookies = await page.context().cookies();
    return { location, consent, cookies: cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly,
      sameSite: c.sameSite, secure: c.secure })) };
  } finally {
    await browser.close();
  }
}

class MemoryProvider {
  constructor(redirectUrl) {
    this._redirectUrl = redirectUrl;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() {
    return { client_name: 'SDK e2e client', redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'none' };
  }
  state() { return 'sdk-state-1'; }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
}

async function sdkFlow(serverUrl, redirectUrl) {
  const provider = new MemoryProvider(redirectUrl);
  const first = await auth(provider, { serverUrl });
  const authorizationUrl = provider.authorizationUrl?.href;
  const { location, consent } = await approveInBrowser(authorizationUrl, redirectUrl);
  const q = new URL(location).searchParams;
  const second = await auth(provider, { serverUrl, authorizationCode: q.get('code') });
  const tokens = provider.tokens();
  // Refresh: auth() with a refresh token in hand rotates it.
  const third = await auth(provider, { serverUrl });
  const refreshed = provider.tokens();
  return { first, second, third, client_id: provider.clientInformation()?.client_id, authorizationUrl,
    redirect: location, consent, access_token: tokens?.access_token, refresh_token: tokens?.refresh_token,
    refreshed_access_token: refreshed?.access_token, refreshed_refresh_token: refreshed?.refresh_token };
}

const [mode, a, b] = process.argv.slice(2);
try {
  const out = mode === 'consent' ? await approveInBrowser(a, b) : await sdkFlow(a, b);
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
}
