/*
 * test_config_validate.c - validation messages (exact text), required predicates, the schema
 * table, dynamic variables, and secret masking.
 */
#include "config_testutil.h"

/* ---- validation ---- */

static void test_required_on_empty_config(void **state)
{
    (void)state;
    assert_validation("", "ERROR: Required variable BASE_DOMAIN not set\n"
                          "ERROR: Required variable GITHUB_CLIENT_ID not set\n"
                          "ERROR: Required variable GITHUB_CLIENT_SECRET not set\n"
                          "ERROR: Required variable ACME_EMAIL not set\n");
    assert_validation(VALID_BASE, "");
    /* An empty value counts as not set. */
    assert_validation("BASE_DOMAIN=\nGITHUB_CLIENT_ID=x\nGITHUB_CLIENT_SECRET=y\nACME_EMAIL=a@b.c\n",
                      "ERROR: Required variable BASE_DOMAIN not set\n");
}

static void test_required_predicates(void **state)
{
    (void)state;
    /* Local users replace GitHub; a certificate file replaces ACME but needs its key. */
    assert_validation("BASE_DOMAIN=example.com\nLOCAL_USERS_FILE=/dev/null\nTLS_CERT_FILE=/c.pem\n",
                      "ERROR: Required variable TLS_KEY_FILE not set\n");
    assert_validation("BASE_DOMAIN=example.com\nLOCAL_USERS_FILE=/dev/null\nHTTPS_PORT=0\n", "");
    /* auth cannot start without reading it, so validation reads it too. */
    assert_validation(
        "BASE_DOMAIN=example.com\nLOCAL_USERS_FILE=/nonexistent/users\nHTTPS_PORT=0\n",
        "ERROR: Invalid value for LOCAL_USERS_FILE: \"/nonexistent/users\" cannot read it: no such file\n");
    assert_validation(
        "BASE_DOMAIN=example.com\nLOCAL_USERS_FILE=/\nHTTPS_PORT=0\n",
        "ERROR: Invalid value for LOCAL_USERS_FILE: \"/\" cannot read it: not a regular file\n");
    assert_validation(VALID_BASE "TLS_KEY_FILE=/k.pem\n", "ERROR: Required variable TLS_CERT_FILE not set\n");
    /* HS256 needs a secret of at least 32 characters, never shown. */
    assert_validation(VALID_BASE "JWT_ALGORITHM=HS256\n",
                      "ERROR: Required variable GATEWAY_JWT_SECRET not set\n");
    assert_validation(VALID_BASE "JWT_ALGORITHM=HS256\nGATEWAY_JWT_SECRET=tooshort\n",
                      "ERROR: Invalid value for GATEWAY_JWT_SECRET: must be at least 32 characters\n");
    assert_validation(VALID_BASE "JWT_ALGORITHM=HS256\n"
                                 "GATEWAY_JWT_SECRET=0123456789abcdef0123456789abcdef\n",
                      "");
    /* With RS256 the HMAC secret is unused, so its length does not matter. */
    assert_validation(VALID_BASE "GATEWAY_JWT_SECRET=short\n", "");
}

static void test_type_errors(void **state)
{
    (void)state;
    assert_validation(VALID_BASE "ACCESS_TOKEN_LIFETIME=abc\n",
                      "ERROR: Invalid value for ACCESS_TOKEN_LIFETIME: \"abc\" is not an integer\n");
    assert_validation(VALID_BASE "ACCESS_TOKEN_LIFETIME=0\n",
                      "ERROR: Invalid value for ACCESS_TOKEN_LIFETIME: \"0\" must be at least 1\n");
    assert_validation(VALID_BASE "HTTP_PORT=70000\nADMIN_PORT=-1\nHTTPS_PORT=0\n",
                      "ERROR: Invalid value for HTTP_PORT: \"70000\" must be between 0 and 65535\n"
                      "ERROR: Invalid value for ADMIN_PORT: \"-1\" must be between 0 and 65535\n");
    assert_validation(VALID_BASE "AUTH_PORT=99999999999999999999\n",
                      "ERROR: Invalid value for AUTH_PORT: \"99999999999999999999\" is not an integer\n");
    assert_validation(VALID_BASE "DEBUG=maybe\n",
                      "ERROR: Invalid value for DEBUG: \"maybe\" is not a boolean (use true or false)\n");
    assert_validation(VALID_BASE "RATE_LIMIT_MCP=lots\n",
                      "ERROR: Invalid value for RATE_LIMIT_MCP: \"lots\" must look like 200/minute\n");
    assert_validation(VALID_BASE "JWT_ALGORITHM=RS512\n",
                      "ERROR: Invalid value for JWT_ALGORITHM: \"RS512\" must be one of RS256, ES256, "
                      "HS256\n");
    assert_validation(VALID_BASE "ROUTING=host\n",
                      "ERROR: Invalid value for ROUTING: \"host\" must be one of subdomain, path\n");
    assert_validation(VALID_BASE "LOG_LEVEL=LOUD\n",
                      "ERROR: Invalid value for LOG_LEVEL: \"LOUD\" must be one of DEBUG, INFO, WARNING, "
                      "ERROR\n");
    assert_validation(VALID_BASE "LOG_LEVEL=debug\nDEBUG=YES\n", "");
    assert_validation(VALID_BASE "GITHUB_API_URL=not a url\n",
                      "ERROR: Invalid value for GITHUB_API_URL: \"not a url\" is not an absolute URL "
                      "(like https://example.com)\n");
    assert_validation(VALID_BASE "GITHUB_BASE_URL=redis://github.example\n",
                      "ERROR: Invalid value for GITHUB_BASE_URL: \"redis://github.example\" must be an "
                      "http:// or https:// URL\n");
    assert_validation(VALID_BASE "BASE_DOMAIN=https://example.com\n",
                      "ERROR: Invalid value for BASE_DOMAIN: \"https://example.com\" must be a bare host "
                      "name like gateway.example.com (no scheme, path or spaces)\n");
    assert_validation(VALID_BASE "ACME_EMAIL=nobody\n",
                      "ERROR: Invalid value for ACME_EMAIL: \"nobody\" is not an e-mail address\n");
    assert_validation(VALID_BASE "MCP_PROTOCOL_VERSION=2024-01-01\n",
                      "ERROR: Invalid value for MCP_PROTOCOL_VERSION: \"2024-01-01\" must be one of "
                      "MCP_PROTOCOL_VERSIONS_SUPPORTED\n");
    assert_validation(VALID_BASE "MCP_PROTOCOL_VERSIONS_SUPPORTED=2025-06-18, latest\n",
                      "ERROR: Invalid value for MCP_PROTOCOL_VERSIONS_SUPPORTED: \"2025-06-18, latest\" "
                      "must be a comma list of dates like 2025-06-18\n");
    assert_validation(VALID_BASE "METRICS_ALLOWED_IPS=10.0.0.0/8, prometheus.local\n",
                      "ERROR: Invalid value for METRICS_ALLOWED_IPS: \"10.0.0.0/8, prometheus.local\" "
                      "\"prometheus.local\" is not an IP address or CIDR network\n");
    assert_validation(VALID_BASE "METRICS_ALLOWED_IPS=10.0.0.0/8, 2001:db8::/32\n", "");
    /* Control characters in a value stay on one error line. */
    assert_validation(VALID_BASE "WORKERS=\"1\\n2\"\n",
                      "ERROR: Invalid value for WORKERS: \"1\\x0a2\" is not an integer\n");
}

/* REGISTRATION_TRUSTED_NETWORKS is checked like METRICS_ALLOWED_IPS; Claude.ai's egress by default,
 * and set empty it stays empty (no exemption) rather than falling back to the default. */
static void test_registration_trusted_networks(void **state)
{
    (void)state;
    assert_validation(
        VALID_BASE "REGISTRATION_TRUSTED_NETWORKS=160.79.104.0/21, claude.ai\n",
        "ERROR: Invalid value for REGISTRATION_TRUSTED_NETWORKS: \"160.79.104.0/21, claude.ai\" "
        "\"claude.ai\" is not an IP address or CIDR network\n");
    assert_validation(VALID_BASE "REGISTRATION_TRUSTED_NETWORKS=160.79.104.0/33\n",
                      "ERROR: Invalid value for REGISTRATION_TRUSTED_NETWORKS: \"160.79.104.0/33\" "
                      "\"160.79.104.0/33\" is not an IP address or CIDR network\n");
    assert_validation(VALID_BASE "REGISTRATION_TRUSTED_NETWORKS=160.79.104.0/21, 2001:db8::/32\n", "");
    assert_validation(VALID_BASE "REGISTRATION_TRUSTED_NETWORKS=\n", "");
    struct config *cfg = load_ok(VALID_BASE);
    assert_value(cfg, "REGISTRATION_TRUSTED_NETWORKS", "160.79.104.0/21");
    config_free(cfg);
    cfg = load_ok(VALID_BASE "REGISTRATION_TRUSTED_NETWORKS=\n");
    assert_value(cfg, "REGISTRATION_TRUSTED_NETWORKS", "");
    config_free(cfg);
}

static void test_secrets_never_printed(void **state)
{
    (void)state;
    char *errors = validation_of(VALID_BASE "GITHUB_CLIENT_SECRET=\n"
                                            "REDIS_PASSWORD=\n"
                                            "MY_API_TOKEN=hunter2\nMCP_X_PASSWORD=hunter3\n");
    assert_string_equal(errors, "ERROR: Required variable GITHUB_CLIENT_SECRET not set\n");
    free(errors);
    /* A URL's password is masked in errors; a malformed one is hidden altogether. */
    errors = validation_of(VALID_BASE "REDIS_URL=redis://:hunter2@10.0.0.1:6379/x\n");
    assert_string_equal(errors, "ERROR: Invalid value for REDIS_URL: \"redis://:****@10.0.0.1:6379/x\" "
                                "the path must be a database number\n");
    free(errors);
    errors = validation_of(VALID_BASE "REDIS_URL=redis://:hunter2@redis!local:6379/0\n");
    assert_string_equal(errors, "ERROR: Invalid value for REDIS_URL: \"redis://:****@redis!local:6379/0\" "
                                "host must be an IP address or a host name (letters, digits, '-', '_' and "
                                "'.')\n");
    free(errors);
    /* The Sentinels' password is a query parameter: masked too. */
    errors = validation_of(
        VALID_BASE "REDIS_URL=redis-sentinel://:hunter2@10.0.0.1/mymaster/x?sentinel_password=hunter4\n");
    assert_string_equal(errors, "ERROR: Invalid value for REDIS_URL: "
                                "\"redis-sentinel://:****@10.0.0.1/mymaster/x?sentinel_password=****\" "
                                "the path must be a database number\n");
    free(errors);
    errors = validation_of(VALID_BASE "REDIS_URL=redis://:hun/ter2@redis.local\n");
    assert_null(strstr(errors, "hun"));
    assert_non_null(strstr(errors, "(value hidden: it may contain a password)"));
    free(errors);
    errors = validation_of(VALID_BASE "MCP_SECRET_PORT=1\nRATE_LIMIT_X_TOKEN=hunter2\n");
    assert_null(strstr(errors, "hunter2"));
    assert_string_equal(errors, "ERROR: Invalid value for RATE_LIMIT_X_TOKEN: (secret value hidden) must "
                                "look like 200/minute\n");
    free(errors);
}

static void test_redis_url_forms(void **state)
{
    (void)state;
    /* What the Redis client itself accepts (redis_endpoint_parse), no more, no less. */
    static const char *const good[] = {
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "redis://:pw@10.0.0.2:1/15",
        "redis://user:pw@127.0.0.1",
        "redis://[::1]:6379",
        "unix:///run/redis.sock",
        "unix:///run/redis.sock?db=3",
        "redis://127.0.0.1/",
        "redis://127.0.0.1:6379?db=2",
        "redis://redis:6379/0",
        "redis://user:pw@redis.example.com",
        "redis://host/",
        "redis://project_redis_1:6379",
        "redis-sentinel://10.0.0.1/mymaster",
        "redis-sentinel://:pw@10.0.0.1:26379,sentinel-2.example,[::1]:26380/mymaster/3",
        "redis-sentinel://s1/mymaster?db=2&sentinel_password=x%21"};
    static const char *const bad[] = {"http://host",
                                      "redis://",
                                      "redis://127.0.0.1:port",
                                      "redis://127.0.0.1/db",
                                      "redis://127.0.0.1/0?x=1",
                                      "unix://host/sock",
                                      "redis://127.0.0.1:70000",
                                      "rediss://127.0.0.1:6380/2",
                                      "redis://ex!clamation:6379/0",
                                      "redis://-leading.dash",
                                      "redis://10.1",
                                      "redis://[redis.example]:6379",
                                      "redis://127.0.0.1?sentinel_password=x",
                                      "redis-sentinel://10.0.0.1",
                                      "redis-sentinel://10.0.0.1/",
                                      "redis-sentinel:///mymaster",
                                      "redis-sentinel://a,,b/mymaster",
                                      "redis-sentinel://a:0/mymaster",
                                      "redis-sentinel://a/my%20master",
                                      "redis-sentinel://a/mymaster?password=x"};
    char text[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(text, sizeof text, VALID_BASE "REDIS_URL=%s\n", good[i]);
        char *errors = validation_of(text);
        if (*errors)
            fprintf(stderr, "%s: %s", good[i], errors);
        assert_string_equal(errors, "");
        free(errors);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, VALID_BASE "REDIS_URL=%s\n", bad[i]);
        char *errors = validation_of(text);
        if (!strstr(errors, "ERROR: Invalid value for REDIS_URL: "))
            fprintf(stderr, "accepted %s\n", bad[i]);
        assert_non_null(strstr(errors, "ERROR: Invalid value for REDIS_URL: "));
        free(errors);
    }
}

static void test_dynamic_variables_validated(void **state)
{
    (void)state;
    assert_validation(VALID_BASE "RATE_LIMIT_FETCH=10/hour\nMCP_MEMORY_ENABLED=on\nMCP_MEMORY_PORT=3002\n"
                                 "MCP_MEMORY_COMMAND=npx -y @modelcontextprotocol/server-memory\n"
                                 "MCP_REMOTE_URL=http://10.0.0.5:8080\nUNKNOWN_THING=whatever\n",
                      "");
    assert_validation(VALID_BASE "RATE_LIMIT_FETCH=10/fortnight\nMCP_MEMORY_ENABLED=sure\n"
                                 "MCP_MEMORY_PORT=65536\nMCP_REMOTE_URL=ftp://x\n",
                      "ERROR: Invalid value for MCP_MEMORY_ENABLED: \"sure\" is not a boolean (use true or "
                      "false)\n"
                      "ERROR: Invalid value for MCP_MEMORY_PORT: \"65536\" must be between 0 and 65535\n"
                      "ERROR: Invalid value for MCP_REMOTE_URL: \"ftp://x\" is not an absolute URL (like "
                      "https://example.com)\n"
                      "ERROR: Invalid value for RATE_LIMIT_FETCH: \"10/fortnight\" must look like "
                      "200/minute\n");
    assert_string_equal(config_schema_match("MCP_A_B_PORT")->name, "MCP_<NAME>_PORT");
    /* The Python original's docker-compose value names its container: a host name, resolved by
     * the client off its event loop. */
    assert_validation(VALID_BASE "REDIS_URL=redis://redis:6379/0\n", "");
    assert_validation(
        VALID_BASE "REDIS_URL=rediss://127.0.0.1:6380/0\n",
        "ERROR: Invalid value for REDIS_URL: \"rediss://127.0.0.1:6380/0\" rediss:// (TLS) is not "
        "supported by hiredis 0.14; use a loopback address or a Unix socket\n");
    assert_string_equal(config_schema_match("RATE_LIMIT_X")->name, "RATE_LIMIT_<NAME>");
    assert_string_equal(config_schema_match("MCP_FETCH_PORT")->name, "MCP_FETCH_PORT");
    assert_null(config_schema_match("MCP__PORT"));
    assert_null(config_schema_match("MCP_lower_PORT"));
    assert_null(config_schema_match("RATE_LIMIT_"));
    assert_null(config_schema_match("PATH"));
}

/* An MCP service the router would route but that has nowhere to go: validate-env refuses it in
 * the router's words (config_local_service_port), not "Configuration OK". */
static void test_enabled_service_needs_somewhere_to_go(void **state)
{
    (void)state;
    assert_validation(VALID_BASE "MCP_FOO_ENABLED=true\n",
                      "ERROR: Required variable MCP_FOO_PORT not set (MCP_FOO_ENABLED=true: mcp-foo needs "
                      "MCP_FOO_URL, MCP_FOO_COMMAND, or the port it listens on at 127.0.0.1)\n");
    assert_validation(VALID_BASE "MCP_FOO_ENABLED=true\nMCP_FOO_PORT=0\n",
                      "ERROR: Required variable MCP_FOO_PORT not set (MCP_FOO_ENABLED=true: mcp-foo needs "
                      "MCP_FOO_URL, MCP_FOO_COMMAND, or the port it listens on at 127.0.0.1)\n");
    /* each of them will do */
    assert_validation(VALID_BASE "MCP_FOO_ENABLED=true\nMCP_FOO_PORT=4100\n", "");
    assert_validation(VALID_BASE "MCP_FOO_ENABLED=true\nMCP_FOO_URL=http://10.0.0.5:9000/mcp\n", "");
    assert_validation(VALID_BASE "MCP_FOO_ENABLED=true\nMCP_FOO_COMMAND=run-foo\n", "");
    assert_validation(VALID_BASE "MCP_FOO_COMMAND=run-foo\nMCP_FOO_ENABLED=yes\nMCP_BAR_COMMAND=run-bar\n",
                      "");
    /* off, built in, or only a port: nothing to route */
    assert_validation(VALID_BASE "MCP_FOO_ENABLED=false\n", "");
    assert_validation(VALID_BASE "MCP_FOO_PORT=4100\n", "");
    assert_validation(VALID_BASE "MCP_ECHO_ENABLED=true\nMCP_FETCH_ENABLED=true\n", "");
    /* an empty command is no command; reported once; MY_TOOL is mcp-my-tool */
    assert_validation(
        VALID_BASE "MCP_MY_TOOL_ENABLED=on\nMCP_MY_TOOL_COMMAND=\n",
        "ERROR: Required variable MCP_MY_TOOL_PORT not set (MCP_MY_TOOL_ENABLED=true: mcp-my-tool "
        "needs MCP_MY_TOOL_URL, MCP_MY_TOOL_COMMAND, or the port it listens on at 127.0.0.1)\n");
    /* the router refuses it with the same line */
    const char *text = VALID_BASE "MCP_FOO_ENABLED=true\n";
    struct config *cfg = load_ok(text);
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_local_service_port(cfg, "FOO", &errors), -1);
    assert_string_equal(buf_cstr(&errors),
                        "ERROR: Required variable MCP_FOO_PORT not set (MCP_FOO_ENABLED=true: mcp-foo needs "
                        "MCP_FOO_URL, MCP_FOO_COMMAND, or the port it listens on at 127.0.0.1)\n");
    assert_int_equal(config_local_service_port(cfg, "ECHO", &errors), 0);
    assert_int_equal(config_local_service_port(cfg, "NONE", &errors), 0);
    buf_free(&errors);
    config_free(cfg);
    /* a role needing part of the configuration (echo) is not stopped by it */
    cfg = load_ok(text);
    assert_int_equal(config_validate_for(cfg, NULL, NULL), GW_OK);
    config_free(cfg);
}

/* The server binds numeric addresses only: a name is refused before any role tries. */
static void test_bind_addresses(void **state)
{
    (void)state;
    assert_validation(VALID_BASE "BIND_ADDRESS=0.0.0.0\nINTERNAL_BIND_ADDRESS=127.0.0.2\n", "");
    assert_validation(VALID_BASE "BIND_ADDRESS=::\nINTERNAL_BIND_ADDRESS=::1\n", "");
    assert_validation(VALID_BASE "INTERNAL_BIND_ADDRESS=localhost\nBIND_ADDRESS=example.com\n",
                      "ERROR: Invalid value for BIND_ADDRESS: \"example.com\" must be a numeric IP address "
                      "(0.0.0.0 for every IPv4 interface, 127.0.0.1 for this machine only)\n"
                      "ERROR: Invalid value for INTERNAL_BIND_ADDRESS: \"localhost\" must be a numeric IP "
                      "address (0.0.0.0 for every IPv4 interface, 127.0.0.1 for this machine only)\n");
}

static void test_validate_for_role(void **state)
{
    (void)state;
    static const char *const echo_needs[] = {NULL};
    static const char *const auth_needs[] = {"BASE_DOMAIN",        "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET",
                                             "GATEWAY_JWT_SECRET", "SOMETHING_ELSE",   NULL};
    struct config *cfg = load_ok("MCP_ECHO_PORT=abc\nLOCAL_USERS_FILE=/dev/null\n");
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_validate_for(cfg, echo_needs, &errors), GW_ERR_CONFIG);
    assert_string_equal(buf_cstr(&errors),
                        "ERROR: Invalid value for MCP_ECHO_PORT: \"abc\" is not an integer\n");
    buf_reset(&errors);
    /* GitHub app not needed with local users, the HMAC secret not with RS256. */
    assert_int_equal(config_validate_for(cfg, auth_needs, &errors), GW_ERR_CONFIG);
    assert_string_equal(buf_cstr(&errors), "ERROR: Required variable BASE_DOMAIN not set\n"
                                           "ERROR: Invalid value for MCP_ECHO_PORT: \"abc\" is not an "
                                           "integer\n"
                                           "ERROR: Required variable SOMETHING_ELSE not set\n");
    buf_reset(&errors);
    assert_int_equal(config_validate_for(cfg, NULL, NULL), GW_ERR_CONFIG);
    config_free(cfg);
    cfg = load_ok("");
    assert_int_equal(config_validate_for(cfg, echo_needs, &errors), GW_OK);
    assert_int_equal(errors.len, 0);
    config_free(cfg);
    buf_free(&errors);
}

/* ---- schema ---- */

static void test_schema_covers_design(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *default_value;
        bool secret;
    } expected[] = {
        {"HTTP_PORT", "80", false},
        {"HTTPS_PORT", "443", false},
        {"ADMIN_PORT", "8080", false},
        {"AUTH_PORT", "8000", false},
        {"JWT_ALGORITHM", "RS256", false},
        {"REDIS_URL", "redis://127.0.0.1:6379/0", false},
        {"ACCESS_TOKEN_LIFETIME", "86400", false},
        {"REFRESH_TOKEN_LIFETIME", "2592000", false},
        {"SESSION_TIMEOUT", "3600", false},
        {"CLIENT_LIFETIME", "7776000", false},
        {"MCP_PROTOCOL_VERSION", "2025-06-18", false},
        {"MCP_PROTOCOL_VERSIONS_SUPPORTED", "2026-07-28,2025-11-25,2025-06-18,2025-03-26", false},
        {"LOG_LEVEL", "INFO", false},
        {"DEBUG", "false", false},
        {"DATA_DIR", "./data", false},
        {"LOG_DIR", "./logs", false},
        {"GITHUB_BASE_URL", "https://github.com", false},
        {"GITHUB_API_URL", "https://api.github.com", false},
        {"MCP_CORS_ORIGINS", "*", false},
        {"RATE_LIMIT_MCP", "200/minute", false},
        {"ROUTING", "subdomain", false},
        {"WORKERS", "0", false},
        {"TLS_CERT_FILE", NULL, false},
        {"TLS_KEY_FILE", NULL, false},
        {"SHUTDOWN_TIMEOUT", "10", false},
        {"MAX_BODY_SIZE", "1048576", false},
        {"MAX_HEADER_SIZE", "16384", false},
        {"ALLOWED_GITHUB_USERS", NULL, false},
        {"ALLOWED_GITHUB_ORGS", NULL, false},
        {"LOCAL_USERS_FILE", NULL, false},
        {"GATEWAY_JWT_SECRET", NULL, true},
        {"JWT_PRIVATE_KEY_B64", NULL, true},
        {"GITHUB_CLIENT_SECRET", NULL, true},
        {"REDIS_PASSWORD", NULL, true},
        {"GITHUB_CLIENT_ID", NULL, false},
        {"BASE_DOMAIN", NULL, false},
        {"ACME_EMAIL", NULL, false},
        {"MCP_FETCH_ENABLED", "false", false},
        {"MCP_ECHO_ENABLED", "true", false},
        {"MCP_FETCH_PORT", "3000", false},
        {"MCP_ECHO_PORT", "3001", false},
        {"REDIS_KEY_PREFIX", "oauth:", false},
        {"REGISTRATION_TRUSTED_NETWORKS", "160.79.104.0/21", false},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const struct config_var *var = config_schema_find(expected[i].name);
        if (!var)
            fprintf(stderr, "missing from schema: %s\n", expected[i].name);
        assert_non_null(var);
        if (expected[i].default_value)
            assert_string_equal(var->default_value, expected[i].default_value);
        else
            assert_null(var->default_value);
        assert_int_equal(var->secret, expected[i].secret);
        assert_non_null(var->doc);
        assert_true(strlen(var->doc) > 5);
    }
    /* Every default passes its own type check. */
    assert_validation(VALID_BASE, "");
    for (const struct config_var *var = config_schema(); var->name; var++) {
        assert_ptr_equal(config_schema_find(var->name), var);
        assert_non_null(var->doc);
        if (var->type == CONFIG_ENUM)
            assert_non_null(var->choices);
    }
    assert_null(config_schema_find("NOPE"));
    assert_non_null(config_schema_patterns()[0].name);
}

/* ---- secrets and display ---- */

static void test_secret_masking(void **state)
{
    (void)state;
    assert_true(config_is_secret("GITHUB_CLIENT_SECRET"));
    assert_true(config_is_secret("GATEWAY_JWT_SECRET"));
    assert_true(config_is_secret("JWT_PRIVATE_KEY_B64"));
    assert_true(config_is_secret("REDIS_PASSWORD"));
    assert_true(config_is_secret("MCP_GITHUB_TOKEN"));
    assert_true(config_is_secret("SOME_API_KEY"));
    assert_true(config_is_secret("OTHER_KEY_B64"));
    assert_false(config_is_secret("TLS_KEY_FILE"));
    assert_false(config_is_secret("GITHUB_CLIENT_ID"));
    assert_false(config_is_secret("REDIS_URL"));
    /* a schema variable is what its entry says, whatever its name ends with */
    assert_true(config_is_secret("GRAFANA_API_KEY"));
    assert_false(config_is_secret("RATE_LIMIT_TOKEN"));
    char *rate = config_display_value("RATE_LIMIT_TOKEN", "120/minute");
    assert_string_equal(rate, "120/minute");
    free(rate);

    char *shown = config_display_value("GITHUB_CLIENT_SECRET", "0123456789abcdef");
    assert_string_equal(shown, "**** (16 chars)");
    free(shown);
    shown = config_display_value("REDIS_PASSWORD", "x");
    assert_string_equal(shown, "**** (1 char)");
    free(shown);
    shown = config_display_value("REDIS_PASSWORD", "");
    assert_string_equal(shown, "");
    free(shown);
    shown = config_display_value("REDIS_URL", "redis://default:hunter2@redis.local:6379/0");
    assert_string_equal(shown, "redis://default:****@redis.local:6379/0");
    free(shown);
    shown = config_display_value("REDIS_URL", "redis://:p@ss@h/0");
    assert_string_equal(shown, "redis://:****@h/0");
    free(shown);
    shown = config_display_value("REDIS_URL", "redis://user@h/0");
    assert_string_equal(shown, "redis://user@h/0");
    free(shown);
    shown = config_display_value(
        "REDIS_URL", "redis-sentinel://:hunter2@s1,s2:26380/mymaster/0?db=1&sentinel_password=hunter4&x=1");
    assert_string_equal(shown,
                        "redis-sentinel://:****@s1,s2:26380/mymaster/0?db=1&sentinel_password=****&x=1");
    free(shown);
    shown = config_display_value("REDIS_URL", "redis-sentinel://s1/mymaster?sentinel_password=hunter4");
    assert_string_equal(shown, "redis-sentinel://s1/mymaster?sentinel_password=****");
    free(shown);
    shown = config_display_value("GITHUB_API_URL", "https://api.github.com/x@y");
    assert_string_equal(shown, "https://api.github.com/x@y");
    free(shown);
    shown = config_display_value("BASE_DOMAIN", "example.com");
    assert_string_equal(shown, "example.com");
    free(shown);
    shown = config_display_value("X", NULL);
    assert_string_equal(shown, "");
    free(shown);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_on_empty_config),
        cmocka_unit_test(test_required_predicates),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_registration_trusted_networks),
        cmocka_unit_test(test_secrets_never_printed),
        cmocka_unit_test(test_redis_url_forms),
        cmocka_unit_test(test_dynamic_variables_validated),
        cmocka_unit_test(test_enabled_service_needs_somewhere_to_go),
        cmocka_unit_test(test_bind_addresses),
        cmocka_unit_test(test_validate_for_role),
        cmocka_unit_test(test_schema_covers_design),
        cmocka_unit_test(test_secret_masking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
