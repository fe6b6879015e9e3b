/*
 * jwt_keyfile.c - private keys on disk: saved once (0600, atomically, never overwriting) and
 * loaded again on every start, so tokens survive restarts and every auth process of one data
 * directory signs with the same key.
 */
#include "jwt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "alloc.h"
#include "crypto.h"

#define KEY_FILE_MAX (64 * 1024)

static enum gw_err write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return GW_ERR_IO;
        }
        data += n;
        len -= (size_t)n;
    }
    return GW_OK;
}

/* Make the new directory entry durable (the file's own fsync does not cover it). */
static void fsync_parent(const char *path)
{
    char *copy = gw_strdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

enum gw_err jwt_key_save_pem(const struct jwt_key *key, const char *path)
{
    if (!key->pkey || !key->can_sign)
        return GW_ERR_INVALID;
    /* A secure-memory BIO is cleansed when freed, so the PEM text does not linger on the heap. */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (!bio)
        gw_oom(0);
    if (!PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(bio);
        ERR_clear_error();
        return GW_ERR_INVALID;
    }
    char *pem;
    long pem_len = BIO_get_mem_data(bio, &pem);

    size_t tmp_len = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp = gw_malloc(tmp_len);
    snprintf(tmp, tmp_len, "%s.tmp.XXXXXX", path);
    enum gw_err err = GW_OK;
    int fd = mkstemp(tmp); /* creates with mode 0600 */
    if (fd < 0) {
        err = GW_ERR_IO;
    } else {
        if (fchmod(fd, 0600) != 0 || write_all(fd, pem, (size_t)pem_len) || fsync(fd) != 0)
            err = GW_ERR_IO;
        if (close(fd) != 0 && !err)
            err = GW_ERR_IO;
        /* link() rather than rename(): it refuses to replace a key someone else saved first. */
        if (!err && link(tmp, path) != 0)
            err = errno == EEXIST ? GW_ERR_EXISTS : GW_ERR_IO;
        int saved = errno; /* for the caller; unlink below may change it */
        unlink(tmp);
        if (!err)
            fsync_parent(path);
        errno = saved;
    }
    free(tmp);
    BIO_free(bio);
    return err;
}

/* Read the key file at path. GW_ERR_NOT_FOUND if it does not exist. */
static enum gw_err load_key_file(const char *path, enum jwt_alg alg, struct jwt_key **out, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return GW_ERR_NOT_FOUND;
        *why = "the key file cannot be opened";
        return GW_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "the key file is not a regular file";
        return GW_ERR_IO;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        /* Like ssh: a private key others can read is not used (fix it with chmod 600). */
        close(fd);
        *why = "the key file is accessible by group or others (chmod 600 it)";
        return GW_ERR_CONFIG;
    }
    if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
        close(fd);
        *why = "the key file is empty or too large to be a private key";
        return GW_ERR_INVALID;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *text = gw_malloc(size);
    while (got < size) {
        ssize_t n = read(fd, text + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    enum gw_err err = got == size ? jwt_key_from_pem(text, size, alg, out, why) : GW_ERR_IO;
    if (err == GW_ERR_IO)
        *why = "the key file could not be read";
    crypto_wipe(text, size);
    free(text);
    return err;
}

enum gw_err jwt_key_load_or_generate(const char *path, enum jwt_alg alg, struct jwt_key **out,
                                     bool *generated, const char **why)
{
    const char *reason = NULL;
    if (!why)
        why = &reason;
    *out = NULL;
    if (generated)
        *generated = false;
    if (alg != JWT_ALG_RS256 && alg != JWT_ALG_ES256) {
        *why = "only RS256 and ES256 keys are kept in files";
        return GW_ERR_INVALID;
    }
    /* Two rounds at most: a process that loses the race to save loads the winner's key. */
    for (int round = 0; round < 2; round++) {
        enum gw_err err = load_key_file(path, alg, out, why);
        if (err != GW_ERR_NOT_FOUND)
            return err;
        struct jwt_key *key = NULL;
        if (jwt_key_generate(alg, &key)) {
            *why = "OpenSSL could not generate a key";
            return GW_ERR_INVALID;
        }
        err = jwt_key_save_pem(key, path);
        if (!err) {
            *out = key;
            if (generated)
                *generated = true;
            return GW_OK;
        }
        jwt_key_free(key);
        if (err != GW_ERR_EXISTS) {
            *why = "the generated key could not be saved";
            return err;
        }
    }
    *why = "the key file keeps appearing and disappearing";
    return GW_ERR_IO;
}
