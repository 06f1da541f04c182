// A Go program with known calls for the [bpf] tests: goroutines that move between threads,
// stacks that grow (are copied) while probed frames are live, panics through probed
// functions, and a net/http server that counts its own requests. Output is counts only, so
// a probed run prints exactly what an unprobed one does.
//
//	go_target grow G N   G goroutines; each runs N fresh goroutines calling Work (whose callee
//	                     grows the stack) and calls Leaf 10 times between, yielding the thread
//	go_target panic N    Risky(i) N times, panicking for odd i (recovered by its caller)
//	go_target http PORT  serves /: Handle counts requests; /quit prints served=N and exits
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

var sink uint64

// grow recurses with a big frame, so the goroutine stack is copied to a larger one while the
// frames above it (Work's) are live.
//
//go:noinline
func grow(n int) int {
	var buf [512]byte
	buf[n%512] = byte(n)
	if n == 0 {
		return int(buf[0])
	}
	return grow(n-1) + int(buf[n%512])
}

//go:noinline
func Work(i int) int { return grow(100) + i }

//go:noinline
func Leaf(x uint64) uint64 { return x*2 + 1 }

//go:noinline
func Risky(i int) int {
	if i%2 == 1 {
		panic("odd")
	}
	return i
}

//go:noinline
func After(i int) int { return i + 1 }

func safe(i int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	Risky(i)
	return true
}

func growMode(goroutines, n int) {
	var wg sync.WaitGroup
	var work, leaf uint64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				done := make(chan struct{})
				go func(i int) { Work(i); close(done) }(i) // a fresh, small stack that must grow
				<-done
				atomic.AddUint64(&work, 1)
				for k := 0; k < 10; k++ {
					atomic.AddUint64(&sink, Leaf(uint64(k)))
					atomic.AddUint64(&leaf, 1)
					runtime.Gosched() // may resume on another thread
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("work=%d leaf=%d\n", work, leaf)
}

func panicMode(n int) {
	panicked := 0
	for i := 0; i < n; i++ {
		if !safe(i) {
			panicked++
		}
		After(i)
	}
	fmt.Printf("risky=%d panicked=%d after=%d\n", n, panicked, n)
}

var served int64

// Handle serves every request but /quit.
//
//go:noinline
func Handle(w http.ResponseWriter, r *http.Request) {
	atomic.AddInt64(&served, 1)
	fmt.Fprintf(w, "ok\n")
}

func httpMode(port string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", Handle)
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "bye\n")
		fmt.Printf("served=%d\n", atomic.LoadInt64(&served))
		go os.Exit(0)
	})
	fmt.Printf("listening\n")
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go_target grow G N | panic N | http PORT")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "grow":
		g, _ := strconv.Atoi(os.Args[2])
		n, _ := strconv.Atoi(os.Args[3])
		growMode(g, n)
	case "panic":
		n, _ := strconv.Atoi(os.Args[2])
		panicMode(n)
	case "http":
		httpMode(os.Args[2])
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
