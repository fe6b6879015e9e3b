/*
 * test_config.c - the .env syntax, precedence, loading, getters and value parsing.
 * Validation, schema and masking are in test_config_validate.c.
 */
#include "config_testutil.h"

#include <unistd.h>

/* ---- .env syntax ---- */

static void test_comments_blank_lines_export(void **state)
{
    (void)state;
    struct config *cfg = load_ok("# a comment\n\n   \n\t# indented comment\nexport A=1\n"
                                 "export   B=two\r\nC=3\r\n  D = spaced  \nexport=5\n");
    assert_value(cfg, "A", "1");
    assert_value(cfg, "B", "two");
    assert_value(cfg, "C", "3");
    assert_value(cfg, "D", "spaced");
    assert_value(cfg, "export", "5");
    config_free(cfg);
}

static void test_unquoted_values(void **state)
{
    (void)state;
    struct config *cfg = load_ok("URL=https://x.example/a?b=c&d=e#frag\n"
                                 "EQ=a=b=c\n"
                                 "HASH=abc#def\n"
                                 "COMMENTED=value   # trailing comment\n"
                                 "ONLY_COMMENT= # nothing\n"
                                 "EMPTY=\n"
                                 "QUOTE_INSIDE=it's \"fine\"\n"
                                 "BACKSLASH=C:\\path\\n\n"
                                 "DOLLAR=cost $ 5 $\n");
    assert_value(cfg, "URL", "https://x.example/a?b=c&d=e#frag");
    assert_value(cfg, "EQ", "a=b=c");
    assert_value(cfg, "HASH", "abc#def");
    assert_value(cfg, "COMMENTED", "value");
    assert_value(cfg, "ONLY_COMMENT", "");
    assert_value(cfg, "EMPTY", "");
    assert_value(cfg, "QUOTE_INSIDE", "it's \"fine\"");
    assert_value(cfg, "BACKSLASH", "C:\\path\\n");
    assert_value(cfg, "DOLLAR", "cost $ 5 $");
    config_free(cfg);
}

static void test_single_quotes_are_literal(void **state)
{
    (void)state;
    struct config *cfg = load_ok("A=1\nS='$A ${A} \\n # not a comment'  # comment\nT=''\n"
                                 "M='line1\nline2'\n");
    assert_value(cfg, "S", "$A ${A} \\n # not a comment");
    assert_value(cfg, "T", "");
    assert_value(cfg, "M", "line1\nline2");
    config_free(cfg);
}

static void test_double_quotes_escapes_and_expansion(void **state)
{
    (void)state;
    struct config *cfg = load_ok("NAME=world\n"
                                 "D=\"a\\nb\\tc\\\"d\\\\e\\$f\\rg\"\n"
                                 "X=\"hello ${NAME} $NAME \\q\" # comment\n"
                                 "H=\"# not a comment\"\n"
                                 "DEF=\"${MISSING:-fallback} ${NAME:-unused}\"\n");
    assert_value(cfg, "D", "a\nb\tc\"d\\e$f\rg");
    /* Only ${VAR} expands inside double quotes; unknown escapes stay as written. */
    assert_value(cfg, "X", "hello world $NAME \\q");
    assert_value(cfg, "H", "# not a comment");
    assert_value(cfg, "DEF", "fallback world");
    config_free(cfg);
}

static void test_multiline_pem_value(void **state)
{
    (void)state;
    const char *text = "KEY=\"-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBg\r\n"
                       "-----END PRIVATE KEY-----\"\r\nAFTER=1\nbroken line\n";
    char *errors = load_errors(text, strlen(text));
    /* The PEM spans lines 1-3, so the bad line is reported as line 5. */
    assert_string_equal(errors, "ERROR: .env line 5: missing '=' (expected KEY=value)\n");
    free(errors);

    struct config *cfg = load_ok("KEY=\"-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBg\r\n"
                                 "-----END PRIVATE KEY-----\"\r\nAFTER=1\n");
    assert_value(cfg, "KEY", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----");
    assert_value(cfg, "AFTER", "1");
    config_free(cfg);
}

static void test_unquoted_expansion(void **state)
{
    (void)state;
    struct config *cfg = load_ok("BASE_DOMAIN=example.com\n"
                                 "AUTH=https://auth.${BASE_DOMAIN}/x\n"
                                 "BARE=$BASE_DOMAIN-suffix\n"
                                 "UNKNOWN=[${NOT_DEFINED_ANYWHERE}][$NOT_DEFINED_EITHER]\n"
                                 "DEFAULTED=${NOT_DEFINED:-dflt}\n"
                                 "FROM_SCHEMA=${DATA_DIR}/users\n"
                                 "LATER=${DEFINED_LATER}\nDEFINED_LATER=x\n");
    assert_value(cfg, "AUTH", "https://auth.example.com/x");
    assert_value(cfg, "BARE", "example.com-suffix");
    assert_value(cfg, "UNKNOWN", "[][]");
    assert_value(cfg, "DEFAULTED", "dflt");
    assert_value(cfg, "FROM_SCHEMA", "./data/users");
    assert_value(cfg, "LATER", "");
    config_free(cfg);
}

static void test_duplicate_key_later_wins(void **state)
{
    (void)state;
    struct config *cfg = load_ok("A=1\nA=2\nHTTP_PORT=81\nHTTP_PORT=82\n");
    assert_value(cfg, "A", "2");
    assert_int_equal(config_get_int(cfg, "HTTP_PORT", 0), 82);
    config_free(cfg);
}

static void test_syntax_errors_reported_per_line(void **state)
{
    (void)state;
    const char *text = "GOOD=1\n"
                       "no equals sign here\n"
                       "1BAD=x\n"
                       "BAD-NAME=x\n"
                       "A='quoted' trailing\n"
                       "B=${unterminated\n"
                       "C=\"${1BAD}\"\n"
                       "   = no name\n"
                       "D='never closed\n"
                       "E=1\n";
    char *errors = load_errors(text, strlen(text));
    assert_string_equal(errors, "ERROR: .env line 2: missing '=' (expected KEY=value)\n"
                                "ERROR: .env line 3: invalid variable name \"1BAD\" (use letters, digits and "
                                "_, not starting with a digit)\n"
                                "ERROR: .env line 4: invalid variable name \"BAD-NAME\" (use letters, digits "
                                "and _, not starting with a digit)\n"
                                "ERROR: .env line 5: unexpected text after the closing quote\n"
                                "ERROR: .env line 6: unterminated ${...} reference (missing '}')\n"
                                "ERROR: .env line 7: invalid ${...} reference (expected ${NAME})\n"
                                "ERROR: .env line 8: invalid variable name \"\" (use letters, digits and _, "
                                "not starting with a digit)\n"
                                "ERROR: .env line 9: unterminated single-quoted value\n");
    free(errors);

    const char *dq = "A=1\nB=\"open\nstill open\n";
    errors = load_errors(dq, strlen(dq));
    assert_string_equal(errors, "ERROR: .env line 2: unterminated double-quoted value\n");
    free(errors);
}

static void test_nul_byte_and_size_caps(void **state)
{
    (void)state;
    const char nul[] = "A=1\nB=x\0y\n";
    char *errors = load_errors(nul, sizeof nul - 1);
    assert_string_equal(errors, "ERROR: .env line 2: NUL byte in file\n");
    free(errors);

    size_t big = 1024 * 1024 + 1;
    char *text = malloc(big);
    memset(text, '#', big);
    errors = load_errors(text, big);
    assert_non_null(strstr(errors, "larger than"));
    free(errors);
    /* Exactly 1 MiB is accepted (a long comment). */
    struct config *cfg = NULL;
    assert_int_equal(config_load_text(text, big - 1, false, &cfg, NULL), GW_OK);
    config_free(cfg);

    /* One value over 64 KiB. */
    memcpy(text, "V=", 2);
    memset(text + 2, 'x', 70000);
    errors = load_errors(text, 70002);
    assert_string_equal(errors, "ERROR: .env line 1: value longer than 65536 bytes\n");
    free(errors);
    free(text);

    /* Expansion cannot blow up: each line doubles A until the cap. */
    struct buf bomb;
    buf_init(&bomb, 1 << 20);
    buf_append_str(&bomb, "A=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
    for (int i = 0; i < 40; i++)
        buf_append_str(&bomb, "A=${A}${A}\n");
    errors = load_errors(bomb.data, bomb.len);
    assert_non_null(strstr(errors, "value longer than 65536 bytes"));
    free(errors);
    buf_free(&bomb);
}

static void test_too_many_errors_stops(void **state)
{
    (void)state;
    struct buf text;
    buf_init(&text, 1 << 20);
    for (int i = 0; i < 200; i++)
        buf_append_str(&text, "junk\n");
    char *errors = load_errors(text.data, text.len);
    size_t lines = 0;
    for (const char *c = errors; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 51);
    assert_non_null(strstr(errors, "more than 50 errors, stopped reading"));
    free(errors);
    buf_free(&text);
}

static void test_byte_order_mark_skipped(void **state)
{
    (void)state;
    struct config *cfg = load_ok("\xEF\xBB\xBF"
                                 "A=1\n");
    assert_value(cfg, "A", "1");
    config_free(cfg);
}

/* ---- precedence and loading ---- */

static void test_precedence_defaults_env_file_environment(void **state)
{
    (void)state;
    setenv("AUTH_PORT", "9000", 1);
    setenv("MCP_MEMORY_ENABLED", "true", 1);
    setenv("RATE_LIMIT_AUTH", "5/second", 1);
    setenv("CUSTOM_FROM_FILE", "from-environment", 1);
    setenv("UNRELATED_THING", "x", 1);
    setenv("EXPANSION_SOURCE", "env", 1);
    unsetenv("HTTP_PORT");
    unsetenv("ADMIN_PORT");
    const char *text = "HTTP_PORT=8081\nAUTH_PORT=8001\nCUSTOM_FROM_FILE=file\n"
                       "EXPANSION_SOURCE=file\nDERIVED=${EXPANSION_SOURCE}\n";
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_load_text(text, strlen(text), true, &cfg, &errors), GW_OK);
    assert_int_equal(config_get_int(cfg, "ADMIN_PORT", 0), 8080); /* default */
    assert_int_equal(config_get_int(cfg, "HTTP_PORT", 0), 8081);  /* .env over default */
    assert_int_equal(config_get_int(cfg, "AUTH_PORT", 0), 9000);  /* environment over .env */
    assert_value(cfg, "MCP_MEMORY_ENABLED", "true");              /* dynamic from environment */
    assert_value(cfg, "RATE_LIMIT_AUTH", "5/second");
    assert_value(cfg, "CUSTOM_FROM_FILE", "from-environment");
    assert_value(cfg, "DERIVED", "env");                   /* ${VAR} agrees with the final value */
    assert_null(config_get(cfg, "UNRELATED_THING", NULL)); /* not configuration */
    config_free(cfg);

    /* Without use_environ, the environment is ignored entirely. */
    cfg = load_ok(text);
    assert_int_equal(config_get_int(cfg, "AUTH_PORT", 0), 8001);
    assert_value(cfg, "DERIVED", "file");
    assert_null(config_get(cfg, "MCP_MEMORY_ENABLED", NULL));
    config_free(cfg);
    buf_free(&errors);
    unsetenv("AUTH_PORT");
    unsetenv("MCP_MEMORY_ENABLED");
    unsetenv("RATE_LIMIT_AUTH");
    unsetenv("CUSTOM_FROM_FILE");
    unsetenv("UNRELATED_THING");
    unsetenv("EXPANSION_SOURCE");
}

static void test_load_from_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/custom.env", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("SESSION_TIMEOUT=99\n", f);
    fclose(f);
    unsetenv("SESSION_TIMEOUT");

    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_load(path, &cfg, &errors), GW_OK);
    assert_int_equal(config_get_int(cfg, "SESSION_TIMEOUT", 0), 99);
    config_free(cfg);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.env", dir);
    assert_int_equal(config_load(missing, &cfg, &errors), GW_ERR_CONFIG);
    assert_null(cfg);
    assert_non_null(strstr(buf_cstr(&errors), "ERROR: Cannot read env file "));
    assert_non_null(strstr(buf_cstr(&errors), "No such file or directory"));

    /* No ./.env is fine: defaults and environment only. Then ./.env is read when present. */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    buf_reset(&errors);
    assert_int_equal(config_load(NULL, &cfg, &errors), GW_OK);
    assert_int_equal(config_get_int(cfg, "SESSION_TIMEOUT", 0), 3600);
    config_free(cfg);
    f = fopen(".env", "w");
    assert_non_null(f);
    fputs("SESSION_TIMEOUT=7\n", f);
    fclose(f);
    assert_int_equal(config_load(NULL, &cfg, &errors), GW_OK);
    assert_int_equal(config_get_int(cfg, "SESSION_TIMEOUT", 0), 7);
    config_free(cfg);
    f = fopen(".env", "w");
    fputs("oops\n", f);
    fclose(f);
    buf_reset(&errors);
    assert_int_equal(config_load(NULL, &cfg, &errors), GW_ERR_CONFIG);
    assert_string_equal(buf_cstr(&errors), "ERROR: .env line 1: missing '=' (expected KEY=value)\n");
    unlink(".env");
    assert_int_equal(chdir(cwd), 0);
    unlink(path);
    rmdir(dir);
    buf_free(&errors);
}

/* ---- getters and value parsing ---- */

static void test_getters(void **state)
{
    (void)state;
    struct config *cfg = load_ok("HTTP_PORT=\nADMIN_PORT=abc\nDEBUG=on\nMCP_ECHO_ENABLED=0\nCUSTOM=v\n");
    assert_value(cfg, "CUSTOM", "v");
    assert_string_equal(config_get(cfg, "REDIS_URL", NULL), "redis://127.0.0.1:6379/0");
    assert_string_equal(config_get(cfg, "NOT_SET", "fb"), "fb");
    assert_null(config_get(cfg, "BASE_DOMAIN", NULL));
    assert_string_equal(config_get(cfg, "HTTP_PORT", "x"), ""); /* set, to empty */
    assert_int_equal(config_get_int(cfg, "HTTP_PORT", 1), 80);  /* empty: the default */
    assert_int_equal(config_get_int(cfg, "ADMIN_PORT", 1), 1);  /* unparsable: fallback */
    assert_int_equal(config_get_int(cfg, "MCP_X_PORT", 4242), 4242);
    assert_true(config_get_bool(cfg, "DEBUG", false));
    assert_false(config_get_bool(cfg, "MCP_ECHO_ENABLED", true));
    assert_false(config_get_bool(cfg, "MCP_FETCH_ENABLED", true));
    assert_true(config_has(cfg, "CUSTOM"));
    assert_true(config_has(cfg, "REDIS_URL"));
    assert_false(config_has(cfg, "HTTP_PORT"));
    assert_false(config_has(cfg, "BASE_DOMAIN"));
    config_free(cfg);
}

static void test_list_parsing(void **state)
{
    (void)state;
    struct config *cfg = load_ok("ALLOWED_GITHUB_USERS= alice, bob ,,\tcarol\t, ,\nALLOWED_GITHUB_ORGS=\n"
                                 "ONE=solo\n");
    size_t count = 99;
    char **list = config_get_list(cfg, "ALLOWED_GITHUB_USERS", &count);
    assert_int_equal(count, 3);
    assert_string_equal(list[0], "alice");
    assert_string_equal(list[1], "bob");
    assert_string_equal(list[2], "carol");
    config_list_free(list, count);
    list = config_get_list(cfg, "ALLOWED_GITHUB_ORGS", &count);
    assert_int_equal(count, 0);
    assert_null(list);
    list = config_get_list(cfg, "NOT_SET", &count);
    assert_int_equal(count, 0);
    assert_null(list);
    list = config_get_list(cfg, "ONE", &count);
    assert_int_equal(count, 1);
    assert_string_equal(list[0], "solo");
    config_list_free(list, count);
    list = config_get_list(cfg, "MCP_PROTOCOL_VERSIONS_SUPPORTED", &count);
    assert_int_equal(count, 4);
    assert_string_equal(list[3], "2025-03-26");
    config_list_free(list, count);
    config_list_free(NULL, 0);
    config_free(cfg);
}

static void test_rate_parsing(void **state)
{
    (void)state;
    long long limit = 0, period = 0;
    assert_int_equal(config_parse_rate("200/minute", &limit, &period), GW_OK);
    assert_int_equal(limit, 200);
    assert_int_equal(period, 60);
    assert_int_equal(config_parse_rate("5/second", &limit, &period), GW_OK);
    assert_int_equal(period, 1);
    assert_int_equal(config_parse_rate("1000/HOUR", &limit, &period), GW_OK);
    assert_int_equal(limit, 1000);
    assert_int_equal(period, 3600);
    assert_int_equal(config_parse_rate("3/days", &limit, &period), GW_OK);
    assert_int_equal(period, 86400);
    static const char *const bad[] = {
        "",           "200",  "/minute",  "0/minute",     "-1/minute",   "+5/minute",
        "abc/minute", "200/", "200/week", "200/minute/x", "200 /minute", "99999999999999999999/second"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(config_parse_rate(bad[i], &limit, &period), GW_ERR_INVALID);
}

static void test_int_and_bool_parsing(void **state)
{
    (void)state;
    long long n = 0;
    assert_int_equal(config_parse_int("42", &n), GW_OK);
    assert_int_equal(n, 42);
    assert_int_equal(config_parse_int("-7", &n), GW_OK);
    assert_int_equal(n, -7);
    assert_int_equal(config_parse_int("+8", &n), GW_OK);
    assert_int_equal(n, 8);
    static const char *const bad_ints[] = {
        "", " 1", "1 ", "1.5", "0x10", "abc", "-", "+-1", "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++)
        assert_int_equal(config_parse_int(bad_ints[i], &n), GW_ERR_INVALID);

    bool b = false;
    static const char *const truthy[] = {"true", "TRUE", "1", "yes", "On"};
    static const char *const falsy[] = {"false", "False", "0", "no", "OFF"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(config_parse_bool(truthy[i], &b), GW_OK);
        assert_true(b);
        assert_int_equal(config_parse_bool(falsy[i], &b), GW_OK);
        assert_false(b);
    }
    assert_int_equal(config_parse_bool("", &b), GW_ERR_INVALID);
    assert_int_equal(config_parse_bool("2", &b), GW_ERR_INVALID);
    assert_int_equal(config_parse_bool("yep", &b), GW_ERR_INVALID);
}

static void test_iteration_sorted_with_default_flags(void **state)
{
    (void)state;
    struct config *cfg = load_ok("ZZZ_CUSTOM=1\nHTTP_PORT=81\nAAA_CUSTOM=2\n");
    size_t n = config_count(cfg);
    assert_true(n > 30);
    const char *previous = "";
    bool saw_http_port = false, saw_redis_url = false;
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        bool from_default;
        config_entry(cfg, i, &name, &value, &from_default);
        assert_non_null(name);
        assert_non_null(value);
        assert_true(strcmp(previous, name) < 0);
        previous = name;
        if (strcmp(name, "HTTP_PORT") == 0) {
            saw_http_port = true;
            assert_false(from_default);
            assert_string_equal(value, "81");
        }
        if (strcmp(name, "REDIS_URL") == 0) {
            saw_redis_url = true;
            assert_true(from_default);
        }
    }
    assert_true(saw_http_port && saw_redis_url);
    const char *name = "x", *value = "x";
    bool from_default = true;
    config_entry(cfg, n, &name, &value, &from_default);
    assert_null(name);
    assert_null(value);
    assert_false(from_default);
    config_entry(cfg, 0, &name, NULL, NULL);
    assert_string_equal(name, "AAA_CUSTOM");
    config_free(cfg);
    config_free(NULL);
}

/* config_stdio_port: explicit ports win; the rest get 3002 up by variable name, skipping every
 * port the configuration names; disabled services get none. */
static void test_stdio_ports(void **state)
{
    (void)state;
    const char *text = "MCP_ZED_COMMAND=z\nMCP_ALPHA_COMMAND=a\nMCP_BETA_COMMAND=b\nMCP_BETA_PORT=4000\n"
                       "MCP_GAMMA_COMMAND=g\nAUTH_PORT=3003\nREDIS_URL=redis://127.0.0.1:3004/0\n"
                       "MCP_OFF_COMMAND=o\nMCP_OFF_ENABLED=false\nMCP_URL_ONLY_URL=http://127.0.0.1:9/mcp\n";
    struct config *cfg = NULL;
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_int_equal(config_stdio_port(cfg, "BETA"), 4000);
    assert_int_equal(config_stdio_port(cfg, "ALPHA"), 3002);
    assert_int_equal(config_stdio_port(cfg, "GAMMA"), 3005); /* 3003 AUTH_PORT, 3004 Redis */
    assert_int_equal(config_stdio_port(cfg, "ZED"), 3006);
    assert_int_equal(config_stdio_port(cfg, "OFF"), 0);
    assert_int_equal(config_stdio_port(cfg, "URL_ONLY"), 0);
    assert_int_equal(config_stdio_port(cfg, "NONE"), 0);
    assert_true(config_is_stdio_service(cfg, "ZED"));
    assert_false(config_is_stdio_service(cfg, "OFF"));
    config_free(cfg);

    /* An explicit port that is not a port gives none (validation reports it). */
    text = "MCP_A_COMMAND=a\nMCP_A_PORT=70000\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_int_equal(config_stdio_port(cfg, "A"), 0);
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_validate(cfg, &errors), GW_ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&errors), "MCP_A_PORT"));
    buf_free(&errors);
    config_free(cfg);
}

/* Only the router faces the network by default; the rest listen on INTERNAL_BIND_ADDRESS and
 * are reached there, or on loopback when it is a wildcard. */
static void test_bind_and_connect_addresses(void **state)
{
    (void)state;
    struct config *cfg = NULL;
    assert_int_equal(config_load_text("", 0, false, &cfg, NULL), GW_OK);
    assert_string_equal(config_bind_address(cfg, true), "0.0.0.0");
    assert_string_equal(config_bind_address(cfg, false), "127.0.0.1");
    assert_string_equal(config_internal_address(cfg), "127.0.0.1");
    char url[128];
    config_internal_url(cfg, 8000, url, sizeof(url));
    assert_string_equal(url, "http://127.0.0.1:8000");
    config_free(cfg);

    /* BIND_ADDRESS is the router's alone. */
    const char *text = "BIND_ADDRESS=192.0.2.7\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_string_equal(config_bind_address(cfg, true), "192.0.2.7");
    assert_string_equal(config_bind_address(cfg, false), "127.0.0.1");
    config_free(cfg);

    text = "BIND_ADDRESS=127.0.0.1\nINTERNAL_BIND_ADDRESS=127.0.0.2\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_string_equal(config_bind_address(cfg, true), "127.0.0.1");
    assert_string_equal(config_bind_address(cfg, false), "127.0.0.2");
    assert_string_equal(config_internal_address(cfg), "127.0.0.2");
    config_internal_url(cfg, 8100, url, sizeof(url));
    assert_string_equal(url, "http://127.0.0.2:8100");
    config_free(cfg);

    /* multi-host: listen everywhere, still reached on loopback from this machine */
    text = "INTERNAL_BIND_ADDRESS=0.0.0.0\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_string_equal(config_bind_address(cfg, false), "0.0.0.0");
    assert_string_equal(config_internal_address(cfg), "127.0.0.1");
    config_free(cfg);

    text = "INTERNAL_BIND_ADDRESS=::\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_string_equal(config_internal_address(cfg), "::1");
    config_internal_url(cfg, 3001, url, sizeof(url));
    assert_string_equal(url, "http://[::1]:3001");
    config_free(cfg);

    /* an empty value counts as unset */
    text = "INTERNAL_BIND_ADDRESS=\nBIND_ADDRESS=\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_string_equal(config_bind_address(cfg, true), "0.0.0.0");
    assert_string_equal(config_bind_address(cfg, false), "127.0.0.1");
    config_free(cfg);

    assert_string_equal(config_connect_address("0.0.0.0"), "127.0.0.1");
    assert_string_equal(config_connect_address(""), "127.0.0.1");
    assert_string_equal(config_connect_address(NULL), "127.0.0.1");
    assert_string_equal(config_connect_address("::"), "::1");
    assert_string_equal(config_connect_address("0::0"), "::1");
    assert_string_equal(config_connect_address("10.1.2.3"), "10.1.2.3");
    assert_string_equal(config_connect_address("::1"), "::1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comments_blank_lines_export),
        cmocka_unit_test(test_unquoted_values),
        cmocka_unit_test(test_single_quotes_are_literal),
        cmocka_unit_test(test_double_quotes_escapes_and_expansion),
        cmocka_unit_test(test_multiline_pem_value),
        cmocka_unit_test(test_unquoted_expansion),
        cmocka_unit_test(test_duplicate_key_later_wins),
        cmocka_unit_test(test_syntax_errors_reported_per_line),
        cmocka_unit_test(test_nul_byte_and_size_caps),
        cmocka_unit_test(test_too_many_errors_stops),
        cmocka_unit_test(test_byte_order_mark_skipped),
        cmocka_unit_test(test_precedence_defaults_env_file_environment),
        cmocka_unit_test(test_load_from_files),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_stdio_ports),
        cmocka_unit_test(test_bind_and_connect_addresses),
        cmocka_unit_test(test_list_parsing),
        cmocka_unit_test(test_rate_parsing),
        cmocka_unit_test(test_int_and_bool_parsing),
        cmocka_unit_test(test_iteration_sorted_with_default_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
