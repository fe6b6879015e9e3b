/*
 * token_revoke.h - the Lua that revokes tokens (docs/internals/tokens.md, "Revocation within one
 * second"), in one place for every writer: auth's /revoke and refresh-token reuse
 * (src/auth/token_store.c) and the operator's revoke-tokens (src/ops/redis_commands.c). Every
 * script takes the key prefix (REDIS_KEY_PREFIX) as ARGV[1].
 */
#ifndef MCPGW_CORE_TOKEN_REVOKE_H
#define MCPGW_CORE_TOKEN_REVOKE_H

/* Lua: revoke one access token and a whole family (prefix is ARGV[1] in every script).
 * `revocations` (scored by revocation time, what routers poll) keeps an entry until its token has
 * expired, so that a router started hours later still refuses it; `revocation_expiry` (scored by
 * the token's exp) says when that is. Entries without one (added by hand) go after 30 days. */
#define TOKEN_REVOKE_LUA_LIB                                                                                 \
    "local function revoke_jti(p, jti, exp, now, now_ms)\n"                                                  \
    "  local left = tonumber(exp) - now\n"                                                                   \
    "  if left > 0 then redis.call('SET', p..'revoked:'..jti, '1', 'EX', left) end\n"                        \
    "  redis.call('DEL', p..'token:'..jti)\n"                                                                \
    "  redis.call('ZREM', p..'active_tokens', jti)\n"                                                        \
    "  redis.call('ZADD', p..'revocations', now_ms, jti)\n"                                                  \
    "  redis.call('ZADD', p..'revocation_expiry', exp, jti)\n"                                               \
    "  local gone = redis.call('ZRANGEBYSCORE', p..'revocation_expiry', '-inf', now - 60, 'LIMIT', 0, "      \
    "100)\n"                                                                                                 \
    "  if #gone > 0 then\n"                                                                                  \
    "    redis.call('ZREM', p..'revocations', unpack(gone))\n"                                               \
    "    redis.call('ZREM', p..'revocation_expiry', unpack(gone))\n"                                         \
    "  end\n"                                                                                                \
    "  redis.call('ZREMRANGEBYSCORE', p..'revocations', '-inf', now_ms - 2592000000)\n"                      \
    "end\n"                                                                                                  \
    "local function revoke_family(p, fam, now, now_ms)\n"                                                    \
    "  local fk = p..'family:'..fam\n"                                                                       \
    "  for _, m in ipairs(redis.call('SMEMBERS', fk)) do\n"                                                  \
    "    if string.sub(m, 1, 2) == 'r:' then redis.call('DEL', string.sub(m, 3))\n"                          \
    "    else local jti, exp = string.match(m, '^a:([^:]+):(%d+)$')\n"                                       \
    "      if jti then revoke_jti(p, jti, exp, now, now_ms) end end\n"                                       \
    "  end\n"                                                                                                \
    "  redis.call('DEL', fk)\n"                                                                              \
    "end\n"

/* Revoke one access token. ARGV: prefix, jti, exp, now (s), now (ms). Returns 1. */
extern const char token_revoke_jti_script[];

/* Delete a refresh token and revoke its whole family (the access tokens it led to included).
 * KEYS: refresh:{hash}. ARGV: prefix, client id ('' for any), now (s), now (ms). Returns 1, or 0
 * when the refresh token is gone or belongs to another client. */
extern const char token_revoke_refresh_script[];

#endif
