// The sandbox identity provider for the tests and the demo (issue 20).
//
// The certified `oidc-provider` (pinned in package.json) with its own plain-HTML login and
// second-factor pages (no scripts, no external assets), configured from a JSON file written by
// deploy/oidc_provider.py:
//
//   node deploy/oidc/provider.mjs CONFIG.json
//
// The second factor is a FIXED one-time code per account, read from the config: a sandbox
// stand-in for TOTP or WebAuthn, never for production. acr/amr in the id_token say how the person
// authenticated: password only -> "urn:casework:acr:pwd", ["pwd"]; password and the code ->
// "urn:casework:acr:mfa", ["pwd", "otp"]. The code is asked when the request's acr_values ask for
// mfa and the account has one; an account without one gets the lower acr and the client refuses.

import {
  createHash, generateKeyPairSync, randomUUID, timingSafeEqual,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

const ACR_PWD = 'urn:casework:acr:pwd';
const ACR_MFA = 'urn:casework:acr:mfa';
const MAX_CODE_ATTEMPTS = 5;
const BODY_LIMIT = 16 * 1024;

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = new Map(config.accounts.map((account) => [account.id, account]));

function findByLogin(login) {
  const wanted = String(login ?? '').trim().toLowerCase();
  return config.accounts.find(
    (account) => account.id === wanted || account.email.toLowerCase() === wanted,
  );
}

function sameSecret(given, expected) {
  const digest = (text) => createHash('sha256').update(String(text ?? '')).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

// The signing key: kept in config.jwks_file when one is named (so a restarted provider's tokens
// and its clients' cached JWKS stay valid), else made for this run only.
function signingKeys() {
  if (config.jwks_file && existsSync(config.jwks_file)) {
    return JSON.parse(readFileSync(config.jwks_file, 'utf8'));
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: randomUUID() };
  const jwks = { keys: [key] };
  if (config.jwks_file) writeFileSync(config.jwks_file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

// A session authenticated with the password only, met by a request asking for mfa, logs in again
// (when the account has a second factor; otherwise it could never do better).
function secondFactorPolicy() {
  const policy = interactionPolicy.base();
  policy.get('login').checks.push(new interactionPolicy.Check(
    'second_factor_requested',
    'a second factor was requested',
    'login_required',
    (ctx) => {
      const { oidc } = ctx;
      const requested = String(oidc.params.acr_values ?? '').split(' ');
      const account = accounts.get(oidc.session.accountId);
      if (!requested.includes(ACR_MFA) || !account?.otp || oidc.result?.login) return false;
      return oidc.session.acr !== ACR_MFA;
    },
  ));
  return policy;
}

async function findAccount(_ctx, sub) {
  const account = accounts.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: account.email,
        email_verified: account.email_verified !== false,
        name: account.name,
      };
    },
  };
}

function escape(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:28em;margin:2em auto;padding:0 1em}
label{display:block;margin:.8em 0 .2em}input{font-size:1em;padding:.3em;width:100%}
button{margin-top:1em;font-size:1em;padding:.4em 1em}.error{color:#a00;font-weight:bold}</style>
</head><body><header><p>Sandbox identity provider (tests and demo only)</p></header>
<main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function errorLine(error) {
  return error ? `<p class="error" role="alert">${escape(error)}</p>` : '';
}

function loginPage(uid, details, error, login) {
  const client = escape(details.params.client_id);
  const hint = escape(login ?? details.params.login_hint ?? '');
  return page('Sign in', `<p>Signing in to <strong>${client}</strong>.</p>${errorLine(error)}
<form id="login" method="post" action="/interaction/${escape(uid)}/login">
<label for="login-name">Staff id or email</label>
<input id="login-name" name="login" autocomplete="username" required value="${hint}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p><a href="/interaction/${escape(uid)}/abort">Cancel</a></p>`);
}

function codePage(uid, account, error) {
  return page('Second factor', `<p>${escape(account.name)}: enter your one-time code.</p>${errorLine(error)}
<form id="otp" method="post" action="/interaction/${escape(uid)}/otp">
<label for="otp-code">One-time code</label>
<input id="otp-code" name="otp" inputmode="numeric" autocomplete="one-time-code" required>
<button type="submit">Verify</button></form>
<p><a href="/interaction/${escape(uid)}/abort">Cancel</a></p>`);
}

async function logoutSource(ctx, form) {
  ctx.body = page('Sign out', `<p>Sign out of the sandbox identity provider?</p>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p>You are signed out of the sandbox identity provider.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const lines = Object.entries(out).map(([key, value]) => `<p><strong>${escape(key)}</strong>: ${escape(value)}</p>`);
  ctx.body = page('Sign-in error', lines.join(''));
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
    require_auth_time: true,
  })),
  findAccount,
  acrValues: [ACR_PWD, ACR_MFA],
  claims: {
    // acr, amr and auth_time come with the openid scope: every id_token says how and when.
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    sid: null,
    iss: null,
  },
  conformIdTokenClaims: false,
  cookies: { keys: config.cookie_keys },
  jwks: signingKeys(),
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  interactions: {
    policy: secondFactorPolicy(),
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  renderError,
  ttl: { Session: 8 * 3600, Interaction: 600, Grant: 8 * 3600, AuthorizationCode: 60, IdToken: 3600, AccessToken: 3600 },
});

// Password checked, code still to come: interaction uid -> {accountId, attempts}.
const pending = new Map();

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > BODY_LIMIT) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function loginResult(accountId, acr, amr) {
  return { login: { accountId, acr, amr, remember: true, ts: Math.floor(Date.now() / 1000) } };
}

async function grantConsent(req, res, details) {
  // The configured clients are the organisation's own applications: no consent page.
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const result = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function submitLogin(req, res, uid, details) {
  const form = await readForm(req);
  const account = findByLogin(form.get('login'));
  if (!account || !sameSecret(form.get('password'), account.password)) {
    send(res, 200, loginPage(uid, details, 'Unknown staff id or wrong password.', form.get('login')));
    return;
  }
  const requested = String(details.params.acr_values ?? '').split(' ');
  if (requested.includes(ACR_MFA) && account.otp) {
    pending.set(uid, { accountId: account.id, attempts: 0 });
    send(res, 200, codePage(uid, account));
    return;
  }
  await provider.interactionFinished(req, res, loginResult(account.id, ACR_PWD, ['pwd']));
}

async function submitCode(req, res, uid) {
  const form = await readForm(req);
  const step = pending.get(uid);
  if (!step) {
    res.writeHead(303, { location: `/interaction/${uid}` });
    res.end();
    return;
  }
  const account = accounts.get(step.accountId);
  if (!sameSecret(form.get('otp'), account.otp)) {
    step.attempts += 1;
    if (step.attempts >= MAX_CODE_ATTEMPTS) {
      pending.delete(uid);
      const result = { error: 'access_denied', error_description: 'too many wrong one-time codes' };
      await provider.interactionFinished(req, res, result);
      return;
    }
    send(res, 200, codePage(uid, account, 'Wrong one-time code.'));
    return;
  }
  pending.delete(uid);
  await provider.interactionFinished(req, res, loginResult(account.id, ACR_MFA, ['pwd', 'otp']));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction does not match its cookie');
  if (req.method === 'POST' && action === 'login') return submitLogin(req, res, uid, details);
  if (req.method === 'POST' && action === 'otp') return submitCode(req, res, uid);
  if (req.method === 'GET' && action === 'abort') {
    const result = { error: 'access_denied', error_description: 'the person cancelled the sign-in' };
    return provider.interactionFinished(req, res, result);
  }
  if (req.method !== 'GET' || action) return send(res, 405, page('Not allowed', ''));
  if (details.prompt.name === 'consent') return grantConsent(req, res, details);
  pending.delete(uid);
  return send(res, 200, loginPage(uid, details));
}

const callback = provider.callback();
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|otp|abort))?$/;

const server = createServer(async (req, res) => {
  const match = INTERACTION.exec(new URL(req.url, config.issuer).pathname);
  if (!match) return callback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    console.error(`interaction ${match[1]}: ${error.message}`);
    if (!res.headersSent) send(res, 400, page('Sign-in error', `<p>${escape(error.message)}</p>`));
  }
  return undefined;
});

provider.on('server_error', (_ctx, error) => console.error(`server_error: ${error.stack}`));
server.listen(config.port, config.host ?? '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
