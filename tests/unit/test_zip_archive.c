/*
 * test_zip_archive.c - the ZIP writer behind the diagnostic bundle (src/ops/zip_archive.c).
 * Each archive is read back by an independent reader, Python's zipfile module, which checks every
 * CRC, and compared with the files it was made from: names, bytes, modes.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/zip_archive.h"

static char tree[64];

static void write_file(const char *rel, const void *data, size_t len, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    chmod(path, mode);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tree, sizeof(tree), "/tmp/mcpgw-test-zip-XXXXXX");
    assert_non_null(mkdtemp(tree));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_dir_tree(tree);
    return 0;
}

/* Python's reading of the archive, one line per entry: "name size crc32-ok mode sha-of-bytes". */
static char *read_back(const char *zip_path)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import sys, zipfile, hashlib\n"
             "z = zipfile.ZipFile(sys.argv[1])\n"
             "assert z.testzip() is None\n"
             "for i in z.infolist():\n"
             "    print(i.filename, i.file_size, oct(i.external_attr >> 16 & 0o777), i.compress_type,\n"
             "          hashlib.sha256(z.read(i)).hexdigest()[:16])' %s 2>&1",
             zip_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

static void sha16(const void *data, size_t len, char out[17])
{
    char cmd[192], path[128];
    snprintf(path, sizeof(path), "%s.sha-input", tree);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fread(out, 1, 16, p), 16);
    out[16] = '\0';
    pclose(p);
    unlink(path);
}

static void test_tree_round_trips_through_an_independent_reader(void **state)
{
    (void)state;
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/logs", tree);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/logs/deeper", tree);
    assert_int_equal(mkdir(sub, 0700), 0);
    const char *text = "{\"level\":\"INFO\",\"message\":\"hello\"}\n";
    static unsigned char big[300000], binary[4096];
    for (size_t i = 0; i < sizeof(big); i++) /* compressible, but not trivially */
        big[i] = (unsigned char)("0123456789abcdef\n"[(i * 7 + i / 97) % 17]);
    for (size_t i = 0; i < sizeof(binary); i++) /* every byte value, incompressible-ish */
        binary[i] = (unsigned char)((i * 2654435761u) >> 13);
    write_file("show-config.txt", text, strlen(text), 0600);
    write_file("empty.json", "", 0, 0644);
    write_file("logs/auth.log", big, sizeof(big), 0600);
    write_file("logs/deeper/blob.bin", binary, sizeof(binary), 0640);
    char link[160];
    snprintf(link, sizeof(link), "%s/logs/link", tree);
    assert_int_equal(symlink("/etc/passwd", link), 0); /* skipped: not a regular file */

    char zip_path[128];
    snprintf(zip_path, sizeof(zip_path), "%s.zip", tree);
    struct buf error;
    buf_init(&error, 4096);
    assert_int_equal(zip_archive_write_tree(tree, zip_path, &error), GW_OK);
    struct stat st;
    assert_int_equal(stat(zip_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(st.st_size < (off_t)sizeof(big) / 4); /* the log was compressed */

    char h_text[17], h_empty[17], h_big[17], h_bin[17], expected[1024];
    sha16(text, strlen(text), h_text);
    sha16("", 0, h_empty);
    sha16(big, sizeof(big), h_big);
    sha16(binary, sizeof(binary), h_bin);
    /* sorted names, directories only as path prefixes, method 8 (deflate), modes kept */
    snprintf(expected, sizeof(expected),
             "empty.json 0 0o644 8 %s\n"
             "logs/auth.log %zu 0o600 8 %s\n"
             "logs/deeper/blob.bin %zu 0o640 8 %s\n"
             "show-config.txt %zu 0o600 8 %s\n",
             h_empty, sizeof(big), h_big, sizeof(binary), h_bin, strlen(text), h_text);
    assert_string_equal(read_back(zip_path), expected);

    /* An existing file is never overwritten. */
    buf_reset(&error);
    assert_int_not_equal(zip_archive_write_tree(tree, zip_path, &error), GW_OK);
    assert_non_null(strstr(buf_cstr(&error), "File exists"));
    assert_int_equal(stat(zip_path, &st), 0);
    unlink(zip_path);
    buf_free(&error);
}

static void test_missing_directory_leaves_nothing(void **state)
{
    (void)state;
    char missing[128], zip_path[128];
    snprintf(missing, sizeof(missing), "%s/not-there", tree);
    snprintf(zip_path, sizeof(zip_path), "%s/out.zip", tree);
    struct buf error;
    buf_init(&error, 4096);
    assert_int_equal(zip_archive_write_tree(missing, zip_path, &error), GW_ERR_IO);
    assert_non_null(strstr(buf_cstr(&error), "not-there"));
    assert_int_equal(access(zip_path, F_OK), -1);
    buf_free(&error);
}

static void test_empty_directory_is_a_valid_empty_archive(void **state)
{
    (void)state;
    char zip_path[128];
    snprintf(zip_path, sizeof(zip_path), "%s.empty.zip", tree);
    struct buf error;
    buf_init(&error, 4096);
    assert_int_equal(zip_archive_write_tree(tree, zip_path, &error), GW_OK);
    assert_string_equal(read_back(zip_path), "");
    struct stat st;
    assert_int_equal(stat(zip_path, &st), 0);
    assert_int_equal(st.st_size, 22); /* the end record alone */
    unlink(zip_path);
    buf_free(&error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tree_round_trips_through_an_independent_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_directory_is_a_valid_empty_archive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
