/*
 * config_env.c - the .env parser behind config_load_text (syntax in config.h).
 *
 * A cursor walks the whole text (not line by line) because a quoted value may span lines. The
 * parser keeps going after a bad line so that the operator sees every problem at once, up to
 * ENV_MAX_ERRORS lines. Values are expanded as they are read and stored into the config being
 * built, so a later ${VAR} sees an earlier key.
 */
#include "config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define ENV_MAX_ERRORS 50
/* Expansion can grow text: A=${B}${B}... doubles per line. Bound the total work as well as
 * each value, so a hostile 1 MiB file cannot ask for gigabytes. */
#define ENV_MAX_TOTAL_VALUE_BYTES (8u * 1024 * 1024)

struct env_parser {
    const char *text;
    size_t len;
    size_t pos;
    size_t line; /* 1-based line of text[pos] */
    struct config *cfg;
    bool use_environ;
    struct buf *errors;
    size_t error_count;
    size_t total_value_bytes;
    bool value_overflow; /* the value being read hit CONFIG_VALUE_MAX */
};

static void env_error(struct env_parser *p, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void env_error(struct env_parser *p, size_t line, const char *fmt, ...)
{
    p->error_count++;
    if (!p->errors || p->error_count > ENV_MAX_ERRORS)
        return;
    buf_printf(p->errors, "ERROR: .env line %zu: ", line);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(p->errors, fmt, ap);
    va_end(ap);
    buf_append_char(p->errors, '\n');
}

/* Append to the value being read, remembering (rather than returning) a cap overflow so
 * that the many small appends of the parser stay readable. */
static void put(struct env_parser *p, struct buf *value, const char *s, size_t n)
{
    if (buf_append(value, s, n) != GW_OK)
        p->value_overflow = true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
    return is_key_start(c) || (c >= '0' && c <= '9');
}

static size_t skip_blanks(struct env_parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && is_blank(p->text[p->pos]))
        p->pos++;
    return p->pos - start;
}

static size_t line_end(const struct env_parser *p, size_t from)
{
    const char *nl = memchr(p->text + from, '\n', p->len - from);
    return nl ? (size_t)(nl - p->text) : p->len;
}

/* Move to the start of the next line. */
static void skip_line(struct env_parser *p)
{
    size_t eol = line_end(p, p->pos);
    p->pos = eol < p->len ? eol + 1 : p->len;
    if (eol < p->len)
        p->line++;
}

/* A name as it may be quoted in an error line: printable ASCII, at most 40 bytes. */
static void printable_name(char *out, size_t out_size, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < out_size; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
        if (n == 40) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
    }
    out[n] = '\0';
}

/* The text a ${name} reference stands for: environment first (when used), then the config
 * being built (earlier keys and schema defaults), else "". Borrowed. */
static const char *expansion_of(const struct env_parser *p, const char *name, size_t name_len)
{
    char *key = gw_strndup(name, name_len);
    const char *value = NULL;
    if (p->use_environ)
        value = getenv(key);
    if (!value)
        value = config_lookup(p->cfg, key);
    free(key);
    return value ? value : "";
}

/* p->pos is just past a '$'; text[..end) is the region the value may use. Appends the
 * expansion (or a literal '$') to value. Returns false after reporting a syntax error. */
static bool expand_dollar(struct env_parser *p, size_t end, bool allow_bare, struct buf *value, size_t line)
{
    const char *t = p->text;
    if (p->pos < end && t[p->pos] == '{') {
        size_t name_start = ++p->pos;
        if (p->pos >= end || !is_key_start(t[p->pos])) {
            env_error(p, line, "invalid ${...} reference (expected ${NAME})");
            return false;
        }
        while (p->pos < end && is_key_char(t[p->pos]))
            p->pos++;
        size_t name_len = p->pos - name_start;
        const char *fallback = NULL;
        size_t fallback_len = 0;
        if (end - p->pos >= 2 && t[p->pos] == ':' && t[p->pos + 1] == '-') {
            p->pos += 2;
            fallback = t + p->pos;
            while (p->pos < end && t[p->pos] != '}' && t[p->pos] != '"' && t[p->pos] != '\n')
                p->pos++;
            fallback_len = (size_t)(t + p->pos - fallback);
        }
        if (p->pos >= end || t[p->pos] != '}') {
            env_error(p, line, "unterminated ${...} reference (missing '}')");
            return false;
        }
        p->pos++;
        const char *expansion = expansion_of(p, t + name_start, name_len);
        if (*expansion)
            put(p, value, expansion, strlen(expansion));
        else if (fallback)
            put(p, value, fallback, fallback_len);
        return true;
    }
    if (allow_bare && p->pos < end && is_key_start(t[p->pos])) {
        size_t name_start = p->pos;
        while (p->pos < end && is_key_char(t[p->pos]))
            p->pos++;
        const char *expansion = expansion_of(p, t + name_start, p->pos - name_start);
        put(p, value, expansion, strlen(expansion));
        return true;
    }
    put(p, value, "$", 1);
    return true;
}

/* After a closing quote only blanks and an optional comment may follow on the line. */
static bool finish_after_quote(struct env_parser *p, size_t line)
{
    skip_blanks(p);
    if (p->pos < p->len && p->text[p->pos] == '\r')
        p->pos++;
    if (p->pos >= p->len || p->text[p->pos] == '\n' || p->text[p->pos] == '#') {
        skip_line(p);
        return true;
    }
    env_error(p, line, "unexpected text after the closing quote");
    skip_line(p);
    return false;
}

static bool parse_single_quoted(struct env_parser *p, struct buf *value, size_t line)
{
    size_t start = ++p->pos;
    const char *close = memchr(p->text + start, '\'', p->len - start);
    if (!close) {
        env_error(p, line, "unterminated single-quoted value");
        p->pos = p->len;
        return false;
    }
    size_t end = (size_t)(close - p->text);
    for (size_t i = start; i < end; i++) {
        char c = p->text[i];
        if (c == '\n')
            p->line++;
        if (c == '\r' && i + 1 < end && p->text[i + 1] == '\n')
            continue; /* CRLF files: a multi-line value gets plain LF */
        put(p, value, &c, 1);
    }
    p->pos = end + 1;
    return finish_after_quote(p, line);
}

static bool parse_double_quoted(struct env_parser *p, struct buf *value, size_t line)
{
    const char *t = p->text;
    p->pos++;
    while (p->pos < p->len) {
        char c = t[p->pos];
        if (c == '"') {
            p->pos++;
            return finish_after_quote(p, line);
        }
        if (c == '\\' && p->pos + 1 < p->len) {
            char next = t[p->pos + 1];
            const char *replacement = NULL;
            switch (next) {
            case 'n':
                replacement = "\n";
                break;
            case 't':
                replacement = "\t";
                break;
            case 'r':
                replacement = "\r";
                break;
            case '"':
                replacement = "\"";
                break;
            case '\\':
                replacement = "\\";
                break;
            case '$':
                replacement = "$";
                break;
            default:
                break;
            }
            if (replacement) {
                put(p, value, replacement, 1);
                p->pos += 2;
                continue;
            }
            /* Unknown escape: kept as written, as python-dotenv does (Windows paths). */
            put(p, value, &c, 1);
            p->pos++;
            continue;
        }
        if (c == '$') {
            p->pos++;
            if (!expand_dollar(p, p->len, false, value, line)) {
                /* Resynchronise after the closing quote, if any, so later lines still parse. */
                const char *close = memchr(t + p->pos, '"', p->len - p->pos);
                for (size_t i = p->pos; i < (close ? (size_t)(close - t) : p->len); i++)
                    if (t[i] == '\n')
                        p->line++;
                p->pos = close ? (size_t)(close - t) + 1 : p->len;
                skip_line(p);
                return false;
            }
            continue;
        }
        if (c == '\n')
            p->line++;
        if (!(c == '\r' && p->pos + 1 < p->len && t[p->pos + 1] == '\n'))
            put(p, value, &c, 1);
        p->pos++;
    }
    env_error(p, line, "unterminated double-quoted value");
    return false;
}

static bool parse_unquoted(struct env_parser *p, struct buf *value, size_t line, bool blank_before)
{
    const char *t = p->text;
    size_t start = p->pos;
    size_t eol = line_end(p, start);
    size_t end = start;
    while (end < eol) {
        /* '#' starts a comment only after whitespace, so "a#b" and URLs with #fragments work. */
        if (t[end] == '#' && (end == start ? blank_before : is_blank(t[end - 1])))
            break;
        end++;
    }
    while (end > start && (is_blank(t[end - 1]) || t[end - 1] == '\r'))
        end--;
    bool ok = true;
    while (p->pos < end) {
        char c = t[p->pos++];
        if (c == '$') {
            if (!expand_dollar(p, end, true, value, line)) {
                ok = false;
                break;
            }
        } else {
            put(p, value, &c, 1);
        }
    }
    p->pos = eol;
    skip_line(p);
    return ok;
}

/* p->pos is at the first non-blank byte of a line that is neither blank nor a comment. */
static void parse_entry(struct env_parser *p)
{
    const char *t = p->text;
    size_t line = p->line;
    if (p->len - p->pos > 7 && memcmp(t + p->pos, "export", 6) == 0 && is_blank(t[p->pos + 6])) {
        size_t after_export = p->pos + 6;
        while (after_export < p->len && is_blank(t[after_export]))
            after_export++;
        /* "export = 1" sets a key called export; "export KEY=1" is the shell form. */
        if (after_export < p->len && is_key_start(t[after_export]))
            p->pos = after_export;
    }
    size_t key_start = p->pos;
    while (p->pos < p->len && is_key_char(t[p->pos]))
        p->pos++;
    size_t key_len = p->pos - key_start;
    skip_blanks(p);
    bool key_ok = key_len > 0 && is_key_start(t[key_start]);
    if (!key_ok || p->pos >= p->len || t[p->pos] != '=') {
        size_t eol = line_end(p, key_start);
        const char *eq = memchr(t + key_start, '=', eol - key_start);
        if (!eq) {
            env_error(p, line, "missing '=' (expected KEY=value)");
        } else {
            size_t shown_len = (size_t)(eq - (t + key_start));
            while (shown_len > 0 && is_blank(t[key_start + shown_len - 1]))
                shown_len--;
            char shown[48];
            printable_name(shown, sizeof shown, t + key_start, shown_len);
            env_error(p, line,
                      "invalid variable name \"%s\" (use letters, digits and _, not starting "
                      "with a digit)",
                      shown);
        }
        p->pos = key_start;
        skip_line(p);
        return;
    }
    p->pos++; /* '=' */
    bool blank_before = skip_blanks(p) > 0;

    struct buf value;
    buf_init(&value, CONFIG_VALUE_MAX);
    p->value_overflow = false;
    bool ok;
    if (p->pos < p->len && t[p->pos] == '\'')
        ok = parse_single_quoted(p, &value, line);
    else if (p->pos < p->len && t[p->pos] == '"')
        ok = parse_double_quoted(p, &value, line);
    else
        ok = parse_unquoted(p, &value, line, blank_before);

    if (ok) {
        if (p->value_overflow) {
            env_error(p, line, "value longer than %d bytes", CONFIG_VALUE_MAX);
        } else if (p->total_value_bytes + value.len > ENV_MAX_TOTAL_VALUE_BYTES) {
            env_error(p, line, "values exceed %u bytes in total after expansion", ENV_MAX_TOTAL_VALUE_BYTES);
        } else {
            p->total_value_bytes += value.len;
            char *key = gw_strndup(t + key_start, key_len);
            if (config_store(p->cfg, key, buf_cstr(&value), false) != GW_OK)
                env_error(p, line, "too many variables (more than %d)", CONFIG_MAX_ENTRIES);
            free(key);
        }
    }
    buf_free(&value);
}

size_t config_parse_env(struct config *cfg, const char *text, size_t len, bool use_environ,
                        struct buf *errors)
{
    struct env_parser p = {
        .text = text, .len = len, .line = 1, .cfg = cfg, .use_environ = use_environ, .errors = errors};
    if (len > CONFIG_ENV_FILE_MAX) {
        if (errors)
            buf_printf(errors, "ERROR: .env file is larger than %d bytes\n", CONFIG_ENV_FILE_MAX);
        return 1;
    }
    /* Values become C strings, so a NUL byte anywhere is refused up front. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        size_t line = 1;
        for (const char *c = text; c < nul; c++)
            line += *c == '\n';
        env_error(&p, line, "NUL byte in file");
        return 1;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p.pos = 3; /* UTF-8 byte order mark from Windows editors */

    while (p.pos < p.len && p.error_count <= ENV_MAX_ERRORS) {
        skip_blanks(&p);
        if (p.pos >= p.len)
            break;
        char c = text[p.pos];
        if (c == '\n' || c == '#' || (c == '\r' && (p.pos + 1 == p.len || text[p.pos + 1] == '\n')))
            skip_line(&p);
        else
            parse_entry(&p);
    }
    if (p.error_count > ENV_MAX_ERRORS && errors)
        buf_printf(errors, "ERROR: .env: more than %d errors, stopped reading\n", ENV_MAX_ERRORS);
    return p.error_count;
}
