#ifndef SWITCHBOARD_CSPAWN_H
#define SWITCHBOARD_CSPAWN_H

#include <sys/types.h>

/// Starts a program for a test without Foundation's Process (whose launch on Linux over-reads
/// /proc/self/fd entries and crashes a test run at random).
///
/// `path` is run with `argv` and `envp` (both NULL-terminated) in `directory` (NULL: the test's
/// own). Its standard input, output and error are `input`, `output` and `error` (-1: /dev/null);
/// every other descriptor the test process holds is closed in the child, so a program never keeps
/// another test's pipe or socket open. The child leads a process group of its own.
///
/// With `dies_with_parent`, the child's parent-death signal is SIGKILL, so it ends when the test
/// process ends, however that ends. Linux ties that signal to the thread that forked, so every
/// fork happens on one thread that lives as long as the process.
///
/// Returns the child's pid, or -1 with errno saying why it could not start (exec's own error
/// included: a missing program is ENOENT here, not an exit status later).
pid_t switchboard_spawn(const char *path, char *const argv[], char *const envp[], const char *directory, int input, int output,
                        int error, int dies_with_parent);

/// A pipe whose two ends close on exec, so only a child given one as a standard stream holds it.
/// 0, or -1 with errno.
int switchboard_pipe(int ends[2]);

#endif
