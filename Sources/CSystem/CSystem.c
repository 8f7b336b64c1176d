#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include "CSystem.h"

int csystem_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int csystem_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int csystem_gettid(void) { return (int)syscall(SYS_gettid); }

static _Thread_local void *current_event_loop = NULL;

void *csystem_current_event_loop(void) { return current_event_loop; }

void csystem_set_current_event_loop(void *loop) { current_event_loop = loop; }

void csystem_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

int csystem_available_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        return online > 0 ? (int)online : 1;
    }
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 1;
}

// Written once before the handler is installed and only read by the handler.
static volatile sig_atomic_t signal_pipe_fd = -1;

static void write_signal_number(int signal_number) {
    int saved_errno = errno;
    unsigned char byte = (unsigned char)signal_number;
    // A full pipe drops the byte, which is harmless: one pending byte is
    // enough to wake the reader, and repeated signals mean the same thing.
    int fd = signal_pipe_fd;
    if (fd < 0) {
        errno = saved_errno;
        return;
    }
    ssize_t ignored = write(fd, &byte, 1);
    (void)ignored;
    errno = saved_errno;
}

int csystem_install_signal_pipe(int signal_number, int fd) {
    signal_pipe_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = write_signal_number;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(signal_number, &action, NULL);
}

int csystem_restore_default_signal(int signal_number) {
    // Signals still installed drop their bytes from now on, so none can reach
    // a descriptor number that the pipe's owner closes and the system reuses.
    signal_pipe_fd = -1;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    return sigaction(signal_number, &action, NULL);
}
