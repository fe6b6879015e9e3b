/*
 * local_users.c - local users file and password hashes (see local_users.h).
 */
#include "local_users.h"

#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"

#define USERS_FILE_MAX (1024 * 1024)

static pthread_once_t crypt_once = PTHREAD_ONCE_INIT;
static char dummy_hash[128];

static char *bcrypt_hash(const char *password);

static void crypt_open(void)
{
    /* A hash of a random password at the usual cost, checked for unknown names so that the
     * answer takes as long whether or not the name exists. */
    char *h = NULL;
    unsigned char random_password[24];
    if (crypto_random_bytes(random_password, sizeof random_password) == GW_OK) {
        char *pw = base64url_encode_alloc(random_password, sizeof random_password);
        h = bcrypt_hash(pw);
        free(pw);
    }
    if (h) {
        snprintf(dummy_hash, sizeof dummy_hash, "%s", h);
        free(h);
    }
}

bool local_user_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > LOCAL_USER_MAX_NAME)
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
           (len > 4 && strncmp(h, "$y$", 3) == 0);
}

char *local_users_find(const char *text, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *line_end = eol;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (*p != '#' && colon && (size_t)(colon - p) == name_len && memcmp(p, name, name_len) == 0) {
            const char *h = colon + 1;
            size_t hlen = (size_t)(line_end - h);
            while (hlen && (h[hlen - 1] == ' ' || h[hlen - 1] == '\t'))
                hlen--;
            if (hash_supported(h, hlen) && !memchr(h, '\0', hlen))
                return gw_strndup(h, hlen);
        }
        p = eol + 1;
    }
    return NULL;
}

static char *read_small_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, USERS_FILE_MAX);
    char chunk[4096];
    size_t n;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n) != GW_OK) {
            ok = false;
            break;
        }
    fclose(f);
    if (!ok) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return buf_take(&b);
}

char *local_users_find_in_file(const char *path, const char *name)
{
    size_t len = 0;
    char *text = read_small_file(path, &len);
    if (!text)
        return NULL;
    char *h = local_users_find(text, len, name);
    free(text);
    return h;
}

enum gw_err local_users_setup(const char *path, char **errors_text)
{
    pthread_once(&crypt_once, crypt_open);
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    size_t len = 0;
    char *text = read_small_file(path, &len);
    if (!text) {
        (void)buf_printf(&errors, "ERROR: Invalid value for LOCAL_USERS_FILE: cannot read %s\n", path);
    } else {
        int line_no = 0;
        const char *p = text, *end = text + len;
        while (p < end) {
            line_no++;
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            if (!eol)
                eol = end;
            const char *line_end = eol;
            if (line_end > p && line_end[-1] == '\r')
                line_end--;
            size_t line_len = (size_t)(line_end - p);
            bool blank = true;
            for (size_t i = 0; i < line_len; i++)
                if (p[i] != ' ' && p[i] != '\t')
                    blank = false;
            if (!blank && *p != '#') {
                const char *colon = memchr(p, ':', line_len);
                char *name = colon ? gw_strndup(p, (size_t)(colon - p)) : NULL;
                if (!colon || !local_user_name_valid(name))
                    (void)buf_printf(&errors,
                                     "ERROR: %s line %d: expected NAME:HASH with a valid user name\n", path,
                                     line_no);
                else if (strncmp(colon + 1, "$argon2", 7) == 0)
                    (void)buf_printf(
                        &errors,
                        "ERROR: %s line %d: argon2 hashes need libargon2, which this build lacks; "
                        "use `mcpgw add-user` (bcrypt)\n",
                        path, line_no);
                else if (!hash_supported(colon + 1, (size_t)(line_end - colon - 1)))
                    (void)buf_printf(
                        &errors, "ERROR: %s line %d: unsupported hash (bcrypt $2b$/$2y$ or yescrypt $y$)\n",
                        path, line_no);
                free(name);
            }
            p = eol + 1;
        }
        free(text);
    }
    enum gw_err rc = errors.len ? GW_ERR_CONFIG : GW_OK;
    if (errors_text)
        *errors_text = errors.len ? buf_take(&errors) : NULL;
    buf_free(&errors);
    return rc;
}

bool local_password_verify(const char *hash, const char *password)
{
    pthread_once(&crypt_once, crypt_open);
    const char *setting = hash ? hash : (dummy_hash[0] ? dummy_hash : "$2b$12$abcdefghijklmnopqrstuu");
    struct crypt_data *data = gw_calloc(1, sizeof *data);
    char *out = crypt_rn(password ? password : "", setting, data, (int)sizeof *data);
    bool ok = false;
    if (out && out[0] != '*') {
        size_t a = strlen(out), b = strlen(setting);
        ok = crypto_str_equal(out, a, setting, b);
    }
    crypto_wipe(data, sizeof *data);
    free(data);
    return ok && hash != NULL;
}

char *local_password_hash(const char *password)
{
    pthread_once(&crypt_once, crypt_open);
    return bcrypt_hash(password);
}

/* crypt_open itself uses this (inside pthread_once) to make the dummy hash. */
static char *bcrypt_hash(const char *password)
{
    char salt_bytes[16];
    if (crypto_random_bytes(salt_bytes, sizeof salt_bytes) != GW_OK)
        return NULL;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", 12, salt_bytes, (int)sizeof salt_bytes, setting, (int)sizeof setting))
        return NULL;
    struct crypt_data *data = gw_calloc(1, sizeof *data);
    char *out = crypt_rn(password, setting, data, (int)sizeof *data);
    char *result = (out && out[0] != '*') ? gw_strdup(out) : NULL;
    crypto_wipe(data, sizeof *data);
    free(data);
    return result;
}
