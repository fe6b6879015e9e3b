/*
 * local_users.c - local users file and password hashes (see local_users.h).
 */
#include "local_users.h"

#include <argon2.h>
#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/users_file.h"

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

enum gw_err local_users_setup(const char *path, char **errors_text)
{
    pthread_once(&crypt_once, crypt_open);
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    enum gw_err rc = users_file_check(path, &errors);
    if (errors_text)
        *errors_text = errors.len ? buf_take(&errors) : NULL;
    buf_free(&errors);
    return rc;
}

/* argon2id/argon2i hashes in the PHC string format ("$argon2id$v=19$m=...,t=...,p=...$salt$hash",
 * what the argon2 CLI, argon2-cffi and most password libraries write), checked by libargon2,
 * which compares in constant time. */
static bool argon2_password_verify(const char *hash, const char *password)
{
    argon2_type type = strncmp(hash, "$argon2id$", 10) == 0 ? Argon2_id : Argon2_i;
    const char *pw = password ? password : "";
    return argon2_verify(hash, pw, strlen(pw), type) == ARGON2_OK;
}

bool local_password_verify(const char *hash, const char *password)
{
    pthread_once(&crypt_once, crypt_open);
    if (hash && strncmp(hash, "$argon2", 7) == 0)
        return argon2_password_verify(hash, password);
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
