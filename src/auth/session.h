/*
 * session.h - the browser session of the authorization server: an HMAC-signed cookie, and the
 * CSRF tokens of the consent and login forms.
 *
 * The cookie carries a random session id (sid) and, once the user has logged in, who they are
 * (sub, username, email) until login_exp. It is `__Host-mcpgw_session` with `Secure; HttpOnly;
 * SameSite=Lax; Path=/` when the issuer is https, and `mcpgw_session` without `Secure` on
 * plain-http development (a browser refuses both the prefix and Secure cookies over http).
 * The value is BASE64URL(JSON) "." BASE64URL(HMAC-SHA256(key, "session." + BASE64URL(JSON))).
 *
 * The key is set once at start-up (session_setup) and read-only afterwards: HMAC of
 * GATEWAY_JWT_SECRET when set (every auth instance sharing the secret shares sessions), else
 * 32 random bytes kept in DATA_DIR/session.key (created 0600 on first start).
 */
#ifndef MCPGW_AUTH_SESSION_H
#define MCPGW_AUTH_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/http.h"

#define SESSION_SID_LEN 22 /* 16 random bytes, base64url */
#define CSRF_TOKEN_LEN CRYPTO_SHA256_B64URL_LEN

/* A decoded session. Strings are owned (session_clear frees them); sub/username/email are NULL
 * when nobody is logged in. */
struct session {
    char *sid;
    char *sub;
    char *username;
    char *email;
    long long login_exp; /* seconds since the epoch; 0 when not logged in */
};

/* Derive or load the key and pick the cookie form from the issuer's scheme. GW_ERR_IO when
 * DATA_DIR/session.key cannot be read or created (logged). Call once before workers start. */
enum gw_err session_setup(const struct config *cfg, const char *issuer);
/* Tests and fuzzing: set the key (>= 16 bytes) and the cookie form directly. */
void session_setup_for_tests(const void *key, size_t len, bool secure);

/* The cookie's name ("__Host-mcpgw_session" or "mcpgw_session"). Static. */
const char *session_cookie_name(void);
bool session_cookie_secure(void);

/* A new random session id into out (SESSION_SID_LEN + 1 bytes). GW_ERR_IO if no randomness. */
enum gw_err session_new_sid(char out[SESSION_SID_LEN + 1]);

/* The signed cookie value of s (s->sid required). Caller frees. */
char *session_encode(const struct session *s);
/* Verify and decode a cookie value. A login whose login_exp has passed (now) is dropped
 * (sub/username/email NULL) but the sid kept. GW_ERR_INVALID on a bad signature or shape;
 * *out is then empty. On success the caller releases *out with session_clear. */
enum gw_err session_decode(const char *value, size_t len, long long now, struct session *out);
void session_clear(struct session *s);

/* The value of cookie `name` in a Cookie header ("a=1; b=2"), as a view into header; false
 * when absent. */
bool cookie_find(const char *header, const char *name, struct strview *out);

/* The session sent with the request (false when none or invalid: *out empty). */
bool session_from_request(struct http_exchange *ex, long long now, struct session *out);
/* Add the Set-Cookie header for s, valid max_age seconds. */
void session_set_cookie(struct http_exchange *ex, const struct session *s, long long max_age);

/* The CSRF token binding a form to this session: BASE64URL(HMAC(key, "csrf." purpose "." sid
 * "." binding)) into out. purpose names the form ("consent", "login"), binding the request it
 * acts on. */
void csrf_token(const char *sid, const char *purpose, const char *binding, char out[CSRF_TOKEN_LEN + 1]);
/* Constant-time check of a submitted token; false for NULL. */
bool csrf_valid(const char *sid, const char *purpose, const char *binding, const char *submitted);

#endif
