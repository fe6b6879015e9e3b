/*
 * acme_client.c - uacme runs, the challenge hook, the account (see acme_client.h).
 */
#include "acme_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/acme_paths.h"
#include "core/alloc.h"

#define OUTPUT_CAP (256 * 1024)
#define SYSTEM_CA_DIR "/etc/ssl/certs"

static const char hook_script[] =
    "#!/bin/sh\n"
    "# Written by mcpgw renew-certs: uacme runs this for every ACME challenge (see docs/certificates.md).\n"
    "exec \"$MCPGW_ACME_SELF\" renew-certs --challenge-hook \"$@\"\n";

static char *path_join(const char *a, const char *b)
{
    struct buf p;
    buf_init(&p, 8192);
    buf_printf(&p, "%s/%s", a, b);
    return buf_take(&p);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mkdir -p with mode for each directory created. */
static bool make_dirs(const char *path, mode_t mode)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
        return false;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return false;
            *p = '/';
        }
    }
    return mkdir(tmp, mode) == 0 || errno == EEXIST;
}

/* Write data to path through a temporary file and rename(2), so readers see old or new. */
static bool write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return false;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            close(fd);
            unlink(tmp);
            return false;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return false;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return false;
    }
    return true;
}

static char *read_small_file(const char *path, size_t cap)
{
    struct buf b;
    buf_init(&b, cap);
    if (buf_append_file(&b, path) != GW_OK) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

static char *find_program(const char *name)
{
    const char *path = getenv("PATH");
    for (const char *p = path && *path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        struct buf b;
        buf_init(&b, 8192);
        buf_printf(&b, "%.*s/%s", (int)len, p, name);
        if (len > 0 && access(buf_cstr(&b), X_OK) == 0)
            return buf_take(&b);
        buf_free(&b);
        p += len;
        if (*p == ':')
            p++;
    }
    return NULL;
}

enum gw_err acme_client_init(struct acme_client *c, const struct config *cfg, const char *self_exe,
                             struct buf *errors)
{
    memset(c, 0, sizeof(*c));
    c->state_dir = acme_state_dir(cfg);
    c->confdir = path_join(c->state_dir, "uacme");
    c->hook = path_join(c->state_dir, "challenge-hook");
    c->challenge_dir = acme_challenge_dir(cfg);
    c->directory_url = gw_strdup(config_get(cfg, "ACME_DIRECTORY_URL", ACME_DEFAULT_DIRECTORY_URL));
    c->email = gw_strdup(config_get(cfg, "ACME_EMAIL", ""));
    const char *bundle = config_get(cfg, "ACME_CA_BUNDLE", NULL);
    c->ca_bundle = bundle && *bundle ? gw_strdup(bundle) : NULL;
    c->renew_days = (int)config_get_int(cfg, "ACME_RENEW_DAYS", 30);
    c->timeout_s = 300;
    c->uacme = find_program("uacme");
    if (!c->uacme) {
        buf_printf(errors,
                   "ERROR: uacme not found in PATH (apt-get install uacme; scripts/setup installs it)\n");
        return GW_ERR_NOT_FOUND;
    }
    if (!make_dirs(c->confdir, 0700) || !make_dirs(c->challenge_dir, 0755)) {
        buf_printf(errors, "ERROR: cannot create %s or %s: %s\n", c->confdir, c->challenge_dir,
                   strerror(errno));
        return GW_ERR_IO;
    }
    chmod(c->state_dir, 0700); /* account and certificate keys live below */
    if (!write_atomic(c->hook, hook_script, sizeof(hook_script) - 1, 0700)) {
        buf_printf(errors, "ERROR: cannot write %s: %s\n", c->hook, strerror(errno));
        return GW_ERR_IO;
    }
    if (setenv("MCPGW_ACME_SELF", self_exe, 1) != 0 ||
        setenv("MCPGW_ACME_CHALLENGE_DIR", c->challenge_dir, 1) != 0) {
        buf_printf(errors, "ERROR: cannot set the hook's environment\n");
        return GW_ERR_IO;
    }
    if (c->ca_bundle) {
        char *pem = read_small_file(c->ca_bundle, 4 << 20);
        if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----")) {
            buf_printf(errors, "ERROR: ACME_CA_BUNDLE %s: %s\n", c->ca_bundle,
                       pem ? "no PEM certificate in it" : strerror(errno));
            free(pem);
            return GW_ERR_CONFIG;
        }
        c->trust_dir = path_join(c->state_dir, "trust");
        char *copy = path_join(c->trust_dir, "acme-ca-bundle.pem");
        bool ok = make_dirs(c->trust_dir, 0755) && write_atomic(copy, pem, strlen(pem), 0644);
        free(copy);
        free(pem);
        if (!ok) {
            buf_printf(errors, "ERROR: cannot copy ACME_CA_BUNDLE into %s: %s\n", c->trust_dir,
                       strerror(errno));
            return GW_ERR_IO;
        }
    }
    return GW_OK;
}

void acme_client_free(struct acme_client *c)
{
    free(c->uacme);
    free(c->state_dir);
    free(c->confdir);
    free(c->hook);
    free(c->trust_dir);
    free(c->challenge_dir);
    free(c->directory_url);
    free(c->email);
    free(c->ca_bundle);
    memset(c, 0, sizeof(*c));
}

char *acme_client_cert_path(const struct acme_client *c, const char *host)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_printf(&b, "%s/%s/cert.pem", c->confdir, host);
    return buf_take(&b);
}

char *acme_client_key_path(const struct acme_client *c, const char *host)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_printf(&b, "%s/private/%s/key.pem", c->confdir, host);
    return buf_take(&b);
}

/* ---- running uacme ---- */

static bool write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* In the child, before exec: see only trust_dir as the system's CA directory. */
static bool private_trust(const char *trust_dir)
{
    if (unshare(CLONE_NEWNS) != 0) {
        if (errno != EPERM)
            return false;
        /* not root: a user namespace of our own grants the mount, same uid and gid inside */
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            return false;
        char map[64];
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
        if (!write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/uid_map", map))
            return false;
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
        if (!write_proc("/proc/self/gid_map", map))
            return false;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    return mount(trust_dir, SYSTEM_CA_DIR, NULL, MS_BIND, NULL) == 0;
}

static void deliver_lines(struct acme_client *c, struct buf *pending, bool flush_all)
{
    for (;;) {
        char *nl = memchr(pending->data, '\n', pending->len);
        if (!nl && !(flush_all && pending->len))
            return;
        size_t len = nl ? (size_t)(nl - pending->data) : pending->len;
        char line[4096];
        snprintf(line, sizeof(line), "%.*s", (int)len, pending->data);
        line[strcspn(line, "\r")] = '\0';
        if (c->on_line && line[0])
            c->on_line(line, c->line_arg);
        size_t used = nl ? len + 1 : len;
        memmove(pending->data, pending->data + used, pending->len - used);
        pending->len -= used;
        pending->data[pending->len] = '\0';
    }
}

/* Run uacme with the common options and then args (NULL-terminated); its stderr and stdout
 * into output (capped) and, line by line, to on_line. Returns its exit status; -1 when it was
 * killed (timeout) or could not run. */
static int run_uacme(struct acme_client *c, const char *const *args, struct buf *output)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", c->renew_days);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = c->uacme;
    argv[n++] = "-v";
    argv[n++] = "-c";
    argv[n++] = c->confdir;
    argv[n++] = "-a";
    argv[n++] = c->directory_url;
    argv[n++] = "-t";
    argv[n++] = "EC";
    argv[n++] = "-d";
    argv[n++] = days;
    argv[n++] = "-h";
    argv[n++] = c->hook;
    for (size_t i = 0; args[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        buf_printf(output, "cannot create a pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        buf_printf(output, "cannot fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        signal(SIGPIPE, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* renew-certs stopped (supervisor going down): uacme too */
        if (c->trust_dir && !private_trust(c->trust_dir)) {
            fprintf(
                stderr,
                "uacme: cannot use ACME_CA_BUNDLE: a private mount namespace was refused (%s); run as root "
                "or allow unprivileged user namespaces\n",
                strerror(errno));
            _exit(2);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "uacme: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(2);
    }
    close(pipefd[1]);
    struct buf pending;
    buf_init(&pending, 1 << 20);
    long long deadline = now_ms() + (long long)c->timeout_s * 1000;
    bool killed = false;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = true;
            buf_printf(output, "uacme: timed out after %d s\n", c->timeout_s);
        }
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int r = poll(&p, 1, left > 0 ? (int)(left < 1000 ? left : 1000) : 1000);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        char chunk[4096];
        ssize_t got = read(pipefd[0], chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (output->len < OUTPUT_CAP)
            buf_append(output, chunk,
                       (size_t)got < OUTPUT_CAP - output->len ? (size_t)got : OUTPUT_CAP - output->len);
        if (buf_append(&pending, chunk, (size_t)got) != GW_OK)
            buf_reset(&pending); /* a line over 1 MiB: drop it rather than stall */
        deliver_lines(c, &pending, false);
    }
    deliver_lines(c, &pending, true);
    buf_free(&pending);
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (killed || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ---- account ---- */

static char *account_marker(const struct acme_client *c)
{
    return path_join(c->state_dir, "account.json");
}

static void remember_account(const struct acme_client *c)
{
    json_t *doc = json_pack("{s:s, s:s}", "directory", c->directory_url, "email", c->email);
    char *text = json_dumps(doc, JSON_INDENT(2));
    char *path = account_marker(c);
    if (text)
        write_atomic(path, text, strlen(text), 0600);
    free(path);
    free(text);
    json_decref(doc);
}

bool acme_client_account(struct acme_client *c, struct acme_outcome *o)
{
    memset(o, 0, sizeof(*o));
    char *marker = account_marker(c);
    json_t *doc = json_load_file(marker, 0, NULL);
    free(marker);
    char *key = path_join(c->confdir, "private/key.pem");
    bool have_key = access(key, R_OK) == 0;
    free(key);
    const char *dir = json_string_value(json_object_get(doc, "directory"));
    const char *email = json_string_value(json_object_get(doc, "email"));
    bool registered = have_key && dir && strcmp(dir, c->directory_url) == 0;
    bool same_email = registered && email && strcmp(email, c->email) == 0;
    json_decref(doc);
    if (same_email)
        return true;
    struct buf out;
    buf_init(&out, OUTPUT_CAP + 1);
    int rc;
    if (!registered) {
        const char *args[] = {"-y", "new", c->email, NULL};
        rc = run_uacme(c, args, &out);
        /* the key already has an account there (the marker was lost): that is the account */
        if (rc == 2 && strstr(buf_cstr(&out), "Account already exists"))
            rc = 0;
    } else {
        const char *args[] = {"update", c->email, NULL};
        rc = run_uacme(c, args, &out);
    }
    if (rc == 0)
        remember_account(c);
    else
        acme_outcome_parse(out.data, out.len, rc == 1 ? 2 : rc, o);
    buf_free(&out);
    return rc == 0;
}

/* ---- issuing ---- */

/* uacme keeps the previous certificate as HOST/cert-<second the issuance started>.pem (a hard
 * link) and fails if that name exists: two issuances of one host in the same second (a --force
 * right after a renewal). Wait for the next second in that case. */
static void avoid_backup_clash(const struct acme_client *c, const char *host)
{
    for (int tries = 0; tries < 30; tries++) {
        struct buf p;
        buf_init(&p, 8192);
        buf_printf(&p, "%s/%s/cert-%llu.pem", c->confdir, host, (unsigned long long)time(NULL));
        bool clash = access(buf_cstr(&p), F_OK) == 0;
        buf_free(&p);
        if (!clash)
            return;
        usleep(100 * 1000);
    }
}

void acme_client_issue(struct acme_client *c, const char *host, bool force, struct acme_outcome *o)
{
    avoid_backup_clash(c, host);
    struct buf out;
    buf_init(&out, OUTPUT_CAP + 1);
    const char *forced[] = {"-f", "issue", host, NULL};
    const char *plain[] = {"issue", host, NULL};
    int rc = run_uacme(c, force ? forced : plain, &out);
    acme_outcome_parse(out.data, out.len, rc, o);
    buf_free(&out);
}

/* ---- installing for the router ---- */

/* notAfter of the first certificate in cert_pem (Unix time), after checking that key_pem is its
 * key. false with why filled otherwise. */
static bool check_pair(const char *cert_pem, const char *key_pem, long long *not_after, char *why,
                       size_t whysz)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    bool ok = false;
    struct tm tm;
    if (!x)
        snprintf(why, whysz, "the certificate is not PEM");
    else if (!k)
        snprintf(why, whysz, "the key is not PEM");
    else if (X509_check_private_key(x, k) != 1)
        snprintf(why, whysz, "the key does not match the certificate");
    else if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
        snprintf(why, whysz, "the certificate has no readable expiry");
    else {
        *not_after = (long long)timegm(&tm);
        ok = true;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    return ok;
}

bool acme_client_install(const struct acme_client *c, const char *cert_dir, const char *host, bool *changed,
                         long long *not_after, char *why, size_t whysz)
{
    *changed = false;
    char *src_cert = acme_client_cert_path(c, host), *src_key = acme_client_key_path(c, host);
    char *cert = read_small_file(src_cert, 1 << 20), *key = read_small_file(src_key, 1 << 20);
    bool ok = false;
    if (!cert || !key) {
        snprintf(why, whysz, "%s: %s", cert ? src_key : src_cert, strerror(errno));
    } else if (check_pair(cert, key, not_after, why, whysz)) {
        struct buf b;
        buf_init(&b, 8192);
        buf_printf(&b, "%s/%s.crt", cert_dir, host);
        char *dst_cert = buf_take(&b);
        buf_init(&b, 8192);
        buf_printf(&b, "%s/%s.key", cert_dir, host);
        char *dst_key = buf_take(&b);
        char *old_cert = read_small_file(dst_cert, 1 << 20), *old_key = read_small_file(dst_key, 1 << 20);
        if (old_cert && old_key && strcmp(old_cert, cert) == 0 && strcmp(old_key, key) == 0) {
            ok = true; /* installed already */
        } else if (!make_dirs(cert_dir, 0700)) {
            snprintf(why, whysz, "cannot create %s: %s", cert_dir, strerror(errno));
        } else if (!write_atomic(dst_key, key, strlen(key), 0600) ||
                   !write_atomic(dst_cert, cert, strlen(cert), 0644)) {
            snprintf(why, whysz, "cannot write into %s: %s", cert_dir, strerror(errno));
        } else {
            ok = true;
            *changed = true;
        }
        if (old_key)
            OPENSSL_cleanse(old_key, strlen(old_key));
        free(old_cert);
        free(old_key);
        free(dst_cert);
        free(dst_key);
    }
    if (key)
        OPENSSL_cleanse(key, strlen(key));
    free(cert);
    free(key);
    free(src_cert);
    free(src_key);
    return ok;
}

/* ---- the hook ---- */

static bool key_authorization_ok(const char *token, const char *auth)
{
    size_t tlen = strlen(token);
    if (strncmp(auth, token, tlen) != 0 || auth[tlen] != '.')
        return false;
    return acme_challenge_token_ok(auth + tlen + 1, strlen(auth + tlen + 1));
}

int acme_hook_main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr,
                "Usage: mcpgw renew-certs --challenge-hook METHOD TYPE IDENT TOKEN AUTH (run by uacme)\n");
        return 2;
    }
    const char *method = argv[1], *type = argv[2], *token = argv[4], *auth = argv[5];
    if (strcmp(type, "http-01") != 0)
        return 1; /* decline dns-01 and tls-alpn-01: the router serves HTTP-01 only */
    const char *dir = getenv("MCPGW_ACME_CHALLENGE_DIR");
    if (!dir || !*dir) {
        fprintf(stderr,
                "challenge hook: MCPGW_ACME_CHALLENGE_DIR is not set (run through mcpgw renew-certs)\n");
        return 2;
    }
    if (!acme_challenge_token_ok(token, strlen(token))) {
        fprintf(stderr, "challenge hook: refusing a token that is not base64url\n");
        return 1;
    }
    char *path = path_join(dir, token);
    int rc = 0;
    if (strcmp(method, "begin") == 0) {
        if (!key_authorization_ok(token, auth)) {
            fprintf(stderr, "challenge hook: the key authorization is not TOKEN.THUMBPRINT\n");
            rc = 1;
        } else if (!make_dirs(dir, 0755) || !write_atomic(path, auth, strlen(auth), 0644)) {
            fprintf(stderr, "challenge hook: cannot write %s: %s\n", path, strerror(errno));
            rc = 1;
        }
    } else if (strcmp(method, "done") == 0 || strcmp(method, "failed") == 0) {
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "challenge hook: cannot remove %s: %s\n", path, strerror(errno));
            rc = 1;
        }
    } else {
        fprintf(stderr, "challenge hook: unknown method %s\n", method);
        rc = 2;
    }
    free(path);
    return rc;
}
