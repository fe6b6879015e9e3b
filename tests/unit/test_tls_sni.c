/*
 * test_tls_sni.c - the router's SNI certificate set on a real core server (one worker, port 0,
 * listener_options.tls_context): a test CA and host certificates made with the openssl CLI;
 * SNI picks each host's certificate, unknown names and no SNI get the default pair; a reload
 * swaps the certificate for new connections while a connection opened before keeps working;
 * a broken reload keeps the current set; TLS 1.1 is refused; the expiry gauge is exported.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "core/http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/server.h"
#include "router/tls.h"

static char dir[] = "/tmp/mcpgw-test-tls-XXXXXX";
static char certdir[128];
static struct tls_server *tls;
static struct server *srv;
static pthread_t server_thread;
static int port;

/* ---- certificates with the openssl CLI ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* A certificate for cn (also its DNS SAN) signed by the test CA, into out_base.crt/.key. */
static int make_cert(const char *cn, const char *out_base)
{
    return sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
              "-out %s.csr -subj '/CN=%s' 2>/dev/null && "
              "printf 'subjectAltName=DNS:%s\\n' > %s.ext && "
              "openssl x509 -req -in %s.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile %s.ext "
              "-out %s.crt 2>/dev/null && rm -f %s.csr %s.ext",
              dir, out_base, out_base, cn, cn, out_base, out_base, out_base, out_base, out_base, out_base);
}

/* ---- the server ---- */

static void handler(struct http_exchange *ex, void *arg)
{
    (void)arg;
    http_respond(ex, 200, "text/plain", "ok", 2);
}

static void *run_server(void *arg)
{
    (void)arg;
    server_run(srv);
    return NULL;
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_tls_sni", NULL, LOG_ERROR);
    if (!mkdtemp(dir))
        return -1;
    snprintf(certdir, sizeof(certdir), "%s/certs", dir);
    mkdir(certdir, 0700);
    if (sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
           "-out ca.crt -subj '/CN=mcpgw test CA' -days 2 2>/dev/null",
           dir) != 0)
        return -1;
    if (make_cert("default.test", "default") || make_cert("a.test", "certs/a.test") ||
        make_cert("b.test", "certs/b.test") || make_cert("any.wild.test", "certs/*.wild.test"))
        return -1;
    char cert[256], key[256];
    snprintf(cert, sizeof(cert), "%s/default.crt", dir);
    snprintf(key, sizeof(key), "%s/default.key", dir);
    struct buf errors;
    buf_init(&errors, 4096);
    enum gw_err err = tls_server_create_from(cert, key, certdir, &tls, &errors);
    if (err != GW_OK) {
        fprintf(stderr, "%s", buf_cstr(&errors));
        return -1;
    }
    buf_free(&errors);

    struct server_options so = {.service = "test_tls_sni", .workers = 1, .shutdown_timeout_ms = 2000};
    srv = server_create(&so);
    struct listener_options lo;
    listener_options_defaults(&lo);
    lo.bind_addr = "127.0.0.1";
    lo.port = 0;
    lo.handler = handler;
    lo.tls_context = tls_server_context;
    lo.tls_context_arg = tls;
    buf_init(&errors, 4096);
    if (server_add_listener(srv, &lo, &errors) != GW_OK)
        return -1;
    buf_free(&errors);
    port = server_listener_port(srv, 0);
    return pthread_create(&server_thread, NULL, run_server, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    server_stop(srv);
    pthread_join(server_thread, NULL);
    server_free(srv);
    tls_server_free(tls);
    remove_dir_tree(dir);
    log_shutdown();
    return 0;
}

/* ---- a blocking TLS client ---- */

struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

/* Connect with SNI name (NULL: none); max_version 0 = any. Returns false when the handshake fails. */
static bool client_open_ex(struct client *c, const char *sni, int max_version, bool check_name)
{
    memset(c, 0, sizeof(*c));
    c->ctx = SSL_CTX_new(TLS_client_method());
    char ca[256];
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, ca, NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (max_version) {
        SSL_CTX_set_min_proto_version(c->ctx, 0);
        SSL_CTX_set_max_proto_version(c->ctx, max_version);
        SSL_CTX_set_security_level(c->ctx, 0);
    }
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    if (sni)
        SSL_set_tlsext_host_name(c->ssl, sni);
    if (sni && check_name)
        SSL_set1_host(c->ssl, sni);
    bool ok = SSL_connect(c->ssl) == 1;
    ERR_clear_error();
    return ok;
}

/* Chain verified against the test CA, and the name too (the certificate must be for sni). */
static bool client_open(struct client *c, const char *sni, int max_version)
{
    return client_open_ex(c, sni, max_version, true);
}

static void client_close(struct client *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd > 0)
        close(c->fd);
    SSL_CTX_free(c->ctx);
}

/* The CN of the certificate the server presented. */
static void peer_cn(struct client *c, char *out, size_t cap)
{
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    assert_non_null(cert);
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)cap);
    X509_free(cert);
}

/* The SHA-256 fingerprint of the certificate the server presented, as a short hex prefix. */
static unsigned long long peer_fingerprint(struct client *c)
{
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    assert_non_null(cert);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    assert_int_equal(X509_digest(cert, EVP_sha256(), md, &len), 1);
    X509_free(cert);
    unsigned long long v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | md[i];
    return v;
}

/* One keep-alive request; true when "200" and "ok" came back. */
static bool client_get(struct client *c, const char *host)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    if (SSL_write(c->ssl, req, n) != n)
        return false;
    char resp[4096];
    size_t got = 0;
    while (got < sizeof(resp) - 1) {
        int r = SSL_read(c->ssl, resp + got, (int)(sizeof(resp) - 1 - got));
        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
        char *body = strstr(resp, "\r\n\r\n");
        if (body && strlen(body + 4) >= 2)
            break;
    }
    resp[got] = '\0';
    return strncmp(resp, "HTTP/1.1 200", 12) == 0 && strstr(resp, "\r\n\r\nok") != NULL;
}

static void expect_cn(const char *sni, const char *want)
{
    struct client c;
    assert_true(client_open_ex(&c, sni, 0, false));
    char cn[128];
    peer_cn(&c, cn, sizeof(cn));
    assert_string_equal(cn, want);
    assert_true(client_get(&c, sni ? sni : "localhost"));
    client_close(&c);
}

/* ---- tests ---- */

static void test_sni_picks_certificate(void **state)
{
    (void)state;
    assert_int_equal(tls_server_host_count(tls), 3);
    expect_cn("a.test", "a.test");
    expect_cn("b.test", "b.test");
    expect_cn("B.TEST", "b.test");
    expect_cn("x.wild.test", "any.wild.test");
    struct client named; /* full verification, name included, for a host with its own certificate */
    assert_true(client_open(&named, "b.test", 0));
    client_close(&named);
    expect_cn("unknown.test", "default.test");
    expect_cn(NULL, "default.test");
}

static void test_tls11_refused(void **state)
{
    (void)state;
    struct client c;
    assert_false(client_open_ex(&c, "a.test", TLS1_1_VERSION, false));
    client_close(&c);
}

static void test_reload_swaps_for_new_connections(void **state)
{
    (void)state;
    struct client before;
    assert_true(client_open(&before, "a.test", 0));
    assert_true(client_get(&before, "a.test"));
    unsigned long long old_print = peer_fingerprint(&before);

    /* Renewal: a new a.test certificate (new key, new serial) and a new host c.test. */
    assert_int_equal(make_cert("a.test", "certs/a.test"), 0);
    assert_int_equal(make_cert("c.test", "certs/c.test"), 0);
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(tls_server_reload(tls, &errors), GW_OK);
    assert_int_equal(tls_server_host_count(tls), 4);

    struct client after;
    assert_true(client_open(&after, "a.test", 0));
    assert_true(peer_fingerprint(&after) != old_print);
    assert_true(client_get(&after, "a.test"));
    client_close(&after);
    expect_cn("c.test", "c.test");

    /* The connection from before the reload was not dropped and still has its certificate. */
    assert_true(client_get(&before, "a.test"));
    assert_true(peer_fingerprint(&before) == old_print);
    client_close(&before);

    /* A broken reload (a certificate without its key) keeps the current set. */
    char path[256];
    snprintf(path, sizeof(path), "%s/certs/d.test.key", dir);
    assert_int_equal(make_cert("d.test", "certs/d.test"), 0);
    unlink(path);
    buf_reset(&errors);
    assert_int_equal(tls_server_reload(tls, &errors), GW_ERR_TLS);
    assert_non_null(strstr(buf_cstr(&errors), "d.test.key"));
    assert_int_equal(tls_server_host_count(tls), 4);
    expect_cn("c.test", "c.test");
    buf_free(&errors);
}

static void test_expiry_gauge(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), GW_OK);
    const char *text = buf_cstr(&out);
    assert_non_null(strstr(text, "# TYPE tls_certificate_expiry_seconds gauge"));
    const char *line = strstr(text, "tls_certificate_expiry_seconds{host=\"b.test\"} ");
    assert_non_null(line);
    double expiry = strtod(line + strlen("tls_certificate_expiry_seconds{host=\"b.test\"} "), NULL);
    double now = (double)time(NULL);
    assert_true(expiry > now && expiry < now + 3 * 86400);
    assert_non_null(strstr(text, "tls_certificate_expiry_seconds{host=\"default\"} "));
    buf_free(&out);
}

static void test_bad_configuration(void **state)
{
    (void)state;
    struct tls_server *t = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(tls_server_create_from(NULL, NULL, NULL, &t, &errors), GW_ERR_NOT_FOUND);
    assert_null(t);
    buf_reset(&errors);
    assert_int_equal(tls_server_create_from(NULL, NULL, "/nonexistent-mcpgw-dir", &t, &errors), GW_ERR_IO);
    assert_non_null(strstr(buf_cstr(&errors), "ERROR: TLS:"));
    buf_reset(&errors);
    char cert[256];
    snprintf(cert, sizeof(cert), "%s/default.crt", dir);
    assert_int_equal(tls_server_create_from(cert, cert, NULL, &t, &errors), GW_ERR_TLS);
    assert_null(t);
    /* Only a directory: works, the first host is the default. */
    buf_reset(&errors);
    char only[128];
    snprintf(only, sizeof(only), "%s/only", dir);
    mkdir(only, 0700);
    assert_int_equal(make_cert("solo.test", "only/solo.test"), 0);
    assert_int_equal(tls_server_create_from(NULL, NULL, only, &t, &errors), GW_OK);
    assert_int_equal(tls_server_host_count(t), 1);
    tls_server_free(t);
    buf_free(&errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_picks_certificate),
        cmocka_unit_test(test_tls11_refused),
        cmocka_unit_test(test_reload_swaps_for_new_connections),
        cmocka_unit_test(test_expiry_gauge),
        cmocka_unit_test(test_bad_configuration),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
