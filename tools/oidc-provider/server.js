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
// Pocket ID has no back-channel logout, so by default neither has this
// provider (and discovery does not announce it). With `backchannel_logout`
// on, clients with a `backchannel_logout_uri` get OpenID Connect Back-Channel
// Logout 1.0 logout tokens when a session ends here.
const BACKCHANNEL_LOGOUT = config.backchannel_logout ?? false;
if (typeof BACKCHANNEL_LOGOUT !== 'boolean') fail('backchannel_logout must be true or false');
// How the token endpoint's ID tokens carry at_hash: "pocket-id" picks the
// digest from the digits of the alg name like Pocket ID (fosite ComputeHash:
// 384 -> SHA-384, 512 -> SHA-512, anything else, EdDSA included -> SHA-256);
// "spec" uses the OpenID Connect working group's reading (EdDSA with Ed25519
// -> SHA-512, what oidc-provider itself does for implicit/hybrid responses).
const AT_HASH_MODES = ['pocket-id', 'spec'];
const AT_HASH = config.at_hash ?? 'pocket-id';
if (!AT_HASH_MODES.includes(AT_HASH)) {
  fail(`at_hash must be one of ${AT_HASH_MODES.join(', ')}, got ${AT_HASH}`);
}
// Pocket ID's INTERNAL_APP_URL: another host name (same port) for the token,
// userinfo, JWKS and introspection endpoints in discovery. Off by default,
// like Pocket ID, where it defaults to APP_URL.
const INTERNAL_HOST = config.internal_host;
if (INTERNAL_HOST !== undefined && !LOOPBACK_HOSTS.has(INTERNAL_HOST) && !/^127\.\d+\.\d+\.\d+$/.test(INTERNAL_HOST)) {
  fail(`internal_host must be a loopback address, got ${INTERNAL_HOST}`);
}
// Pocket ID >= 2.10 sends aud as a one-element array; <= 2.9 as a string.
const AUD_SHAPES = ['array', 'string'];
const ID_TOKEN_AUD = config.id_token_aud ?? 'array';
if (!AUD_SHAPES.includes(ID_TOKEN_AUD)) {
  fail(`id_token_aud must be one of ${AUD_SHAPES.join(', ')}, got ${ID_TOKEN_AUD}`);
}

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
    display_name: user.name, // Pocket ID's own profile claim
    picture: `${issuer}/api/users/${user.sub}/profile-picture.png`,
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
  'introspection', 'interaction', 'login', 'other',
  'backchannel_logout', 'backchannel_logout_failed', // logout tokens sent, and refused or lost
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

// Token endpoint ID tokens, shaped like Pocket ID's ----------------------------

// oidc-provider puts no at_hash into ID tokens from the token endpoint and
// always sends aud as a string; Pocket ID (>= 2.10, fosite) sends both
// at_hash and a one-element aud array. The token endpoint's ID token is
// rewritten and signed again with the same key and header.

function atHashDigest(alg) {
  if (AT_HASH === 'spec') {
    return alg === 'EdDSA' ? 'sha512' : `sha${alg.slice(-3)}`;
  }
  const bits = alg.slice(2);
  if (bits === '384') return 'sha384';
  if (bits === '512') return 'sha512';
  return 'sha256';
}

function leftHalfHash(value, digest) {
  const hash = crypto.createHash(digest).update(value).digest();
  return hash.subarray(0, hash.length / 2).toString('base64url');
}

function signJws(alg, jwk, signingInput) {
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(signingInput);
  const bits = alg.slice(2);
  if (alg.startsWith('RS')) return crypto.sign(`sha${bits}`, data, key);
  if (alg.startsWith('PS')) {
    return crypto.sign(`sha${bits}`, data, {
      key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8,
    });
  }
  if (alg.startsWith('ES')) return crypto.sign(`sha${bits}`, data, { key, dsaEncoding: 'ieee-p1363' });
  return crypto.sign(null, data, key); // EdDSA
}

// oidc-provider's end-session endpoint only understands a string aud in
// id_token_hint: remember which token it signed for each reshaped one.
const MAX_REMEMBERED_ID_TOKENS = 1000;
const originalIdTokens = new Map(); // reshaped -> as oidc-provider signed it

function rememberOriginal(shaped, original) {
  originalIdTokens.set(shaped, original);
  if (originalIdTokens.size > MAX_REMEMBERED_ID_TOKENS) {
    originalIdTokens.delete(originalIdTokens.keys().next().value);
  }
}

function pocketIdShapedIdToken(idToken, accessToken) {
  const [encodedHeader, encodedPayload] = idToken.split('.');
  const header = JSON.parse(Buffer.from(encodedHeader, 'base64url'));
  const payload = JSON.parse(Buffer.from(encodedPayload, 'base64url'));
  const jwk = signingKeys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no signing key with kid ${header.kid}`);
  payload.at_hash = leftHalfHash(accessToken, atHashDigest(header.alg));
  payload.type = 'id-token';
  if (ID_TOKEN_AUD === 'array' && typeof payload.aud === 'string') payload.aud = [payload.aud];
  const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const shaped = `${signingInput}.${signJws(header.alg, jwk, signingInput).toString('base64url')}`;
  rememberOriginal(shaped, idToken);
  return shaped;
}

// Pocket ID lists plain next to S256 (it accepts both; oidc-provider only
// S256), and serves the back-channel endpoints from INTERNAL_APP_URL, which
// can be another host than the issuer.
function pocketIdShapedDiscovery(document) {
  document.code_challenge_methods_supported = ['plain', 'S256'];
  if (!INTERNAL_HOST) return;
  for (const name of ['token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint']) {
    const url = new URL(document[name]);
    url.hostname = INTERNAL_HOST;
    document[name] = url.href;
  }
}

// oidc-provider refuses to send requests to special-use addresses such as
// 127.0.0.1 (SSRF protection). The relying parties of this provider all run
// on loopback, so it sends its back-channel requests there, and nowhere else.
function isLoopbackHost(hostname) {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

async function loopbackOnlyFetch(url, options) {
  const { hostname } = new URL(url);
  if (!isLoopbackHost(hostname)) throw new Error(`not sending to ${hostname}: loopback only`);
  const { dispatcher: _ssrfGuard, ...rest } = options;
  return globalThis.fetch(url, rest);
}

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
  // A disabled user is unknown: the refresh grant then answers invalid_grant, as Pocket ID
  // does for a disabled or deleted user.
  if (!user || user.disabled) return undefined;
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
      profile: ['name', 'preferred_username', 'given_name', 'family_name', 'display_name', 'picture'],
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
    // Pocket ID issues a refresh token with every code (no offline_access needed) and
    // rotates it at every use.
    rotateRefreshToken: true,
    routes: {
      authorization: '/authorize',
      token: '/api/oidc/token',
      userinfo: '/api/oidc/userinfo',
      jwks: '/.well-known/jwks.json',
      end_session: '/api/oidc/end-session',
      introspection: '/api/oidc/introspect',
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
    fetch: loopbackOnlyFetch,
    features: {
      backchannelLogout: { enabled: BACKCHANNEL_LOGOUT },
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: false }, // Pocket ID has no revocation endpoint
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status !== 200 || !ctx.body) return;
    if (ctx.oidc?.route === 'token' && ctx.body.id_token && ctx.body.access_token) {
      ctx.body.id_token = pocketIdShapedIdToken(ctx.body.id_token, ctx.body.access_token);
    } else if (ctx.oidc?.route === 'discovery') {
      pocketIdShapedDiscovery(ctx.body);
    }
  });
  provider.proxy = false;
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  provider.on('backchannel.success', () => { counters.backchannel_logout += 1; });
  provider.on('backchannel.error', (_ctx, err, client) => {
    counters.backchannel_logout += 1;
    counters.backchannel_logout_failed += 1;
    console.error(`back-channel logout to ${client.clientId} failed: ${err.message}`);
  });
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

// Pocket ID (v2.10+, fosite MinParameterEntropy) refuses a state that is
// missing or shorter than 8 characters, and a nonce shorter than 8 characters
// (a missing nonce is allowed in the code flow); the test provider shows the
// error on its own page instead of redirecting back to the client.
function checkShortParams(url) {
  if (!MIN_PARAM_LENGTH) return undefined;
  for (const name of ['state', 'nonce']) {
    const value = url.searchParams.get(name);
    if ((value === null && name === 'state') || (value !== null && value.length < MIN_PARAM_LENGTH)) {
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
    const ok = user && !user.disabled && typeof user.password === 'string' && typeof form.password === 'string'
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
      if (body.disabled !== undefined) {
        if (typeof body.disabled !== 'boolean') {
          sendJson(res, 400, { error: 'disabled must be a boolean' });
          return;
        }
        user.disabled = body.disabled;
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

  const hint = url.searchParams.get('id_token_hint');
  if (pathname.startsWith('/api/oidc/end-session') && originalIdTokens.has(hint)) {
    url.searchParams.set('id_token_hint', originalIdTokens.get(hint));
    req.url = `${pathname}?${url.searchParams}`;
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
  process.stdout.write(`${JSON.stringify({
    ready: true, issuer, port, alg: ALG, at_hash: AT_HASH,
  })}\n`);
});

server.on('error', (err) => fail(`cannot listen: ${err.message}`));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
