/*
 * users_file.c - LOCAL_USERS_FILE's format (see users_file.h).
 */
#include "users_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define USERS_FILE_MAX (1024 * 1024)

bool users_file_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > USERS_FILE_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

static bool hash_supported(const char *h, size_t len)
{
    return (len > 7 &&
            (strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2a$", 4) == 0)) ||
           (len > 4 && strncmp(h, "$y$", 3) == 0) || (len > 10 && strncmp(h, "$argon2id$", 10) == 0) ||
           (len > 9 && strncmp(h, "$argon2i$", 9) == 0);
}

/* The line starting at p (text ends at end): *line_end is where its content ends (before
 * "\n" or "\r\n"); returns where the next line starts. */
static const char *next_line(const char *p, const char *end, const char **line_end)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    return eol + 1;
}

char *users_file_find(const char *text, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *line_end, *next = next_line(p, end, &line_end);
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (*p != '#' && colon && (size_t)(colon - p) == name_len && memcmp(p, name, name_len) == 0) {
            const char *h = colon + 1;
            size_t hlen = (size_t)(line_end - h);
            while (hlen && (h[hlen - 1] == ' ' || h[hlen - 1] == '\t'))
                hlen--;
            if (hash_supported(h, hlen) && !memchr(h, '\0', hlen))
                return gw_strndup(h, hlen);
        }
        p = next;
    }
    return NULL;
}

/* The whole file (at most USERS_FILE_MAX bytes) as a new string, or NULL. */
static char *read_users_file(const char *path, size_t *len)
{
    struct buf b;
    buf_init(&b, USERS_FILE_MAX);
    if (buf_append_file(&b, path) != GW_OK) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return buf_take(&b);
}

enum gw_err users_file_lookup(const char *path, const char *name, char **hash)
{
    if (hash)
        *hash = NULL;
    size_t len = 0;
    char *text = read_users_file(path, &len);
    if (!text)
        return GW_ERR_IO;
    char *h = users_file_find(text, len, name);
    free(text);
    if (!h)
        return GW_ERR_NOT_FOUND;
    if (hash)
        *hash = h;
    else
        free(h);
    return GW_OK;
}

char *users_file_find_in_file(const char *path, const char *name)
{
    char *h = NULL;
    (void)users_file_lookup(path, name, &h);
    return h;
}

enum gw_err users_file_check(const char *path, struct buf *errors)
{
    size_t errors_before = errors->len;
    size_t len = 0;
    char *text = read_users_file(path, &len);
    if (!text) {
        (void)buf_printf(errors, "ERROR: Invalid value for LOCAL_USERS_FILE: cannot read %s\n", path);
    } else {
        int line_no = 0;
        const char *p = text, *end = text + len;
        while (p < end) {
            line_no++;
            const char *line_end, *next = next_line(p, end, &line_end);
            size_t line_len = (size_t)(line_end - p);
            bool blank = true;
            for (size_t i = 0; i < line_len; i++)
                if (p[i] != ' ' && p[i] != '\t')
                    blank = false;
            if (!blank && *p != '#') {
                const char *colon = memchr(p, ':', line_len);
                char *name = colon ? gw_strndup(p, (size_t)(colon - p)) : NULL;
                if (!colon || !users_file_name_valid(name))
                    (void)buf_printf(errors, "ERROR: %s line %d: expected NAME:HASH with a valid user name\n",
                                     path, line_no);
                else if (!hash_supported(colon + 1, (size_t)(line_end - colon - 1)))
                    (void)buf_printf(
                        errors,
                        "ERROR: %s line %d: unsupported hash (argon2id $argon2id$, argon2i, bcrypt "
                        "$2b$/$2y$ or yescrypt $y$)\n",
                        path, line_no);
                free(name);
            }
            p = next;
        }
        free(text);
    }
    return errors->len > errors_before ? GW_ERR_CONFIG : GW_OK;
}
