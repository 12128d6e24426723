#define _GNU_SOURCE
#include "CSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/// One request to the launcher thread.
struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *directory;
    int input, output, error, dies_with_parent;
    pid_t result;
    int failure;
    int done;
};

static pthread_once_t launcher_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t launcher_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t launcher_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t launcher_done = PTHREAD_COND_INITIALIZER;
static struct spawn_request *pending = NULL;
static int launcher_failed = 0;

/// Closes every descriptor from 3 up but `keep`, in the child: close_range where the kernel has
/// it, else one by one up to `limit` (read before the fork).
static void close_all_but(int keep, long limit) {
    int closed = keep <= 3 || syscall(SYS_close_range, 3U, (unsigned)(keep - 1), 0) == 0;
    if (closed && syscall(SYS_close_range, (unsigned)(keep + 1), ~0U, 0) == 0) return;
    for (long fd = 3; fd < limit; fd++) {
        if (fd != keep) close((int)fd);
    }
}

/// Moves `fd` onto `target` in the child; -1 means /dev/null (already open as `null_fd`).
static int place(int fd, int target, int null_fd) {
    int source = fd < 0 ? null_fd : fd;
    if (source == target) {
        int flags = fcntl(source, F_GETFD);
        return flags < 0 ? -1 : fcntl(source, F_SETFD, flags & ~FD_CLOEXEC);
    }
    return dup2(source, target) < 0 ? -1 : 0;
}

static void child(struct spawn_request *request, pid_t parent, int report, int null_fd, long limit) {
    if (request->dies_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) goto failed;
        // The parent may have ended between fork and prctl.
        if (getppid() != parent) _exit(127);
    }
    if (setpgid(0, 0) != 0) goto failed;
    // Signals the test process ignores or blocks (SIGPIPE, say) are the program's to decide.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction standard = {0};
    standard.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; signal++) sigaction(signal, &standard, NULL);
    // The three standard descriptors may be the sources themselves: lift them clear first.
    int sources[3] = {request->input, request->output, request->error};
    for (int i = 0; i < 3; i++) {
        if (sources[i] >= 0 && sources[i] < 3) {
            sources[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, 3);
            if (sources[i] < 0) goto failed;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (place(sources[i], i, null_fd) != 0) goto failed;
    }
    // Everything else closes here but the report pipe, which closes itself on exec.
    close_all_but(report, limit);
    if (request->directory != NULL && chdir(request->directory) != 0) goto failed;
    execve(request->path, request->argv, request->envp);
failed:;
    int code = errno;
    while (write(report, &code, sizeof code) < 0 && errno == EINTR) {
    }
    _exit(127);
}

static void launch(struct spawn_request *request) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        request->result = -1;
        request->failure = errno;
        return;
    }
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) {
        request->result = -1;
        request->failure = errno;
        close(report[0]);
        close(report[1]);
        return;
    }
    struct rlimit limits;
    long limit = getrlimit(RLIMIT_NOFILE, &limits) == 0 && limits.rlim_cur < 65536 ? (long)limits.rlim_cur : 65536;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) child(request, parent, report[1], null_fd, limit);
    int fork_error = errno;
    close(report[1]);
    close(null_fd);
    if (pid < 0) {
        close(report[0]);
        request->result = -1;
        request->failure = fork_error;
        return;
    }
    int code = 0;
    ssize_t got;
    do {
        got = read(report[0], &code, sizeof code);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof code) {
        // exec failed: collect the child so it leaves no zombie, and say why.
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        request->result = -1;
        request->failure = code;
        return;
    }
    request->result = pid;
    request->failure = 0;
}

static void *launcher(void *unused) {
    (void)unused;
    pthread_mutex_lock(&launcher_lock);
    for (;;) {
        while (pending == NULL) pthread_cond_wait(&launcher_wake, &launcher_lock);
        struct spawn_request *request = pending;
        pending = NULL;
        launch(request);
        request->done = 1;
        pthread_cond_broadcast(&launcher_done);
    }
    return NULL;
}

static void start_launcher(void) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    // The launcher forks with every signal blocked, so no handler of the test process runs in a child.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    if (pthread_create(&thread, &attributes, launcher, NULL) != 0) launcher_failed = 1;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    pthread_attr_destroy(&attributes);
}

pid_t switchboard_spawn(const char *path, char *const argv[], char *const envp[], const char *directory, int input, int output,
                        int error, int dies_with_parent) {
    pthread_once(&launcher_once, start_launcher);
    if (launcher_failed) {
        errno = EAGAIN;
        return -1;
    }
    struct spawn_request request = {path, argv, envp, directory, input, output, error, dies_with_parent, -1, 0, 0};
    pthread_mutex_lock(&launcher_lock);
    // One request at a time: wait for the slot, hand it over, wait for the answer.
    while (pending != NULL) pthread_cond_wait(&launcher_done, &launcher_lock);
    pending = &request;
    pthread_cond_signal(&launcher_wake);
    while (!request.done) pthread_cond_wait(&launcher_done, &launcher_lock);
    pthread_mutex_unlock(&launcher_lock);
    if (request.result < 0) errno = request.failure;
    return request.result;
}

int switchboard_pipe(int ends[2]) { return pipe2(ends, O_CLOEXEC); }
