/* Starts `true` the two ways std and C programs do: posix_spawnp, and fork
 * then execve; waits for both. Exits 0 when both ran and exited 0. */
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void) {
    char *argv[] = {"true", NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, "true", NULL, NULL, argv, environ) != 0) return 2;
    if (waitpid(pid, &status, 0) != pid || status != 0) return 3;
    pid = fork();
    if (pid == 0) {
        execve("/bin/true", argv, environ);
        _exit(4);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) return 5;
    return 0;
}
