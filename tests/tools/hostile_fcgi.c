/*
 * hostile_fcgi: the scripted FastCGI server as a standalone program, for
 * shell tests. Usage: hostile_fcgi SCENARIO /path/to.sock | PORT
 * It prints "READY <endpoint>" once listening and serves until killed.
 */
#include "hostile_fcgi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void) {
  fprintf(stderr, "usage: hostile_fcgi SCENARIO SOCKET_PATH|PORT\n"
                  "scenarios:");
  for (const char *const *s = hostile_fcgi_scenarios(); *s; s++)
    fprintf(stderr, " %s", *s);
  fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    usage();
    return 2;
  }
  int fd, port = 0, known = 0;
  for (const char *const *s = hostile_fcgi_scenarios(); *s; s++)
    known |= strcmp(*s, argv[1]) == 0;
  if (!known) {
    usage();
    return 2;
  }
  if (argv[2][0] == '/') {
    unlink(argv[2]);
    fd = hostile_fcgi_listen_unix(argv[2], 16);
  } else {
    char *end;
    errno = 0;
    unsigned long long p = strtoull(argv[2], &end, 10);
    if (*end || errno || p > 65535) {
      usage();
      return 2;
    }
    port = (int)p;
    fd = hostile_fcgi_listen_tcp(&port);
  }
  if (fd < 0) {
    perror("hostile_fcgi: listen");
    return 1;
  }
  if (port)
    printf("READY 127.0.0.1:%d\n", port);
  else
    printf("READY unix:%s\n", argv[2]);
  fflush(stdout);
  if (hostile_fcgi_serve(fd, argv[1]) < 0)
    usage();
  return 1;
}
