/*
 * verify.c - GET|POST /verify: ForwardAuth for Traefik or nginx auth_request in front of an MCP
 * server. 200 with X-User-Id, X-User-Name, X-Client-Id for a valid, unrevoked token whose
 * audience is the resource the proxy is forwarding to; otherwise 401 with
 * WWW-Authenticate: Bearer resource_metadata="<absolute URL>" (and error="invalid_token" when a
 * token was sent). The resource comes from X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Uri.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/endpoints.h"
#include "auth/auth.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/public_url.h"
#include "core/redis.h"
#include "core/server.h"

struct verify_call {
    struct http_exchange *ex;
    const char *metadata_url;
    const char *sub, *username, *client_id;
};

/* The audience and metadata URL of the forwarded request (arena strings). */
static void forwarded_target(struct http_exchange *ex, const char **audience, const char **metadata)
{
    const struct auth_state *st = auth_state();
    const char *proto = http_header(ex, "X-Forwarded-Proto");
    const char *host = http_header(ex, "X-Forwarded-Host");
    const char *uri = http_header(ex, "X-Forwarded-Uri");
    *audience = NULL;
    *metadata = NULL;
    if (host && *host) {
        struct buf origin;
        buf_init(&origin, 1024);
        const char *scheme = proto && strcasecmp(proto, "http") == 0 ? "http" : "https";
        buf_printf(&origin, "%s://", scheme);
        size_t hn = strcspn(host, ", ");
        for (size_t i = 0; i < hn; i++)
            buf_append_char(&origin, (char)tolower((unsigned char)host[i]));
        size_t olen = origin.len;
        const char *o = buf_cstr(&origin);
        if ((strcmp(scheme, "https") == 0 && olen > 4 && strcmp(o + olen - 4, ":443") == 0) ||
            (strcmp(scheme, "http") == 0 && olen > 3 && strcmp(o + olen - 3, ":80") == 0))
            origin.data[origin.len = olen - (scheme[4] == 's' ? 4 : 3)] = '\0';
        char path[2048] = "";
        if (uri)
            snprintf(path, sizeof(path), "%.*s", (int)strcspn(uri, "?#"), uri);
        /* One of our services? Then its canonical resource and metadata URL. */
        for (size_t i = 0; i < st->nservices && !*audience; i++) {
            char *r = public_url_resource(st->cfg, st->services[i]);
            size_t n = strlen(buf_cstr(&origin));
            if (strncmp(r, buf_cstr(&origin), n) == 0 && r[n] == '/') {
                const char *rpath = r + n;
                size_t rn = strlen(rpath);
                if (strncmp(path, rpath, rn) == 0 && (path[rn] == '\0' || path[rn] == '/')) {
                    *audience = http_exchange_strdup(ex, r);
                    char *m = public_url_resource_metadata(st->cfg, st->services[i]);
                    *metadata = http_exchange_strdup(ex, m);
                    free(m);
                }
            }
            free(r);
        }
        if (!*audience) {
            char *mcp = strstr(path, "/mcp");
            while (mcp && mcp[4] != '\0' && mcp[4] != '/')
                mcp = strstr(mcp + 1, "/mcp");
            if (mcp)
                mcp[4] = '\0';
            struct buf a, m;
            buf_init(&a, 4096);
            buf_init(&m, 4096);
            buf_printf(&a, "%s%s", buf_cstr(&origin), path);
            buf_printf(&m, "%s/.well-known/oauth-protected-resource%s", buf_cstr(&origin), path);
            *audience = http_exchange_strdup(ex, buf_cstr(&a));
            *metadata = http_exchange_strdup(ex, buf_cstr(&m));
            buf_free(&a);
            buf_free(&m);
        }
        buf_free(&origin);
        return;
    }
    if (st->nservices > 0) {
        char *m = public_url_resource_metadata(st->cfg, st->services[0]);
        *metadata = http_exchange_strdup(ex, m);
        free(m);
    } else {
        struct buf m;
        buf_init(&m, 4096);
        buf_printf(&m, "%s/.well-known/oauth-protected-resource", st->issuer);
        *metadata = http_exchange_strdup(ex, buf_cstr(&m));
        buf_free(&m);
    }
}

static void unauthorized(struct http_exchange *ex, const char *metadata, const char *error,
                         const char *description, const char *reason)
{
    struct buf h;
    buf_init(&h, 8192);
    buf_printf(&h, "Bearer resource_metadata=\"%s\"", metadata);
    if (error)
        buf_printf(&h, ", error=\"%s\", error_description=\"%s\"", error, description);
    http_response_header(ex, "WWW-Authenticate", buf_cstr(&h));
    buf_free(&h);
    if (reason)
        auth_authentication_failed(reason, "token refused at /verify",
                                   (struct log_field[]){log_str("path", http_request(ex)->path)}, 1);
    http_exchange_set_error(ex, error ? error : "missing_token");
    http_respond_error(ex, 401, error ? error : "invalid_request", description);
}

/* Without a forwarded host, the token must be for one of our services. */
static bool audience_is_ours(const json_t *claims)
{
    const struct auth_state *st = auth_state();
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    for (size_t i = 0; aud && i < st->nservices; i++) {
        char *r = public_url_resource(st->cfg, st->services[i]);
        bool same = strcmp(r, aud) == 0;
        free(r);
        if (same)
            return true;
    }
    return false;
}

static void revocation_checked(const struct redis_result *result, void *arg)
{
    struct verify_call *vc = arg;
    if (auth_redis_failed(vc->ex, result))
        return;
    if (result->reply->type != REDIS_REPLY_INTEGER || result->reply->integer != 0) {
        unauthorized(vc->ex, vc->metadata_url, "invalid_token", "The access token has been revoked",
                     "token_revoked");
        return;
    }
    http_response_header(vc->ex, "X-User-Id", vc->sub);
    http_response_header(vc->ex, "X-User-Name", vc->username);
    http_response_header(vc->ex, "X-Client-Id", vc->client_id);
    http_exchange_set_identity(vc->ex, vc->username, vc->client_id);
    /* The guide's example line; /verify is ForwardAuth, not the router's own hot path. */
    log_write(LOG_INFO, "Token validated successfully",
              (struct log_field[]){
                  log_str("user", vc->username), log_str("client_id", vc->client_id),
                  log_int("duration_ms", (server_now_usec() - http_request(vc->ex)->start_usec) / 1000)},
              3);
    http_response_header(vc->ex, "Cache-Control", "no-store");
    http_respond(vc->ex, 200, NULL, NULL, 0);
}

/* Header values must not carry CR/LF or control bytes (they are copied into the proxy's request). */
static const char *header_safe(struct http_exchange *ex, const char *s)
{
    char *copy = http_exchange_strdup(ex, s ? s : "");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return copy;
}

void verify_handle(struct http_exchange *ex)
{
    const char *audience, *metadata;
    forwarded_target(ex, &audience, &metadata);
    const char *authz = http_header(ex, "Authorization");
    if (http_header_count(ex, "Authorization") > 1) {
        unauthorized(ex, metadata, "invalid_request", "Repeated Authorization header", "malformed_request");
        return;
    }
    if (!authz || strncasecmp(authz, "Bearer ", 7) != 0) {
        unauthorized(ex, metadata, NULL, "An access token is required", NULL);
        return;
    }
    const char *token = authz + 7;
    while (*token == ' ')
        token++;
    struct jwt_verify_options opts = JWT_VERIFY_OPTIONS_DEFAULT;
    opts.issuer = auth_state()->issuer;
    opts.audience = audience;
    json_t *claims = NULL;
    enum jwt_result r = jwt_verify(auth_state()->keyset, token, strlen(token), &opts, &claims);
    if (r == JWT_OK && !audience && !audience_is_ours(claims))
        r = JWT_WRONG_AUDIENCE;
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    if (r == JWT_OK && !jti)
        r = JWT_MALFORMED;
    if (r != JWT_OK) {
        json_decref(claims);
        unauthorized(ex, metadata, "invalid_token", jwt_strerror(r), jwt_result_name(r));
        return;
    }
    struct verify_call *vc = http_exchange_alloc(ex, sizeof(*vc));
    vc->ex = ex;
    vc->metadata_url = metadata;
    vc->sub = header_safe(ex, json_string_value(json_object_get(claims, "sub")));
    vc->username = header_safe(ex, json_string_value(json_object_get(claims, "username")));
    vc->client_id = header_safe(ex, json_string_value(json_object_get(claims, "client_id")));
    const char *argv[] = {"EXISTS", auth_key(ex, "revoked:", jti)};
    json_decref(claims);
    auth_redis(ex, revocation_checked, vc, 2, argv);
}
