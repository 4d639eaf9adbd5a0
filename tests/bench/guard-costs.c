/*
 * What the kernel charges for each step of a guard's life on this machine,
 * in microseconds per page: the page fault of a fresh page, discarding it,
 * MADV_POPULATE_WRITE (contiguous, and 1024 ranges a process_madvise call),
 * MADV_GUARD_INSTALL over a page with contents and MADV_GUARD_REMOVE (1024
 * ranges a process_madvise call), a 4 KiB and a 64-byte memset (the poison),
 * and a plain system call. The guard allocator's rule (tracer/preload/
 * README.md) follows from these: the page's life costs, not the call.
 *
 *   tests/bench/guard-costs.sh
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <time.h>
#include <string.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(){
  size_t N=1024, P=4096; int R=100;
  char*a=mmap(0,2*N*P*R,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE,-1,0);
  int pidfd=syscall(SYS_pidfd_open,getpid(),0);
  double t0=now();
  for(size_t i=0;i<N*R;i++) a[2*i*P]=1;
  double t1=now(); printf("fault per fresh page: %.3f us\n",(t1-t0)/N/R/1000);
  t0=now(); madvise(a,2*N*P*R,MADV_DONTNEED); t1=now(); printf("dontneed per page: %.3f us\n",(t1-t0)/N/R/1000);
  t0=now(); for(int k=0;k<R;k++) madvise(a+k*N*P,N*P,MADV_POPULATE_WRITE); t1=now();
  printf("populate contiguous per page: %.3f us\n",(t1-t0)/N/R/1000);
  madvise(a,2*N*P*R,MADV_DONTNEED);
  struct iovec iov[1024];
  t0=now(); for(int k=0;k<R;k++){ for(size_t i=0;i<N;i++){iov[i].iov_base=a+(2*N*k+2*i)*P;iov[i].iov_len=P;}
    long r=syscall(SYS_process_madvise,pidfd,iov,N,MADV_POPULATE_WRITE,0); if(r<0)perror("pm");}
  t1=now(); printf("populate 1024 iov per page: %.3f us\n",(t1-t0)/N/R/1000);
  // guard install over single pages with content (zap) via iov
  t0=now(); for(int k=0;k<R;k++){ for(size_t i=0;i<N;i++){iov[i].iov_base=a+(2*N*k+2*i)*P;iov[i].iov_len=P;}
    syscall(SYS_process_madvise,pidfd,iov,N,MADV_GUARD_INSTALL,0);}
  t1=now(); printf("guard install (zap) 1024 iov per page: %.3f us\n",(t1-t0)/N/R/1000);
  t0=now(); for(int k=0;k<R;k++){ for(size_t i=0;i<N;i++){iov[i].iov_base=a+(2*N*k+2*i)*P;iov[i].iov_len=P;}
    syscall(SYS_process_madvise,pidfd,iov,N,MADV_GUARD_REMOVE,0);}
  t1=now(); printf("guard remove 1024 iov per page: %.3f us\n",(t1-t0)/N/R/1000);
  // memset 4K to poison
  t0=now(); for(int k=0;k<10;k++) for(size_t i=0;i<N;i++) memset(a+2*i*P,0x5a,P); t1=now();
  printf("memset 4K: %.3f us\n",(t1-t0)/N/10/1000);
  t0=now(); for(int k=0;k<10;k++) for(size_t i=0;i<N;i++) memset(a+2*i*P+4096-64,0x5a,64); t1=now();
  printf("memset 64: %.3f us\n",(t1-t0)/N/10/1000);
  t0=now(); for(int i=0;i<100000;i++) syscall(SYS_getppid); t1=now(); printf("syscall: %.3f us\n",(t1-t0)/100000/1000);
}
