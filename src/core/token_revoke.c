/*
 * token_revoke.c - the revocation scripts (see token_revoke.h).
 */
#include "token_revoke.h"

/* ARGV: prefix, jti, exp, now, now_ms. */
const char token_revoke_jti_script[] =
    TOKEN_REVOKE_LUA_LIB "revoke_jti(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))\n"
                         "return 1\n";

/* KEYS: refresh. ARGV: prefix, client id ('' for any), now, now_ms. */
const char token_revoke_refresh_script[] =
    TOKEN_REVOKE_LUA_LIB "local rec = redis.call('GET', KEYS[1])\n"
                         "if not rec then return 0 end\n"
                         "local o = cjson.decode(rec)\n"
                         "if ARGV[2] ~= '' and o.client_id ~= ARGV[2] then return 0 end\n"
                         "redis.call('DEL', KEYS[1])\n"
                         "revoke_family(ARGV[1], o.family, tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
                         "return 1\n";
