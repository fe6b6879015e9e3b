/*
 * key_check.c - see key_check.h.
 */
#include "key_check.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/jwt.h"
#include "ops_support.h"
#include "service_table.h"

#define PREFIX "# JWT_SECRET check: "
#define PROBE_TIMEOUT_MS 2000L
#define HEALTH_MAX (256 * 1024)

/* What one running service says about its keys. */
struct reported {
    const char *name;
    bool answered;    /* /health answered at all */
    bool has_info;    /* ... with a "signing_key" member */
    char source[512]; /* where the service took its key from */
    char kids[2048];  /* "kid (ALG), kid (ALG)" for messages */
    json_t *keys;     /* [{"alg":..,"kid":..}] (owned) */
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, data, size * n) == GW_OK ? size * n : 0;
}

static void probe(const struct service_spec *s, struct reported *r)
{
    char url[256];
    snprintf(url, sizeof(url), "http://%s:%d%s", s->health_host, s->health_port, s->health_path);
    struct buf body;
    buf_init(&body, HEALTH_MAX);
    CURL *curl = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        rc = curl_easy_perform(curl);
        curl_easy_cleanup(curl);
    }
    /* a 503 still carries the document: an unhealthy router may still hold keys */
    json_t *doc = rc == CURLE_OK ? json_loadb(buf_cstr(&body), body.len, 0, NULL) : NULL;
    r->answered = doc != NULL;
    json_t *info = json_object_get(doc, "signing_key");
    json_t *keys = json_object_get(info, "keys");
    if (json_is_array(keys)) {
        r->has_info = true;
        r->keys = json_incref(keys);
        const char *source = json_string_value(json_object_get(info, "source"));
        snprintf(r->source, sizeof(r->source), "%s", source ? source : "?");
        size_t i, used = 0;
        json_t *k;
        json_array_foreach(keys, i, k)
        {
            const char *kid = json_string_value(json_object_get(k, "kid"));
            const char *alg = json_string_value(json_object_get(k, "alg"));
            int n = snprintf(r->kids + used, sizeof(r->kids) - used, "%s%s (%s)", i ? ", " : "",
                             kid ? kid : "?", alg ? alg : "?");
            if (n < 0 || (size_t)n >= sizeof(r->kids) - used)
                break;
            used += (size_t)n;
        }
    }
    json_decref(doc);
    buf_free(&body);
}

static bool reports_kid(const struct reported *r, const char *kid)
{
    size_t i;
    json_t *k;
    json_array_foreach(r->keys, i, k)
    {
        const char *v = json_string_value(json_object_get(k, "kid"));
        if (v && strcmp(v, kid) == 0)
            return true;
    }
    return false;
}

static const char *first_kid(const struct reported *r)
{
    return json_string_value(json_object_get(json_array_get(r->keys, 0), "kid"));
}

static const char *configured_source(const struct config *cfg)
{
    const char *alg = config_get(cfg, "JWT_ALGORITHM", "RS256");
    if (strcmp(alg, "HS256") == 0)
        return "GATEWAY_JWT_SECRET";
    if (config_has(cfg, "JWT_PRIVATE_KEY_B64"))
        return "JWT_PRIVATE_KEY_B64";
    return strcmp(alg, "ES256") == 0 ? "DATA_DIR/keys/jwt-es256.pem" : "DATA_DIR/keys/jwt-rs256.pem";
}

int key_check_report(const struct config *cfg, FILE *out)
{
    /* the key as this configuration gives it (as auth would load it; never generated here) */
    struct buf why;
    buf_init(&why, 4096);
    struct jwt_key *key = ops_signing_key(cfg, &why);
    const char *source = configured_source(cfg);
    char cfg_kid[256] = "";
    const char *cfg_alg = config_get(cfg, "JWT_ALGORITHM", "RS256");
    if (key) {
        snprintf(cfg_kid, sizeof(cfg_kid), "%s", jwt_key_kid(key));
        cfg_alg = jwt_alg_name(jwt_key_alg(key));
        jwt_key_free(key);
    }

    struct reported auth = {.name = "auth"}, router = {.name = "router"};
    struct service_table table;
    struct buf errors;
    buf_init(&errors, 4096);
    if (service_table_build(cfg, NULL, false, &table, &errors) == GW_OK) {
        const struct service_spec *s = service_table_find(&table, "auth");
        if (s)
            probe(s, &auth);
        s = service_table_find(&table, "router");
        if (s)
            probe(s, &router);
        service_table_free(&table);
    }
    buf_free(&errors);

    int result = 0;
    /* The reference: what auth signs with, else what the configuration gives. */
    const char *reference =
        auth.has_info && first_kid(&auth) ? first_kid(&auth) : (cfg_kid[0] ? cfg_kid : NULL);
    if (!cfg_kid[0])
        fprintf(out, PREFIX "no signing key in this configuration: %s\n", buf_cstr(&why));
    if (auth.has_info && cfg_kid[0] && !reports_kid(&auth, cfg_kid)) {
        fprintf(out,
                PREFIX
                "MISMATCH: auth signs with kid %s from %s, but this configuration gives kid %s (%s) from "
                "%s: auth runs with another .env or environment; restart it with this one\n",
                auth.kids, auth.source, cfg_kid, cfg_alg, source);
        result = 1;
    }
    if (router.has_info && json_array_size(router.keys) == 0) {
        fprintf(out,
                PREFIX "MISMATCH: the router has no key to verify tokens with yet (from %s): every token is "
                       "refused\n",
                router.source);
        result = 1;
    } else if (router.has_info && reference && !reports_kid(&router, reference)) {
        fprintf(out,
                PREFIX
                "MISMATCH: the router verifies with kid %s from %s, but %s signs with kid %s: the router "
                "refuses every token auth issues; restart the router with the same .env as auth\n",
                router.kids, router.source, auth.has_info ? "auth" : "this configuration", reference);
        result = 1;
    }
    if (result == 0 && reference) {
        struct buf same;
        buf_init(&same, 1024);
        buf_append_str(&same, cfg_kid[0] ? "this configuration" : "");
        if (auth.has_info)
            buf_printf(&same, "%sauth", same.len ? ", " : "");
        if (router.has_info)
            buf_printf(&same, "%srouter", same.len ? ", " : "");
        if (auth.has_info || router.has_info)
            fprintf(out, PREFIX "signing key same across %s (%s from %s, kid %s)\n", buf_cstr(&same), cfg_alg,
                    auth.has_info ? auth.source : source, reference);
        else
            fprintf(out,
                    PREFIX "signing key %s from %s, kid %s; auth and router are not running, nothing to "
                           "compare with\n",
                    cfg_alg, source, reference);
        buf_free(&same);
    }
    for (struct reported *r = &auth; r; r = r == &auth ? &router : NULL) {
        if (r->answered && !r->has_info)
            fprintf(out,
                    PREFIX "%s answers but does not report its signing key (an older mcpgw?); not compared\n",
                    r->name);
        else if (!r->answered && (auth.has_info || router.has_info))
            fprintf(out, PREFIX "%s is not running; not compared\n", r->name);
    }
    json_decref(auth.keys);
    json_decref(router.keys);
    buf_free(&why);
    return result;
}
