/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput on files, without libFuzzer:
 * each argument is a file or a directory whose regular files are run in name
 * order. This is how every build (gcc, sanitizers) replays the committed
 * corpus as a test. Fails when no input was found, so that a missing corpus
 * cannot pass unnoticed; a target reports a violation by aborting.
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  long size;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    exit(2);
  }
  buf = malloc((size_t)size + 1); /* + 1: malloc(0) may return NULL */
  if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    exit(2);
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)size);
  free(buf);
  return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
  int a, runs = 0;
  for (a = 1; a < argc; ++a) {
    struct stat st;
    if (stat(argv[a], &st) != 0) {
      fprintf(stderr, "replay: %s does not exist\n", argv[a]);
      return 2;
    }
    if (S_ISDIR(st.st_mode)) {
      struct dirent **names;
      const int n = scandir(argv[a], &names, NULL, by_name);
      int i;
      if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", argv[a]);
        return 2;
      }
      for (i = 0; i < n; ++i) {
        char path[4096];
        struct stat fst;
        snprintf(path, sizeof path, "%s/%s", argv[a], names[i]->d_name);
        if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode)) runs += run_file(path);
        free(names[i]);
      }
      free(names);
    } else {
      runs += run_file(argv[a]);
    }
  }
  printf("replay: %d inputs\n", runs);
  return runs > 0 ? 0 : 1;
}
