// jwt_interop.mjs - cross-checks mcpgw's JWT/JWKS code against Node's built-in crypto.
// Run by test_jwt (tests/unit/test_jwt.c): `node jwt_interop.mjs DIR`.
//
// Reads DIR/c.json, written by the C side: {jwks, tokens: {RS256, ES256, HS256}, hs_secret, hs_kid}.
// Checks that Node verifies every token mcpgw signed with the keys from mcpgw's JWKS (imported
// with crypto.createPublicKey({format: 'jwk'})), that each kid is the RFC 7638 thumbprint, and
// that the JWKS holds nothing secret. Then signs tokens with keys of its own and writes
// DIR/node.json ({keys, tokens, tampered, claims}) for the C side to verify.
// Exit status 0 only when every check passed; one line per check on stdout.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const fromB64u = (text) => Buffer.from(text, 'base64url');

// RFC 7638: the required members in lexicographic order, no whitespace.
function thumbprint(jwk) {
  const canonical = jwk.kty === 'RSA'
    ? JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })
    : JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y });
  return b64u(crypto.createHash('sha256').update(canonical).digest());
}

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// ---- tokens mcpgw signed, verified by Node ----
const c = JSON.parse(fs.readFileSync(path.join(dir, 'c.json'), 'utf8'));
for (const [alg, token] of Object.entries(c.tokens)) {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(fromB64u(h));
  const claims = JSON.parse(fromB64u(p));
  const data = Buffer.from(`${h}.${p}`);
  const sig = fromB64u(s);
  check(header.alg === alg && header.typ === 'JWT', `${alg}: header alg and typ`);
  let verified = false;
  if (alg === 'HS256') {
    const mac = crypto.createHmac('sha256', c.hs_secret).update(data).digest();
    verified = mac.length === sig.length && crypto.timingSafeEqual(mac, sig);
    const kid = b64u(crypto.createHmac('sha256', c.hs_secret).update('mcpgw HS256 key id v1').digest().subarray(0, 16));
    check(header.kid === kid && c.hs_kid === kid, 'HS256: kid is HMAC(secret, label), first 16 bytes');
  } else {
    const jwk = c.jwks.keys.find((k) => k.kid === header.kid);
    check(Boolean(jwk), `${alg}: the token's kid is in the JWKS`);
    if (!jwk) continue;
    check(jwk.kid === thumbprint(jwk), `${alg}: kid is the RFC 7638 thumbprint`);
    check(jwk.alg === alg && jwk.use === 'sig', `${alg}: JWK alg and use`);
    const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    if (alg === 'RS256') {
      verified = crypto.verify('sha256', data, key, sig);
    } else {
      check(sig.length === 64, 'ES256: signature is raw R||S, 64 bytes');
      verified = crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
  }
  check(verified, `${alg}: Node verifies mcpgw's signature`);
  check(claims.sub === 'interop-user' && Number.isInteger(claims.exp), `${alg}: claims`);
}
check(c.jwks.keys.length === 2, 'JWKS: exactly the two asymmetric keys');
check(!c.jwks.keys.some((k) => k.kty === 'oct' || 'k' in k || 'd' in k || 'p' in k),
  'JWKS: no secret or private member');

// ---- tokens Node signs, for mcpgw to verify ----
const now = Math.floor(Date.now() / 1000);
const claims = {
  iss: 'https://auth.node.test',
  sub: 'node-user',
  aud: ['https://mcp.node.test/mcp', 'another'],
  exp: now + 600,
  iat: now,
  scope: 'mcp',
  note: 'non-ASCII survives: \u00e7\u00f8d\u00e9 \u2713',
};
function sign(alg, kid, privateKey) {
  const h = b64u(JSON.stringify({ alg, typ: 'JWT', kid }));
  const p = b64u(JSON.stringify(claims));
  const data = Buffer.from(`${h}.${p}`);
  let sig;
  if (alg === 'HS256') sig = crypto.createHmac('sha256', c.hs_secret).update(data).digest();
  else if (alg === 'RS256') sig = crypto.sign('sha256', data, privateKey);
  else sig = crypto.sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${h}.${p}.${b64u(sig)}`;
}
const out = { keys: [], tokens: {}, claims };
const pairs = [
  ['RS256', crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['ES256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })],
];
for (const [alg, pair] of pairs) {
  const jwk = pair.publicKey.export({ format: 'jwk' });
  Object.assign(jwk, { kid: thumbprint(jwk), alg, use: 'sig' });
  out.keys.push(jwk);
  out.tokens[alg] = sign(alg, jwk.kid, pair.privateKey);
}
out.tokens.HS256 = sign('HS256', c.hs_kid, null);
// The payload swapped after signing: mcpgw must refuse this one.
const [h0, , s0] = out.tokens.RS256.split('.');
out.tampered = `${h0}.${b64u(JSON.stringify({ ...claims, sub: 'admin' }))}.${s0}`;
fs.writeFileSync(path.join(dir, 'node.json'), JSON.stringify(out));

console.log(failures ? `${failures} Node check(s) failed` : 'all Node checks passed');
process.exit(failures ? 1 : 0);
