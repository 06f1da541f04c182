// A Go program whose functions a stripped build (-ldflags='-s -w') names only in its
// pclntab. It allocates nothing in the loop, so no garbage collection runs while it is probed.
//
//	go_target calls N   N calls each of main.Work and main.(*Server).handle
//	go_target spin MS   burns MS milliseconds of CPU time in main.spin (for stack samples; CPU
//	                    time, not wall time, so a busy machine does not thin the samples)
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

type Server struct{ handled int }

//go:noinline
func (s *Server) handle(x int) int {
	s.handled += x
	return s.handled
}

//go:noinline
func Work(x int) int { return x*3 + 1 }

var sink int

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:noinline
func spin(d time.Duration) {
	end := cpuTime() + d
	for cpuTime() < end {
		for i := 0; i < 10000; i++ {
			sink += i
		}
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go_target calls N | spin MS")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "calls":
		s := &Server{}
		total := 0
		for i := 0; i < n; i++ {
			total += Work(i)
			s.handle(i)
		}
		fmt.Printf("work_calls=%d handle_calls=%d total=%d\n", n, n, total)
	case "spin":
		spin(time.Duration(n) * time.Millisecond)
		fmt.Printf("spun %d ms\n", n)
	default:
		os.Exit(2)
	}
}
