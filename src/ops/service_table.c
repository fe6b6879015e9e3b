/*
 * service_table.c - the services of `mcpgw up` from the configuration, and their probes.
 */
#include "service_table.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/acme_paths.h"
#include "core/alloc.h"
#include "core/redis_locate.h"
#include "core/redis_url.h"

/* ---- this binary ---- */

const char *service_self_exe(void)
{
    static char path[4096];
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (n <= 0)
            snprintf(path, sizeof(path), "mcpgw");
        else
            path[n] = '\0';
    }
    return path;
}

static char *help;

void service_set_help_text(const char *help_text)
{
    free(help);
    help = gw_strdup(help_text);
}

bool service_have_command(const char *command)
{
    /* The command table lives in main.c (not linked into tests); asking the binary itself is
     * the one answer that matches what a child start would find. */
    if (!help) {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "'%s' --help 2>/dev/null", service_self_exe());
        FILE *p = popen(cmd, "r");
        struct buf b;
        buf_init(&b, 1 << 20);
        if (p) {
            char chunk[4096];
            size_t n;
            while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
                buf_append(&b, chunk, n);
            pclose(p);
        }
        help = buf_take(&b);
        if (!help)
            help = gw_strdup("");
    }
    size_t len = strlen(command);
    for (const char *line = help; line && *line;) {
        if (strncmp(line, "  ", 2) == 0 && strncmp(line + 2, command, len) == 0 &&
            (line[2 + len] == ' ' || line[2 + len] == '\n' || line[2 + len] == '\0'))
            return true;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

const char *service_canonical_name(const char *name)
{
    return strcasecmp(name, "traefik") == 0 ? "router" : name;
}

/* ---- building ---- */

struct argv_builder {
    char **v;
    size_t n;
};

static void argv_push(struct argv_builder *a, const char *s)
{
    a->v = gw_realloc(a->v, (a->n + 2) * sizeof(char *));
    a->v[a->n++] = gw_strdup(s);
    a->v[a->n] = NULL;
}

static void push_env_file(struct argv_builder *a, const char *env_file)
{
    if (env_file) {
        argv_push(a, "--env-file");
        argv_push(a, env_file);
    }
}

static struct service_spec *add_spec(struct service_table *t, const char *name, enum service_kind kind)
{
    t->items = gw_realloc(t->items, (t->count + 1) * sizeof(*t->items));
    struct service_spec *s = &t->items[t->count++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->kind = kind;
    s->managed = true;
    s->health_path = "/health";
    snprintf(s->health_host, sizeof(s->health_host), "127.0.0.1");
    return s;
}

static void add_port(struct service_spec *s, const char *var, int port)
{
    if (port > 0 && s->nports < SERVICE_MAX_PORTS) {
        s->ports[s->nports] = port;
        s->port_vars[s->nports++] = var;
    }
}

/* Where a role listens (the router on BIND_ADDRESS, the rest on INTERNAL_BIND_ADDRESS: the
 * children pick the same by themselves) and where health checks, stats and the diagnostic
 * bundle connect to it: that address, or loopback for a wildcard. */
static void addresses_from(const struct config *cfg, bool public_edge, struct service_spec *s)
{
    const char *bind = config_bind_address(cfg, public_edge);
    snprintf(s->bind_host, sizeof(s->bind_host), "%s", bind);
    snprintf(s->health_host, sizeof(s->health_host), "%s", config_connect_address(bind));
}

static struct service_spec *add_role(struct service_table *t, const struct config *cfg, const char *name,
                                     const char *command, const char *env_file)
{
    struct service_spec *s = add_spec(t, name, SERVICE_HTTP);
    struct argv_builder a = {0};
    argv_push(&a, service_self_exe());
    argv_push(&a, command);
    push_env_file(&a, env_file);
    s->argv = a.v;
    addresses_from(cfg, strcmp(command, "router") == 0, s);
    return s;
}

static bool is_local_host(const char *host)
{
    return host &&
           (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0);
}

static enum gw_err add_redis(struct service_table *t, const struct config *cfg, bool probe,
                             struct buf *errors)
{
    struct redis_endpoint ep;
    const char *reason = NULL;
    if (redis_endpoint_parse(config_get(cfg, "REDIS_URL", "redis://127.0.0.1:6379/0"), &ep, &reason) !=
        GW_OK) {
        buf_printf(errors, "ERROR: Invalid value for REDIS_URL: %s\n", reason ? reason : "not a Redis URL");
        return GW_ERR_CONFIG;
    }
    struct service_spec *s = add_spec(t, "redis", SERVICE_REDIS);
    const char *password = ep.password ? ep.password : config_get(cfg, "REDIS_PASSWORD", NULL);
    if (password && *password)
        s->redis_password = gw_strdup(password);
    if (ep.unix_path || !is_local_host(ep.host)) {
        /* Redis runs elsewhere: watched, never started. */
        s->managed = false;
        snprintf(s->health_host, sizeof(s->health_host), "%s", ep.host ? ep.host : "");
        s->health_port = ep.port;
        if (redis_endpoint_needs_lookup(&ep)) {
            s->redis_url = gw_strdup(config_get(cfg, "REDIS_URL", ""));
            if (ep.sentinel_count) {
                snprintf(s->health_host, sizeof(s->health_host), "%s", ep.sentinels[0].host);
                s->health_port = ep.sentinels[0].port;
            }
        }
        if (ep.unix_path)
            buf_printf(&t->notes, "redis: REDIS_URL is a Unix socket (%s); not started by mcpgw\n",
                       ep.unix_path);
        redis_endpoint_free(&ep);
        return GW_OK;
    }
    snprintf(s->health_host, sizeof(s->health_host), "%s", ep.host);
    snprintf(s->bind_host, sizeof(s->bind_host), "%s", ep.host);
    s->health_port = ep.port;
    if (probe && service_port_answers(ep.host, ep.port, 500)) {
        /* Something answers there already: use it if it is a Redis that takes our password. */
        struct buf detail;
        buf_init(&detail, 1024);
        bool ok = service_probe(s, 1000, &detail);
        if (!ok)
            buf_printf(&t->notes, "redis: %s answers, but not as a Redis that takes REDIS_PASSWORD (%s)\n",
                       ep.address, buf_cstr(&detail));
        buf_free(&detail);
        if (ok) {
            s->managed = false;
            buf_printf(&t->notes, "redis: a Redis already answers on %s; using it\n", ep.address);
            redis_endpoint_free(&ep);
            return GW_OK;
        }
    }
    char data_dir[4096], port[16];
    snprintf(data_dir, sizeof(data_dir), "%s/redis", config_get(cfg, "DATA_DIR", "./data"));
    snprintf(port, sizeof(port), "%d", ep.port);
    struct argv_builder a = {0};
    const char *fixed[] = {
        "redis-server", "--bind", ep.host,  "--port",      port, "--appendonly", "yes", "--appendfsync",
        "everysec",     "--dir",  data_dir, "--daemonize", "no", "--logfile",    "",    "--protected-mode",
        "yes"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv_push(&a, fixed[i]);
    if (s->redis_password) {
        argv_push(&a, "--requirepass");
        argv_push(&a, s->redis_password);
    }
    s->argv = a.v;
    add_port(s, "REDIS_URL", ep.port);
    redis_endpoint_free(&ep);
    return GW_OK;
}

/* MCP_<NAME>_COMMAND -> "name" lower-cased, '_' -> '-'. */
static bool command_service_name(const char *var, char *out, size_t outsz)
{
    size_t len = strlen(var), slen = strlen("_COMMAND");
    if (strncmp(var, "MCP_", 4) != 0 || len <= 4 + slen || strcmp(var + len - slen, "_COMMAND") != 0)
        return false;
    size_t n = len - 4 - slen;
    if (n + 5 > outsz)
        return false;
    memcpy(out, "mcp-", 4);
    for (size_t i = 0; i < n; i++) {
        char c = var[4 + i];
        out[4 + i] = c == '_' ? '-' : (char)tolower((unsigned char)c);
    }
    out[4 + n] = '\0';
    return true;
}

static void add_stdio_services(struct service_table *t, const struct config *cfg, const char *env_file)
{
    size_t n = config_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        config_entry(cfg, i, &name, &value, NULL);
        char svc[SERVICE_NAME_MAX];
        if (!name || !value || !*value || !command_service_name(name, svc, sizeof(svc)))
            continue;
        char prefix[256], var[300];
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(strlen(name) - strlen("_COMMAND")), name);
        snprintf(var, sizeof(var), "%s_ENABLED", prefix);
        if (config_has(cfg, var) && !config_get_bool(cfg, var, true))
            continue;
        if (!service_have_command("stdio-proxy")) {
            buf_printf(&t->notes, "%s: %s is set but this build has no `mcpgw stdio-proxy`; not started\n",
                       svc, name);
            continue;
        }
        snprintf(var, sizeof(var), "%s_PORT", prefix);
        int port = config_stdio_port(cfg, prefix + strlen("MCP_"));
        if (port <= 0) {
            buf_printf(&t->notes, "%s: %s is not a port; not started\n", svc, var);
            continue;
        }
        struct service_spec *s = add_spec(t, svc, SERVICE_HTTP);
        struct argv_builder a = {0};
        argv_push(&a, service_self_exe());
        argv_push(&a, "stdio-proxy");
        push_env_file(&a, env_file);
        argv_push(&a, "--name");
        argv_push(&a, svc);
        argv_push(&a, "--port");
        char p[16];
        snprintf(p, sizeof(p), "%d", port);
        argv_push(&a, p);
        argv_push(&a, "--");
        argv_push(&a, "/bin/sh");
        argv_push(&a, "-c");
        char line[8192];
        snprintf(line, sizeof(line), "exec %s", value);
        argv_push(&a, line);
        s->argv = a.v;
        addresses_from(cfg, false, s);
        s->health_port = port;
        add_port(s, config_has(cfg, var) ? "MCP_<NAME>_PORT" : "automatic stdio port", port);
    }
}

enum gw_err service_table_build(const struct config *cfg, const char *env_file, bool probe_redis,
                                struct service_table *out, struct buf *errors)
{
    memset(out, 0, sizeof(*out));
    buf_init(&out->notes, 64 * 1024);
    if (add_redis(out, cfg, probe_redis, errors) != GW_OK) {
        service_table_free(out);
        return GW_ERR_CONFIG;
    }
    if (service_have_command("auth")) {
        struct service_spec *s = add_role(out, cfg, "auth", "auth", env_file);
        s->health_port = (int)config_get_int(cfg, "AUTH_PORT", 8000);
        add_port(s, "AUTH_PORT", s->health_port);
    } else {
        buf_append_str(&out->notes, "auth: this build has no `mcpgw auth` yet; not started\n");
    }
    if (service_have_command("router")) {
        struct service_spec *s = add_role(out, cfg, "router", "router", env_file);
        s->health_port = (int)config_get_int(cfg, "ADMIN_PORT", 8080);
        add_port(s, "HTTP_PORT", (int)config_get_int(cfg, "HTTP_PORT", 80));
        /* HTTPS is listened on with certificate files or with ACME (certificates from renew-certs) */
        bool tls = config_has(cfg, "TLS_CERT_FILE") || config_has(cfg, "TLS_CERT_DIR") || acme_enabled(cfg);
        add_port(s, "HTTPS_PORT", tls ? (int)config_get_int(cfg, "HTTPS_PORT", 443) : 0);
        add_port(s, "ADMIN_PORT", s->health_port);
    } else {
        buf_append_str(&out->notes, "router: this build has no `mcpgw router` yet; not started\n");
    }
    static const struct {
        const char *name, *command, *enabled, *port_var;
        int port;
    } builtin[] = {
        {"mcp-fetch", "fetch", "MCP_FETCH_ENABLED", "MCP_FETCH_PORT", 3000},
        {"mcp-echo", "echo", "MCP_ECHO_ENABLED", "MCP_ECHO_PORT", 3001},
    };
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        if (!config_get_bool(cfg, builtin[i].enabled, false))
            continue;
        if (!service_have_command(builtin[i].command)) {
            buf_printf(&out->notes, "%s: %s=true but this build has no `mcpgw %s`; not started\n",
                       builtin[i].name, builtin[i].enabled, builtin[i].command);
            continue;
        }
        struct service_spec *s = add_role(out, cfg, builtin[i].name, builtin[i].command, env_file);
        s->health_port = (int)config_get_int(cfg, builtin[i].port_var, builtin[i].port);
        add_port(s, builtin[i].port_var, s->health_port);
    }
    add_stdio_services(out, cfg, env_file);
    return GW_OK;
}

void service_table_free(struct service_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        struct service_spec *s = &t->items[i];
        for (size_t j = 0; s->argv && s->argv[j]; j++)
            free(s->argv[j]);
        free(s->argv);
        if (s->redis_password) {
            explicit_bzero(s->redis_password, strlen(s->redis_password));
            free(s->redis_password);
        }
        if (s->redis_url) {
            explicit_bzero(s->redis_url, strlen(s->redis_url));
            free(s->redis_url);
        }
    }
    free(t->items);
    buf_free(&t->notes);
    memset(t, 0, sizeof(*t));
}

struct service_spec *service_table_find(const struct service_table *t, const char *name)
{
    const char *canonical = service_canonical_name(name);
    for (size_t i = 0; i < t->count; i++)
        if (strcasecmp(t->items[i].name, canonical) == 0)
            return &t->items[i];
    /* "echo" for "mcp-echo", as people type it */
    for (size_t i = 0; i < t->count; i++)
        if (strncmp(t->items[i].name, "mcp-", 4) == 0 && strcasecmp(t->items[i].name + 4, canonical) == 0)
            return &t->items[i];
    return NULL;
}

char *service_run_dir(const struct config *cfg)
{
    const char *run = config_get(cfg, "RUN_DIR", NULL);
    if (run && *run)
        return gw_strdup(run);
    char path[4096];
    snprintf(path, sizeof(path), "%s/run", config_get(cfg, "DATA_DIR", "./data"));
    return gw_strdup(path);
}

/* ---- probes ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected TCP socket to host:port within timeout_ms, or -1 (errno set). */
static int connect_timeout(const char *host, int port, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) <= 0) {
        close(fd);
        errno = ETIMEDOUT;
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        close(fd);
        errno = soerr;
        return -1;
    }
    return fd;
}

bool service_port_answers(const char *host, int port, int timeout_ms)
{
    int fd = connect_timeout(host, port, timeout_ms);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Send all of data, then read until the peer closes, `until` appears, or the deadline. */
static bool exchange(int fd, const char *data, size_t len, struct buf *reply, const char *until,
                     long long deadline)
{
    size_t sent = 0;
    while (sent < len) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
            return false;
        ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        if (n > 0)
            sent += (size_t)n;
    }
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            return false;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0)
            return true;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return false;
        }
        buf_append(reply, chunk, (size_t)n);
        if (until && strstr(buf_cstr(reply), until))
            return true;
    }
}

/* "redis: Could not connect ...; tokens: ..." from the checks of a /health body. */
static void failing_checks(const char *body, struct buf *detail)
{
    json_t *root = json_loads(body, 0, NULL);
    json_t *checks = root ? json_object_get(root, "checks") : NULL;
    const char *key;
    json_t *value;
    bool any = false;
    json_object_foreach(checks, key, value)
    {
        const char *status = json_string_value(json_object_get(value, "status"));
        if (status && strcmp(status, "healthy") == 0)
            continue;
        const char *why = json_string_value(json_object_get(value, "detail"));
        if (!why)
            why = json_string_value(json_object_get(value, "error"));
        buf_printf(detail, "%s%s: %s", any ? "; " : "", key,
                   why && *why ? why : (status ? status : "failing"));
        any = true;
    }
    if (!any)
        buf_append_str(detail, "status 503");
    json_decref(root);
}

static bool probe_http(const struct service_spec *s, int timeout_ms, struct buf *detail)
{
    long long deadline = now_ms() + timeout_ms;
    int fd = connect_timeout(s->health_host, s->health_port, timeout_ms);
    if (fd < 0) {
        buf_printf(detail, "%s:%d: %s", s->health_host, s->health_port, strerror(errno));
        return false;
    }
    char req[512];
    int n = snprintf(
        req, sizeof(req),
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nUser-Agent: mcpgw-supervisor\r\n\r\n",
        s->health_path, s->health_host, s->health_port);
    struct buf reply;
    buf_init(&reply, 256 * 1024);
    bool done = exchange(fd, req, (size_t)n, &reply, NULL, deadline);
    close(fd);
    const char *text = buf_cstr(&reply);
    int status = 0;
    if (strncmp(text, "HTTP/1.", 7) == 0 && strlen(text) > 12)
        status = atoi(text + 9);
    bool ok = status == 200;
    if (!ok) {
        const char *body = strstr(text, "\r\n\r\n");
        if (status == 503 && body)
            failing_checks(body + 4, detail);
        else if (status)
            buf_printf(detail, "status %d", status);
        else
            buf_append_str(detail, done ? "no HTTP answer" : "timed out");
    }
    buf_free(&reply);
    return ok;
}

/* Where the Redis of a host-name or Sentinel REDIS_URL is now (numeric host and port). */
static bool locate_redis(const struct service_spec *s, int timeout_ms, char *host, size_t host_size,
                         int *port, struct buf *detail)
{
    struct redis_endpoint ep;
    const char *reason = NULL;
    if (redis_endpoint_parse(s->redis_url, &ep, &reason) != GW_OK) {
        buf_printf(detail, "REDIS_URL: %s", reason);
        return false;
    }
    struct redis_location where;
    char why[640];
    bool ok = redis_locate_sync(&ep, (unsigned)timeout_ms, &where, why, sizeof(why)) == GW_OK;
    if (ok) {
        snprintf(host, host_size, "%s", where.hosts[0]);
        *port = where.port;
    } else {
        buf_append_str(detail, why);
    }
    redis_endpoint_free(&ep);
    return ok;
}

static bool probe_redis(const struct service_spec *s, int timeout_ms, struct buf *detail)
{
    long long deadline = now_ms() + timeout_ms;
    char host[sizeof(s->health_host)];
    int port = s->health_port;
    snprintf(host, sizeof(host), "%s", s->health_host);
    if (s->redis_url && !locate_redis(s, timeout_ms, host, sizeof(host), &port, detail))
        return false;
    int fd = connect_timeout(host, port, timeout_ms);
    if (fd < 0) {
        buf_printf(detail, "Could not connect to Redis at %s:%d: %s", host, port, strerror(errno));
        return false;
    }
    struct buf req, reply;
    buf_init(&req, 64 * 1024);
    buf_init(&reply, 64 * 1024);
    if (s->redis_password)
        buf_printf(&req, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n", strlen(s->redis_password), s->redis_password);
    buf_append_str(&req, "*1\r\n$4\r\nPING\r\n");
    bool done = exchange(fd, buf_cstr(&req), strlen(buf_cstr(&req)), &reply, "PONG", deadline);
    close(fd);
    const char *text = buf_cstr(&reply);
    bool ok = strstr(text, "+PONG") != NULL;
    if (!ok) {
        const char *err = strchr(text, '-');
        if (err)
            buf_printf(detail, "%.*s", (int)strcspn(err + 1, "\r\n"), err + 1);
        else
            buf_append_str(detail, done ? "no answer to PING" : "PING timed out");
    }
    explicit_bzero(req.data, req.len);
    buf_free(&req);
    buf_free(&reply);
    return ok;
}

void service_endpoint_text(const struct service_spec *s, char *out, size_t size)
{
    if (s->kind == SERVICE_REDIS && s->redis_url) {
        char *shown = config_display_value("REDIS_URL", s->redis_url);
        snprintf(out, size, "%s", shown);
        free(shown);
    } else if (s->kind == SERVICE_REDIS) {
        snprintf(out, size, strchr(s->health_host, ':') ? "redis://[%s]:%d" : "redis://%s:%d", s->health_host,
                 s->health_port);
    } else {
        snprintf(out, size, "http://%s:%d%s", s->health_host, s->health_port, s->health_path);
    }
}

bool service_probe(const struct service_spec *s, int timeout_ms, struct buf *detail)
{
    return s->kind == SERVICE_REDIS ? probe_redis(s, timeout_ms, detail) : probe_http(s, timeout_ms, detail);
}
