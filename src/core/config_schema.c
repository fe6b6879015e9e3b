/*
 * config_schema.c - every configuration variable mcpgw knows (DESIGN §5), in one table.
 *
 * Order matters: validation reports problems in this order, and show-config and the docs list
 * variables in it, so related settings stay together and the ones an operator must set come
 * first.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "acme_paths.h"
#include "ip_allowlist.h"
#include "jwt.h"
#include "redis_url.h"
#include "users_file.h"
#include "urlform.h"

#define PORT_RANGE .min = 0, .max = 65535
#define POSITIVE .min = 1, .max = LLONG_MAX

/* ---- when a variable is required ---- */

static bool always(const struct config *cfg)
{
    (void)cfg;
    return true;
}

/* GitHub is the identity provider unless local users are configured. */
static bool without_local_users(const struct config *cfg)
{
    return !config_has(cfg, "LOCAL_USERS_FILE");
}

static bool when_hs256(const struct config *cfg)
{
    return strcmp(config_get(cfg, "JWT_ALGORITHM", "RS256"), "HS256") == 0;
}

/* Let's Encrypt needs an account e-mail when HTTPS is on and no certificate is given. */
static bool when_acme(const struct config *cfg)
{
    return acme_enabled(cfg);
}

static bool with_tls_key(const struct config *cfg)
{
    return config_has(cfg, "TLS_KEY_FILE");
}

static bool with_tls_cert(const struct config *cfg)
{
    return config_has(cfg, "TLS_CERT_FILE");
}

/* ---- rules beyond the type ---- */

static const char *check_base_domain(const struct config *cfg, const char *value)
{
    (void)cfg;
    if (strstr(value, "://") || strpbrk(value, "/?#@ \t"))
        return "must be a bare host name like gateway.example.com (no scheme, path or spaces)";
    return NULL;
}

static const char *check_email(const struct config *cfg, const char *value)
{
    (void)cfg;
    const char *at = strchr(value, '@');
    if (!at || at == value || !at[1] || strchr(at + 1, '@') || strpbrk(value, " \t"))
        return "is not an e-mail address";
    return NULL;
}

static const char *check_jwt_secret(const struct config *cfg, const char *value)
{
    /* HMAC keys shorter than the hash output make HS256 tokens guessable offline. */
    if (when_hs256(cfg) && strlen(value) < 32)
        return "must be at least 32 characters";
    return NULL;
}

static const char *check_http_url(const struct config *cfg, const char *value)
{
    (void)cfg;
    struct url_parts url;
    if (url_split(value, strlen(value), &url) != GW_OK ||
        !(strview_eq_nocase(url.scheme, "http") || strview_eq_nocase(url.scheme, "https")))
        return "must be an http:// or https:// URL";
    if (url.has_query || url.has_fragment)
        return "must not have a query or fragment";
    return NULL;
}

static const char *check_ip_allowlist(const struct config *cfg, const char *value)
{
    (void)cfg;
    static _Thread_local char reason[160];
    struct ip_allowlist *list = NULL;
    if (ip_allowlist_parse(value, &list, reason, sizeof(reason)) != GW_OK)
        return reason;
    ip_allowlist_free(list);
    return NULL;
}

/* auth reads the file at every start and refuses to run without it or with a line it cannot
 * use; say so before `up`. The first problem is reported ("line 2: expected NAME:HASH ..."),
 * with how many more there are. */
static const char *check_users_file(const struct config *cfg, const char *value)
{
    (void)cfg;
    int fd = open(value, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? "cannot read it: no such file"
                               : "cannot read it: permission denied or not a file";
    char byte;
    bool readable = read(fd, &byte, 1) >= 0;
    close(fd);
    if (!readable)
        return "cannot read it: not a regular file";
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    if (users_file_check(value, &errors) == GW_OK) {
        buf_free(&errors);
        return NULL;
    }
    /* users_file_check's lines read "ERROR: PATH line N: why"; the value (PATH) is printed
     * already, so keep "line N: why". */
    static _Thread_local char reason[200];
    const char *first = buf_cstr(&errors), *line = strstr(first, " line ");
    const char *start = line ? line + 1 : first;
    size_t len = strcspn(start, "\n"), more = 0;
    for (const char *p = strchr(first, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        more++;
    if (more)
        snprintf(reason, sizeof(reason), "%.*s (and %zu more)", (int)len, start, more);
    else
        snprintf(reason, sizeof(reason), "%.*s", (int)len, start);
    buf_free(&errors);
    return reason;
}

/* auth parses the key at every start and refuses to run with a bad one; say so before `up`. */
static const char *check_jwt_private_key(const struct config *cfg, const char *value)
{
    enum jwt_alg alg = jwt_alg_from_name(config_get(cfg, "JWT_ALGORITHM", "RS256"));
    if (alg == JWT_ALG_HS256)
        return NULL; /* not used: HS256 signs with GATEWAY_JWT_SECRET */
    struct jwt_key *key = NULL;
    const char *why = NULL;
    enum gw_err err = jwt_key_from_pem_base64(value, strlen(value), alg, &key, &why);
    jwt_key_free(key);
    return err ? (why ? why : "is not a base64 PEM private key for JWT_ALGORITHM") : NULL;
}

/* The shape auth's client store needs (src/auth/client_store.c); checked here too so that
 * validate-env and `up` report it instead of auth exiting at start. */
static const char *check_static_clients(const struct config *cfg, const char *value)
{
    (void)cfg;
    json_t *list = json_loads(value, 0, NULL);
    const char *why = json_is_array(list) ? NULL : "not a JSON array";
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "client_id"));
        const json_t *uris = json_object_get(c, "redirect_uris");
        if (!why && (!id || !*id || !json_is_array(uris) || json_array_size(uris) == 0))
            why = "every entry needs client_id and redirect_uris";
    }
    json_decref(list);
    return why;
}

static const char *check_https_url(const struct config *cfg, const char *value)
{
    (void)cfg;
    if (strncasecmp(value, "https://", 8) != 0)
        return "must be an https:// URL (RFC 8555 requires HTTPS)";
    return NULL;
}

/* The Redis client's own parser: what passes here is what every role can connect with. */
static const char *check_redis_url(const struct config *cfg, const char *value)
{
    (void)cfg;
    struct redis_endpoint endpoint;
    const char *reason = NULL;
    if (redis_endpoint_parse(value, &endpoint, &reason) != GW_OK)
        return reason ? reason : "is not a Redis URL";
    redis_endpoint_free(&endpoint);
    return NULL;
}

/* A listening address: the server binds numeric addresses only. */
static const char *check_bind_address(const struct config *cfg, const char *value)
{
    (void)cfg;
    unsigned char scratch[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, value, scratch) == 1 || inet_pton(AF_INET6, value, scratch) == 1)
        return NULL;
    return "must be a numeric IP address (0.0.0.0 for every IPv4 interface, 127.0.0.1 for this machine only)";
}

static bool is_protocol_date(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

static const char *check_protocol_versions(const struct config *cfg, const char *value)
{
    (void)cfg;
    for (const char *c = value;;) {
        size_t len = strcspn(c, ",");
        const char *item = c;
        size_t item_len = len;
        while (item_len && (*item == ' ' || *item == '\t'))
            item++, item_len--;
        while (item_len && (item[item_len - 1] == ' ' || item[item_len - 1] == '\t'))
            item_len--;
        if (!is_protocol_date(item, item_len))
            return "must be a comma list of dates like 2025-06-18";
        if (!c[len])
            return NULL;
        c += len + 1;
    }
}

static const char *check_protocol_version(const struct config *cfg, const char *value)
{
    if (!is_protocol_date(value, strlen(value)))
        return "must be a date like 2025-06-18";
    size_t count;
    char **supported = config_get_list(cfg, "MCP_PROTOCOL_VERSIONS_SUPPORTED", &count);
    bool found = false;
    for (size_t i = 0; i < count; i++)
        found = found || strcmp(supported[i], value) == 0;
    config_list_free(supported, count);
    return found ? NULL : "must be one of MCP_PROTOCOL_VERSIONS_SUPPORTED";
}

/* ---- the table ---- */

static const struct config_var schema[] = {
    /* What an operator must provide. */
    {.name = "BASE_DOMAIN",
     .type = CONFIG_STRING,
     .required = always,
     .check = check_base_domain,
     .doc = "Public domain; services live at auth.DOMAIN, mcp-fetch.DOMAIN, ..."},
    {.name = "GITHUB_CLIENT_ID",
     .type = CONFIG_STRING,
     .required = without_local_users,
     .doc = "Client ID of the GitHub OAuth app (not needed with LOCAL_USERS_FILE)"},
    {.name = "GITHUB_CLIENT_SECRET",
     .type = CONFIG_STRING,
     .secret = true,
     .required = without_local_users,
     .doc = "Client secret of the GitHub OAuth app (not needed with LOCAL_USERS_FILE)"},

    /* Identity. */
    {.name = "GITHUB_BASE_URL",
     .type = CONFIG_URL,
     .default_value = "https://github.com",
     .check = check_http_url,
     .doc = "GitHub web URL (GitHub Enterprise Server: your host)"},
    {.name = "GITHUB_API_URL",
     .type = CONFIG_URL,
     .default_value = "https://api.github.com",
     .check = check_http_url,
     .doc = "GitHub API URL (GitHub Enterprise Server: https://HOST/api/v3)"},
    {.name = "ALLOWED_GITHUB_USERS",
     .type = CONFIG_LIST,
     .doc =
         "GitHub logins allowed to log in, comma-separated, or * for anyone; checked at login and again at "
         "every token refresh (read at start: restart auth to apply a change)"},
    {.name = "ALLOWED_GITHUB_ORGS",
     .type = CONFIG_LIST,
     .doc = "GitHub organisations whose members may log in, comma-separated (checked at login only)"},
    {.name = "LOCAL_USERS_FILE",
     .type = CONFIG_STRING,
     .check = check_users_file,
     .doc = "File of local users, NAME:HASH lines with bcrypt or yescrypt hashes (mcpgw add-user writes "
            "it), instead of or besides GitHub; must be readable and well formed. Read at every login and "
            "token refresh: a removed user is refused at the next refresh"},

    /* Tokens. */
    {.name = "JWT_ALGORITHM",
     .type = CONFIG_ENUM,
     .default_value = "RS256",
     .choices = "RS256|ES256|HS256",
     .doc = "Signing algorithm of issued tokens"},
    {.name = "GATEWAY_JWT_SECRET",
     .type = CONFIG_STRING,
     .secret = true,
     .required = when_hs256,
     .check = check_jwt_secret,
     .doc = "HMAC key for HS256 tokens, at least 32 characters"},
    {.name = "JWT_PRIVATE_KEY_B64",
     .type = CONFIG_STRING,
     .secret = true,
     .check = check_jwt_private_key,
     .doc = "Base64 PEM private key for RS256/ES256 (generated into DATA_DIR when unset)"},
    {.name = "ACCESS_TOKEN_LIFETIME",
     .type = CONFIG_INT,
     .default_value = "86400",
     POSITIVE,
     .doc = "Access token lifetime, seconds"},
    {.name = "REFRESH_TOKEN_LIFETIME",
     .type = CONFIG_INT,
     .default_value = "2592000",
     POSITIVE,
     .doc = "Refresh token lifetime, seconds"},
    {.name = "SESSION_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "3600",
     POSITIVE,
     .doc = "Login/consent session lifetime, seconds"},
    {.name = "CLIENT_LIFETIME",
     .type = CONFIG_INT,
     .default_value = "7776000",
     .min = 0,
     .max = LLONG_MAX,
     .doc = "Dynamically registered clients expire this many seconds after last use (their last token, "
            "refreshes included; 0: never expire)"},
    {.name = "UNUSED_CLIENT_LIFETIME",
     .type = CONFIG_INT,
     .default_value = "86400",
     .min = 0,
     .max = LLONG_MAX,
     .doc = "Registered clients that never obtained a token expire this many seconds after registration "
            "(0: CLIENT_LIFETIME)"},
    {.name = "REGISTRATION_RATE_LIMIT",
     .type = CONFIG_INT,
     .default_value = "20",
     .min = 0,
     .max = LLONG_MAX,
     .doc = "Client registrations per IP address per REGISTRATION_RATE_WINDOW at auth (0: no limit)"},
    {.name = "REGISTRATION_RATE_WINDOW",
     .type = CONFIG_INT,
     .default_value = "3600",
     POSITIVE,
     .doc = "Window of REGISTRATION_RATE_LIMIT, seconds"},
    {.name = "REGISTRATION_MAX_CLIENTS",
     .type = CONFIG_INT,
     .default_value = "10000",
     .min = 0,
     .max = LLONG_MAX,
     .doc = "Most live dynamically registered clients (0: no cap); beyond it registration answers 503"},
    /* Hosted connectors register from their vendor's backend, so all their users share a few
     * egress addresses and would exhaust one per-IP budget together. Default: Anthropic's
     * Claude.ai egress, the one range the connector reports document. */
    {.name = "REGISTRATION_TRUSTED_NETWORKS",
     .type = CONFIG_LIST,
     .default_value = "160.79.104.0/21",
     .check = check_ip_allowlist,
     .doc = "Networks (IP addresses or CIDR, comma-separated) exempt from the per-IP registration limits "
            "(REGISTRATION_RATE_LIMIT at auth, RATE_LIMIT_REGISTER at the router); REGISTRATION_MAX_CLIENTS "
            "still applies. Default: Claude.ai's connector egress. Empty: no exemption"},
    {.name = "REFRESH_GRACE_PERIOD",
     .type = CONFIG_INT,
     .default_value = "30",
     .min = 0,
     .max = 3600,
     .doc =
         "Seconds a rotated refresh token still works (concurrent refreshes); reuse later revokes the grant"},
    {.name = "CIMD_ALLOW_PRIVATE",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .doc =
         "Allow client ID metadata documents on private, loopback or link-local addresses (SSRF guard off)"},
    {.name = "CIMD_CA_FILE",
     .type = CONFIG_STRING,
     .doc = "PEM CA bundle for fetching client ID metadata documents (default: the system's)"},
    {.name = "AUTH_STATIC_CLIENTS",
     .type = CONFIG_STRING,
     .check = check_static_clients,
     .doc = "Pre-registered clients: JSON array of {client_id, client_secret_hash (base64url SHA-256), "
            "redirect_uris, client_name}"},

    /* The edge. */
    {.name = "ROUTING",
     .type = CONFIG_ENUM,
     .default_value = "subdomain",
     .choices = "subdomain|path",
     .doc = "subdomain: SVC.BASE_DOMAIN/mcp; path: one origin, ORIGIN/SVC/mcp"},
    {.name = "PUBLIC_SCHEME",
     .type = CONFIG_ENUM,
     .choices = "https|http",
     .doc = "Scheme of public URLs (default: https, or http when HTTPS_PORT=0)"},
    {.name = "PUBLIC_PORT",
     .type = CONFIG_INT,
     PORT_RANGE,
     .doc = "Port of public URLs (default: HTTPS_PORT or HTTP_PORT; omitted when 443/80)"},
    {.name = "PUBLIC_ORIGIN",
     .type = CONFIG_URL,
     .doc = "Path routing: the public origin (default: SCHEME://BASE_DOMAIN[:PORT]); behind another proxy"},
    {.name = "MCP_SCOPES",
     .type = CONFIG_LIST,
     .default_value = "mcp",
     .doc = "Scopes an access token needs for MCP endpoints (published as scopes_supported)"},
    {.name = "HTTP_PORT",
     .type = CONFIG_INT,
     .default_value = "80",
     PORT_RANGE,
     .doc = "Router plain HTTP port"},
    {.name = "HTTPS_PORT",
     .type = CONFIG_INT,
     .default_value = "443",
     PORT_RANGE,
     .doc = "Router TLS port (0: no TLS)"},
    {.name = "ADMIN_PORT",
     .type = CONFIG_INT,
     .default_value = "8080",
     PORT_RANGE,
     .doc = "Router metrics and ping port"},
    {.name = "METRICS_ALLOWED_IPS",
     .type = CONFIG_LIST,
     .check = check_ip_allowlist,
     .doc = "Who may read /metrics: IP addresses or CIDR networks, comma-separated (empty: everyone)"},
    {.name = "AUTH_PORT",
     .type = CONFIG_INT,
     .default_value = "8000",
     PORT_RANGE,
     .doc = "Authorization server port"},
    {.name = "ACME_EMAIL",
     .type = CONFIG_STRING,
     .required = when_acme,
     .check = check_email,
     .doc = "Let's Encrypt account e-mail (needed for HTTPS without TLS_CERT_FILE)"},
    {.name = "ACME_DIRECTORY_URL",
     .type = CONFIG_URL,
     .default_value = ACME_DEFAULT_DIRECTORY_URL,
     .check = check_https_url,
     .doc = "ACME directory (Let's Encrypt staging: " ACME_STAGING_DIRECTORY_URL ")"},
    {.name = "ACME_CA_BUNDLE",
     .type = CONFIG_STRING,
     .doc = "PEM CA certificates that a private ACME directory's HTTPS certificate chains to"},
    {.name = "ACME_RENEW_DAYS",
     .type = CONFIG_INT,
     .default_value = "30",
     .min = 1,
     .max = 365,
     .doc = "Renew ACME certificates that expire within this many days (checked daily)"},
    {.name = "TLS_CERT_FILE",
     .type = CONFIG_STRING,
     .required = with_tls_key,
     .doc = "PEM certificate chain to serve instead of ACME certificates"},
    {.name = "TLS_KEY_FILE",
     .type = CONFIG_STRING,
     .required = with_tls_cert,
     .doc = "PEM private key of TLS_CERT_FILE"},
    {.name = "TLS_CERT_DIR",
     .type = CONFIG_STRING,
     .doc = "Directory of per-host certificates HOST.crt + HOST.key, chosen by SNI (SIGHUP reloads)"},
    {.name = "ACME_CHALLENGE_DIR",
     .type = CONFIG_STRING,
     .doc = "Files served at /.well-known/acme-challenge/ on HTTP (default DATA_DIR/acme-challenge)"},
    {.name = "AUTH_INTERNAL_URL",
     .type = CONFIG_URL,
     .check = check_http_url,
     .doc = "Where the router reaches auth: its routes and /jwks (default "
            "http://INTERNAL_BIND_ADDRESS:AUTH_PORT, "
            "127.0.0.1 for 0.0.0.0)"},
    {.name = "MCP_CORS_ORIGINS",
     .type = CONFIG_LIST,
     .default_value = "*",
     .doc = "Origins allowed by CORS on MCP endpoints, comma-separated, or *"},
    {.name = "RATE_LIMIT_MCP",
     .type = CONFIG_RATE,
     .default_value = "200/minute",
     .doc = "Requests per user and client to MCP endpoints (N/second|minute|hour|day), counted together for "
            "every service without a RATE_LIMIT_<NAME> of its own"},
    {.name = "RATE_LIMIT_REGISTER",
     .type = CONFIG_RATE,
     .default_value = "20/minute",
     .doc = "Client registrations per IP address through the router (/register)"},
    {.name = "RATE_LIMIT_TOKEN",
     .type = CONFIG_RATE,
     .default_value = "120/minute",
     .doc = "Token requests per IP address through the router (/token)"},
    {.name = "RATE_LIMIT_AUTHORIZE",
     .type = CONFIG_RATE,
     .default_value = "60/minute",
     .doc = "Authorization requests per IP address through the router (/authorize)"},
    {.name = "UPSTREAM_CONNECT_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "5",
     POSITIVE,
     .doc = "Seconds the router waits to connect to an upstream (then 504)"},
    {.name = "UPSTREAM_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "60",
     POSITIVE,
     .doc = "Seconds the router waits for an upstream's response head, or between body bytes (then 504)"},
    {.name = "UPSTREAM_STREAM_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "3600",
     POSITIVE,
     .doc = "Seconds an SSE stream from an upstream may stay silent before the router ends it"},
    {.name = "UPSTREAM_KEEPALIVE",
     .type = CONFIG_INT,
     .default_value = "64",
     .min = 0,
     .max = 10000,
     .doc = "Idle keep-alive connections the router keeps per upstream and worker"},
    {.name = "BIND_ADDRESS",
     .type = CONFIG_STRING,
     .check = check_bind_address,
     .doc = "Address the router (the public edge, the one service that checks tokens) listens on "
            "(default 0.0.0.0, all IPv4 interfaces)"},
    {.name = "INTERNAL_BIND_ADDRESS",
     .type = CONFIG_STRING,
     .default_value = "127.0.0.1",
     .check = check_bind_address,
     .doc = "Address auth and the MCP services listen on; the router, health checks and ops commands "
            "reach them there (loopback for 0.0.0.0). Anyone who reaches them skips OAuth: widen "
            "it (0.0.0.0) only behind a firewall"},
    {.name = "REQUEST_TIMEOUT",
     .type = CONFIG_INT,
     POSITIVE,
     .doc = "Seconds a client has to send a whole request (default: the server's)"},
    {.name = "KEEPALIVE_TIMEOUT",
     .type = CONFIG_INT,
     POSITIVE,
     .doc = "Seconds an idle keep-alive connection is kept open (default: the server's)"},
    {.name = "WORKERS",
     .type = CONFIG_INT,
     .default_value = "0",
     .min = 0,
     .max = 1024,
     .doc = "Worker threads per service (0: one per CPU core)"},
    {.name = "SHUTDOWN_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "10",
     .min = 0,
     .max = 3600,
     .doc = "Seconds to drain connections on shutdown"},
    {.name = "MAX_BODY_SIZE",
     .type = CONFIG_INT,
     .default_value = "1048576",
     .min = 1,
     .max = 1073741824,
     .doc = "Largest request body accepted, bytes"},
    {.name = "MAX_HEADER_SIZE",
     .type = CONFIG_INT,
     .default_value = "16384",
     .min = 1024,
     .max = 1048576,
     .doc = "Largest request head (request line and headers), bytes"},

    /* State. */
    {.name = "REDIS_URL",
     .type = CONFIG_URL,
     .default_value = "redis://127.0.0.1:6379/0",
     .check = check_redis_url,
     .doc = "Redis: redis://[user][:password@]host[:port][/db], unix:///path, or with Sentinels "
            "redis-sentinel://[user][:password@]host[:port][,host[:port]...]/MASTER[/db]"},
    {.name = "REDIS_PASSWORD",
     .type = CONFIG_STRING,
     .secret = true,
     .doc = "Redis password (when not in REDIS_URL)"},
    {.name = "REDIS_KEY_PREFIX",
     .type = CONFIG_STRING,
     .default_value = "oauth:",
     .doc = "Prefix of every Redis key"},

    /* MCP. */
    {.name = "MCP_PROTOCOL_VERSION",
     .type = CONFIG_STRING,
     .default_value = "2025-06-18",
     .check = check_protocol_version,
     .doc = "MCP protocol version assumed when a client sends none"},
    {.name = "MCP_PROTOCOL_VERSIONS_SUPPORTED",
     .type = CONFIG_LIST,
     .default_value = "2026-07-28,2025-11-25,2025-06-18,2025-03-26",
     .check = check_protocol_versions,
     .doc = "MCP protocol versions accepted, comma-separated"},
    {.name = "MCP_SESSION_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "3600",
     POSITIVE,
     .doc = "Idle MCP sessions (stateful services) expire after this many seconds"},
    {.name = "MCP_MAX_SESSIONS",
     .type = CONFIG_INT,
     .default_value = "10000",
     POSITIVE,
     .doc = "Most MCP sessions one service process keeps (new ones beyond: 503)"},
    {.name = "MCP_ECHO_STATEFUL",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .doc = "mcp-echo runs in stateful mode (sessions; tools echo and replayLastEcho)"},
    {.name = "MCP_FETCH_ENABLED",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .doc = "Run the mcp-fetch service"},
    {.name = "MCP_FETCH_PORT",
     .type = CONFIG_INT,
     .default_value = "3000",
     PORT_RANGE,
     .doc = "mcp-fetch port"},
    {.name = "FETCH_ALLOW_PRIVATE",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .doc = "mcp-fetch may connect to private, loopback, link-local, CGNAT and multicast addresses (SSRF "
            "guard off)"},
    {.name = "FETCH_DENY_ADDRESSES",
     .type = CONFIG_LIST,
     .default_value = "",
     .doc = "IP addresses mcp-fetch never connects to, even with FETCH_ALLOW_PRIVATE=true (comma-separated)"},
    {.name = "FETCH_IGNORE_ROBOTS",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .doc = "mcp-fetch ignores robots.txt for the fetch tool (the fetch prompt never checks it)"},
    {.name = "FETCH_MAX_BYTES",
     .type = CONFIG_INT,
     .default_value = "5242880",
     .min = 1024,
     .max = 104857600,
     .doc = "Largest response body mcp-fetch accepts, in bytes after decompression"},
    {.name = "FETCH_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "30",
     .min = 1,
     .max = 600,
     .doc = "Seconds mcp-fetch waits for a whole response (robots.txt and the page each)"},
    {.name = "MCP_ECHO_ENABLED",
     .type = CONFIG_BOOL,
     .default_value = "true",
     .doc = "Run the mcp-echo service"},
    {.name = "MCP_ECHO_PORT",
     .type = CONFIG_INT,
     .default_value = "3001",
     PORT_RANGE,
     .doc = "mcp-echo port"},
    {.name = "STDIO_MAX_CHILDREN",
     .type = CONFIG_INT,
     .default_value = "16",
     POSITIVE,
     .doc = "Most stdio MCP server processes one stdio-proxy runs (sessions' and pool's); initialize beyond "
            "it: 503"},
    {.name = "STDIO_POOL_SIZE",
     .type = CONFIG_INT,
     .default_value = "2",
     POSITIVE,
     .doc = "stdio-proxy: initialized processes shared by stateless (2026-07-28) requests"},
    {.name = "STDIO_REQUEST_TIMEOUT",
     .type = CONFIG_INT,
     .default_value = "60",
     POSITIVE,
     .doc =
         "stdio-proxy: seconds a request may wait for the stdio MCP server's answer (then a JSON-RPC error)"},

    /* Operations. */
    {.name = "LOG_LEVEL",
     .type = CONFIG_LOG_LEVEL,
     .default_value = "INFO",
     .doc = "DEBUG, INFO, WARNING or ERROR"},
    {.name = "DEBUG",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .doc = "Debug mode: debug endpoints and DEBUG logging"},
    {.name = "DATA_DIR",
     .type = CONFIG_STRING,
     .default_value = "./data",
     .doc = "Keys, Redis data and backups"},
    {.name = "LOG_DIR",
     .type = CONFIG_STRING,
     .default_value = "./logs",
     .doc = "One JSON log file per service"},
    {.name = "RUN_DIR",
     .type = CONFIG_STRING,
     .doc = "Supervisor pid files and control socket (default DATA_DIR/run)"},
    {.name = "HEALTH_CHECK_INTERVAL",
     .type = CONFIG_INT,
     .default_value = "5",
     .min = 1,
     .max = 3600,
     .doc = "Seconds between the supervisor's health checks of each service"},
    {.name = "HEALTH_CHECK_RETRIES",
     .type = CONFIG_INT,
     .default_value = "3",
     .min = 1,
     .max = 1000000,
     .doc = "Failed health checks in a row before the supervisor restarts a service"},

    /* Monitoring: where `mcpgw import-dashboards` puts the Grafana dashboards. */
    {.name = "GRAFANA_URL",
     .type = CONFIG_URL,
     .check = check_http_url,
     .doc = "Grafana that import-dashboards posts to, e.g. http://127.0.0.1:3000"},
    {.name = "GRAFANA_API_KEY",
     .type = CONFIG_STRING,
     .secret = true,
     .doc = "Grafana service account token (Editor role) for import-dashboards"},
    {.name = "DASHBOARDS_DIR",
     .type = CONFIG_STRING,
     .default_value = "./monitoring/dashboards",
     .doc = "Directory of the Grafana dashboards (*.json) that import-dashboards imports"},
    {.name = NULL},
};

/* Dynamic variables: <NAME> is one or more of A-Z, 0-9 and _. */
static const struct config_var patterns[] = {
    {.name = "RATE_LIMIT_<NAME>",
     .type = CONFIG_RATE,
     .doc = "Requests per user and client to the service of MCP_<NAME>_* (RATE_LIMIT_ECHO: mcp-echo), "
            "counted apart and instead of RATE_LIMIT_MCP (N/second|minute|hour|day); not for NAME MCP, "
            "REGISTER, TOKEN or AUTHORIZE (the fixed limits)"},
    {.name = "MCP_<NAME>_ENABLED", .type = CONFIG_BOOL, .doc = "Run MCP service mcp-<name>"},
    {.name = "MCP_<NAME>_PORT",
     .type = CONFIG_INT,
     PORT_RANGE,
     .doc = "Port of mcp-<name>; a stdio one (_COMMAND) without it gets one from 3002 up, by NAME, "
            "skipping every port configured (any *_PORT, defaults included, and REDIS_URL's)"},
    {.name = "MCP_<NAME>_URL",
     .type = CONFIG_URL,
     .check = check_http_url,
     .doc = "Proxy mcp-<name> to this Streamable HTTP MCP server"},
    {.name = "MCP_<NAME>_COMMAND", .type = CONFIG_STRING, .doc = "Run this stdio MCP server as mcp-<name>"},
    {.name = NULL},
};

const struct config_var *config_schema(void)
{
    return schema;
}

const struct config_var *config_schema_patterns(void)
{
    return patterns;
}

const struct config_var *config_schema_find(const char *name)
{
    for (const struct config_var *var = schema; var->name; var++)
        if (strcmp(var->name, name) == 0)
            return var;
    return NULL;
}

/* Whether name is pattern with <NAME> replaced by one or more of A-Z, 0-9, _. */
static bool matches_pattern(const char *name, const char *pattern)
{
    const char *hole = strstr(pattern, "<NAME>");
    size_t prefix_len = (size_t)(hole - pattern);
    const char *suffix = hole + strlen("<NAME>");
    size_t suffix_len = strlen(suffix), name_len = strlen(name);
    if (name_len <= prefix_len + suffix_len || strncmp(name, pattern, prefix_len) != 0 ||
        strcmp(name + name_len - suffix_len, suffix) != 0)
        return false;
    for (size_t i = prefix_len; i < name_len - suffix_len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

const struct config_var *config_schema_match(const char *name)
{
    const struct config_var *known = config_schema_find(name);
    if (known)
        return known;
    for (const struct config_var *pattern = patterns; pattern->name; pattern++)
        if (matches_pattern(name, pattern->name))
            return pattern;
    return NULL;
}
