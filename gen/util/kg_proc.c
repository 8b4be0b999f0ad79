/* kg_proc.c - argv splitting and running a program with its output captured (see kg_proc.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static bool kg_proc_is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

char **kg_proc_split_args(const char *s) {
  size_t len = s ? strlen(s) : 0, words = 0;
  for (size_t i = 0; i < len; i++)
    if (!kg_proc_is_space(s[i]) && (i == 0 || kg_proc_is_space(s[i - 1]))) words++;
  char **v = malloc((words + 1) * sizeof *v + len + 1);
  if (!v) return NULL;
  char *buf = (char *)(v + words + 1);
  if (len) memcpy(buf, s, len);
  buf[len] = '\0';
  size_t k = 0;
  char *save = NULL;
  for (char *p = strtok_r(buf, " \t\n", &save); p; p = strtok_r(NULL, " \t\n", &save)) v[k++] = p;
  v[k] = NULL;
  return v;
}

int kg_proc_capture(char *const argv[], char *const envp[], bool merge_stderr, char **output) {
  int fd[2];
  *output = NULL;
  if (pipe2(fd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
  if (merge_stderr) posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
  pid_t pid;
  fflush(NULL); /* the child must not repeat buffered output */
  int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp ? envp : environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd[1]);
  if (err != 0) {
    close(fd[0]);
    errno = err;
    return -1;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (buf && cap - n < 2048) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      } else {
        buf = nb;
        cap *= 2;
      }
    }
    char scratch[2048];
    ssize_t r = read(fd[0], buf ? buf + n : scratch, buf ? cap - n - 1 : sizeof scratch);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (buf) n += (size_t)r;
  }
  close(fd[0]);
  if (buf) buf[n] = '\0';
  *output = buf;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
