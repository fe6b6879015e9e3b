/*
 * tls.c - SNI certificate sets for the router, swapped atomically on reload (see tls.h).
 *
 * Ownership: a set (struct cert_set) belongs to its default SSL_CTX through ex_data, and is
 * freed by OpenSSL's ex_data free callback when the last reference to that SSL_CTX goes. The
 * tls_server holds one reference (the "current" set); every connection's SSL holds another from
 * SSL_new, and one more on the host SSL_CTX that SNI switched it to. So a reload only replaces
 * the current pointer and drops the server's reference; handshakes and connections in progress
 * keep their set alive until they end.
 */
#include "router/tls.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "core/acme_paths.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"

#define MAX_HOSTS 4096
#define MAX_HOST_LEN 253

struct host_cert {
    char *host; /* lower case; may start with "*." */
    SSL_CTX *ctx;
};

struct cert_set {
    SSL_CTX *default_ctx;    /* borrowed back-pointer: the set lives inside it */
    struct host_cert *hosts; /* sorted by host */
    size_t nhosts;
};

struct tls_server {
    pthread_mutex_t lock; /* guards current: taken once per accepted connection and on reload */
    SSL_CTX *current;     /* default context of the current set (one reference) */
    size_t nhosts;
    char *cert_file, *key_file, *cert_dir;
    bool allow_empty; /* ACME: the directory may hold nothing yet (no set until a reload finds one) */
};

static int set_index = -1;
static struct metric_family *expiry_metric;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void free_set(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct cert_set *set = ptr;
    if (!set)
        return;
    for (size_t i = 0; i < set->nhosts; i++) {
        SSL_CTX_free(set->hosts[i].ctx);
        free(set->hosts[i].host);
    }
    free(set->hosts);
    free(set);
}

static void init_once_fn(void)
{
    set_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_set);
    expiry_metric = metrics_register(METRIC_GAUGE, "tls_certificate_expiry_seconds",
                                     "Unix time at which the certificate served for host expires",
                                     (const char *[]){"host"}, 1, NULL, 0);
}

bool tls_configured(const struct config *cfg)
{
    return config_has(cfg, "TLS_CERT_FILE") || config_has(cfg, "TLS_CERT_DIR") || acme_enabled(cfg);
}

/* ---- building a set ---- */

static void tls_error(struct buf *errors, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    buf_printf(errors, "ERROR: TLS: %s %s: %s\n", what, path, reason ? reason : "missing or unreadable");
    ERR_clear_error();
}

static SSL_CTX *load_pair(const char *cert, const char *key, struct buf *errors)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        buf_printf(errors, "ERROR: TLS: cannot create a context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_error(errors, "cannot load certificate", cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(errors, "cannot load private key (or it does not match the certificate)", key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static double not_after(SSL_CTX *ctx)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    const ASN1_TIME *t = cert ? X509_get0_notAfter(cert) : NULL;
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (double)timegm(&tm);
}

static int compare_hosts(const void *a, const void *b)
{
    return strcmp(((const struct host_cert *)a)->host, ((const struct host_cert *)b)->host);
}

/* A file name stem usable as a host: letters, digits, '-', '.', optionally a leading "*.". */
static bool host_name_ok(const char *h, size_t len)
{
    if (len == 0 || len > MAX_HOST_LEN || h[0] == '.' || h[len - 1] == '.')
        return false;
    size_t i = 0;
    if (len > 2 && h[0] == '*' && h[1] == '.')
        i = 2;
    for (; i < len; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
            return false;
    return true;
}

static int sni_callback(SSL *ssl, int *alert, void *arg);

/* Every <host>.crt in dir with its key; appended to *hosts. false on any problem. */
static bool load_dir(const char *dir, bool missing_ok, struct host_cert **hosts, size_t *nhosts,
                     struct buf *errors, bool *io_error)
{
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT && missing_ok)
        return true; /* ACME: nothing issued yet */
    if (!d) {
        buf_printf(errors, "ERROR: TLS: cannot read TLS_CERT_DIR %s: %s\n", dir, strerror(errno));
        *io_error = true;
        return false;
    }
    bool ok = true;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 4 || strcmp(de->d_name + len - 4, ".crt") != 0)
            continue;
        size_t hlen = len - 4;
        if (!host_name_ok(de->d_name, hlen)) {
            buf_printf(errors, "ERROR: TLS: %s/%s: the file name is not a host name\n", dir, de->d_name);
            ok = false;
            continue;
        }
        if (*nhosts == MAX_HOSTS) {
            buf_printf(errors, "ERROR: TLS: more than %d certificates in %s\n", MAX_HOSTS, dir);
            ok = false;
            break;
        }
        size_t plen = strlen(dir) + len + 2;
        char *cert = gw_malloc(plen), *key = gw_malloc(plen);
        snprintf(cert, plen, "%s/%s", dir, de->d_name);
        snprintf(key, plen, "%s/%.*s.key", dir, (int)hlen, de->d_name);
        SSL_CTX *ctx = load_pair(cert, key, errors);
        free(cert);
        free(key);
        if (!ctx) {
            ok = false;
            continue;
        }
        char *host = gw_malloc(hlen + 1);
        for (size_t i = 0; i < hlen; i++)
            host[i] = (char)tolower((unsigned char)de->d_name[i]);
        host[hlen] = '\0';
        *hosts = gw_realloc(*hosts, (*nhosts + 1) * sizeof(**hosts));
        (*hosts)[*nhosts].host = host;
        (*hosts)[*nhosts].ctx = ctx;
        (*nhosts)++;
    }
    closedir(d);
    return ok;
}

/* Build a complete set; NULL (with errors) unless every file loaded. Returns the default
 * context carrying the set. */
static SSL_CTX *build_set(const struct tls_server *ts, struct buf *errors, enum gw_err *err)
{
    struct host_cert *hosts = NULL;
    size_t nhosts = 0;
    bool io_error = false, ok = true;
    SSL_CTX *default_ctx = NULL;
    bool have_pair = ts->cert_file && *ts->cert_file && ts->key_file && *ts->key_file;
    if (have_pair) {
        default_ctx = load_pair(ts->cert_file, ts->key_file, errors);
        ok = default_ctx != NULL;
    } else if ((ts->cert_file && *ts->cert_file) || (ts->key_file && *ts->key_file)) {
        buf_printf(errors, "ERROR: TLS: TLS_CERT_FILE and TLS_KEY_FILE must be set together\n");
        ok = false;
    }
    if (ts->cert_dir && *ts->cert_dir)
        ok = load_dir(ts->cert_dir, ts->allow_empty, &hosts, &nhosts, errors, &io_error) && ok;
    if (ok && nhosts > 0) {
        qsort(hosts, nhosts, sizeof(*hosts), compare_hosts);
        if (!default_ctx) { /* no default pair: the first host's certificate, loaded once more */
            char cert[4096], key[4096];
            snprintf(cert, sizeof(cert), "%s/%s.crt", ts->cert_dir, hosts[0].host);
            snprintf(key, sizeof(key), "%s/%s.key", ts->cert_dir, hosts[0].host);
            default_ctx = load_pair(cert, key, errors);
            ok = default_ctx != NULL;
        }
    }
    if (ok && !default_ctx && ts->allow_empty) {
        buf_printf(errors, "no certificate in %s yet (mcpgw renew-certs obtains them)\n", ts->cert_dir);
        *err = GW_ERR_NOT_FOUND;
        ok = false;
    } else if (ok && !default_ctx) {
        buf_printf(errors, "ERROR: TLS: no certificate (set TLS_CERT_FILE/TLS_KEY_FILE or put HOST.crt and "
                           "HOST.key into TLS_CERT_DIR)\n");
        *err = GW_ERR_NOT_FOUND;
        ok = false;
    } else {
        *err = io_error ? GW_ERR_IO : GW_ERR_TLS;
    }
    struct cert_set *set = gw_calloc(1, sizeof(*set));
    set->hosts = hosts;
    set->nhosts = nhosts;
    if (!ok) {
        free_set(NULL, set, NULL, 0, 0, NULL);
        SSL_CTX_free(default_ctx);
        return NULL;
    }
    set->default_ctx = default_ctx;
    SSL_CTX_set_ex_data(default_ctx, set_index, set);
    SSL_CTX_set_tlsext_servername_callback(default_ctx, sni_callback);
    SSL_CTX_set_tlsext_servername_arg(default_ctx, set);
    if (have_pair)
        metrics_set(expiry_metric, (const char *[]){"default"}, not_after(default_ctx));
    for (size_t i = 0; i < nhosts; i++)
        metrics_set(expiry_metric, (const char *[]){hosts[i].host}, not_after(hosts[i].ctx));
    *err = GW_OK;
    return default_ctx;
}

/* ---- SNI ---- */

static SSL_CTX *find_host(const struct cert_set *set, const char *host)
{
    struct host_cert key = {.host = (char *)host};
    struct host_cert *hit = bsearch(&key, set->hosts, set->nhosts, sizeof(*set->hosts), compare_hosts);
    return hit ? hit->ctx : NULL;
}

static int sni_callback(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct cert_set *set = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || set->nhosts == 0)
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    size_t len = strlen(name);
    if (len == 0 || len > MAX_HOST_LEN)
        return SSL_TLSEXT_ERR_OK;
    char host[MAX_HOST_LEN + 3];
    for (size_t i = 0; i <= len; i++)
        host[i] = (char)tolower((unsigned char)name[i]);
    if (len > 0 && host[len - 1] == '.')
        host[--len] = '\0'; /* a fully qualified name with its root dot */
    SSL_CTX *ctx = find_host(set, host);
    if (!ctx) {
        const char *dot = strchr(host, '.');
        if (dot && dot[1]) {
            char wildcard[MAX_HOST_LEN + 3];
            snprintf(wildcard, sizeof(wildcard), "*%s", dot);
            ctx = find_host(set, wildcard);
        }
    }
    if (ctx)
        SSL_set_SSL_CTX(ssl, ctx);
    return SSL_TLSEXT_ERR_OK;
}

/* ---- public ---- */

static char *dup_or_null(const char *s)
{
    return s && *s ? gw_strdup(s) : NULL;
}

static enum gw_err create(const char *cert_file, const char *key_file, const char *cert_dir, bool allow_empty,
                          struct tls_server **out, struct buf *errors)
{
    *out = NULL;
    pthread_once(&init_once, init_once_fn);
    struct buf scratch;
    buf_init(&scratch, 64 * 1024);
    if (!errors)
        errors = &scratch;
    struct tls_server *ts = gw_calloc(1, sizeof(*ts));
    pthread_mutex_init(&ts->lock, NULL);
    ts->cert_file = dup_or_null(cert_file);
    ts->key_file = dup_or_null(key_file);
    ts->cert_dir = dup_or_null(cert_dir);
    ts->allow_empty = allow_empty;
    enum gw_err err = GW_OK;
    struct buf none;
    buf_init(&none, 64 * 1024);
    /* with allow_empty, "nothing yet" is not an error for the caller */
    ts->current = build_set(ts, allow_empty ? &none : errors, &err);
    if (!ts->current && allow_empty && err != GW_ERR_NOT_FOUND)
        buf_append(errors, none.data, none.len);
    buf_free(&none);
    buf_free(&scratch);
    if (!ts->current && !(allow_empty && err == GW_ERR_NOT_FOUND)) {
        tls_server_free(ts);
        return err;
    }
    if (ts->current)
        ts->nhosts = ((struct cert_set *)SSL_CTX_get_ex_data(ts->current, set_index))->nhosts;
    else
        log_write(LOG_WARNING, "ACME: no certificate yet; HTTPS connections are refused until one is issued",
                  (struct log_field[]){log_str("cert_dir", cert_dir)}, 1);
    *out = ts;
    return GW_OK;
}

enum gw_err tls_server_create_from(const char *cert_file, const char *key_file, const char *cert_dir,
                                   struct tls_server **out, struct buf *errors)
{
    return create(cert_file, key_file, cert_dir, false, out, errors);
}

enum gw_err tls_server_create_acme(const char *cert_dir, struct tls_server **out, struct buf *errors)
{
    return create(NULL, NULL, cert_dir, true, out, errors);
}

enum gw_err tls_server_create(const struct config *cfg, struct tls_server **out, struct buf *errors)
{
    if (!config_has(cfg, "TLS_CERT_FILE") && !config_has(cfg, "TLS_CERT_DIR") && acme_enabled(cfg)) {
        char *dir = acme_cert_dir(cfg);
        enum gw_err err = tls_server_create_acme(dir, out, errors);
        free(dir);
        return err;
    }
    return tls_server_create_from(config_get(cfg, "TLS_CERT_FILE", NULL),
                                  config_get(cfg, "TLS_KEY_FILE", NULL),
                                  config_get(cfg, "TLS_CERT_DIR", NULL), out, errors);
}

enum gw_err tls_server_reload(struct tls_server *ts, struct buf *errors)
{
    struct buf local;
    buf_init(&local, 64 * 1024);
    enum gw_err err = GW_OK;
    SSL_CTX *fresh = build_set(ts, &local, &err);
    if (!fresh && ts->allow_empty && err == GW_ERR_NOT_FOUND) {
        log_write(LOG_INFO, "ACME: no certificate issued yet; nothing to reload",
                  (struct log_field[]){log_str("cert_dir", ts->cert_dir)}, 1);
        buf_free(&local);
        return GW_OK;
    }
    if (!fresh) {
        log_write(LOG_ERROR, "TLS certificates not reloaded: keeping the current ones",
                  (struct log_field[]){log_str("error", buf_cstr(&local))}, 1);
        if (errors)
            buf_append(errors, local.data, local.len);
        buf_free(&local);
        return err;
    }
    buf_free(&local);
    size_t nhosts = ((struct cert_set *)SSL_CTX_get_ex_data(fresh, set_index))->nhosts;
    pthread_mutex_lock(&ts->lock);
    SSL_CTX *old = ts->current;
    ts->current = fresh;
    ts->nhosts = nhosts;
    pthread_mutex_unlock(&ts->lock);
    SSL_CTX_free(old); /* open connections hold their own references */
    log_write(LOG_INFO, ts->allow_empty ? "TLS certificates reloaded (ACME)" : "TLS certificates reloaded",
              (struct log_field[]){log_int("hosts", (long long)nhosts)}, 1);
    return GW_OK;
}

SSL_CTX *tls_server_context(void *arg)
{
    struct tls_server *ts = arg;
    pthread_mutex_lock(&ts->lock);
    SSL_CTX *ctx = ts->current;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&ts->lock);
    return ctx;
}

size_t tls_server_host_count(const struct tls_server *ts)
{
    return ts->nhosts;
}

bool tls_server_ready(struct tls_server *ts)
{
    pthread_mutex_lock(&ts->lock);
    bool ready = ts->current != NULL;
    pthread_mutex_unlock(&ts->lock);
    return ready;
}

void tls_server_free(struct tls_server *ts)
{
    if (!ts)
        return;
    SSL_CTX_free(ts->current);
    pthread_mutex_destroy(&ts->lock);
    free(ts->cert_file);
    free(ts->key_file);
    free(ts->cert_dir);
    free(ts);
}
