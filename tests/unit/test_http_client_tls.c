/*
 * test_http_client_tls.c - the HTTP client over TLS with a private CA (the ca_file option).
 * The test makes its own CA and a server certificate for IP 127.0.0.1 with OpenSSL, and serves
 * HTTPS from an evhttp server (bufferevent_openssl) on its own thread and event_base.
 */
#include "event_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/http_client.h"

static struct {
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    SSL_CTX *ssl;
    int port;
} server;

static char tmpdir[] = "/tmp/mcpgw-test-tls-XXXXXX";
static char ca_path[256], other_ca_path[256];

/* ---- a private CA ---- */

static void add_extension(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* issuer NULL: self-signed CA. */
static X509 *make_certificate(EVP_PKEY *key, const char *common_name, X509 *issuer, EVP_PKEY *issuer_key)
{
    static long serial = 1;
    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)common_name, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *signer = issuer ? issuer : cert;
    add_extension(cert, signer, NID_subject_key_identifier, "hash");
    if (!issuer) {
        add_extension(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert, signer, NID_authority_key_identifier, "keyid:always");
        add_extension(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert, signer, NID_ext_key_usage, "serverAuth");
        add_extension(cert, signer, NID_subject_alt_name, "IP:127.0.0.1");
    }
    assert_true(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return cert;
}

static void write_pem(const char *path, X509 *cert)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_X509(f, cert);
    fclose(f);
}

/* ---- the HTTPS server (its own thread) ---- */

static struct bufferevent *make_tls_bufferevent(struct event_base *base, void *arg)
{
    return bufferevent_openssl_socket_new(base, -1, SSL_new(arg), BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void handle_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "hello tls");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void *server_main(void *arg)
{
    (void)arg;
    event_base_dispatch(server.base);
    evhttp_free(server.http);
    event_base_free(server.base);
    return NULL;
}

static int group_setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
    snprintf(other_ca_path, sizeof(other_ca_path), "%s/other-ca.pem", tmpdir);

    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *server_key = EVP_EC_gen("P-256"),
             *other_key = EVP_EC_gen("P-256");
    X509 *ca = make_certificate(ca_key, "mcpgw test CA", NULL, NULL);
    X509 *other_ca = make_certificate(other_key, "some other CA", NULL, NULL);
    X509 *server_cert = make_certificate(server_key, "127.0.0.1", ca, ca_key);
    write_pem(ca_path, ca);
    write_pem(other_ca_path, other_ca);

    server.ssl = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(server.ssl, server_cert);
    SSL_CTX_use_PrivateKey(server.ssl, server_key);
    X509_free(ca);
    X509_free(other_ca);
    X509_free(server_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(server_key);
    EVP_PKEY_free(other_key);

    server.base = event_base_new();
    server.http = evhttp_new(server.base);
    evhttp_set_bevcb(server.http, make_tls_bufferevent, server.ssl);
    evhttp_set_gencb(server.http, handle_request, NULL);
    server.port = fixture_evhttp_listen(server.http);
    if (server.port < 0)
        return -1;
    return pthread_create(&server.thread, NULL, server_main, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    event_base_loopbreak(server.base);
    pthread_join(server.thread, NULL);
    SSL_CTX_free(server.ssl);
    unlink(ca_path);
    unlink(other_ca_path);
    rmdir(tmpdir);
    return 0;
}

/* ---- client side ---- */

struct outcome {
    bool done;
    enum gw_err err;
    long status;
    char body[64];
    char error[512];
};

static void record_done(struct http_client_response *r, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->err = r->err;
    o->status = r->status;
    snprintf(o->body, sizeof(o->body), "%s", buf_cstr(&r->body));
    snprintf(o->error, sizeof(o->error), "%s", r->error);
}

static struct outcome fetch(const char *host, const char *ca_file)
{
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    struct http_client *client = NULL;
    assert_int_equal(http_client_create(loop.base, &client), GW_OK);
    char url[128];
    snprintf(url, sizeof(url), "https://%s:%d/hello", host, server.port);
    struct http_client_request req = {.url = url, .ca_file = ca_file, .timeout_ms = 5000};
    struct outcome o = {0};
    assert_int_equal(http_client_request(client, &req, record_done, &o, NULL), GW_OK);
    assert_true(fixture_run_until_flag(&loop, &o.done, 10));
    http_client_free(client);
    fixture_loop_free(&loop);
    return o;
}

static void test_private_ca_trusted(void **state)
{
    (void)state;
    struct outcome o = fetch("127.0.0.1", ca_path);
    if (o.err != GW_OK)
        fail_msg("TLS request failed: %s", o.error);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello tls");
}

static void test_untrusted_certificate_refused(void **state)
{
    (void)state;
    struct outcome o = fetch("127.0.0.1", NULL); /* the system store does not know our CA */
    assert_int_equal(o.err, GW_ERR_TLS);
    assert_int_equal(o.status, 0);
    o = fetch("127.0.0.1", other_ca_path);
    assert_int_equal(o.err, GW_ERR_TLS);
    assert_true(o.error[0] != '\0');
}

static void test_name_mismatch_refused(void **state)
{
    (void)state;
    /* The certificate is for IP 127.0.0.1 only; "localhost" is not in it. */
    struct outcome o = fetch("localhost", ca_path);
    assert_int_equal(o.err, GW_ERR_TLS);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads(); /* the fixture stops the server thread's loop from this thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_ca_trusted),
        cmocka_unit_test(test_untrusted_certificate_refused),
        cmocka_unit_test(test_name_mismatch_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
