/*
 * test_log.c - the JSON-lines logger: format, escaping, redaction, levels, files, reopen.
 * Every line written is parsed back with jansson, which rejects invalid JSON and invalid UTF-8.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"

/* ---- helpers --------------------------------------------------------------------------- */

static json_t *parse_line(const char *line)
{
    json_error_t error;
    size_t len = strlen(line);
    assert_true(len > 0 && line[len - 1] == '\n');
    assert_null(memchr(line, '\n', len - 1)); /* exactly one line */
    json_t *j = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, &error);
    if (!j)
        fail_msg("line does not parse (%s): %s", error.text, line);
    assert_true(json_is_object(j));
    return j;
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("field %s is not a string", key);
    return json_string_value(v);
}

static char *read_file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 64u << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(buf_append(&b, chunk, n), GW_OK);
    fclose(f);
    return buf_take(&b);
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* stderr is redirected to a file while a test writes lines, then read back. */
struct stderr_capture {
    char path[64];
    int saved_fd;
};

static void capture_begin(struct stderr_capture *c)
{
    strcpy(c->path, "/tmp/test_log_stderr_XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    c->saved_fd = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static char *capture_end(struct stderr_capture *c)
{
    dup2(c->saved_fd, STDERR_FILENO);
    close(c->saved_fd);
    char *text = read_file_text(c->path);
    unlink(c->path);
    assert_non_null(text);
    return text;
}

static char *make_temp_dir(void)
{
    char tmpl[] = "/tmp/test_log_dir_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void remove_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(log_init("auth", NULL, LOG_DEBUG), GW_OK);
    return 0;
}

/* ---- format ---------------------------------------------------------------------------- */

static void test_format_fields_in_order(void **state)
{
    (void)state;
    char line[4096];
    struct log_field fields[] = {
        log_str("request_id", "r-1"),   log_str("method", "POST"),
        log_int("status", 401),         log_double("duration_ms", 15.25),
        log_double("ratio", 1234.5678), log_bool("cached", true),
        log_bool("retry", false),       log_int("big", -9223372036854775807LL),
    };
    int n = log_format_line(line, sizeof(line), LOG_ERROR, "auth", "auth failed", fields, 8);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(line));
    assert_memory_equal(line, "{\"timestamp\":\"", 14);

    json_t *j = parse_line(line);
    const char *ts = jstr(j, "timestamp");
    /* 2026-11-27T20:30:45.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(jstr(j, "level"), "ERROR");
    assert_string_equal(jstr(j, "service"), "auth");
    assert_string_equal(jstr(j, "message"), "auth failed");
    assert_string_equal(jstr(j, "request_id"), "r-1");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 401);
    assert_float_equal(json_number_value(json_object_get(j, "duration_ms")), 15.25, 1e-9);
    assert_float_equal(json_number_value(json_object_get(j, "ratio")), 1234.568, 1e-9);
    assert_true(json_is_true(json_object_get(j, "cached")));
    assert_true(json_is_false(json_object_get(j, "retry")));
    assert_int_equal(json_integer_value(json_object_get(j, "big")), -9223372036854775807LL);
    json_decref(j);

    /* call order is kept, and the base keys come first */
    const char *keys[] = {"\"timestamp\"",  "\"level\"",  "\"service\"", "\"message\"",
                          "\"request_id\"", "\"method\"", "\"status\"",  "\"duration_ms\""};
    const char *prev = line;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *at = strstr(line, keys[i]);
        assert_non_null(at);
        assert_true(at >= prev);
        prev = at;
    }
    assert_non_null(strstr(line, "\"duration_ms\":15.25,"));
    assert_non_null(strstr(line, "\"ratio\":1234.568,"));
}

static void test_format_numbers(void **state)
{
    (void)state;
    char line[1024];
    struct log_field fields[] = {
        log_double("whole", 1500.0),  log_double("tiny", 0.0004),     log_double("neg", -2.5),
        log_double("nan", 0.0 / 0.0), log_double("inf", 1.0 / 0.0),   log_double("third", 1.0 / 3.0),
        log_double("huge", 3.5e300),  log_double("negtiny", -0.0001),
    };
    assert_true(log_format_line(line, sizeof(line), LOG_INFO, "auth", "m", fields, 8) > 0);
    assert_non_null(strstr(line, "\"huge\":3.5e+300,"));
    assert_non_null(strstr(line, "\"whole\":1500,"));
    assert_non_null(strstr(line, "\"tiny\":0,"));
    assert_non_null(strstr(line, "\"neg\":-2.5,"));
    assert_non_null(strstr(line, "\"nan\":null,"));
    assert_non_null(strstr(line, "\"inf\":null,"));
    assert_non_null(strstr(line, "\"third\":0.333,"));
    assert_non_null(strstr(line, "\"negtiny\":0}"));
    json_decref(parse_line(line));
}

static void test_format_too_small(void **state)
{
    (void)state;
    char line[40];
    assert_int_equal(log_format_line(line, sizeof(line), LOG_INFO, "auth", "a message", NULL, 0), -1);
    assert_string_equal(line, "");
    assert_int_equal(log_format_line(line, 0, LOG_INFO, "auth", "m", NULL, 0), -1);
}

static void test_format_capped(void **state)
{
    (void)state;
    char line[600];
    char message[2000];
    memset(message, 'x', sizeof(message) - 1);
    message[sizeof(message) - 1] = '\0';
    struct log_field fields[] = {log_str("path", message), log_int("status", 200)};
    assert_int_equal(log_format_line(line, sizeof(line), LOG_INFO, "auth", message, fields, 2), -1);
    int n = log_format_line_capped(line, sizeof(line), LOG_INFO, "auth", message, fields, 2);
    assert_true(n > 0 && n < (int)sizeof(line));
    json_t *j = parse_line(line);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_int_equal(strlen(jstr(j, "path")), 256);
    json_decref(j);
    /* short lines are not marked */
    assert_true(log_format_line_capped(line, sizeof(line), LOG_INFO, "auth", "short", NULL, 0) > 0);
    assert_null(strstr(line, "truncated"));
}

static void test_null_strings(void **state)
{
    (void)state;
    char line[1024];
    struct log_field fields[] = {log_str("user", NULL), log_str(NULL, "v")};
    assert_true(log_format_line(line, sizeof(line), LOG_INFO, "auth", NULL, fields, 2) > 0);
    json_t *j = parse_line(line);
    assert_string_equal(jstr(j, "message"), "");
    assert_true(json_is_null(json_object_get(j, "user")));
    assert_string_equal(jstr(j, "field"), "v");
    json_decref(j);
}

static void test_reserved_keys_renamed(void **state)
{
    (void)state;
    char line[1024];
    struct log_field fields[] = {log_str("level", "DEBUG"), log_str("message", "spoof")};
    assert_true(log_format_line(line, sizeof(line), LOG_ERROR, "auth", "real", fields, 2) > 0);
    json_t *j = parse_line(line); /* JSON_REJECT_DUPLICATES */
    assert_string_equal(jstr(j, "level"), "ERROR");
    assert_string_equal(jstr(j, "message"), "real");
    assert_string_equal(jstr(j, "field_level"), "DEBUG");
    assert_string_equal(jstr(j, "field_message"), "spoof");
    json_decref(j);
}

/* ---- escaping -------------------------------------------------------------------------- */

static void test_escape_control_and_quotes(void **state)
{
    (void)state;
    char message[64];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        message[n++] = (char)c;
    memcpy(message + n, "\"\\/\x7f", 4);
    n += 4;
    message[n] = '\0';
    char line[1024];
    struct log_field fields[] = {log_str("path", "/a\"b\\c\nd")};
    assert_true(log_format_line(line, sizeof(line), LOG_INFO, "auth", message, fields, 1) > 0);
    for (const char *p = line; *p; p++) /* only the final newline is a raw control byte */
        assert_true((unsigned char)*p >= 0x20 || (*p == '\n' && p[1] == '\0'));
    assert_non_null(strstr(line, "\\u0001"));
    assert_non_null(strstr(line, "\\n"));
    assert_non_null(strstr(line, "\\t"));
    json_t *j = parse_line(line);
    assert_string_equal(jstr(j, "message"), message);
    assert_string_equal(jstr(j, "path"), "/a\"b\\c\nd");
    json_decref(j);
}

static void check_escaped(const char *in, size_t len, const char *expected)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_append_json_escaped(&b, in, len), GW_OK);
    assert_string_equal(buf_cstr(&b), expected);
    buf_free(&b);
}

static void test_escape_invalid_utf8(void **state)
{
    (void)state;
    /* valid UTF-8 passes through unchanged */
    check_escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* each maximal ill-formed subpart becomes one U+FFFD */
    check_escaped("\xff", 1, "\\ufffd");
    check_escaped("a\x80z", 3, "a\\ufffdz");
    check_escaped("\xc0\x80", 2, "\\ufffd\\ufffd");                       /* overlong NUL */
    check_escaped("\xe0\x80\x80", 3, "\\ufffd\\ufffd\\ufffd");            /* overlong */
    check_escaped("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd");            /* surrogate */
    check_escaped("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > U+10FFFF */
    check_escaped("\xe2\x82", 2, "\\ufffd");                              /* truncated at the end */
    check_escaped("\xf0\x9f\x98z", 4, "\\ufffdz");                        /* truncated before ASCII */
    check_escaped("\xe2\x82\xe2\x82\xac", 5, "\\ufffd\xe2\x82\xac");
    check_escaped("a\0b", 3, "a\\u0000b");

    /* the logger's line stays parseable (jansson rejects invalid UTF-8) */
    char line[1024];
    struct log_field fields[] = {log_str("user", "\xfe\xff\xc3")};
    assert_true(
        log_format_line(line, sizeof(line), LOG_INFO, "auth", "bad \xc3\x28 bytes \xa0\xa1", fields, 1) > 0);
    json_t *j = parse_line(line);
    assert_string_equal(jstr(j, "message"), "bad \xef\xbf\xbd( bytes \xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(jstr(j, "user"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
}

static void test_escape_too_large_leaves_buffer(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append_str(&b, "ab"), GW_OK);
    assert_int_equal(buf_append_json_escaped(&b, "\x01\x02", 2), GW_ERR_TOO_LARGE);
    assert_string_equal(buf_cstr(&b), "ab");
    buf_free(&b);
}

/* ---- redaction ------------------------------------------------------------------------- */

static void test_redaction(void **state)
{
    (void)state;
    char line[4096];
    struct log_field fields[] = {
        log_str("access_token", "eyJ.secret.jwt"),
        log_str("Authorization", "Bearer abc"),
        log_str("Cookie", "session=1"),
        log_str("client_secret", "s3cr3t"),
        log_str("code", "authcode"),
        log_str("CODE_VERIFIER", "verifier"),
        log_str("password", "hunter2"),
        log_str("refresh_token_hash", "hashvalue123"),
        log_str("x_secret_key", "keyvalue456"),
        log_str("client_id", "client_123"),
        log_str("error_code", "invalid_grant"),
        log_str("user", "alice"),
    };
    int n = sizeof(fields) / sizeof(fields[0]);
    assert_true(log_format_line(line, sizeof(line), LOG_INFO, "auth", "m", fields, n) > 0);
    json_t *j = parse_line(line);
    for (int i = 0; i < 9; i++)
        assert_string_equal(jstr(j, fields[i].key), "[REDACTED]");
    assert_string_equal(jstr(j, "client_id"), "client_123");
    assert_string_equal(jstr(j, "error_code"), "invalid_grant");
    assert_string_equal(jstr(j, "user"), "alice");
    json_decref(j);
    for (int i = 0; i < 9; i++) /* the secret itself appears nowhere in the line */
        assert_null(strstr(line, fields[i].v.s));
}

/* ---- levels ---------------------------------------------------------------------------- */

static void test_level_parse_and_names(void **state)
{
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), GW_OK);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("Info", &l), GW_OK);
    assert_int_equal(l, LOG_INFO);
    assert_int_equal(log_level_parse("WARN", &l), GW_OK);
    assert_int_equal(l, LOG_WARNING);
    assert_int_equal(log_level_parse("warning", &l), GW_OK);
    assert_int_equal(l, LOG_WARNING);
    assert_int_equal(log_level_parse("ERROR", &l), GW_OK);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), GW_ERR_INVALID);
    assert_int_equal(log_level_parse("", &l), GW_ERR_INVALID);
    assert_int_equal(log_level_parse(NULL, &l), GW_ERR_INVALID);
    assert_string_equal(log_level_name(LOG_WARNING), "WARNING");
    assert_string_equal(log_service(), "auth");
}

static void test_level_filtering(void **state)
{
    (void)state;
    log_set_level(LOG_WARNING);
    assert_int_equal(log_get_level(), LOG_WARNING);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARNING));
    assert_true(log_enabled(LOG_ERROR));

    struct stderr_capture cap;
    capture_begin(&cap);
    log_debug("hidden %d", 1);
    log_info("hidden %d", 2);
    log_warning("shown %d", 3);
    struct log_field f = log_int("status", 500);
    log_write(LOG_INFO, "hidden", &f, 1);
    log_write(LOG_ERROR, "shown too", &f, 1);
    char *text = capture_end(&cap);
    assert_int_equal(count_lines(text), 2);
    char *second = strchr(text, '\n') + 1;
    char saved = *second;
    *second = '\0';
    json_t *j = parse_line(text);
    *second = saved;
    assert_string_equal(jstr(j, "level"), "WARNING");
    assert_string_equal(jstr(j, "message"), "shown 3");
    json_decref(j);
    free(text);
    log_set_level(LOG_DEBUG);
}

static void test_errno_preserved(void **state)
{
    (void)state;
    struct stderr_capture cap;
    capture_begin(&cap);
    errno = ENOENT;
    log_error("open failed: %s", strerror(errno));
    assert_int_equal(errno, ENOENT);
    free(capture_end(&cap));
}

/* ---- outputs --------------------------------------------------------------------------- */

static void test_file_output_and_reopen(void **state)
{
    (void)state;
    char *root = make_temp_dir();
    char dir[512], path[600], rotated[600];
    snprintf(dir, sizeof(dir), "%s/var/log/mcpgw", root);
    snprintf(path, sizeof(path), "%s/auth.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/auth.log.1", dir);
    mode_t old_mask = umask(022);

    struct stderr_capture cap;
    capture_begin(&cap);
    assert_int_equal(log_init("auth", dir, LOG_INFO), GW_OK);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    struct log_field f = log_double("duration_ms", 1500);
    log_write(LOG_INFO, "slow request", &f, 1);
    assert_int_equal(rename(path, rotated), 0);
    log_info("after rename, before reopen");
    assert_int_equal(log_reopen(), GW_OK);
    log_info("rate limit exceeded for client");
    log_shutdown();
    log_info("stderr only now");
    char *err_text = capture_end(&cap);
    umask(old_mask);

    char *old_text = read_file_text(rotated);
    char *new_text = read_file_text(path);
    assert_non_null(old_text);
    assert_non_null(new_text);
    assert_int_equal(count_lines(old_text), 2);
    assert_int_equal(count_lines(new_text), 1);
    assert_int_equal(count_lines(err_text), 4);
    assert_non_null(strstr(old_text, "\"message\":\"slow request\",\"duration_ms\":1500}"));
    assert_non_null(strstr(old_text, "after rename, before reopen"));
    json_t *j = parse_line(new_text);
    assert_string_equal(jstr(j, "message"), "rate limit exceeded for client");
    assert_string_equal(jstr(j, "service"), "auth");
    json_decref(j);

    /* the guide's jq filters select these lines */
    if (access("/usr/bin/jq", X_OK) == 0) {
        char cmd[1400], out[256] = "";
        snprintf(cmd, sizeof(cmd), "cat '%s' '%s' | jq -r 'select(.duration_ms > 1000) | .message'", rotated,
                 path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof(out), p));
        assert_int_equal(pclose(p), 0);
        assert_string_equal(out, "slow request\n");
        snprintf(cmd, sizeof(cmd),
                 "cat '%s' '%s' | jq -r 'select(.message | contains(\"rate limit\")) | .message'", rotated,
                 path);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof(out), p));
        assert_int_equal(pclose(p), 0);
        assert_string_equal(out, "rate limit exceeded for client\n");
    }
    free(old_text);
    free(new_text);
    free(err_text);
    remove_tree(root);
    free(root);
    assert_int_equal(log_init("auth", NULL, LOG_DEBUG), GW_OK);
}

static void test_init_bad_dir(void **state)
{
    (void)state;
    char *root = make_temp_dir();
    char file[512], dir[600];
    snprintf(file, sizeof(file), "%s/plain-file", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dir, sizeof(dir), "%s/logs", file);
    assert_int_equal(log_init("auth", dir, LOG_INFO), GW_ERR_IO);
    assert_int_equal(log_init("../etc", root, LOG_INFO), GW_ERR_INVALID);
    /* stderr still works and reopen is a no-op */
    assert_int_equal(log_init("auth", NULL, LOG_DEBUG), GW_OK);
    assert_int_equal(log_reopen(), GW_OK);
    remove_tree(root);
    free(root);
}

static void test_truncation(void **state)
{
    (void)state;
    struct stderr_capture cap;
    size_t big = 40000;
    char *message = malloc(big + 1);
    assert_non_null(message);
    /* multi-byte characters, so the cut must land on a character boundary */
    for (size_t i = 0; i + 2 <= big; i += 2)
        memcpy(message + i, "\xc3\xa9", 2);
    message[big] = '\0';
    char *value = malloc(big + 1);
    assert_non_null(value);
    memset(value, '"', big); /* escapes to twice its size */
    value[big] = '\0';

    capture_begin(&cap);
    log_write(LOG_INFO, message, NULL, 0);
    struct log_field f[] = {log_str("error", value), log_int("status", 502)};
    log_write(LOG_ERROR, "upstream said", f, 2);
    log_msg(LOG_WARNING, "%s", message);
    char *text = capture_end(&cap);
    assert_int_equal(count_lines(text), 3);

    char *line = text;
    for (int i = 0; i < 3; i++) {
        char *end = strchr(line, '\n');
        size_t len = (size_t)(end - line) + 1;
        assert_true(len <= 16384);
        char saved = end[1];
        end[1] = '\0';
        json_t *j = parse_line(line);
        end[1] = saved;
        assert_true(json_is_true(json_object_get(j, "truncated")));
        const char *m = jstr(j, "message");
        if (i == 1) {
            assert_string_equal(m, "upstream said");
            assert_int_equal(strlen(jstr(j, "error")), 256);
            assert_int_equal(json_integer_value(json_object_get(j, "status")), 502);
        } else {
            assert_true(strlen(m) > 15000);
            assert_memory_equal(m, message, strlen(m)); /* a prefix, cut between characters */
            assert_int_equal(strlen(m) % 2, 0);
        }
        json_decref(j);
        line = end + 1;
    }
    free(text);
    free(message);
    free(value);
}

/* ---- threads --------------------------------------------------------------------------- */

#define THREADS 4
#define LINES_PER_THREAD 2000

static void *writer_thread(void *arg)
{
    long id = (long)arg;
    char message[600];
    memset(message, 'a' + (int)id, sizeof(message) - 1);
    message[sizeof(message) - 1] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        struct log_field f[] = {log_int("thread", id), log_int("seq", i)};
        log_write(LOG_INFO, message, f, 2);
    }
    return NULL;
}

static void test_threads_and_concurrent_reopen(void **state)
{
    (void)state;
    char *root = make_temp_dir();
    char path[600], rotated[620];
    snprintf(path, sizeof(path), "%s/router.log", root);
    struct stderr_capture cap;
    capture_begin(&cap);
    assert_int_equal(log_init("router", root, LOG_INFO), GW_OK);
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, writer_thread, (void *)i), 0);
    int rotations = 0;
    for (int r = 0; r < 20; r++) {
        snprintf(rotated, sizeof(rotated), "%s.%d", path, r);
        if (rename(path, rotated) == 0) {
            rotations++;
            assert_int_equal(log_reopen(), GW_OK);
        }
        usleep(1000);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    log_shutdown();
    char *err_text = capture_end(&cap);
    assert_int_equal(count_lines(err_text), THREADS * LINES_PER_THREAD);
    free(err_text);

    /* every line is in exactly one file, whole */
    size_t total = 0;
    for (int r = -1; r < 20; r++) {
        if (r < 0)
            snprintf(rotated, sizeof(rotated), "%s", path);
        else
            snprintf(rotated, sizeof(rotated), "%s.%d", path, r);
        char *text = read_file_text(rotated);
        if (!text)
            continue;
        for (char *line = text; *line;) {
            char *end = strchr(line, '\n');
            assert_non_null(end);
            char saved = end[1];
            end[1] = '\0';
            json_t *j = parse_line(line);
            assert_int_equal(strlen(jstr(j, "message")), 599);
            json_decref(j);
            end[1] = saved;
            line = end + 1;
            total++;
        }
        free(text);
    }
    assert_int_equal(total, THREADS * LINES_PER_THREAD);
    assert_true(rotations > 0);
    remove_tree(root);
    free(root);
    assert_int_equal(log_init("auth", NULL, LOG_DEBUG), GW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_fields_in_order),
        cmocka_unit_test(test_format_numbers),
        cmocka_unit_test(test_format_too_small),
        cmocka_unit_test(test_format_capped),
        cmocka_unit_test(test_null_strings),
        cmocka_unit_test(test_reserved_keys_renamed),
        cmocka_unit_test(test_escape_control_and_quotes),
        cmocka_unit_test(test_escape_invalid_utf8),
        cmocka_unit_test(test_escape_too_large_leaves_buffer),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_level_parse_and_names),
        cmocka_unit_test(test_level_filtering),
        cmocka_unit_test(test_errno_preserved),
        cmocka_unit_test(test_file_output_and_reopen),
        cmocka_unit_test(test_init_bad_dir),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_threads_and_concurrent_reopen),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
