// A Go program, static (CGO_ENABLED=0): prints what the Go runtime sized
// itself to. Go reads GOMAXPROCS from the environment it started with, and a
// static binary never loads the library: only `throttle run` can size it.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("gomaxprocs=%d\nnumcpu=%d\n", runtime.GOMAXPROCS(0), runtime.NumCPU())
}
