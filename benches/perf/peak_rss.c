/* Peak RSS of one command, as the kernel accounts it (wait4's ru_maxrss, KiB).
 * Built statically by the perf bench: the child is started with vfork, so the memory it
 * shares until exec is this tiny program's, not the benchmark's (fork, or a Python wrapper,
 * would count the spawner's own pages as the child's). Prints the KiB and exits with 0 when
 * the command succeeded. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: peak_rss PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid = vfork();
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    if (pid < 0 || wait4(pid, &status, 0, &usage) < 0) {
        perror("peak_rss");
        return 2;
    }
    printf("%ld\n", usage.ru_maxrss);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
