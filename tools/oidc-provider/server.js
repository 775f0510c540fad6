// Test/demo OpenID Provider that behaves like Pocket ID, built on panva's
// `oidc-provider`. Usage: node server.js CONFIG.json   (or OIDC_TEST_CONFIG=...)
//
// Everything this process prints on stdout is exactly one JSON "ready" line;
// all diagnostics (including oidc-provider's own notices) go to stderr.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

// oidc-provider prints notices with console.info (stdout). Keep stdout clean
// for the machine-readable ready line.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
console.warn = (...args) => console.error(...args);

const { default: Provider, errors } = await import('oidc-provider');

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

const SUPPORTED_ALGS = {
  RS256: { type: 'rsa', options: { modulusLength: 2048 } },
  RS384: { type: 'rsa', options: { modulusLength: 2048 } },
  RS512: { type: 'rsa', options: { modulusLength: 2048 } },
  PS256: { type: 'rsa', options: { modulusLength: 2048 } },
  ES256: { type: 'ec', options: { namedCurve: 'P-256' } },
  ES384: { type: 'ec', options: { namedCurve: 'P-384' } },
  ES512: { type: 'ec', options: { namedCurve: 'P-521' } },
  EdDSA: { type: 'ed25519', options: {} },
};

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function fail(message) {
  console.error(`oidc-test-provider: ${message}`);
  process.exit(2);
}

const configPath = process.argv[2] || process.env.OIDC_TEST_CONFIG;
if (!configPath) {
  fail('usage: node server.js CONFIG.json (or set OIDC_TEST_CONFIG)');
}

let config;
try {
  config = JSON.parse(fs.readFileSync(path.resolve(configPath), 'utf8'));
} catch (err) {
  fail(`cannot read config ${configPath}: ${err.message}`);
}

const HOST = config.host || '127.0.0.1';
if (!LOOPBACK_HOSTS.has(HOST) && !/^127\.\d+\.\d+\.\d+$/.test(HOST)) {
  fail(`host must be a loopback address, got ${HOST}`);
}
const ALG = config.alg || 'RS256';
if (!SUPPORTED_ALGS[ALG]) {
  fail(`unsupported alg ${ALG}; use one of ${Object.keys(SUPPORTED_ALGS).join(', ')}`);
}
const MIN_PARAM_LENGTH = config.min_state_length ?? 8;
const END_SESSION_CONFIRM = config.end_session_confirm ?? true;

const TTL = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  IdToken: 3600,
  RefreshToken: 30 * 24 * 3600,
  Interaction: 3600,
  Session: 14 * 24 * 3600,
  Grant: 14 * 24 * 3600,
  ...(config.ttl || {}),
};

// Users -------------------------------------------------------------------

const users = new Map(); // username -> user

function deriveNames(user) {
  const out = { ...user };
  if (out.name && out.given_name === undefined && out.family_name === undefined) {
    const [first, ...rest] = String(out.name).split(' ');
    out.given_name = first;
    if (rest.length) out.family_name = rest.join(' ');
  }
  return out;
}

for (const raw of config.users || []) {
  if (!raw.username || !raw.sub) fail('every user needs "sub" and "username"');
  users.set(raw.username, {
    ...raw,
    groups: Array.isArray(raw.groups) ? [...raw.groups] : [],
    _explicitNames: raw.given_name !== undefined || raw.family_name !== undefined,
  });
}

function userBySub(sub) {
  for (const user of users.values()) {
    if (user.sub === sub) return user;
  }
  return undefined;
}

function publicUser(user) {
  const { password, _explicitNames, ...rest } = user;
  return rest;
}

function userClaims(user) {
  const named = user._explicitNames ? user : deriveNames(user);
  const claims = {
    sub: user.sub,
    preferred_username: user.username,
    name: user.name,
    given_name: named.given_name,
    family_name: named.family_name,
    groups: [...(user.groups || [])],
  };
  if (user.email) {
    claims.email = user.email;
    claims.email_verified = user.email_verified ?? true;
  }
  return claims;
}

// Clients -----------------------------------------------------------------

const clients = (config.clients || []).map((c) => ({ ...c }));
if (!clients.length) fail('config needs at least one client');

// Request counters ----------------------------------------------------------

const COUNTER_NAMES = [
  'discovery', 'jwks', 'authorize', 'token', 'userinfo', 'end_session',
  'introspection', 'revocation', 'interaction', 'login', 'other',
];
const counters = {};
function resetCounters() {
  for (const name of COUNTER_NAMES) counters[name] = 0;
}
resetCounters();

function counterFor(pathname) {
  if (pathname === '/.well-known/openid-configuration') return 'discovery';
  if (pathname === '/.well-known/jwks.json') return 'jwks';
  if (pathname === '/authorize' || pathname.startsWith('/authorize/')) return 'authorize';
  if (pathname === '/api/oidc/token') return 'token';
  if (pathname === '/api/oidc/userinfo') return 'userinfo';
  if (pathname.startsWith('/api/oidc/end-session')) return 'end_session';
  if (pathname === '/api/oidc/introspect') return 'introspection';
  if (pathname === '/api/oidc/revoke') return 'revocation';
  if (/^\/interaction\/[^/]+\/(login|cancel)$/.test(pathname)) return 'login';
  if (pathname.startsWith('/interaction/')) return 'interaction';
  return 'other';
}

// Signing keys --------------------------------------------------------------

function generateSigningKey(alg) {
  const { type, options } = SUPPORTED_ALGS[alg];
  // Node 20 can deadlock when a KeyObject returned by generateKeyPairSync is
  // exported as JWK and a GC run collects the finished key generation job
  // meanwhile (both take the same non-recursive key mutex). Let the job encode
  // PEM itself and export the JWK from a separately created KeyObject.
  const { privateKey: pem } = crypto.generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const jwk = crypto.createPrivateKey(pem).export({ format: 'jwk' });
  return {
    ...jwk,
    kid: crypto.randomBytes(12).toString('base64url'),
    use: 'sig',
    alg,
  };
}

const signingKeys = [generateSigningKey(ALG)]; // newest first: it signs

// Cookie signing keys survive provider re-creation (key rotation).
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

function esc(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f4f5;margin:0;padding:40px 0}
main{max-width:360px;margin:0 auto;background:#fff;border-radius:8px;padding:24px 32px;box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-size:1.4em;margin-top:0}label{display:block;margin-top:12px;font-weight:600}
input{width:100%;box-sizing:border-box;padding:8px;margin-top:4px;font-size:1em}
.buttons{margin-top:20px;display:flex;gap:8px}button{flex:1;padding:10px;font-size:1em;cursor:pointer}
.error{color:#b91c1c;background:#fee2e2;padding:8px;border-radius:4px}.client{color:#52525b}`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function loginPage({ uid, clientName, username = '', error }) {
  return page('Test Identity Provider', `<h1>Test Identity Provider</h1>
<p class="client">Sign in to continue to <strong id="client-name">${esc(clientName)}</strong></p>
${error ? `<p class="error" id="error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" type="text" value="${esc(username)}" autocapitalize="none" autofocus>
<label for="password">Password</label>
<input id="password" type="password" name="password">
<div class="buttons">
<button type="submit" id="sign-in" name="action" value="login">Sign in</button>
<button type="submit" id="cancel" name="action" value="cancel" formaction="/interaction/${esc(uid)}/cancel">Cancel</button>
</div>
</form>`);
}

function errorPage(error, description) {
  return page('Test Identity Provider - Error', `<h1>Test Identity Provider</h1>
<p class="error" id="error" role="alert"><strong id="error-code">${esc(error)}</strong>${
  description ? `: <span id="error-description">${esc(description)}</span>` : ''}</p>`);
}

// ---------------------------------------------------------------------------
// oidc-provider configuration
// ---------------------------------------------------------------------------

async function findAccount(_ctx, sub) {
  const user = userBySub(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    // Read the user at claim time so runtime changes (/test/users) show up
    // on the next token/userinfo response.
    async claims() {
      const current = userBySub(sub) || user;
      return userClaims(current);
    },
  };
}

function checkAllowedGroups(client, accountId) {
  const allowed = client.allowed_groups;
  if (!Array.isArray(allowed) || !allowed.length) return;
  const user = userBySub(accountId);
  const groups = user?.groups || [];
  if (!groups.some((g) => allowed.includes(g))) {
    throw new errors.AccessDenied('You are not allowed to access this service');
  }
}

// First-party clients: never show a consent screen. Create (or extend) the
// grant with whatever was requested.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const accountId = oidc.session.accountId;
  checkAllowedGroups(oidc.client, accountId);

  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant;
  if (grantId) {
    grant = await oidc.provider.Grant.find(grantId);
    if (grant && (grant.accountId !== accountId || grant.clientId !== oidc.client.clientId)) {
      grant = undefined;
    }
  }
  if (!grant) {
    grant = new oidc.provider.Grant({ accountId, clientId: oidc.client.clientId });
  }
  const scopes = [...oidc.requestParamOIDCScopes].join(' ');
  if (scopes) grant.addOIDCScope(scopes);
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

async function logoutSource(ctx, form) {
  ctx.type = 'html';
  const auto = END_SESSION_CONFIRM ? '' : `<script>
document.getElementById('op.logoutForm').insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');
document.getElementById('op.logoutForm').submit();
</script>`;
  ctx.body = page('Test Identity Provider - Sign out', `<h1>Test Identity Provider</h1>
<p>Do you want to sign out?</p>
${form}
<div class="buttons">
<button type="submit" id="logout" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>
<button type="submit" id="stay" form="op.logoutForm">Stay signed in</button>
</div>
${auto}`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Test Identity Provider - Signed out', `<h1>Test Identity Provider</h1>
<p id="signed-out">You have been signed out.</p>`);
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = errorPage(out.error, out.error_description);
}

function buildProvider(issuer, port) {
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({ ...c })),
    jwks: { keys: signingKeys.map((k) => ({ ...k })) },
    findAccount,
    loadExistingGrant,
    renderError,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access'], // profile/email/groups come from `claims`
    conformIdTokenClaims: false, // like Pocket ID: scope claims in the ID token too
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: ALG,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    extraClientMetadata: {
      properties: ['allowed_groups', 'pkce_required'],
      validator(_ctx, key, value) {
        if (key === 'allowed_groups' && value !== undefined
          && !(Array.isArray(value) && value.every((g) => typeof g === 'string'))) {
          throw new errors.InvalidClientMetadata('allowed_groups must be an array of strings');
        }
        if (key === 'pkce_required' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('pkce_required must be a boolean');
        }
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: [ALG],
      userinfoSigningAlgValues: [ALG],
      introspectionSigningAlgValues: [ALG],
      authorizationSigningAlgValues: [ALG],
    },
    pkce: {
      required: (_ctx, client) => client.clientAuthMethod === 'none' || client.pkce_required === true,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    routes: {
      authorization: '/authorize',
      token: '/api/oidc/token',
      userinfo: '/api/oidc/userinfo',
      jwks: '/.well-known/jwks.json',
      end_session: '/api/oidc/end-session',
      introspection: '/api/oidc/introspect',
      revocation: '/api/oidc/revoke',
    },
    ttl: TTL,
    cookies: {
      // Cookies are not port-isolated: include the port so several test
      // providers on 127.0.0.1 (and the RP) do not clash.
      names: {
        session: `tip${port}_session`,
        interaction: `tip${port}_interaction`,
        resume: `tip${port}_interaction_resume`,
      },
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
  });
  provider.proxy = false;
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  return { provider, handler: provider.callback() };
}

// ---------------------------------------------------------------------------
// HTTP front handler
// ---------------------------------------------------------------------------

let current; // { provider, handler }
let issuer;
let port;

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
  });
  res.end(html);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readForm(req) {
  return Object.fromEntries(new URLSearchParams(await readBody(req)));
}

async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  return JSON.parse(text);
}

// Pocket ID (v2.10+) refuses state / nonce values shorter than 8 characters
// at the authorization endpoint; it shows the error on its own page instead
// of redirecting back to the client.
function checkShortParams(url) {
  if (!MIN_PARAM_LENGTH) return undefined;
  for (const name of ['state', 'nonce']) {
    const value = url.searchParams.get(name);
    if (value !== null && value.length < MIN_PARAM_LENGTH) {
      return `${name} must be at least ${MIN_PARAM_LENGTH} characters long`;
    }
  }
  return undefined;
}

async function handleInteraction(req, res, uid, action) {
  const { provider } = current;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      sendHtml(res, 400, errorPage('invalid_request', 'interaction session not found or expired; start the sign-in again'));
      return;
    }
    throw err;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage('invalid_request', 'interaction mismatch; start the sign-in again'));
    return;
  }

  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName || details.params.client_id;
  const { prompt } = details;

  if (action === 'cancel' && req.method === 'POST') {
    await readBody(req);
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (prompt.name === 'consent') {
    // Never shown: grant everything requested (first-party clients).
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant) {
      grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    }
    const d = prompt.details || {};
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    const grantId = await grant.save();
    if (req.method === 'POST') await readBody(req);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }

  if (prompt.name !== 'login') {
    sendHtml(res, 400, errorPage('invalid_request', `unsupported prompt ${prompt.name}`));
    return;
  }

  if (action === 'login' && req.method === 'POST') {
    const form = await readForm(req);
    if (form.action === 'cancel') {
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
      return;
    }
    const user = users.get(form.username || '');
    const ok = user && typeof user.password === 'string' && typeof form.password === 'string'
      && user.password.length === form.password.length
      && crypto.timingSafeEqual(Buffer.from(user.password), Buffer.from(form.password));
    if (!ok) {
      sendHtml(res, 200, loginPage({
        uid, clientName, username: form.username, error: 'Invalid username or password',
      }));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: user.sub },
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendHtml(res, 405, errorPage('invalid_request', 'method not allowed'));
    return;
  }
  sendHtml(res, 200, loginPage({ uid, clientName, username: details.params.login_hint || '' }));
}

async function handleControl(req, res, pathname) {
  if (pathname === '/test/health' && req.method === 'GET') {
    sendJson(res, 200, { ok: true });
    return;
  }
  if (pathname === '/test/requests' && req.method === 'GET') {
    sendJson(res, 200, { ...counters });
    return;
  }
  if (pathname === '/test/reset-counters' && req.method === 'POST') {
    await readBody(req);
    resetCounters();
    sendJson(res, 200, { ok: true, counters: { ...counters } });
    return;
  }
  if (pathname === '/test/users' && req.method === 'GET') {
    sendJson(res, 200, [...users.values()].map(publicUser));
    return;
  }
  const userMatch = pathname.match(/^\/test\/users\/([^/]+)$/);
  if (userMatch) {
    const username = decodeURIComponent(userMatch[1]);
    const user = users.get(username);
    if (req.method === 'POST') {
      let body;
      try {
        body = await readJson(req);
      } catch {
        sendJson(res, 400, { error: 'invalid JSON body' });
        return;
      }
      if (!user) {
        sendJson(res, 404, { error: `unknown user ${username}` });
        return;
      }
      if (body.groups !== undefined) {
        if (!Array.isArray(body.groups) || !body.groups.every((g) => typeof g === 'string')) {
          sendJson(res, 400, { error: 'groups must be an array of strings' });
          return;
        }
        user.groups = [...body.groups];
      }
      for (const key of ['name', 'email', 'email_verified', 'password', 'given_name', 'family_name']) {
        if (body[key] !== undefined) user[key] = body[key] === null ? undefined : body[key];
      }
      if (body.given_name !== undefined || body.family_name !== undefined) user._explicitNames = true;
      sendJson(res, 200, publicUser(user));
      return;
    }
    if (req.method === 'GET') {
      if (!user) sendJson(res, 404, { error: `unknown user ${username}` });
      else sendJson(res, 200, publicUser(user));
      return;
    }
  }
  if (pathname === '/test/rotate-keys' && req.method === 'POST') {
    let body = {};
    try {
      body = await readJson(req);
    } catch {
      sendJson(res, 400, { error: 'invalid JSON body' });
      return;
    }
    const key = generateSigningKey(ALG);
    if (body.keep_old === false) signingKeys.length = 0;
    signingKeys.unshift(key);
    // The keystore of an oidc-provider instance is fixed at construction:
    // re-create the Provider. The in-memory adapter storage is module-global,
    // so sessions, grants and tokens survive.
    current = buildProvider(issuer, port);
    sendJson(res, 200, { ok: true, kid: key.kid, kids: signingKeys.map((k) => k.kid) });
    return;
  }
  sendJson(res, 404, { error: 'not found' });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const { pathname } = url;

  if (pathname.startsWith('/test/')) {
    await handleControl(req, res, pathname);
    return;
  }

  counters[counterFor(pathname)] += 1;

  if (!current) {
    sendJson(res, 503, { error: 'starting' });
    return;
  }

  if (pathname === '/authorize') {
    const problem = checkShortParams(url);
    if (problem) {
      sendHtml(res, 400, errorPage('invalid_request', problem));
      return;
    }
  }

  const m = pathname.match(/^\/interaction\/([^/]+)(?:\/(login|cancel))?$/);
  if (m) {
    await handleInteraction(req, res, m[1], m[2]);
    return;
  }

  if (pathname === '/' && req.method === 'GET') {
    sendHtml(res, 200, page('Test Identity Provider', `<h1>Test Identity Provider</h1>
<p>Issuer: <code>${esc(issuer)}</code></p>
<p><a href="/.well-known/openid-configuration">OpenID configuration</a></p>`));
    return;
  }

  current.handler(req, res);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('request failed', err);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err.message || err) });
    else res.destroy();
  });
});

server.listen(config.port ?? 0, HOST, () => {
  port = server.address().port;
  const hostForUrl = HOST.includes(':') && !HOST.startsWith('[') ? `[${HOST}]` : HOST;
  issuer = !config.issuer || config.issuer === 'auto'
    ? `http://${hostForUrl}:${port}`
    : config.issuer.replace(/\/+$/, '');
  console.error(`oidc-test-provider: listening on ${HOST}:${port}, issuer ${issuer}, alg ${ALG}`);
  try {
    current = buildProvider(issuer, port);
  } catch (err) {
    fail(`invalid configuration: ${err.message}`);
  }
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, port, alg: ALG })}\n`);
});

server.on('error', (err) => fail(`cannot listen: ${err.message}`));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
