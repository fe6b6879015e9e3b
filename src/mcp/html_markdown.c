/*
 * html_markdown.c - HTML to Markdown (see html_markdown.h).
 *
 * Two passes over libxml2's tree: find the main-content root, then walk it writing Markdown.
 * The walk recurses, but only MAX_DEPTH levels deep: below that a subtree is written as plain
 * text by an iterative walk, so 100 000 nested <div>s cost neither stack nor quadratic time.
 * Block structure is written lazily: a block asks for blank lines (pending_newlines) and they
 * are written only when text follows, so empty elements leave no holes.
 */
#include "mcp/html_markdown.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>

#include "core/alloc.h"
#include "core/buf.h"

#define MAX_DEPTH 200
#define MAX_LIST_DEPTH 16

struct md {
    struct buf out;
    const char *base_url;
    int pending_newlines; /* newlines owed before the next text */
    int quote_depth;      /* blockquote nesting: "> " per level at each line start */
    int list_depth;
    struct {
        bool ordered;
        long counter;
    } lists[MAX_LIST_DEPTH];
    bool in_pre;
    bool in_table_cell; /* block breaks become spaces */
};

static bool name_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->name && strcasecmp((const char *)n->name, name) == 0;
}

static bool name_in(const xmlNode *n, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (name_is(n, names[i]))
            return true;
    return false;
}

static bool has_attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->name && strcasecmp((const char *)a->name, name) == 0)
            return true;
    return false;
}

static const char *attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->name && strcasecmp((const char *)a->name, name) == 0 && a->children &&
            a->children->type == XML_TEXT_NODE)
            return (const char *)a->children->content;
    return NULL;
}

/* Elements never shown, wherever they are. */
static const char *const dropped_always[] = {"script", "style",  "noscript", "form",     "svg",    "nav",
                                             "aside",  "iframe", "object",   "embed",    "canvas", "template",
                                             "button", "select", "input",    "textarea", "head",   "title",
                                             "meta",   "link",   "dialog",   "math",     NULL};
/* Page furniture, dropped outside the main content (an article's own header stays). */
static const char *const dropped_outside_main[] = {"header", "footer", NULL};

/* Class or id tokens that mark page furniture on sites without <nav>/<aside> markup (a short,
 * exact list: a loose one would eat content such as "entry-header"). */
static const char *const furniture_tokens[] = {
    "sidebar",        "navbar",      "nav",           "menu",          "breadcrumb",
    "breadcrumbs",    "site-header", "site-footer",   "cookie-banner", "cookie-notice",
    "cookie-consent", "skip-link",   "share-buttons", "social-share",  "advertisement",
    "ad-slot",        NULL};

static bool has_furniture_token(const char *value)
{
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        size_t n = 0;
        while (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != '\n')
            n++;
        for (size_t i = 0; n && furniture_tokens[i]; i++)
            if (strlen(furniture_tokens[i]) == n && strncasecmp(p, furniture_tokens[i], n) == 0)
                return true;
        p += n;
    }
    return false;
}

static bool is_dropped(const xmlNode *n, bool inside_main)
{
    if (name_in(n, dropped_always))
        return true;
    if (!inside_main && name_in(n, dropped_outside_main))
        return true;
    if (!inside_main && (has_furniture_token(attr(n, "class")) || has_furniture_token(attr(n, "id"))))
        return true;
    const char *aria_hidden = attr(n, "aria-hidden");
    const char *role = attr(n, "role");
    return has_attr(n, "hidden") || (aria_hidden && strcasecmp(aria_hidden, "true") == 0) ||
           (role && (strcasecmp(role, "navigation") == 0 || strcasecmp(role, "banner") == 0 ||
                     strcasecmp(role, "contentinfo") == 0 || strcasecmp(role, "complementary") == 0));
}

/* ---- output ---- */

static bool at_line_start(const struct md *md)
{
    return md->out.len == 0 || md->out.data[md->out.len - 1] == '\n';
}

static void write_line_prefix(struct md *md)
{
    for (int i = 0; i < md->quote_depth; i++)
        buf_append_str(&md->out, "> ");
}

/* Write the newlines a block asked for (none at the very start), then the line prefix. */
static void flush_breaks(struct md *md)
{
    if (md->in_table_cell) {
        if (md->pending_newlines && md->out.len && md->out.data[md->out.len - 1] != ' ')
            buf_append_char(&md->out, ' ');
        md->pending_newlines = 0;
        return;
    }
    if (md->out.len == 0)
        md->pending_newlines = 0;
    for (; md->pending_newlines > 0; md->pending_newlines--) {
        buf_append_char(&md->out, '\n');
        if (md->pending_newlines > 1)
            write_line_prefix(md);
    }
    if (at_line_start(md)) {
        write_line_prefix(md);
        if (md->list_depth > 0)
            for (int i = 0; i < md->list_depth; i++)
                buf_append_str(&md->out, "  ");
    }
}

static void want_breaks(struct md *md, int n)
{
    if (md->pending_newlines < n)
        md->pending_newlines = n;
}

/* Raw markup (markers, URLs): written as is after any owed breaks. */
static void emit(struct md *md, const char *s)
{
    flush_breaks(md);
    buf_append_str(&md->out, s);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Text with whitespace runs collapsed to one space; no space at a line start or after one. */
static void emit_text(struct md *md, const char *s)
{
    if (md->in_pre) {
        flush_breaks(md);
        for (const char *p = s; *p; p++) {
            buf_append_char(&md->out, *p);
            if (*p == '\n')
                write_line_prefix(md);
        }
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (is_space(*p)) {
            while (*p && is_space(*p))
                p++;
            if (md->pending_newlines == 0 && !at_line_start(md) && md->out.data[md->out.len - 1] != ' ')
                buf_append_char(&md->out, ' ');
            continue;
        }
        const unsigned char *start = p;
        while (*p && !is_space(*p))
            p++;
        flush_breaks(md);
        if (md->in_table_cell) {
            for (const unsigned char *q = start; q < p; q++) {
                if (*q == '|')
                    buf_append_char(&md->out, '\\');
                buf_append_char(&md->out, (char)*q);
            }
        } else {
            buf_append(&md->out, start, (size_t)(p - start));
        }
    }
}

static void truncate_to(struct md *md, size_t len)
{
    if (md->out.data && len < md->out.len) {
        md->out.len = len;
        md->out.data[len] = '\0';
    }
}

/* Whether out[from..] holds anything but spaces and markup characters. */
static bool wrote_text_since(const struct md *md, size_t from)
{
    for (size_t i = from; i < md->out.len; i++)
        if (!is_space((unsigned char)md->out.data[i]) && md->out.data[i] != '>')
            return true;
    return false;
}

/* ---- the walk ---- */

static void walk(struct md *md, const xmlNode *n, int depth, bool inside_main);

static void walk_children(struct md *md, const xmlNode *n, int depth, bool inside_main)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        walk(md, c, depth + 1, inside_main);
}

/* Below MAX_DEPTH: the subtree's text, iteratively (parent/next links, no stack). */
static void flat_text(struct md *md, const xmlNode *root)
{
    const xmlNode *n = root;
    while (n) {
        bool skip = n->type == XML_ELEMENT_NODE && is_dropped(n, true);
        if (n->type == XML_TEXT_NODE && n->content)
            emit_text(md, (const char *)n->content);
        if (!skip && n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
}

static char *resolve_url(const struct md *md, const char *href)
{
    if (md->base_url && *md->base_url) {
        xmlChar *abs = xmlBuildURI((const xmlChar *)href, (const xmlChar *)md->base_url);
        if (abs) {
            char *copy = gw_strdup((const char *)abs);
            xmlFree(abs);
            return copy;
        }
    }
    return gw_strdup(href);
}

/* A URL as a Markdown link target: spaces and parentheses would end it early. */
static void emit_url(struct md *md, const char *url)
{
    for (const char *p = url; *p; p++) {
        if (*p == ' ')
            buf_append_str(&md->out, "%20");
        else if (*p == '(')
            buf_append_str(&md->out, "%28");
        else if (*p == ')')
            buf_append_str(&md->out, "%29");
        else if (*p != '\n' && *p != '\r' && *p != '\t')
            buf_append_char(&md->out, *p);
    }
}

static void walk_link(struct md *md, const xmlNode *n, int depth, bool inside_main)
{
    const char *href = attr(n, "href");
    if (!href || !*href || href[0] == '#' || strncasecmp(href, "javascript:", 11) == 0) {
        walk_children(md, n, depth, inside_main);
        return;
    }
    flush_breaks(md);
    size_t mark = md->out.len;
    buf_append_char(&md->out, '[');
    walk_children(md, n, depth, inside_main);
    if (!wrote_text_since(md, mark + 1)) {
        truncate_to(md, mark);
        return;
    }
    while (md->out.len > mark + 1 && md->out.data[md->out.len - 1] == ' ')
        truncate_to(md, md->out.len - 1);
    char *url = resolve_url(md, href);
    buf_append_str(&md->out, "](");
    emit_url(md, url);
    buf_append_char(&md->out, ')');
    free(url);
}

static void walk_image(struct md *md, const xmlNode *n)
{
    const char *src = attr(n, "src");
    if (!src || !*src || strncasecmp(src, "data:", 5) == 0)
        return;
    const char *alt = attr(n, "alt");
    emit(md, "![");
    bool saved = md->in_table_cell;
    md->in_table_cell = true; /* alt text on one line, no '|' or ']' surprises */
    for (const char *p = alt ? alt : ""; *p; p++)
        if (*p != '[' && *p != ']' && *p != '\n' && *p != '\r')
            buf_append_char(&md->out, *p);
    md->in_table_cell = saved;
    char *url = resolve_url(md, src);
    buf_append_str(&md->out, "](");
    emit_url(md, url);
    buf_append_char(&md->out, ')');
    free(url);
}

/* Inline wrappers (** * ` ~~): written only around something. */
static void walk_wrapped(struct md *md, const xmlNode *n, int depth, bool inside_main, const char *marker)
{
    flush_breaks(md);
    size_t mark = md->out.len;
    buf_append_str(&md->out, marker);
    walk_children(md, n, depth, inside_main);
    if (!wrote_text_since(md, mark + strlen(marker))) {
        truncate_to(md, mark);
        return;
    }
    /* "**word **" is not emphasis in Markdown: move the space outside. */
    bool trailing_space = md->out.data[md->out.len - 1] == ' ';
    if (trailing_space)
        truncate_to(md, md->out.len - 1);
    buf_append_str(&md->out, marker);
    if (trailing_space)
        buf_append_char(&md->out, ' ');
}

static const char *code_language(const xmlNode *pre)
{
    const xmlNode *code = pre->children;
    while (code && code->type != XML_ELEMENT_NODE)
        code = code->next;
    const char *cls = code && name_is(code, "code") ? attr(code, "class") : attr(pre, "class");
    if (!cls)
        return NULL;
    const char *lang = strstr(cls, "language-");
    return lang ? lang + 9 : NULL;
}

static void walk_pre(struct md *md, const xmlNode *n)
{
    if (md->in_table_cell) {
        flat_text(md, n);
        return;
    }
    want_breaks(md, 2);
    emit(md, "```");
    const char *lang = code_language(n);
    for (const char *p = lang; p && *p && !is_space((unsigned char)*p); p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '+' || *p == '_')
            buf_append_char(&md->out, *p);
    buf_append_char(&md->out, '\n');
    write_line_prefix(md);
    md->in_pre = true;
    flat_text(md, n);
    md->in_pre = false;
    if (!at_line_start(md))
        buf_append_char(&md->out, '\n');
    write_line_prefix(md);
    buf_append_str(&md->out, "```");
    want_breaks(md, 2);
}

static void walk_list(struct md *md, const xmlNode *n, int depth, bool inside_main, bool ordered)
{
    want_breaks(md, md->list_depth ? 1 : 2);
    if (md->list_depth >= MAX_LIST_DEPTH) {
        walk_children(md, n, depth, inside_main);
        return;
    }
    md->lists[md->list_depth].ordered = ordered;
    const char *start = attr(n, "start");
    md->lists[md->list_depth].counter = start ? strtol(start, NULL, 10) : 1;
    md->list_depth++;
    walk_children(md, n, depth, inside_main);
    md->list_depth--;
    want_breaks(md, md->list_depth ? 1 : 2);
}

static void walk_list_item(struct md *md, const xmlNode *n, int depth, bool inside_main)
{
    if (md->list_depth == 0 || md->in_table_cell) {
        want_breaks(md, 1);
        walk_children(md, n, depth, inside_main);
        return;
    }
    want_breaks(md, 1);
    /* The marker sits one level left of the item's continuation lines. */
    md->list_depth--;
    flush_breaks(md);
    md->list_depth++;
    char marker[32];
    if (md->lists[md->list_depth - 1].ordered)
        snprintf(marker, sizeof(marker), "%ld. ", md->lists[md->list_depth - 1].counter++);
    else
        snprintf(marker, sizeof(marker), "- ");
    buf_append_str(&md->out, marker);
    walk_children(md, n, depth, inside_main);
    want_breaks(md, 1);
}

/* Rows of a table in document order, through thead/tbody/tfoot. */
static void walk_table_rows(struct md *md, const xmlNode *n, int depth, bool inside_main, int *row_count)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (name_is(c, "thead") || name_is(c, "tbody") || name_is(c, "tfoot")) {
            walk_table_rows(md, c, depth + 1, inside_main, row_count);
            continue;
        }
        if (!name_is(c, "tr"))
            continue;
        int cells = 0;
        want_breaks(md, 1);
        emit(md, "|");
        for (const xmlNode *cell = c->children; cell; cell = cell->next) {
            if (!name_is(cell, "td") && !name_is(cell, "th"))
                continue;
            buf_append_char(&md->out, ' ');
            md->in_table_cell = true;
            walk_children(md, cell, depth + 2, inside_main);
            md->in_table_cell = false;
            while (md->out.data[md->out.len - 1] == ' ')
                truncate_to(md, md->out.len - 1);
            buf_append_str(&md->out, " |");
            cells++;
        }
        if (++*row_count == 1) {
            buf_append_char(&md->out, '\n');
            write_line_prefix(md);
            buf_append_char(&md->out, '|');
            for (int i = 0; i < (cells ? cells : 1); i++)
                buf_append_str(&md->out, " --- |");
        }
    }
}

static void walk_table(struct md *md, const xmlNode *n, int depth, bool inside_main)
{
    if (md->in_table_cell) { /* a table inside a cell: its text only */
        walk_children(md, n, depth, inside_main);
        return;
    }
    want_breaks(md, 2);
    int rows = 0;
    walk_table_rows(md, n, depth, inside_main, &rows);
    want_breaks(md, 2);
}

static const char *const block_elements[] = {
    "p",       "div",     "section",  "address", "figure", "figcaption", "details",
    "summary", "dl",      "dt",       "dd",      "center", "body",       "html",
    "main",    "article", "fieldset", "header",  "footer", "caption",    NULL};

static void walk(struct md *md, const xmlNode *n, int depth, bool inside_main)
{
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content)
            emit_text(md, (const char *)n->content);
        return;
    }
    if (n->type != XML_ELEMENT_NODE || is_dropped(n, inside_main))
        return;
    if (depth > MAX_DEPTH) {
        flat_text(md, n);
        return;
    }
    const char *name = (const char *)n->name;
    if (name[0] && (name[0] == 'h' || name[0] == 'H') && name[1] >= '1' && name[1] <= '6' && !name[2]) {
        want_breaks(md, 2);
        char hashes[8] = "#######";
        hashes[name[1] - '0'] = '\0';
        emit(md, md->in_table_cell ? "" : hashes);
        if (!md->in_table_cell)
            buf_append_char(&md->out, ' ');
        size_t mark = md->out.len;
        walk_children(md, n, depth, inside_main);
        if (md->out.len == mark && !md->in_table_cell) /* empty heading: take the hashes back */
            truncate_to(md, mark - strlen(hashes) - 1);
        want_breaks(md, 2);
    } else if (name_is(n, "a")) {
        walk_link(md, n, depth, inside_main);
    } else if (name_is(n, "img")) {
        walk_image(md, n);
    } else if (name_is(n, "br")) {
        if (md->in_table_cell)
            emit_text(md, " ");
        else {
            flush_breaks(md);
            buf_append_char(&md->out, '\n');
            md->pending_newlines = 0;
        }
    } else if (name_is(n, "hr")) {
        want_breaks(md, 2);
        emit(md, "---");
        want_breaks(md, 2);
    } else if (name_is(n, "strong") || name_is(n, "b")) {
        walk_wrapped(md, n, depth, inside_main, "**");
    } else if (name_is(n, "em") || name_is(n, "i") || name_is(n, "cite")) {
        walk_wrapped(md, n, depth, inside_main, "*");
    } else if (name_is(n, "del") || name_is(n, "s") || name_is(n, "strike")) {
        walk_wrapped(md, n, depth, inside_main, "~~");
    } else if (name_is(n, "code") || name_is(n, "kbd") || name_is(n, "samp") || name_is(n, "tt")) {
        walk_wrapped(md, n, depth, inside_main, "`");
    } else if (name_is(n, "pre")) {
        walk_pre(md, n);
    } else if (name_is(n, "blockquote")) {
        want_breaks(md, 2);
        md->quote_depth++;
        walk_children(md, n, depth, inside_main);
        md->quote_depth--;
        want_breaks(md, 2);
    } else if (name_is(n, "ul") || name_is(n, "ol") || name_is(n, "menu")) {
        walk_list(md, n, depth, inside_main, name_is(n, "ol"));
    } else if (name_is(n, "li")) {
        walk_list_item(md, n, depth, inside_main);
    } else if (name_is(n, "table")) {
        walk_table(md, n, depth, inside_main);
    } else if (name_in(n, block_elements)) {
        want_breaks(md, 2);
        walk_children(md, n, depth, inside_main);
        want_breaks(md, 2);
    } else {
        walk_children(md, n, depth, inside_main);
    }
}

/* ---- main content ---- */

/* The first element (document order, iteratively) that satisfies pred, not inside a dropped one. */
static const xmlNode *find_first(const xmlNode *root, bool (*pred)(const xmlNode *))
{
    const xmlNode *n = root;
    while (n) {
        bool element = n->type == XML_ELEMENT_NODE;
        if (element && pred(n))
            return n;
        if (element && n->children && !name_in(n, dropped_always)) {
            n = n->children;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
    return NULL;
}

static bool is_main(const xmlNode *n)
{
    const char *role = attr(n, "role");
    return name_is(n, "main") || (role && strcasecmp(role, "main") == 0);
}
static bool is_article(const xmlNode *n)
{
    return name_is(n, "article");
}
static bool is_body(const xmlNode *n)
{
    return name_is(n, "body");
}

/* Tidy the output: no trailing spaces on lines, at most one blank line, no blank start/end. */
static char *tidy(struct buf *out)
{
    struct buf clean;
    buf_init(&clean, SIZE_MAX);
    const char *s = out->data ? out->data : "";
    size_t len = out->len, i = 0, blanks = 0;
    bool quote_blank = false, last_quoted = false;
    while (i < len) {
        size_t eol = i;
        while (eol < len && s[eol] != '\n')
            eol++;
        size_t end = eol;
        while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            end--;
        if (end - i == 1 && s[i] == '>') { /* a blank line inside a quote keeps the quote going */
            quote_blank = quote_blank || (blanks == 0 && last_quoted);
        } else if (end == i) {
            blanks++;
        } else {
            if (clean.len)
                buf_append_str(&clean, blanks                       ? "\n\n"
                                       : quote_blank && s[i] == '>' ? "\n>\n"
                                       : quote_blank                ? "\n\n"
                                                                    : "\n");
            quote_blank = false;
            last_quoted = s[i] == '>';
            buf_append(&clean, s + i, end - i);
            blanks = 0;
        }
        i = eol + 1;
    }
    char *result = buf_take(&clean);
    return result ? result : gw_strdup("");
}

static bool valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > len || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
            return false;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        if (n == 3 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)))
            return false;
        if (n == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)))
            return false;
        i += n;
    }
    return true;
}

/* libxml2 can pass a stray byte of broken input through (seen with "&\xff" in a document it
 * read as Latin-1): the output must be valid UTF-8 whatever the input, so repair it. */
static char *repair_utf8(char *s)
{
    size_t len = strlen(s);
    if (valid_utf8((const unsigned char *)s, len))
        return s;
    struct buf out;
    buf_init(&out, SIZE_MAX);
    size_t i = 0;
    while (i < len) {
        size_t n = 1;
        while (n <= 4 && i + n <= len && !valid_utf8((const unsigned char *)s + i, n))
            n++;
        if (n <= 4 && i + n <= len) {
            buf_append(&out, s + i, n);
            i += n;
        } else {
            buf_append_str(&out, "\xEF\xBF\xBD");
            i++;
        }
    }
    free(s);
    char *repaired = buf_take(&out);
    return repaired ? repaired : gw_strdup("");
}

char *html_to_markdown(const char *html, size_t len, const char *encoding, const char *base_url)
{
    if (!html || len == 0)
        return gw_strdup("");
    if (len > HTML_MARKDOWN_MAX_INPUT)
        len = HTML_MARKDOWN_MAX_INPUT;
    if (!encoding && valid_utf8((const unsigned char *)html, len))
        encoding = "UTF-8";
    htmlDocPtr doc = htmlReadMemory(html, (int)len, base_url, encoding,
                                    HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                                        HTML_PARSE_NOWARNING | HTML_PARSE_NOBLANKS);
    if (!doc && encoding) /* an unknown charset name: let the parser guess */
        doc =
            htmlReadMemory(html, (int)len, base_url, NULL,
                           HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    if (!doc)
        return gw_strdup("");
    const xmlNode *top = xmlDocGetRootElement(doc);
    struct md md = {.base_url = base_url};
    buf_init(&md.out, SIZE_MAX);
    if (top) {
        const xmlNode *root = find_first(top, is_main);
        if (!root)
            root = find_first(top, is_article);
        bool inside_main = root != NULL;
        if (!root)
            root = find_first(top, is_body);
        if (!root)
            root = top;
        walk(&md, root, 0, inside_main);
    }
    xmlFreeDoc(doc);
    char *result = repair_utf8(tidy(&md.out));
    buf_free(&md.out);
    return result;
}
