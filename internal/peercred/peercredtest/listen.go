package peercredtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ServeAttacker is the body of a helper test that plays a listener
// planted by another user: it accepts on ln, counts the connections it
// gets and the bytes they send (each read for at most readFor), prints
// READY, and when its standard input closes (see Helper.Finish) prints
// "RESULT conns=N bytes=M".
func ServeAttacker(ln net.Listener, readFor time.Duration) {
	var (
		mu           sync.Mutex
		conns, bytes int64
		wg           sync.WaitGroup
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(readFor))
				n, _ := io.Copy(io.Discard, c)
				mu.Lock()
				bytes += n
				mu.Unlock()
			}()
		}
	}()
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
	ln.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("RESULT conns=%d bytes=%d\n", conns, bytes)
}
