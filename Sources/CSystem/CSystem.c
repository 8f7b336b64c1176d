#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include "CSystem.h"

int csystem_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int csystem_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int csystem_gettid(void) { return (int)syscall(SYS_gettid); }
