/*
 * session.c - signed session cookies and CSRF tokens (see session.h).
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

#define SESSION_KEY_LEN 32
#define SESSION_COOKIE_MAX 4096

/* Written once before workers start, read-only afterwards. */
static unsigned char session_key[SESSION_KEY_LEN];
static bool session_secure = true;

void session_setup_for_tests(const void *key, size_t len, bool secure)
{
    crypto_hmac_sha256(key, len, "mcpgw session key v1", 20, session_key);
    session_secure = secure;
}

static enum gw_err load_or_create_key_file(const char *dir, unsigned char key[SESSION_KEY_LEN])
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/session.key", dir) >= (int)sizeof path)
        return GW_ERR_IO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, key, SESSION_KEY_LEN);
        close(fd);
        if (n == SESSION_KEY_LEN)
            return GW_OK;
        log_error("session key file %s is damaged (expected %d bytes); remove it to create a new one", path,
                  SESSION_KEY_LEN);
        return GW_ERR_IO;
    }
    if (errno != ENOENT) {
        log_error("cannot read session key file %s: %s", path, strerror(errno));
        return GW_ERR_IO;
    }
    (void)mkdir(dir, 0700);
    if (crypto_random_bytes(key, SESSION_KEY_LEN) != GW_OK)
        return GW_ERR_IO;
    /* O_EXCL: when two processes start at once, one creates and the other reads. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return load_or_create_key_file(dir, key);
        log_error("cannot create session key file %s: %s", path, strerror(errno));
        return GW_ERR_IO;
    }
    ssize_t n = write(fd, key, SESSION_KEY_LEN);
    close(fd);
    if (n != SESSION_KEY_LEN) {
        unlink(path);
        log_error("cannot write session key file %s", path);
        return GW_ERR_IO;
    }
    log_info("created session key %s", path);
    return GW_OK;
}

enum gw_err session_setup(const struct config *cfg, const char *issuer)
{
    session_secure = strncmp(issuer, "https:", 6) == 0;
    /* Every auth behind one issuer must accept the others' cookies (a login can start on one
     * and finish on another), so the key comes from a secret they share when there is one: the
     * HS256 secret, or the configured signing key. Only a single auth with a generated key
     * keeps its own file. */
    const char *secret = config_get(cfg, "GATEWAY_JWT_SECRET", "");
    if (!secret[0])
        secret = config_get(cfg, "JWT_PRIVATE_KEY_B64", "");
    if (secret[0]) {
        crypto_hmac_sha256(secret, strlen(secret), "mcpgw session key v1", 20, session_key);
        return GW_OK;
    }
    unsigned char raw[SESSION_KEY_LEN];
    enum gw_err err = load_or_create_key_file(config_get(cfg, "DATA_DIR", "./data"), raw);
    if (err == GW_OK)
        crypto_hmac_sha256(raw, sizeof raw, "mcpgw session key v1", 20, session_key);
    crypto_wipe(raw, sizeof raw);
    return err;
}

const char *session_cookie_name(void)
{
    return session_secure ? "__Host-mcpgw_session" : "mcpgw_session";
}

bool session_cookie_secure(void)
{
    return session_secure;
}

enum gw_err session_new_sid(char out[SESSION_SID_LEN + 1])
{
    unsigned char raw[16];
    if (crypto_random_bytes(raw, sizeof raw) != GW_OK) {
        out[0] = '\0';
        return GW_ERR_IO;
    }
    base64url_encode(raw, sizeof raw, out);
    return GW_OK;
}

static void mac_of(const char *payload, size_t len, char out[CRYPTO_SHA256_B64URL_LEN + 1])
{
    struct buf in;
    buf_init(&in, SESSION_COOKIE_MAX + 16);
    (void)buf_append_str(&in, "session.");
    (void)buf_append(&in, payload, len);
    unsigned char mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(session_key, sizeof session_key, in.data, in.len, mac);
    base64url_encode(mac, sizeof mac, out);
    buf_free(&in);
}

char *session_encode(const struct session *s)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "sid", json_string(s->sid ? s->sid : ""));
    if (s->sub) {
        json_object_set_new(obj, "sub", json_string(s->sub));
        json_object_set_new(obj, "name", json_string(s->username ? s->username : ""));
        if (s->email)
            json_object_set_new(obj, "email", json_string(s->email));
        json_object_set_new(obj, "exp", json_integer(s->login_exp));
    }
    char *json = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!json)
        gw_oom(0);
    char *payload = base64url_encode_alloc(json, strlen(json));
    free(json);
    char mac[CRYPTO_SHA256_B64URL_LEN + 1];
    mac_of(payload, strlen(payload), mac);
    size_t n = strlen(payload) + 1 + strlen(mac) + 1;
    char *out = gw_malloc(n);
    snprintf(out, n, "%s.%s", payload, mac);
    free(payload);
    return out;
}

void session_clear(struct session *s)
{
    free(s->sid);
    free(s->sub);
    free(s->username);
    free(s->email);
    memset(s, 0, sizeof *s);
}

static char *dup_string_member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? gw_strdup(json_string_value(v)) : NULL;
}

enum gw_err session_decode(const char *value, size_t len, long long now, struct session *out)
{
    memset(out, 0, sizeof *out);
    if (len > SESSION_COOKIE_MAX)
        return GW_ERR_INVALID;
    const char *dot = memchr(value, '.', len);
    if (!dot)
        return GW_ERR_INVALID;
    size_t payload_len = (size_t)(dot - value);
    char mac[CRYPTO_SHA256_B64URL_LEN + 1];
    mac_of(value, payload_len, mac);
    if (!crypto_str_equal(mac, strlen(mac), dot + 1, len - payload_len - 1))
        return GW_ERR_INVALID;
    unsigned char *json = NULL;
    size_t json_len = 0;
    if (base64url_decode(value, payload_len, &json, &json_len) != GW_OK)
        return GW_ERR_INVALID;
    json_t *obj = json_loadb((const char *)json, json_len, JSON_REJECT_DUPLICATES, NULL);
    free(json);
    json_t *sid = json_object_get(obj, "sid");
    if (!json_is_object(obj) || !json_is_string(sid) || json_string_length(sid) != SESSION_SID_LEN) {
        json_decref(obj);
        return GW_ERR_INVALID;
    }
    out->sid = gw_strdup(json_string_value(sid));
    json_t *exp = json_object_get(obj, "exp");
    if (json_is_integer(exp) && json_integer_value(exp) > now &&
        json_is_string(json_object_get(obj, "sub"))) {
        out->sub = dup_string_member(obj, "sub");
        out->username = dup_string_member(obj, "name");
        out->email = dup_string_member(obj, "email");
        out->login_exp = json_integer_value(exp);
        if (!out->username)
            out->username = gw_strdup("");
    }
    json_decref(obj);
    return GW_OK;
}

bool cookie_find(const char *header, const char *name, struct strview *out)
{
    if (!header)
        return false;
    size_t name_len = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == name_len && memcmp(p, name, name_len) == 0) {
            const char *v = eq + 1;
            const char *vend = end;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                vend--;
            if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
                v++;
                vend--;
            }
            out->ptr = v;
            out->len = (size_t)(vend - v);
            return true;
        }
        p = end;
    }
    return false;
}

bool session_from_request(struct http_exchange *ex, long long now, struct session *out)
{
    memset(out, 0, sizeof *out);
    struct strview v;
    const char *header = http_header(ex, "Cookie");
    if (!cookie_find(header, session_cookie_name(), &v))
        return false;
    return session_decode(v.ptr, v.len, now, out) == GW_OK;
}

void session_set_cookie(struct http_exchange *ex, const struct session *s, long long max_age)
{
    char *value = session_encode(s);
    struct buf h;
    buf_init(&h, 8192);
    (void)buf_printf(&h, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s", session_cookie_name(),
                     value, max_age, session_secure ? "; Secure" : "");
    http_response_header(ex, "Set-Cookie", buf_cstr(&h));
    buf_free(&h);
    free(value);
}

void csrf_token(const char *sid, const char *purpose, const char *binding, char out[CSRF_TOKEN_LEN + 1])
{
    struct buf in;
    buf_init(&in, 8192);
    (void)buf_printf(&in, "csrf.%s.%s.%s", purpose, sid ? sid : "", binding ? binding : "");
    unsigned char mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(session_key, sizeof session_key, in.data, in.len, mac);
    base64url_encode(mac, sizeof mac, out);
    buf_free(&in);
}

bool csrf_valid(const char *sid, const char *purpose, const char *binding, const char *submitted)
{
    if (!sid || !sid[0] || !submitted)
        return false;
    char expected[CSRF_TOKEN_LEN + 1];
    csrf_token(sid, purpose, binding, expected);
    return crypto_str_equal(expected, strlen(expected), submitted, strlen(submitted));
}
