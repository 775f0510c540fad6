// Self-check for server.js: starts the provider once per signing algorithm and
// runs complete authorization code flows over HTTP. No dependencies.
// Usage: node selftest.mjs [ALG ...]      (default: RS256 ES256 EdDSA, then EdDSA
// again with the "spec" at_hash, a string aud and an internal host; also RS384
// RS512 PS256 ES384 ES512)

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ALGS = process.argv.slice(2).length ? process.argv.slice(2) : ['RS256', 'ES256', 'EdDSA'];
// The other switches of the Pocket-ID-like defaults, tried once on EdDSA.
const VARIANT = { at_hash: 'spec', id_token_aud: 'string', internal_host: 'localhost' };
const REDIRECT_URI = 'http://127.0.0.1:8123/auth/oidc/callback';
const POST_LOGOUT_URI = 'http://127.0.0.1:8123/';

const ALICE = '8f7c2b1e-4a3d-4e5f-9b6a-1c2d3e4f5a60';
const BOB = '2b9d6c4a-7e1f-4c3b-8a5d-6e7f8091a2b3';
const CAROL = 'c4e8a2d6-1b3f-4d5e-a7c9-0e2f4a6b8d10';

let passed = 0;
let failed = 0;

class CheckError extends Error {}
function assert(condition, message) {
  if (!condition) throw new CheckError(message);
}
function assertEq(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new CheckError(`${message}: expected ${e}, got ${a}`);
}

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${name}: ${err instanceof CheckError ? err.message : err.stack}`);
  }
}

// --- helpers ----------------------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const random = (n = 16) => b64url(crypto.randomBytes(n));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

class Jar {
  cookies = new Map();

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=.*1970/i.test(a) || /^\s*max-age=0\b/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function http(url, { method = 'GET', jar, form, json, headers = {} } = {}) {
  const h = { ...headers };
  if (jar && jar.cookies.size) h.cookie = jar.header();
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  } else if (json) {
    body = JSON.stringify(json);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(url, { method, headers: h, body, redirect: 'manual' });
  if (jar) jar.store(res);
  const text = await res.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  return {
    status: res.status, headers: res.headers, text, json: data, location: res.headers.get('location'),
  };
}

function decodeJwt(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
  };
}

function verifyJwt(token, jwks) {
  const [h, p, s] = token.split('.');
  const { header } = decodeJwt(token);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert(jwk, `no JWKS key with kid ${header.kid}`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  let ok;
  switch (header.alg) {
    case 'RS256': case 'RS384': case 'RS512':
      ok = crypto.verify(`sha${header.alg.slice(2)}`, data, key, sig); break;
    case 'PS256':
      ok = crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig); break;
    case 'ES256': case 'ES384': case 'ES512':
      ok = crypto.verify(`sha${header.alg.slice(2)}`, data, { key, dsaEncoding: 'ieee-p1363' }, sig); break;
    case 'EdDSA': ok = crypto.verify(null, data, key, sig); break;
    default: throw new CheckError(`unexpected alg ${header.alg}`);
  }
  assert(ok, 'ID token signature does not verify');
}

// --- provider process ---------------------------------------------------------

async function startProvider(config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-test-provider-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [path.join(HERE, 'server.js'), file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    let settled = false;
    const settle = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
        reject(err);
      } else {
        resolve(value);
      }
    };
    // A short grace period after the deadline: if the whole machine was paused,
    // the deadline can pass before the child had a chance to run.
    const timer = setTimeout(() => {
      setTimeout(() => settle(new Error(`provider not ready in time\n${stderr}`)), 3000).unref();
    }, 30000);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      try {
        settle(undefined, JSON.parse(buf.slice(0, nl)));
      } catch {
        settle(new Error(`bad ready line ${buf.slice(0, nl)}`));
      }
    });
    child.on('exit', (code) => settle(new Error(`provider exited with ${code}\n${stderr}`)));
  });
  return {
    ready,
    getStderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => { if (child.exitCode !== null) r(); else child.on('exit', r); });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function makeConfig(alg, port, issuer, options) {
  const demo = JSON.parse(fs.readFileSync(path.join(HERE, 'demo-config.json'), 'utf8'));
  return {
    ...demo,
    ...options,
    port,
    issuer,
    alg,
    clients: [
      ...demo.clients,
      {
        client_id: 'post-client',
        client_secret: 'post-client-secret-value',
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [REDIRECT_URI],
      },
      {
        client_id: 'admins-only',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        allowed_groups: ['admins'],
      },
    ],
  };
}

// --- flows --------------------------------------------------------------------

// Runs /authorize -> login page -> redirect_uri. Returns the callback params,
// or { loginPage } when the login form rejected the credentials.
async function authorize(issuer, {
  clientId = 'home-assistant', scope = 'openid profile email groups', username, password,
  jar = new Jar(), pkce = true, action = 'login', state = random(12), nonce = random(12),
  expectLoginPage, extra = {},
}) {
  const verifier = random(32);
  const params = new URLSearchParams({
    client_id: clientId, redirect_uri: REDIRECT_URI, response_type: 'code', scope, state, nonce, ...extra,
  });
  if (pkce) {
    params.set('code_challenge', b64url(crypto.createHash('sha256').update(verifier).digest()));
    params.set('code_challenge_method', 'S256');
  }
  let url = `${issuer}/authorize?${params}`;
  let res = await http(url, { jar });
  let sawLogin = false;
  for (let i = 0; i < 10; i += 1) {
    if ([302, 303].includes(res.status)) {
      const next = new URL(res.location, url).href;
      if (next.startsWith(REDIRECT_URI)) {
        if (expectLoginPage !== undefined) assertEq(sawLogin, expectLoginPage, 'login page shown');
        const cb = Object.fromEntries(new URL(next).searchParams);
        return {
          ...cb, sentState: state, nonce, verifier, jar,
        };
      }
      url = next;
      res = await http(url, { jar });
    } else if (res.status === 200 && res.text.includes('id="login-form"')) {
      sawLogin = true;
      const uid = new URL(url).pathname.split('/')[2];
      if (action === 'cancel') {
        res = await http(`${issuer}/interaction/${uid}/cancel`, { method: 'POST', jar, form: { action: 'cancel' } });
      } else {
        res = await http(`${issuer}/interaction/${uid}/login`, {
          method: 'POST', jar, form: { username, password, action: 'login' },
        });
        if (res.status === 200) return { loginPage: res.text, jar };
      }
      url = `${issuer}/interaction/${uid}/login`;
    } else {
      throw new CheckError(`unexpected response ${res.status} at ${url}: ${res.text.slice(0, 300)}`);
    }
  }
  throw new CheckError('too many redirects');
}

async function exchange(issuer, cb, { clientId = 'home-assistant', secret, method = 'none', pkce = true } = {}) {
  const form = { grant_type: 'authorization_code', code: cb.code, redirect_uri: REDIRECT_URI };
  const headers = {};
  if (pkce) form.code_verifier = cb.verifier;
  if (method === 'none') form.client_id = clientId;
  if (method === 'client_secret_basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  }
  if (method === 'client_secret_post') Object.assign(form, { client_id: clientId, client_secret: secret });
  return http(`${issuer}/api/oidc/token`, { method: 'POST', form, headers });
}

// The at_hash digest each mode must use, written out rather than derived.
const AT_HASH_DIGESTS = {
  'pocket-id': {
    RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', EdDSA: 'sha256',
    RS384: 'sha384', ES384: 'sha384', RS512: 'sha512', ES512: 'sha512',
  },
  spec: {
    RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', EdDSA: 'sha512',
    RS384: 'sha384', ES384: 'sha384', RS512: 'sha512', ES512: 'sha512',
  },
};

function leftHalf(digest, value) {
  const hash = crypto.createHash(digest).update(value).digest();
  return b64url(hash.subarray(0, hash.length / 2));
}

// --- checks -----------------------------------------------------------------------

async function runFor(alg, portMode, options = {}) {
  const port = portMode === 'fixed' ? await freePort() : 0;
  const provider = await startProvider(
    makeConfig(alg, port, portMode === 'fixed' ? `http://127.0.0.1:${port}` : 'auto', options),
  );
  const { issuer } = provider.ready;
  const atHashMode = options.at_hash ?? 'pocket-id';
  const audOf = (clientId) => (options.id_token_aud === 'string' ? clientId : [clientId]);
  const backChannel = options.internal_host ? issuer.replace('127.0.0.1', options.internal_host) : issuer;
  const P = (name) => `[${alg}${options.at_hash ? ' variant' : ''}] ${name}`;
  try {
    await check(P(`ready line (${portMode} port)`), async () => {
      assertEq(provider.ready.ready, true, 'ready');
      assertEq(provider.ready.at_hash, atHashMode, 'at_hash mode');
      assert(Number.isInteger(provider.ready.port) && provider.ready.port > 0, 'port');
      assertEq(issuer, `http://127.0.0.1:${provider.ready.port}`, 'issuer');
      if (portMode === 'fixed') assertEq(provider.ready.port, port, 'fixed port');
    });

    await check(P('health'), async () => {
      const r = await http(`${issuer}/test/health`);
      assertEq([r.status, r.json], [200, { ok: true }], 'health');
    });

    let jwks;
    await check(P('discovery looks like Pocket ID'), async () => {
      const r = await http(`${issuer}/.well-known/openid-configuration`);
      assertEq(r.status, 200, 'status');
      const d = r.json;
      assertEq(d.issuer, issuer, 'issuer');
      assertEq(d.authorization_endpoint, `${issuer}/authorize`, 'authorization_endpoint');
      assertEq(d.token_endpoint, `${backChannel}/api/oidc/token`, 'token_endpoint');
      assertEq(d.userinfo_endpoint, `${backChannel}/api/oidc/userinfo`, 'userinfo_endpoint');
      assertEq(d.jwks_uri, `${backChannel}/.well-known/jwks.json`, 'jwks_uri');
      assertEq(d.introspection_endpoint, `${backChannel}/api/oidc/introspect`, 'introspection_endpoint');
      assertEq(d.end_session_endpoint, `${issuer}/api/oidc/end-session`, 'end_session_endpoint');
      assertEq(d.id_token_signing_alg_values_supported, [alg], 'id_token_signing_alg_values_supported');
      assertEq(d.code_challenge_methods_supported, ['plain', 'S256'], 'code_challenge_methods_supported');
      assert(!('revocation_endpoint' in d), 'no revocation_endpoint');
      assertEq(d.authorization_response_iss_parameter_supported, true, 'iss parameter');
      for (const s of ['openid', 'profile', 'email', 'groups', 'offline_access']) {
        assert(d.scopes_supported.includes(s), `scope ${s} supported`);
      }
      for (const c of ['groups', 'display_name', 'picture', 'preferred_username']) {
        assert(d.claims_supported.includes(c), `${c} claim supported`);
      }
    });

    await check(P('JWKS has exactly one public key'), async () => {
      const r = await http(`${issuer}/.well-known/jwks.json`);
      jwks = r.json;
      assertEq(jwks.keys.length, 1, 'key count');
      const [k] = jwks.keys;
      assertEq([k.alg, k.use], [alg, 'sig'], 'alg/use');
      assert(typeof k.kid === 'string' && k.kid.length > 0, 'kid');
      assert(k.d === undefined && k.p === undefined, 'no private parts');
    });

    await check(P('login page HTML'), async () => {
      const jar = new Jar();
      const params = new URLSearchParams({
        client_id: 'home-assistant', redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid',
        state: random(), code_challenge: random(32), code_challenge_method: 'S256',
      });
      const r1 = await http(`${issuer}/authorize?${params}`, { jar });
      assertEq(r1.status, 303, 'authorize redirects');
      assert(/^\/interaction\/[^/]+$/.test(new URL(r1.location, issuer).pathname), 'to /interaction/:uid');
      const r2 = await http(new URL(r1.location, issuer).href, { jar });
      assertEq(r2.status, 200, 'status');
      for (const needle of ['<title>Test Identity Provider</title>', '<label for="username">Username</label>',
        '<input id="username" name="username"', '<label for="password">Password</label>',
        '<input id="password" type="password" name="password">', '>Sign in</button>', '>Cancel</button>']) {
        assert(r2.text.includes(needle), `page contains ${needle}`);
      }
    });

    let aliceCb;
    let aliceTokens;
    await check(P('public client: wrong password re-renders with error'), async () => {
      const r = await authorize(issuer, { username: 'alice', password: 'wrong' });
      assert(r.loginPage, 'login page returned');
      assert(r.loginPage.includes('Invalid username or password'), 'error message');
      assert(r.loginPage.includes('id="username"'), 'form still there');
    });

    await check(P('public client: code + PKCE flow, iss and state in callback'), async () => {
      aliceCb = await authorize(issuer, {
        username: 'alice', password: 'alice-password', state: 'abcdefgh', scope: 'openid profile email groups offline_access',
      });
      assert(aliceCb.code, `code in callback ${JSON.stringify(aliceCb)}`);
      assertEq(aliceCb.state, 'abcdefgh', 'state (exactly 8 chars is accepted)');
      assertEq(aliceCb.iss, issuer, 'iss (RFC 9207)');
    });

    await check(P('public client: token exchange and ID token'), async () => {
      const r = await exchange(backChannel, aliceCb);
      assertEq(r.status, 200, `token status ${r.text}`);
      aliceTokens = r.json;
      assertEq(aliceTokens.token_type, 'Bearer', 'token_type');
      assertEq(aliceTokens.expires_in, 3600, 'expires_in');
      assert(aliceTokens.access_token && aliceTokens.refresh_token, 'access + refresh token');
      const { header, payload } = decodeJwt(aliceTokens.id_token);
      assertEq(header.alg, alg, 'ID token alg');
      assertEq(header.kid, jwks.keys[0].kid, 'ID token kid');
      verifyJwt(aliceTokens.id_token, jwks);
      assertEq(payload.iss, issuer, 'iss');
      assertEq(payload.aud, audOf('home-assistant'), 'aud');
      const digest = AT_HASH_DIGESTS[atHashMode][alg];
      assertEq(payload.at_hash, leftHalf(digest, aliceTokens.access_token), `at_hash (${atHashMode}: ${digest})`);
      assertEq(payload.sub, ALICE, 'sub');
      assertEq(payload.nonce, aliceCb.nonce, 'nonce');
      assertEq(payload.exp - payload.iat, 3600, 'ID token lifetime');
      assertEq(payload.preferred_username, 'alice', 'preferred_username');
      assertEq(payload.name, 'Alice Admin', 'name');
      assertEq([payload.given_name, payload.family_name], ['Alice', 'Admin'], 'given/family name');
      assertEq(payload.display_name, 'Alice Admin', 'display_name');
      assertEq(payload.picture, `${issuer}/api/users/${ALICE}/profile-picture.png`, 'picture');
      assertEq(payload.type, 'id-token', 'type');
      assertEq([payload.email, payload.email_verified], ['alice@example.com', true], 'email');
      assertEq(payload.groups, ['admins', 'users'], 'groups');
    });

    await check(P('userinfo'), async () => {
      const r = await http(`${issuer}/api/oidc/userinfo`, { headers: { authorization: `Bearer ${aliceTokens.access_token}` } });
      assertEq(r.status, 200, `userinfo ${r.text}`);
      assertEq(r.json.sub, ALICE, 'sub');
      assertEq(r.json.groups, ['admins', 'users'], 'groups');
      assertEq(r.json.email, 'alice@example.com', 'email');
      assertEq(r.json.preferred_username, 'alice', 'preferred_username');
    });

    await check(P('refresh token grant'), async () => {
      const r = await http(`${issuer}/api/oidc/token`, {
        method: 'POST',
        form: { grant_type: 'refresh_token', refresh_token: aliceTokens.refresh_token, client_id: 'home-assistant' },
      });
      assertEq(r.status, 200, `refresh ${r.text}`);
      assert(r.json.access_token && r.json.id_token && r.json.refresh_token, 'new tokens');
      verifyJwt(r.json.id_token, jwks);
      const { payload } = decodeJwt(r.json.id_token);
      assertEq(payload.groups, ['admins', 'users'], 'groups after refresh');
      const digest = AT_HASH_DIGESTS[atHashMode][alg];
      assertEq(payload.at_hash, leftHalf(digest, r.json.access_token), 'at_hash after refresh');
      assertEq(payload.aud, audOf('home-assistant'), 'aud after refresh');
    });

    await check(P('code cannot be redeemed twice'), async () => {
      const r = await exchange(issuer, aliceCb);
      assertEq([r.status, r.json?.error], [400, 'invalid_grant'], 'second redemption');
      // code replay revokes what the code produced
      const u = await http(`${issuer}/api/oidc/userinfo`, { headers: { authorization: `Bearer ${aliceTokens.access_token}` } });
      assertEq(u.status, 401, 'access token revoked after code replay');
    });

    await check(P('public client without PKCE is refused'), async () => {
      const r = await authorize(issuer, { username: 'alice', password: 'alice-password', pkce: false });
      assertEq(r.error, 'invalid_request', `error ${JSON.stringify(r)}`);
      assertEq(r.iss, issuer, 'iss on error response');
    });

    await check(P('confidential client (client_secret_basic), refresh token without offline_access'), async () => {
      const cb = await authorize(issuer, {
        clientId: 'home-assistant-confidential', username: 'bob', password: 'bob-password', pkce: false,
      });
      assert(cb.code, 'code');
      const r = await exchange(issuer, cb, {
        clientId: 'home-assistant-confidential', secret: 'home-assistant-confidential-secret', method: 'client_secret_basic', pkce: false,
      });
      assertEq(r.status, 200, `token ${r.text}`);
      assert(r.json.refresh_token, 'refresh token issued');
      const { header, payload } = decodeJwt(r.json.id_token);
      assertEq(header.alg, alg, 'alg');
      verifyJwt(r.json.id_token, jwks);
      assertEq([payload.sub, payload.aud, payload.groups], [BOB, audOf('home-assistant-confidential'), ['users']], 'claims');
      const bad = await exchange(issuer, cb, {
        clientId: 'home-assistant-confidential', secret: 'wrong', method: 'client_secret_basic', pkce: false,
      });
      assertEq([bad.status, bad.json?.error], [401, 'invalid_client'], 'wrong secret');
    });

    await check(P('confidential client (client_secret_post) with PKCE'), async () => {
      const cb = await authorize(issuer, { clientId: 'post-client', username: 'bob', password: 'bob-password' });
      const r = await exchange(issuer, cb, {
        clientId: 'post-client', secret: 'post-client-secret-value', method: 'client_secret_post',
      });
      assertEq(r.status, 200, `token ${r.text}`);
      assertEq(decodeJwt(r.json.id_token).payload.sub, BOB, 'sub');
    });

    await check(P('user without email and groups'), async () => {
      const cb = await authorize(issuer, { username: 'carol', password: 'carol-password' });
      const r = await exchange(issuer, cb);
      const { payload } = decodeJwt(r.json.id_token);
      assertEq(payload.sub, CAROL, 'sub');
      assertEq(payload.groups, [], 'groups is []');
      assert(!('email' in payload) && !('email_verified' in payload), 'no email claims');
      assertEq(payload.name, 'Carol Outsider', 'name');
    });

    await check(P('groups claim absent without groups scope'), async () => {
      const cb = await authorize(issuer, { username: 'alice', password: 'alice-password', scope: 'openid profile' });
      const r = await exchange(issuer, cb);
      const { payload } = decodeJwt(r.json.id_token);
      assert(!('groups' in payload), 'no groups');
      assert(!('email' in payload), 'no email');
      assertEq(payload.preferred_username, 'alice', 'profile claims present');
      const u = await http(`${issuer}/api/oidc/userinfo`, { headers: { authorization: `Bearer ${r.json.access_token}` } });
      assert(!('groups' in u.json), 'no groups in userinfo');
    });

    await check(P('prompt=consent and prompt=login never show a consent page'), async () => {
      const jar = new Jar();
      const cb = await authorize(issuer, {
        username: 'alice', password: 'alice-password', jar, scope: 'openid groups offline_access',
        extra: { prompt: 'consent' }, expectLoginPage: true,
      });
      assert(cb.code, `code ${JSON.stringify(cb)}`);
      const t = await exchange(issuer, cb);
      assert(t.json.refresh_token, 'refresh token with prompt=consent');
      assertEq(t.json.scope.split(' ').sort(), ['groups', 'offline_access', 'openid'], 'granted scope');
      const again = await authorize(issuer, {
        username: 'alice', password: 'alice-password', jar, extra: { prompt: 'login' }, expectLoginPage: true,
      });
      assert(again.code, 'code after prompt=login');
    });

    await check(P('missing state refused, missing nonce accepted'), async () => {
      const base = {
        client_id: 'home-assistant', redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid',
        code_challenge: random(32), code_challenge_method: 'S256',
      };
      const r = await http(`${issuer}/authorize?${new URLSearchParams({ ...base, nonce: random() })}`);
      assertEq(r.status, 400, 'no state');
      assert(r.text.includes('state must be at least 8 characters'), 'state message');
      const ok = await http(`${issuer}/authorize?${new URLSearchParams({ ...base, state: random() })}`);
      assertEq(ok.status, 303, 'no nonce goes on to the login page');
    });

    await check(P('state or nonce shorter than 8 characters refused'), async () => {
      for (const [name, value] of [['state', 'short'], ['nonce', '1234567']]) {
        const params = new URLSearchParams({
          client_id: 'home-assistant', redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid',
          state: random(), nonce: random(), code_challenge: random(32), code_challenge_method: 'S256', [name]: value,
        });
        const r = await http(`${issuer}/authorize?${params}`);
        assertEq(r.status, 400, `${name} status`);
        assert(r.text.includes('invalid_request') && r.text.includes(`${name} must be at least 8 characters`), `${name} message`);
      }
    });

    await check(P('cancel gives access_denied at the callback'), async () => {
      const cb = await authorize(issuer, { action: 'cancel' });
      assertEq([cb.error, cb.error_description], ['access_denied', 'End-User aborted interaction'], 'error');
      assertEq(cb.state, cb.sentState, 'state');
      assertEq(cb.iss, issuer, 'iss');
    });

    await check(P('allowed_groups: outsider denied, admin allowed'), async () => {
      const denied = await authorize(issuer, { clientId: 'admins-only', username: 'carol', password: 'carol-password' });
      assertEq(denied.error, 'access_denied', `carol ${JSON.stringify(denied)}`);
      const ok = await authorize(issuer, { clientId: 'admins-only', username: 'alice', password: 'alice-password' });
      assert(ok.code, 'alice gets a code');
    });

    await check(P('refresh tokens rotate; a disabled user gets invalid_grant'), async () => {
      const refresh = (token) => http(`${issuer}/api/oidc/token`, {
        method: 'POST',
        form: { grant_type: 'refresh_token', refresh_token: token, client_id: 'home-assistant' },
      });
      const login = await authorize(issuer, { username: 'bob', password: 'bob-password', expectLoginPage: true });
      const first = (await exchange(issuer, login)).json.refresh_token;
      const rotated = await refresh(first);
      assertEq(rotated.status, 200, `refresh ${rotated.text}`);
      assert(rotated.json.refresh_token && rotated.json.refresh_token !== first, 'rotated');
      const spent = await refresh(first);
      assertEq([spent.status, spent.json?.error], [400, 'invalid_grant'], 'spent token');

      const off = await http(`${issuer}/test/users/bob`, { method: 'POST', json: { disabled: true } });
      assertEq([off.status, off.json.disabled], [200, true], 'disable');
      const refused = await refresh(rotated.json.refresh_token);
      assertEq([refused.status, refused.json?.error], [400, 'invalid_grant'], 'disabled user');
      const bad = await http(`${issuer}/test/users/bob`, { method: 'POST', json: { disabled: 'yes' } });
      assertEq(bad.status, 400, 'disabled must be a boolean');
      await http(`${issuer}/test/users/bob`, { method: 'POST', json: { disabled: false } });
    });

    await check(P('/test/users changes the groups claim on next login'), async () => {
      const jar = new Jar();
      const first = await authorize(issuer, { username: 'bob', password: 'bob-password', jar, expectLoginPage: true });
      assertEq(decodeJwt((await exchange(issuer, first)).json.id_token).payload.groups, ['users'], 'before');

      const u = await http(`${issuer}/test/users/bob`, { method: 'POST', json: { groups: ['admins', 'users'], name: 'Bob Boss' } });
      assertEq(u.status, 200, 'update status');
      assertEq([u.json.groups, u.json.name, u.json.password], [['admins', 'users'], 'Bob Boss', undefined], 'update body');

      const fresh = await authorize(issuer, { username: 'bob', password: 'bob-password', expectLoginPage: true });
      const p1 = decodeJwt((await exchange(issuer, fresh)).json.id_token).payload;
      assertEq([p1.groups, p1.name], [['admins', 'users'], 'Bob Boss'], 'after, fresh login');

      const sso = await authorize(issuer, { jar, expectLoginPage: false });
      assertEq(decodeJwt((await exchange(issuer, sso)).json.id_token).payload.groups, ['admins', 'users'], 'after, existing session');

      const missing = await http(`${issuer}/test/users/nobody`, { method: 'POST', json: { groups: [] } });
      assertEq(missing.status, 404, 'unknown user');
      await http(`${issuer}/test/users/bob`, { method: 'POST', json: { groups: ['users'], name: 'Bob User' } });
    });

    await check(P('request counters'), async () => {
      const reset = await http(`${issuer}/test/reset-counters`, { method: 'POST' });
      assertEq(reset.status, 200, 'reset');
      await http(`${issuer}/.well-known/jwks.json`);
      await http(`${issuer}/.well-known/jwks.json`);
      await http(`${issuer}/.well-known/openid-configuration`);
      const r = await http(`${issuer}/test/requests`);
      assertEq([r.json.jwks, r.json.discovery, r.json.token, r.json.userinfo], [2, 1, 0, 0], 'counters');
    });

    await check(P('key rotation'), async () => {
      const r = await http(`${issuer}/test/rotate-keys`, { method: 'POST' });
      assertEq(r.status, 200, 'rotate');
      const keys = (await http(`${issuer}/.well-known/jwks.json`)).json;
      assertEq(keys.keys.length, 2, 'two keys published');
      assertEq(keys.keys[0].kid, r.json.kid, 'new key first');
      assertEq(keys.keys[1].kid, jwks.keys[0].kid, 'old key kept');
      assert(keys.keys.every((k) => k.alg === alg), 'same alg');
      const cb = await authorize(issuer, { username: 'alice', password: 'alice-password' });
      const t = await exchange(issuer, cb);
      assertEq(decodeJwt(t.json.id_token).header.kid, r.json.kid, 'signed with the new key');
      verifyJwt(t.json.id_token, keys);
      const d = (await http(`${issuer}/.well-known/openid-configuration`)).json;
      assertEq(d.id_token_signing_alg_values_supported, [alg], 'still one alg');
    });

    await check(P('key rotation without keeping the old key'), async () => {
      const r = await http(`${issuer}/test/rotate-keys`, { method: 'POST', json: { keep_old: false } });
      assertEq(r.json.kids, [r.json.kid], 'only the new kid');
      const keys = (await http(`${issuer}/.well-known/jwks.json`)).json;
      assertEq(keys.keys.map((k) => k.kid), [r.json.kid], 'JWKS has only the new key');
      const cb = await authorize(issuer, { username: 'carol', password: 'carol-password' });
      const t = await exchange(issuer, cb);
      verifyJwt(t.json.id_token, keys);
    });

    await check(P('RP-initiated logout'), async () => {
      const jar = new Jar();
      const cb = await authorize(issuer, { username: 'alice', password: 'alice-password', jar });
      const t = await exchange(issuer, cb);
      const params = new URLSearchParams({
        id_token_hint: t.json.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'logout-state',
      });
      const page = await http(`${issuer}/api/oidc/end-session?${params}`, { jar });
      assertEq(page.status, 200, 'confirm page');
      assert(page.text.includes('id="logout"') && page.text.includes('>Sign out</button>'), 'sign out button');
      const action = page.text.match(/<form[^>]*action="([^"]+)"/)[1];
      const xsrf = page.text.match(/name="xsrf" value="([^"]+)"/)[1];
      const done = await http(new URL(action, issuer).href, { method: 'POST', jar, form: { xsrf, logout: 'yes' } });
      assertEq(done.status, 303, 'logout redirect');
      assertEq(done.location, `${POST_LOGOUT_URI}?state=logout-state`, 'post logout redirect');
      const again = await authorize(issuer, {
        username: 'alice', password: 'alice-password', jar, expectLoginPage: true,
      });
      assert(again.code, 'login required again');
    });
  } finally {
    await provider.stop();
  }
}

const started = Date.now();
for (const [i, alg] of ALGS.entries()) {
  try {
    await runFor(alg, i === 0 ? 'fixed' : 'auto');
  } catch (err) {
    failed += 1;
    console.log(`not ok - [${alg}] provider run: ${err.stack}`);
  }
}
if (!process.argv.slice(2).length) {
  try {
    await runFor('EdDSA', 'auto', VARIANT);
  } catch (err) {
    failed += 1;
    console.log(`not ok - [EdDSA variant] provider run: ${err.stack}`);
  }
}
console.log(`# ${ALGS.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
