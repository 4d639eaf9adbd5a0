/*
 * What each way of reaching system calls that bypass dynamic symbols
 * (glibc-internal calls, raw `syscall` instructions) costs per call on this
 * machine, side by side: an eventfd write + read pair (2 hand-over calls),
 * N pairs per mode, each mode in a fresh forked child so filters don't stack.
 *
 *   plain             no interception
 *   seccomp-allow     a BPF filter over ~20 hand-over calls that allows all
 *                     (the kernel's action cache sees it is constant, so the
 *                     BPF program is not even run: the floor of a filter)
 *   seccomp-allow-ip  the seccomp-trap filter with TRAP replaced by ALLOW:
 *                     the same allow, but the BPF program runs on every
 *                     listed call (it reads instruction_pointer)
 *   seccomp-trap      listed calls trap (SIGSYS) unless issued from our one
 *                     re-issue instruction; the handler re-issues them there
 *   sud               syscall user dispatch, selector BLOCK; the handler
 *                     flips it to ALLOW around the re-issue
 *
 * Prints `mode  ns/call  ratio-to-plain`; exits nonzero if any mode read back
 * an eventfd value other than 1, died, or (trap modes) did not run the
 * handler for every call.
 *
 *   tests/bench/syscall-reach.sh          # medians over ROUNDS runs
 *   ./syscall-reach [pairs]               # one run, default 200000 pairs
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_ON
#define PR_SYS_DISPATCH_ON 1
#endif
#ifndef SYSCALL_DISPATCH_FILTER_ALLOW
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif
#define SA_RESTORER_FLAG 0x04000000 /* SA_RESTORER, not exported by glibc */

/*
 * reach_syscall(nr, a1..a6): the program's single re-issue instruction.
 * reach_syscall_ip is the address just after its `syscall`, which is what
 * seccomp_data.instruction_pointer holds for calls made from it.
 * reach_restorer: our own rt_sigreturn stub; under SUD it is the only
 * exempt region, so returning from the handler does not trap.
 */
long reach_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
void reach_restorer(void);
extern char reach_syscall_ip[], reach_restorer_end[];
__asm__(".text\n"
        ".globl reach_syscall, reach_syscall_ip\n"
        "reach_syscall:\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  mov %rdx, %rsi\n"
        "  mov %rcx, %rdx\n"
        "  mov %r8, %r10\n"
        "  mov %r9, %r8\n"
        "  mov 8(%rsp), %r9\n"
        "  syscall\n"
        "reach_syscall_ip:\n"
        "  ret\n"
        ".globl reach_restorer, reach_restorer_end\n"
        "reach_restorer:\n"
        "  mov $15, %eax\n" /* rt_sigreturn */
        "  syscall\n" /* the kernel checks the address after it: keep */
        "  hlt\n"     /* that inside the region too */
        "reach_restorer_end:\n");

/* The hand-over calls the library would hold. */
static const int handover[] = {
    SYS_read, SYS_write, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg,
    SYS_futex, SYS_ppoll, SYS_epoll_wait, SYS_pselect6, SYS_wait4, SYS_kill,
    SYS_tgkill, SYS_nanosleep, SYS_clock_nanosleep, SYS_msgsnd, SYS_msgrcv,
    SYS_semop, SYS_semtimedop, SYS_accept4, SYS_connect, SYS_listen,
};
#define NHANDOVER (int)(sizeof handover / sizeof handover[0])

enum mode { PLAIN, SECCOMP_ALLOW, SECCOMP_ALLOW_IP, SECCOMP_TRAP, SUD, NMODES };
static const char *names[] = {"plain", "seccomp-allow", "seccomp-allow-ip", "seccomp-trap", "sud"};

static volatile char selector = SYSCALL_DISPATCH_FILTER_ALLOW; /* SUD's switch */
static int sud_on;
static volatile long traps; /* handler runs: proof the calls were reached */

/* SIGSYS (seccomp or SUD): re-issue the call from reach_syscall, put the
 * result where the interrupted syscall's return value goes. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
  (void)sig;
  greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
  traps++;
  if (sud_on) selector = SYSCALL_DISPATCH_FILTER_ALLOW;
  long r = reach_syscall(si->si_syscall, g[REG_RDI], g[REG_RSI], g[REG_RDX],
                         g[REG_R10], g[REG_R8], g[REG_R9]);
  if (sud_on) selector = SYSCALL_DISPATCH_FILTER_BLOCK;
  g[REG_RAX] = r;
}

/* rt_sigaction by hand so the restorer is ours (glibc would install its own). */
struct ksigaction { void *handler; unsigned long flags; void (*restorer)(void); uint64_t mask; };
static int install_sigsys(void) {
  struct ksigaction sa = {(void *)on_sigsys, SA_SIGINFO | SA_RESTORER_FLAG, reach_restorer, 0};
  return syscall(SYS_rt_sigaction, SIGSYS, &sa, NULL, 8);
}

/* The filter: non-x86-64 or unlisted -> ALLOW; listed -> ALLOW (seccomp-allow),
 * or ALLOW only from reach_syscall_ip, else `miss` (TRAP, or ALLOW for -ip). */
static int install_filter(int check_ip, uint32_t miss) {
  struct sock_filter f[10 + NHANDOVER], *p = f;
  uint64_t ip = (uint64_t)(uintptr_t)reach_syscall_ip;
  int n = NHANDOVER;
  /* layout: 0 arch, 1 jeq, 2 nr, 3..3+n-1 jeq list, 3+n ret ALLOW, then the ip check */
  *p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  *p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, n + 1);
  *p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (int i = 0; i < n; i++) /* match: jump past the remaining tests and the ALLOW */
    *p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, handover[i], n - i, 0);
  *p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  if (!check_ip) {
    *p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  } else { /* instruction_pointer == reach_syscall_ip, low then high word */
    size_t off = offsetof(struct seccomp_data, instruction_pointer);
    *p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off);
    *p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)ip, 0, 2);
    *p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off + 4);
    *p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(ip >> 32), 1, 0);
    *p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, miss);
    *p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  struct sock_fprog prog = {(unsigned short)(p - f), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static double now_ns(void) { /* vDSO: no system call */
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/* What a child hands back (shared memory: the child makes no calls to report). */
struct result { double ns_per_call; long bad; int unavailable; };

/* `pairs` write+read pairs on an eventfd; returns reads that were not 1. */
static long loop(int efd, long pairs) {
  uint64_t one = 1, v;
  long bad = 0;
  for (long i = 0; i < pairs; i++) {
    if (write(efd, &one, 8) != 8) bad++;
    if (read(efd, &v, 8) != 8 || v != 1) bad++;
  }
  return bad;
}

static void child(enum mode m, long pairs, struct result *r) {
  int efd = eventfd(0, 0);
  if (efd < 0) { r->bad = -1; _exit(1); }
  if (m == SECCOMP_TRAP || m == SUD) install_sigsys();
  switch (m) {
  case SECCOMP_ALLOW: if (install_filter(0, 0)) { r->bad = -1; _exit(1); } break;
  case SECCOMP_ALLOW_IP: if (install_filter(1, SECCOMP_RET_ALLOW)) { r->bad = -1; _exit(1); } break;
  case SECCOMP_TRAP: if (install_filter(1, SECCOMP_RET_TRAP)) { r->bad = -1; _exit(1); } break;
  case SUD: { /* exempt only the restorer; everything else obeys the selector */
    unsigned long start = (unsigned long)reach_restorer;
    unsigned long len = (unsigned long)reach_restorer_end - start;
    if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start, len, &selector)) {
      r->unavailable = errno == EINVAL;
      _exit(r->unavailable ? 0 : 1);
    }
    sud_on = 1;
    selector = SYSCALL_DISPATCH_FILTER_BLOCK;
    break;
  }
  default: break;
  }
  r->bad += loop(efd, pairs / 10 + 1); /* warm up */
  double t0 = now_ns();
  r->bad += loop(efd, pairs);
  double t1 = now_ns();
  selector = SYSCALL_DISPATCH_FILTER_ALLOW;
  if ((m == SECCOMP_TRAP || m == SUD) && traps < 2 * pairs) r->bad++; /* not reached */
  r->ns_per_call = (t1 - t0) / (2.0 * pairs);
  _exit(r->bad ? 1 : 0);
}

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 200000;
  if (pairs <= 0) { fprintf(stderr, "usage: %s [pairs]\n", argv[0]); return 2; }
  struct result *res = mmap(NULL, sizeof(struct result) * NMODES, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (res == MAP_FAILED) { perror("mmap"); return 2; }
  memset(res, 0, sizeof(struct result) * NMODES);
  int failed = 0;
  double plain = 0;
  for (int m = 0; m < NMODES; m++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) child(m, pairs, &res[m]);
    int st;
    waitpid(pid, &st, 0);
    struct result *r = &res[m];
    if (r->unavailable) { printf("%s  unavailable\n", names[m]); continue; }
    if (!WIFEXITED(st) || WEXITSTATUS(st) || r->bad) {
      printf("%s  FAILED (status 0x%x, bad reads %ld)\n", names[m], st, r->bad);
      failed = 1;
      continue;
    }
    if (m == PLAIN) plain = r->ns_per_call;
    printf("%s  %.1f  %.2f\n", names[m], r->ns_per_call, r->ns_per_call / plain);
  }
  return failed;
}
