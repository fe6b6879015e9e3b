/*
 * oauth_flow_parse.c - see oauth_flow_parse.h. Small hand-written scanners: the inputs are the
 * authorization server's own pages and headers, but they still arrive over the network, so
 * every loop is bounded by the input's end and nothing is assumed about its shape.
 */
#include "oauth_flow_parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"

#define SUMMARY_MAX 300
#define TAG_MAX_ATTRS 32

/* ---- WWW-Authenticate ---- */

static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *scan_token(const char *p, const char *end)
{
    while (p < end && is_tchar(*p))
        p++;
    return p;
}

/* A quoted-string starting at p (which is '"'): its unescaped contents appended to out (may be
 * NULL). Returns the position after the closing quote, or NULL when it is not closed. */
static const char *scan_quoted(const char *p, const char *end, struct buf *out)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            if (++p == end)
                return NULL;
        }
        if (out)
            buf_append_char(out, *p);
    }
    return NULL;
}

/* A run of token characters, or of token68 characters (which add '/'), starting at p. */
static const char *scan_word(const char *p, const char *end)
{
    while (p < end && (is_tchar(*p) || *p == '/'))
        p++;
    return p;
}

char *flow_challenge_param(const char *header, size_t len, const char *name)
{
    const char *p = header, *end = header + len;
    bool in_bearer = false;
    while (p < end) {
        p = skip_ows(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p == end)
            break;
        const char *t = p;
        p = scan_word(p, end);
        if (p == t)
            return NULL; /* no token where one must be: malformed */
        size_t tlen = (size_t)(p - t);
        const char *after = skip_ows(p, end);
        if (after == end || *after != '=') {
            /* an auth-scheme, or a token68 without padding: either way a new element */
            in_bearer = tlen == 6 && strncasecmp(t, "Bearer", 6) == 0;
            continue;
        }
        const char *v = skip_ows(after + 1, end);
        if (v == end || *v == '=' || *v == ',') {
            /* token68 with '=' padding ("Basic dXNlcg==") */
            p = v;
            while (p < end && *p == '=')
                p++;
            continue;
        }
        /* auth-param: token BWS "=" BWS ( token / quoted-string ) */
        struct buf value;
        buf_init(&value, len + 1);
        if (*v == '"') {
            p = scan_quoted(v, end, &value);
            if (!p) {
                buf_free(&value);
                return NULL;
            }
        } else {
            p = scan_token(v, end);
            buf_append(&value, v, (size_t)(p - v));
        }
        if (in_bearer && tlen == strlen(name) && strncasecmp(t, name, tlen) == 0)
            return buf_take(&value);
        buf_free(&value);
        p = skip_ows(p, end);
        if (p < end && *p != ',')
            return NULL; /* garbage after a parameter */
    }
    return NULL;
}

/* ---- HTML ---- */

static void decode_references(struct buf *out, const char *s, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", ' '}};
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '&') {
            buf_append_char(out, s[i]);
            continue;
        }
        bool done = false;
        for (size_t k = 0; k < sizeof(named) / sizeof(named[0]) && !done; k++) {
            size_t n = strlen(named[k].name);
            if (len - i - 1 >= n && memcmp(s + i + 1, named[k].name, n) == 0) {
                buf_append_char(out, named[k].c);
                i += n;
                done = true;
            }
        }
        if (!done && i + 2 < len && s[i + 1] == '#') {
            bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
            size_t j = i + (hex ? 3 : 2);
            unsigned long code = 0;
            size_t digits = 0;
            while (j < len && digits < 7 &&
                   (hex ? isxdigit((unsigned char)s[j]) : isdigit((unsigned char)s[j]))) {
                code =
                    code * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)s[j])
                                                                 ? s[j] - '0'
                                                                 : (tolower((unsigned char)s[j]) - 'a' + 10));
                j++;
                digits++;
            }
            /* Only ASCII is decoded: the values we read (ids, URLs, messages) are ASCII. */
            if (digits && j < len && s[j] == ';' && code > 0 && code < 128) {
                buf_append_char(out, (char)code);
                i = j;
                done = true;
            }
        }
        if (!done)
            buf_append_char(out, '&');
    }
}

struct html_attr {
    struct strview name, value;
};

struct html_tag {
    struct strview name; /* empty for a closing tag's name check: see closing */
    bool closing;
    struct html_attr attrs[TAG_MAX_ATTRS];
    size_t nattrs;
};

/* The next tag at or after p: fills *tag and returns the position after its '>', or NULL when
 * there is none. Comments and declarations (<!...>) are skipped. */
static const char *next_tag(const char *p, const char *end, struct html_tag *tag)
{
    for (;;) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p || end - p < 2)
            return NULL;
        p++;
        if (end - p >= 3 && memcmp(p, "!--", 3) == 0) {
            const char *close = NULL;
            for (const char *q = p + 3; q + 3 <= end; q++)
                if (memcmp(q, "-->", 3) == 0) {
                    close = q + 3;
                    break;
                }
            if (!close)
                return NULL;
            p = close;
            continue;
        }
        if (*p == '!' || *p == '?') {
            p = memchr(p, '>', (size_t)(end - p));
            if (!p)
                return NULL;
            continue;
        }
        memset(tag, 0, sizeof(*tag));
        if (*p == '/') {
            tag->closing = true;
            p++;
        }
        if (p >= end || !isalpha((unsigned char)*p))
            continue; /* a lone '<' in text */
        const char *n = p;
        while (p < end && isalnum((unsigned char)*p))
            p++;
        tag->name = (struct strview){n, (size_t)(p - n)};
        for (;;) {
            while (p < end && (isspace((unsigned char)*p) || *p == '/'))
                p++;
            if (p >= end)
                return NULL;
            if (*p == '>')
                return p + 1;
            const char *an = p;
            while (p < end && !isspace((unsigned char)*p) && *p != '=' && *p != '>' && *p != '/')
                p++;
            struct html_attr attr = {{an, (size_t)(p - an)}, {NULL, 0}};
            while (p < end && isspace((unsigned char)*p))
                p++;
            if (p < end && *p == '=') {
                p++;
                while (p < end && isspace((unsigned char)*p))
                    p++;
                if (p < end && (*p == '"' || *p == '\'')) {
                    const char *close = memchr(p + 1, *p, (size_t)(end - p - 1));
                    if (!close)
                        return NULL;
                    attr.value = (struct strview){p + 1, (size_t)(close - p - 1)};
                    p = close + 1;
                } else {
                    const char *v = p;
                    while (p < end && !isspace((unsigned char)*p) && *p != '>')
                        p++;
                    attr.value = (struct strview){v, (size_t)(p - v)};
                }
            }
            if (attr.name.len && tag->nattrs < TAG_MAX_ATTRS)
                tag->attrs[tag->nattrs++] = attr;
        }
    }
}

static const struct html_attr *tag_attr(const struct html_tag *tag, const char *name)
{
    for (size_t i = 0; i < tag->nattrs; i++)
        if (strview_eq_nocase(tag->attrs[i].name, name))
            return &tag->attrs[i];
    return NULL;
}

static char *decoded(struct strview v)
{
    struct buf b;
    buf_init(&b, v.len + 1);
    decode_references(&b, v.ptr ? v.ptr : "", v.len);
    return buf_take(&b);
}

static bool attr_equals(const struct html_attr *a, const char *want)
{
    if (!a)
        return false;
    char *v = decoded(a->value);
    bool eq = strcmp(v, want) == 0;
    free(v);
    return eq;
}

/* The first <input>/<button> named name (and with that value, when value is not NULL). */
static bool find_control(const char *html, size_t len, const char *name, const char *value,
                         struct html_tag *out)
{
    const char *p = html, *end = html + len;
    while (p && p < end) {
        p = next_tag(p, end, out);
        if (!p)
            return false;
        if (out->closing ||
            !(strview_eq_nocase(out->name, "input") || strview_eq_nocase(out->name, "button")))
            continue;
        if (!attr_equals(tag_attr(out, "name"), name))
            continue;
        if (value && !attr_equals(tag_attr(out, "value"), value))
            continue;
        return true;
    }
    return false;
}

bool flow_html_has_control(const char *html, size_t len, const char *name, const char *value)
{
    struct html_tag tag;
    return find_control(html, len, name, value, &tag);
}

char *flow_html_control_value(const char *html, size_t len, const char *name)
{
    struct html_tag tag;
    if (!find_control(html, len, name, NULL, &tag))
        return NULL;
    const struct html_attr *v = tag_attr(&tag, "value");
    return v ? decoded(v->value) : gw_strdup("");
}

char *flow_html_form_action(const char *html, size_t len)
{
    const char *p = html, *end = html + len;
    struct html_tag tag;
    while (p && p < end) {
        p = next_tag(p, end, &tag);
        if (!p)
            return NULL;
        if (!tag.closing && strview_eq_nocase(tag.name, "form")) {
            const struct html_attr *a = tag_attr(&tag, "action");
            return a ? decoded(a->value) : NULL;
        }
    }
    return NULL;
}

/* The text between the end of the opening tag at `from` and the closing </name>, with inner
 * tags dropped, appended to out with whitespace collapsed. */
static void append_text_until_close(struct buf *out, const char *from, const char *end, const char *name)
{
    struct buf raw;
    buf_init(&raw, SUMMARY_MAX * 8);
    const char *p = from;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        const char *stop = lt ? lt : end;
        size_t room = raw.cap - raw.len, n = (size_t)(stop - p);
        buf_append(&raw, p, n < room ? n : room); /* the summary is cut anyway */
        if (!lt || n >= room)
            break;
        struct html_tag tag;
        const char *after = next_tag(lt, end, &tag);
        if (!after || (tag.closing && strview_eq_nocase(tag.name, name)))
            break;
        buf_append_char(&raw, ' ');
        p = after;
    }
    struct buf text;
    buf_init(&text, raw.len + 1);
    decode_references(&text, buf_cstr(&raw), raw.len);
    bool space = out->len == 0 || out->data[out->len - 1] == ' ';
    for (size_t i = 0; i < text.len && out->len < SUMMARY_MAX; i++) {
        unsigned char c = (unsigned char)text.data[i];
        if (isspace(c) || c < 0x20) {
            if (!space)
                buf_append_char(out, ' ');
            space = true;
        } else {
            buf_append_char(out, (char)c);
            space = false;
        }
    }
    while (out->len && out->data[out->len - 1] == ' ')
        out->data[--out->len] = '\0';
    buf_free(&text);
    buf_free(&raw);
}

char *flow_html_summary(const char *html, size_t len)
{
    struct buf title, para;
    buf_init(&title, SUMMARY_MAX + 1);
    buf_init(&para, SUMMARY_MAX + 1);
    const char *p = html, *end = html + len;
    struct html_tag tag;
    while (p && p < end && (!title.len || !para.len)) {
        p = next_tag(p, end, &tag);
        if (!p)
            break;
        if (tag.closing)
            continue;
        if (!title.len && strview_eq_nocase(tag.name, "title"))
            append_text_until_close(&title, p, end, "title");
        else if (!para.len && strview_eq_nocase(tag.name, "p"))
            append_text_until_close(&para, p, end, "p");
    }
    char *out = NULL;
    if (title.len || para.len) {
        struct buf s;
        buf_init(&s, 2 * SUMMARY_MAX + 3);
        buf_printf(&s, "%s%s%s", buf_cstr(&title), title.len && para.len ? ": " : "", buf_cstr(&para));
        out = buf_take(&s);
        if (strlen(out) > SUMMARY_MAX)
            out[SUMMARY_MAX] = '\0';
    }
    buf_free(&title);
    buf_free(&para);
    return out;
}

/* ---- MCP answers ---- */

static json_t *matching_message(json_t *msg, long long id)
{
    if (json_is_array(msg)) {
        size_t i;
        json_t *item;
        json_array_foreach(msg, i, item)
        {
            json_t *found = matching_message(item, id);
            if (found)
                return found;
        }
        return NULL;
    }
    json_t *mid = json_object_get(msg, "id");
    if (json_is_integer(mid) && json_integer_value(mid) == id)
        return json_incref(msg);
    return NULL;
}

static json_t *answer_in(const char *text, size_t len, long long id)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    json_t *found = doc ? matching_message(doc, id) : NULL;
    json_decref(doc);
    return found;
}

json_t *flow_jsonrpc_answer(const char *content_type, const char *body, size_t len, long long id)
{
    if (!content_type || strncasecmp(content_type, "text/event-stream", 17) != 0)
        return answer_in(body, len, id);
    struct buf data;
    buf_init(&data, len + 1);
    const char *p = body, *end = body + len;
    json_t *found = NULL;
    while (p < end && !found) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t n = (size_t)(line_end - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n == 0) {
            /* end of an event */
            if (data.len)
                found = answer_in(data.data, data.len, id);
            buf_reset(&data);
        } else if (n >= 5 && memcmp(p, "data:", 5) == 0) {
            const char *v = p + 5;
            size_t vn = n - 5;
            if (vn && *v == ' ')
                v++, vn--;
            if (data.len)
                buf_append_char(&data, '\n');
            buf_append(&data, v, vn);
        }
        p = nl ? nl + 1 : end;
    }
    if (!found && data.len) /* a stream cut after the last data line */
        found = answer_in(data.data, data.len, id);
    buf_free(&data);
    return found;
}
